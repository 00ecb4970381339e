//! The endpoint actor: owns the UDP socket, routes each received datagram
//! to its connection actor by destination CID, offers each new client's
//! attempt (`Incoming`) to a policy actor and to `accept()`, starts a
//! connection actor for every accepted one, and answers what needs no
//! connection.

use super::connection::{ConnectionActor, PendingActor};
use super::reply::{next_live, park, Answer, Reply};
use super::socket::{Received, RecvBatches, Socket};
use crate::messages::internal::{
    AcceptInto, ConnectionEndpointEvent, Datagrams, EndpointClose, ForwardedDatagrams,
    OfferIncoming, Rebind, SetSocket, StartClient,
};
use crate::messages::{
    Accept, AcceptIncoming, CloseEndpoint, Connect, IgnoreIncoming, IncomingDecision, NewIncoming,
    RefuseIncoming, RetryIncoming, SetDefaultClientConfig, SetIncomingPolicy, SetServerConfig,
    WaitIdle,
};
use crate::protocol::{
    ClientConfig, ClientFactory, ConnectError, ConnectionError, ConnectionHandle, ConnectionId,
    DatagramEvent, Endpoint as ProtoEndpoint, EndpointConfig, EndpointEvent, EndpointStats,
    Incoming, RetryError, ServerConfig,
};
use actix::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// What an endpoint's actors (one per worker) share with its handles,
/// so that `connect` can answer at once: the default client
/// configuration, and whether the endpoint is closing.
#[derive(Debug)]
pub(crate) struct EndpointShared {
    default_client: Mutex<Option<ClientConfig>>,
    stopping: AtomicBool,
    /// Makes client connections on the caller's thread; set by the
    /// endpoint actor.
    clients: Mutex<Option<ClientFactory>>,
    /// Connections each worker's actor holds (handshaking, open, closing
    /// or draining).
    open: Box<[AtomicUsize]>,
    /// Each worker's protocol endpoint statistics, as of the actor's last
    /// turn.
    stats: Mutex<Vec<EndpointStats>>,
}

impl Default for EndpointShared {
    fn default() -> Self {
        Self::new(1)
    }
}

impl EndpointShared {
    /// The shared state of an endpoint of `workers` workers.
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            default_client: Mutex::new(None),
            stopping: AtomicBool::new(false),
            clients: Mutex::new(None),
            open: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            stats: Mutex::new(vec![EndpointStats::default(); workers]),
        }
    }

    /// The configuration `connect` uses when given none.
    pub(crate) fn default_client(&self) -> Option<ClientConfig> {
        self.default_client.lock().expect("not poisoned").clone()
    }

    /// Sets the configuration `connect` uses.
    pub(crate) fn set_default_client(&self, config: ClientConfig) {
        *self.default_client.lock().expect("not poisoned") = Some(config);
    }

    /// What the endpoint did with connection attempts.
    pub(crate) fn stats(&self) -> EndpointStats {
        let per_worker = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let mut total = EndpointStats::default();
        for s in per_worker.iter() {
            total.add(s);
        }
        total
    }

    /// Connections each worker holds now.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn open_per_worker(&self) -> Vec<usize> {
        self.open
            .iter()
            .map(|o| o.load(Ordering::Acquire))
            .collect()
    }

    /// Connections the endpoint holds now, in all its workers.
    pub(crate) fn open_connections(&self) -> usize {
        self.open.iter().map(|o| o.load(Ordering::Acquire)).sum()
    }

    /// True once the endpoint was told to close.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// A client connection, made on the caller's thread for the endpoint
    /// actor to route (`StartClient`).
    pub(crate) fn new_client(
        &self,
        config: &ClientConfig,
        remote: SocketAddr,
        server_name: &str,
    ) -> Result<crate::protocol::Connection, ConnectError> {
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
            .ok_or(ConnectError::EndpointStopping)?
            .connect(Instant::now(), config, remote, server_name)
    }

    /// Marks the endpoint closing: `connect` refuses from now on.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }
}

