//! The endpoint actor: owns the UDP socket, routes each received datagram
//! to its connection actor by destination CID, starts a connection actor
//! for every accepted Initial, and answers what needs no connection.

use super::connection::ConnectionActor;
use super::reply::{next_live, park, Answer, Reply};
use super::socket::{Received, RecvBatches, Socket};
use crate::messages::internal::{
    ConnectionEndpointEvent, Datagrams, EndpointClose, Rebind, SetSocket,
};
use crate::messages::{
    Accept, CloseEndpoint, Connect, SetDefaultClientConfig, SetServerConfig, WaitIdle,
};
use crate::protocol::VarInt;
use crate::protocol::{
    ClientConfig, ConnectError, ConnectionHandle, DatagramEvent, Endpoint as ProtoEndpoint,
    EndpointConfig, EndpointEvent, ServerConfig,
};
use actix::prelude::*;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Most accepted connections waiting for `accept()`.
const MAX_INCOMING: usize = 1024;

static STABLE_IDS: AtomicUsize = AtomicUsize::new(1);

/// What an endpoint actor shares with its handles, so that `connect`
/// can answer at once: the default client configuration, and whether
/// the endpoint is closing.
#[derive(Debug, Default)]
pub(crate) struct EndpointShared {
    default_client: Mutex<Option<ClientConfig>>,
    stopping: AtomicBool,
}

impl EndpointShared {
    /// The configuration `connect` uses when given none.
    pub(crate) fn default_client(&self) -> Option<ClientConfig> {
        self.default_client.lock().expect("not poisoned").clone()
    }

    /// Sets the configuration `connect` uses.
    pub(crate) fn set_default_client(&self, config: ClientConfig) {
        *self.default_client.lock().expect("not poisoned") = Some(config);
    }

    /// True once the endpoint was told to close.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Marks the endpoint closing: `connect` refuses from now on.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }
}

/// A parked `Accept`.
type ParkedAccept = Reply<Option<Addr<ConnectionActor>>>;

/// Routes datagrams for one UDP socket. Send it the endpoint messages of
/// [`messages`](crate::messages) through
/// [`Endpoint::addr`](crate::Endpoint::addr), or use the
/// [`Endpoint`](crate::Endpoint) handle that wraps them.
pub struct EndpointActor {
    endpoint: ProtoEndpoint,
    socket: Arc<Socket>,
    /// The stream reading `socket`.
    receiving: Option<SpawnHandle>,
    connections: HashMap<ConnectionHandle, Addr<ConnectionActor>>,
    incoming: VecDeque<Addr<ConnectionActor>>,
    accept_waiters: VecDeque<ParkedAccept>,
    idle_waiters: Vec<Reply<()>>,
    shared: Arc<EndpointShared>,
    closed: bool,
}

impl EndpointActor {
    /// An endpoint on `socket` with `config`, accepting connections when
    /// `server` is set.
    pub(crate) fn new(
        socket: Arc<Socket>,
        config: EndpointConfig,
        server: Option<ServerConfig>,
        shared: Arc<EndpointShared>,
    ) -> Self {
        Self {
            // The sans-IO core takes no randomness of its own: its seed comes
            // from the operating system here.
            endpoint: ProtoEndpoint::new(config, server, rand::random()),
            socket,
            receiving: None,
            connections: HashMap::new(),
            incoming: VecDeque::new(),
            accept_waiters: VecDeque::new(),
            idle_waiters: Vec::new(),
            shared,
            closed: false,
        }
    }

    fn start_connection(
        &mut self,
        ctx: &mut Context<Self>,
        h: ConnectionHandle,
        conn: crate::protocol::Connection,
    ) -> Addr<ConnectionActor> {
        let actor = ConnectionActor::new(
            conn,
            h,
            self.socket.clone(),
            ctx.address(),
            STABLE_IDS.fetch_add(1, Ordering::Relaxed),
        );
        let addr = actor.start();
        self.connections.insert(h, addr.clone());
        addr
    }

    fn check_idle(&mut self) {
        if self.connections.is_empty() {
            for w in self.idle_waiters.drain(..) {
                let _ = w.send(());
            }
        }
    }
}

impl Actor for EndpointActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.receiving = Some(ctx.add_stream(RecvBatches::new(self.socket.clone())));
    }
}

