//! Streams through tokio's I/O traits: `tokio::io::copy`, a framed codec
//! from tokio-util, and writes cancelled mid-way.

use crate::common::{connected, connected_with_stream_window, pattern, within};
use actix_quic::messages::Stats;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// The server echoes a stream with `tokio::io::copy`; the client writes
/// and reads with tokio's extension traits.
#[actix::test]
async fn tokio_io_copy_echoes_a_stream() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected().await;
    let echo = actix::spawn(async move {
        let (mut send, mut recv) = sconn.accept_bi().await.unwrap();
        let n = tokio::io::copy(&mut recv, &mut send).await.unwrap();
        send.shutdown().await.unwrap();
        (sconn, n)
    });
    let data = pattern(1, 1 << 20);
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let write = {
        let data = data.clone();
        async move {
            AsyncWriteExt::write_all(&mut send, &data).await.unwrap();
            send.shutdown().await.unwrap();
            send
        }
    };
    let read = async {
        let mut got = Vec::new();
        AsyncReadExt::read_to_end(&mut recv, &mut got)
            .await
            .unwrap();
        got
    };
    let (_send, got) = within(20, futures::future::join(write, read)).await;
    assert!(got == data, "echo differs ({} bytes)", got.len());
    let (_sconn, n) = within(5, echo).await.unwrap();
    assert_eq!(n, data.len() as u64);
}

/// Length-delimited frames (tokio-util) over a unidirectional stream.
#[actix::test]
async fn framed_codec_over_a_stream() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected().await;
    let frames: Vec<Bytes> = (0..200)
        .map(|i| Bytes::from(pattern(i, i * 37 % 5000)))
        .collect();
    let send = conn.open_uni().await.unwrap();
    let mut sink = FramedWrite::new(send, LengthDelimitedCodec::new());
    for f in &frames {
        sink.send(f.clone()).await.unwrap();
    }
    SinkExt::<Bytes>::close(&mut sink).await.unwrap();
    let recv = within(5, sconn.accept_uni()).await.unwrap();
    let got: Vec<Bytes> = within(
        10,
        FramedRead::new(recv, LengthDelimitedCodec::new())
            .map(|f| f.unwrap().freeze())
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(got, frames);
}

/// Counts the bytes each `poll_write` reported written.
struct Counting<W> {
    inner: W,
    reported: usize,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counting<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.reported += n;
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A `write_all` cancelled mid-way (flow control stalls it), then a
/// second buffer: the peer sees exactly the bytes the cancelled writes
/// reported, then the second buffer, nothing of the rest.
#[actix::test]
async fn a_cancelled_write_all_sends_only_what_was_reported() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected_with_stream_window(8 * 1024).await;
    let mut send = Counting {
        inner: conn.open_uni().await.unwrap(),
        reported: 0,
    };
    let first = pattern(2, 1 << 20);
    // Nobody reads yet: the write stalls on flow control and is cancelled.
    let stalled = tokio::time::timeout(
        Duration::from_millis(300),
        AsyncWriteExt::write_all(&mut send, &first),
    )
    .await;
    assert!(stalled.is_err(), "1 MiB went into an 8 KiB window");
    let reported = send.reported;
    assert!(reported > 0 && reported < first.len(), "{reported}");
    // The actor has seen everything the handle sent it.
    conn.addr().send(Stats).await.unwrap();
    let reader = actix::spawn(async move {
        let mut recv = sconn.accept_uni().await.unwrap();
        let mut got = Vec::new();
        AsyncReadExt::read_to_end(&mut recv, &mut got)
            .await
            .unwrap();
        (sconn, got)
    });
    AsyncWriteExt::write_all(&mut send, b"SECOND")
        .await
        .unwrap();
    send.shutdown().await.unwrap();
    let (_sconn, got) = within(10, reader).await.unwrap();
    let mut expected = first[..reported].to_vec();
    expected.extend_from_slice(b"SECOND");
    assert_eq!(got.len(), expected.len(), "bytes on the peer");
    assert!(got == expected, "the peer saw other bytes than reported");
}
