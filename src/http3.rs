//! HTTP/3 on actix-quic through the `h3` crate (feature `h3`): the
//! `h3::quic` traits implemented for this crate's handles, so
//! `h3::server::Connection::new(http3::Connection::new(conn))` serves, and
//! `h3::client::new(http3::Connection::new(conn))` asks, HTTP/3 (RFC 9114)
//! with h3's framing and QPACK.
//!
//! Streams map one to one: h3's control, QPACK and request streams are
//! actix-quic streams; a write goes to the stream's outbox at once, and a
//! read takes whatever arrived, without copying. HTTP/3 datagrams (RFC
//! 9297) are not offered: h3 0.0.8 keeps them in a separate crate.

use crate::errors::{ConnectionError, ReadError, WriteError};
use crate::handles::{
    Connection as QuicConnection, RecvStream as QuicRecvStream, SendStream as QuicSendStream,
};
use crate::protocol::VarInt;
use ::h3::error::Code;
use ::h3::quic::{self, ConnectionErrorIncoming, StreamErrorIncoming, StreamId, WriteBuf};
use bytes::{Buf, Bytes};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

type Pending<T> = Option<BoxFuture<'static, Result<T, ConnectionError>>>;

/// Polls the operation in `slot`, started by `start` when none is under
/// way; the slot keeps it across polls, so an accept or open that h3
/// polls again is the same one (nothing is lost between polls).
fn poll_slot<T>(
    slot: &mut Pending<T>,
    cx: &mut Context<'_>,
    start: impl FnOnce() -> BoxFuture<'static, Result<T, ConnectionError>>,
) -> Poll<Result<T, ConnectionError>> {
    let fut = slot.get_or_insert_with(start);
    let r = ready!(fut.poll_unpin(cx));
    *slot = None;
    Poll::Ready(r)
}

/// A QUIC connection as h3 sees it: accepts the peer's streams and opens
/// ours. Made from a connected [`Connection`](crate::Connection).
pub struct Connection {
    conn: QuicConnection,
    accepting_bi: Pending<(QuicSendStream, QuicRecvStream)>,
    accepting_uni: Pending<QuicRecvStream>,
    opener: OpenStreams,
}

impl Connection {
    /// Wraps `conn` for h3.
    pub fn new(conn: QuicConnection) -> Self {
        Self {
            opener: OpenStreams::new(conn.clone()),
            conn,
            accepting_bi: None,
            accepting_uni: None,
        }
    }

    /// The connection underneath.
    pub fn inner(&self) -> &QuicConnection {
        &self.conn
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("http3::Connection")
            .field(&self.conn)
            .finish()
    }
}

impl<B: Buf> quic::Connection<B> for Connection {
    type RecvStream = RecvStream;
    type OpenStreams = OpenStreams;

    fn poll_accept_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::RecvStream, ConnectionErrorIncoming>> {
        let conn = &self.conn;
        let recv = ready!(poll_slot(&mut self.accepting_uni, cx, || {
            let conn = conn.clone();
            async move { conn.accept_uni().await }.boxed()
        }))
        .map_err(connection_error)?;
        Poll::Ready(Ok(RecvStream::new(recv)))
    }

    fn poll_accept_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::BidiStream, ConnectionErrorIncoming>> {
        let conn = &self.conn;
        let (send, recv) = ready!(poll_slot(&mut self.accepting_bi, cx, || {
            let conn = conn.clone();
            async move { conn.accept_bi().await }.boxed()
        }))
        .map_err(connection_error)?;
        Poll::Ready(Ok(BidiStream::new(send, recv)))
    }

    fn opener(&self) -> Self::OpenStreams {
        OpenStreams::new(self.conn.clone())
    }
}

impl<B: Buf> quic::OpenStreams<B> for Connection {
    type BidiStream = BidiStream<B>;
    type SendStream = SendStream<B>;

    fn poll_open_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::BidiStream, StreamErrorIncoming>> {
        quic::OpenStreams::<B>::poll_open_bidi(&mut self.opener, cx)
    }