/// A parked `Accept`.
type ParkedAccept = Reply<Option<Incoming>>;

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
    /// This actor's address as its connections hold it: one, shared
    /// while any of them lives (each `Addr` costs an allocation).
    for_connections: std::sync::Weak<Addr<EndpointActor>>,
    /// Connection attempts waiting for `accept()` (as many as the
    /// server's `max_incoming` allows).
    incoming: VecDeque<Incoming>,
    /// Decides on each attempt before it waits for `accept()`.
    policy: Option<Recipient<NewIncoming>>,
    accept_waiters: VecDeque<ParkedAccept>,
    idle_waiters: Vec<Reply<()>>,
    shared: Arc<EndpointShared>,
    closed: bool,
    /// This actor's index among the workers of its endpoint; the first
    /// (0) also holds the `accept()` queue and makes client connections.
    worker: usize,
    /// Every worker's actor, by index, once all have started.
    workers: Arc<OnceLock<Vec<Addr<EndpointActor>>>>,
}

impl EndpointActor {
    /// An endpoint on `socket` with `config`, accepting connections when
    /// `server` is set.
    pub(crate) fn new(
        socket: Arc<Socket>,
        config: EndpointConfig,
        server: Option<ServerConfig>,
        shared: Arc<EndpointShared>,
        worker: usize,
        workers: Arc<OnceLock<Vec<Addr<EndpointActor>>>>,
    ) -> Self {
        // The sans-IO core takes no randomness of its own: its seed comes
        // from the operating system here.
        let mut endpoint = ProtoEndpoint::new(config, server, rand::random());
        if worker == 0 {
            *shared.clients.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(endpoint.client_factory());
        }
        Self {
            endpoint,
            socket,
            receiving: None,
            connections: HashMap::new(),
            for_connections: std::sync::Weak::new(),
            incoming: VecDeque::new(),
            policy: None,
            accept_waiters: VecDeque::new(),
            idle_waiters: Vec::new(),
            shared,
            closed: false,
            worker,
            workers,
        }
    }

    /// Worker `i`'s actor, once all have started.
    fn worker_actor(&self, i: usize) -> Option<&Addr<EndpointActor>> {
        self.workers.get().and_then(|w| w.get(i))
    }

    /// The actor of the other worker holding `incoming`, if another does.
    fn owner_elsewhere(&self, incoming: &Incoming) -> Option<Addr<EndpointActor>> {
        if incoming.worker() == self.worker {
            return None;
        }
        self.worker_actor(incoming.worker()).cloned()
    }

    /// The other workers' actors (none for a worker but the first, which
    /// passes on what the handles tell it).
    fn others(&self) -> impl Iterator<Item = &Addr<EndpointActor>> {
        let first = self.worker == 0;
        self.workers
            .get()
            .into_iter()
            .flatten()
            .skip(1)
            .filter(move |_| first)
    }

    /// Publishes how many connections this worker holds.
    fn publish_open(&self) {
        self.shared.open[self.worker].store(self.connections.len(), Ordering::Release);
    }

    fn start_connection(
        &mut self,
        ctx: &mut Context<Self>,
        h: ConnectionHandle,
        conn: crate::protocol::Connection,
        pending: Option<PendingActor>,
    ) -> Addr<ConnectionActor> {
        let endpoint = self.for_connections.upgrade().unwrap_or_else(|| {
            let addr = Arc::new(ctx.address());
            self.for_connections = Arc::downgrade(&addr);
            addr
        });
        let actor = ConnectionActor::new(conn, h, self.socket.clone(), endpoint);
        let addr = match pending {
            Some(p) => p.start(actor),
            None => actor.start(),
        };
        self.publish_stats();
        self.connections.insert(h, addr.clone());
        self.publish_open();
        addr
    }

    /// Accepts `incoming` (with `config` in place of the server's), or
    /// answers the client why not.
    fn accept(
        &mut self,
        incoming: Incoming,
        config: Option<ServerConfig>,
    ) -> Result<(ConnectionHandle, crate::protocol::Connection), ConnectionError> {
        let (to, from) = (incoming.remote_address(), incoming.local_ip());
        match self.endpoint.accept(incoming, Instant::now(), config) {
            Ok((h, conn)) => Ok((h, *conn)),
            Err(e) => {
                if let Some(datagram) = e.response {
                    self.respond(to, from, &datagram);
                }
                self.publish_stats();
                Err(e.cause)
            }
        }
    }

    /// Lets the handles see the endpoint's statistics as they are now.
    fn publish_stats(&self) {
        self.shared.stats.lock().unwrap_or_else(|p| p.into_inner())[self.worker] =
            self.endpoint.stats();
    }

