//! Closing (RFC 9000 §10) on the sans-IO core: application and transport
//! close codes reach the peer verbatim, the closing side repeats its close
//! when it is lost, idle timeouts use the smaller of both limits, and
//! keep-alives hold an idle connection open.

use crate::util::*;
use actix_quic::protocol::Dir;
use actix_quic::protocol::TransportErrorCode;
use actix_quic::protocol::WriteFailure;
use actix_quic::protocol::{ConnectionError, Event};
use actix_quic::testing::{Direction, Link};
use actix_quic::VarInt;
use bytes::Bytes;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

#[test]
fn server_application_close_reaches_client_verbatim() {
    let mut p = pair(Link::default());
    assert!(p.handshake());
    let now = p.now;
    p.server().close(
        now,
        VarInt::from_u32(0x1234_5678),
        Bytes::from_static(b"going away"),
    );
    assert!(p.run_until(Duration::from_secs(2), |p| p.client.error().is_some()));
    match p.client.error().unwrap() {
        ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code, VarInt::from_u32(0x1234_5678));
            assert_eq!(&c.reason[..], b"going away");
        }
        e => panic!("unexpected {e:?}"),
    }
    assert_eq!(p.server().error(), Some(&ConnectionError::LocallyClosed));
    // The application hears of it once, as an event.
    let lost = p
        .client_events
        .iter()
        .filter(|e| matches!(e, Event::ConnectionLost(_)))
        .count();
    assert_eq!(lost, 1);
    // Everything refuses work, then both sides drain and go silent.
    assert_eq!(p.client.open(Dir::Bi), None);
    assert!(
        p.run_until(Duration::from_secs(10), |p| p.client.is_drained()
            && p.server().is_drained())
    );
    assert_eq!(p.client.poll_timeout(), None);
    assert_eq!(p.server().poll_timeout(), None);
    let mut buf = Vec::new();
    let now = p.now;
    assert!(p.client.poll_transmit(now, 1, &mut buf).is_none());
}

#[test]
fn transport_error_close_reaches_peer() {
    let mut p = pair(Link::default());
    assert!(p.handshake());
    let now = p.now;
    p.client
        .close_with_transport_error(now, TransportErrorCode::CONNECTION_REFUSED, "not today");
    assert!(p.run_until(Duration::from_secs(2), |p| p.server().error().is_some()));
    match p.server().error().unwrap() {
        ConnectionError::ConnectionClosed(c) => {
            assert_eq!(c.error_code, TransportErrorCode::CONNECTION_REFUSED);
            assert_eq!(&c.reason[..], b"not today");
        }
        e => panic!("unexpected {e:?}"),
    }
}

#[test]
fn close_with_data_in_flight_and_stream_ops_after_close() {
    let mut p = pair(Link::default());
    assert!(p.handshake());
    let id = p.client.open(Dir::Uni).unwrap();
    let mut d = Bytes::from(pattern(1, 0, 1 << 20));
    p.client.write(id, &mut d).unwrap();
    p.step();
    let now = p.now;
    p.client
        .close(now, VarInt::from_u32(3), Bytes::from_static(b"abort"));
    assert_eq!(
        p.client.write(id, &mut Bytes::from_static(b"x")),
        Err(WriteFailure::Closed)
    );
    assert_eq!(p.client.finish(id), Err(WriteFailure::Closed));
    assert!(p.client.send_datagram(Bytes::from_static(b"d")).is_err());
    assert!(p.run_until(Duration::from_secs(2), |p| p.server().error().is_some()));
    assert!(matches!(
        p.server().error(),
        Some(ConnectionError::ApplicationClosed(c)) if c.error_code == VarInt::from_u32(3)
    ));
    assert!(
        p.run_until(Duration::from_secs(10), |p| p.client.is_drained()
            && p.server().is_drained())
    );
}

#[test]
fn application_close_during_handshake_becomes_application_error() {
    // RFC 9000 §10.2.3: an application close cannot go in Initial or
    // Handshake packets; the peer sees APPLICATION_ERROR instead.
    let mut p = pair(Link::default());
    assert!(p.run_until(Duration::from_secs(2), |p| p.server.is_some()));
    let now = p.now;
    p.client.close(
        now,
        VarInt::from_u32(77),
        Bytes::from_static(b"secret reason"),
    );
    assert!(p.run_until(Duration::from_secs(5), |p| p.server().error().is_some()));
    match p.server().error().unwrap() {
        ConnectionError::ConnectionClosed(c) => {
            assert_eq!(c.error_code, TransportErrorCode::APPLICATION_ERROR);
            assert!(c.reason.is_empty(), "reason leaked: {:?}", c.reason);
        }
        ConnectionError::ApplicationClosed(c) => {
            // Only acceptable if it travelled in a 1-RTT packet.
            assert_eq!(c.error_code, VarInt::from_u32(77));
        }
        e => panic!("unexpected {e:?}"),
    }
}

#[test]
fn long_reason_is_truncated_to_one_packet() {
    let mut p = pair(Link::default());
    assert!(p.handshake());
    let now = p.now;
    p.client
        .close(now, VarInt::from_u32(1), Bytes::from(vec![b'r'; 5000]));
    assert!(p.run_until(Duration::from_secs(2), |p| p.server().error().is_some()));
    match p.server().error().unwrap() {
        ConnectionError::ApplicationClosed(c) => {
            assert!(!c.reason.is_empty() && c.reason.len() < 1200);
            assert!(c.reason.iter().all(|&b| b == b'r'));
        }
        e => panic!("unexpected {e:?}"),
    }
}

#[test]
fn lost_close_is_repeated_when_peer_keeps_sending() {
    // RFC 9000 §10.2.1: the closing side answers further packets with its
    // CONNECTION_CLOSE again.
    let mut p = pair(Link::default());
    assert!(p.handshake_and_settle());
    let drop_next = Rc::new(Cell::new(false));
    let d = drop_next.clone();
    p.link.drop = Some(Box::new(move |dir, _| {
        if dir == Direction::ToServer && d.get() {
            d.set(false);
            return true;
        }
        false
    }));
    // The server keeps sending.
    let sid = p.server().open(Dir::Uni).unwrap();
    let mut data = Bytes::from(pattern(2, 0, 200_000));
    p.server().write(sid, &mut data).unwrap();
    p.step();
    drop_next.set(true);
    let now = p.now;
    p.client
        .close(now, VarInt::from_u32(9), Bytes::from_static(b"again"));
    assert!(p.run_until(Duration::from_secs(3), |p| p.server().error().is_some()));
    assert!(!drop_next.get(), "first close was dropped");
    assert!(matches!(
        p.server().error(),
        Some(ConnectionError::ApplicationClosed(c)) if c.error_code == VarInt::from_u32(9) && &c.reason[..] == b"again"
    ));
}
