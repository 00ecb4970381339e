//! Messages between the actors of this crate, and from handles to the
//! actors they keep alive: not for users.

use crate::actors::{ConnectionParts, Inbox, Outbox, PendingActor, Received, Socket};
use crate::protocol::VarInt;
use crate::protocol::{
    Connection as ProtoConnection, ConnectionHandle, EndpointEvent, Incoming, ServerConfig,
};
use actix::Message;
use bytes::Bytes;
use std::sync::Arc;

/// Datagrams the endpoint routed to a connection, from one receive batch.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Datagrams(pub(crate) Vec<Received>);

/// `Connection::force_key_update`: starts a key update whether or not
/// anyone waits for the answer (a dropped `send` would cancel it).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct StartKeyUpdate(pub(crate) futures::channel::oneshot::Sender<bool>);

/// The endpoint moved to another socket (`Endpoint::rebind`).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct SetSocket(pub(crate) Arc<Socket>);

/// Closes a connection as part of an endpoint close.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct EndpointClose {
    /// Application error code.
    pub(crate) code: VarInt,
    /// Reason.
    pub(crate) reason: Bytes,
}

/// Asks a connection for what a new handle is made of; `None` once it
/// is gone or every earlier handle was dropped.
#[derive(Debug, Message)]
#[rtype(result = "Option<ConnectionParts>")]
pub(crate) struct HandleParts;

/// Sent when the last user handle of a connection is gone.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct AllHandlesDropped;

/// Asks a connection actor to send more after it yielded to its mailbox.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Drive;

/// A connection's endpoint event, forwarded by its actor to the endpoint.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct ConnectionEndpointEvent(pub(crate) ConnectionHandle, pub(crate) EndpointEvent);

/// Moves an endpoint to another UDP socket; its connections follow
/// (clients migrate, RFC 9000 §9).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Rebind(pub(crate) Arc<Socket>);

/// A client connection made by the `Endpoint` handle's `connect`, for
/// the endpoint actor to route and start as `actor`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct StartClient {
    /// The connection, its first flight ready.
    pub(crate) conn: Box<ProtoConnection>,
    /// The actor its handles already address.
    pub(crate) actor: PendingActor,
}

/// `Incoming::accept` from the handle: accept the attempt and start its
/// connection as `actor`, or fail `actor` with the reason.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct AcceptInto {
    /// The attempt.
    pub(crate) incoming: Incoming,
    /// The configuration, if not the endpoint's.
    pub(crate) config: Option<ServerConfig>,
    /// The actor its handles already address.
    pub(crate) actor: PendingActor,
}

/// A `SendStream` wrote to its outbox (or finished it) while the actor
/// did not know: drain it into the stream. If the actor is gone before
/// handling it, the outbox learns so and its writes fail.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Flush(pub(crate) Option<Arc<Outbox>>);

impl Drop for Flush {
    fn drop(&mut self) {
        if let Some(outbox) = self.0.take() {
            outbox.actor_gone();
        }
    }
}

/// A `RecvStream` found its inbox empty while the actor did not hold
/// it: fill it as data arrives. If the actor is gone before handling it,
/// the inbox learns so and its reads fail.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Pull(pub(crate) Option<Arc<Inbox>>);

impl Drop for Pull {
    fn drop(&mut self) {
        if let Some(inbox) = self.0.take() {
            inbox.actor_gone();
        }
    }
}

/// A handle took stream `0` (`Connection::open_bi`/`open_uni` while the
/// peer's limit allowed): open it, and any of ours below it.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct OpenAt(pub(crate) crate::protocol::StreamId);

/// Datagrams another worker of the same server endpoint received for
/// this worker's connections (their clients moved to an address the
/// kernel hashes to that worker).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct ForwardedDatagrams(pub(crate) Vec<Received>);

/// A connection attempt another worker holds, for the first worker's
/// `accept()` queue (it was accepted by the policy, if any).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct OfferIncoming(pub(crate) Incoming);
