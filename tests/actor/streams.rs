//! Actor-level stream tests over real UDP on 127.0.0.1: echo, many
//! concurrent streams, a large transfer, uni streams both ways, flow
//! control, raw messages, stop/stopped and reset.

use crate::common::{connect, connected, endpoints, endpoints_with, pattern, within};
use actix_quic::messages::{Finish, OpenBi, OpenUni, Read, Write};
use actix_quic::VarInt;
use actix_quic::{ConnectionError, ReadError, TransportConfig, WriteError};
use bytes::{Buf, Bytes};
use futures::channel::oneshot;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[actix::test]
async fn echo_on_one_bidi_stream() {
    crate::common::trace();
    let (server, client, addr) = endpoints();
    let srv = actix::spawn(async move {
        let conn = server.accept().await.unwrap().await.unwrap();
        let (mut send, mut recv) = conn.accept_bi().await.unwrap();
        let data = recv.read_to_end(1 << 20).await.unwrap();
        send.write_all(&data).await.unwrap();
        send.finish().unwrap();
        conn.closed().await
    });
    let conn = within(10, client.connect(addr, "localhost").unwrap())
        .await
        .unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(b"hello actix-quic").await.unwrap();
    send.finish().unwrap();
    let echoed = within(10, recv.read_to_end(1 << 20)).await.unwrap();
    assert_eq!(echoed, b"hello actix-quic");
    conn.close(VarInt::from_u32(7), b"done");
    let reason = within(10, srv).await.unwrap();
    match reason {
        ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code, VarInt::from_u32(7));
            assert_eq!(&c.reason[..], b"done");
        }
        e => panic!("unexpected {e:?}"),
    }
}

/// 200 bidirectional streams of 10 KiB at once, each echoed and compared.
/// 200 is twice the default stream limit, so half the `open_bi` calls
/// also have to wait for MAX_STREAMS.
#[actix::test]
async fn two_hundred_concurrent_bidi_streams_echoed() {
    crate::common::trace();
    const STREAMS: usize = 200;
    const LEN: usize = 10 * 1024;
    let (_server, _client, conn, sconn) = connected().await;

    let srv = actix::spawn(async move {
        let mut echoes = Vec::with_capacity(STREAMS);
        for _ in 0..STREAMS {
            let (mut send, mut recv) = sconn.accept_bi().await.unwrap();
            echoes.push(actix::spawn(async move {
                let data = recv.read_to_end(LEN + 1).await.unwrap();
                send.write_all(&data).await.unwrap();
                send.finish().unwrap();
                data.len()
            }));
        }
        let mut total = 0;
        for e in echoes {
            total += e.await.unwrap();
        }
        (sconn, total)
    });

    let clients: Vec<_> = (0..STREAMS)
        .map(|i| {
            let conn = conn.clone();
            actix::spawn(async move {
                let (mut send, mut recv) = conn.open_bi().await.unwrap();
                let data = pattern(i, LEN);
                send.write_all(&data).await.unwrap();
                send.finish().unwrap();
                let echoed = recv.read_to_end(LEN + 1).await.unwrap();
                assert_eq!(echoed.len(), LEN, "stream {i}: length");
                assert!(echoed == data, "stream {i}: echoed data differs");
                send.id()
            })
        })
        .collect();
    let mut ids = Vec::with_capacity(STREAMS);
    for c in within(20, futures::future::join_all(clients)).await {
        ids.push(c.unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), STREAMS, "stream IDs are not distinct");
    assert!(
        ids.iter().all(|id| u64::from(*id) % 4 == 0),
        "client bidi IDs: {ids:?}"
    );

    let (_sconn, total) = within(10, srv).await.unwrap();
    assert_eq!(total, STREAMS * LEN);
}

/// A deterministic pseudo-random byte stream (xorshift64).
struct Noise(u64);

impl Noise {
    fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            c.copy_from_slice(&self.0.to_le_bytes()[..c.len()]);
        }
    }
}

