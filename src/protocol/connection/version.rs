//! Compatible version negotiation (RFC 9368 §2.3) between QUIC v1 and v2
//! (RFC 9369): a server that prefers v2 answers a v1 client whose
//! version_information lists v2 in v2, still reading the client's v1
//! Initials until the client follows; a client prepared for it follows
//! the server's v2 Initial.
//!
//! The client side has a limit from rustls: a TLS connection derives its
//! Handshake and 1-RTT keys for the QUIC version it was created with, and
//! cannot change it afterwards. A client can therefore only start in v1
//! and follow an upgrade when it created its TLS connection for v2 from
//! the start, which fails against a v1-only server. It exists as a test
//! hook (`hooks.rs`); regular clients pick one version
//! (`ClientConfig::version`).

use super::spaces::SpaceId;
use super::Connection;
use crate::protocol::crypto::{self, SpaceKeys};
use crate::protocol::frame::{Frame, Frames};
use crate::protocol::packet::{self, PartialHeader};
use crate::protocol::transport_params::TransportParameters;
use crate::protocol::Side;
use rustls::quic::DirectionalKeys;

/// TLS extension carrying QUIC transport parameters (RFC 9001 §8.2).
const QUIC_TRANSPORT_PARAMETERS_EXT: u16 = 0x0039;

/// A client Initial's original version, kept by a server that answered
/// in another: its keys still open the client's Initials.
pub(super) struct OriginalVersion {
    /// The version the client started with.
    pub version: u32,
    /// The Initial keys of that version for opening.
    pub remote: DirectionalKeys,
}

/// The version a server answers a client Initial of `original` in: the
/// first of `preferred` that we speak and the client listed in its
/// version_information (RFC 9368 §2.3), else `original`. `payload` is the
/// Initial's decrypted payload.
pub(crate) fn negotiate(original: u32, payload: &[u8], preferred: &[u32]) -> u32 {
    let Some(available) = client_available_versions(payload) else {
        return original;
    };
    preferred
        .iter()
        .copied()
        .find(|v| packet::is_supported(*v) && (*v == original || available.contains(v)))
        .unwrap_or(original)
}

/// The Available Versions of the client's version_information, read from
/// the ClientHello at the start of the CRYPTO stream in `payload`; `None`
/// when the ClientHello does not fit in this packet or says nothing.
fn client_available_versions(payload: &[u8]) -> Option<Vec<u32>> {
    let hello = Frames::new(bytes::Bytes::copy_from_slice(payload)).find_map(|f| match f {
        Ok(Frame::Crypto { offset: 0, data }) => Some(data),
        _ => None,
    })?;
    let raw = client_hello_extension(&hello, QUIC_TRANSPORT_PARAMETERS_EXT)?;
    let params = TransportParameters::decode(raw, Side::Client).ok()?;
    params.version_information.map(|vi| vi.available)
}

/// The body of extension `ext` in a TLS 1.3 ClientHello (RFC 8446 §4.1.2).
fn client_hello_extension(hello: &[u8], ext: u16) -> Option<&[u8]> {
    let mut r = TlsReader(hello);
    if r.u8()? != 1 {
        return None; // not a ClientHello
    }
    let len = r.u24()?;
    let mut r = TlsReader(r.bytes(len)?);
    r.bytes(2 + 32)?; // legacy_version, random
    let n = usize::from(r.u8()?);
    r.bytes(n)?; // legacy_session_id
    let n = r.u16()?;
    r.bytes(n)?; // cipher_suites
    let n = usize::from(r.u8()?);
    r.bytes(n)?; // legacy_compression_methods
    let n = r.u16()?;
    let mut exts = TlsReader(r.bytes(n)?);
    while !exts.0.is_empty() {
        let ty = exts.u16()?;
        let n = exts.u16()?;
        let body = exts.bytes(n)?;
        if ty as u16 == ext {
            return Some(body);
        }
    }
    None
}

/// Big-endian reads over a byte slice, `None` past its end.
struct TlsReader<'a>(&'a [u8]);

