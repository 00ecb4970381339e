//! Cancelling a parked operation (dropping its future, as `select!` and
//! `timeout` do) must lose nothing: no stream data, no accepted stream,
//! no stream ID, no datagram, and a cancelled write must send nothing.
//! Over real UDP on 127.0.0.1.
//!
//! Each test parks an operation deterministically: it polls the future
//! once (which sends the message), then waits for the answer to a later
//! `Stats` message (the mailbox is FIFO, so the first message was handled
//! and parked by then), then drops the future.

use crate::common::{connect, connected, connected_with_stream_window, endpoints_with, within};
use actix_quic::messages::{Stats, WaitIdle};
use actix_quic::VarInt;
use actix_quic::{Connection, TransportConfig};
use bytes::Bytes;
use futures::poll;
use std::future::Future;
use std::pin::Pin;

/// Polls `fut` until its message is parked in `conn`'s actor, then drops
/// it.
async fn park_then_cancel<F: Future>(conn: &Connection, fut: F) {
    let mut fut: Pin<Box<F>> = Box::pin(fut);
    assert!(poll!(&mut fut).is_pending(), "completed at once");
    conn.addr().send(Stats).await.unwrap();
    assert!(poll!(&mut fut).is_pending(), "completed before cancel");
}

#[actix::test]
async fn cancelled_read_loses_no_data() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected().await;
    let (mut ssend, _srecv) = sconn.open_bi().await.unwrap();
    ssend.write_all(b"a").await.unwrap();
    let (_csend, mut crecv) = within(5, conn.accept_bi()).await.unwrap();
    let mut one = [0u8; 1];
    within(5, crecv.read_exact(&mut one)).await.unwrap();

    let mut buf = [0u8; 64];
    park_then_cancel(&conn, crecv.read(&mut buf)).await;
    park_then_cancel(&conn, crecv.read_chunk(3)).await;
    park_then_cancel(&conn, tokio::io::AsyncReadExt::read(&mut crecv, &mut buf)).await;

    ssend.write_all(b"bcdef").await.unwrap();
    ssend.finish().unwrap();
    assert_eq!(within(5, crecv.read_to_end(64)).await.unwrap(), b"bcdef");
}

#[actix::test]
async fn cancelled_endpoint_accept_loses_no_connection() {
    // An `Endpoint::accept` dropped by `select!` or a timeout must not
    // take the next incoming connection with it.
    crate::common::trace();
    let (server, client, addr) = crate::common::endpoints();
    for _ in 0..2 {
        let mut accept = Box::pin(server.accept());
        assert!(poll!(&mut accept).is_pending(), "nothing to accept yet");
        // The endpoint's mailbox is FIFO: once `WaitIdle` (no connection
        // yet, so at once) is answered, the `Accept` is parked.
        server.addr().send(WaitIdle).await.unwrap();
        drop(accept);
    }
    let (c, s) = connect(&server, &client, addr).await;
    assert_eq!(s.remote_address(), client.local_addr().unwrap());
    c.close(VarInt::from_u32(0), b"");
}

#[actix::test]
async fn cancelled_accept_loses_no_stream() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected().await;
    park_then_cancel(&conn, conn.accept_bi()).await;
    park_then_cancel(&conn, conn.accept_uni()).await;

    let (mut send, _recv) = sconn.open_bi().await.unwrap();
    send.write_all(b"bi").await.unwrap();
    send.finish().unwrap();
    let mut usend = sconn.open_uni().await.unwrap();
    usend.write_all(b"uni").await.unwrap();
    usend.finish().unwrap();

    let (_s, mut r) = within(5, conn.accept_bi()).await.unwrap();
    assert_eq!(within(5, r.read_to_end(16)).await.unwrap(), b"bi");
    let mut r = within(5, conn.accept_uni()).await.unwrap();
    assert_eq!(within(5, r.read_to_end(16)).await.unwrap(), b"uni");
}

#[actix::test]
async fn cancelled_open_takes_no_stream_id() {
    crate::common::trace();
    let no_bidi = {
        let mut config = TransportConfig::default();
        config.max_concurrent_bidi_streams(VarInt::from_u64(0).unwrap());
        config
    };
    let (server, client, addr) = endpoints_with(TransportConfig::default(), no_bidi);
    let (conn, sconn) = connect(&server, &client, addr).await;
    park_then_cancel(&conn, conn.open_bi()).await;

    // One stream allowed: it must go to the open_bi that is still waiting.
    sconn.set_max_concurrent_bi_streams(VarInt::from_u32(1));
    let (mut send, _recv) = within(5, conn.open_bi()).await.unwrap();
    assert_eq!(
        u64::from(send.id()),
        0,
        "the first bidi stream ID was skipped"
    );
    send.write_all(b"first").await.unwrap();
    send.finish().unwrap();
    let (_s, mut r) = within(5, sconn.accept_bi()).await.unwrap();
    assert_eq!(u64::from(r.id()), 0);
    assert_eq!(within(5, r.read_to_end(16)).await.unwrap(), b"first");
}

#[actix::test]
async fn cancelled_write_sends_nothing() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected_with_stream_window(4 * 1024).await;
    let mut send = conn.open_uni().await.unwrap();
    let head = vec![b'h'; 16 * 1024];
    // The stream's outbox takes the write at once; once the actor found
    // the stream blocked by flow control (the mailbox is FIFO), the next
    // write waits, and is then cancelled.
    let taken = within(5, send.write(&head)).await.unwrap();
    assert!(taken > 0);
    conn.addr().send(Stats).await.unwrap();
    park_then_cancel(&conn, send.write(b"CANCELLED")).await;

    let writer = actix::spawn(async move {
        send.write_all(b"tail").await.unwrap();
        send.finish().unwrap();
        send
    });
    let mut recv = within(5, sconn.accept_uni()).await.unwrap();
    let got = within(5, recv.read_to_end(64 * 1024)).await.unwrap();
    let _send = within(5, writer).await.unwrap();
    let mut expected = head[..taken].to_vec();
    expected.extend_from_slice(b"tail");
    assert_eq!(
        String::from_utf8_lossy(&got[taken..]),
        "tail",
        "a cancelled write reached the peer"
    );
    assert!(got == expected);
}

#[actix::test]
async fn cancelled_read_datagram_loses_no_datagram() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected().await;
    park_then_cancel(&conn, conn.read_datagram()).await;
    sconn.send_datagram(Bytes::from_static(b"d1")).unwrap();
    assert_eq!(&within(5, conn.read_datagram()).await.unwrap()[..], b"d1");
}
