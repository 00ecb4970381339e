//! Packet protection (RFC 9001 §5) on top of rustls's `quic` module: Initial
//! keys, AEAD sealing in place, header protection and 1-RTT key phases
//! (RFC 9001 §6).

use super::cid::ConnectionId;
use super::packet::{decode_pn, LongType, VERSION_1, VERSION_2};
use super::Side;
use rustls::crypto::CryptoProvider;
use rustls::quic::{
    DirectionalKeys, HeaderProtectionKey, Keys, PacketKey, PacketKeySet, Secrets, Suite,
};
use std::sync::OnceLock;

/// AEAD tag length of every QUIC v1 cipher suite.
pub const TAG_LEN: usize = 16;

#[cfg(any(test, feature = "test-hooks"))]
/// Derives the Initial keys from the client's first destination CID
/// (RFC 9001 §5.2), with this build's backend.
pub fn initial_keys(client_dcid: &ConnectionId, side: Side) -> Keys {
    initial_keys_for(&default_initial_suite(), VERSION_1, client_dcid, side)
}

/// TLS_AES_128_GCM_SHA256 of `provider` for QUIC, if it has it.
fn aes_128_gcm(provider: &CryptoProvider) -> Option<Suite> {
    provider
        .cipher_suites
        .iter()
        .filter(|s| s.suite() == rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
        .find_map(|s| s.tls13())
        .and_then(|s| s.quic_suite())
}

/// This build's backend's AES-128-GCM suite.
pub fn default_initial_suite() -> Suite {
    static SUITE: OnceLock<Suite> = OnceLock::new();
    *SUITE.get_or_init(|| {
        aes_128_gcm(&super::backend::default_provider())
            .expect("every backend provides TLS13_AES_128_GCM_SHA256 for QUIC")
    })
}

/// The cipher suite protecting Initial packets (AES-128-GCM, RFC 9001
/// §5.2), from the configuration's `provider`; from this build's backend
/// when the provider lacks it (a configuration offering only ChaCha20
/// still sends its Initials in AES-128-GCM).
pub fn initial_suite(provider: &CryptoProvider) -> Suite {
    aes_128_gcm(provider).unwrap_or_else(default_initial_suite)
}

/// The Initial keys of `version` (its own salt and labels, RFC 9001
/// §5.2, RFC 9369 §3.3) with `suite`.
pub fn initial_keys_for(suite: &Suite, version: u32, client_dcid: &ConnectionId, side: Side) -> Keys {
    suite.keys(
        client_dcid,
        rustls_side(side),
        super::packet::rustls_version(version),
    )
}

/// Converts our side to rustls's.
pub fn rustls_side(side: Side) -> rustls::Side {
    match side {
        Side::Client => rustls::Side::Client,
        Side::Server => rustls::Side::Server,
    }
}

/// Removes header protection (RFC 9001 §5.4.1) from the packet starting at
/// `packet[0]` whose packet number field starts at `pn_offset`, and
/// recovers the full packet number against `largest`, the largest packet
/// number received in its space (RFC 9000 §17.1). Returns the packet
/// number length and the packet number.
///
/// The protected fields are unmasked on copies and written back only on
/// success, so a packet too short to sample is left untouched. This is
/// the path every received packet takes.
pub fn remove_header_protection(
    packet: &mut [u8],
    pn_offset: usize,
    largest: Option<u64>,
    hp: &dyn HeaderProtectionKey,
) -> Option<(usize, u64)> {
    // RFC 9001 §5.4.2: the sample starts 4 bytes after the start of the
    // packet number field, whatever the packet number length.
    let sample_at = pn_offset.checked_add(4)?;
    let sample_len = hp.sample_len();
    if pn_offset == 0 || packet.len() < sample_at + sample_len {
        return None;
    }
    let mut first = packet[0];
    let mut pn_bytes = [0u8; 4];
    pn_bytes.copy_from_slice(&packet[pn_offset..sample_at]);
    hp.decrypt_in_place(
        &packet[sample_at..sample_at + sample_len],
        &mut first,
        &mut pn_bytes,
    )
    .ok()?;
    let pn_len = usize::from(first & 0x03) + 1;
    let truncated = pn_bytes[..pn_len]
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let pn = decode_pn(largest, truncated, 8 * pn_len as u32);
    packet[0] = first;
    packet[pn_offset..pn_offset + pn_len].copy_from_slice(&pn_bytes[..pn_len]);
    Some((pn_len, pn))
}

/// Opens the AEAD-protected payload of a packet whose header protection
/// was removed (RFC 9001 §5.3): `packet[..header_len]` is the associated
/// data, the rest is ciphertext and tag. Decrypts in place and returns the
/// plaintext length, or `None` when authentication fails.
pub fn open_payload(
    packet: &mut [u8],
    header_len: usize,
    pn: u64,
    key: &dyn PacketKey,
) -> Option<usize> {
    if packet.len() < header_len + TAG_LEN {
        return None;
    }
    let (head, body) = packet.split_at_mut(header_len);
    key.decrypt_in_place(pn, head, body).ok().map(<[u8]>::len)
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

/// The fixed AES-128-GCM key of the Retry integrity tag (RFC 9001 §5.8).
const RETRY_KEY: [u8; 16] = [
    0xbe, 0x0c, 0x69, 0x0b, 0x9f, 0x66, 0x57, 0x5a, 0x1d, 0x76, 0x6b, 0x54, 0xe3, 0x68, 0xc8, 0x4e,
];

/// The fixed nonce of the Retry integrity tag (RFC 9001 §5.8).
const RETRY_NONCE: [u8; 12] = [
    0x46, 0x15, 0x99, 0xd3, 0x5d, 0x63, 0x2b, 0xf2, 0x23, 0x98, 0x25, 0xbb,
];

/// The Retry integrity key of QUIC v2 (RFC 9369 §3.3.3).
const RETRY_KEY_V2: [u8; 16] = [
    0x8f, 0xb4, 0xb0, 0x1b, 0x56, 0xac, 0x48, 0xe2, 0x60, 0xfb, 0xcb, 0xce, 0xad, 0x7c, 0xcc, 0x92,
];

/// The Retry integrity nonce of QUIC v2 (RFC 9369 §3.3.3).
const RETRY_NONCE_V2: [u8; 12] = [
    0xd8, 0x69, 0x69, 0xbc, 0x2d, 0x7c, 0x6d, 0x99, 0x90, 0xef, 0xb0, 0x4a,
];

/// The Retry integrity key and nonce of the version a Retry packet
/// carries in bytes 1..5.
fn retry_key(packet: &[u8]) -> (crate::protocol::backend::aead::LessSafeKey, [u8; 12]) {
    let version = packet.get(1..5).map_or(VERSION_1, |v| {
        u32::from_be_bytes(v.try_into().expect("4 bytes"))
    });
    let (key, nonce) = if version == VERSION_2 {
        (&RETRY_KEY_V2, RETRY_NONCE_V2)
    } else {
        (&RETRY_KEY, RETRY_NONCE)
    };
    let key =
        crate::protocol::backend::aead::UnboundKey::new(&crate::protocol::backend::aead::AES_128_GCM, key).expect("16-byte AES-128 key");
    (crate::protocol::backend::aead::LessSafeKey::new(key), nonce)
}

/// The Retry Pseudo-Packet (RFC 9001 §5.8): the ODCID, length-prefixed,
/// then the Retry packet without its tag.
fn retry_pseudo_packet(orig_dcid: &[u8], retry_without_tag: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(1 + orig_dcid.len() + retry_without_tag.len());
    p.push(orig_dcid.len() as u8);
    p.extend_from_slice(orig_dcid);
    p.extend_from_slice(retry_without_tag);
    p
}

/// The Retry Integrity Tag (RFC 9001 §5.8) of a Retry packet whose bytes
/// before the tag are `retry_without_tag`, answering an Initial whose DCID
/// was `orig_dcid`: AES-128-GCM over an empty plaintext with the pseudo
/// packet as associated data.
pub fn retry_integrity_tag(orig_dcid: &[u8], retry_without_tag: &[u8]) -> [u8; TAG_LEN] {
    let aad = retry_pseudo_packet(orig_dcid, retry_without_tag);
    let (key, nonce) = retry_key(retry_without_tag);
    let tag = key
        .seal_in_place_separate_tag(
            crate::protocol::backend::aead::Nonce::assume_unique_for_key(nonce),
            crate::protocol::backend::aead::Aad::from(&aad),
            &mut [],
        )
        .expect("empty plaintext");
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

/// True when the whole Retry packet `retry` ends in a valid integrity tag
/// for `orig_dcid` (RFC 9001 §5.8). The tag is checked by AEAD opening, in
/// constant time.
pub fn retry_integrity_ok(orig_dcid: &[u8], retry: &[u8]) -> bool {
    let Some(split) = retry.len().checked_sub(TAG_LEN) else {
        return false;
    };
    let (packet, tag) = retry.split_at(split);
    let aad = retry_pseudo_packet(orig_dcid, packet);
    let mut tag = tag.to_vec();
    let (key, nonce) = retry_key(packet);
    key.open_in_place(
        crate::protocol::backend::aead::Nonce::assume_unique_for_key(nonce),
        crate::protocol::backend::aead::Aad::from(&aad),
        &mut tag,
    )
    .is_ok()
}

/// Builds a Retry packet (RFC 9000 §17.2.5) to `dcid` (the client's SCID)
/// from `scid` (our new CID) carrying `token`, answering an Initial whose
/// DCID was `orig_dcid`, in `version`. `unused` fills the four unused
/// bits.
pub fn retry_packet(
    version: u32,
    dcid: &ConnectionId,
    scid: &ConnectionId,
    token: &[u8],
    orig_dcid: &ConnectionId,
    unused: u8,
) -> Vec<u8> {
    let mut p = Vec::with_capacity(7 + dcid.len() + scid.len() + token.len() + TAG_LEN);
    p.push(0xc0 | (LongType::Retry.bits(version) << 4) | (unused & 0x0f));
    p.extend_from_slice(&version.to_be_bytes());
    p.push(dcid.len() as u8);
    p.extend_from_slice(dcid);
    p.push(scid.len() as u8);
    p.extend_from_slice(scid);
    p.extend_from_slice(token);
    let tag = retry_integrity_tag(orig_dcid, &p);
    p.extend_from_slice(&tag);
    p
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
    /// Opening key of the next phase, made in advance so that a
    /// peer-initiated update shows no timing signal (RFC 9001 §6.3,
    /// §9.5). Its sealing key is made only when the phase starts: an
    /// idle connection holds one sealing key, not two.
    pub next_remote: Box<dyn PacketKey>,
    /// Remote key of the previous phase, for reordered packets.
    pub prev_remote: Option<Box<dyn PacketKey>>,
    /// The current key phase bit.
    pub phase: bool,
    /// Lowest packet number received in the current phase.
    pub phase_first_pn: Option<u64>,
    /// The secrets of the next phase (not yet advanced past it).
    secrets: Secrets,
}

impl OneRttKeys {
    /// Builds the phase-0 keys from what rustls handed over at 1-RTT.
    pub fn new(keys: Keys, secrets: Secrets) -> Self {
        let next_remote = secrets.clone().next_packet_keys().remote;
        Self {
            local_hp: keys.local.header,
            remote_hp: keys.remote.header,
            current: PacketKeySet {
                local: keys.local.packet,
                remote: keys.remote.packet,
            },
            next_remote,
            prev_remote: None,
            phase: false,
            phase_first_pn: None,
            secrets,
        }
    }

    /// Moves to the next key phase (RFC 9001 §6.1, §6.2).
    pub fn rotate(&mut self) {
        let local = self.secrets.next_packet_keys().local;
        let after = self.secrets.clone().next_packet_keys().remote;
        let remote = std::mem::replace(&mut self.next_remote, after);
        let old = std::mem::replace(&mut self.current, PacketKeySet { local, remote });
        self.prev_remote = Some(old.remote);
        self.phase = !self.phase;
        self.phase_first_pn = None;
    }
}

#[cfg(test)]
mod tests {
    //! RFC 9001 Appendix A: sample packet protection.
    use super::*;
    use crate::protocol::packet::{HeaderKind, LongType, PartialHeader};

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn rfc_cid() -> ConnectionId {
        ConnectionId::new(&hex("8394c8f03e515708")).unwrap()
    }

    /// RFC 9001 §A.2: the CRYPTO frame of the client Initial.
    const CLIENT_CRYPTO: &str = "
        060040f1010000ed0303ebf8fa56f129 39b9584a3896472ec40bb863cfd3e868
        04fe3a47f06a2b69484c000004130113 02010000c000000010000e00000b6578
        616d706c652e636f6dff01000100000a 00080006001d00170018001000070005
        04616c706e0005000501000000000033 00260024001d00209370b2c9caa47fba
        baf4559fedba753de171fa71f50f1ce1 5d43e994ec74d748002b000302030400
        0d0010000e0403050306030203080408 050806002d00020101001c0002400100
        3900320408ffffffffffffffff050480 00ffff07048000ffff08011001048000
        75300901100f088394c8f03e51570806 048000ffff";

    /// RFC 9001 §A.2: the unprotected client Initial header (pn 2).
    const CLIENT_HEADER: &str = "c300000001088394c8f03e5157080000449e00000002";

    /// RFC 9001 §A.2: the protected client Initial.
    const CLIENT_PROTECTED: &str = "
        c000000001088394c8f03e5157080000 449e7b9aec34d1b1c98dd7689fb8ec11
        d242b123dc9bd8bab936b47d92ec356c 0bab7df5976d27cd449f63300099f399
        1c260ec4c60d17b31f8429157bb35a12 82a643a8d2262cad67500cadb8e7378c
        8eb7539ec4d4905fed1bee1fc8aafba1 7c750e2c7ace01e6005f80fcb7df6212
        30c83711b39343fa028cea7f7fb5ff89 eac2308249a02252155e2347b63d58c5
        457afd84d05dfffdb20392844ae81215 4682e9cf012f9021a6f0be17ddd0c208
        4dce25ff9b06cde535d0f920a2db1bf3 62c23e596d11a4f5a6cf3948838a3aec
        4e15daf8500a6ef69ec4e3feb6b1d98e 610ac8b7ec3faf6ad760b7bad1db4ba3
        485e8a94dc250ae3fdb41ed15fb6a8e5 eba0fc3dd60bc8e30c5c4287e53805db
        059ae0648db2f64264ed5e39be2e20d8 2df566da8dd5998ccabdae053060ae6c
        7b4378e846d29f37ed7b4ea9ec5d82e7 961b7f25a9323851f681d582363aa5f8
        9937f5a67258bf63ad6f1a0b1d96dbd4 faddfcefc5266ba6611722395c906556
        be52afe3f565636ad1b17d508b73d874 3eeb524be22b3dcbc2c7468d54119c74
        68449a13d8e3b95811a198f3491de3e7 fe942b330407abf82a4ed7c1b311663a
        c69890f4157015853d91e923037c227a 33cdd5ec281ca3f79c44546b9d90ca00
        f064c99e3dd97911d39fe9c5d0b23a22 9a234cb36186c4819e8b9c5927726632
        291d6a418211cc2962e20fe47feb3edf 330f2c603a9d48c0fcb5699dbfe58964
        25c5bac4aee82e57a85aaf4e2513e4f0 5796b07ba2ee47d80506f8d2c25e50fd
        14de71e6c418559302f939b0e1abd576 f279c4b2e0feb85c1f28ff18f58891ff
        ef132eef2fa09346aee33c28eb130ff2 8f5b766953334113211996d20011a198
        e3fc433f9f2541010ae17c1bf202580f 6047472fb36857fe843b19f5984009dd
        c324044e847a4f4a0ab34f719595de37 252d6235365e9b84392b061085349d73
        203a4a13e96f5432ec0fd4a1ee65accd d5e3904df54c1da510b0ff20dcc0c77f
        cb2c0e0eb605cb0504db87632cf3d8b4 dae6e705769d1de354270123cb11450e
        fc60ac47683d7b8d0f811365565fd98c 4c8eb936bcab8d069fc33bd801b03ade
        a2e1fbc5aa463d08ca19896d2bf59a07 1b851e6c239052172f296bfb5e724047
        90a2181014f3b94a4e97d117b4381303 68cc39dbb2d198065ae3986547926cd2
        162f40a29f0c3c8745c0f50fba3852e5 66d44575c29d39a03f0cda721984b6f4
        40591f355e12d439ff150aab7613499d bd49adabc8676eef023b15b65bfc5ca0
        6948109f23f350db82123535eb8a7433 bdabcb909271a6ecbcb58b936a88cd4e
        8f2e6ff5800175f113253d8fa9ca8885 c2f552e657dc603f252e1a8e308f76f0
        be79e2fb8f5d5fbbe2e30ecadd220723 c8c0aea8078cdfcb3868263ff8f09400
        54da48781893a7e49ad5aff4af300cd8 04a6b6279ab3ff3afb64491c85194aab
        760d58a606654f9f4400e8b38591356f bf6425aca26dc85244259ff2b19c41b9
        f96f3ca9ec1dde434da7d2d392b905dd f3d1f9af93d1af5950bd493f5aa731b4
        056df31bd267b6b90a079831aaf579be 0a39013137aac6d404f518cfd4684064
        7e78bfe706ca4cf5e9c5453e9f7cfd2b 8b4c8d169a44e55c88d4a9a7f9474241
        e221af44860018ab0856972e194cd934";

    /// RFC 9001 §A.3: the server Initial payload (ACK + CRYPTO).
    const SERVER_PAYLOAD: &str = "
        02000000000600405a020000560303ee fce7f7b37ba1d1632e96677825ddf739
        88cfc79825df566dc5430b9a045a1200 130100002e00330024001d00209d3c94
        0d89690b84d08a60993c144eca684d10 81287c834d5311bcf32bb9da1a002b00
        020304";

    /// RFC 9001 §A.3: the unprotected server Initial header (pn 1).
    const SERVER_HEADER: &str = "c1000000010008f067a5502a4262b50040750001";

    /// RFC 9001 §A.3: the protected server Initial.
    const SERVER_PROTECTED: &str = "
        cf000000010008f067a5502a4262b500 4075c0d95a482cd0991cd25b0aac406a
        5816b6394100f37a1c69797554780bb3 8cc5a99f5ede4cf73c3ec2493a1839b3
        dbcba3f6ea46c5b7684df3548e7ddeb9 c3bf9c73cc3f3bded74b562bfb19fb84
        022f8ef4cdd93795d77d06edbb7aaf2f 58891850abbdca3d20398c276456cbc4
        2158407dd074ee";

    fn client_plain() -> Vec<u8> {
        // RFC 9001 §A.2: the CRYPTO frame plus PADDING up to 1162 bytes.
        let mut payload = hex(CLIENT_CRYPTO);
        payload.resize(1162, 0);
        payload
    }

    /// Seals `header ++ payload` with our `seal` and returns the packet.
    fn seal_rfc(header: &[u8], payload: &[u8], pn: u64, keys: &DirectionalKeys) -> Vec<u8> {
        let h = PartialHeader::parse(&[header, payload, &[0u8; TAG_LEN][..]].concat(), 0)
            .expect("RFC header parses");
        let pn_len = header.len() - h.pn_offset;
        let mut buf = vec![0xaa; 3]; // sealing must work at an offset
        buf.extend_from_slice(header);
        buf.extend_from_slice(payload);
        seal(
            &mut buf,
            3,
            h.pn_offset,
            pn_len,
            pn,
            keys.packet.as_ref(),
            keys.header.as_ref(),
        );
        buf.split_off(3)
    }

    /// Opens `protected` the way the connection does; returns the
    /// unprotected header, the plaintext and the packet number.
    fn open_rfc(protected: &[u8], keys: &DirectionalKeys) -> (Vec<u8>, Vec<u8>, u64) {
        let h = PartialHeader::parse(protected, 0).expect("RFC packet parses");
        assert!(matches!(
            h.kind,
            HeaderKind::Long {
                ty: LongType::Initial,
                ..
            }
        ));
        assert_eq!(h.len, protected.len());
        let mut packet = protected.to_vec();
        let (pn_len, pn) =
            remove_header_protection(&mut packet, h.pn_offset, None, keys.header.as_ref())
                .expect("header protection removed");
        let header_len = h.pn_offset + pn_len;
        let n = open_payload(&mut packet, header_len, pn, keys.packet.as_ref())
            .expect("payload authenticates");
        let header = packet[..header_len].to_vec();
        let plain = packet[header_len..header_len + n].to_vec();
        (header, plain, pn)
    }

    #[test]
    fn rfc9001_a2_client_initial_open() {
        // The server opens with its remote (client) keys.
        let keys = initial_keys(&rfc_cid(), Side::Server);
        let (header, plain, pn) = open_rfc(&hex(CLIENT_PROTECTED), &keys.remote);
        assert_eq!(pn, 2);
        assert_eq!(header, hex(CLIENT_HEADER));
        assert_eq!(plain, client_plain());
    }

    #[test]
    fn rfc9001_a2_client_initial_seal() {
        let keys = initial_keys(&rfc_cid(), Side::Client);
        let sealed = seal_rfc(&hex(CLIENT_HEADER), &client_plain(), 2, &keys.local);
        assert_eq!(sealed, hex(CLIENT_PROTECTED));
    }

    #[test]
    fn rfc9001_a3_server_initial_open() {
        let keys = initial_keys(&rfc_cid(), Side::Client);
        let (header, plain, pn) = open_rfc(&hex(SERVER_PROTECTED), &keys.remote);
        assert_eq!(pn, 1);
        assert_eq!(header, hex(SERVER_HEADER));
        assert_eq!(plain, hex(SERVER_PAYLOAD));
    }

    #[test]
    fn rfc9001_a3_server_initial_seal() {
        let keys = initial_keys(&rfc_cid(), Side::Server);
        let sealed = seal_rfc(&hex(SERVER_HEADER), &hex(SERVER_PAYLOAD), 1, &keys.local);
        assert_eq!(sealed, hex(SERVER_PROTECTED));
    }

    #[test]
    fn rfc9001_tampered_initial_is_rejected_and_untouched() {
        let keys = initial_keys(&rfc_cid(), Side::Server);
        let mut p = hex(CLIENT_PROTECTED);
        let last = p.len() - 1;
        p[last] ^= 1;
        let h = PartialHeader::parse(&p, 0).unwrap();
        let (pn_len, pn) =
            remove_header_protection(&mut p, h.pn_offset, None, keys.remote.header.as_ref())
                .unwrap();
        assert!(open_payload(
            &mut p,
            h.pn_offset + pn_len,
            pn,
            keys.remote.packet.as_ref()
        )
        .is_none());
        // Too short to sample: nothing changes.
        let mut short = hex(CLIENT_PROTECTED)[..30].to_vec();
        let before = short.clone();
        assert!(
            remove_header_protection(&mut short, 18, None, keys.remote.header.as_ref()).is_none()
        );
        assert_eq!(short, before);
    }

    /// RFC 9001 §A.4: the Retry answering the client Initial of §A.2.
    const RETRY: &str = "ff000000010008f067a5502a4262b574 6f6b656e04a265ba2eff4d829058fb3f
        0f2496ba";

    #[test]
    fn rfc9001_a4_retry_integrity() {
        let retry = hex(RETRY);
        let odcid = rfc_cid();
        assert!(retry_integrity_ok(&odcid, &retry));
        let (body, tag) = retry.split_at(retry.len() - TAG_LEN);
        assert_eq!(&retry_integrity_tag(&odcid, body)[..], tag);
        // The packet parses as a Retry with SCID f067a5502a4262b5 and the
        // token "token".
        let h = PartialHeader::parse(&retry, 8).unwrap();
        let HeaderKind::Long {
            ty: LongType::Retry,
            scid,
            ..
        } = h.kind
        else {
            panic!("{:?}", h.kind);
        };
        assert_eq!(&scid[..], &hex("f067a5502a4262b5")[..]);
        assert!(h.dcid.is_empty());
        assert_eq!(&retry[h.token.start..retry.len() - TAG_LEN], b"token");
        // Our builder makes the same bytes (the RFC's unused bits are 0xf).
        let built = retry_packet(
            VERSION_1,
            &h.dcid,
            &ConnectionId::new(&scid).unwrap(),
            b"token",
            &odcid,
            0x0f,
        );
        assert_eq!(built, retry);
        // Another ODCID, a flipped bit anywhere, or a cut tag: rejected.
        assert!(!retry_integrity_ok(&hex("8394c8f03e515709"), &retry));
        for i in 0..retry.len() {
            let mut bad = retry.clone();
            bad[i] ^= 0x40;
            assert!(!retry_integrity_ok(&odcid, &bad), "byte {i}");
        }
        assert!(!retry_integrity_ok(&odcid, &retry[..retry.len() - 1]));
        assert!(!retry_integrity_ok(&odcid, &retry[..10]));
    }

    /// RFC 9369 §A.4: the v2 Retry answering the client Initial.
    const RETRY_V2: &str = "cf6b3343cf0008f067a5502a4262b574 6f6b656ec8646ce8bfe33952d9555436
        65dcc7b6";

    #[test]
    fn rfc9369_a4_retry_v2() {
        let retry = hex(RETRY_V2);
        let odcid = rfc_cid();
        assert!(retry_integrity_ok(&odcid, &retry));
        let h = PartialHeader::parse(&retry, 8).unwrap();
        let HeaderKind::Long {
            ty: LongType::Retry,
            version: VERSION_2,
            scid,
        } = h.kind
        else {
            panic!("{:?}", h.kind);
        };
        let built = retry_packet(VERSION_2, &h.dcid, &scid, b"token", &odcid, 0x0f);
        assert_eq!(built, retry);
        // The same bytes under the v1 key and nonce do not verify.
        let mut as_v1 = retry.clone();
        as_v1[1..5].copy_from_slice(&VERSION_1.to_be_bytes());
        assert!(!retry_integrity_ok(&odcid, &as_v1));
    }

    /// RFC 9369 §A.3: the protected v2 server Initial.
    const SERVER_PROTECTED_V2: &str = "
        dc6b3343cf0008f067a5502a4262b500 4075d92faaf16f05d8a4398c47089698
        baeea26b91eb761d9b89237bbf872630 17915358230035f7fd3945d88965cf17
        f9af6e16886c61bfc703106fbaf3cb4c fa52382dd16a393e42757507698075b2
        c984c707f0a0812d8cd5a6881eaf21ce da98f4bd23f6fe1a3e2c43edd9ce7ca8
        4bed8521e2e140";

    #[test]
    fn rfc9369_a3_server_initial_v2_opens_and_seals() {
        let keys = initial_keys_for(&default_initial_suite(), VERSION_2, &rfc_cid(), Side::Client);
        let (header, plain, pn) = open_rfc(&hex(SERVER_PROTECTED_V2), &keys.remote);
        assert_eq!(pn, 1);
        assert_eq!(header, hex("d16b3343cf0008f067a5502a4262b50040750001"));
        assert_eq!(plain, hex(SERVER_PAYLOAD));
        let server = initial_keys_for(&default_initial_suite(), VERSION_2, &rfc_cid(), Side::Server);
        let sealed = seal_rfc(&header, &plain, 1, &server.local);
        assert_eq!(sealed, hex(SERVER_PROTECTED_V2));
        // v1 keys do not open it.
        let v1 = initial_keys(&rfc_cid(), Side::Client);
        let mut packet = hex(SERVER_PROTECTED_V2);
        let h = PartialHeader::parse(&packet, 0).unwrap();
        if let Some((n, pn)) =
            remove_header_protection(&mut packet, h.pn_offset, None, v1.remote.header.as_ref())
        {
            assert!(
                open_payload(&mut packet, h.pn_offset + n, pn, v1.remote.packet.as_ref()).is_none()
            );
        }
    }

    /// The backend's TLS_CHACHA20_POLY1305_SHA256.
    fn chacha20() -> &'static rustls::Tls13CipherSuite {
        crate::protocol::backend::default_provider()
            .cipher_suites
            .iter()
            .find(|s| s.suite() == rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
            .and_then(|s| s.tls13())
            .expect("the backend offers ChaCha20")
    }

    /// HKDF-Expand-Label(secret, label, "", len) with the HkdfLabel bytes
    /// listed in RFC 9001 §A.1 (for "quic ku", same layout).
    fn expand_label(secret: &[u8], label: &[u8], len: usize) -> Vec<u8> {
        let hkdf = chacha20().hkdf_provider;
        let expander = hkdf.expander_for_okm(&rustls::crypto::tls13::OkmBlock::new(secret));
        let full = [b"tls13 ".as_slice(), label].concat();
        let mut out = vec![0u8; len];
        expander
            .expand_slice(
                &[
                    &(len as u16).to_be_bytes(),
                    &[full.len() as u8],
                    &full,
                    &[0u8],
                ],
                &mut out,
            )
            .unwrap();
        out
    }

    /// RFC 9001 §A.5. rustls offers no public way to turn a raw traffic
    /// secret into `Keys`, but its `quic::Algorithm` builds keys from raw
    /// key material: we derive that material from the RFC's secret and
    /// check it against the RFC before using it.
    #[test]
    fn rfc9001_a5_chacha20_short_header() {
        let secret = hex("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b");
        let key = expand_label(&secret, b"quic key", 32);
        let iv = expand_label(&secret, b"quic iv", 12);
        let hp = expand_label(&secret, b"quic hp", 32);
        let ku = expand_label(&secret, b"quic ku", 32);
        assert_eq!(
            key,
            hex("c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8")
        );
        assert_eq!(iv, hex("e0459b3474bdd0e44a41c144"));
        assert_eq!(
            hp,
            hex("25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4")
        );
        assert_eq!(
            ku,
            hex("1223504755036d556342ee9361d253421a826c9ecdf3c7148684b36b714881f9")
        );

        let alg = chacha20()
            .quic
            .expect("the backend's ChaCha20 suite supports QUIC");
        let mk = |b: &[u8]| -> rustls::crypto::cipher::AeadKey {
            <[u8; 32]>::try_from(b).unwrap().into()
        };
        let iv12: [u8; 12] = iv.as_slice().try_into().unwrap();
        let keys = DirectionalKeys {
            packet: alg.packet_key(mk(&key), iv12.into()),
            header: alg.header_protection_key(mk(&hp)),
        };

        let pn = 654_360_564;
        let protected = hex("4cfe4189655e5cd55c41f69080575d7999c25a5bfb");
        // Seal: header 4200bff4 (empty DCID, 3-byte pn 49140) + PING.
        let mut buf = hex("4200bff4");
        buf.push(0x01);
        seal(
            &mut buf,
            0,
            1,
            3,
            pn,
            keys.packet.as_ref(),
            keys.header.as_ref(),
        );
        assert_eq!(buf, protected);

        // Open, with the previous packet close enough that the 3-byte
        // encoding decodes to the RFC's packet number.
        let mut p = protected.clone();
        let h = PartialHeader::parse(&p, 0).unwrap();
        assert_eq!(h.kind, HeaderKind::Short);
        let (pn_len, got) =
            remove_header_protection(&mut p, h.pn_offset, Some(pn - 1), keys.header.as_ref())
                .unwrap();
        assert_eq!((pn_len, got), (3, pn));
        assert_eq!(&p[..4], &hex("4200bff4")[..]);
        let n = open_payload(&mut p, 4, pn, keys.packet.as_ref()).unwrap();
        assert_eq!(&p[4..4 + n], &[0x01]);
    }
}
