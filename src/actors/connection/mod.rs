//! The connection actor: owns one sans-IO
//! [`Connection`](crate::protocol::Connection), one timer, and the
//! operations parked until the connection can answer them. Every handler
//! ends in [`ConnectionActor::drive`], the loop in this file.
//!
//! - `handlers.rs`: one handler per message.
//! - `waiters.rs`: parked operations, woken by the event naming them.
//! - `events.rs`: subscribers to the connection's events.
//! - `io.rs`: transmits to the socket, GSO batches, a full socket.
//! - `shared.rs`: what handles share with the actor.
//! - `outbox.rs`: what a `SendStream` wrote, waiting to enter its stream.
//! - `inbox.rs`: what arrived on a stream, waiting for its `RecvStream`.
//! - `stream_box.rs`: the lock both share with their handle.

mod events;
mod handlers;
mod inbox;
mod io;
mod outbox;
mod shared;
mod stream_box;
mod waiters;

pub(crate) use events::EventSink;
pub(crate) use inbox::{Inbox, Take};
pub(crate) use outbox::{Outbox, OutboxError};
pub use shared::Subscription;
pub(crate) use shared::{ConnectionParts, HandleToken, PendingActor, Shared, Snapshot};

use super::endpoint::EndpointActor;
use super::reply::prune;
use super::socket::Socket;
use crate::messages::internal::ConnectionEndpointEvent;
use crate::protocol::{
    Connection as ProtoConnection, ConnectionError, ConnectionHandle, EndpointEvent, Event,
    StreamEvent,
};
use actix::prelude::*;
use events::Subscribers;
use std::sync::{Arc, Weak};
use std::time::Instant;
use waiters::Waiters;

/// Mailbox capacity of a connection actor.
const MAILBOX: usize = 1024;

/// One QUIC connection as an actor. Send it the messages of
/// [`messages`](crate::messages) through
/// [`Connection::addr`](crate::Connection::addr), or use the
/// [`Connection`](crate::Connection) handle that wraps them.
pub struct ConnectionActor {
    conn: ProtoConnection,
    handle: ConnectionHandle,
    socket: Arc<Socket>,
    endpoint: Arc<Addr<EndpointActor>>,
    timer: Option<(Instant, SpawnHandle)>,
    send_blocked: bool,
    waiters: Waiters,
    shared: Arc<Shared>,
    token: Weak<HandleToken>,
    handles_dropped: bool,
    /// The handles' snapshot shows the connection as it is: no state a
    /// snapshot reads changed since it was last refreshed.
    snapshot_fresh: bool,
    subscribers: Subscribers,
    span: tracing::Span,
}

impl ConnectionActor {
    /// Builds the actor state; the endpoint starts it.
    pub(crate) fn new(
        conn: ProtoConnection,
        handle: ConnectionHandle,
        socket: Arc<Socket>,
        endpoint: Arc<Addr<EndpointActor>>,
    ) -> Self {
        let span = tracing::debug_span!("conn", side = ?conn.side(), scid = %conn.initial_scid());
        let shared = Shared::of(&conn);
        Self {
            conn,
            handle,
            socket,
            endpoint,
            timer: None,
            send_blocked: false,
            waiters: Waiters::default(),
            shared,
            token: Weak::new(),
            handles_dropped: false,
            snapshot_fresh: false,
            subscribers: Subscribers::default(),
            span,
        }
    }

    /// What a new handle needs, with the existing (or a fresh) token;
    /// `None` once every earlier handle was dropped.
    fn handle_parts(&mut self, ctx: &mut Context<Self>) -> Option<ConnectionParts> {
        let token = match self.token.upgrade() {
            Some(t) => t,
            None if self.handles_dropped => return None,
            None => {
                let t = Arc::new(HandleToken::new(ctx.address()));
                self.token = Arc::downgrade(&t);
                t
            }
        };
        Some(ConnectionParts {
            shared: self.shared.clone(),
            token,
        })
    }

    fn lost(&self) -> Option<ConnectionError> {
        self.conn.error().cloned()
    }

