//! Operations parked until the connection can answer them, each woken by
//! the event that names it: a read by `Readable(id)`, a write by
//! `Writable(id)` or `Stopped(id)`, an `open_*` by `Available(dir)`, an
//! `accept_*` by `Opened(dir)`, `stopped()` by `Stopped` or `Finished`,
//! and a `RecvStream`'s inbox filled by `Readable(id)`. Nothing is
//! retried on events about other streams.

use super::inbox::{Filled, Inbox};
use super::outbox::Outbox;
use crate::actors::reply::{next_live, prune, Reply, Waiting};
use crate::errors::{ReadError, StoppedError, WriteError, Written};
use crate::messages::Chunks;
use crate::protocol::{
    Connection as ProtoConnection, ConnectionError, HandshakeData, ReadFailure, StreamId, VarInt,
    WriteFailure,
};
use bytes::Bytes;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::sync::{Arc, Weak};

/// Where a parked read answers: one chunk (`Read`) or several (`ReadChunks`).
pub(super) enum ReadReply {
    One(Reply<Result<Option<Bytes>, ReadError>>),
    Many(Reply<Result<Option<Chunks>, ReadError>>),
}

impl ReadReply {
    fn fail(self, e: ReadError) {
        match self {
            ReadReply::One(r) => {
                let _ = r.send(Err(e));
            }
            ReadReply::Many(r) => {
                let _ = r.send(Err(e));
            }
        }
    }
}

/// A parked `read`: the most bytes wanted and where to reply.
pub(super) struct ParkedRead {
    pub(super) max: usize,
    pub(super) reply: ReadReply,
}

impl Waiting for ParkedRead {
    fn is_canceled(&self) -> bool {
        match &self.reply {
            ReadReply::One(r) => r.is_canceled(),
            ReadReply::Many(r) => r.is_canceled(),
        }
    }
}

/// A parked write: the data not yet taken and where to reply.
pub(super) enum ParkedWrite {
    /// `Write`: one chunk, answered with the bytes taken.
    One(Bytes, Reply<Result<usize, WriteError>>),
    /// `WriteChunks`: several, answered with what was taken of them.
    Many(Vec<Bytes>, Reply<Result<Written, WriteError>>),
}

impl ParkedWrite {
    fn fail(self, e: WriteError) {
        match self {
            ParkedWrite::One(_, r) => {
                let _ = r.send(Err(e));
            }
            ParkedWrite::Many(_, r) => {
                let _ = r.send(Err(e));
            }
        }
    }

    /// Writes what flow control takes; gives the write back when it
    /// took nothing.
    fn try_write(self, conn: &mut ProtoConnection, id: StreamId) -> Option<Self> {
        match self {
            ParkedWrite::One(mut data, r) => match conn.write(id, &mut data) {
                Err(WriteFailure::Blocked) => Some(ParkedWrite::One(data, r)),
                res => {
                    let _ = r.send(map_write(res));
                    None
                }
            },
            ParkedWrite::Many(mut data, r) => match write_chunks(conn, id, &mut data) {
                Err(WriteFailure::Blocked) => Some(ParkedWrite::Many(data, r)),
                res => {
                    let _ = r.send(map_write(res));
                    None
                }
            },
        }
    }
}

impl Waiting for ParkedWrite {
    fn is_canceled(&self) -> bool {
        match self {
            ParkedWrite::One(_, r) => r.is_canceled(),
            ParkedWrite::Many(_, r) => r.is_canceled(),
        }
    }
}

/// Writes `chunks` in order while flow control takes them (RFC 9000
/// §4.1); `Blocked` only when it took nothing. An error after some data
/// was taken reports what was taken: the next write sees the error.
pub(super) fn write_chunks(
    conn: &mut ProtoConnection,
    id: StreamId,
    chunks: &mut [Bytes],
) -> Result<Written, WriteFailure> {
    let mut written = Written::default();
    for chunk in chunks.iter_mut() {
        if !chunk.is_empty() {
            match conn.write(id, chunk) {
                Ok(n) => written.bytes += n,
                Err(e) if written.bytes == 0 => return Err(e),
                Err(_) => break,
            }
        }
        if !chunk.is_empty() {
            break;
        }
        written.chunks += 1;
    }
    Ok(written)
}