impl StreamHandler<Vec<Received>> for EndpointActor {
    fn handle(&mut self, batch: Vec<Received>, ctx: &mut Context<Self>) {
        let now = Instant::now();
        // One message per connection per batch.
        let mut routed: Vec<(ConnectionHandle, Vec<Received>)> = Vec::new();
        for r in batch {
            let addr = r.remote;
            match self.endpoint.handle(now, addr, &r.data) {
                DatagramEvent::Route(h) => match routed.iter_mut().find(|(x, _)| *x == h) {
                    Some((_, v)) => v.push(r),
                    None => routed.push((h, vec![r])),
                },
                DatagramEvent::NewConnection(h, conn) => {
                    let a = self.start_connection(ctx, h, *conn);
                    routed.push((h, vec![r]));
                    // An accept its caller gave up on takes nothing.
                    let a = match next_live(&mut self.accept_waiters) {
                        Some(w) => match w.send(Some(a)) {
                            Ok(()) => continue,
                            Err(a) => a.expect("sent Some"),
                        },
                        None => a,
                    };
                    if self.incoming.len() < MAX_INCOMING {
                        self.incoming.push_back(a);
                    } else {
                        // Nobody accepts: refuse politely.
                        a.do_send(EndpointClose {
                            code: VarInt::from_u32(0),
                            reason: Bytes::from_static(b"server busy"),
                        });
                    }
                }
                DatagramEvent::Respond(bytes) => {
                    let _ = self.socket.try_send(addr, r.local_ip, &bytes, None);
                }
                DatagramEvent::Drop => {}
            }
        }
        for (h, datagrams) in routed {
            if let Some(a) = self.connections.get(&h) {
                // A full mailbox drops the batch, as a full socket would.
                let _ = a.try_send(Datagrams(datagrams));
            }
        }
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {
        tracing::debug!("socket stream ended");
    }
}

impl Handler<ConnectionEndpointEvent> for EndpointActor {
    type Result = ();
    fn handle(&mut self, msg: ConnectionEndpointEvent, _ctx: &mut Context<Self>) {
        let ConnectionEndpointEvent(h, e) = msg;
        let drained = e == EndpointEvent::Drained;
        self.endpoint.handle_event(h, e);
        if drained {
            self.connections.remove(&h);
            self.check_idle();
        }
    }
}

impl Handler<Connect> for EndpointActor {
    type Result = Result<Addr<ConnectionActor>, ConnectError>;
    fn handle(&mut self, msg: Connect, ctx: &mut Context<Self>) -> Self::Result {
        if self.closed {
            return Err(ConnectError::EndpointStopping);
        }
        let config = msg
            .config
            .or_else(|| self.shared.default_client())
            .ok_or(ConnectError::NoDefaultClientConfig)?;
        let (h, conn) =
            self.endpoint
                .connect(Instant::now(), &config, msg.remote, &msg.server_name)?;
        Ok(self.start_connection(ctx, h, conn))
    }
}

impl Handler<Accept> for EndpointActor {
    type Result = Answer<Option<Addr<ConnectionActor>>>;
    fn handle(&mut self, _: Accept, _ctx: &mut Context<Self>) -> Self::Result {
        if let Some(a) = self.incoming.pop_front() {
            return Answer::now(Some(a));
        }
        if self.closed {
            return Answer::now(None);
        }
        let (reply, answer) = park();
        self.accept_waiters.push_back(reply);
        answer
    }
}

impl Handler<CloseEndpoint> for EndpointActor {
    type Result = ();
    fn handle(&mut self, msg: CloseEndpoint, _ctx: &mut Context<Self>) {
        self.closed = true;
        self.shared.stop();
        self.endpoint.reject_new_connections();
        for a in self.connections.values() {
            a.do_send(EndpointClose {
                code: msg.code,
                reason: msg.reason.clone(),
            });
        }
        for w in self.accept_waiters.drain(..) {
            let _ = w.send(None);
        }
        self.incoming.clear();
    }
}

impl Handler<WaitIdle> for EndpointActor {
    type Result = Answer<()>;
    fn handle(&mut self, _: WaitIdle, _ctx: &mut Context<Self>) -> Self::Result {
        if self.connections.is_empty() {
            return Answer::now(());
        }
        let (reply, answer) = park();
        self.idle_waiters.push(reply);
        answer
    }
}

impl Handler<Rebind> for EndpointActor {
    type Result = ();
    fn handle(&mut self, msg: Rebind, ctx: &mut Context<Self>) {
        if let Some(h) = self.receiving.take() {
            ctx.cancel_future(h);
        }
        self.socket = msg.0;
        self.receiving = Some(ctx.add_stream(RecvBatches::new(self.socket.clone())));
        for a in self.connections.values() {
            a.do_send(SetSocket(self.socket.clone()));
        }
    }
}

impl Handler<SetDefaultClientConfig> for EndpointActor {
    type Result = ();
    fn handle(&mut self, msg: SetDefaultClientConfig, _ctx: &mut Context<Self>) {
        self.shared.set_default_client(msg.0);
    }
}

impl Handler<SetServerConfig> for EndpointActor {
    type Result = ();
    fn handle(&mut self, msg: SetServerConfig, _ctx: &mut Context<Self>) {
        self.endpoint.set_server_config(msg.0);
    }
}
