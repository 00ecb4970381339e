//! Measuring a download on a [`Pair`]: the server sends a number of bytes
//! on one stream, the client reads and checks every byte, and the virtual
//! clock tells how long it took, as the quic-interop-runner's transfer
//! and goodput cases do.

use super::pair::Pair;
use crate::protocol::ConnectionError;
use crate::protocol::Dir;
use crate::protocol::{ReadFailure, StreamId, WriteFailure};
use bytes::Bytes;
use std::time::Duration;

/// Bytes the server hands to its stream per write.
const CHUNK: u64 = 64 * 1024;

/// The byte at `offset` of every download: varied enough that a
/// misplaced, repeated or corrupted chunk shows.
pub fn payload_byte(offset: u64) -> u8 {
    let x = offset.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 56) as u8 ^ offset as u8
}

/// A finished, verified [`Pair::download`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Download {
    /// Bytes the client read, every one checked.
    pub bytes: u64,
    /// Virtual time from the call to the client reading the end of the
    /// stream, including the handshake when it was still to do.
    pub elapsed: Duration,
    /// Virtual time from the call until both sides completed the
    /// handshake (zero when it was already complete).
    pub handshake: Duration,
    /// Virtual time from the server opening the stream to the client
    /// reading its end.
    pub transfer: Duration,
}

impl Download {
    /// Application bytes per second of [`Download::elapsed`], in bits per
    /// second (what the interop runner's goodput case reports).
    pub fn goodput_bps(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// [`Download::goodput_bps`] in Mbit/s.
    pub fn goodput_mbps(&self) -> f64 {
        self.goodput_bps() / 1e6
    }

    /// Goodput as a share of a link of `link_bps` bits per second.
    pub fn link_share(&self, link_bps: u64) -> f64 {
        self.goodput_bps() / link_bps as f64
    }
}

/// Why a [`Pair::download`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    /// The handshake did not complete in time (or a side closed).
    #[error("handshake not complete after {elapsed:?} (client {client:?}, server {server:?})")]
    Handshake {
        /// Virtual time spent.
        elapsed: Duration,
        /// The client's error, if it closed.
        client: Option<Box<ConnectionError>>,
        /// The server's error, if it closed.
        server: Option<Box<ConnectionError>>,
    },
    /// The server could not open a stream (no stream credit).
    #[error("the server could not open a stream")]
    NoStream,
    /// The time limit passed before the client read everything.
    #[error("stalled: {received} of {size} bytes after {elapsed:?}")]
    TimedOut {
        /// Bytes the client read.
        received: u64,
        /// Bytes asked for.
        size: u64,
        /// Virtual time spent.
        elapsed: Duration,
    },
    /// A byte the client read differs from what the server sent.
    #[error("byte {offset} differs from what was sent")]
    Corrupted {
        /// Offset of the first wrong byte.
        offset: u64,
    },
    /// The stream ended early, was reset or vanished.
    #[error("stream ended after {received} of {size} bytes: {why}")]
    StreamEnded {
        /// Bytes the client read.
        received: u64,
        /// Bytes asked for.
        size: u64,
        /// What happened.
        why: String,
    },
    /// A side closed the connection.
    #[error("connection closed: {0}")]
    Closed(Box<ConnectionError>),
}

/// The download in progress.
struct State {
    size: u64,
    id: StreamId,
    generated: u64,
    pending: Bytes,
    finished: bool,
    accepted: bool,
    received: u64,
    done: bool,
    failed: Option<DownloadError>,
}

impl State {
    /// Hands the server as much of the payload as it takes.
    fn write(&mut self, p: &mut Pair) {
        let server = p.server();
        while !self.finished {
            if self.pending.is_empty() {
                if self.generated == self.size {
                    match server.finish(self.id) {
                        Ok(()) => self.finished = true,
                        Err(e) => self.fail_stream(format!("finish failed: {e:?}")),
                    }
                    return;
                }
                let n = CHUNK.min(self.size - self.generated);
                let chunk: Vec<u8> = (self.generated..self.generated + n)
                    .map(payload_byte)
                    .collect();
                self.generated += n;
                self.pending = Bytes::from(chunk);
            }
            match server.write(self.id, &mut self.pending) {
                Ok(_) => {}
                Err(WriteFailure::Blocked) => return,
                Err(e) => {
                    self.fail_stream(format!("write failed: {e:?}"));
                    return;
                }
            }
        }
    }

