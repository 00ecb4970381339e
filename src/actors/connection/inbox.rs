//! A receive stream's inbox: what the connection actor moved out of the
//! stream for its `RecvStream` handle. The handle asks once (`Pull`);
//! from then on the actor moves data in as it arrives, up to
//! [`INBOX_LIMIT`] bytes, and wakes the reader. A read finds its data
//! here with no message round trip; it sends `Pull` again only after it
//! emptied an inbox the actor had let go of (full, or never asked).
//! Bytes in the inbox count as read for flow control (RFC 9000 §4.1),
//! so the limit bounds how far the peer may run ahead of the reader.

use super::stream_box::StreamBox;
use super::waiters::{map_read, read_many};
use crate::errors::ReadError;
use crate::protocol::{Connection as ProtoConnection, ReadFailure};
use bytes::Bytes;
use std::collections::VecDeque;
use std::task::{Context, Waker};

/// Most bytes an inbox holds; the actor stops filling it there.
pub(crate) const INBOX_LIMIT: usize = 256 * 1024;

#[derive(Debug, Default)]
pub(crate) struct InboxState {
    chunks: VecDeque<Bytes>,
    len: usize,
    /// What follows the chunks: the stream's end, or an error.
    end: Option<Result<(), ReadError>>,
    /// The actor holds the inbox and fills it as data arrives.
    held: bool,
    /// The actor is gone without saying why: reads fail with the
    /// connection's error, which the handle knows.
    gone: bool,
    /// A read waiting for data.
    reader: Option<Waker>,
}

impl InboxState {
    fn wake(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }
}

/// What a read found in the inbox.
#[derive(Debug)]
pub(crate) enum Take {
    /// Data, the end (`None`), or an error.
    Ready(Result<Option<Bytes>, ReadError>),
    /// The actor is gone: the read fails with the connection's error.
    Gone,
    /// Nothing yet; the reader is woken when something comes. `pull`:
    /// the actor does not hold the inbox and must be sent `Pull`.
    Wait { pull: bool },
}

/// What [`Inbox::fill`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filled {
    /// Nothing could be read yet: the actor keeps the inbox.
    Nothing,
    /// Data went in and more may come: the actor keeps the inbox.
    Some,
    /// The stream ended, failed, or the inbox is full: the actor lets go
    /// of it (the reader asks again once it emptied a full one).
    Released,
}

/// The inbox of one receive stream, shared by its handle and the actor.
pub(crate) type Inbox = StreamBox<InboxState>;

impl StreamBox<InboxState> {
    /// Handle side: the next chunk of at most `max` bytes (at least 1).
    /// `stopped`: the handle stopped the stream, so nothing more is
    /// asked of the actor and an empty inbox reads as the end.
    pub(crate) fn take(&self, cx: &mut Context<'_>, max: usize, stopped: bool) -> Take {
        let mut s = self.state();
        if let Some(front) = s.chunks.front_mut() {
            let chunk = if front.len() > max {
                front.split_to(max)
            } else {
                s.chunks.pop_front().expect("front exists")
            };
            s.len -= chunk.len();
            return Take::Ready(Ok(Some(chunk)));
        }
        match &s.end {
            Some(Ok(())) => return Take::Ready(Ok(None)),
            // A reset is reported once; the stream is over after it.
            Some(Err(e @ ReadError::Reset(_))) => {
                let e = e.clone();
                s.end = Some(Ok(()));
                return Take::Ready(Err(e));
            }
            Some(Err(e)) => return Take::Ready(Err(e.clone())),
            None => {}
        }
        if stopped {
            return Take::Ready(Ok(None));
        }
        if s.gone {
            return Take::Gone;
        }
        s.reader = Some(cx.waker().clone());
        let pull = !std::mem::replace(&mut s.held, true);
        Take::Wait { pull }
    }

    /// Actor side: moves what the stream has into the inbox, up to its
    /// limit, and wakes the reader.
    pub(crate) fn fill(&self, conn: &mut ProtoConnection) -> Filled {
        let mut s = self.state();
        let room = INBOX_LIMIT.saturating_sub(s.len);
        if room == 0 || s.end.is_some() {
            s.held = false;
            return Filled::Released;
        }
        let keep = match read_many(conn, self.id(), room) {
            Ok(Some(chunks)) => {
                // An empty chunk would read as the end to `AsyncRead`.
                for c in chunks.data.into_iter().filter(|c| !c.is_empty()) {
                    s.len += c.len();
                    s.chunks.push_back(c);
                }
                if chunks.fin {
                    s.end = Some(Ok(()));
                }
                s.wake();
                !chunks.fin && s.len < INBOX_LIMIT
            }
            Err(ReadFailure::Blocked) => return Filled::Nothing,
            r => {
                s.end = Some(map_read(r).map(|_| ()));
                s.wake();
                false
            }
        };
        s.held = keep;
        if keep {
            Filled::Some
        } else {
            Filled::Released
        }
    }

    /// Actor side: the inbox is let go of (the stream was stopped).
    pub(crate) fn release(&self) {
        self.state().held = false;
    }

