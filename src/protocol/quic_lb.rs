//! Connection IDs a load balancer can route (draft-ietf-quic-load-balancers,
//! "QUIC-LB"): each ID carries the server's ID, in the clear or encrypted
//! with AES-128, so that a load balancer sends every packet of a
//! connection to the same server even after the client's address changes.
//!
//! ```text
//! QUIC-LB Connection ID {
//!   First Octet { Config Rotation (3), CID Len or Random Bits (5) },
//!   Plaintext Block { Server ID (8..), Nonce (32..) },   (draft §5.2)
//! }
//! ```
//!
//! With a key, the plaintext block is encrypted: one AES-ECB block when
//! server ID and nonce are 16 bytes together (draft §5.4.1), a four-pass
//! Feistel network with AES as its round function otherwise (§5.4.2).

use super::cid::{ConnectionId, MAX_CID_LEN};
use super::cid_generator::ConnectionIdGenerator;
use aes::cipher::{BlockEncrypt, KeyInit};
use rand::RngCore;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The longest plaintext block (server ID and nonce): QUIC v1 IDs are at
/// most 20 bytes, one of which is the first octet (draft §5.3).
const MAX_PLAINTEXT: usize = MAX_CID_LEN - 1;

/// The longest server ID: the nonce takes at least 4 bytes (draft §5.3).
pub(crate) const MAX_SERVER_ID_LEN: usize = MAX_PLAINTEXT - MIN_NONCE_LEN;

/// The shortest nonce (draft §5.3).
const MIN_NONCE_LEN: usize = 4;

/// The config rotation codepoint of unroutable IDs, which no
/// configuration may use (draft §3.2).
const UNROUTABLE_CONFIG_ID: u8 = 0b111;

/// Why a QUIC-LB configuration was refused (draft §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuicLbError {
    /// Config IDs are 0 to 6; 7 marks unroutable IDs (draft §3.1).
    #[error("config ID {0} is not 0 to 6")]
    ConfigId(u8),
    /// Server IDs are at least 1 byte long.
    #[error("server ID length {0} is not 1 to 15")]
    ServerIdLength(usize),
    /// Nonces are at least 4 bytes long.
    #[error("nonce length {0} is under 4")]
    NonceLength(usize),
    /// Server ID and nonce together fit in 19 bytes.
    #[error("server ID and nonce are {0} bytes together, more than 19")]
    TooLong(usize),
    /// The server ID given to a generator has another length than the
    /// configuration's.
    #[error("server ID of {given} bytes for a configuration of {expected}-byte server IDs")]
    ServerIdMismatch {
        /// The configuration's server ID length.
        expected: usize,
        /// The length given.
        given: usize,
    },
}

/// A QUIC-LB configuration, as a configuration agent gives it to load
/// balancers and servers alike (draft §5.3): config ID, server ID and
/// nonce lengths, and an optional 16-byte AES key. A load balancer uses
/// it to [`decode`](Self::decode) the server ID of each packet's
/// destination connection ID; a server gives it, with its own server ID,
/// to [`QuicLbCids`].
#[derive(Clone)]
pub struct QuicLbConfig {
    config_id: u8,
    server_id_len: usize,
    nonce_len: usize,
    cipher: Option<aes::Aes128>,
    encode_len: bool,
}

impl fmt::Debug for QuicLbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuicLbConfig")
            .field("config_id", &self.config_id)
            .field("server_id_len", &self.server_id_len)
            .field("nonce_len", &self.nonce_len)
            .field("encrypted", &self.cipher.is_some())
            .field("encode_len", &self.encode_len)
            .finish()
    }
}

/// A server ID read from a connection ID (1 to 15 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerId {
    len: u8,
    bytes: [u8; MAX_SERVER_ID_LEN],
}

impl std::ops::Deref for ServerId {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl fmt::Debug for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::cid::write_hex(f, self)
    }
}

