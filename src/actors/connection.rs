//! The connection actor: owns one sans-IO [`Connection`](ProtoConnection),
//! one timer, and the operations parked until the connection can answer
//! them. Every handler ends in `ConnectionActor::drive`.

use super::endpoint::{ConnectionEndpointEvent, EndpointActor};
use super::socket::{Received, Socket};
use crate::errors::{
    ClosedStream, ConnectionError, ReadError, SendDatagramError, StoppedError, WriteError,
};
use crate::handles::{Connection, RecvStream, SendStream, Subscription};
use crate::messages::*;
use crate::protocol::CongestionState;
use crate::protocol::ConnectionHandle;
use crate::protocol::Dir;
use crate::protocol::{
    Connection as ProtoConnection, ConnectionStats, EndpointEvent, Event, HandshakeData,
};
use crate::protocol::{ReadFailure, StreamEvent, WriteFailure};
use actix::dev::{MessageResponse, OneshotSender};
use actix::prelude::*;
use bytes::Bytes;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Most transmits per drive before yielding to the mailbox.
const MAX_TRANSMITS_PER_DRIVE: usize = 32;

/// Most UDP payload bytes in one GSO send.
const MAX_GSO_BYTES: usize = 65_000;

/// Mailbox capacity of a connection actor.
const MAILBOX: usize = 1024;

/// What sync getters on the `Connection` handle read.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Peer address.
    pub remote: SocketAddr,
    /// Server: the local IP the client reached.
    pub local_ip: Option<std::net::IpAddr>,
    /// Smoothed RTT.
    pub rtt: Duration,
    /// Statistics.
    pub stats: ConnectionStats,
    /// Congestion controller state.
    pub congestion: CongestionState,
    /// Negotiated handshake data.
    pub handshake_data: Option<HandshakeData>,
    /// The peer's certificates.
    pub peer_certificates: Option<Vec<rustls::pki_types::CertificateDer<'static>>>,
    /// Largest datagram we may send.
    pub max_datagram_size: Option<usize>,
    /// Why the connection closed.
    pub close_reason: Option<ConnectionError>,
}

/// State shared between the actor and its handles.
#[derive(Debug)]
pub struct Shared {
    /// A number unique to this connection in this process.
    pub stable_id: usize,
    /// The latest snapshot.
    pub snapshot: Mutex<Snapshot>,
}

/// Held by every user handle of a connection; when the last is dropped the
/// connection closes with code 0 and an empty reason.
#[derive(Debug)]
pub struct HandleToken {
    addr: Addr<ConnectionActor>,
}

impl Drop for HandleToken {
    fn drop(&mut self) {
        self.addr.do_send(AllHandlesDropped);
    }
}

/// Sent when the last user handle is gone.
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct AllHandlesDropped;

/// Datagrams routed to this connection by the endpoint.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Datagrams(pub Vec<Received>);

/// The endpoint moved to another socket (`Endpoint::rebind`).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SetSocket(pub Arc<Socket>);

/// Closes the connection as part of an endpoint close.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct EndpointClose {
    /// Application error code.
    pub code: u64,
    /// Reason.
    pub reason: Bytes,
}

/// Asks for what a new handle needs: the shared state and a token.
#[derive(Debug, Message)]
#[rtype(result = "Option<(Arc<Shared>, Arc<HandleToken>)>")]
pub struct HandleParts;

/// Where the answer to a parked operation goes: the caller's own actix
/// reply sender, put in place as soon as the handler returns (see
/// [`Answer`]). Holding it, rather than a channel of our own, lets the
/// actor see when the caller stopped waiting: a `read`, `write`, `accept`
/// or `open` future dropped by `select!` or `timeout` must not consume
/// data, send data or take a stream that nobody will receive.
struct Reply<T>(Rc<RefCell<Slot<T>>>);

enum Slot<T> {
    /// The handler has not returned yet.
    Pending,
    /// Answered before the handler returned.
    Ready(T),
    /// The caller's reply sender.
    Caller(OneshotSender<T>),
    /// The answer was handed over.
    Detached,
}

impl<T> Reply<T> {
    /// True once the caller stopped waiting for the answer.
    fn is_canceled(&self) -> bool {
        matches!(&*self.0.borrow(), Slot::Caller(tx) if tx.is_closed())
    }

    /// Answers the caller; gives `value` back if it stopped waiting.
    fn send(self, value: T) -> Result<(), T> {
        let mut slot = self.0.borrow_mut();
        match std::mem::replace(&mut *slot, Slot::Detached) {
            Slot::Caller(tx) => tx.send(value),
            Slot::Pending => {
                *slot = Slot::Ready(value);
                Ok(())
            }
            Slot::Ready(_) | Slot::Detached => Ok(()),
        }
    }
}

