//! `SendStream` and `RecvStream`: stream handles whose methods send the
//! stream messages of `crate::messages`, also usable through the `futures`
//! `AsyncWrite` / `AsyncRead` traits.

use super::connection::Connection;
use crate::errors::{
    ClosedStream, ReadError, ReadExactError, ReadToEndError, StoppedError, WriteError, Written,
};
use crate::messages::{self, StreamId};
use crate::protocol::VarInt;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{AsyncRead, AsyncWrite, FutureExt};
use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Largest read asked of the actor at once. One `ReadChunks` message
/// brings everything contiguous up to this many bytes; the handle serves
/// smaller reads from what it holds.
const READ_BATCH: usize = 256 * 1024;

/// The sending half of a stream. Dropping it without `finish` or `reset`
/// finishes the stream, as quinn does.
pub struct SendStream {
    conn: Connection,
    id: StreamId,
    done: bool,
    pending: Option<BoxFuture<'static, Result<usize, WriteError>>>,
}

impl SendStream {
    pub(crate) fn new(conn: Connection, id: StreamId) -> Self {
        Self {
            conn,
            id,
            done: false,
            pending: None,
        }
    }

    /// The stream's ID.
    pub fn id(&self) -> StreamId {
        self.id
    }

    fn write_future(&self, data: Bytes) -> BoxFuture<'static, Result<usize, WriteError>> {
        let addr = self.conn.addr().clone();
        let conn = self.conn.clone();
        let id = self.id;
        async move {
            match addr.send(messages::Write { stream: id, data }).await {
                Ok(r) => r,
                Err(_) => Err(WriteError::ConnectionLost(conn.lost())),
            }
        }
        .boxed()
    }

    /// Writes some of `buf`, waiting while flow control allows nothing;
    /// returns how many bytes were taken.
    pub async fn write(&mut self, buf: &[u8]) -> Result<usize, WriteError> {
        self.write_future(Bytes::copy_from_slice(buf)).await
    }

    /// Writes all of `data` without copying, as quinn's `write_chunk`.
    /// Not cancel-safe: if dropped before it completes, some of the data
    /// may have been written.
    pub async fn write_chunk(&mut self, mut data: Bytes) -> Result<(), WriteError> {
        while !data.is_empty() {
            let n = self.write_future(data.clone()).await?;
            let _ = data.split_to(n);
        }
        Ok(())
    }

    /// Writes all of `buf`. Not cancel-safe, as [`write_chunk`](Self::write_chunk).
    pub async fn write_all(&mut self, buf: &[u8]) -> Result<(), WriteError> {
        self.write_chunk(Bytes::copy_from_slice(buf)).await
    }

    /// Writes as much of `bufs` as flow control takes now (waiting while
    /// it takes nothing), without copying, as quinn's `write_chunks`.
    /// The chunks taken in full are left empty and one taken in part is
    /// advanced past what was taken. Cancel-safe: if dropped before it
    /// completes, nothing was written.
    pub async fn write_chunks(&mut self, bufs: &mut [Bytes]) -> Result<Written, WriteError> {
        let msg = messages::WriteChunks {
            stream: self.id,
            data: bufs.to_vec(),
        };
        let written = match self.conn.addr().send(msg).await {
            Ok(r) => r?,
            Err(_) => return Err(WriteError::ConnectionLost(self.conn.lost())),
        };
        let mut left = written.bytes;
        for buf in bufs.iter_mut() {
            let n = left.min(buf.len());
            let _ = buf.split_to(n);
            left -= n;
            if left == 0 {
                break;
            }
        }
        Ok(written)
    }

    /// Writes all of `bufs`, leaving them empty. Not cancel-safe, as
    /// [`write_chunk`](Self::write_chunk).
    pub async fn write_all_chunks(&mut self, bufs: &mut [Bytes]) -> Result<(), WriteError> {
        while bufs.iter().any(|b| !b.is_empty()) {
            self.write_chunks(bufs).await?;
        }
        Ok(())
    }

    /// Marks the end of the data (FIN).
    pub fn finish(&mut self) -> Result<(), ClosedStream> {
        if self.done {
            return Err(ClosedStream);
        }
        self.done = true;
        self.conn
            .addr()
            .do_send(messages::Finish { stream: self.id });
        Ok(())
    }

    /// Abandons the stream with `error_code` (RESET_STREAM).
    pub fn reset(&mut self, error_code: VarInt) -> Result<(), ClosedStream> {
        if self.done {
            return Err(ClosedStream);
        }
        self.done = true;
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
            self.conn
                .addr()
                .do_send(messages::Finish { stream: self.id });
        }
    }
}