/// 64 MiB of pseudo-random data on one stream, checked by SHA-256.
#[actix::test]
async fn sixty_four_mib_on_one_stream_verified_by_hash() {
    crate::common::trace();
    const TOTAL: usize = 64 * 1024 * 1024;
    const CHUNK: usize = 1024 * 1024;
    let (_server, _client, conn, sconn) = connected().await;

    let srv = actix::spawn(async move {
        let mut recv = sconn.accept_uni().await.unwrap();
        let mut hash = Sha256::new();
        let mut len = 0usize;
        while let Some(chunk) = recv.read_chunk(usize::MAX).await.unwrap() {
            len += chunk.len();
            hash.update(&chunk);
        }
        (sconn, len, hash.finalize())
    });

    let mut send = conn.open_uni().await.unwrap();
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut hash = Sha256::new();
    let write = async {
        for _ in 0..TOTAL / CHUNK {
            let mut chunk = vec![0u8; CHUNK];
            noise.fill(&mut chunk);
            hash.update(&chunk);
            send.write_chunk(Bytes::from(chunk)).await.unwrap();
        }
        send.finish().unwrap();
    };
    within(60, write).await;
    let (_sconn, len, digest) = within(60, srv).await.unwrap();
    assert_eq!(len, TOTAL);
    assert_eq!(digest, hash.finalize(), "SHA-256 of received data differs");
}

/// Unidirectional streams client -> server and server -> client at the
/// same time, accepted in the order they were opened.
#[actix::test]
async fn uni_streams_both_ways() {
    crate::common::trace();
    const EACH: usize = 5;
    let (_server, _client, conn, sconn) = connected().await;

    let srv = actix::spawn(async move {
        let mut got = Vec::new();
        for _ in 0..EACH {
            let mut recv = sconn.accept_uni().await.unwrap();
            got.push((recv.id(), recv.read_to_end(1 << 16).await.unwrap()));
        }
        for i in 0..EACH {
            let mut send = sconn.open_uni().await.unwrap();
            assert_eq!(u64::from(send.id()) % 4, 3, "server uni stream ID");
            send.write_all(format!("s2c {i}").as_bytes()).await.unwrap();
            send.finish().unwrap();
        }
        (sconn, got)
    });

    let mut sent_ids = Vec::new();
    for i in 0..EACH {
        let mut send = conn.open_uni().await.unwrap();
        assert_eq!(u64::from(send.id()) % 4, 2, "client uni stream ID");
        sent_ids.push(send.id());
        send.write_all(format!("c2s {i}").as_bytes()).await.unwrap();
        send.finish().unwrap();
    }
    for i in 0..EACH {
        let mut recv = within(10, conn.accept_uni()).await.unwrap();
        let data = within(10, recv.read_to_end(1 << 16)).await.unwrap();
        assert_eq!(data, format!("s2c {i}").into_bytes());
    }
    let (_sconn, got) = within(10, srv).await.unwrap();
    for (i, (id, data)) in got.into_iter().enumerate() {
        assert_eq!(id, sent_ids[i], "accepted out of order");
        assert_eq!(data, format!("c2s {i}").into_bytes());
    }
}

/// Opening a stream is local: the peer only learns of it when data is
/// sent on it.
#[actix::test]
async fn peer_learns_of_a_stream_only_when_it_is_used() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected().await;
    let mut send = conn.open_uni().await.unwrap();
    let mut accept = Box::pin(sconn.accept_uni());
    // Absence of progress: a short bounded wait that must expire.
    let early = tokio::time::timeout(Duration::from_millis(200), &mut accept).await;
    assert!(early.is_err(), "peer accepted a stream nobody wrote to");
    send.write_all(b"now").await.unwrap();
    send.finish().unwrap();
    let mut recv = within(5, accept).await.unwrap();
    assert_eq!(recv.id(), send.id());
    assert_eq!(within(5, recv.read_to_end(16)).await.unwrap(), b"now");
}

/// What a stream's outbox holds: how far a writer may be ahead of flow
/// control.
const OUTBOX: usize = 256 * 1024;

