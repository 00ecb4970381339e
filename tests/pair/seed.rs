//! One random source: everything the core draws (CIDs, path challenges,
//! tokens, reset bytes) comes from the endpoint's seed, which the pair
//! harness derives from the link's. The same seed makes the same run, so
//! a failing seed reproduces exactly.
//!
//! TLS signatures carry randomness of their own (ECDSA's length varies
//! by a byte or two, and so would the handshake's timing), so these runs
//! use an Ed25519 certificate, whose signatures are deterministic.

use actix_quic::protocol::{ClientConfig, ConnectionId, ConnectionStats, ServerConfig};
use actix_quic::testing::{Link, Pair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use std::time::Duration;

fn ed25519_configs() -> (ClientConfig, ServerConfig) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = Arc::new(crate::common::backend_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    server.alpn_protocols = vec![b"seed".to_vec()];
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"seed".to_vec()];
    (
        ClientConfig::new(Arc::new(client)).unwrap(),
        ServerConfig::with_crypto(Arc::new(server)).unwrap(),
    )
}

/// What a run looked like: both sides' CIDs, when the download ended,
/// and both sides' statistics.
type Run = (
    ConnectionId,
    ConnectionId,
    Duration,
    ConnectionStats,
    ConnectionStats,
);

/// A 300 KB download over a link dropping and delaying at random.
fn run(configs: &(ClientConfig, ServerConfig), seed: u64) -> Run {
    let link = Link {
        loss: 0.03,
        jitter: Duration::from_millis(4),
        ..Link::default()
    }
    .with_seed(seed);
    let mut p = Pair::new(configs.0.clone(), configs.1.clone(), "localhost", link);
    let d = p
        .download(300_000, Duration::from_secs(60))
        .expect("download");
    (
        p.client.initial_scid(),
        p.server().initial_scid(),
        d.elapsed,
        p.client.stats(),
        p.server().stats(),
    )
}

#[test]
fn the_same_seed_makes_the_same_run() {
    let configs = ed25519_configs();
    let first = run(&configs, 11);
    assert!(
        first.3.lost_packets + first.4.lost_packets > 0,
        "the link lost some"
    );
    assert_eq!(run(&configs, 11), first);
}

#[test]
fn another_seed_makes_other_choices() {
    let configs = ed25519_configs();
    let (a, b) = (run(&configs, 11), run(&configs, 12));
    assert_ne!(a.0, b.0, "client CIDs");
    assert_ne!(a.1, b.1, "server CIDs");
}
