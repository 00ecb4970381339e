//! Shared test set-up: certificates and configurations.
#![allow(dead_code)]

use actix_quic::protocol::{ClientConfig, ServerConfig, TransportConfig};
use actix_quic::testing::{Link, Pair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;

/// A self-signed certificate for "localhost" and its key.
pub fn cert() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    (
        c.cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_pair.serialize_der())),
    )
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(backend_provider())
}

/// The rustls provider of the crate's crypto backend (the `aws-lc-rs`
/// feature, or ring), so the suite runs on the backend it tests.
pub fn backend_provider() -> rustls::crypto::CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    return rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(not(feature = "aws-lc-rs"))]
    return rustls::crypto::ring::default_provider();
}

/// The backend's cipher suite `id`.
pub fn backend_suite(id: rustls::CipherSuite) -> rustls::SupportedCipherSuite {
    *backend_provider()
        .cipher_suites
        .iter()
        .find(|s| s.suite() == id)
        .expect("the backend offers it")
}

/// rustls server config with ALPN `alpn`.
pub fn server_crypto(alpn: &[&[u8]]) -> (rustls::ServerConfig, CertificateDer<'static>) {
    let (cert, key) = cert();
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    cfg.max_early_data_size = 0;
    (cfg, cert)
}

/// rustls client config trusting `cert`, with ALPN `alpn`.
pub fn client_crypto(cert: &CertificateDer<'static>, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    cfg
}

/// Matching protocol-level client and server configurations.
pub fn configs() -> (ClientConfig, ServerConfig) {
    let (server, cert) = server_crypto(&[b"test"]);
    let client = client_crypto(&cert, &[b"test"]);
    (
        ClientConfig::new(Arc::new(client)).unwrap(),
        ServerConfig::with_crypto(Arc::new(server)).unwrap(),
    )
}

/// Matching protocol-level configurations whose server certificate
/// names "localhost" and `extra` more hosts, so that it is large (the
/// server's first flight spans datagrams); also returns its length.
pub fn configs_with_large_certificate(extra: usize) -> (ClientConfig, ServerConfig, usize) {
    let names: Vec<String> = std::iter::once("localhost".to_string())
        .chain((0..extra).map(|i| format!("host-{i:03}.large-certificate.example")))
        .collect();
    let c = rcgen::generate_simple_self_signed(names).unwrap();
    let cert = c.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_pair.serialize_der()));
    let mut server = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    server.alpn_protocols = vec![b"test".to_vec()];
    let client = client_crypto(&cert, &[b"test"]);
    (
        ClientConfig::new(Arc::new(client)).unwrap(),
        ServerConfig::with_crypto(Arc::new(server)).unwrap(),
        cert.len(),
    )
}

/// Runs `fut` with a bound on time, failing the test when it expires.
pub async fn within<F: std::future::IntoFuture>(secs: u64, fut: F) -> F::Output {
    tokio::time::timeout(std::time::Duration::from_secs(secs), fut.into_future())
        .await
        .expect("timed out")
}

/// A server endpoint on 127.0.0.1 and a client endpoint trusting it.
pub fn endpoints() -> (
    actix_quic::Endpoint,
    actix_quic::Endpoint,
    std::net::SocketAddr,
) {
    let (client_cfg, server_cfg) = configs();
    let server = actix_quic::Endpoint::server(server_cfg, "127.0.0.1:0".parse().unwrap()).unwrap();
    let client = actix_quic::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(client_cfg);
    let addr = server.local_addr().unwrap();
    (server, client, addr)
}

/// Installs a tracing subscriber honouring RUST_LOG (once).
pub fn trace() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A server endpoint on 127.0.0.1 using `server` transport settings and a
/// client endpoint using `client`, trusting each other.
pub fn endpoints_with(
    client: actix_quic::TransportConfig,
    server: actix_quic::TransportConfig,
) -> (
    actix_quic::Endpoint,
    actix_quic::Endpoint,
    std::net::SocketAddr,
) {
    let (mut client_cfg, mut server_cfg) = configs();
    client_cfg.transport_config(Arc::new(client));
    server_cfg.transport_config(Arc::new(server));
    let server = actix_quic::Endpoint::server(server_cfg, "127.0.0.1:0".parse().unwrap()).unwrap();
    let client = actix_quic::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(client_cfg);
    let addr = server.local_addr().unwrap();
    (server, client, addr)
}

