//! Actor-level tests of how connections end, over real UDP on 127.0.0.1:
//! explicit close, dropping every handle, idle timeout, and what happens
//! to operations pending at close.

use crate::common::{connect, connected, endpoints_with, within};
use actix_quic::messages::Stats;
use actix_quic::VarInt;
use actix_quic::{
    ApplicationClose, ConnectionError, ReadError, StoppedError, TransportConfig, WriteError,
};
use bytes::Bytes;
use futures::poll;

fn app_closed(code: VarInt, reason: &[u8]) -> ConnectionError {
    ConnectionError::ApplicationClosed(ApplicationClose {
        error_code: code,
        reason: Bytes::copy_from_slice(reason),
    })
}

/// `close(code, reason)` reaches the peer verbatim, in both directions;
/// the closing side sees `LocallyClosed`.
#[actix::test]
async fn close_code_and_reason_reach_the_peer_verbatim() {
    crate::common::trace();
    // Largest varint code, and a reason that is not UTF-8.
    let code = VarInt::MAX;
    let reason: &[u8] = b"\xff\x00bye \xc3\x28 from the client";
    let (_server, _client, conn, sconn) = connected().await;
    conn.close(code, reason);
    assert_eq!(within(5, sconn.closed()).await, app_closed(code, reason));
    assert_eq!(sconn.close_reason(), Some(app_closed(code, reason)));
    assert_eq!(
        within(5, conn.closed()).await,
        ConnectionError::LocallyClosed
    );

    let (_server, _client, conn, sconn) = connected().await;
    sconn.close(VarInt::from_u32(0), b"");
    assert_eq!(
        within(5, conn.closed()).await,
        app_closed(VarInt::from_u32(0), b"")
    );
    let (_server, _client, conn, sconn) = connected().await;
    sconn.close(VarInt::from_u32(0x1d), b"server says bye");
    assert_eq!(
        within(5, conn.closed()).await,
        app_closed(VarInt::from_u32(0x1d), b"server says bye")
    );
    assert_eq!(
        within(5, sconn.closed()).await,
        ConnectionError::LocallyClosed
    );
}

/// A reason too long for one packet is truncated, not dropped: the peer
/// sees the code and a prefix of the reason.
#[actix::test]
async fn overlong_close_reason_is_truncated_to_fit_one_packet() {
    crate::common::trace();
    let reason: Vec<u8> = (0..4000).map(|i| b'a' + (i % 26) as u8).collect();
    let (_server, _client, conn, sconn) = connected().await;
    conn.close(VarInt::from_u32(99), &reason);
    match within(5, sconn.closed()).await {
        ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code, VarInt::from_u32(99));
            assert!(!c.reason.is_empty(), "reason dropped entirely");
            assert!(c.reason.len() < 1200, "reason of {} bytes", c.reason.len());
            assert_eq!(&c.reason[..], &reason[..c.reason.len()], "not a prefix");
        }
        e => panic!("peer saw {e:?}"),
    }
}

/// Streams keep a connection open after every `Connection` clone is
/// dropped; dropping the streams too closes it with code 0 and an empty
/// reason, which the peer sees.
#[actix::test]
async fn dropping_every_client_handle_closes_with_code_zero() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected().await;
    let (mut send, recv) = conn.open_bi().await.unwrap();
    send.write_all(b"ping").await.unwrap();
    let clone = conn.clone();
    drop(conn);
    drop(clone);

    // The streams still hold the connection.
    send.write_all(b" still alive").await.unwrap();
    send.finish().unwrap();
    let (_ssend, mut srecv) = within(5, sconn.accept_bi()).await.unwrap();
    assert_eq!(
        within(5, srecv.read_to_end(64)).await.unwrap(),
        b"ping still alive"
    );
    assert_eq!(sconn.close_reason(), None, "closed while streams lived");

    drop(send);
    drop(recv);
    assert_eq!(
        within(5, sconn.closed()).await,
        app_closed(VarInt::from_u32(0), b"")
    );
}

/// The same on the accepting side: the server drops its connection and
/// the streams it accepted; the client sees code 0 and an empty reason.
#[actix::test]
async fn dropping_every_server_handle_closes_with_code_zero() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected().await;
    let mut send = conn.open_uni().await.unwrap();
    send.write_all(b"x").await.unwrap();
    let mut srecv = within(5, sconn.accept_uni()).await.unwrap();
    let mut one = [0u8; 1];
    within(5, srecv.read_exact(&mut one)).await.unwrap();
    drop(sconn);
    // The accepted stream still holds the connection.
    send.write_all(b"yz").await.unwrap();
    send.finish().unwrap();
    assert_eq!(within(5, srecv.read_to_end(16)).await.unwrap(), b"yz");
    assert_eq!(conn.close_reason(), None, "closed while a stream lived");
    drop(srecv);
    assert_eq!(
        within(5, conn.closed()).await,
        app_closed(VarInt::from_u32(0), b"")
    );
}