/// A parked operation's reply and the [`Answer`] the handler returns.
fn park<T>() -> (Reply<T>, Answer<T>) {
    let slot = Rc::new(RefCell::new(Slot::Pending));
    (Reply(slot.clone()), Answer(Some(Err(slot))))
}

/// The answer to a connection actor message: ready now, or once a parked
/// operation completes.
pub struct Answer<T>(Option<Result<T, Rc<RefCell<Slot<T>>>>>);

impl<T> Answer<T> {
    fn now(value: T) -> Self {
        Self(Some(Ok(value)))
    }
}

impl<M, T> MessageResponse<ConnectionActor, M> for Answer<T>
where
    M: Message<Result = T>,
    T: 'static,
{
    fn handle(mut self, _: &mut Context<ConnectionActor>, tx: Option<OneshotSender<T>>) {
        let (Some(answer), Some(tx)) = (self.0.take(), tx) else {
            // `do_send`: nobody waits; a parked operation still runs.
            return;
        };
        match answer {
            Ok(value) => {
                let _ = tx.send(value);
            }
            Err(slot) => {
                let mut slot = slot.borrow_mut();
                match std::mem::replace(&mut *slot, Slot::Detached) {
                    Slot::Ready(value) => {
                        let _ = tx.send(value);
                    }
                    _ => *slot = Slot::Caller(tx),
                }
            }
        }
    }
}

/// Something parked that may have been abandoned by its caller.
trait Waiting {
    fn is_canceled(&self) -> bool;
}

impl<T> Waiting for Reply<T> {
    fn is_canceled(&self) -> bool {
        Reply::is_canceled(self)
    }
}

impl<X, T> Waiting for (X, Reply<T>) {
    fn is_canceled(&self) -> bool {
        self.1.is_canceled()
    }
}

/// Drops the waiters at the front of `q` whose callers stopped waiting,
/// so they take nothing.
fn prune<W: Waiting>(q: &mut VecDeque<W>) {
    while q.front().is_some_and(W::is_canceled) {
        q.pop_front();
    }
}

/// Prunes a stream's queue, forgetting it once empty.
fn prune_stream<W: Waiting>(map: &mut HashMap<StreamId, VecDeque<W>>, id: StreamId) {
    if let Some(q) = map.get_mut(&id) {
        prune(q);
        if q.is_empty() {
            map.remove(&id);
        }
    }
}

/// A parked `read`: the most bytes wanted and where to reply.
type ParkedRead = (usize, ReadReply);

/// Where a parked read answers: one chunk (`Read`) or several (`ReadChunks`).
enum ReadReply {
    One(Reply<Result<Option<Bytes>, ReadError>>),
    Many(Reply<Result<Option<Vec<Bytes>>, ReadError>>),
}

