//! Shared test set-up: certificates and configurations.
#![allow(dead_code)]

use actix_quic::protocol::endpoint::{ClientConfig, ServerConfig};
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
    Arc::new(rustls::crypto::ring::default_provider())
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
        ClientConfig::new(Arc::new(client)),
        ServerConfig::with_crypto(Arc::new(server)),
    )
}

/// Runs `fut` with a bound on time, failing the test when it expires.
pub async fn within<T>(secs: u64, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(secs), fut)
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