/// A decrypted plaintext block: server ID, then nonce.
#[derive(Clone, Copy)]
pub(crate) struct Plaintext {
    bytes: [u8; MAX_PLAINTEXT],
    server_id_len: usize,
    len: usize,
}

impl Plaintext {
    /// The server ID.
    pub(crate) fn server_id(&self) -> ServerId {
        let mut bytes = [0u8; MAX_SERVER_ID_LEN];
        bytes[..self.server_id_len].copy_from_slice(&self.bytes[..self.server_id_len]);
        ServerId {
            len: self.server_id_len as u8,
            bytes,
        }
    }

    /// The nonce.
    pub(crate) fn nonce(&self) -> &[u8] {
        &self.bytes[self.server_id_len..self.len]
    }
}

impl QuicLbConfig {
    /// A configuration with `config_id` (0 to 6), server IDs of
    /// `server_id_len` bytes and nonces of `nonce_len` (at least 4; the
    /// two at most 19 together), encrypted with `key` when given. Without
    /// a key anyone on the path reads the server ID, which links a
    /// client's connection across address changes (draft §5.3).
    pub fn new(
        config_id: u8,
        server_id_len: usize,
        nonce_len: usize,
        key: Option<[u8; 16]>,
    ) -> Result<Self, QuicLbError> {
        if config_id >= UNROUTABLE_CONFIG_ID {
            return Err(QuicLbError::ConfigId(config_id));
        }
        if !(1..=MAX_SERVER_ID_LEN).contains(&server_id_len) {
            return Err(QuicLbError::ServerIdLength(server_id_len));
        }
        if nonce_len < MIN_NONCE_LEN {
            return Err(QuicLbError::NonceLength(nonce_len));
        }
        if server_id_len + nonce_len > MAX_PLAINTEXT {
            return Err(QuicLbError::TooLong(server_id_len + nonce_len));
        }
        Ok(Self {
            config_id,
            server_id_len,
            nonce_len,
            cipher: key.map(|k| aes::Aes128::new(&k.into())),
            encode_len: true,
        })
    }

    /// Whether the first octet's low five bits carry the length of the
    /// rest of the ID (draft §3.3, the default) or random bits.
    pub fn length_self_description(mut self, on: bool) -> Self {
        self.encode_len = on;
        self
    }

    /// The length of every connection ID of this configuration.
    pub fn cid_len(&self) -> usize {
        1 + self.server_id_len + self.nonce_len
    }

    fn plaintext_len(&self) -> usize {
        self.server_id_len + self.nonce_len
    }

    /// The connection ID carrying `server_id` and `nonce`; `random_bits`
    /// fill the first octet's low five bits when it does not carry the
    /// length. `None` when either has the wrong length.
    pub(crate) fn encode(
        &self,
        server_id: &[u8],
        nonce: &[u8],
        random_bits: u8,
    ) -> Option<ConnectionId> {
        if server_id.len() != self.server_id_len || nonce.len() != self.nonce_len {
            return None;
        }
        let len = self.plaintext_len();
        let mut cid = [0u8; MAX_CID_LEN];
        let low = if self.encode_len {
            len as u8
        } else {
            random_bits & 0x1f
        };
        cid[0] = self.config_id << 5 | low;
        cid[1..1 + self.server_id_len].copy_from_slice(server_id);
        cid[1 + self.server_id_len..1 + len].copy_from_slice(nonce);
        if let Some(cipher) = &self.cipher {
            encrypt(cipher, &mut cid[1..1 + len]);
        }
        ConnectionId::new(&cid[..1 + len])
    }

    /// The server ID `cid` carries; `None` when `cid` is unroutable with
    /// this configuration (another config ID, or too short; draft §4.1).
    pub fn decode(&self, cid: &[u8]) -> Option<ServerId> {
        self.plaintext(cid).map(|p| p.server_id())
    }