impl<'a> TlsReader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<usize> {
        self.bytes(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    fn u24(&mut self) -> Option<usize> {
        self.bytes(3)
            .map(|b| (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }
}

impl Connection {
    /// Server: the client's Initials of `original` (a version other than
    /// the one we answer in) are opened with that version's keys until the
    /// client follows (RFC 9368 §2.3).
    pub(super) fn keep_original_version(&mut self, original: u32) {
        if original == self.version {
            return;
        }
        let Some(h) = self.handshaking.as_deref_mut() else {
            return;
        };
        let keys = crypto::initial_keys_for(&h.initial_suite, original, &self.orig_dcid, self.side);
        h.original_version = Some(OriginalVersion {
            version: original,
            remote: keys.remote,
        });
    }

    /// The keys opening an Initial packet with `header`: the original
    /// version's for a server that upgraded, else the space's own.
    pub(super) fn initial_remote_keys(&self, header: &PartialHeader) -> Option<&DirectionalKeys> {
        match self.handshaking().and_then(|h| h.original_version.as_ref()) {
            Some(o) if header.version() == Some(o.version) => Some(&o.remote),
            _ => self.spaces[SpaceId::Initial as usize]
                .keys
                .as_ref()
                .map(|k: &SpaceKeys| &k.remote),
        }
    }

    /// A packet of `version`, not ours: a server still reads the client's
    /// original version; a client ready for an upgrade follows the
    /// server's first Initial in it. False: drop the packet.
    pub(super) fn accept_version(&mut self, version: u32) -> bool {
        if version == self.version {
            return true;
        }
        if self
            .handshaking()
            .and_then(|h| h.original_version.as_ref())
            .is_some_and(|o| o.version == version)
        {
            return true;
        }
        #[cfg(feature = "test-hooks")]
        if self.follow_upgrade(version) {
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ClientHello with the given extensions.
    fn hello(exts: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0u8; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one suite
        body.extend_from_slice(&[1, 0]); // null compression
        let mut e = Vec::new();
        for (ty, data) in exts {
            e.extend_from_slice(&ty.to_be_bytes());
            e.extend_from_slice(&(data.len() as u16).to_be_bytes());
            e.extend_from_slice(data);
        }
        body.extend_from_slice(&(e.len() as u16).to_be_bytes());
        body.extend_from_slice(&e);
        let mut h = vec![1];
        h.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        h.extend_from_slice(&body);
        h
    }

    #[test]
    fn finds_an_extension_and_survives_garbage() {
        let h = hello(&[(0x0a, &[1, 2]), (0x39, &[9, 9, 9])]);
        assert_eq!(client_hello_extension(&h, 0x39), Some(&[9u8, 9, 9][..]));
        assert_eq!(client_hello_extension(&h, 0x2b), None);
        for cut in 0..h.len() {
            let _ = client_hello_extension(&h[..cut], 0x39);
        }
        let mut bad = h.clone();
        bad[0] = 2;
        assert_eq!(client_hello_extension(&bad, 0x39), None);
    }

    /// An Initial payload: a CRYPTO frame with a ClientHello carrying
    /// `params`.
    fn initial_with(params: &TransportParameters) -> Vec<u8> {
        let mut raw = Vec::new();
        params.encode(&mut raw);
        let mut payload = Vec::new();
        Frame::Crypto {
            offset: 0,
            data: bytes::Bytes::from(hello(&[(0x39, &raw)])),
        }
        .encode(&mut payload);
        payload
    }

    #[test]
    fn negotiation_picks_the_first_preferred_version_the_client_lists() {
        use crate::protocol::packet::{VERSION_1, VERSION_2};
        use crate::protocol::transport_params::VersionInformation;
        let params = TransportParameters {
            version_information: Some(VersionInformation {
                chosen: VERSION_1,
                available: vec![VERSION_1, VERSION_2],
            }),
            ..TransportParameters::default()
        };
        let payload = initial_with(&params);
        assert_eq!(
            negotiate(VERSION_1, &payload, &[VERSION_2, VERSION_1]),
            VERSION_2
        );
        assert_eq!(
            negotiate(VERSION_1, &payload, &[VERSION_1, VERSION_2]),
            VERSION_1
        );
        // A client that does not list v2 stays in v1.
        let payload = initial_with(&TransportParameters::default());
        assert_eq!(
            negotiate(VERSION_1, &payload, &[VERSION_2, VERSION_1]),
            VERSION_1
        );
        assert_eq!(negotiate(VERSION_1, b"junk", &[VERSION_2]), VERSION_1);
    }
}