impl ReadReply {
    fn is_canceled(&self) -> bool {
        match self {
            ReadReply::One(r) => r.is_canceled(),
            ReadReply::Many(r) => r.is_canceled(),
        }
    }

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

impl Waiting for (usize, ReadReply) {
    fn is_canceled(&self) -> bool {
        self.1.is_canceled()
    }
}

/// Reads contiguous chunks of `id` up to `max` bytes in all: one message
/// round trip moves everything that arrived since the last read.
fn read_many(
    conn: &mut ProtoConnection,
    id: StreamId,
    max: usize,
) -> Result<Option<Vec<Bytes>>, ReadFailure> {
    let Some(first) = conn.read(id, max)? else {
        return Ok(None);
    };
    let mut total = first.len();
    let mut out = vec![first];
    // Only more data: the end of the stream or a reset is reported by the
    // next read, once what was taken here has been delivered.
    while total < max && conn.stream_has_data(id) {
        match conn.read(id, max - total) {
            Ok(Some(b)) => {
                total += b.len();
                out.push(b);
            }
            _ => break,
        }
    }
    Ok(Some(out))
}

/// Tries a read of the kind `reply` wants; gives the reply back when
/// nothing can be read yet.
fn try_read(
    conn: &mut ProtoConnection,
    id: StreamId,
    max: usize,
    reply: ReadReply,
) -> Option<ReadReply> {
    match reply {
        ReadReply::One(r) => match conn.read(id, max) {
            Err(ReadFailure::Blocked) => Some(ReadReply::One(r)),
            res => {
                let _ = r.send(map_read(res));
                None
            }
        },
        ReadReply::Many(r) => match read_many(conn, id, max) {
            Err(ReadFailure::Blocked) => Some(ReadReply::Many(r)),
            res => {
                let _ = r.send(map_read(res));
                None
            }
        },
    }
}

/// A parked `write`: the data not yet taken and where to reply.
type ParkedWrite = (Bytes, Reply<Result<usize, WriteError>>);

/// A parked `open_*` or `accept_*`.
type ParkedStream = Reply<Result<StreamId, ConnectionError>>;

/// A parked `stopped`.
type ParkedStopped = Reply<Result<Option<u64>, StoppedError>>;

#[derive(Default)]
struct Waiters {
    open: [VecDeque<ParkedStream>; 2],
    accept: [VecDeque<ParkedStream>; 2],
    readers: HashMap<StreamId, VecDeque<ParkedRead>>,
    writers: HashMap<StreamId, VecDeque<ParkedWrite>>,
    stopped: HashMap<StreamId, Vec<ParkedStopped>>,
    datagrams: VecDeque<Reply<Result<Bytes, ConnectionError>>>,
    connected: Vec<Reply<Result<(), ConnectionError>>>,
    closed: Vec<Reply<ConnectionError>>,
}

/// One QUIC connection as an actor.
pub struct ConnectionActor {
    conn: ProtoConnection,
    handle: ConnectionHandle,
    socket: Arc<Socket>,
    endpoint: Addr<EndpointActor>,
    timer: Option<(Instant, SpawnHandle)>,
    buf: Vec<u8>,
    send_blocked: bool,
    waiters: Waiters,
    shared: Arc<Shared>,
    token: Weak<HandleToken>,
    handles_dropped: bool,
    subscribers: Vec<Subscriber>,
    next_subscription: u64,
    span: tracing::Span,
}

/// An actor subscribed to this connection's events.
struct Subscriber {
    id: u64,
    recipient: Recipient<ConnectionEvent>,
    streams: bool,
    datagrams: bool,
}

fn dir_index(d: Dir) -> usize {
    match d {
        Dir::Bi => 0,
        Dir::Uni => 1,
    }
}

impl ConnectionActor {
    /// Builds the actor state; the endpoint starts it.
    pub fn new(
        conn: ProtoConnection,
        handle: ConnectionHandle,
        socket: Arc<Socket>,
        endpoint: Addr<EndpointActor>,
        stable_id: usize,
    ) -> Self {
        let span = tracing::debug_span!("conn", side = ?conn.side(), scid = %conn.initial_scid());
        let shared = Arc::new(Shared {
            stable_id,
            snapshot: Mutex::new(Self::snapshot_of(&conn)),
        });
        Self {
            conn,
            handle,
            socket,
            endpoint,
            timer: None,
            buf: Vec::new(),
            send_blocked: false,
            waiters: Waiters::default(),
            shared,
            token: Weak::new(),
            handles_dropped: false,
            subscribers: Vec::new(),
            next_subscription: 0,
            span,
        }
    }

    fn snapshot_of(conn: &ProtoConnection) -> Snapshot {
        Snapshot {
            remote: conn.remote_address(),
            local_ip: conn.local_ip(),
            rtt: conn.rtt(),
            stats: conn.stats(),
            congestion: conn.congestion_state(),
            handshake_data: conn.handshake_data(),
            peer_certificates: None,
            max_datagram_size: conn.max_datagram_size(),
            close_reason: conn.error().cloned(),
        }
    }

    /// The shared state and a fresh (or existing) handle token.
    fn handle_parts(&mut self, ctx: &mut Context<Self>) -> Option<(Arc<Shared>, Arc<HandleToken>)> {
        if let Some(t) = self.token.upgrade() {
            return Some((self.shared.clone(), t));
        }
        if self.handles_dropped {
            return None;
        }
        let t = Arc::new(HandleToken {
            addr: ctx.address(),
        });
        self.token = Arc::downgrade(&t);
        Some((self.shared.clone(), t))
    }

    fn lost(&self) -> Option<ConnectionError> {
        self.conn.error().cloned()
    }

    /// Sends what the connection has, re-arms the timer, reports endpoint
    /// events and completes parked operations.
    fn drive(&mut self, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        let now = Instant::now();
        self.flush(ctx, now);
        while let Some(e) = self.conn.poll_endpoint_event() {
            let drained = e == EndpointEvent::Drained;
            self.endpoint
                .do_send(ConnectionEndpointEvent(self.handle, e));
            if drained {
                self.fail_all();
                self.update_snapshot();
                ctx.stop();
                return;
            }
        }
        while let Some(ev) = self.conn.poll_event() {
            self.on_event(ev, ctx);
        }
        self.retry_parked();
        // Completing waiters may have queued more to send.
        self.flush(ctx, now);
        self.arm_timer(ctx);
        self.update_snapshot();
    }

