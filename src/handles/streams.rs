//! `SendStream` and `RecvStream`: stream handles whose methods send the
//! stream messages of `crate::messages`, also usable through the `futures`
//! `AsyncWrite` / `AsyncRead` traits.

use super::connection::Connection;
use crate::actors::{Inbox, Outbox, OutboxError, Take};
use crate::errors::{
    ClosedStream, ReadError, ReadExactError, ReadToEndError, StoppedError, WriteError, Written,
};
use crate::messages::internal::{Flush, Pull};
use crate::messages::{self, StreamId};
use crate::protocol::VarInt;
use bytes::Bytes;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The sending half of a stream. Dropping it without `finish` or `reset`
/// finishes the stream, as quinn does.
///
/// Writes go to the stream's outbox (up to 128 KiB) at once, with no
/// round trip to the connection actor, which moves them into the stream
/// as flow control allows (RFC 9000 §4.1); a write waits only while the
/// outbox is full. Every write is cancel-safe in this sense: what a
/// completed write reported is sent, in order, and a write dropped
/// before it completed sent nothing.
pub struct SendStream {
    conn: Connection,
    id: StreamId,
    done: bool,
    outbox: Arc<Outbox>,
}

impl SendStream {
    pub(crate) fn new(conn: Connection, id: StreamId) -> Self {
        Self {
            conn,
            id,
            done: false,
            outbox: Outbox::new(id),
        }
    }

    /// The stream's ID.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Tells the actor to drain the outbox.
    fn flush_outbox(&self) {
        self.conn.addr().do_send(Flush(Some(self.outbox.clone())));
    }

    /// Takes up to `want` bytes, made by `take(n)`, into the outbox.
    pub(crate) fn poll_take(
        &mut self,
        cx: &mut Context<'_>,
        want: usize,
        take: impl FnOnce(usize) -> Bytes,
    ) -> Poll<Result<usize, WriteError>> {
        if self.done {
            return Poll::Ready(Err(WriteError::ClosedStream));
        }
        match std::task::ready!(self.outbox.poll_write(cx, want, take)) {
            Ok(pushed) => {
                if pushed.notify {
                    self.flush_outbox();
                }
                Poll::Ready(Ok(pushed.taken))
            }
            Err(OutboxError::Write(e)) => Poll::Ready(Err(e)),
            Err(OutboxError::Gone) => {
                Poll::Ready(Err(WriteError::ConnectionLost(self.conn.lost())))
            }
        }
    }

    /// Writes some of `buf` (copied), waiting while the outbox is full;
    /// how many bytes were taken, as quinn's `SendStream::poll_write`.
    pub fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<Result<usize, WriteError>> {
        self.get_mut()
            .poll_take(cx, buf.len(), |n| Bytes::copy_from_slice(&buf[..n]))
    }