/// A parked `open_*` or `accept_*`.
pub(super) type ParkedStream = Reply<Result<StreamId, ConnectionError>>;

/// A parked `stopped`.
pub(super) type ParkedStopped = Reply<Result<Option<VarInt>, StoppedError>>;

/// Every parked operation of one connection.
#[derive(Default)]
pub(super) struct Waiters {
    pub(super) open: [VecDeque<ParkedStream>; 2],
    pub(super) accept: [VecDeque<ParkedStream>; 2],
    pub(super) readers: FxHashMap<StreamId, VecDeque<ParkedRead>>,
    /// Inboxes of `RecvStream` handles, filled as their streams get data.
    pub(super) inboxes: FxHashMap<StreamId, Arc<Inbox>>,
    pub(super) writers: FxHashMap<StreamId, VecDeque<ParkedWrite>>,
    /// Outboxes of `SendStream` handles with data the stream has no
    /// credit for yet.
    pub(super) outboxes: FxHashMap<StreamId, Arc<Outbox>>,
    /// Every outbox the actor was told of, while its stream may still
    /// fail a write (a peer's STOP_SENDING fails the next one).
    pub(super) known_outboxes: FxHashMap<StreamId, Weak<Outbox>>,
    pub(super) stopped: FxHashMap<StreamId, Vec<ParkedStopped>>,
    pub(super) datagrams: VecDeque<Reply<Result<Bytes, ConnectionError>>>,
    pub(super) connected: Vec<Reply<Result<(), ConnectionError>>>,
    pub(super) handshake_data: Vec<Reply<Result<HandshakeData, ConnectionError>>>,
    pub(super) closed: Vec<Reply<ConnectionError>>,
}

/// Reads contiguous chunks of `id` up to `max` bytes in all: one message
/// round trip moves everything that arrived since the last read.
pub(super) fn read_many(
    conn: &mut ProtoConnection,
    id: StreamId,
    max: usize,
) -> Result<Option<Chunks>, ReadFailure> {
    let Some(first) = conn.read(id, max)? else {
        return Ok(None);
    };
    let mut total = first.len();
    let mut data = vec![first];
    // Only more data: a reset is reported by the next read, once what
    // was taken here has been delivered.
    while total < max && conn.stream_has_data(id) {
        match conn.read(id, max - total) {
            Ok(Some(b)) => {
                total += b.len();
                data.push(b);
            }
            _ => break,
        }
    }
    // The end right after the data goes with it: the reader needs no
    // second round trip to learn it (and a request/response server can
    // send its answer and FIN in one packet).
    let fin = conn.stream_at_end(id) && matches!(conn.read(id, 0), Ok(None));
    Ok(Some(Chunks { data, fin }))
}

/// Tries a parked read; gives it back when nothing can be read yet.
fn try_read(conn: &mut ProtoConnection, id: StreamId, read: ParkedRead) -> Option<ParkedRead> {
    let ParkedRead { max, reply } = read;
    match reply {
        ReadReply::One(r) => match conn.read(id, max) {
            Err(ReadFailure::Blocked) => Some(ParkedRead {
                max,
                reply: ReadReply::One(r),
            }),
            res => {
                let _ = r.send(map_read(res));
                None
            }
        },
        ReadReply::Many(r) => match read_many(conn, id, max) {
            Err(ReadFailure::Blocked) => Some(ParkedRead {
                max,
                reply: ReadReply::Many(r),
            }),
            res => {
                let _ = r.send(map_read(res));
                None
            }
        },
    }
}

/// The user-facing error of a stream read.
pub(super) fn map_read<T>(r: Result<Option<T>, ReadFailure>) -> Result<Option<T>, ReadError> {
    match r {
        Ok(v) => Ok(v),
        Err(ReadFailure::Reset(code)) => Err(ReadError::Reset(code)),
        Err(ReadFailure::Closed) | Err(ReadFailure::Blocked) => Err(ReadError::ClosedStream),
    }
}

/// The user-facing error of a stream write.
pub(super) fn map_write<T>(r: Result<T, WriteFailure>) -> Result<T, WriteError> {
    match r {
        Ok(n) => Ok(n),
        Err(WriteFailure::Stopped(code)) => Err(WriteError::Stopped(code)),
        Err(WriteFailure::Closed) | Err(WriteFailure::Blocked) => Err(WriteError::ClosedStream),
    }
}

