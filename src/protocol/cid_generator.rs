//! Where the connection IDs we issue come from (RFC 9000 §5.1): a
//! [`ConnectionIdGenerator`] chosen in the
//! [`EndpointConfig`](crate::protocol::EndpointConfig). Random IDs by
//! default; IDs a load balancer can route ([`QuicLbCids`](crate::protocol::QuicLbCids))
//! for a fleet of servers.

use super::cid::{ConnectionId, MAX_CID_LEN};
use super::connection::reset_token;
use rand::RngCore;
use std::fmt;
use std::sync::Arc;

/// Makes the connection IDs an endpoint issues: the Source Connection ID
/// of its first packets and those of its NEW_CONNECTION_ID frames.
///
/// Every ID a generator makes has the same length, [`cid_len`](Self::cid_len):
/// short headers do not carry it (RFC 9000 §17.3), so the endpoint parses
/// them with this length. IDs must be unique among those the endpoint has
/// live, and must not let an observer link two IDs of one connection
/// (RFC 9000 §5.1).
pub trait ConnectionIdGenerator: Send + Sync + fmt::Debug {
    /// A new connection ID. Randomness comes from `rng`, which the
    /// endpoint seeds (the core never reads ambient randomness).
    fn generate(&self, rng: &mut dyn RngCore) -> ConnectionId;

    /// The length of every ID this generator makes, 1 to 20 bytes.
    fn cid_len(&self) -> usize;

    /// For a server endpoint of several workers (threads with a socket
    /// each, see [`EndpointConfig::workers`](crate::protocol::EndpointConfig::workers)):
    /// a generator of IDs like these that also name `worker`, so that a
    /// packet the kernel hands to another worker (after the client's
    /// address changed) is passed to the one holding its connection.
    /// `None` (the default) when the format cannot; the endpoint then
    /// runs one worker.
    fn for_worker(&self, worker: u8) -> Option<Arc<dyn ConnectionIdGenerator>> {
        let _ = worker;
        None
    }

    /// The worker an ID of [`for_worker`](Self::for_worker) names; `None`
    /// for an ID that is not one of them.
    fn worker_of(&self, cid: &[u8]) -> Option<u8> {
        let _ = cid;
        None
    }
}

/// Random connection IDs of a fixed length (the default: 8 bytes).
#[derive(Debug, Clone, Copy)]
pub struct RandomCids {
    len: usize,
}

impl RandomCids {
    /// Random IDs of `len` bytes; `None` unless `len` is 4 to 20 (four
    /// bytes are the least that keeps collisions rare for a busy server).
    pub fn new(len: usize) -> Option<Self> {
        (4..=MAX_CID_LEN).contains(&len).then_some(Self { len })
    }
}

impl Default for RandomCids {
    fn default() -> Self {
        Self {
            len: DEFAULT_CID_LEN,
        }
    }
}

impl ConnectionIdGenerator for RandomCids {
    fn generate(&self, rng: &mut dyn RngCore) -> ConnectionId {
        let mut bytes = [0u8; MAX_CID_LEN];
        rng.fill_bytes(&mut bytes[..self.len]);
        ConnectionId::new(&bytes[..self.len]).expect("at most 20 bytes")
    }

    fn cid_len(&self) -> usize {
        self.len
    }
}

/// The length of the IDs an endpoint issues unless configured otherwise.
pub(crate) const DEFAULT_CID_LEN: usize = 8;

/// What every connection of an endpoint needs to issue its IDs: the
/// generator, and the key deriving each ID's stateless reset token
/// (RFC 9000 §10.3.2).
pub(crate) struct CidIssuer {
    generator: Arc<dyn ConnectionIdGenerator>,
    /// The generator's (fixed) ID length, read for every packet parsed.
    cid_len: usize,
    reset_key: crate::protocol::backend::hmac::Key,
}

impl CidIssuer {
    /// An issuer of `generator`'s IDs whose reset tokens come from
    /// `reset_key`.
    pub(crate) fn new(
        generator: Arc<dyn ConnectionIdGenerator>,
        reset_key: crate::protocol::backend::hmac::Key,
    ) -> Self {
        Self {
            cid_len: generator.cid_len(),
            generator,
            reset_key,
        }
    }

    /// An issuer of random 8-byte IDs with reset tokens from `secret`.
    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn random_with_key(secret: &[u8]) -> Self {
        use crate::protocol::backend::hmac;
        Self::new(
            Arc::new(RandomCids::default()),
            hmac::Key::new(hmac::HMAC_SHA256, secret),
        )
    }

    /// A new ID from the generator.
    pub(crate) fn new_cid(&self, rng: &mut impl RngCore) -> ConnectionId {
        self.generator.generate(rng)
    }

    /// The length of the IDs we issue, for parsing short headers.
    pub(crate) fn cid_len(&self) -> usize {
        self.cid_len
    }

    /// The stateless reset token of our ID `cid`.
    pub(crate) fn reset_token(&self, cid: &[u8]) -> [u8; 16] {
        reset_token(&self.reset_key, cid)
    }
}

impl fmt::Debug for CidIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CidIssuer")
            .field("generator", &self.generator)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn random_ids_have_the_configured_length() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert!(RandomCids::new(3).is_none());
        assert!(RandomCids::new(21).is_none());
        let g = RandomCids::new(20).unwrap();
        let a = g.generate(&mut rng);
        let b = g.generate(&mut rng);
        assert_eq!((a.len(), g.cid_len()), (20, 20));
        assert_ne!(a, b);
        assert_eq!(RandomCids::default().generate(&mut rng).len(), 8);
    }
}