    /// The decrypted plaintext block of `cid`, when it is of this
    /// configuration.
    pub(crate) fn plaintext(&self, cid: &[u8]) -> Option<Plaintext> {
        let len = self.plaintext_len();
        if cid.len() < 1 + len || cid[0] >> 5 != self.config_id {
            return None;
        }
        let mut bytes = [0u8; MAX_PLAINTEXT];
        bytes[..len].copy_from_slice(&cid[1..1 + len]);
        if let Some(cipher) = &self.cipher {
            decrypt(cipher, &mut bytes[..len]);
        }
        Some(Plaintext {
            bytes,
            server_id_len: self.server_id_len,
            len,
        })
    }
}

/// AES-ECB of one block.
fn aes_block(cipher: &aes::Aes128, block: &mut [u8; 16]) {
    cipher.encrypt_block(block.into());
}

/// One pass of the four-pass network (draft §5.4.2): AES of
/// `expand(len, pass, half)`, its first `half.len()` bytes XORed into
/// `other`, and the odd length's shared nibble cleared.
fn feistel_pass(
    cipher: &aes::Aes128,
    len: usize,
    pass: u8,
    half: &[u8],
    other: &mut [u8],
    clear: Clear,
) {
    let mut block = [0u8; 16];
    block[..half.len()].copy_from_slice(half);
    block[14] = len as u8;
    block[15] = pass;
    aes_block(cipher, &mut block);
    for (o, b) in other.iter_mut().zip(block) {
        *o ^= b;
    }
    if len % 2 == 1 {
        match clear {
            Clear::FirstBits => other[0] &= 0x0f,
            Clear::LastBits => other[other.len() - 1] &= 0xf0,
        }
    }
}

/// Which nibble of a half holds the other half's bits at odd lengths.
#[derive(Clone, Copy)]
enum Clear {
    /// The right half's first four bits.
    FirstBits,
    /// The left half's last four bits.
    LastBits,
}

/// Splits `block` into halves of `ceil(len / 2)` bytes; at odd lengths
/// the middle byte's high nibble goes left, its low nibble right.
fn split(block: &[u8]) -> ([u8; 10], [u8; 10], usize) {
    let len = block.len();
    let half = len.div_ceil(2);
    let (mut left, mut right) = ([0u8; 10], [0u8; 10]);
    left[..half].copy_from_slice(&block[..half]);
    right[..half].copy_from_slice(&block[len - half..]);
    if len % 2 == 1 {
        left[half - 1] &= 0xf0;
        right[0] &= 0x0f;
    }
    (left, right, half)
}

/// Joins halves back into `block` (the shared nibbles are zero).
fn join(block: &mut [u8], left: &[u8], right: &[u8]) {
    let len = block.len();
    let half = left.len();
    block[..half].copy_from_slice(left);
    if len % 2 == 1 {
        block[half - 1] |= right[0];
        block[half..].copy_from_slice(&right[1..]);
    } else {
        block[half..].copy_from_slice(right);
    }
}

/// Encrypts a plaintext block in place (draft §5.4).
fn encrypt(cipher: &aes::Aes128, block: &mut [u8]) {
    let len = block.len();
    if len == 16 {
        aes_block(cipher, block.try_into().expect("16 bytes"));
        return;
    }
    let (mut l, mut r, half) = split(block);
    let (l, r) = (&mut l[..half], &mut r[..half]);
    feistel_pass(cipher, len, 1, l, r, Clear::FirstBits);
    feistel_pass(cipher, len, 2, r, l, Clear::LastBits);
    feistel_pass(cipher, len, 3, l, r, Clear::FirstBits);
    feistel_pass(cipher, len, 4, r, l, Clear::LastBits);
    join(block, l, r);
}