/// Drops the front of a stream's queue whose callers stopped waiting,
/// forgetting the queue once empty; true when a live waiter is left.
pub(super) fn prune_stream<W: Waiting>(
    map: &mut FxHashMap<StreamId, VecDeque<W>>,
    id: StreamId,
) -> bool {
    let Some(q) = map.get_mut(&id) else {
        return false;
    };
    prune(q);
    if q.is_empty() {
        map.remove(&id);
        return false;
    }
    true
}

impl Waiters {
    /// `Readable(id)`: serves the reads parked on `id`, in order, while
    /// data (or the end, or a reset) is there.
    pub(super) fn wake_readers(&mut self, conn: &mut ProtoConnection, id: StreamId) {
        if let Some(inbox) = self.inboxes.get(&id) {
            if inbox.fill(conn) == Filled::Released {
                self.inboxes.remove(&id);
            }
        }
        let Some(q) = self.readers.get_mut(&id) else {
            return;
        };
        while let Some(read) = next_live(q) {
            if let Some(read) = try_read(conn, id, read) {
                q.push_front(read);
                break;
            }
        }
        if q.is_empty() {
            self.readers.remove(&id);
        }
    }

    /// `Writable(id)` or `Stopped(id)`: serves the writes parked on `id`,
    /// in order, while flow control takes data (or the stream fails them).
    pub(super) fn wake_writers(&mut self, conn: &mut ProtoConnection, id: StreamId) {
        if let Some(outbox) = self.outboxes.get(&id) {
            if !outbox.drain(conn) {
                if outbox.failed() {
                    self.known_outboxes.remove(&id);
                }
                self.outboxes.remove(&id);
            }
        }
        let Some(q) = self.writers.get_mut(&id) else {
            return;
        };
        while let Some(write) = next_live(q) {
            if let Some(write) = write.try_write(conn, id) {
                q.push_front(write);
                break;
            }
        }
        if q.is_empty() {
            self.writers.remove(&id);
        }
    }

    /// `Stopped(id)` or `Finished(id)`: answers every `stopped()` on `id`;
    /// after a STOP_SENDING the stream's handle fails its next write.
    pub(super) fn wake_stopped(&mut self, id: StreamId, code: Option<VarInt>) {
        if let Some(outbox) = self.known_outboxes.remove(&id) {
            if let (Some(outbox), Some(code)) = (outbox.upgrade(), code) {
                outbox.fail(WriteError::Stopped(code));
            }
        }
        for w in self.stopped.remove(&id).into_iter().flatten() {
            let _ = w.send(Ok(code));
        }
    }

    /// `Available(dir)` or `Opened(dir)`: hands streams from `next` to
    /// the queue's waiters, in order, while it yields some.
    pub(super) fn wake_streams(
        q: &mut VecDeque<ParkedStream>,
        mut next: impl FnMut() -> Option<StreamId>,
    ) {
        while {
            prune(q);
            !q.is_empty()
        } {
            let Some(id) = next() else {
                break;
            };
            let w = q.pop_front().expect("checked");
            let _ = w.send(Ok(id));
        }
    }

    /// Checks, once a drive has handled every event, that no parked read,
    /// open or accept could be answered now: each would be a lost
    /// wake-up (a state change without the event that names it), and the
    /// caller waits forever. Debug builds only (tests); `streams` says
    /// whether accepted streams go to a subscriber instead.
    #[cfg(debug_assertions)]
    pub(super) fn assert_no_missed_wake_up(
        &mut self,
        conn: &ProtoConnection,
        shared: &super::Shared,
        subscribed: bool,
    ) {
        if conn.error().is_some() {
            return;
        }
        for (id, q) in &mut self.readers {
            prune(q);
            assert!(
                q.is_empty() || !conn.read_ready(*id),
                "lost wake-up: a read parked on {id:?}, which can be read"
            );
        }
        for (id, inbox) in &self.inboxes {
            assert!(
                !inbox.wants_data() || !conn.read_ready(*id),
                "lost wake-up: the inbox of {id:?} waits, and the stream can be read"
            );
        }
        for dir in [crate::protocol::Dir::Bi, crate::protocol::Dir::Uni] {
            let i = dir.index();
            prune(&mut self.open[i]);
            assert!(
                self.open[i].is_empty() || !shared.stream_credit_left(conn, dir),
                "lost wake-up: an open_{dir:?} parked with stream credit left"
            );
            prune(&mut self.accept[i]);
            assert!(
                self.accept[i].is_empty() || subscribed || !conn.has_incoming(dir),
                "lost wake-up: an accept_{dir:?} parked with a stream waiting"
            );
        }
    }