    /// Writes some of `buf`, waiting while the outbox is full; returns how
    /// many bytes were taken. Cancel-safe.
    pub async fn write(&mut self, buf: &[u8]) -> Result<usize, WriteError> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_write(cx, buf)).await
    }

    /// Takes as much of the front of `data` as fits, without copying.
    fn poll_take_chunk(
        &mut self,
        cx: &mut Context<'_>,
        data: &mut Bytes,
    ) -> Poll<Result<usize, WriteError>> {
        self.poll_take(cx, data.len(), |n| data.split_to(n))
    }

    /// Writes all of `data` without copying, as quinn's `write_chunk`.
    /// If dropped before it completes, a front part of `data` may have
    /// been written (and will be sent).
    pub async fn write_chunk(&mut self, mut data: Bytes) -> Result<(), WriteError> {
        while !data.is_empty() {
            std::future::poll_fn(|cx| self.poll_take_chunk(cx, &mut data)).await?;
        }
        Ok(())
    }

    /// Writes all of `buf`. If dropped before it completes, a front part
    /// of `buf` may have been written, as [`write_chunk`](Self::write_chunk).
    pub async fn write_all(&mut self, mut buf: &[u8]) -> Result<(), WriteError> {
        while !buf.is_empty() {
            let n = self.write(buf).await?;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Writes as much of `bufs` as fits now (waiting while nothing fits),
    /// without copying, as quinn's `write_chunks`. The chunks taken in
    /// full are left empty and one taken in part is advanced past what
    /// was taken. Cancel-safe: if dropped before it completes, nothing
    /// was written.
    pub async fn write_chunks(&mut self, bufs: &mut [Bytes]) -> Result<Written, WriteError> {
        std::future::poll_fn(|cx| self.poll_write_chunks(cx, bufs)).await
    }

    fn poll_write_chunks(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &mut [Bytes],
    ) -> Poll<Result<Written, WriteError>> {
        let mut written = Written::default();
        for buf in bufs.iter_mut() {
            if !buf.is_empty() {
                match self.poll_take_chunk(cx, buf) {
                    Poll::Ready(Ok(n)) => written.bytes += n,
                    // Nothing taken yet: wait (or fail) as one write.
                    r if written.bytes == 0 => return r.map_ok(|_| written),
                    // Some taken: report it; the next call waits or fails.
                    _ => break,
                }
                if !buf.is_empty() {
                    break;
                }
            }
            written.chunks += 1;
        }
        Poll::Ready(Ok(written))
    }

    /// Writes all of `bufs`, leaving them empty. If dropped before it
    /// completes, some of them may have been written, as
    /// [`write_chunk`](Self::write_chunk).
    pub async fn write_all_chunks(&mut self, bufs: &mut [Bytes]) -> Result<(), WriteError> {
        while bufs.iter().any(|b| !b.is_empty()) {
            self.write_chunks(bufs).await?;
        }
        Ok(())
    }

    /// Marks the end of the data (FIN), sent after everything written.
    pub fn finish(&mut self) -> Result<(), ClosedStream> {
        if self.done {
            return Err(ClosedStream);
        }
        self.done = true;
        if self.outbox.finish() {
            self.flush_outbox();
        }
        Ok(())
    }

    /// Abandons the stream with `error_code` (RESET_STREAM); what was
    /// written and not yet sent is dropped.
    pub fn reset(&mut self, error_code: VarInt) -> Result<(), ClosedStream> {
        if self.done {
            return Err(ClosedStream);
        }
        self.done = true;
        self.outbox.discard();
        self.conn.addr().do_send(messages::Reset {
            stream: self.id,
            code: error_code,
        });
        Ok(())
    }

    /// Waits until the peer stopped the stream (`Some(code)`) or
    /// acknowledged everything (`None`).
    pub async fn stopped(&self) -> Result<Option<VarInt>, StoppedError> {
        match self
            .conn
            .addr()
            .send(messages::Stopped { stream: self.id })
            .await
        {
            Ok(r) => r,
            Err(_) => Err(StoppedError::ConnectionLost(self.conn.lost())),
        }
    }
}

impl Drop for SendStream {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.finish();
        }
    }
}

impl fmt::Debug for SendStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendStream").field("id", &self.id).finish()
    }
}

impl futures::AsyncWrite for SendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        SendStream::poll_write(self, cx, buf).map_err(Into::into)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Finishes the stream.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.done {
            let _ = this.finish();
        }
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for SendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        SendStream::poll_write(self, cx, buf).map_err(Into::into)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Finishes the stream.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        futures::AsyncWrite::poll_close(self, cx)
    }
}

/// The receiving half of a stream. Dropping it before the end stops the
/// stream with code 0.
///
/// Reads take what the connection actor already moved into the stream's
/// inbox (up to 256 KiB ahead of the reader), with no round trip to the
/// actor; the first read, and one after the reader emptied a full inbox,
/// ask the actor to fill it. Every read is cancel-safe: what the inbox
/// holds stays there for the next read.
pub struct RecvStream {
    conn: Connection,
    id: StreamId,
    done: bool,
    inbox: Arc<Inbox>,
}

