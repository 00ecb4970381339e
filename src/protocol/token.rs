//! Address validation tokens (RFC 9000 §8.1.1–§8.1.4): what a server puts
//! in a Retry packet or a NEW_TOKEN frame, and the client's store of
//! NEW_TOKEN tokens for later connections.
//!
//! A token is sealed with AES-256-GCM under a random key only the server
//! knows (§8.1.4: integrity protected, hard to guess), so it carries its
//! contents without any server state:
//!
//! ```text
//! kind (1) | nonce (12) | AEAD(issued time (8) [| odcid len (1) | odcid]) | tag (16)
//! ```
//!
//! The kind byte is in the clear so the server can tell Retry tokens from
//! NEW_TOKEN tokens before opening them (§8.1.1; the RFC allows this
//! distinction to be visible). The client's address is never stored in the
//! token: it is part of the AEAD's associated data, so a token opens only
//! for the address it was issued to (IP and port for Retry tokens, IP only
//! for NEW_TOKEN tokens, §8.1.3, §8.1.4), and nothing in it links it to the
//! connection it came from.

use super::cid::{ConnectionId, MAX_CID_LEN};
use crate::protocol::backend::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use bytes::Bytes;
use rand::RngCore;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Kind byte of a token sent in a Retry packet.
const KIND_RETRY: u8 = 0x52;
/// Kind byte of a token sent in a NEW_TOKEN frame.
const KIND_VALIDATION: u8 = 0x4e;
/// AEAD tag length.
const TAG_LEN: usize = 16;
/// Encoded length of the issue time.
const TIME_LEN: usize = 8;
/// Most NEW_TOKEN tokens remembered as used (for replay protection).
const MAX_USED_TOKENS: usize = 16 * 1024;

/// How long a Retry token stays valid by default: it comes straight back.
pub(super) const DEFAULT_RETRY_TOKEN_LIFETIME: Duration = Duration::from_secs(10);
/// How long a NEW_TOKEN token stays valid by default.
pub(super) const DEFAULT_VALIDATION_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// What a valid token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    /// From our Retry packet: the DCID of the client's first Initial
    /// (for `original_destination_connection_id`, RFC 9000 §7.3).
    Retry {
        /// The client's original destination connection ID.
        orig_dcid: ConnectionId,
    },
    /// From a NEW_TOKEN frame of an earlier connection.
    Validation,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenError {
    /// A Retry token that does not open, is for another address or
    /// connection ID, or expired: the client will not take another Retry,
    /// so the server closes with INVALID_TOKEN (RFC 9000 §8.1.2).
    InvalidRetry,
    /// Any other token we cannot use (not ours, expired, replayed): the
    /// client is treated as unvalidated (RFC 9000 §8.1.3).
    Unusable,
}

/// The server's secret for sealing and opening tokens. Shared by every
/// endpoint using the same [`ServerConfig`](super::ServerConfig), so
/// tokens stay valid across them. A default key is drawn at random by
/// the first endpoint that uses it.
pub struct TokenKey {
    key: OnceLock<LessSafeKey>,
    /// Issue times are stored relative to this instant, set on first use;
    /// tokens are meaningful only within this process's life anyway.
    epoch: OnceLock<Instant>,
    /// NEW_TOKEN nonces already accepted, with when they stop mattering
    /// (RFC 9000 §8.1.4: such tokens SHOULD NOT be accepted twice).
    used: Mutex<UsedTokens>,
}

#[derive(Default)]
struct UsedTokens {
    /// Keyed by nonces that decrypted (ours), so a fixed hasher does:
    /// no ambient randomness.
    expiry: super::KeyedMap<[u8; NONCE_LEN], Instant>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey").finish_non_exhaustive()
    }
}

impl Default for TokenKey {
    /// A key the first endpoint using it fills with random bytes.
    fn default() -> Self {
        Self {
            key: OnceLock::new(),
            epoch: OnceLock::new(),
            used: Mutex::new(UsedTokens::default()),
        }
    }
}

/// The AES-256-GCM key from `secret`.
fn aead_key(secret: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, secret).expect("32-byte AES-256 key"))
}

impl TokenKey {
    /// A key from `secret` (32 bytes), e.g. to share tokens between
    /// servers behind one address.
    pub fn new(secret: &[u8; 32]) -> Self {
        let key = TokenKey::default();
        let _ = key.key.set(aead_key(secret));
        key
    }

    /// Draws a secret from `rng` and takes it unless the key has one
    /// already; the endpoint calls this before using the key. The draw
    /// happens either way, so what `rng` yields next does not depend on
    /// whether another endpoint shares the key.
    pub(crate) fn init(&self, rng: &mut impl RngCore) {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        self.key.get_or_init(|| aead_key(&secret));
    }