    /// A `RecvStream` asks for its inbox to be filled: fills it now, and
    /// keeps it while more may come. True when something was read (which
    /// may have opened flow-control credit).
    pub(super) fn pull(&mut self, conn: &mut ProtoConnection, inbox: Arc<Inbox>) -> bool {
        let filled = inbox.fill(conn);
        if filled != Filled::Released {
            if let Some(e) = conn.error() {
                inbox.fail(ReadError::ConnectionLost(e.clone()));
                return false;
            }
            self.inboxes.insert(inbox.id(), inbox);
        }
        filled != Filled::Nothing
    }

    /// Fails every parked read of `id` (the stream was stopped locally).
    pub(super) fn fail_readers(&mut self, id: StreamId, e: ReadError) {
        if let Some(inbox) = self.inboxes.remove(&id) {
            inbox.release();
        }
        for r in self.readers.remove(&id).into_iter().flatten() {
            r.reply.fail(e.clone());
        }
    }

    /// Entries of the per-stream tables.
    #[cfg(feature = "test-hooks")]
    pub(super) fn stream_entries(&self) -> usize {
        self.stream_entries_now()
    }

    /// Entries of the per-stream tables.
    #[cfg(any(test, feature = "test-hooks"))]
    fn stream_entries_now(&self) -> usize {
        self.readers.len()
            + self.inboxes.len()
            + self.writers.len()
            + self.stopped.len()
            + self.outboxes.len()
            + self.known_outboxes.len()
    }

    /// Drains `outbox` into its stream, keeping it while the stream has
    /// no credit for all of it.
    pub(super) fn flush(&mut self, conn: &mut ProtoConnection, outbox: Arc<Outbox>) {
        let keep = outbox.drain(conn);
        // A stream that failed (stopped, reset, closed) has no event to
        // come that would forget its outbox: forget it now.
        if outbox.failed() {
            self.known_outboxes.remove(&outbox.id());
            return;
        }
        self.known_outboxes
            .entry(outbox.id())
            .or_insert_with(|| Arc::downgrade(&outbox));
        if keep {
            self.outboxes.insert(outbox.id(), outbox);
        }
    }

    /// Fails every parked write of `id` (the stream was reset locally).
    pub(super) fn fail_writers(&mut self, id: StreamId, e: WriteError) {
        self.known_outboxes.remove(&id);
        if let Some(outbox) = self.outboxes.remove(&id) {
            outbox.fail(e.clone());
        }
        for w in self.writers.remove(&id).into_iter().flatten() {
            w.fail(e.clone());
        }
    }