/// Connects `client` to `server` (listening on `addr`) and returns both
/// ends, client first, once both handshakes completed.
pub async fn connect(
    server: &actix_quic::Endpoint,
    client: &actix_quic::Endpoint,
    addr: std::net::SocketAddr,
) -> (actix_quic::Connection, actix_quic::Connection) {
    let accepting = async {
        within(10, server.accept())
            .await
            .expect("server endpoint closed")
            .await
            .expect("server handshake")
    };
    let connecting = async {
        within(10, client.connect(addr, "localhost").unwrap())
            .await
            .expect("client handshake")
    };
    let (c, s) = futures::future::join(connecting, accepting).await;
    (c, s)
}

/// A server/client pair with default settings, already connected:
/// (server endpoint, client endpoint, client connection, server connection).
pub async fn connected() -> (
    actix_quic::Endpoint,
    actix_quic::Endpoint,
    actix_quic::Connection,
    actix_quic::Connection,
) {
    let (server, client, addr) = endpoints();
    let (c, s) = connect(&server, &client, addr).await;
    (server, client, c, s)
}

/// A connected pair whose server grants `window` bytes of credit per
/// stream: (server endpoint, client endpoint, client connection, server
/// connection).
#[allow(dead_code)]
pub async fn connected_with_stream_window(
    window: u64,
) -> (
    actix_quic::Endpoint,
    actix_quic::Endpoint,
    actix_quic::Connection,
    actix_quic::Connection,
) {
    let mut server_transport = actix_quic::TransportConfig::default();
    server_transport.stream_receive_window(actix_quic::VarInt::from_u64(window).unwrap());
    let (server, client, addr) =
        endpoints_with(actix_quic::TransportConfig::default(), server_transport);
    let (c, s) = connect(&server, &client, addr).await;
    (server, client, c, s)
}

/// Returns once `conn` sends from the socket `endpoint.rebind` gave it:
/// mailboxes are FIFO, so once the endpoint answered a message sent after
/// the rebind it has handed the connection its new socket, and once the
/// connection answered one it sends from it.
#[allow(dead_code)]
pub async fn rebind_settled(endpoint: &actix_quic::Endpoint, conn: &actix_quic::Connection) {
    endpoint
        .addr()
        .send(actix_quic::messages::SetIncomingPolicy(None))
        .await
        .unwrap();
    conn.addr().send(actix_quic::messages::Stats).await.unwrap();
}

/// `len` bytes that differ per `seed` and per offset, so misplaced or
/// mixed-up data is detected.
pub fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + seed * 17 + i / 251) % 251) as u8)
        .collect()
}

/// The start of a QUIC long header: first byte, version, DCID and SCID.
pub fn long_header(first: u8, version: u32, dcid: &[u8], scid: &[u8]) -> Vec<u8> {
    let mut d = vec![first];
    d.extend_from_slice(&version.to_be_bytes());
    d.push(dcid.len() as u8);
    d.extend_from_slice(dcid);
    d.push(scid.len() as u8);
    d.extend_from_slice(scid);
    d
}