    fn flush(&mut self, ctx: &mut Context<Self>, now: Instant) {
        if self.send_blocked {
            return;
        }
        // One GSO send carries at most 64 KiB of UDP payload: larger
        // batches fail with EMSGSIZE (and quinn-udp reports that as sent).
        let mtu = usize::from(self.conn.stats().mtu).max(1200);
        let segments = self
            .socket
            .max_gso_segments()
            .min(MAX_GSO_BYTES / mtu)
            .max(1);
        for _ in 0..MAX_TRANSMITS_PER_DRIVE {
            let Some(t) = self.conn.poll_transmit(now, segments, &mut self.buf) else {
                // Nothing in flight and nothing to send: an idle
                // connection keeps no send buffer.
                if self.conn.congestion_state().in_flight == 0 {
                    self.buf = Vec::new();
                }
                return;
            };
            match self
                .socket
                .try_send(t.destination, t.src_ip, &self.buf[..t.size], t.segment_size)
            {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // Keep the batch and send it once the socket drains.
                    self.send_blocked = true;
                    let socket = self.socket.clone();
                    let pending = std::mem::take(&mut self.buf);
                    ctx.spawn(
                        async move {
                            loop {
                                if socket.writable().await.is_err() {
                                    return pending;
                                }
                                match socket.try_send(
                                    t.destination,
                                    t.src_ip,
                                    &pending[..t.size],
                                    t.segment_size,
                                ) {
                                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                        continue
                                    }
                                    _ => return pending,
                                }
                            }
                        }
                        .into_actor(self)
                        .map(|buf, act, ctx| {
                            act.buf = buf;
                            act.send_blocked = false;
                            act.drive(ctx);
                        }),
                    );
                    return;
                }
                Err(e) => tracing::debug!(error = %e, "send failed"),
            }
        }
        // More may be ready: continue after the mailbox had a turn.
        ctx.notify(Drive);
    }

    /// Keeps exactly one timer armed no later than the connection's
    /// deadline. A timer that fires early is harmless (`handle_timeout`
    /// only acts on what is due), so a later deadline keeps the armed one
    /// instead of paying for a new timer on every drive.
    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        // While the socket is full, a deadline already past can only ask
        // to send (pacing, a probe): the writable wake-up drives the
        // connection, so no timer spins meanwhile.
        let deadline = self
            .conn
            .poll_timeout()
            .filter(|d| !(self.send_blocked && *d <= Instant::now()));
        match (&self.timer, deadline) {
            (Some((armed, _)), Some(d)) if *armed <= d => return,
            (None, None) => return,
            _ => {}
        }
        if let Some((_, h)) = self.timer.take() {
            ctx.cancel_future(h);
        }
        if let Some(t) = deadline {
            let delay = t.saturating_duration_since(Instant::now());
            let h = ctx.run_later(delay, |act, ctx| {
                act.timer = None;
                act.conn.handle_timeout(Instant::now());
                act.drive(ctx);
            });
            self.timer = Some((t, h));
        }
    }

    fn update_snapshot(&mut self) {
        let mut s = self.shared.snapshot.lock().expect("not poisoned");
        s.remote = self.conn.remote_address();
        s.local_ip = self.conn.local_ip();
        s.rtt = self.conn.rtt();
        s.stats = self.conn.stats();
        s.congestion = self.conn.congestion_state();
        if s.handshake_data.is_none() {
            s.handshake_data = self.conn.handshake_data();
            if s.handshake_data.is_some() {
                s.peer_certificates = self.conn.peer_certificates();
            }
        }
        s.max_datagram_size = self.conn.max_datagram_size();
        if s.close_reason.is_none() {
            s.close_reason = self.conn.error().cloned();
        }
    }

    fn on_event(&mut self, ev: Event, ctx: &mut Context<Self>) {
        match ev {
            Event::Connected => {
                for w in self.waiters.connected.drain(..) {
                    let _ = w.send(Ok(()));
                }
            }
            Event::Stream(StreamEvent::Opened(d)) => self.serve_accept(d, ctx),
            Event::Stream(StreamEvent::Available(d)) => self.serve_open(d),
            Event::Stream(StreamEvent::Stopped(id, code)) => {
                if let Some(ws) = self.waiters.stopped.remove(&id) {
                    for w in ws {
                        let _ = w.send(Ok(Some(code)));
                    }
                }
            }
            Event::Stream(StreamEvent::Finished(id)) => {
                if let Some(ws) = self.waiters.stopped.remove(&id) {
                    for w in ws {
                        let _ = w.send(Ok(None));
                    }
                }
            }
            Event::Stream(StreamEvent::Readable(_) | StreamEvent::Writable(_)) => {}
            Event::DatagramReceived => {
                if self.deliver_datagrams() {
                    return;
                }
                while {
                    prune(&mut self.waiters.datagrams);
                    !self.waiters.datagrams.is_empty()
                } {
                    let Some(d) = self.conn.read_datagram() else {
                        break;
                    };
                    let w = self.waiters.datagrams.pop_front().expect("checked");
                    let _ = w.send(Ok(d));
                }
            }
            Event::ConnectionLost(e) => {
                tracing::debug!(error = %e, "connection lost");
                self.fail_all_with(e);
            }
        }
    }

    /// The newest subscriber taking streams (`streams`) or datagrams.
    fn subscriber_for(&self, streams: bool) -> Option<Recipient<ConnectionEvent>> {
        self.subscribers
            .iter()
            .rev()
            .find(|s| if streams { s.streams } else { s.datagrams })
            .map(|s| s.recipient.clone())
    }

    /// Hands the streams the peer opened to the stream subscriber, as
    /// handles; false when there is none.
    fn deliver_streams(&mut self, d: Dir, ctx: &mut Context<Self>) -> bool {
        let Some(to) = self.subscriber_for(true) else {
            return false;
        };
        while let Some(id) = self.conn.accept(d) {
            let Some((shared, token)) = self.handle_parts(ctx) else {
                return true;
            };
            let conn = Connection::from_parts(ctx.address(), shared, token);
            let recv = RecvStream::new(conn.clone(), id);
            // Streams are never dropped; their number is bounded by the
            // stream limit we grant.
            to.do_send(match d {
                Dir::Bi => ConnectionEvent::IncomingBi(SendStream::new(conn, id), recv),
                Dir::Uni => ConnectionEvent::IncomingUni(recv),
            });
        }
        true
    }

    /// Hands received datagrams to the datagram subscriber; false when
    /// there is none.
    fn deliver_datagrams(&mut self) -> bool {
        let Some(to) = self.subscriber_for(false) else {
            return false;
        };
        while let Some(d) = self.conn.read_datagram() {
            if to.try_send(ConnectionEvent::Datagram(d)).is_err() {
                // Unreliable: a full (or closed) mailbox loses it.
                self.conn.note_datagram_dropped();
            }
        }
        true
    }

    fn serve_accept(&mut self, d: Dir, ctx: &mut Context<Self>) {
        if self.deliver_streams(d, ctx) {
            return;
        }
        let q = &mut self.waiters.accept[dir_index(d)];
        while {
            prune(q);
            !q.is_empty()
        } {
            let Some(id) = self.conn.accept(d) else {
                break;
            };
            let w = q.pop_front().expect("checked");
            let _ = w.send(Ok(id));
        }
    }

    fn serve_open(&mut self, d: Dir) {
        let q = &mut self.waiters.open[dir_index(d)];
        while {
            prune(q);
            !q.is_empty()
        } {
            let Some(id) = self.conn.open(d) else {
                break;
            };
            let w = q.pop_front().expect("checked");
            let _ = w.send(Ok(id));
        }
    }

    /// Completes parked reads and writes that can now progress.
    fn retry_parked(&mut self) {
        if self.conn.error().is_some() {
            return;
        }
        let ids: Vec<StreamId> = self.waiters.readers.keys().copied().collect();
        for id in ids {
            let Some(q) = self.waiters.readers.get_mut(&id) else {
                continue;
            };
            while let Some((max, reply)) = {
                prune(q);
                q.pop_front()
            } {
                if let Some(reply) = try_read(&mut self.conn, id, max, reply) {
                    q.push_front((max, reply));
                    break;
                }
            }
            if q.is_empty() {
                self.waiters.readers.remove(&id);
            }
        }
        let ids: Vec<StreamId> = self.waiters.writers.keys().copied().collect();
        for id in ids {
            let Some(q) = self.waiters.writers.get_mut(&id) else {
                continue;
            };
            while let Some((data, _)) = {
                prune(q);
                q.front_mut()
            } {
                match self.conn.write(id, data) {
                    Err(WriteFailure::Blocked) => break,
                    r => {
                        let (_, w) = q.pop_front().expect("checked");
                        let _ = w.send(map_write(r));
                    }
                }
            }
            if q.is_empty() {
                self.waiters.writers.remove(&id);
            }
        }
    }

    fn fail_all(&mut self) {
        let e = self
            .conn
            .error()
            .cloned()
            .unwrap_or(ConnectionError::LocallyClosed);
        self.fail_all_with(e);
    }

    fn fail_all_with(&mut self, e: ConnectionError) {
        for sub in self.subscribers.drain(..) {
            sub.recipient.do_send(ConnectionEvent::Closed(e.clone()));
        }
        let w = std::mem::take(&mut self.waiters);
        for q in w.open.into_iter().chain(w.accept) {
            for r in q {
                let _ = r.send(Err(e.clone()));
            }
        }
        for (_, q) in w.readers {
            for (_, r) in q {
                r.fail(ReadError::ConnectionLost(e.clone()));
            }
        }
        for (_, q) in w.writers {
            for (_, r) in q {
                let _ = r.send(Err(WriteError::ConnectionLost(e.clone())));
            }
        }
        for (_, q) in w.stopped {
            for r in q {
                let _ = r.send(Err(StoppedError::ConnectionLost(e.clone())));
            }
        }
        for r in w.datagrams {
            let _ = r.send(Err(e.clone()));
        }
        for r in w.connected {
            let _ = r.send(Err(e.clone()));
        }
        for r in w.closed {
            let _ = r.send(e.clone());
        }
    }
}