/// Operations parked when `close` is called all fail with
/// `LocallyClosed`: accept_bi, read on a stream with no data, open_bi
/// blocked by the peer's stream limit of 0, write blocked by flow
/// control, read_datagram, stopped and closed.
#[actix::test]
async fn operations_pending_at_close_fail_with_locally_closed() {
    crate::common::trace();
    let server_transport = {
        let mut config = TransportConfig::default();
        config
            .max_concurrent_bidi_streams(VarInt::from_u64(0).unwrap())
            .stream_receive_window(VarInt::from_u64(4 * 1024).unwrap());
        config
    };
    let (server, client, addr) = endpoints_with(TransportConfig::default(), server_transport);
    let (conn, sconn) = connect(&server, &client, addr).await;

    // A stream from the server with one byte on it and nothing more.
    let (mut ssend, _srecv) = sconn.open_bi().await.unwrap();
    ssend.write_all(b"x").await.unwrap();
    let (cs, mut cr) = within(5, conn.accept_bi()).await.unwrap();
    let mut one = [0u8; 1];
    within(5, cr.read_exact(&mut one)).await.unwrap();
    // A uni stream whose 4 KiB window is used up, found so by the actor.
    let mut blocked = conn.open_uni().await.unwrap();
    let big = vec![7u8; 16 * 1024];
    let taken = within(5, blocked.write(&big)).await.unwrap();
    assert!(taken > 4 * 1024, "the outbox took {taken} bytes");
    conn.addr().send(Stats).await.unwrap();

    let mut accept = Box::pin(conn.accept_bi());
    let mut open = Box::pin(conn.open_bi());
    let mut buf = [0u8; 16];
    let mut read = Box::pin(cr.read(&mut buf));
    let mut write = Box::pin(blocked.write(&big));
    let mut dgram = Box::pin(conn.read_datagram());
    let mut stopped = Box::pin(cs.stopped());
    let mut closed = Box::pin(conn.closed());
    // First polls send every message to the actor.
    assert!(poll!(&mut accept).is_pending());
    assert!(poll!(&mut open).is_pending());
    assert!(poll!(&mut read).is_pending());
    assert!(poll!(&mut write).is_pending());
    assert!(poll!(&mut dgram).is_pending());
    assert!(poll!(&mut stopped).is_pending());
    assert!(poll!(&mut closed).is_pending());
    // The mailbox is FIFO: once this is answered, all of the above were
    // handled and parked.
    conn.addr().send(Stats).await.unwrap();
    assert!(poll!(&mut accept).is_pending(), "accept_bi completed");
    assert!(poll!(&mut open).is_pending(), "open_bi passed a limit of 0");
    assert!(poll!(&mut read).is_pending(), "read completed");
    assert!(poll!(&mut write).is_pending(), "write passed flow control");
    assert!(poll!(&mut dgram).is_pending(), "read_datagram completed");
    assert!(poll!(&mut stopped).is_pending(), "stopped completed");
    assert!(poll!(&mut closed).is_pending(), "closed completed");

    conn.close(VarInt::from_u32(3), b"closing with work pending");
    let lc = ConnectionError::LocallyClosed;
    assert_eq!(within(5, accept).await.unwrap_err(), lc);
    assert_eq!(within(5, open).await.unwrap_err(), lc);
    assert_eq!(
        within(5, read).await,
        Err(ReadError::ConnectionLost(lc.clone()))
    );
    assert_eq!(
        within(5, write).await,
        Err(WriteError::ConnectionLost(lc.clone()))
    );
    assert_eq!(within(5, dgram).await, Err(lc.clone()));
    assert_eq!(
        within(5, stopped).await,
        Err(StoppedError::ConnectionLost(lc.clone()))
    );
    assert_eq!(within(5, closed).await, lc);

    // New operations fail at once too.
    assert_eq!(within(5, conn.open_uni()).await.unwrap_err(), lc);
    assert_eq!(within(5, conn.accept_uni()).await.unwrap_err(), lc);
    // And the peer got the code and reason.
    assert_eq!(
        within(5, sconn.closed()).await,
        app_closed(VarInt::from_u32(3), b"closing with work pending")
    );
}
