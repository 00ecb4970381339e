//! Helpers shared by the fuzz targets in `fuzz_targets/`: TLS
//! configurations made once per process, a splitter turning one fuzz
//! input into several tagged datagrams, and a builder of client Initials
//! that the server's Initial keys authenticate.

use actix_quic::protocol::crypto::{self, TAG_LEN};
use actix_quic::protocol::packet::{self, HeaderKind, LongType, PartialHeader, MIN_INITIAL_SIZE};
use actix_quic::protocol::varint;
use actix_quic::protocol::ConnectionId;
use actix_quic::protocol::Side;
use actix_quic::protocol::{ClientConfig, Endpoint, ServerConfig};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::{Arc, OnceLock};

/// The certificate, key and rustls configurations are made once per
/// process (rcgen and the rustls builders are the slow part); the
/// protocol-level configurations around them are cheap and made per input
/// so no state (token stores, token keys) leaks from one input to the next.
struct Tls {
    client: Arc<rustls::ClientConfig>,
    server: Arc<rustls::ServerConfig>,
}

fn tls() -> &'static Tls {
    static TLS: OnceLock<Tls> = OnceLock::new();
    TLS.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
        let cert = c.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_pair.serialize_der()));
        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("TLS 1.3")
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .expect("server cert");
        server.alpn_protocols = vec![b"fuzz".to_vec()];
        server.max_early_data_size = 0;
        // No session tickets: every input runs the same full handshake.
        server.send_tls13_tickets = 0;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).expect("root");
        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("TLS 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"fuzz".to_vec()];
        // No resumption across inputs: runs stay independent.
        client.resumption = rustls::client::Resumption::disabled();
        Tls {
            client: Arc::new(client),
            server: Arc::new(server),
        }
    })
}

/// A fresh client configuration (without a token store).
pub fn client_config() -> ClientConfig {
    let mut c = ClientConfig::new(tls().client.clone()).unwrap();
    c.token_store(None);
    c
}

/// A fresh server configuration.
pub fn server_config() -> ServerConfig {
    ServerConfig::with_crypto(tls().server.clone()).unwrap()
}

/// Splits a fuzz input into `(tag, bytes)` records: a tag byte, a
/// little-endian u16 length (taken modulo `max_len + 1`), then that many
/// bytes (fewer at the end of the input). A short tail is one last record
/// with tag 0.
pub struct Records<'a> {
    data: &'a [u8],
    max_len: usize,
}

impl<'a> Records<'a> {
    /// Records of at most `max_len` bytes.
    pub fn new(data: &'a [u8], max_len: usize) -> Self {
        Self { data, max_len }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        if self.data.len() < 3 {
            let rest = std::mem::take(&mut self.data);
            return Some((0, rest));
        }
        let tag = self.data[0];
        let len =
            usize::from(u16::from_le_bytes([self.data[1], self.data[2]])) % (self.max_len + 1);
        let rest = &self.data[3..];
        let len = len.min(rest.len());
        let (rec, tail) = rest.split_at(len);
        self.data = tail;
        Some((tag, rec))
    }
}

/// A client Initial packet in a datagram of at least 1200 bytes, to
/// `dcid` from `scid` with `token`, packet number `pn`, carrying `payload`
/// (raw frame bytes, padded with PADDING), protected with the client
/// Initial keys of `dcid` (RFC 9001 §5.2) so a server accepts it as
/// authentic. `None` when the payload does not fit a 2-byte Length.
pub fn client_initial(
    dcid: &ConnectionId,
    scid: &ConnectionId,
    token: &[u8],
    pn: u64,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let keys = crypto::initial_keys(dcid, Side::Client);
    let pn_len = 4;
    let mut buf = Vec::with_capacity(MIN_INITIAL_SIZE);
    let len_at = packet::write_long_header(
        &mut buf,
        packet::VERSION_1,
        LongType::Initial,
        dcid,
        scid,
        token,
        pn,
        pn_len,
    );
    let pn_offset = len_at + 2;
    buf.extend_from_slice(payload);
    // RFC 9000 §14.1: a client Initial datagram is at least 1200 bytes.
    let min = MIN_INITIAL_SIZE.saturating_sub(TAG_LEN).max(pn_offset + 4);
    if buf.len() < min {
        buf.resize(min, 0);
    }
    let len = buf.len() - pn_offset + TAG_LEN;
    if len >= 1 << 14 {
        return None;
    }
    varint::write_with_len(&mut buf[len_at..], len as u64, 2);
    crypto::seal(
        &mut buf,
        0,
        pn_offset,
        pn_len,
        pn,
        keys.local.packet.as_ref(),
        keys.local.header.as_ref(),
    );
    Some(buf)
}

/// The decrypted payload of a real client's first Initial (CRYPTO frames
/// carrying a ClientHello with our transport parameters, then PADDING) and
/// the client's source CID, made once per process.
pub struct ClientHello {
    /// The Initial's plaintext frames.
    pub payload: Vec<u8>,
    /// The client's source CID (also in its transport parameters).
    pub scid: ConnectionId,
}

/// A real client's first Initial, decrypted; see [`ClientHello`].
pub fn client_hello() -> &'static ClientHello {
    static HELLO: OnceLock<ClientHello> = OnceLock::new();
    HELLO.get_or_init(|| {
        let now = std::time::Instant::now();
        let mut ep = Endpoint::new(actix_quic::protocol::EndpointConfig::new(), None, [8; 32]);
        let (_, mut conn) = ep
            .connect(
                now,
                &client_config(),
                "127.0.0.1:4433".parse().unwrap(),
                "localhost",
            )
            .expect("connect");
        let mut buf = Vec::new();
        let t = conn.poll_transmit(now, 1, &mut buf).expect("first Initial");
        buf.truncate(t.segment_size.unwrap_or(t.size));
        let h = PartialHeader::parse(&buf, 8).expect("Initial header");
        let HeaderKind::Long { scid, .. } = h.kind.clone() else {
            panic!("not a long header");
        };
        let keys = crypto::initial_keys(&h.dcid, Side::Server);
        let mut packet = buf[..h.len].to_vec();
        let (pn_len, pn) = crypto::remove_header_protection(
            &mut packet,
            h.pn_offset,
            None,
            keys.remote.header.as_ref(),
        )
        .expect("header protection");
        let start = h.pn_offset + pn_len;
        let len = crypto::open_payload(&mut packet, start, pn, keys.remote.packet.as_ref())
            .expect("Initial decrypts");
        ClientHello {
            payload: packet[start..start + len].to_vec(),
            scid,
        }
    })
}
