//! Anti-amplification (RFC 9000 §8.1; the interop runner's
//! amplificationlimit case): before the client's address is validated
//! the server sends at most three times what it received, even when its
//! first flight (a large certificate chain) needs far more.

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
    let provider = Arc::new(crate::common::backend_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    server.alpn_protocols = vec![b"test".to_vec()];
    let client = crate::common::client_crypto(&cert, &[b"test"]);
    (
        ClientConfig::new(Arc::new(client)).unwrap(),
        ServerConfig::with_crypto(Arc::new(server)).unwrap(),
        len,
    )
}

/// A link on which only the client's first datagram reaches the server
/// until `open` is set, counting the bytes the server received and sent
/// while it was closed.
struct OneWay {
    link: Link,
    received: Rc<Cell<usize>>,
    sent: Rc<Cell<usize>>,
    open: Rc<Cell<bool>>,
}

impl OneWay {
    fn new(seed: u64) -> Self {
        let received = Rc::new(Cell::new(0usize));
        let sent = Rc::new(Cell::new(0usize));
        let open = Rc::new(Cell::new(false));
        let (r, s, o) = (received.clone(), sent.clone(), open.clone());
        let mut first = true;
        let link = Link {
            seed,
            drop: Some(Box::new(move |dir, d| match dir {
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
        Self {
            link,
            received,
            sent,
            open,
        }
    }

    /// The server answered, within three times what it received.
    fn assert_within_three_times(&self) {
        let (received, sent) = (self.received.get(), self.sent.get());
        assert!(received >= 1200);
        assert!(sent > 0, "the server answered");
        assert!(
            sent <= 3 * received,
            "server sent {sent} bytes for {received} received"
        );
    }
}

#[test]
fn server_stays_within_three_times_until_validated() {
    for seed in 0..3 {
        let mut one_way = OneWay::new(seed);
        let (c, s) = crate::common::configs();
        let link = std::mem::take(&mut one_way.link);
        let mut p = Pair::new(c, s, "localhost", link);
        p.advance(Duration::from_secs(20));
        one_way.assert_within_three_times();
    }
}

#[test]
fn large_chain_stays_within_three_times_until_validated() {
    let (client, server, cert_len) = big_cert_configs();
    assert!(cert_len > 7000, "certificate is {cert_len} bytes");
    let mut one_way = OneWay::new(0);
    let link = std::mem::take(&mut one_way.link);
    let mut p = Pair::new(client, server, "localhost", link);
    // Ten seconds of server PTOs with no further client bytes.
    p.advance(Duration::from_secs(10));
    one_way.assert_within_three_times();
    assert!(
        one_way.sent.get() < cert_len,
        "the whole certificate went out unvalidated"
    );
    // Once the client's packets get through, the handshake completes.
    one_way.open.set(true);
    assert!(p.handshake(), "handshake after the link opened");
}