    /// Sends what the connection has, reports endpoint events, wakes the
    /// parked operations its events name, re-arms the timer and refreshes
    /// the handles' snapshot.
    fn drive(&mut self, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        let now = Instant::now();
        // Whatever led here (a datagram, a timer, a handle's call) may
        // have changed what the snapshot shows.
        self.snapshot_fresh = false;
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
        // The snapshot is fresh before any waiter wakes: a handle on
        // another thread (a worker's connection, a task elsewhere) reads
        // it as soon as its wait completes, e.g. `close_reason()` after
        // `closed()`, or `stats()` after a read.
        while let Some(ev) = self.conn.poll_event() {
            if !self.snapshot_fresh {
                self.update_snapshot();
            }
            self.on_event(ev, ctx);
        }
        // Completing waiters may have queued more to send.
        self.flush(ctx, now);
        self.arm_timer(ctx);
        // Waking waiters (reads, writes, opens, accepts) changes nothing a
        // snapshot shows, and each batch sent refreshed it: only a drive
        // that did neither refreshes it here.
        if !self.snapshot_fresh {
            self.update_snapshot();
        }
        #[cfg(debug_assertions)]
        {
            let subscribed = self.subscribers.takes_streams();
            self.waiters
                .assert_no_missed_wake_up(&self.conn, &self.shared, subscribed);
        }
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

    pub(super) fn update_snapshot(&mut self) {
        self.snapshot_fresh = true;
        self.shared.snapshot().update(&self.conn);
        self.shared.publish_limits(&self.conn);
    }

    /// Wakes exactly what `ev` names.
    fn on_event(&mut self, ev: Event, ctx: &mut Context<Self>) {
        let w = &mut self.waiters;
        match ev {
            Event::HandshakeDataReady => {
                if let Some(data) = self.conn.handshake_data() {
                    for r in w.handshake_data.drain(..) {
                        let _ = r.send(Ok(data.clone()));
                    }
                }
            }
            Event::Connected => {
                for r in w.connected.drain(..) {
                    let _ = r.send(Ok(()));
                }
            }
            Event::Stream(StreamEvent::Opened(d)) => {
                if !self.deliver_streams(d, ctx) {
                    let conn = &mut self.conn;
                    Waiters::wake_streams(&mut self.waiters.accept[d.index()], || conn.accept(d));
                }
            }
            Event::Stream(StreamEvent::Available(d)) => {
                let (conn, shared) = (&mut self.conn, &self.shared);
                Waiters::wake_streams(&mut w.open[d.index()], || open_next(conn, shared, d));
            }
            Event::Stream(StreamEvent::Readable(id)) => w.wake_readers(&mut self.conn, id),
            Event::Stream(StreamEvent::Writable(id)) => w.wake_writers(&mut self.conn, id),
            Event::Stream(StreamEvent::Stopped(id, code)) => {
                // Writes fail with the code; `stopped()` returns it.
                w.wake_writers(&mut self.conn, id);
                w.wake_stopped(id, Some(code));
            }
            Event::Stream(StreamEvent::Finished(id)) => w.wake_stopped(id, None),
            Event::DatagramReceived => {
                if !self.deliver_datagrams() {
                    let q = &mut self.waiters.datagrams;
                    while {
                        prune(q);
                        !q.is_empty()
                    } {
                        let Some(d) = self.conn.read_datagram() else {
                            break;
                        };
                        let r = q.pop_front().expect("checked");
                        let _ = r.send(Ok(d));
                    }
                }
            }
            Event::ConnectionLost(e) => {
                tracing::debug!(error = %e, "connection lost");
                self.fail_all_with(e);
            }
        }
    }

    fn fail_all(&mut self) {
        let e = self.lost().unwrap_or(ConnectionError::LocallyClosed);
        self.fail_all_with(e);
    }

    fn fail_all_with(&mut self, e: ConnectionError) {
        self.subscribers.close(&e);
        std::mem::take(&mut self.waiters).fail_all(&e);
    }
}

/// Opens our next stream of `d`, its ID taken where handles take theirs
/// (`Shared::take_stream`), if the peer's limit allows.
pub(super) fn open_next(
    conn: &mut ProtoConnection,
    shared: &Shared,
    d: crate::protocol::Dir,
) -> Option<crate::protocol::StreamId> {
    shared.publish_limits(conn);
    let id = shared.take_stream(d)?;
    conn.open_at(id).then_some(id)
}

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