fn small_windows() -> TransportConfig {
    {
        let mut config = TransportConfig::default();
        config
            .stream_receive_window(VarInt::from_u64(64 * 1024).unwrap())
            .receive_window(VarInt::from_u64(128 * 1024).unwrap());
        config
    }
}

/// A writer blocked by the reader's stream window stays blocked while
/// nothing is read, and completes once the reader reads.
#[actix::test]
async fn writer_blocked_by_flow_control_resumes_when_reader_reads() {
    crate::common::trace();
    const LEN: usize = 1024 * 1024;
    const PIECE: usize = 16 * 1024;
    let (server, client, addr) = endpoints_with(small_windows(), small_windows());
    let (conn, sconn) = connect(&server, &client, addr).await;

    let (accepted_tx, accepted_rx) = oneshot::channel::<()>();
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let reader = actix::spawn(async move {
        let mut recv = sconn.accept_uni().await.unwrap();
        accepted_tx.send(()).unwrap();
        go_rx.await.unwrap();
        let data = recv.read_to_end(LEN + 1).await.unwrap();
        (sconn, data)
    });

    let data = pattern(1, LEN);
    let progress = Arc::new(AtomicUsize::new(0));
    let mut writer = {
        let data = data.clone();
        let progress = progress.clone();
        let mut send = conn.open_uni().await.unwrap();
        actix::spawn(async move {
            for piece in data.chunks(PIECE) {
                send.write_all(piece).await.unwrap();
                progress.fetch_add(piece.len(), Ordering::SeqCst);
            }
            send.finish().unwrap();
            send
        })
    };

    // Data reached the reader, which now holds it without reading.
    within(5, accepted_rx).await.unwrap();
    // Absence of progress: a short bounded wait that must expire.
    let stalled = tokio::time::timeout(Duration::from_millis(300), &mut writer).await;
    assert!(
        stalled.is_err(),
        "write_all of 1 MiB completed against a 64 KiB window nobody read"
    );
    // The window, plus at most what the stream's outbox holds.
    let written = progress.load(Ordering::SeqCst);
    assert!(
        (PIECE..=64 * 1024 + OUTBOX).contains(&written),
        "writer got {written} bytes past a 64 KiB stream window"
    );

    go_tx.send(()).unwrap();
    let (_sconn, received) = within(10, reader).await.unwrap();
    assert_eq!(received.len(), LEN);
    assert!(received == data, "data differs");
    let _send = within(10, writer).await.unwrap();
    assert_eq!(progress.load(Ordering::SeqCst), LEN);
}

/// quinn's meanings: `write_chunk` writes the whole chunk however small
/// the window (waiting for the reader), and `write_chunks` takes what the
/// window allows now, leaving the rest in the caller's chunks.
#[actix::test]
async fn write_chunk_writes_it_all_and_write_chunks_what_fits() {
    crate::common::trace();
    const WINDOW: usize = 64 * 1024;
    let (server, client, addr) = endpoints_with(small_windows(), small_windows());
    let (conn, sconn) = connect(&server, &client, addr).await;
    let reader = actix::spawn(async move {
        let mut recv = sconn.accept_uni().await.unwrap();
        let data = recv.read_to_end(1 << 20).await.unwrap();
        (sconn, data)
    });
    let big = Bytes::from(pattern(3, 4 * WINDOW));
    let mut send = conn.open_uni().await.unwrap();
    within(10, send.write_chunk(big.clone())).await.unwrap();
    send.finish().unwrap();
    let (_sconn, got) = within(10, reader).await.unwrap();
    assert!(got == big, "write_chunk delivered {} bytes", got.len());

    // Nobody reads this stream: write_chunks take the window and at most
    // one outbox more, then wait.
    let mut send = conn.open_uni().await.unwrap();
    let mut chunks = vec![
        Bytes::from(pattern(4, OUTBOX / 2)),
        Bytes::from(pattern(5, OUTBOX)),
        Bytes::from(pattern(6, OUTBOX)),
        Bytes::from(pattern(7, 100)),
    ];
    let total: usize = chunks.iter().map(Bytes::len).sum();
    let written = within(10, send.write_chunks(&mut chunks)).await.unwrap();
    assert_eq!(written.chunks, 1, "{written:?}");
    assert!(chunks[0].is_empty());
    assert_eq!(chunks[1].len(), OUTBOX - (written.bytes - OUTBOX / 2));
    let mut taken = written.bytes;
    loop {
        let before: Vec<usize> = chunks.iter().map(Bytes::len).collect();
        match tokio::time::timeout(Duration::from_millis(200), send.write_chunks(&mut chunks)).await
        {
            Ok(w) => taken += w.unwrap().bytes,
            Err(_) => {
                let after: Vec<usize> = chunks.iter().map(Bytes::len).collect();
                assert_eq!(before, after, "a cancelled write_chunks takes nothing");
                break;
            }
        }
    }
    assert!(
        (WINDOW..=WINDOW + OUTBOX).contains(&taken) && taken < total,
        "took {taken} bytes past a full window"
    );
}