impl fmt::Debug for SendStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendStream").field("id", &self.id).finish()
    }
}

impl AsyncWrite for SendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            this.pending = Some(this.write_future(Bytes::copy_from_slice(buf)));
        }
        let r = std::task::ready!(this.pending.as_mut().expect("set").poll_unpin(cx));
        this.pending = None;
        Poll::Ready(r.map_err(Into::into))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.done {
            let _ = this.finish();
        }
        Poll::Ready(Ok(()))
    }
}

/// The receiving half of a stream. Dropping it before the end stops the
/// stream with code 0.
pub struct RecvStream {
    conn: Connection,
    id: StreamId,
    done: bool,
    pending: Option<BoxFuture<'static, Result<Option<Vec<Bytes>>, ReadError>>>,
    buffered: VecDeque<Bytes>,
}

impl RecvStream {
    pub(crate) fn new(conn: Connection, id: StreamId) -> Self {
        Self {
            conn,
            id,
            done: false,
            pending: None,
            buffered: VecDeque::new(),
        }
    }

    /// The stream's ID.
    pub fn id(&self) -> StreamId {
        self.id
    }

    fn read_future(&self) -> BoxFuture<'static, Result<Option<Vec<Bytes>>, ReadError>> {
        let addr = self.conn.addr().clone();
        let conn = self.conn.clone();
        let id = self.id;
        async move {
            let msg = messages::ReadChunks {
                stream: id,
                max: READ_BATCH,
            };
            match addr.send(msg).await {
                Ok(r) => r,
                Err(_) => Err(ReadError::ConnectionLost(conn.lost())),
            }
        }
        .boxed()
    }

    /// Takes up to `max` bytes from what the handle already holds.
    fn take_buffered(&mut self, max: usize) -> Option<Bytes> {
        let front = self.buffered.front_mut()?;
        if front.len() > max {
            return Some(front.split_to(max));
        }
        self.buffered.pop_front()
    }

    /// Records the outcome of a `ReadChunks`: false at the end of the stream.
    fn absorb(&mut self, r: Result<Option<Vec<Bytes>>, ReadError>) -> Result<bool, ReadError> {
        match r {
            Ok(Some(chunks)) => {
                self.buffered
                    .extend(chunks.into_iter().filter(|c| !c.is_empty()));
                Ok(true)
            }
            Ok(None) => {
                self.done = true;
                Ok(false)
            }
            Err(e) => {
                if matches!(e, ReadError::Reset(_)) {
                    self.done = true;
                }
                Err(e)
            }
        }
    }

    /// Reads the next chunk of at most `max` bytes without copying;
    /// `None` at the end of the stream.
    pub async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, ReadError> {
        loop {
            if let Some(b) = self.take_buffered(max.max(1)) {
                return Ok(Some(b));
            }
            if self.done {
                return Ok(None);
            }
            let r = self.read_future().await;
            if !self.absorb(r)? {
                return Ok(None);
            }
        }
    }

    /// Reads into `buf`; `None` at the end of the stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ReadError> {
        Ok(self.read_chunk(buf.len()).await?.map(|b| {
            buf[..b.len()].copy_from_slice(&b);
            b.len()
        }))
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
        while let Some(b) = self.read_chunk(READ_BATCH).await? {
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

impl AsyncRead for RecvStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        loop {
            if let Some(b) = this.take_buffered(buf.len()) {
                buf[..b.len()].copy_from_slice(&b);
                return Poll::Ready(Ok(b.len()));
            }
            if this.done || buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            if this.pending.is_none() {
                this.pending = Some(this.read_future());
            }
            let r = std::task::ready!(this.pending.as_mut().expect("set").poll_unpin(cx));
            this.pending = None;
            match this.absorb(r) {
                Ok(true) => continue,
                Ok(false) => return Poll::Ready(Ok(0)),
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
    }
}
