//! Connection IDs (RFC 9000 §5.1).

use std::fmt;

/// The longest connection ID QUIC v1 allows (RFC 9000 §17.2).
pub const MAX_CID_LEN: usize = 20;

/// A connection ID of 0 to 20 bytes, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId {
    len: u8,
    bytes: [u8; MAX_CID_LEN],
}

impl ConnectionId {
    /// Builds a connection ID from `bytes`; `None` when longer than 20 bytes.
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_CID_LEN {
            return None;
        }
        let mut b = [0u8; MAX_CID_LEN];
        b[..bytes.len()].copy_from_slice(bytes);
        Some(Self {
            len: bytes.len() as u8,
            bytes: b,
        })
    }

    /// A random connection ID of `len` bytes (at most 20).
    pub fn random(rng: &mut impl rand::RngCore, len: usize) -> Self {
        let len = len.min(MAX_CID_LEN);
        let mut b = [0u8; MAX_CID_LEN];
        rng.fill_bytes(&mut b[..len]);
        Self {
            len: len as u8,
            bytes: b,
        }
    }

    /// The ID's length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for the zero-length connection ID.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::ops::Deref for ConnectionId {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// Writes `bytes` as lowercase hex, as IDs are shown.
pub(crate) fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, self)
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