    /// Actor side: the connection failed; reads fail with `e` once what
    /// is here was read.
    pub(crate) fn fail(&self, e: ReadError) {
        let mut s = self.state();
        s.held = false;
        s.end.get_or_insert(Err(e));
        s.wake();
    }

    /// The actor went away without handling the `Pull` for this inbox.
    pub(crate) fn actor_gone(&self) {
        let mut s = self.state();
        s.held = false;
        s.gone = true;
        s.wake();
    }

    /// Actor side: true while the actor holds this inbox and it has room
    /// (a `Readable` event must then fill it).
    #[cfg(debug_assertions)]
    pub(crate) fn wants_data(&self) -> bool {
        let s = self.state();
        s.held && s.end.is_none() && s.len < INBOX_LIMIT
    }
}

#[cfg(test)]
mod tests {
    use super::super::waiters::{tests::pair, Waiters};
    use super::*;
    use crate::protocol::{ConnectionError, Dir, StreamId};
    use std::task::Waker;

    fn take(inbox: &Inbox, max: usize) -> Take {
        inbox.take(&mut Context::from_waker(Waker::noop()), max, false)
    }

    /// Reads everything the inbox holds now.
    fn drain(inbox: &Inbox, out: &mut Vec<u8>) -> Take {
        loop {
            match take(inbox, 100_000) {
                Take::Ready(Ok(Some(b))) => out.extend_from_slice(&b),
                other => return other,
            }
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn the_actor_fills_up_to_the_limit_and_the_reader_asks_again_once_it_emptied_it() {
        let mut p = pair(1 << 20);
        let id = p.client.open(Dir::Uni).unwrap();
        let data = pattern(INBOX_LIMIT + 50_000);
        let mut rest = Bytes::from(data.clone());
        p.client.write(id, &mut rest).unwrap();
        assert!(rest.is_empty());
        p.client.finish(id).unwrap();
        // Everything arrives (virtual time).
        p.advance(std::time::Duration::from_secs(2));

        let inbox = Inbox::new(id);
        let mut w = Waiters::default();
        // The first read asks the actor, which fills the inbox to its
        // limit and, full, lets go of it.
        assert!(matches!(take(&inbox, 10), Take::Wait { pull: true }));
        assert!(w.pull(p.server(), inbox.clone()));
        assert!(w.inboxes.is_empty(), "a full inbox is let go of");
        let mut got = Vec::new();
        assert!(matches!(drain(&inbox, &mut got), Take::Wait { pull: true }));
        assert_eq!(got.len(), INBOX_LIMIT);
        // Asked again, the actor moves the rest and the end.
        assert!(w.pull(p.server(), inbox.clone()));
        assert!(w.inboxes.is_empty(), "the stream ended");
        assert!(matches!(drain(&inbox, &mut got), Take::Ready(Ok(None))));
        assert_eq!(got, data);
        assert!(matches!(take(&inbox, 10), Take::Ready(Ok(None))));
    }

    #[test]
    fn a_held_inbox_is_filled_on_readable_and_fails_after_its_data() {
        let mut p = pair(1 << 20);
        let id = p.client.open(Dir::Uni).unwrap();
        p.client.write(id, &mut Bytes::from_static(b"x")).unwrap();
        p.step();
        let inbox = Inbox::new(id);
        let mut w = Waiters::default();
        assert!(matches!(take(&inbox, 10), Take::Wait { pull: true }));
        w.pull(p.server(), inbox.clone());
        assert!(matches!(take(&inbox, 10), Take::Ready(Ok(Some(b))) if &b[..] == b"x"));
        // Held: later data goes in on `Readable`, with no new request.
        assert!(matches!(take(&inbox, 10), Take::Wait { pull: false }));
        p.client.write(id, &mut Bytes::from_static(b"yz")).unwrap();
        p.step();
        w.wake_readers(p.server(), id);
        // The connection fails: the data already moved is read first.
        w.fail_all(&ConnectionError::TimedOut);
        assert!(matches!(take(&inbox, 1), Take::Ready(Ok(Some(b))) if &b[..] == b"y"));
        assert!(matches!(take(&inbox, 10), Take::Ready(Ok(Some(b))) if &b[..] == b"z"));
        for _ in 0..2 {
            assert!(matches!(
                take(&inbox, 10),
                Take::Ready(Err(ReadError::ConnectionLost(ConnectionError::TimedOut)))
            ));
        }
    }

    #[test]
    fn an_inbox_whose_actor_is_gone_says_so_once_empty() {
        let inbox = Inbox::new(StreamId::new(crate::protocol::Side::Client, Dir::Uni, 0));
        assert!(matches!(take(&inbox, 10), Take::Wait { pull: true }));
        inbox.actor_gone();
        assert!(matches!(take(&inbox, 10), Take::Gone));
        // A stopped stream reads as ended.
        assert!(matches!(
            inbox.take(&mut Context::from_waker(Waker::noop()), 10, true),
            Take::Ready(Ok(None))
        ));
    }
}