fn map_read<T>(r: Result<Option<T>, ReadFailure>) -> Result<Option<T>, ReadError> {
    match r {
        Ok(v) => Ok(v),
        Err(ReadFailure::Reset(code)) => Err(ReadError::Reset(code)),
        Err(ReadFailure::Closed) | Err(ReadFailure::Blocked) => Err(ReadError::ClosedStream),
    }
}

fn map_write(r: Result<usize, WriteFailure>) -> Result<usize, WriteError> {
    match r {
        Ok(n) => Ok(n),
        Err(WriteFailure::Stopped(code)) => Err(WriteError::Stopped(code)),
        Err(WriteFailure::Closed) | Err(WriteFailure::Blocked) => Err(WriteError::ClosedStream),
    }
}

/// Asks the actor to send more after yielding.
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct Drive;

impl Actor for ConnectionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
        self.drive(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.fail_all();
        self.endpoint
            .do_send(ConnectionEndpointEvent(self.handle, EndpointEvent::Drained));
    }
}

impl Handler<Drive> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, _: Drive, ctx: &mut Context<Self>) {
        self.drive(ctx);
    }
}

impl Handler<Datagrams> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, msg: Datagrams, ctx: &mut Context<Self>) {
        let now = Instant::now();
        for r in msg.0 {
            self.conn
                .handle_datagram_to(now, r.remote, r.local_ip, r.data);
        }
        self.drive(ctx);
    }
}