/// The connection-level window (MAX_DATA) limits writers across streams.
#[actix::test]
async fn connection_window_limits_writers_across_streams() {
    crate::common::trace();
    const STREAMS: usize = 3;
    const LEN: usize = 512 * 1024;
    const PIECE: usize = 8 * 1024;
    let (server, client, addr) = endpoints_with(small_windows(), small_windows());
    let (conn, sconn) = connect(&server, &client, addr).await;

    let progress = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for i in 0..STREAMS {
        let mut send = conn.open_uni().await.unwrap();
        let progress = progress.clone();
        writers.push(actix::spawn(async move {
            for piece in pattern(i, LEN).chunks(PIECE) {
                send.write_all(piece).await.unwrap();
                progress.fetch_add(piece.len(), Ordering::SeqCst);
            }
            send.finish().unwrap();
            send
        }));
    }
    let mut all = futures::future::join_all(writers);
    // Absence of progress: 3 x 512 KiB cannot fit a 128 KiB window and
    // three outboxes.
    let stalled = tokio::time::timeout(Duration::from_millis(300), &mut all).await;
    assert!(stalled.is_err(), "1.5 MiB written into a 128 KiB window");
    let written = progress.load(Ordering::SeqCst);
    assert!(
        written <= 128 * 1024 + STREAMS * OUTBOX,
        "writers got {written} bytes past a 128 KiB connection window"
    );

    // Read each stream as it comes: the window is shared, so a stream
    // read alone (or one not yet begun) can wait on credit others hold.
    let reader = actix::spawn(async move {
        let mut readers = Vec::new();
        for _ in 0..STREAMS {
            let mut recv = sconn.accept_uni().await.unwrap();
            let i = recv.id().index() as usize;
            readers.push(actix::spawn(async move {
                (i, recv.read_to_end(LEN + 1).await.unwrap())
            }));
        }
        futures::future::join_all(readers).await
    });
    let got: Vec<_> = within(10, reader)
        .await
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for w in within(10, all).await {
        w.unwrap();
    }
    for (i, data) in got {
        assert!(data == pattern(i, LEN), "stream {i} differs");
    }
}