    fn key(&self) -> &LessSafeKey {
        self.key
            .get()
            .expect("the endpoint draws the token key before using it")
    }

    /// A token for a Retry packet sent at `now` to `client` in answer to
    /// an Initial whose DCID was `orig_dcid`; the Retry's SCID is
    /// `retry_scid`, which the client's next Initial carries as its DCID.
    pub(crate) fn seal_retry(
        &self,
        rng: &mut impl RngCore,
        now: Instant,
        client: SocketAddr,
        orig_dcid: &ConnectionId,
        retry_scid: &ConnectionId,
    ) -> Vec<u8> {
        let mut plain = self.time_bytes(now).to_vec();
        plain.push(orig_dcid.len() as u8);
        plain.extend_from_slice(orig_dcid);
        let aad = aad(KIND_RETRY, client.ip(), Some((client.port(), retry_scid)));
        self.seal(rng, KIND_RETRY, &aad, plain)
    }

    /// **Test hook.** Seals a Retry token, for tests forging a Retry
    /// whose token another key sealed.
    #[cfg(feature = "test-hooks")]
    pub fn seal_retry_for_test(
        &self,
        now: Instant,
        client: SocketAddr,
        orig_dcid: &ConnectionId,
        retry_scid: &ConnectionId,
    ) -> Vec<u8> {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
        self.seal_retry(&mut rng, now, client, orig_dcid, retry_scid)
    }

    /// A token for a NEW_TOKEN frame sent at `now` to `client`, bound to
    /// its IP address only (RFC 9000 §8.1.3: the port will change).
    pub(crate) fn seal_validation(
        &self,
        rng: &mut impl RngCore,
        now: Instant,
        client: SocketAddr,
    ) -> Vec<u8> {
        let plain = self.time_bytes(now).to_vec();
        let aad = aad(KIND_VALIDATION, client.ip(), None);
        self.seal(rng, KIND_VALIDATION, &aad, plain)
    }

    /// Opens the token of an Initial from `client` whose DCID is `dcid`.
    /// Retry tokens older than `retry_lifetime` and NEW_TOKEN tokens older
    /// than `validation_lifetime`, or used before, are refused.
    pub(crate) fn open(
        &self,
        now: Instant,
        token: &[u8],
        client: SocketAddr,
        dcid: &ConnectionId,
        retry_lifetime: Duration,
        validation_lifetime: Duration,
    ) -> Result<Token, TokenError> {
        let Some((&kind, _)) = token.split_first() else {
            return Err(TokenError::Unusable);
        };
        match kind {
            KIND_RETRY => {
                let aad = aad(KIND_RETRY, client.ip(), Some((client.port(), dcid)));
                let (plain, _) = self.open_raw(token, &aad).ok_or(TokenError::InvalidRetry)?;
                let (time, rest) = plain.split_at(TIME_LEN);
                if !self.fresh(now, time, retry_lifetime) {
                    return Err(TokenError::InvalidRetry);
                }
                let len = usize::from(*rest.first().ok_or(TokenError::InvalidRetry)?);
                let orig_dcid = rest
                    .get(1..1 + len)
                    .filter(|_| rest.len() == 1 + len && len <= MAX_CID_LEN)
                    .and_then(ConnectionId::new)
                    .ok_or(TokenError::InvalidRetry)?;
                Ok(Token::Retry { orig_dcid })
            }
            KIND_VALIDATION => {
                let aad = aad(KIND_VALIDATION, client.ip(), None);
                let (plain, nonce) = self.open_raw(token, &aad).ok_or(TokenError::Unusable)?;
                if plain.len() != TIME_LEN || !self.fresh(now, &plain, validation_lifetime) {
                    return Err(TokenError::Unusable);
                }
                // Only now, with an authentic and fresh token, spend memory
                // on remembering it.
                let expiry = self.issued(&plain).map_or(now, |t| t + validation_lifetime);
                if !self.mark_used(now, nonce, expiry) {
                    return Err(TokenError::Unusable);
                }
                Ok(Token::Validation)
            }
            _ => Err(TokenError::Unusable),
        }
    }

    fn time_bytes(&self, now: Instant) -> [u8; TIME_LEN] {
        let epoch = *self.epoch.get_or_init(|| now);
        let micros = now.saturating_duration_since(epoch).as_micros();
        u64::try_from(micros).unwrap_or(u64::MAX).to_be_bytes()
    }

    fn issued(&self, time: &[u8]) -> Option<Instant> {
        let epoch = *self.epoch.get()?;
        let micros = u64::from_be_bytes(time.try_into().ok()?);
        epoch.checked_add(Duration::from_micros(micros))
    }

    fn fresh(&self, now: Instant, time: &[u8], lifetime: Duration) -> bool {
        self.issued(time)
            .is_some_and(|t| now.saturating_duration_since(t) <= lifetime)
    }