impl Handler<Subscribe> for ConnectionActor {
    type Result = Result<Subscription, ConnectionError>;
    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = self.lost() {
            return Err(e);
        }
        let (_, token) = self
            .handle_parts(ctx)
            .ok_or(ConnectionError::LocallyClosed)?;
        let id = self.next_subscription;
        self.next_subscription += 1;
        self.subscribers.push(Subscriber {
            id,
            recipient: msg.recipient,
            streams: msg.streams,
            datagrams: msg.datagrams,
        });
        // What arrived before the subscription goes to it now.
        if msg.streams {
            self.deliver_streams(Dir::Bi, ctx);
            self.deliver_streams(Dir::Uni, ctx);
        }
        if msg.datagrams {
            self.deliver_datagrams();
        }
        Ok(Subscription::new(id, ctx.address(), token))
    }
}

impl Handler<Unsubscribe> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, msg: Unsubscribe, _ctx: &mut Context<Self>) {
        self.subscribers.retain(|s| s.id != msg.0);
    }
}

impl Handler<AllHandlesDropped> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, _: AllHandlesDropped, ctx: &mut Context<Self>) {
        if self.token.upgrade().is_some() {
            // A new handle was made after the last one went away.
            return;
        }
        self.handles_dropped = true;
        self.conn.close(Instant::now(), 0, Bytes::new());
        self.drive(ctx);
    }
}

impl Handler<SetSocket> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, msg: SetSocket, ctx: &mut Context<Self>) {
        self.socket = msg.0;
        self.conn.local_address_changed();
        self.drive(ctx);
    }
}

impl Handler<EndpointClose> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, msg: EndpointClose, ctx: &mut Context<Self>) {
        self.conn.close(Instant::now(), msg.code, msg.reason);
        self.drive(ctx);
    }
}

impl Handler<HandleParts> for ConnectionActor {
    type Result = Option<(Arc<Shared>, Arc<HandleToken>)>;
    fn handle(&mut self, _: HandleParts, ctx: &mut Context<Self>) -> Self::Result {
        self.handle_parts(ctx)
    }
}

impl Handler<OpenBi> for ConnectionActor {
    type Result = Answer<Result<StreamId, ConnectionError>>;
    fn handle(&mut self, _: OpenBi, ctx: &mut Context<Self>) -> Self::Result {
        self.open(Dir::Bi, ctx)
    }
}

impl Handler<OpenUni> for ConnectionActor {
    type Result = Answer<Result<StreamId, ConnectionError>>;
    fn handle(&mut self, _: OpenUni, ctx: &mut Context<Self>) -> Self::Result {
        self.open(Dir::Uni, ctx)
    }
}

impl ConnectionActor {
    fn open(
        &mut self,
        d: Dir,
        ctx: &mut Context<Self>,
    ) -> Answer<Result<StreamId, ConnectionError>> {
        if let Some(e) = self.lost() {
            return Answer::now(Err(e));
        }
        prune(&mut self.waiters.open[dir_index(d)]);
        if self.waiters.open[dir_index(d)].is_empty() {
            if let Some(id) = self.conn.open(d) {
                self.drive(ctx);
                return Answer::now(Ok(id));
            }
        }
        let (tx, answer) = park();
        self.waiters.open[dir_index(d)].push_back(tx);
        answer
    }

