//! Subscribers to a connection's events (`messages::Subscribe`): incoming
//! streams, datagrams and the close, delivered in order to actors instead
//! of to parked `accept_*` / `read_datagram` calls.
//!
//! The actor knows nothing of stream handles: it hands stream IDs to an
//! [`EventSink`], which the handle layer implements to send the
//! subscriber its `ConnectionEvent`s.

use super::{ConnectionActor, ConnectionParts};
use crate::protocol::{ConnectionError, Dir, StreamId};
use actix::Context;
use bytes::Bytes;

/// Where a subscription's events go.
pub(crate) trait EventSink: Send {
    /// The peer opened stream `id` in direction `dir`; `parts` make its
    /// handles.
    fn incoming(&self, parts: ConnectionParts, dir: Dir, id: StreamId);
    /// A datagram arrived; false when it could not be delivered (a full
    /// mailbox).
    fn datagram(&self, data: Bytes) -> bool;
    /// The connection closed, and why: always the last event.
    fn closed(&self, error: ConnectionError);
}

/// An actor subscribed to this connection's events.
struct Subscriber {
    id: u64,
    sink: Box<dyn EventSink>,
    streams: bool,
    datagrams: bool,
}

/// The subscribers of one connection, newest last.
#[derive(Default)]
pub(super) struct Subscribers {
    list: Vec<Subscriber>,
    next_id: u64,
}

impl Subscribers {
    /// Adds a subscriber; returns its ID.
    pub(super) fn add(&mut self, sink: Box<dyn EventSink>, streams: bool, datagrams: bool) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.list.push(Subscriber {
            id,
            sink,
            streams,
            datagrams,
        });
        id
    }

    /// Ends subscription `id`.
    pub(super) fn remove(&mut self, id: u64) {
        self.list.retain(|s| s.id != id);
    }

    /// The newest subscriber taking streams (`streams`) or datagrams.
    fn newest(&self, streams: bool) -> Option<&dyn EventSink> {
        self.list
            .iter()
            .rev()
            .find(|s| if streams { s.streams } else { s.datagrams })
            .map(|s| s.sink.as_ref())
    }

    /// True when incoming streams go to a subscriber.
    #[cfg(debug_assertions)]
    pub(super) fn takes_streams(&self) -> bool {
        self.newest(true).is_some()
    }

    /// Tells every subscriber the connection closed, and forgets them.
    pub(super) fn close(&mut self, error: &ConnectionError) {
        for s in self.list.drain(..) {
            s.sink.closed(error.clone());
        }
    }
}

impl ConnectionActor {
    /// Hands the streams the peer opened in `dir` to the stream
    /// subscriber; false when there is none.
    pub(super) fn deliver_streams(&mut self, dir: Dir, ctx: &mut Context<Self>) -> bool {
        if self.subscribers.newest(true).is_none() {
            return false;
        }
        while let Some(id) = self.conn.accept(dir) {
            let Some(parts) = self.handle_parts(ctx) else {
                return true;
            };
            // Streams are never dropped; their number is bounded by the
            // stream limit we grant.
            if let Some(sink) = self.subscribers.newest(true) {
                sink.incoming(parts, dir, id);
            }
        }
        true
    }

    /// Hands received datagrams to the datagram subscriber; false when
    /// there is none.
    pub(super) fn deliver_datagrams(&mut self) -> bool {
        let Some(sink) = self.subscribers.newest(false) else {
            return false;
        };
        while let Some(d) = self.conn.read_datagram() {
            if !sink.datagram(d) {
                // Unreliable: a full (or closed) mailbox loses it.
                self.conn.note_datagram_dropped();
            }
        }
        true
    }
}
