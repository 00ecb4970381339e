//! A send stream's outbox: what its `SendStream` handle wrote that the
//! connection actor has not yet moved into the stream. A write lands here
//! at once, without a message round trip, so a write either took bytes
//! and said how many, or took none: cancelling it loses nothing and sends
//! nothing unreported. The actor drains the outbox when told (`Flush`)
//! and again whenever the stream takes more (flow control, RFC 9000 §4.1).
//! Writes keep to flow control as a stream's writer expects: once the
//! stream has no credit for what the outbox holds, writes wait until it
//! has gone into the stream, so a writer is never more than one outbox
//! ahead of its peer.

use super::stream_box::StreamBox;
use crate::errors::WriteError;
use crate::protocol::{Connection as ProtoConnection, WriteFailure};
use bytes::Bytes;
use std::collections::VecDeque;

use std::task::{Context, Poll, Waker};

/// Most bytes an outbox holds; a write waits while it is full. Together
/// with the stream's own send buffer this bounds what one stream holds.
/// A bulk writer refills it while the actor sends what it took, and each
/// refill ends in one short packet: at 256 KiB that is one packet in 180
/// (at 64 KiB, one in 45 cost 1.6 % more packets and twice the flushes).
pub(crate) const OUTBOX_LIMIT: usize = 256 * 1024;

#[derive(Debug, Default)]
pub(crate) struct OutboxState {
    chunks: VecDeque<Bytes>,
    len: usize,
    /// The actor knows of the outbox: a `Flush` is on its way, or the
    /// actor keeps the outbox until the stream takes more.
    notified: bool,
    /// The stream had no credit for what is here: writes wait until it
    /// all went in.
    blocked: bool,
    /// The handle finished the stream: FIN goes after the last chunk.
    finish: bool,
    /// Writes fail with this from now on.
    error: Option<WriteError>,
    /// The actor is gone without saying why: writes fail with the
    /// connection's error, which the handle knows.
    gone: bool,
    /// A write waiting for room.
    writer: Option<Waker>,
}

impl OutboxState {
    fn fail(&mut self, e: WriteError) {
        self.chunks.clear();
        self.len = 0;
        self.error.get_or_insert(e);
        self.notified = false;
        self.blocked = false;
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }
}

/// Why a write to an outbox failed.
#[derive(Debug)]
pub(crate) enum OutboxError {
    /// The stream or connection failed with this.
    Write(WriteError),
    /// The connection actor is gone.
    Gone,
}

/// What a handle's write or finish left to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pushed {
    /// Bytes taken.
    pub(crate) taken: usize,
    /// The actor must be told (send it `Flush`).
    pub(crate) notify: bool,
}

/// The outbox of one send stream, shared by its handle and the actor.
pub(crate) type Outbox = StreamBox<OutboxState>;

impl StreamBox<OutboxState> {
    fn error_of(s: &OutboxState) -> Option<OutboxError> {
        if let Some(e) = &s.error {
            return Some(OutboxError::Write(e.clone()));
        }
        s.gone.then_some(OutboxError::Gone)
    }