    fn accept(
        &mut self,
        d: Dir,
        ctx: &mut Context<Self>,
    ) -> Answer<Result<StreamId, ConnectionError>> {
        prune(&mut self.waiters.accept[dir_index(d)]);
        if self.waiters.accept[dir_index(d)].is_empty() {
            if let Some(id) = self.conn.accept(d) {
                self.drive(ctx);
                return Answer::now(Ok(id));
            }
        }
        if let Some(e) = self.lost() {
            return Answer::now(Err(e));
        }
        let (tx, answer) = park();
        self.waiters.accept[dir_index(d)].push_back(tx);
        answer
    }
}

impl Handler<AcceptBi> for ConnectionActor {
    type Result = Answer<Result<StreamId, ConnectionError>>;
    fn handle(&mut self, _: AcceptBi, ctx: &mut Context<Self>) -> Self::Result {
        self.accept(Dir::Bi, ctx)
    }
}

impl Handler<AcceptUni> for ConnectionActor {
    type Result = Answer<Result<StreamId, ConnectionError>>;
    fn handle(&mut self, _: AcceptUni, ctx: &mut Context<Self>) -> Self::Result {
        self.accept(Dir::Uni, ctx)
    }
}

impl Handler<Close> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, msg: Close, ctx: &mut Context<Self>) {
        self.conn.close(Instant::now(), msg.code, msg.reason);
        self.drive(ctx);
    }
}

impl Handler<Write> for ConnectionActor {
    type Result = Answer<Result<usize, WriteError>>;
    fn handle(&mut self, mut msg: Write, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = self.lost() {
            return Answer::now(Err(WriteError::ConnectionLost(e)));
        }
        prune_stream(&mut self.waiters.writers, msg.stream);
        if !self.waiters.writers.contains_key(&msg.stream) {
            match self.conn.write(msg.stream, &mut msg.data) {
                Err(WriteFailure::Blocked) => {}
                r => {
                    self.drive(ctx);
                    return Answer::now(map_write(r));
                }
            }
        }
        // Parked until flow control lets some of `data` in; the reply says
        // how much was taken.
        let (tx, answer) = park();
        self.waiters
            .writers
            .entry(msg.stream)
            .or_default()
            .push_back((msg.data, tx));
        answer
    }
}

impl Handler<Finish> for ConnectionActor {
    type Result = Result<(), ClosedStream>;
    fn handle(&mut self, msg: Finish, ctx: &mut Context<Self>) -> Self::Result {
        let r = self.conn.finish(msg.stream).map_err(|_| ClosedStream);
        self.drive(ctx);
        r
    }
}

impl Handler<Reset> for ConnectionActor {
    type Result = Result<(), ClosedStream>;
    fn handle(&mut self, msg: Reset, ctx: &mut Context<Self>) -> Self::Result {
        let ok = self.conn.reset(msg.stream, msg.code);
        if let Some(q) = self.waiters.writers.remove(&msg.stream) {
            for (_, w) in q {
                let _ = w.send(Err(WriteError::ClosedStream));
            }
        }
        self.drive(ctx);
        if ok {
            Ok(())
        } else {
            Err(ClosedStream)
        }
    }
}

impl Handler<Stopped> for ConnectionActor {
    type Result = Answer<Result<Option<u64>, StoppedError>>;
    fn handle(&mut self, msg: Stopped, _ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = self.lost() {
            return Answer::now(Err(StoppedError::ConnectionLost(e)));
        }
        match self.conn.send_status(msg.stream) {
            Some((stopped, done)) => {
                if let Some(code) = stopped {
                    return Answer::now(Ok(Some(code)));
                }
                if done {
                    return Answer::now(Ok(None));
                }
            }
            // Forgotten: everything was acknowledged.
            None => return Answer::now(Ok(None)),
        }
        let (tx, answer) = park();
        self.waiters.stopped.entry(msg.stream).or_default().push(tx);
        answer
    }
}

impl ConnectionActor {
    /// Reads now, or parks the read until data, FIN or a reset arrives.
    fn read<T>(
        &mut self,
        ctx: &mut Context<Self>,
        stream: StreamId,
        max: usize,
        wrap: impl FnOnce(Reply<Result<Option<T>, ReadError>>) -> ReadReply,
        read: impl FnOnce(&mut ProtoConnection) -> Result<Option<T>, ReadFailure>,
    ) -> Answer<Result<Option<T>, ReadError>> {
        prune_stream(&mut self.waiters.readers, stream);
        if !self.waiters.readers.contains_key(&stream) {
            match read(&mut self.conn) {
                Err(ReadFailure::Blocked) => {}
                r => {
                    // Reading may have opened flow-control credit.
                    self.drive(ctx);
                    return Answer::now(map_read(r));
                }
            }
        }
        if let Some(e) = self.lost() {
            return Answer::now(Err(ReadError::ConnectionLost(e)));
        }
        let (tx, answer) = park();
        self.waiters
            .readers
            .entry(stream)
            .or_default()
            .push_back((max, wrap(tx)));
        answer
    }
}