    /// Reads and checks what the client has.
    fn read(&mut self, p: &mut Pair) {
        while !self.accepted {
            match p.client.accept(Dir::Uni) {
                Some(a) if a == self.id => self.accepted = true,
                Some(_) => {}
                None => return,
            }
        }
        loop {
            match p.client.read(self.id, usize::MAX) {
                Ok(Some(b)) => {
                    if let Some(i) =
                        (0..b.len()).find(|&i| b[i] != payload_byte(self.received + i as u64))
                    {
                        self.failed = Some(DownloadError::Corrupted {
                            offset: self.received + i as u64,
                        });
                        return;
                    }
                    self.received += b.len() as u64;
                }
                Ok(None) => {
                    if self.received == self.size {
                        self.done = true;
                    } else {
                        self.fail_stream("finished early".into());
                    }
                    return;
                }
                Err(ReadFailure::Blocked) => return,
                Err(e) => {
                    self.fail_stream(format!("{e:?}"));
                    return;
                }
            }
        }
    }

    fn fail_stream(&mut self, why: String) {
        self.failed = Some(DownloadError::StreamEnded {
            received: self.received,
            size: self.size,
            why,
        });
    }
}

impl Pair {
    /// Completes the handshake if needed, then has the server send `size`
    /// bytes ([`payload_byte`]) on a new unidirectional stream, which the
    /// client reads and checks, all within `limit` of virtual time.
    ///
    /// Returns the times taken; [`Download::goodput_bps`] is what the
    /// interop runner's goodput case measures. Fails on any wrong byte,
    /// on a closed connection or when `limit` passes.
    pub fn download(&mut self, size: u64, limit: Duration) -> Result<Download, DownloadError> {
        let t0 = self.now;
        let handshook = self.run_until(limit, |p| {
            let server_done = p.server.as_ref().is_some_and(|s| s.is_handshake_complete());
            let closed = p.client.error().is_some()
                || p.server.as_ref().is_some_and(|s| s.error().is_some());
            (p.client.is_handshake_complete() && server_done) || closed
        });
        let server_error = self.server.as_ref().and_then(|s| s.error().cloned());
        if !handshook || self.client.error().is_some() || server_error.is_some() {
            return Err(DownloadError::Handshake {
                elapsed: self.now - t0,
                client: self.client.error().cloned().map(Box::new),
                server: server_error.map(Box::new),
            });
        }
        let handshake = self.now - t0;
        let id = self
            .server()
            .open(Dir::Uni)
            .ok_or(DownloadError::NoStream)?;
        let t1 = self.now;
        let mut st = State {
            size,
            id,
            generated: 0,
            pending: Bytes::new(),
            finished: false,
            accepted: false,
            received: 0,
            done: false,
            failed: None,
        };
        let left = limit.saturating_sub(handshake);
        self.run_until(left, |p| {
            st.write(p);
            st.read(p);
            if st.failed.is_none() {
                if let Some(e) = p
                    .client
                    .error()
                    .or(p.server.as_ref().and_then(|s| s.error()))
                {
                    st.failed = Some(DownloadError::Closed(Box::new(e.clone())));
                }
            }
            st.done || st.failed.is_some()
        });
        if let Some(e) = st.failed {
            return Err(e);
        }
        if !st.done {
            return Err(DownloadError::TimedOut {
                received: st.received,
                size,
                elapsed: self.now - t0,
            });
        }
        Ok(Download {
            bytes: size,
            elapsed: self.now - t0,
            handshake,
            transfer: self.now - t1,
        })
    }
}