    fn poll_open_send(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::SendStream, StreamErrorIncoming>> {
        quic::OpenStreams::<B>::poll_open_send(&mut self.opener, cx)
    }

    fn close(&mut self, code: Code, reason: &[u8]) {
        quic::OpenStreams::<B>::close(&mut self.opener, code, reason)
    }
}

/// Opens streams on a connection for h3 (its request senders hold one
/// each).
pub struct OpenStreams {
    conn: QuicConnection,
    opening_bi: Pending<(QuicSendStream, QuicRecvStream)>,
    opening_uni: Pending<QuicSendStream>,
}

impl OpenStreams {
    fn new(conn: QuicConnection) -> Self {
        Self {
            conn,
            opening_bi: None,
            opening_uni: None,
        }
    }
}

impl Clone for OpenStreams {
    fn clone(&self) -> Self {
        Self::new(self.conn.clone())
    }
}

impl std::fmt::Debug for OpenStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("http3::OpenStreams")
            .field(&self.conn)
            .finish()
    }
}

impl<B: Buf> quic::OpenStreams<B> for OpenStreams {
    type BidiStream = BidiStream<B>;
    type SendStream = SendStream<B>;

    fn poll_open_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::BidiStream, StreamErrorIncoming>> {
        let conn = &self.conn;
        let (send, recv) = ready!(poll_slot(&mut self.opening_bi, cx, || {
            let conn = conn.clone();
            async move { conn.open_bi().await }.boxed()
        }))
        .map_err(stream_connection_error)?;
        Poll::Ready(Ok(BidiStream::new(send, recv)))
    }

    fn poll_open_send(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::SendStream, StreamErrorIncoming>> {
        let conn = &self.conn;
        let send = ready!(poll_slot(&mut self.opening_uni, cx, || {
            let conn = conn.clone();
            async move { conn.open_uni().await }.boxed()
        }))
        .map_err(stream_connection_error)?;
        Poll::Ready(Ok(SendStream::new(send)))
    }

    fn close(&mut self, code: Code, reason: &[u8]) {
        self.conn.close(
            VarInt::from_u64(code.value()).unwrap_or(VarInt::MAX),
            reason,
        );
    }
}

/// The receiving half of a stream, for h3.
pub struct RecvStream {
    stream: QuicRecvStream,
}

impl RecvStream {
    fn new(stream: QuicRecvStream) -> Self {
        Self { stream }
    }
}

impl std::fmt::Debug for RecvStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("http3::RecvStream")
            .field(&self.stream.id())
            .finish()
    }
}

impl quic::RecvStream for RecvStream {
    type Buf = Bytes;

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamErrorIncoming>> {
        self.stream.poll_chunk(cx, usize::MAX).map_err(read_error)
    }

    fn stop_sending(&mut self, error_code: u64) {
        let _ = self
            .stream
            .stop(VarInt::from_u64(error_code).unwrap_or(VarInt::MAX));
    }

    fn recv_id(&self) -> StreamId {
        h3_id(self.stream.id())
    }
}

/// The sending half of a stream, for h3: `send_data` holds one buffer,
/// `poll_ready` moves it into the stream's outbox.
pub struct SendStream<B: Buf> {
    stream: QuicSendStream,
    writing: Option<WriteBuf<B>>,
}

impl<B: Buf> SendStream<B> {
    fn new(stream: QuicSendStream) -> Self {
        Self {
            stream,
            writing: None,
        }
    }
}

impl<B: Buf> std::fmt::Debug for SendStream<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("http3::SendStream")
            .field(&self.stream.id())
            .finish()
    }
}

impl<B: Buf> quic::SendStream<B> for SendStream<B> {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        if let Some(data) = &mut self.writing {
            while data.has_remaining() {
                let want = data.chunk().len();
                ready!(self.stream.poll_take(cx, want, |n| data.copy_to_bytes(n)))
                    .map_err(write_error)?;
            }
        }
        self.writing = None;
        Poll::Ready(Ok(()))
    }

    fn send_data<T: Into<WriteBuf<B>>>(&mut self, data: T) -> Result<(), StreamErrorIncoming> {
        if self.writing.is_some() {
            return Err(StreamErrorIncoming::ConnectionErrorIncoming {
                connection_error: ConnectionErrorIncoming::InternalError(
                    "send_data before the previous buffer went".into(),
                ),
            });
        }
        self.writing = Some(data.into());
        Ok(())
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        ready!(quic::SendStream::<B>::poll_ready(self, cx))?;
        Poll::Ready(
            self.stream
                .finish()
                .map_err(|e| StreamErrorIncoming::Unknown(Box::new(e))),
        )
    }

    fn reset(&mut self, reset_code: u64) {
        self.writing = None;
        let _ = self
            .stream
            .reset(VarInt::from_u64(reset_code).unwrap_or(VarInt::MAX));
    }

    fn send_id(&self) -> StreamId {
        h3_id(self.stream.id())
    }
}