impl RecvStream {
    pub(crate) fn new(conn: Connection, id: StreamId) -> Self {
        Self {
            conn,
            id,
            done: false,
            inbox: Inbox::new(id),
        }
    }

    /// The stream's ID.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// The next chunk of at most `max` bytes; `None` at the end of the
    /// stream.
    pub(crate) fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<Result<Option<Bytes>, ReadError>> {
        let r = match self.inbox.take(cx, max.max(1), self.done) {
            Take::Ready(r) => r,
            Take::Gone => Err(ReadError::ConnectionLost(self.conn.lost())),
            Take::Wait { pull } => {
                if pull {
                    self.conn.addr().do_send(Pull(Some(self.inbox.clone())));
                }
                return Poll::Pending;
            }
        };
        // The end, or a reset: nothing more to ask, nothing to stop.
        if matches!(r, Ok(None) | Err(ReadError::Reset(_))) {
            self.done = true;
        }
        Poll::Ready(r)
    }

    /// Reads the next chunk of at most `max` bytes without copying;
    /// `None` at the end of the stream. Cancel-safe.
    pub async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, ReadError> {
        std::future::poll_fn(|cx| self.poll_chunk(cx, max)).await
    }

    /// Reads into `buf`; `None` at the end of the stream. Cancel-safe.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ReadError> {
        Ok(self.read_chunk(buf.len()).await?.map(|b| {
            buf[..b.len()].copy_from_slice(&b);
            b.len()
        }))
    }

    /// Reads into the unfilled part of `buf`, as quinn's
    /// `RecvStream::poll_read`: at the end of the stream it adds nothing.
    pub fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<Result<(), ReadError>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if let Some(b) = std::task::ready!(self.poll_chunk(cx, buf.remaining()))? {
            buf.put_slice(&b);
        }
        Poll::Ready(Ok(()))
    }

    /// Fills `buf` exactly.
    pub async fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), ReadExactError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.read(&mut buf[filled..]).await? {
                Some(n) => filled += n,
                None => return Err(ReadExactError::FinishedEarly(filled)),
            }
        }
        Ok(())
    }

    /// Reads the whole stream, failing if it is longer than `size_limit`.
    pub async fn read_to_end(&mut self, size_limit: usize) -> Result<Vec<u8>, ReadToEndError> {
        let mut out = Vec::new();
        while let Some(b) = self.read_chunk(usize::MAX).await? {
            if out.len() + b.len() > size_limit {
                let _ = self.stop(VarInt::from_u32(0));
                return Err(ReadToEndError::TooLong);
            }
            out.extend_from_slice(&b);
        }
        Ok(out)
    }

    /// Asks the peer to stop sending with `error_code` (STOP_SENDING).
    pub fn stop(&mut self, error_code: VarInt) -> Result<(), ClosedStream> {
        if self.done {
            return Err(ClosedStream);
        }
        self.done = true;
        self.conn.addr().do_send(messages::Stop {
            stream: self.id,
            code: error_code,
        });
        Ok(())
    }
}

impl Drop for RecvStream {
    fn drop(&mut self) {
        if !self.done {
            self.conn.addr().do_send(messages::Stop {
                stream: self.id,
                code: VarInt::from_u32(0),
            });
        }
    }
}

impl fmt::Debug for RecvStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvStream").field("id", &self.id).finish()
    }
}

impl futures::AsyncRead for RecvStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut buf = tokio::io::ReadBuf::new(buf);
        std::task::ready!(RecvStream::poll_read(self.get_mut(), cx, &mut buf))?;
        Poll::Ready(Ok(buf.filled().len()))
    }
}

impl tokio::io::AsyncRead for RecvStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        RecvStream::poll_read(self.get_mut(), cx, buf).map_err(Into::into)
    }
}