    /// Handle side: takes up to `want` bytes, made by `take(n)` for the
    /// `n` that fit, or waits for room.
    pub(crate) fn poll_write(
        &self,
        cx: &mut Context<'_>,
        want: usize,
        take: impl FnOnce(usize) -> Bytes,
    ) -> Poll<Result<Pushed, OutboxError>> {
        let mut s = self.state();
        if let Some(e) = Self::error_of(&s) {
            return Poll::Ready(Err(e));
        }
        let room = OUTBOX_LIMIT - s.len;
        if want == 0 {
            return Poll::Ready(Ok(Pushed {
                taken: 0,
                notify: false,
            }));
        }
        if room == 0 || s.blocked {
            s.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let chunk = take(want.min(room));
        let taken = chunk.len();
        s.len += taken;
        s.chunks.push_back(chunk);
        let notify = !std::mem::replace(&mut s.notified, true);
        Poll::Ready(Ok(Pushed { taken, notify }))
    }

    /// Handle side: the stream ends after what was written; true when
    /// the actor must be told.
    pub(crate) fn finish(&self) -> bool {
        let mut s = self.state();
        if s.error.is_some() || s.gone {
            return false;
        }
        s.finish = true;
        !std::mem::replace(&mut s.notified, true)
    }

    /// Handle side: the stream is reset; what waits here is dropped.
    pub(crate) fn discard(&self) {
        self.state().fail(WriteError::ClosedStream);
    }

    /// Actor side: moves what the stream takes into it, then the FIN once
    /// everything went; wakes a waiting write when room was made. True
    /// while something is left (the actor keeps the outbox and drains it
    /// again when the stream becomes writable).
    pub(crate) fn drain(&self, conn: &mut ProtoConnection) -> bool {
        let mut s = self.state();
        if let Some(e) = conn.error() {
            s.fail(WriteError::ConnectionLost(e.clone()));
            return false;
        }
        let before = s.len;
        while let Some(front) = s.chunks.front_mut() {
            match conn.write(self.id(), front) {
                Ok(n) => {
                    let done = front.is_empty();
                    s.len -= n;
                    if done {
                        s.chunks.pop_front();
                    }
                }
                Err(WriteFailure::Blocked) => break,
                Err(WriteFailure::Stopped(code)) => {
                    s.fail(WriteError::Stopped(code));
                    return false;
                }
                Err(WriteFailure::Closed) => {
                    s.fail(WriteError::ClosedStream);
                    return false;
                }
            }
        }
        s.blocked = !s.chunks.is_empty();
        if s.len < before && !s.blocked {
            if let Some(w) = s.writer.take() {
                w.wake();
            }
        }
        if s.blocked {
            return true;
        }
        if std::mem::take(&mut s.finish) {
            if let Err(WriteFailure::Stopped(code)) = conn.finish(self.id()) {
                s.fail(WriteError::Stopped(code));
            }
        }
        s.notified = false;
        false
    }

    /// Writes fail from now on.
    pub(crate) fn failed(&self) -> bool {
        let s = self.state();
        s.error.is_some() || s.gone
    }

    /// Actor side: the connection failed with `e`.
    pub(crate) fn fail(&self, e: WriteError) {
        self.state().fail(e);
    }

    /// The actor went away with a `Flush` unhandled.
    pub(crate) fn actor_gone(&self) {
        let mut s = self.state();
        s.gone = true;
        s.chunks.clear();
        s.len = 0;
        if let Some(w) = s.writer.take() {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Dir, StreamId, VarInt};
    use crate::testing::Pair;
    use futures::task::noop_waker_ref;

    fn push(o: &Outbox, data: &[u8]) -> Poll<Result<Pushed, OutboxError>> {
        let mut cx = Context::from_waker(noop_waker_ref());
        o.poll_write(&mut cx, data.len(), |n| Bytes::copy_from_slice(&data[..n]))
    }

    fn read_all(p: &mut Pair, id: StreamId) -> (Vec<u8>, bool) {
        let mut got = Vec::new();
        loop {
            match p.server().read(id, usize::MAX) {
                Ok(Some(b)) => got.extend_from_slice(&b),
                Ok(None) => return (got, true),
                Err(_) => return (got, false),
            }
        }
    }

    #[test]
    fn writes_land_at_once_and_the_first_asks_for_a_flush() {
        let mut p = super::super::waiters::tests::pair(1 << 20);
        let id = p.client.open(Dir::Uni).unwrap();
        let o = Outbox::new(id);
        let Poll::Ready(Ok(first)) = push(&o, b"hello ") else {
            panic!("a write with room is taken at once")
        };
        assert_eq!(
            first,
            Pushed {
                taken: 6,
                notify: true
            }
        );
        let Poll::Ready(Ok(second)) = push(&o, b"world") else {
            panic!()
        };
        // The actor was told already.
        assert!(!second.notify);
        assert!(!o.finish());
        assert!(!o.drain(&mut p.client));
        p.step();
        assert_eq!(read_all(&mut p, id), (b"hello world".to_vec(), true));
        // Drained: the next write tells the actor again.
        let Poll::Ready(Ok(third)) = push(&o, b"x") else {
            panic!()
        };
        assert!(third.notify);
    }

    #[test]
    fn a_full_outbox_waits_and_flow_control_keeps_the_rest() {
        const WINDOW: u64 = 1000;
        let mut p = super::super::waiters::tests::pair(WINDOW);
        let id = p.client.open(Dir::Uni).unwrap();
        let o = Outbox::new(id);
        let big = vec![7u8; OUTBOX_LIMIT + 10];
        let Poll::Ready(Ok(pushed)) = push(&o, &big) else {
            panic!()
        };
        assert_eq!(pushed.taken, OUTBOX_LIMIT);
        assert!(push(&o, b"more").is_pending());
        // The stream takes its window; the rest waits for credit, and so
        // do writes.
        assert!(o.drain(&mut p.client));
        assert!(push(&o, b"more").is_pending());
        p.step();
        let (got, _) = read_all(&mut p, id);
        assert_eq!(got.len() as u64, WINDOW);
    }

    #[test]
    fn a_stop_fails_the_next_write_and_drops_what_waits() {
        let mut p = super::super::waiters::tests::pair(1 << 20);
        let id = p.client.open(Dir::Bi).unwrap();
        p.client.write(id, &mut Bytes::from_static(b"x")).unwrap();
        p.step();
        assert!(p.server().stop(id, VarInt::from_u32(9)));
        p.step();
        let o = Outbox::new(id);
        assert!(matches!(push(&o, b"lost"), Poll::Ready(Ok(_))));
        assert!(!o.drain(&mut p.client));
        assert!(matches!(
            push(&o, b"after"),
            Poll::Ready(Err(OutboxError::Write(WriteError::Stopped(c)))) if c == VarInt::from_u32(9)
        ));
    }

    #[test]
    fn an_actor_gone_fails_writes() {
        let o = Outbox::new(StreamId::new(crate::protocol::Side::Client, Dir::Uni, 0));
        assert!(matches!(push(&o, b"a"), Poll::Ready(Ok(_))));
        o.actor_gone();
        assert!(matches!(
            push(&o, b"b"),
            Poll::Ready(Err(OutboxError::Gone))
        ));
    }
}
