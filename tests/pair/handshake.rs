//! Handshake, streams and close on the sans-IO core with a virtual clock.

use actix_quic::protocol::Dir;
use actix_quic::protocol::{ConnectionError, Event};
use actix_quic::testing::{Link, Pair};
use actix_quic::VarInt;
use bytes::Bytes;
use std::time::Duration;

fn pair() -> Pair {
    let (c, s) = crate::common::configs();
    Pair::new(c, s, "localhost", Link::default())
}

#[test]
fn handshake_completes_with_alpn() {
    let mut p = pair();
    assert!(p.handshake());
    assert!(p.client_events.contains(&Event::Connected));
    assert!(p.server_events.contains(&Event::Connected));
    let hd = p.client.handshake_data().unwrap();
    assert_eq!(hd.protocol.as_deref(), Some(&b"test"[..]));
    assert_eq!(
        p.server().handshake_data().unwrap().server_name.as_deref(),
        Some("localhost")
    );
    // Two round trips of 20 ms at most, plus processing.
    assert!(p.client.rtt() >= Duration::from_millis(20));
}

#[test]
fn bidi_stream_round_trip() {
    let mut p = pair();
    assert!(p.handshake());
    let id = p.client.open(Dir::Bi).unwrap();
    let mut data = Bytes::from_static(b"hello");
    assert_eq!(p.client.write(id, &mut data).unwrap(), 5);
    p.client.finish(id).unwrap();
    let mut got = Vec::new();
    assert!(p.run_until(Duration::from_secs(5), |p| {
        let s = p.server();
        if let Some(sid) = s.accept(Dir::Bi) {
            assert_eq!(sid, id);
        }
        while let Ok(Some(b)) = s.read(id, 1024) {
            got.extend_from_slice(&b);
        }
        matches!(s.read(id, 1024), Ok(None)) || got == b"hello"
    }));
    assert_eq!(got, b"hello");
}

#[test]
fn close_reaches_peer_verbatim() {
    let mut p = pair();
    assert!(p.handshake());
    let now = p.now;
    p.client
        .close(now, VarInt::from_u32(42), Bytes::from_static(b"bye"));
    assert!(p.run_until(Duration::from_secs(5), |p| p
        .server
        .as_ref()
        .is_some_and(|s| s.error().is_some())));
    match p.server().error().unwrap() {
        ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code, VarInt::from_u32(42));
            assert_eq!(&c.reason[..], b"bye");
        }
        e => panic!("unexpected {e:?}"),
    }
    assert_eq!(p.client.error(), Some(&ConnectionError::LocallyClosed));
    // Both sides drain and go quiet.
    assert!(
        p.run_until(Duration::from_secs(10), |p| p.client.is_drained()
            && p.server.as_ref().unwrap().is_drained())
    );
}