/// Sends `target` a 1200-byte long header of an unknown version whose
/// SCID is `tag`, and waits (bounded) for the Version Negotiation packet
/// that answers it, skipping anything else that arrives. A UDP socket is
/// FIFO, so the answer proves the endpoint read everything `socket` sent
/// before, and is still responsive.
pub async fn version_negotiation_barrier(
    socket: &tokio::net::UdpSocket,
    target: std::net::SocketAddr,
    tag: &[u8],
) {
    let mut probe = long_header(0xc0, 0x1a2a_3a4a, b"\x0bprobe\x0b", tag);
    probe.resize(1200, 0);
    socket.send_to(&probe, target).await.unwrap();
    let mut buf = vec![0u8; 65536];
    within(5, async {
        loop {
            let (n, _) = socket.recv_from(&mut buf).await.unwrap();
            let d = &buf[..n];
            let is_vn = n > 6 + tag.len() && d[0] & 0x80 != 0 && d[1..5] == [0; 4];
            if is_vn && usize::from(d[5]) == tag.len() && &d[6..6 + tag.len()] == tag {
                return;
            }
        }
    })
    .await;
}

/// A sans-IO client connection to 127.0.0.1:4433 and its first datagram
/// (the padded Initial carrying the ClientHello). Each call seeds its
/// client endpoint differently, so clients have CIDs of their own.
pub fn client_and_first_datagram() -> (actix_quic::protocol::Connection, Vec<u8>) {
    static CLIENTS: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
    let seed = [CLIENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed); 32];
    let (client, _) = configs();
    let now = std::time::Instant::now();
    let (_, mut conn) = actix_quic::protocol::Endpoint::new(
        actix_quic::protocol::EndpointConfig::new(),
        None,
        seed,
    )
    .connect(now, &client, "127.0.0.1:4433".parse().unwrap(), "localhost")
    .unwrap();
    let mut buf = Vec::new();
    let t = conn.poll_transmit(now, 1, &mut buf).unwrap();
    buf.truncate(t.size);
    (conn, buf)
}

/// The backend's crypto provider offering only `suites`.
pub fn provider_with(
    suites: &[rustls::SupportedCipherSuite],
) -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: suites.to_vec(),
        ..backend_provider()
    })
}

/// A root store trusting `cert` alone.
pub fn roots(cert: &CertificateDer<'static>) -> rustls::RootCertStore {
    let mut r = rustls::RootCertStore::empty();
    r.add(cert.clone()).unwrap();
    r
}

/// Client TLS trusting `cert`, with ALPN `alpn`, offering only `suites`.
pub fn client_crypto_with_suites(
    cert: &CertificateDer<'static>,
    alpn: &[&[u8]],
    suites: &[rustls::SupportedCipherSuite],
) -> rustls::ClientConfig {
    let mut c = rustls::ClientConfig::builder_with_provider(provider_with(suites))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots(cert))
        .with_no_client_auth();
    c.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    c
}

/// The three TLS 1.3 cipher suites QUIC uses (RFC 9001 §5.3), as the
/// backend provides them, with their IANA identifiers.
pub fn quic_suites() -> [(rustls::SupportedCipherSuite, rustls::CipherSuite); 3] {
    use rustls::CipherSuite as Id;
    [
        Id::TLS13_CHACHA20_POLY1305_SHA256,
        Id::TLS13_AES_256_GCM_SHA384,
        Id::TLS13_AES_128_GCM_SHA256,
    ]
    .map(|id| (backend_suite(id), id))
}

/// The stream with raw ID `raw` (RFC 9000 §2.1), for tests that write
/// frames by hand.
pub fn stream_id(raw: u64) -> actix_quic::StreamId {
    use actix_quic::{Dir, Side};
    let side = if raw & 1 == 0 {
        Side::Client
    } else {
        Side::Server
    };
    let dir = if raw & 2 == 0 { Dir::Bi } else { Dir::Uni };
    actix_quic::StreamId::new(side, dir, raw >> 2)
}

/// A pair with default settings on `link`.
pub fn pair(link: Link) -> Pair {
    let (c, s) = configs();
    Pair::new(c, s, "localhost", link)
}

/// A pair whose both sides use `client` and `server` transport settings.
pub fn pair_with(client: TransportConfig, server: TransportConfig, link: Link) -> Pair {
    let (mut c, mut s) = configs();
    c.transport_config(Arc::new(client));
    s.transport_config(Arc::new(server));
    Pair::new(c, s, "localhost", link)
}
