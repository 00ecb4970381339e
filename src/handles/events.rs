//! What a subscribed actor receives ([`ConnectionEvent`]), and the sink
//! through which the connection actor delivers it: the actor hands over
//! stream IDs, this layer makes them stream handles.

use super::connection::Connection;
use super::streams::{RecvStream, SendStream};
use crate::actors::{ConnectionParts, EventSink};
use crate::messages::Subscribe;
use crate::protocol::{ConnectionError, Dir, StreamId};
use actix::{Message, Recipient};
use bytes::Bytes;

/// What a subscribed actor receives from a connection (see
/// [`Subscribe`]), in the order things happened.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub enum ConnectionEvent {
    /// The peer opened a bidirectional stream.
    IncomingBi(SendStream, RecvStream),
    /// The peer opened a unidirectional stream.
    IncomingUni(RecvStream),
    /// A datagram (RFC 9221) arrived.
    Datagram(Bytes),
    /// The connection closed, and why. Always the last event.
    Closed(ConnectionError),
}

/// Delivers a subscription's events to an actor.
pub(super) struct RecipientSink(Recipient<ConnectionEvent>);

impl EventSink for RecipientSink {
    fn incoming(&self, parts: ConnectionParts, dir: Dir, id: StreamId) {
        let conn = Connection::from_parts(parts);
        let recv = RecvStream::new(conn.clone(), id);
        self.0.do_send(match dir {
            Dir::Bi => ConnectionEvent::IncomingBi(SendStream::new(conn, id), recv),
            Dir::Uni => ConnectionEvent::IncomingUni(recv),
        });
    }

    fn datagram(&self, data: Bytes) -> bool {
        self.0.try_send(ConnectionEvent::Datagram(data)).is_ok()
    }

    fn closed(&self, error: ConnectionError) {
        self.0.do_send(ConnectionEvent::Closed(error));
    }
}

impl Subscribe {
    /// Subscribes `recipient` to incoming streams, datagrams and the close.
    pub fn new(recipient: Recipient<ConnectionEvent>) -> Self {
        Self::to(recipient, true, true)
    }

    /// Subscribes `recipient` to incoming streams (`streams`) and/or
    /// datagrams (`datagrams`); the close is always delivered.
    pub fn to(recipient: Recipient<ConnectionEvent>, streams: bool, datagrams: bool) -> Self {
        Self {
            sink: Box::new(RecipientSink(recipient)),
            streams,
            datagrams,
        }
    }
}