    /// A new connection attempt: to the policy, if one is set, then to
    /// `accept()`.
    fn on_incoming(&mut self, incoming: Incoming, ctx: &mut Context<Self>) {
        let Some(policy) = self.policy.clone() else {
            self.offer(incoming);
            return;
        };
        let ask = NewIncoming {
            remote: incoming.remote_address(),
            local_ip: incoming.local_ip(),
            remote_address_validated: incoming.remote_address_validated(),
            may_retry: incoming.may_retry(),
        };
        ctx.spawn(
            policy
                .send(ask)
                .into_actor(self)
                .map(move |answer, act, _| {
                    let decision = answer.unwrap_or(IncomingDecision::Refuse);
                    act.decide(incoming, decision);
                }),
        );
    }

    /// Applies a policy's decision.
    fn decide(&mut self, incoming: Incoming, decision: IncomingDecision) {
        match decision {
            IncomingDecision::Accept => self.offer(incoming),
            IncomingDecision::Refuse => self.refuse(incoming),
            IncomingDecision::Retry => {
                if let Err(e) = self.retry(incoming) {
                    self.offer(e.into_incoming());
                }
            }
            IncomingDecision::Ignore => self.endpoint.ignore(incoming),
        }
    }

    /// Hands an attempt to a waiting `accept()`, or keeps it for the next
    /// (in the first worker, which holds the queue for all).
    fn offer(&mut self, incoming: Incoming) {
        if self.worker != 0 && !self.closed {
            match self.worker_actor(0) {
                Some(first) => first.do_send(OfferIncoming(incoming)),
                None => self.refuse(incoming),
            }
            return;
        }
        if self.closed {
            self.refuse(incoming);
            return;
        }
        // Attempts nobody accepted before the endpoint forgot them are
        // refused: past that, the endpoint admits new ones, and without
        // this the queue would grow with every client of a server that
        // does not call accept(); with it, it holds at most
        // `max_incoming`.
        let now = Instant::now();
        while self.incoming.front().is_some_and(|i| i.expired(now)) {
            let stale = self.incoming.pop_front().expect("checked");
            self.refuse(stale);
        }
        // An accept its caller gave up on takes nothing.
        let incoming = match next_live(&mut self.accept_waiters) {
            Some(w) => match w.send(Some(incoming)) {
                Ok(()) => return,
                Err(back) => back.expect("sent Some"),
            },
            None => incoming,
        };
        self.incoming.push_back(incoming);
    }

    /// Sends the endpoint's own answer to a datagram (a refusal, a
    /// Retry), once what the endpoint counted for it is published: a
    /// client that sees the answer sees it counted in `stats()`.
    fn respond(&self, to: SocketAddr, local_ip: Option<IpAddr>, datagram: &[u8]) {
        self.publish_stats();
        let _ = self.socket.try_send(to, local_ip, None, datagram, None);
    }

    fn refuse(&mut self, incoming: Incoming) {
        if let Some(owner) = self.owner_elsewhere(&incoming) {
            owner.do_send(RefuseIncoming(incoming));
            return;
        }
        let (to, from) = (incoming.remote_address(), incoming.local_ip());
        let datagram = self.endpoint.refuse(incoming);
        self.respond(to, from, &datagram);
    }

    fn retry(&mut self, incoming: Incoming) -> Result<(), RetryError> {
        let (to, from) = (incoming.remote_address(), incoming.local_ip());
        let datagram = self.endpoint.retry(incoming, Instant::now())?;
        self.respond(to, from, &datagram);
        Ok(())
    }