/// Decrypts a ciphertext block in place: the passes of [`encrypt`] in
/// reverse (draft §5.5).
fn decrypt(cipher: &aes::Aes128, block: &mut [u8]) {
    let len = block.len();
    if len == 16 {
        use aes::cipher::BlockDecrypt;
        let b: &mut [u8; 16] = block.try_into().expect("16 bytes");
        cipher.decrypt_block(b.into());
        return;
    }
    let (mut l, mut r, half) = split(block);
    let (l, r) = (&mut l[..half], &mut r[..half]);
    feistel_pass(cipher, len, 4, r, l, Clear::LastBits);
    feistel_pass(cipher, len, 3, l, r, Clear::FirstBits);
    feistel_pass(cipher, len, 2, r, l, Clear::LastBits);
    feistel_pass(cipher, len, 1, l, r, Clear::FirstBits);
    join(block, l, r);
}

/// A [`ConnectionIdGenerator`] of QUIC-LB IDs carrying one server ID.
///
/// Nonces are random without a key, as the draft requires (§5.4); with a
/// key they count up from a random start, so no two IDs of this
/// generator collide until the nonce space wraps, and the encryption
/// hides the count.
#[derive(Debug)]
pub struct QuicLbCids {
    config: QuicLbConfig,
    server_id: ServerId,
    /// Bytes fixed at the start of every nonce (a worker's index), inside
    /// the encrypted block so that only the key's holders read them.
    nonce_prefix: Option<u8>,
    counter: OnceLock<AtomicU64>,
}

impl QuicLbCids {
    /// IDs of `config` carrying `server_id`.
    pub fn new(config: QuicLbConfig, server_id: &[u8]) -> Result<Self, QuicLbError> {
        if server_id.len() != config.server_id_len {
            return Err(QuicLbError::ServerIdMismatch {
                expected: config.server_id_len,
                given: server_id.len(),
            });
        }
        let mut bytes = [0u8; MAX_SERVER_ID_LEN];
        bytes[..server_id.len()].copy_from_slice(server_id);
        Ok(Self {
            config,
            server_id: ServerId {
                len: server_id.len() as u8,
                bytes,
            },
            nonce_prefix: None,
            counter: OnceLock::new(),
        })
    }

    /// The IDs the workers of one server tell apart when no load
    /// balancer is configured: encrypted with `key` (the endpoint's own),
    /// a one-byte server ID and six bytes of nonce, 8 bytes in all like
    /// the default random IDs.
    pub(crate) fn for_workers_only(key: [u8; 16]) -> Self {
        let config = QuicLbConfig::new(0, 1, 6, Some(key)).expect("valid lengths");
        Self::new(config, &[0]).expect("one-byte server ID")
    }

    /// The same IDs with `prefix` as the first nonce byte (the draft's
    /// "Server Process Demultiplexing", §8.2): a load balancer sees one
    /// server, the server's own workers see which of them issued the ID.
    pub(crate) fn with_nonce_prefix(&self, prefix: u8) -> Self {
        Self {
            config: self.config.clone(),
            server_id: self.server_id,
            nonce_prefix: Some(prefix),
            counter: OnceLock::new(),
        }
    }

    /// The nonce prefix `cid` carries, when it is one of this
    /// configuration and server.
    pub(crate) fn nonce_prefix_of(&self, cid: &[u8]) -> Option<u8> {
        let p = self.config.plaintext(cid)?;
        (p.server_id() == self.server_id).then(|| p.nonce()[0])
    }
}

impl ConnectionIdGenerator for QuicLbCids {
    fn generate(&self, rng: &mut dyn RngCore) -> ConnectionId {
        let mut nonce = [0u8; MAX_PLAINTEXT];
        let nonce = &mut nonce[..self.config.nonce_len];
        if self.config.cipher.is_some() {
            let counter = self
                .counter
                .get_or_init(|| AtomicU64::new(rng.next_u64()))
                .fetch_add(1, Ordering::Relaxed);
            let count = counter.to_be_bytes();
            let n = nonce.len().min(8);
            let at = nonce.len() - n;
            nonce[at..].copy_from_slice(&count[8 - n..]);
            if at > 0 {
                rng.fill_bytes(&mut nonce[..at]);
            }
        } else {
            rng.fill_bytes(nonce);
        }
        if let Some(p) = self.nonce_prefix {
            nonce[0] = p;
        }
        let random_bits = (rng.next_u32() & 0x1f) as u8;
        self.config
            .encode(&self.server_id, nonce, random_bits)
            .expect("lengths checked at construction")
    }