impl<B: Buf> quic::SendStreamUnframed<B> for SendStream<B> {
    fn poll_send<D: Buf>(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut D,
    ) -> Poll<Result<usize, StreamErrorIncoming>> {
        if self.writing.is_some() {
            ready!(quic::SendStream::<B>::poll_ready(self, cx))?;
        }
        let want = buf.chunk().len();
        self.stream
            .poll_take(cx, want, |n| buf.copy_to_bytes(n))
            .map_err(write_error)
    }
}

/// Both halves of a stream, for h3.
pub struct BidiStream<B: Buf> {
    send: SendStream<B>,
    recv: RecvStream,
}

impl<B: Buf> BidiStream<B> {
    fn new(send: QuicSendStream, recv: QuicRecvStream) -> Self {
        Self {
            send: SendStream::new(send),
            recv: RecvStream::new(recv),
        }
    }
}

impl<B: Buf> std::fmt::Debug for BidiStream<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("http3::BidiStream")
            .field(&self.recv.stream.id())
            .finish()
    }
}

impl<B: Buf> quic::BidiStream<B> for BidiStream<B> {
    type SendStream = SendStream<B>;
    type RecvStream = RecvStream;

    fn split(self) -> (SendStream<B>, RecvStream) {
        (self.send, self.recv)
    }
}

impl<B: Buf> quic::RecvStream for BidiStream<B> {
    type Buf = Bytes;

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamErrorIncoming>> {
        self.recv.poll_data(cx)
    }

    fn stop_sending(&mut self, error_code: u64) {
        self.recv.stop_sending(error_code)
    }

    fn recv_id(&self) -> StreamId {
        self.recv.recv_id()
    }
}

impl<B: Buf> quic::SendStream<B> for BidiStream<B> {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        self.send.poll_ready(cx)
    }

    fn send_data<T: Into<WriteBuf<B>>>(&mut self, data: T) -> Result<(), StreamErrorIncoming> {
        self.send.send_data(data)
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        self.send.poll_finish(cx)
    }

    fn reset(&mut self, reset_code: u64) {
        self.send.reset(reset_code)
    }

    fn send_id(&self) -> StreamId {
        self.send.send_id()
    }
}

impl<B: Buf> quic::SendStreamUnframed<B> for BidiStream<B> {
    fn poll_send<D: Buf>(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut D,
    ) -> Poll<Result<usize, StreamErrorIncoming>> {
        self.send.poll_send(cx, buf)
    }
}

fn h3_id(id: crate::protocol::StreamId) -> StreamId {
    StreamId::try_from(u64::from(id)).expect("QUIC stream IDs are below 2^62")
}

/// How h3 hears of a lost connection: the peer's HTTP/3 code when its
/// application closed it (RFC 9114 §8.1), a timeout, or another cause.
fn connection_error(e: ConnectionError) -> ConnectionErrorIncoming {
    match e {
        ConnectionError::ApplicationClosed(close) => ConnectionErrorIncoming::ApplicationClose {
            error_code: close.error_code.into_inner(),
        },
        ConnectionError::TimedOut => ConnectionErrorIncoming::Timeout,
        other => ConnectionErrorIncoming::Undefined(Arc::new(other)),
    }
}

fn stream_connection_error(e: ConnectionError) -> StreamErrorIncoming {
    StreamErrorIncoming::ConnectionErrorIncoming {
        connection_error: connection_error(e),
    }
}

fn read_error(e: ReadError) -> StreamErrorIncoming {
    match e {
        ReadError::Reset(code) => StreamErrorIncoming::StreamTerminated {
            error_code: code.into_inner(),
        },
        ReadError::ConnectionLost(e) => stream_connection_error(e),
        other => StreamErrorIncoming::Unknown(Box::new(other)),
    }
}

fn write_error(e: WriteError) -> StreamErrorIncoming {
    match e {
        WriteError::Stopped(code) => StreamErrorIncoming::StreamTerminated {
            error_code: code.into_inner(),
        },
        WriteError::ConnectionLost(e) => stream_connection_error(e),
        other => StreamErrorIncoming::Unknown(Box::new(other)),
    }
}