    fn check_idle(&mut self) {
        if self.connections.is_empty() {
            for w in self.idle_waiters.drain(..) {
                let _ = w.send(());
            }
            // A closed endpoint's other workers have nothing left to do:
            // their threads end.
            if self.closed && self.worker != 0 {
                Arbiter::current().stop();
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

impl EndpointActor {
    /// Routes a batch of datagrams, from the socket or (`forwarded`)
    /// passed on by another worker.
    fn on_datagrams(&mut self, batch: Vec<Received>, forwarded: bool, ctx: &mut Context<Self>) {
        let now = Instant::now();
        // One message per connection per batch.
        let mut routed: Vec<(ConnectionHandle, Vec<Received>)> = Vec::new();
        let mut elsewhere: Vec<(usize, Vec<Received>)> = Vec::new();
        // The last short-header datagram routed to a connection: the
        // datagrams of a GRO batch follow it there without a lookup each.
        let mut last_route: Option<(SocketAddr, ConnectionId, ConnectionHandle)> = None;
        // A GRO batch goes to a connection as one when its datagrams all
        // carry the same short header naming that connection (found by a
        // lookup with no side effects); otherwise, and when forwarded,
        // its datagrams are handled one by one.
        let mut singles: VecDeque<Received> = VecDeque::new();
        // The endpoint's own answers (refusals, Retries, resets), sent
        // once what it counted for them is published (one publication
        // per batch, also under a flood).
        let mut answers = Vec::new();
        let mut items = batch.into_iter();
        while let Some(r) = singles.pop_front().or_else(|| items.next()) {
            let addr = r.remote;
            let dcid = if forwarded {
                None
            } else {
                self.endpoint.short_header_dcid(r.first())
            };
            let same = last_route
                .filter(|&(a, c, _)| a == addr && Some(c) == dcid)
                .map(|(_, _, h)| h);
            let event = if r.is_batch() {
                let route = dcid
                    .filter(|&c| self.uniform(&r, c))
                    .and_then(|c| same.or_else(|| self.endpoint.route_of(&c)));
                match route {
                    Some(h) => DatagramEvent::Route(h),
                    None => {
                        singles.extend(r.split());
                        continue;
                    }
                }
            } else if let Some(h) = same {
                DatagramEvent::Route(h)
            } else if forwarded {
                self.endpoint
                    .handle_forwarded(now, addr, r.local_ip, r.ecn, r.first())
            } else {
                self.endpoint
                    .handle_to(now, addr, r.local_ip, r.ecn, r.first())
            };
            match event {
                DatagramEvent::Route(h) => {
                    if let Some(c) = dcid {
                        last_route = Some((addr, c, h));
                    }
                    match routed.iter_mut().find(|(x, _)| *x == h) {
                        Some((_, v)) => v.push(r),
                        None => routed.push((h, vec![r])),
                    }
                }
                DatagramEvent::NewConnection(incoming) => self.on_incoming(*incoming, ctx),
                DatagramEvent::Respond(bytes) => answers.push((addr, r.local_ip, bytes)),
                DatagramEvent::Forward(w) => match elsewhere.iter_mut().find(|(x, _)| *x == w) {
                    Some((_, v)) => v.push(r),
                    None => elsewhere.push((w, vec![r])),
                },
                DatagramEvent::Drop => {}
            }
        }
        // Attempts refused before any TLS work count here.
        self.publish_stats();
        for (to, local_ip, bytes) in answers {
            let _ = self.socket.try_send(to, local_ip, None, &bytes, None);
        }
        for (h, datagrams) in routed {
            if let Some(a) = self.connections.get(&h) {
                // A full mailbox drops the batch, as a full socket would.
                let _ = a.try_send(Datagrams(datagrams));
            }
        }
        for (w, datagrams) in elsewhere {
            if let Some(a) = self.worker_actor(w) {
                let _ = a.try_send(ForwardedDatagrams(datagrams));
            }
        }
    }

    /// True when every datagram of batch `r` after the first starts with
    /// a short header for `dcid`, the first one's.
    fn uniform(&self, r: &Received, dcid: ConnectionId) -> bool {
        r.data
            .chunks(r.segment.max(1))
            .skip(1)
            .all(|d| self.endpoint.short_header_dcid(d) == Some(dcid))
    }
}

impl StreamHandler<Vec<Received>> for EndpointActor {
    fn handle(&mut self, batch: Vec<Received>, ctx: &mut Context<Self>) {
        self.on_datagrams(batch, false, ctx);
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {
        tracing::debug!("socket stream ended");
    }
}

impl Handler<ForwardedDatagrams> for EndpointActor {
    type Result = ();
    fn handle(&mut self, msg: ForwardedDatagrams, ctx: &mut Context<Self>) {
        self.on_datagrams(msg.0, true, ctx);
    }
}

impl Handler<OfferIncoming> for EndpointActor {
    type Result = ();
    fn handle(&mut self, msg: OfferIncoming, _ctx: &mut Context<Self>) {
        self.offer(msg.0);
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
            self.publish_open();
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
        Ok(self.start_connection(ctx, h, conn, None))
    }
}

impl Handler<StartClient> for EndpointActor {
    type Result = ();
    fn handle(&mut self, msg: StartClient, ctx: &mut Context<Self>) {
        if self.closed {
            return msg.actor.fail(ConnectionError::LocallyClosed);
        }
        match self.endpoint.add_client(&msg.conn) {
            Ok(h) => {
                self.start_connection(ctx, h, *msg.conn, Some(msg.actor));
            }
            Err(_) => msg.actor.fail(ConnectionError::LocallyClosed),
        }
    }
}

impl Handler<Accept> for EndpointActor {
    type Result = Answer<Option<Incoming>>;
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
        for other in self.others() {
            other.do_send(msg.clone());
        }
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
        for incoming in std::mem::take(&mut self.incoming) {
            self.refuse(incoming);
        }
        self.check_idle();
    }
}

impl Handler<AcceptIncoming> for EndpointActor {
    type Result = ResponseFuture<Result<Addr<ConnectionActor>, ConnectionError>>;
    fn handle(&mut self, msg: AcceptIncoming, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(owner) = self.owner_elsewhere(&msg.incoming) {
            return Box::pin(async move {
                owner
                    .send(msg)
                    .await
                    .unwrap_or(Err(ConnectionError::LocallyClosed))
            });
        }
        let started = self
            .accept(msg.incoming, msg.config)
            .map(|(h, conn)| self.start_connection(ctx, h, conn, None));
        Box::pin(async move { started })
    }
}

impl Handler<AcceptInto> for EndpointActor {
    type Result = ();
    fn handle(&mut self, msg: AcceptInto, ctx: &mut Context<Self>) {
        if let Some(owner) = self.owner_elsewhere(&msg.incoming) {
            return owner.do_send(msg);
        }
        match self.accept(msg.incoming, msg.config) {
            Ok((h, conn)) => {
                self.start_connection(ctx, h, conn, Some(msg.actor));
            }
            Err(e) => msg.actor.fail(e),
        }
    }
}

impl Handler<RefuseIncoming> for EndpointActor {
    type Result = ();
    fn handle(&mut self, msg: RefuseIncoming, _ctx: &mut Context<Self>) {
        self.refuse(msg.0);
    }
}

impl Handler<RetryIncoming> for EndpointActor {
    type Result = ResponseFuture<Result<(), RetryError>>;
    fn handle(&mut self, msg: RetryIncoming, _ctx: &mut Context<Self>) -> Self::Result {
        if let Some(owner) = self.owner_elsewhere(&msg.0) {
            // A worker that is gone took the attempt with it.
            return Box::pin(async move { owner.send(msg).await.unwrap_or(Ok(())) });
        }
        let done = self.retry(msg.0);
        Box::pin(async move { done })
    }
}

impl Handler<IgnoreIncoming> for EndpointActor {
    type Result = ();
    fn handle(&mut self, msg: IgnoreIncoming, _ctx: &mut Context<Self>) {
        if let Some(owner) = self.owner_elsewhere(&msg.0) {
            return owner.do_send(msg);
        }
        self.endpoint.ignore(msg.0);
        self.publish_stats();
    }
}

impl Handler<SetIncomingPolicy> for EndpointActor {
    /// Answered once every worker has the policy (and has handled what
    /// this worker passed it before).
    type Result = ResponseFuture<()>;
    fn handle(&mut self, msg: SetIncomingPolicy, _ctx: &mut Context<Self>) -> Self::Result {
        let others: Vec<_> = self
            .others()
            .map(|o| o.send(SetIncomingPolicy(msg.0.clone())))
            .collect();
        self.policy = msg.0;
        Box::pin(async move {
            futures::future::join_all(others).await;
        })
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
        for other in self.others() {
            other.do_send(SetServerConfig(msg.0.clone()));
        }
        self.endpoint.set_server_config(msg.0);
    }
}

#[cfg(feature = "test-hooks")]
impl Handler<crate::messages::ConnectionActors> for EndpointActor {
    type Result = ResponseFuture<Vec<Addr<ConnectionActor>>>;
    fn handle(
        &mut self,
        msg: crate::messages::ConnectionActors,
        _: &mut Context<Self>,
    ) -> Self::Result {
        let mine: Vec<_> = self.connections.values().cloned().collect();
        let others: Vec<_> = self.others().map(|o| o.send(msg)).collect();
        Box::pin(async move {
            let mut all = mine;
            for theirs in futures::future::join_all(others).await {
                all.extend(theirs.unwrap_or_default());
            }
            all
        })
    }
}