    /// Fails every parked operation with the connection's error.
    pub(super) fn fail_all(self, e: &ConnectionError) {
        for q in self.open.into_iter().chain(self.accept) {
            for r in q {
                let _ = r.send(Err(e.clone()));
            }
        }
        for (_, q) in self.readers {
            for r in q {
                r.reply.fail(ReadError::ConnectionLost(e.clone()));
            }
        }
        for (_, inbox) in self.inboxes {
            inbox.fail(ReadError::ConnectionLost(e.clone()));
        }
        for (_, q) in self.writers {
            for w in q {
                w.fail(WriteError::ConnectionLost(e.clone()));
            }
        }
        for (_, outbox) in self.outboxes {
            outbox.fail(WriteError::ConnectionLost(e.clone()));
        }
        for (_, q) in self.stopped {
            for r in q {
                let _ = r.send(Err(StoppedError::ConnectionLost(e.clone())));
            }
        }
        for r in self.datagrams {
            let _ = r.send(Err(e.clone()));
        }
        for r in self.connected {
            let _ = r.send(Err(e.clone()));
        }
        for r in self.handshake_data {
            let _ = r.send(Err(e.clone()));
        }
        for r in self.closed {
            let _ = r.send(e.clone());
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::actors::reply::park;
    use crate::protocol::{ClientConfig, Dir, ServerConfig, TransportConfig};
    use crate::testing::{Link, Pair};
    use std::sync::Arc;

    /// A connected pair; the server's streams get `window` bytes of
    /// credit each.
    pub(in crate::actors::connection) fn pair(window: u64) -> Pair {
        let provider = Arc::new(crate::protocol::backend::default_provider());
        let (mut client, mut server) = crate::protocol::backend::test_tls(provider);
        server.alpn_protocols = vec![b"w".to_vec()];
        client.alpn_protocols = vec![b"w".to_vec()];
        let mut server = ServerConfig::with_crypto(Arc::new(server)).unwrap();
        server.transport = Arc::new({
            let mut config = TransportConfig::default();
            config.stream_receive_window(VarInt::from_u64(window).unwrap());
            config
        });
        let mut p = Pair::new(
            ClientConfig::new(Arc::new(client)).unwrap(),
            server,
            "localhost",
            Link::default(),
        );
        assert!(p.handshake_and_settle());
        p
    }

    /// Parks a one-chunk read of `id`.
    fn park_read(
        w: &mut Waiters,
        id: StreamId,
    ) -> crate::actors::reply::Answer<Result<Option<Bytes>, ReadError>> {
        let (reply, answer) = park();
        w.readers.entry(id).or_default().push_back(ParkedRead {
            max: 1024,
            reply: ReadReply::One(reply),
        });
        answer
    }

    #[test]
    fn a_parked_read_wakes_on_its_own_stream_only() {
        let mut p = pair(1 << 20);
        let a = p.client.open(Dir::Uni).unwrap();
        let b = p.client.open(Dir::Uni).unwrap();
        // The server knows `b` and has read all of it so far.
        p.client.write(b, &mut Bytes::from_static(b"b")).unwrap();
        p.step();
        assert_eq!(p.server().read(b, 16), Ok(Some(Bytes::from_static(b"b"))));
        let mut w = Waiters::default();
        let mut on_a = park_read(&mut w, a);
        let mut on_b = park_read(&mut w, b);

        p.client
            .write(a, &mut Bytes::from_static(b"for a"))
            .unwrap();
        p.step();
        // `Readable(b)` leaves the read of `a` parked, and `b` has nothing.
        w.wake_readers(p.server(), b);
        assert!(on_a.take_ready().is_none());
        assert!(on_b.take_ready().is_none());
        assert_eq!(w.readers.len(), 2);
        // `Readable(a)` answers it with the data.
        w.wake_readers(p.server(), a);
        assert_eq!(
            on_a.take_ready(),
            Some(Ok(Some(Bytes::from_static(b"for a"))))
        );
        assert!(on_b.take_ready().is_none());
        assert!(!w.readers.contains_key(&a), "an empty queue is forgotten");
    }

    #[test]
    fn parked_reads_are_served_in_order_and_the_rest_stay() {
        let mut p = pair(1 << 20);
        let a = p.client.open(Dir::Uni).unwrap();
        let mut w = Waiters::default();
        let mut first = park_read(&mut w, a);
        let mut second = park_read(&mut w, a);
        p.client.write(a, &mut Bytes::from_static(b"one")).unwrap();
        p.step();
        w.wake_readers(p.server(), a);
        assert_eq!(
            first.take_ready(),
            Some(Ok(Some(Bytes::from_static(b"one"))))
        );
        assert!(second.take_ready().is_none(), "nothing left for the second");
        p.client.finish(a).unwrap();
        p.step();
        w.wake_readers(p.server(), a);
        assert_eq!(second.take_ready(), Some(Ok(None)), "the end of the stream");
    }

    #[test]
    fn a_parked_write_takes_credit_when_its_stream_is_writable() {
        const WINDOW: u64 = 4096;
        let mut p = pair(WINDOW);
        let s = p.client.open(Dir::Uni).unwrap();
        let data = Bytes::from(vec![7u8; WINDOW as usize]);
        assert_eq!(p.client.write(s, &mut data.clone()), Ok(WINDOW as usize));
        assert_eq!(
            p.client.write(s, &mut data.clone()),
            Err(WriteFailure::Blocked)
        );
        let mut w = Waiters::default();
        let (reply, mut answer) = park();
        w.writers
            .entry(s)
            .or_default()
            .push_back(ParkedWrite::One(data.clone(), reply));
        // Still blocked: the write stays parked.
        w.wake_writers(&mut p.client, s);
        assert!(answer.take_ready().is_none());
        // The server reads, its MAX_STREAM_DATA arrives, the write goes.
        p.step();
        let mut got = 0;
        while let Ok(Some(b)) = p.server().read(s, usize::MAX) {
            got += b.len();
        }
        assert_eq!(got, WINDOW as usize);
        p.step();
        w.wake_writers(&mut p.client, s);
        assert!(matches!(answer.take_ready(), Some(Ok(n)) if n > 0));
        assert!(w.writers.is_empty());
    }

    #[test]
    fn write_chunks_takes_whole_chunks_in_order_up_to_the_credit() {
        let mut p = pair(4096);
        let s = p.client.open(Dir::Uni).unwrap();
        let mut chunks = vec![
            Bytes::from(vec![1u8; 1000]),
            Bytes::new(),
            Bytes::from(vec![2u8; 5000]),
            Bytes::from(vec![3u8; 10]),
        ];
        let w = write_chunks(&mut p.client, s, &mut chunks).unwrap();
        assert_eq!(
            w,
            Written {
                bytes: 4096,
                chunks: 2
            }
        );
        assert!(chunks[0].is_empty());
        assert_eq!(chunks[2].len(), 5000 - 3096, "advanced past what was taken");
        assert_eq!(chunks[3].len(), 10, "untouched");
        assert_eq!(
            write_chunks(&mut p.client, s, &mut chunks),
            Err(WriteFailure::Blocked),
            "no credit left: nothing taken"
        );
    }

    /// An outbox first flushed after the peer stopped its stream fails,
    /// and nothing about it is kept (no event would come to forget it);
    /// one on a live stream is remembered until its stream ends.
    #[test]
    fn outboxes_of_stopped_streams_are_not_kept() {
        let mut p = pair(1 << 20);
        let stopped = p.client.open(Dir::Bi).unwrap();
        p.client
            .write(stopped, &mut Bytes::from_static(b"x"))
            .unwrap();
        p.step();
        assert!(p.server().stop(stopped, VarInt::from_u32(7)));
        p.step();
        let mut w = Waiters::default();
        let late = Outbox::new(stopped);
        let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
        let _ = late.poll_write(&mut cx, 4, |_| Bytes::from_static(b"late"));
        w.flush(&mut p.client, late.clone());
        assert!(late.failed());
        assert_eq!(w.stream_entries_now(), 0);

        let live = p.client.open(Dir::Uni).unwrap();
        let outbox = Outbox::new(live);
        let _ = outbox.poll_write(&mut cx, 4, |_| Bytes::from_static(b"live"));
        w.flush(&mut p.client, outbox);
        assert_eq!(w.known_outboxes.len(), 1);
        w.wake_stopped(live, None);
        assert_eq!(w.stream_entries_now(), 0);
    }

    /// `read_many` brings the end of the stream with the data before it,
    /// so the reader learns both in one round trip; without a FIN yet,
    /// it says so.
    #[test]
    fn read_many_brings_the_fin_with_the_last_data() {
        let mut p = pair(1 << 20);
        let open = p.client.open(Dir::Uni).unwrap();
        let done = p.client.open(Dir::Uni).unwrap();
        p.client
            .write(open, &mut Bytes::from_static(b"more"))
            .unwrap();
        p.client
            .write(done, &mut Bytes::from_static(b"last"))
            .unwrap();
        p.client.finish(done).unwrap();
        p.step();
        let got = read_many(p.server(), open, 1024).unwrap().unwrap();
        assert_eq!((got.data.concat(), got.fin), (b"more".to_vec(), false));
        let got = read_many(p.server(), done, 1024).unwrap().unwrap();
        assert_eq!((got.data.concat(), got.fin), (b"last".to_vec(), true));
        // The stream is done: nothing is left of its receiving part.
        assert!(!p.server().stream_at_end(done));
    }
}