    fn seal(&self, rng: &mut impl RngCore, kind: u8, aad: &[u8], mut plain: Vec<u8>) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let tag = self
            .key()
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut plain,
            )
            .expect("token within AEAD limits");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plain.len() + TAG_LEN);
        out.push(kind);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&plain);
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// Returns the plaintext (at least the time field) and the nonce.
    fn open_raw(&self, token: &[u8], aad: &[u8]) -> Option<(Vec<u8>, [u8; NONCE_LEN])> {
        if token.len() < 1 + NONCE_LEN + TIME_LEN + TAG_LEN {
            return None;
        }
        let nonce: [u8; NONCE_LEN] = token[1..1 + NONCE_LEN].try_into().ok()?;
        let mut sealed = token[1 + NONCE_LEN..].to_vec();
        let plain_len = self
            .key()
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut sealed,
            )
            .ok()?
            .len();
        sealed.truncate(plain_len);
        (plain_len >= TIME_LEN).then_some((sealed, nonce))
    }

    /// Records a NEW_TOKEN token as used; false when it was used before or
    /// the record is full of live entries (then the token is refused: the
    /// client is merely treated as unvalidated).
    fn mark_used(&self, now: Instant, nonce: [u8; NONCE_LEN], expiry: Instant) -> bool {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if used.expiry.contains_key(&nonce) {
            return false;
        }
        if used.expiry.len() >= MAX_USED_TOKENS {
            used.expiry.retain(|_, e| *e > now);
            if used.expiry.len() >= MAX_USED_TOKENS {
                return false;
            }
        }
        used.expiry.insert(nonce, expiry);
        true
    }
}

/// Associated data binding a token to the client's address (and, for
/// Retry tokens, port and the connection ID the client must use).
fn aad(kind: u8, ip: IpAddr, retry: Option<(u16, &ConnectionId)>) -> Vec<u8> {
    let mut a = vec![kind];
    // A v4-mapped IPv6 address is the same client as its IPv4 form.
    match ip.to_canonical() {
        IpAddr::V4(v4) => a.extend_from_slice(&v4.octets()),
        IpAddr::V6(v6) => a.extend_from_slice(&v6.octets()),
    }
    if let Some((port, cid)) = retry {
        a.extend_from_slice(&port.to_be_bytes());
        a.push(cid.len() as u8);
        a.extend_from_slice(cid);
    }
    a
}

/// The client's NEW_TOKEN tokens (RFC 9000 §8.1.3): the latest token of
/// each server name, for at most `capacity` names (the least recently
/// stored go first). A token is handed out once: a client SHOULD NOT
/// reuse a token, which would let observers link its connections.
#[derive(Debug)]
pub struct TokenStore {
    capacity: usize,
    tokens: Mutex<VecDeque<(String, Bytes)>>,
}

impl Default for TokenStore {
    fn default() -> Self {
        Self::new(256)
    }
}

