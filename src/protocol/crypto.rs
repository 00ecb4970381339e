//! Packet protection (RFC 9001 §5) on top of rustls's `quic` module: Initial
//! keys, AEAD sealing in place, header protection and 1-RTT key phases
//! (RFC 9001 §6).

use super::cid::ConnectionId;
use super::Side;
use rustls::quic::{DirectionalKeys, HeaderProtectionKey, Keys, PacketKey, PacketKeySet, Secrets};

/// AEAD tag length of every QUIC v1 cipher suite.
pub const TAG_LEN: usize = 16;

/// Derives the Initial keys from the client's first destination CID
/// (RFC 9001 §5.2).
pub fn initial_keys(client_dcid: &ConnectionId, side: Side) -> Keys {
    let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .and_then(|s| s.quic_suite())
        .expect("ring provides AES-128-GCM for QUIC");
    suite.keys(client_dcid, rustls_side(side), rustls::quic::Version::V1)
}

/// Converts our side to rustls's.
pub fn rustls_side(side: Side) -> rustls::Side {
    match side {
        Side::Client => rustls::Side::Client,
        Side::Server => rustls::Side::Server,
    }
}

/// Removes header protection from `packet` in place (RFC 9001 §5.4).
/// Returns the packet number length, or `None` when the packet is too
/// short to sample.
pub fn unprotect_header(
    packet: &mut [u8],
    pn_offset: usize,
    hp: &dyn HeaderProtectionKey,
) -> Option<usize> {
    let sample_at = pn_offset + 4;
    let sample_len = hp.sample_len();
    if packet.len() < sample_at + sample_len {
        return None;
    }
    let (head, tail) = packet.split_at_mut(sample_at);
    let sample = &tail[..sample_len];
    let (first, rest) = head.split_first_mut()?;
    let pn_field = &mut rest[pn_offset - 1..];
    hp.decrypt_in_place(sample, first, pn_field).ok()?;
    Some((*first & 0x03) as usize + 1)
}

/// Seals the packet in `buf[start..]` in place: `header_len` bytes of header
/// (ending with the packet number at `pn_offset`, `pn_len` bytes) followed by
/// the plaintext payload. Appends the AEAD tag and applies header
/// protection (RFC 9001 §5.3, §5.4).
pub fn seal(
    buf: &mut Vec<u8>,
    start: usize,
    pn_offset: usize,
    pn_len: usize,
    pn: u64,
    packet: &dyn PacketKey,
    hp: &dyn HeaderProtectionKey,
) {
    let header_end = start + pn_offset + pn_len;
    let (header, payload) = buf.split_at_mut(header_end);
    let tag = packet
        .encrypt_in_place(pn, &header[start..], payload)
        .expect("payload within AEAD limits");
    buf.extend_from_slice(tag.as_ref());
    let sample_at = start + pn_offset + 4;
    let (head, tail) = buf.split_at_mut(sample_at);
    let sample = &tail[..hp.sample_len()];
    let (first, rest) = head[start..].split_first_mut().expect("header present");
    let pn_field = &mut rest[pn_offset - 1..pn_offset - 1 + pn_len];
    hp.encrypt_in_place(sample, first, pn_field)
        .expect("sample and pn length valid");
}

/// Keys of one packet number space for the Initial and Handshake levels.
pub struct SpaceKeys {
    /// Local (sealing) keys.
    pub local: DirectionalKeys,
    /// Remote (opening) keys.
    pub remote: DirectionalKeys,
}

impl From<Keys> for SpaceKeys {
    fn from(k: Keys) -> Self {
        Self {
            local: k.local,
            remote: k.remote,
        }
    }
}

/// 1-RTT keys with key phases (RFC 9001 §6).
pub struct OneRttKeys {
    /// Header protection keys never change with key updates.
    pub local_hp: Box<dyn HeaderProtectionKey>,
    /// Header protection for received packets.
    pub remote_hp: Box<dyn HeaderProtectionKey>,
    /// Current packet keys.
    pub current: PacketKeySet,
    /// Keys of the next phase, ready for a peer-initiated update.
    pub next: PacketKeySet,
    /// Remote key of the previous phase, for reordered packets.
    pub prev_remote: Option<Box<dyn PacketKey>>,
    /// The current key phase bit.
    pub phase: bool,
    /// Lowest packet number received in the current phase.
    pub phase_first_pn: Option<u64>,
    secrets: Secrets,
}

impl OneRttKeys {
    /// Builds the phase-0 keys from what rustls handed over at 1-RTT.
    pub fn new(keys: Keys, mut secrets: Secrets) -> Self {
        let next = secrets.next_packet_keys();
        Self {
            local_hp: keys.local.header,
            remote_hp: keys.remote.header,
            current: PacketKeySet {
                local: keys.local.packet,
                remote: keys.remote.packet,
            },
            next,
            prev_remote: None,
            phase: false,
            phase_first_pn: None,
            secrets,
        }
    }

    /// Moves to the next key phase (RFC 9001 §6.1, §6.2).
    pub fn rotate(&mut self) {
        let next = self.secrets.next_packet_keys();
        let old = std::mem::replace(&mut self.current, std::mem::replace(&mut self.next, next));
        self.prev_remote = Some(old.remote);
        self.phase = !self.phase;
        self.phase_first_pn = None;
    }
}