impl Handler<Read> for ConnectionActor {
    type Result = Answer<Result<Option<Bytes>, ReadError>>;
    fn handle(&mut self, msg: Read, ctx: &mut Context<Self>) -> Self::Result {
        let max = msg.max.max(1);
        self.read(ctx, msg.stream, max, ReadReply::One, |c| {
            c.read(msg.stream, max)
        })
    }
}

impl Handler<ReadChunks> for ConnectionActor {
    type Result = Answer<Result<Option<Vec<Bytes>>, ReadError>>;
    fn handle(&mut self, msg: ReadChunks, ctx: &mut Context<Self>) -> Self::Result {
        let max = msg.max.max(1);
        self.read(ctx, msg.stream, max, ReadReply::Many, |c| {
            read_many(c, msg.stream, max)
        })
    }
}

impl Handler<Stop> for ConnectionActor {
    type Result = Result<(), ClosedStream>;
    fn handle(&mut self, msg: Stop, ctx: &mut Context<Self>) -> Self::Result {
        let ok = self.conn.stop(msg.stream, msg.code);
        if let Some(q) = self.waiters.readers.remove(&msg.stream) {
            for (_, w) in q {
                w.fail(ReadError::ClosedStream);
            }
        }
        self.drive(ctx);
        if ok {
            Ok(())
        } else {
            Err(ClosedStream)
        }
    }
}

impl Handler<SendDatagram> for ConnectionActor {
    type Result = Result<(), SendDatagramError>;
    fn handle(&mut self, msg: SendDatagram, ctx: &mut Context<Self>) -> Self::Result {
        let r = self.conn.send_datagram(msg.0);
        self.drive(ctx);
        r
    }
}

impl Handler<ReadDatagram> for ConnectionActor {
    type Result = Answer<Result<Bytes, ConnectionError>>;
    fn handle(&mut self, _: ReadDatagram, _ctx: &mut Context<Self>) -> Self::Result {
        prune(&mut self.waiters.datagrams);
        if self.waiters.datagrams.is_empty() {
            if let Some(d) = self.conn.read_datagram() {
                return Answer::now(Ok(d));
            }
        }
        if let Some(e) = self.lost() {
            return Answer::now(Err(e));
        }
        let (tx, answer) = park();
        self.waiters.datagrams.push_back(tx);
        answer
    }
}

impl Handler<SetMaxConcurrentStreams> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, msg: SetMaxConcurrentStreams, ctx: &mut Context<Self>) {
        self.conn.set_max_concurrent_streams(msg.dir, msg.count);
        self.drive(ctx);
    }
}

impl Handler<ForceKeyUpdate> for ConnectionActor {
    type Result = bool;
    fn handle(&mut self, _: ForceKeyUpdate, ctx: &mut Context<Self>) -> bool {
        let started = self.conn.force_key_update();
        self.drive(ctx);
        started
    }
}

impl Handler<Stats> for ConnectionActor {
    type Result = MessageResult<Stats>;
    fn handle(&mut self, _: Stats, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.conn.stats())
    }
}

impl Handler<WaitConnected> for ConnectionActor {
    type Result = Answer<Result<(), ConnectionError>>;
    fn handle(&mut self, _: WaitConnected, _ctx: &mut Context<Self>) -> Self::Result {
        if self.conn.is_handshake_complete() {
            return Answer::now(Ok(()));
        }
        if let Some(e) = self.lost() {
            return Answer::now(Err(e));
        }
        let (tx, answer) = park();
        self.waiters.connected.push(tx);
        answer
    }
}

impl Handler<ZeroRttStatus> for ConnectionActor {
    type Result = MessageResult<ZeroRttStatus>;
    fn handle(&mut self, _: ZeroRttStatus, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.conn.zero_rtt_state())
    }
}

impl Handler<WaitClosed> for ConnectionActor {
    type Result = Answer<ConnectionError>;
    fn handle(&mut self, _: WaitClosed, _ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = self.lost() {
            return Answer::now(e);
        }
        let (tx, answer) = park();
        self.waiters.closed.push(tx);
        answer
    }
}

impl Handler<ExportKeyingMaterial> for ConnectionActor {
    type Result = Result<Vec<u8>, ExportKeyingMaterialError>;
    fn handle(&mut self, msg: ExportKeyingMaterial, _ctx: &mut Context<Self>) -> Self::Result {
        let mut out = vec![0u8; msg.len];
        self.conn
            .export_keying_material(&mut out, &msg.label, &msg.context)
            .map_err(|_| ExportKeyingMaterialError)?;
        Ok(out)
    }
}
