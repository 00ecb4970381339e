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

/// Exports `label` on both sides; they must agree.
fn exports_agree(p: &mut Pair, label: &[u8], len: usize) -> Vec<u8> {
    let (mut c, mut s) = (vec![0u8; len], vec![1u8; len]);
    p.client
        .export_keying_material(&mut c, label, b"context")
        .unwrap();
    p.server()
        .export_keying_material(&mut s, label, b"context")
        .unwrap();
    assert_eq!(c, s, "{label:?}");
    c
}

#[test]
fn tls_sessions_retire_after_the_handshake_and_still_export() {
    let mut p = pair();
    assert!(p.handshake());
    // The server's session goes as it completes, with its tickets
    // written; the client's once HANDSHAKE_DONE and a ticket arrived.
    assert!(p.server().tls_session_retired());
    assert!(p.run_until(Duration::from_secs(5), |p| p.client.tls_session_retired()));
    // The exporter is the session's: both sides agree at any length,
    // with any label (rustls still exports on neither).
    for (label, len) in [(&b"EXPERIMENTAL a"[..], 32), (&[7u8; 300][..], 100)] {
        exports_agree(&mut p, label, len);
    }
    let mut none = [0u8; 0];
    assert!(p
        .client
        .export_keying_material(&mut none, b"x", b"")
        .is_err());
    // Nothing else changed: the connection carries data.
    let id = p.client.open(Dir::Bi).unwrap();
    let mut data = Bytes::from_static(b"after");
    assert_eq!(p.client.write(id, &mut data).unwrap(), 5);
    p.client.finish(id).unwrap();
    let mut got = Vec::new();
    assert!(p.run_until(Duration::from_secs(5), |p| {
        let s = p.server();
        s.accept(Dir::Bi);
        while let Ok(Some(b)) = s.read(id, 1024) {
            got.extend_from_slice(&b);
        }
        got == b"after"
    }));
    assert!(p.client.peer_certificates().is_some());
}

#[test]
fn a_client_without_tickets_keeps_its_tls_session() {
    let (client, server_crypto) = {
        let (server, cert) = crate::common::server_crypto(&[b"test"]);
        let client = crate::common::client_crypto(&cert, &[b"test"]);
        let mut server = server;
        server.send_tls13_tickets = 0;
        (client, server)
    };
    let c = actix_quic::protocol::ClientConfig::new(std::sync::Arc::new(client)).unwrap();
    let s = actix_quic::protocol::ServerConfig::with_crypto(std::sync::Arc::new(server_crypto))
        .unwrap();
    let mut p = Pair::new(c, s, "localhost", Link::default());
    assert!(p.handshake_and_settle());
    // It may still get one; the server's session is gone all the same.
    assert!(!p.client.tls_session_retired());
    assert!(p.server().tls_session_retired());
    exports_agree(&mut p, b"EXPERIMENTAL b", 48);
}