    fn cid_len(&self) -> usize {
        self.config.cid_len()
    }

    fn for_worker(&self, worker: u8) -> Option<Arc<dyn ConnectionIdGenerator>> {
        Some(Arc::new(self.with_nonce_prefix(worker)))
    }

    fn worker_of(&self, cid: &[u8]) -> Option<u8> {
        self.nonce_prefix_of(cid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const KEY: &str = "8f95f09245765f80256934e50c66207f";

    /// Encodes `sid` and `nonce` and checks the ID, then decodes it back.
    fn vector(config_id: u8, sid: &str, nonce: &str, key: Option<&str>, cid: &str) {
        let (sid, nonce, cid) = (hex(sid), hex(nonce), hex(cid));
        let key = key.map(|k| hex(k).try_into().unwrap());
        let config = QuicLbConfig::new(config_id, sid.len(), nonce.len(), key).unwrap();
        assert_eq!(config.cid_len(), cid.len());
        let got = config.encode(&sid, &nonce, 0).unwrap();
        assert_eq!(&got[..], &cid[..], "encoding of {sid:02x?}");
        let p = config.plaintext(&cid).unwrap();
        assert_eq!(&p.server_id()[..], &sid[..]);
        assert_eq!(p.nonce(), &nonce[..]);
        assert_eq!(&config.decode(&cid).unwrap()[..], &sid[..]);
    }

    /// The draft's "Load Balancer Test Vectors" (§B). Its second
    /// unencrypted row has a nonce of nine hex digits (half a byte is
    /// missing), so it cannot be a vector; the last encrypted row is
    /// labelled config 3 but its first octet (0x12) says config 0.
    #[test]
    fn the_drafts_test_vectors() {
        vector(0, "c4605e", "4504cc4f", None, "07c4605e4504cc4f");
        vector(0, "ed793a", "ee080dbf", Some(KEY), "0720b1d07b359d3c");
        vector(
            1,
            "ed793a51d49b8f5fab65",
            "ee080dbf48",
            Some(KEY),
            "2fcc381bc74cb4fbad2823a3d1f8fed2",
        );
        vector(
            2,
            "ed793a51d49b8f5f",
            "ee080dbf48c0d1e5",
            Some(KEY),
            "504dd2d05a7b0de9b2b9907afb5ecf8cc3",
        );
        vector(
            0,
            "ed793a51d49b8f5fab",
            "ee080dbf48c0d1e55d",
            Some(KEY),
            "125779c9cc86beb3a3a4a3ca96fce4bfe0cdbc",
        );
    }

    /// The draft's worked four-pass example (§5.4.2.4), step by step.
    #[test]
    fn the_drafts_four_pass_example() {
        vector(
            0,
            "31441a",
            "9c69c275",
            Some("fdf726a9893ec05c0632d3956680baf0"),
            "0767947d29be054a",
        );
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert_eq!(
            QuicLbConfig::new(7, 3, 4, None).unwrap_err(),
            QuicLbError::ConfigId(7)
        );
        assert_eq!(
            QuicLbConfig::new(0, 0, 4, None).unwrap_err(),
            QuicLbError::ServerIdLength(0)
        );
        assert_eq!(
            QuicLbConfig::new(0, 3, 3, None).unwrap_err(),
            QuicLbError::NonceLength(3)
        );
        assert_eq!(
            QuicLbConfig::new(0, 10, 10, None).unwrap_err(),
            QuicLbError::TooLong(20)
        );
        let c = QuicLbConfig::new(0, 3, 4, None).unwrap();
        assert!(QuicLbCids::new(c, &[1, 2]).is_err());
    }

    #[test]
    fn ids_of_another_config_or_too_short_do_not_decode() {
        let c = QuicLbConfig::new(0, 3, 4, Some([7; 16])).unwrap();
        let id = c.encode(&[1, 2, 3], &[4, 5, 6, 7], 0).unwrap();
        assert_eq!(&c.decode(&id).unwrap()[..], &[1, 2, 3]);
        assert!(c.decode(&id[..7]).is_none());
        let mut other = id.to_vec();
        other[0] |= 0b0010_0000;
        assert!(c.decode(&other).is_none());
    }

    /// Every length from 5 to 19 bytes round-trips, encrypted or not,
    /// with the length encoded or random bits in its place; encrypted
    /// IDs of one server do not show the server ID.
    #[test]
    fn generated_ids_round_trip_at_every_length() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for sid_len in 1..=MAX_SERVER_ID_LEN {
            for nonce_len in MIN_NONCE_LEN..=MAX_PLAINTEXT - sid_len {
                for key in [None, Some([3u8; 16])] {
                    for encode_len in [true, false] {
                        let config = QuicLbConfig::new(2, sid_len, nonce_len, key)
                            .unwrap()
                            .length_self_description(encode_len);
                        let sid: Vec<u8> = (0..sid_len as u8).map(|b| b.wrapping_mul(37)).collect();
                        let g = QuicLbCids::new(config.clone(), &sid).unwrap();
                        let a = g.generate(&mut rng);
                        let b = g.generate(&mut rng);
                        assert_eq!(a.len(), g.cid_len());
                        assert_ne!(a, b);
                        assert_eq!(a[0] >> 5, 2);
                        if encode_len {
                            assert_eq!(usize::from(a[0] & 0x1f), sid_len + nonce_len);
                        }
                        assert_eq!(&config.decode(&a).unwrap()[..], &sid[..]);
                        assert_eq!(&config.decode(&b).unwrap()[..], &sid[..]);
                        if key.is_some() && sid_len >= 4 {
                            assert_ne!(a[1..1 + sid_len], b[1..1 + sid_len]);
                        }
                    }
                }
            }
        }
    }

    /// Whatever a peer puts in a destination CID, decoding answers
    /// without panicking, at every configuration shape.
    #[test]
    fn decoding_any_bytes_never_panics() {
        use rand::Rng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        for sid_len in [1, 3, 8, MAX_SERVER_ID_LEN] {
            for nonce_len in [MIN_NONCE_LEN, MAX_PLAINTEXT - sid_len] {
                for key in [None, Some([9u8; 16])] {
                    let c = QuicLbConfig::new(0, sid_len, nonce_len, key).unwrap();
                    let g = QuicLbCids::new(c.clone(), &vec![1; sid_len]).unwrap();
                    for _ in 0..200 {
                        let len = rng.gen_range(0..=MAX_CID_LEN);
                        let mut cid = vec![0u8; len];
                        rng.fill(&mut cid[..]);
                        if let Some(first) = cid.first_mut() {
                            *first &= 0x1f; // config 0, so most reach the cipher
                        }
                        let _ = c.decode(&cid);
                        let _ = g.worker_of(&cid);
                    }
                }
            }
        }
    }

    #[test]
    fn the_nonce_prefix_names_the_worker() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let config = QuicLbConfig::new(0, 2, 6, Some([1; 16])).unwrap();
        let g = QuicLbCids::new(config.clone(), &[9, 9]).unwrap();
        let w3 = g.with_nonce_prefix(3);
        let w5 = g.with_nonce_prefix(5);
        let (a, b) = (w3.generate(&mut rng), w5.generate(&mut rng));
        assert_eq!(g.nonce_prefix_of(&a), Some(3));
        assert_eq!(g.nonce_prefix_of(&b), Some(5));
        assert_eq!(&config.decode(&b).unwrap()[..], &[9, 9]);
        let other = QuicLbCids::new(config, &[9, 8]).unwrap();
        assert_eq!(other.nonce_prefix_of(&a), None);
    }
}