impl TokenStore {
    /// A store for the tokens of up to `capacity` servers.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            tokens: Mutex::new(VecDeque::new()),
        }
    }

    /// Stores `token` for `server_name`, replacing an older one.
    pub(crate) fn insert(&self, server_name: &str, token: Bytes) {
        if self.capacity == 0 {
            return;
        }
        let mut t = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        t.retain(|(n, _)| n != server_name);
        while t.len() >= self.capacity {
            t.pop_front();
        }
        t.push_back((server_name.to_string(), token));
    }

    /// Takes the token stored for `server_name`, if any.
    pub(crate) fn take(&self, server_name: &str) -> Option<Bytes> {
        let mut t = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let i = t.iter().position(|(n, _)| n == server_name)?;
        t.remove(i).map(|(_, tok)| tok)
    }

    /// Number of servers with a stored token.
    pub fn len(&self) -> usize {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when no token is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A generator seeded differently on every call, so nonces of tokens
    /// sealed by different calls differ too.
    fn rng() -> rand::rngs::StdRng {
        static SEED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(9);
        let seed = SEED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed)
    }

    const RETRY: Duration = DEFAULT_RETRY_TOKEN_LIFETIME;
    const VALIDATION: Duration = DEFAULT_VALIDATION_TOKEN_LIFETIME;

    fn cid(b: u8, len: usize) -> ConnectionId {
        ConnectionId::new(&vec![b; len]).unwrap()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn retry_token_round_trip_and_binding() {
        let key = TokenKey::new(&[0x42; 32]);
        let now = Instant::now();
        let client = addr("192.0.2.1:4000");
        let odcid = cid(1, 16);
        let rscid = cid(2, 8);
        let t = key.seal_retry(&mut rng(), now, client, &odcid, &rscid);
        let open = |now, t: &[u8], a, d: &ConnectionId| key.open(now, t, a, d, RETRY, VALIDATION);
        assert_eq!(
            open(now + Duration::from_secs(1), &t, client, &rscid),
            Ok(Token::Retry { orig_dcid: odcid })
        );
        // Another port, another IP, another DCID: refused.
        for (a, d) in [
            (addr("192.0.2.1:4001"), rscid),
            (addr("192.0.2.2:4000"), rscid),
            (client, cid(3, 8)),
        ] {
            assert_eq!(open(now, &t, a, &d), Err(TokenError::InvalidRetry));
        }
        // Expired.
        assert_eq!(
            open(now + RETRY + Duration::from_millis(1), &t, client, &rscid),
            Err(TokenError::InvalidRetry)
        );
        // Any flipped bit breaks it (the kind byte makes it unusable).
        for i in 1..t.len() {
            let mut bad = t.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                open(now, &bad, client, &rscid),
                Err(TokenError::InvalidRetry),
                "byte {i}"
            );
        }
        // Truncated.
        assert_eq!(
            open(now, &t[..t.len() - 1], client, &rscid),
            Err(TokenError::InvalidRetry)
        );
        // Another key does not open it.
        let other = TokenKey::new(&[0x43; 32]);
        other.seal_validation(&mut rng(), now, client); // sets its epoch
        assert_eq!(
            other.open(now, &t, client, &rscid, RETRY, VALIDATION),
            Err(TokenError::InvalidRetry)
        );
    }

    #[test]
    fn validation_token_binds_ip_not_port_expires_and_is_single_use() {
        let key = TokenKey::new(&[0x43; 32]);
        let now = Instant::now();
        let t = key.seal_validation(&mut rng(), now, addr("[2001:db8::1]:5000"));
        let d = cid(9, 8);
        let later = now + Duration::from_secs(3600);
        // Another IP: unusable (not a Retry token, so no INVALID_TOKEN).
        assert_eq!(
            key.open(later, &t, addr("[2001:db8::2]:5000"), &d, RETRY, VALIDATION),
            Err(TokenError::Unusable)
        );
        // Expired.
        assert_eq!(
            key.open(
                now + VALIDATION + Duration::from_secs(1),
                &t,
                addr("[2001:db8::1]:5000"),
                &d,
                RETRY,
                VALIDATION
            ),
            Err(TokenError::Unusable)
        );
        // Another port is fine, once.
        assert_eq!(
            key.open(later, &t, addr("[2001:db8::1]:6000"), &d, RETRY, VALIDATION),
            Ok(Token::Validation)
        );
        assert_eq!(
            key.open(later, &t, addr("[2001:db8::1]:6000"), &d, RETRY, VALIDATION),
            Err(TokenError::Unusable)
        );
        // Tokens are unique even when issued at the same instant.
        let mut r = rng();
        let a = key.seal_validation(&mut r, now, addr("192.0.2.1:1"));
        let b = key.seal_validation(&mut r, now, addr("192.0.2.1:1"));
        assert_ne!(a, b);
        // A v4-mapped address is the same client.
        assert_eq!(
            key.open(now, &a, addr("[::ffff:192.0.2.1]:7"), &d, RETRY, VALIDATION),
            Ok(Token::Validation)
        );
    }

    #[test]
    fn foreign_and_garbage_tokens_are_unusable() {
        let key = TokenKey::new(&[0x43; 32]);
        let now = Instant::now();
        let a = addr("127.0.0.1:1");
        let d = cid(1, 8);
        for t in [&b""[..], b"x", &[KIND_VALIDATION; 40], &[0xff; 64]] {
            assert_eq!(
                key.open(now, t, a, &d, RETRY, VALIDATION),
                Err(TokenError::Unusable)
            );
        }
        // Shaped like a Retry token but never issued: INVALID_TOKEN.
        assert_eq!(
            key.open(now, &[KIND_RETRY; 60], a, &d, RETRY, VALIDATION),
            Err(TokenError::InvalidRetry)
        );
    }

    #[test]
    fn store_keeps_latest_per_name_bounded_and_hands_out_once() {
        let s = TokenStore::new(2);
        s.insert("a", Bytes::from_static(b"1"));
        s.insert("a", Bytes::from_static(b"2"));
        assert_eq!(s.len(), 1);
        s.insert("b", Bytes::from_static(b"3"));
        s.insert("c", Bytes::from_static(b"4"));
        assert_eq!(s.len(), 2);
        assert_eq!(s.take("a"), None, "oldest name evicted");
        assert_eq!(s.take("c"), Some(Bytes::from_static(b"4")));
        assert_eq!(s.take("c"), None);
        assert_eq!(s.take("b"), Some(Bytes::from_static(b"3")));
        assert!(s.is_empty());
    }
}