/// Raw messages sent to the connection actor's address work like the
/// handle methods, and interoperate with handles on the other side.
#[actix::test]
async fn raw_messages_to_the_connection_actor() {
    crate::common::trace();
    const LEN: usize = 200 * 1024;
    let (_server, _client, conn, sconn) = connected().await;

    let srv = actix::spawn(async move {
        let mut recv = sconn.accept_uni().await.unwrap();
        let uni = recv.read_to_end(LEN + 1).await.unwrap();
        let (mut send, mut recv) = sconn.accept_bi().await.unwrap();
        let bi = recv.read_to_end(1024).await.unwrap();
        send.write_all(&bi).await.unwrap();
        send.finish().unwrap();
        (sconn, uni)
    });

    let addr = conn.addr().clone();
    let id = addr.send(OpenUni).await.unwrap().unwrap();
    assert_eq!(u64::from(id) % 4, 2, "client uni stream ID");
    let data = pattern(3, LEN);
    let mut rest = Bytes::from(data.clone());
    while !rest.is_empty() {
        let n = within(
            5,
            addr.send(Write {
                stream: id,
                data: rest.clone(),
            }),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(n > 0);
        rest.advance(n);
    }
    addr.send(Finish { stream: id }).await.unwrap().unwrap();

    let bid = addr.send(OpenBi).await.unwrap().unwrap();
    assert_eq!(u64::from(bid) % 4, 0, "client bidi stream ID");
    let n = addr
        .send(Write {
            stream: bid,
            data: Bytes::from_static(b"raw ping"),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 8);
    addr.send(Finish { stream: bid }).await.unwrap().unwrap();
    let mut echoed = Vec::new();
    while let Some(chunk) = within(
        5,
        addr.send(Read {
            stream: bid,
            max: 3,
        }),
    )
    .await
    .unwrap()
    .unwrap()
    {
        assert!(chunk.len() <= 3, "Read returned more than max");
        echoed.extend_from_slice(&chunk);
    }
    assert_eq!(echoed, b"raw ping");

    let (_sconn, uni) = within(10, srv).await.unwrap();
    assert_eq!(uni.len(), LEN);
    assert!(uni == data, "data written by raw messages differs");
    // Finishing twice is refused.
    assert!(addr.send(Finish { stream: id }).await.unwrap().is_err());
}

/// The peer's STOP_SENDING code reaches `stopped()`, and later writes fail
/// with it.
#[actix::test]
async fn stopped_reports_the_peers_stop_code() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected().await;
    let srv = actix::spawn(async move {
        let mut recv = sconn.accept_uni().await.unwrap();
        let mut buf = [0u8; 5];
        recv.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        recv.stop(VarInt::from_u32(42)).unwrap();
        sconn
    });
    let mut send = conn.open_uni().await.unwrap();
    send.write_all(b"hello").await.unwrap();
    assert_eq!(
        within(5, send.stopped()).await,
        Ok(Some(VarInt::from_u32(42)))
    );
    let _sconn = within(5, srv).await.unwrap();
    assert_eq!(
        within(5, send.write_all(b"more")).await,
        Err(WriteError::Stopped(VarInt::from_u32(42)))
    );
}

/// A finished stream whose data the peer received in full: `stopped()`
/// is `None`.
#[actix::test]
async fn stopped_is_none_after_finish_and_full_read() {
    crate::common::trace();
    const LEN: usize = 100 * 1024;
    let (_server, _client, conn, sconn) = connected().await;
    let srv = actix::spawn(async move {
        let mut recv = sconn.accept_uni().await.unwrap();
        let data = recv.read_to_end(LEN + 1).await.unwrap();
        (sconn, data)
    });
    let mut send = conn.open_uni().await.unwrap();
    let data = pattern(5, LEN);
    send.write_all(&data).await.unwrap();
    send.finish().unwrap();
    let (_sconn, got) = within(10, srv).await.unwrap();
    assert!(got == data);
    assert_eq!(within(5, send.stopped()).await, Ok(None));
}

/// `reset(code)` reaches the peer's reader as `ReadError::Reset(code)`,
/// in both directions.
#[actix::test]
async fn reset_is_seen_by_the_peers_reader() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected().await;

    async fn read_until_error(recv: &mut actix_quic::RecvStream) -> ReadError {
        loop {
            match recv.read_chunk(usize::MAX).await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("stream finished instead of being reset"),
                Err(e) => return e,
            }
        }
    }

    let srv = actix::spawn(async move {
        let mut recv = sconn.accept_uni().await.unwrap();
        let e = read_until_error(&mut recv).await;
        // Server -> client on a bidi stream the server opens.
        let (mut send, _recv) = sconn.open_bi().await.unwrap();
        send.write_all(b"doomed").await.unwrap();
        send.reset(VarInt::from_u32(0x1234)).unwrap();
        (sconn, e, send)
    });

    let mut send = conn.open_uni().await.unwrap();
    send.write_all(b"partial data").await.unwrap();
    send.reset(VarInt::from_u32(77)).unwrap();
    assert!(
        send.reset(VarInt::from_u32(78)).is_err(),
        "second reset accepted"
    );
    let (_sconn, e, _ssend) = within(10, srv).await.unwrap();
    assert_eq!(e, ReadError::Reset(VarInt::from_u32(77)));

    let (_send, mut recv) = within(5, conn.accept_bi()).await.unwrap();
    assert_eq!(
        within(5, read_until_error(&mut recv)).await,
        ReadError::Reset(VarInt::from_u32(0x1234))
    );
}

