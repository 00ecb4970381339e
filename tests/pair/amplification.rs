//! Anti-amplification (RFC 9000 §8.1; the interop runner's
//! amplificationlimit case): before the client's address is validated
//! the server sends at most three times what it received, even when its
//! first flight (a large certificate chain) needs far more.

use actix_quic::testing::{Direction, Link, Pair};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

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
    let (client, server, cert_len) = crate::common::configs_with_large_certificate(260);
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
