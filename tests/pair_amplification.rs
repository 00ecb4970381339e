//! Anti-amplification with a large certificate chain (RFC 9000 §8.1; the
//! interop runner's amplificationlimit case): the server's first flight
//! needs far more than three times the client's Initial.

mod common;

use actix_quic::protocol::{ClientConfig, ServerConfig};
use actix_quic::testing::{Direction, Link, Pair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// A server and client whose certificate is about 8 KB (many names).
fn big_cert_configs() -> (ClientConfig, ServerConfig, usize) {
    let names: Vec<String> = std::iter::once("localhost".to_string())
        .chain((0..260).map(|i| format!("host-{i:03}.amplification.example")))
        .collect();
    let c = rcgen::generate_simple_self_signed(names).unwrap();
    let cert = c.cert.der().clone();
    let len = cert.len();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    server.alpn_protocols = vec![b"test".to_vec()];
    let client = common::client_crypto(&cert, &[b"test"]);
    (
        ClientConfig::new(Arc::new(client)),
        ServerConfig::with_crypto(Arc::new(server)),
        len,
    )
}

#[test]
fn large_chain_stays_within_three_times_until_validated() {
    let (client, server, cert_len) = big_cert_configs();
    assert!(cert_len > 7000, "certificate is {cert_len} bytes");
    let received = Rc::new(Cell::new(0usize));
    let sent = Rc::new(Cell::new(0usize));
    let open = Rc::new(Cell::new(false));
    let (r, s, o) = (received.clone(), sent.clone(), open.clone());
    let mut first = true;
    let link = Link {
        drop: Some(Box::new(move |dir, d| match dir {
            // Only the client's first datagram arrives until `open`.
            Direction::ToServer => {
                if first || o.get() {
                    first = false;
                    if !o.get() {
                        r.set(r.get() + d.len());
                    }
                    false
                } else {
                    true
                }
            }
            Direction::ToClient => {
                if !o.get() {
                    s.set(s.get() + d.len());
                }
                false
            }
        })),
        ..Link::default()
    };
    let mut p = Pair::new(client, server, "localhost", link);
    // Ten seconds of server PTOs with no further client bytes.
    p.advance(Duration::from_secs(10));
    assert!(received.get() >= 1200);
    assert!(sent.get() > 0, "the server answered");
    assert!(
        sent.get() <= 3 * received.get(),
        "server sent {} bytes for {} received",
        sent.get(),
        received.get()
    );
    assert!(
        sent.get() < cert_len,
        "the whole certificate went out unvalidated"
    );
    // Once the client's packets get through, the handshake completes.
    open.set(true);
    assert!(p.handshake(), "handshake after the link opened");
}