/// `stopped()` still reports the peer's code when asked late: after the
/// STOP_SENDING arrived and the RESET_STREAM we answered with was
/// acknowledged.
#[actix::test]
async fn stopped_reports_the_code_when_asked_late() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected().await;
    let srv = actix::spawn(async move {
        let mut recv = sconn.accept_uni().await.unwrap();
        let mut buf = [0u8; 5];
        recv.read_exact(&mut buf).await.unwrap();
        recv.stop(VarInt::from_u32(42)).unwrap();
        // Queued after STOP_SENDING, so it arrives after it.
        let mut note = sconn.open_uni().await.unwrap();
        note.write_all(b"stopped").await.unwrap();
        note.finish().unwrap();
        // Echo one stream: its answer acknowledges what came before.
        let (mut send, mut recv) = sconn.accept_bi().await.unwrap();
        let data = recv.read_to_end(64).await.unwrap();
        send.write_all(&data).await.unwrap();
        send.finish().unwrap();
        (sconn, send)
    });
    let mut send = conn.open_uni().await.unwrap();
    send.write_all(b"hello").await.unwrap();
    let mut note = within(5, conn.accept_uni()).await.unwrap();
    assert_eq!(within(5, note.read_to_end(64)).await.unwrap(), b"stopped");
    let (mut ping, mut pong) = conn.open_bi().await.unwrap();
    ping.write_all(b"ping").await.unwrap();
    ping.finish().unwrap();
    assert_eq!(within(5, pong.read_to_end(64)).await.unwrap(), b"ping");
    let _srv = within(5, srv).await.unwrap();
    assert_eq!(
        within(5, send.stopped()).await,
        Ok(Some(VarInt::from_u32(42)))
    );
    assert_eq!(
        within(5, send.write_all(b"more")).await,
        Err(WriteError::Stopped(VarInt::from_u32(42)))
    );
}

/// With credit, `open_bi`/`open_uni` answer at once, with no round trip
/// to the actor (the first poll is ready, as quinn's open is), and the
/// IDs they take interleave in order with those of raw `OpenBi`
/// messages; every stream works.
#[actix::test]
async fn opening_with_credit_needs_no_round_trip() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected().await;
    for i in 0..6u64 {
        if i % 2 == 0 {
            let mut open = Box::pin(conn.open_bi());
            let futures::task::Poll::Ready(Ok((mut send, _recv))) = futures::poll!(&mut open)
            else {
                panic!("open_bi waited with credit left");
            };
            assert_eq!(send.id().index(), i, "stream IDs in order");
            send.write_all(&[i as u8]).await.unwrap();
            send.finish().unwrap();
        } else {
            let id = conn.addr().send(OpenBi).await.unwrap().unwrap();
            assert_eq!(id.index(), i, "stream IDs in order");
            conn.addr()
                .send(Finish { stream: id })
                .await
                .unwrap()
                .unwrap();
        }
    }
    let mut uni = Box::pin(conn.open_uni());
    assert!(futures::poll!(&mut uni).is_ready());
    for i in 0..6u64 {
        let (_s, mut r) = within(5, sconn.accept_bi()).await.unwrap();
        assert_eq!(r.id().index(), i);
        let got = within(5, r.read_to_end(8)).await.unwrap();
        let expected: &[u8] = if i % 2 == 0 { &[i as u8] } else { &[] };
        assert_eq!(got, expected);
    }
}
