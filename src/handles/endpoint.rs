//! The `Endpoint` handle: one UDP socket, its connections and attempts.

use super::connecting::Connecting;
use super::connection::Connection;
use super::incoming::Incoming;
use crate::actors::{start_endpoint, EndpointActor, EndpointShared, PendingActor, Socket};
use crate::errors::ConnectError;
use crate::messages::internal::{Rebind, StartClient};
use crate::messages::{
    Accept, CloseEndpoint, NewIncoming, SetDefaultClientConfig, SetIncomingPolicy, SetServerConfig,
    WaitIdle,
};
use crate::protocol::{ClientConfig, EndpointConfig, ServerConfig, VarInt, ZeroRttState};
use actix::{Addr, Recipient};
use bytes::Bytes;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A QUIC endpoint: one UDP socket, any number of connections. Must be
/// created inside a running actix system.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The first worker's actor.
    addr: Addr<EndpointActor>,
    /// Every worker's actor, the first one first.
    workers: Arc<Vec<Addr<EndpointActor>>>,
    local: Arc<Mutex<SocketAddr>>,
    shared: Arc<EndpointShared>,
    /// The faults injected into the first socket (test hook).
    #[cfg(feature = "test-hooks")]
    faults: Arc<crate::actors::SocketFaults>,
}

impl Endpoint {
    /// An endpoint bound to `addr` that accepts connections with `config`
    /// (and can also connect out once a client config is set).
    pub fn server(config: ServerConfig, addr: SocketAddr) -> io::Result<Self> {
        Self::new(EndpointConfig::new(), Some(config), addr)
    }

    /// An endpoint bound to `addr` for outgoing connections only.
    pub fn client(addr: SocketAddr) -> io::Result<Self> {
        Self::new(EndpointConfig::new(), None, addr)
    }

    /// An endpoint bound to `addr` with `config` (for instance a stateless
    /// reset key that survives restarts), accepting connections when
    /// `server` is set.
    pub fn new(
        config: EndpointConfig,
        server: Option<ServerConfig>,
        addr: SocketAddr,
    ) -> io::Result<Self> {
        let started = start_endpoint(config, server, addr)?;
        Ok(Self {
            addr: started.workers[0].clone(),
            workers: started.workers,
            local: Arc::new(Mutex::new(started.local)),
            shared: started.shared,
            #[cfg(feature = "test-hooks")]
            faults: started.faults,
        })
    }

    /// **Test hook.** Faults to inject into the endpoint's socket (the one
    /// it was created with): failed sends and receives, truncated batches.
    #[cfg(feature = "test-hooks")]
    pub fn socket_faults_for_test(&self) -> &crate::actors::SocketFaults {
        &self.faults
    }

    /// **Test hook.** The connections each worker holds.
    #[cfg(feature = "test-hooks")]
    pub fn open_connections_per_worker_for_test(&self) -> Vec<usize> {
        self.shared.open_per_worker()
    }

    /// How many workers (threads with a socket each) the endpoint runs;
    /// see [`EndpointConfig::workers`].
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// The endpoint actor's address (the first worker's, which passes
    /// on to the others what concerns them).
    pub fn addr(&self) -> &Addr<EndpointActor> {
        &self.addr
    }

    /// What the endpoint did with connection attempts (accepted, started,
    /// refused, ignored), as quinn's; counted by the endpoint actor as it
    /// goes.
    pub fn stats(&self) -> crate::protocol::EndpointStats {
        self.shared.stats()
    }

    /// How many connections the endpoint holds, as quinn's: from the
    /// moment the endpoint actor starts one (a client's `connect`, a
    /// server's accept) until it has drained after its close.
    pub fn open_connections(&self) -> usize {
        self.shared.open_connections()
    }

    /// The bound local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(*self.local.lock().expect("not poisoned"))
    }

    /// Moves the endpoint to `socket` (already bound), as quinn's
    /// `Endpoint::rebind`: the old socket is dropped, and every connection
    /// goes on from the new address. Client connections take a fresh
    /// connection ID and tell the server at once (RFC 9000 §9.2, §9.5);
    /// a server with migration enabled follows them. The move happens in
    /// the endpoint's actor and then in each connection's: what they send
    /// before they handled it leaves from the old socket.
    pub fn rebind(&self, socket: std::net::UdpSocket) -> io::Result<()> {
        if self.workers.len() > 1 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a server endpoint of several workers cannot move to one socket",
            ));
        }
        let socket = Socket::from_std(socket)?;
        *self.local.lock().expect("not poisoned") = socket.local_addr();
        self.addr.do_send(Rebind(socket));
        Ok(())
    }

    /// Sets the configuration `connect` uses.
    pub fn set_default_client_config(&self, config: ClientConfig) {
        // Set here as well as by the message, so a `connect` right after
        // sees it.
        self.shared.set_default_client(config.clone());
        self.addr.do_send(SetDefaultClientConfig(config));
    }

    /// Replaces (or with `None`, removes) the server configuration.
    pub fn set_server_config(&self, config: Option<ServerConfig>) {
        self.addr.do_send(SetServerConfig(config));
    }

    /// Connects to `addr`, verifying the certificate for `server_name`,
    /// with the default client configuration.
    pub fn connect(&self, addr: SocketAddr, server_name: &str) -> Result<Connecting, ConnectError> {
        self.connect_inner(None, addr, server_name)
    }

    /// Connects with an explicit configuration.
    pub fn connect_with(
        &self,
        config: ClientConfig,
        addr: SocketAddr,
        server_name: &str,
    ) -> Result<Connecting, ConnectError> {
        self.connect_inner(Some(config), addr, server_name)
    }

    fn connect_inner(
        &self,
        config: Option<ClientConfig>,
        remote: SocketAddr,
        server_name: &str,
    ) -> Result<Connecting, ConnectError> {
        // Everything that makes a connection fail before it starts is
        // answered here, at once, as quinn does.
        if self.shared.is_stopping() {
            return Err(ConnectError::EndpointStopping);
        }
        let config = config
            .or_else(|| self.shared.default_client())
            .ok_or(ConnectError::NoDefaultClientConfig)?;
        if remote.is_ipv6() && self.local_addr().is_ok_and(|l| l.is_ipv4()) {
            return Err(ConnectError::InvalidRemoteAddress(remote));
        }
        // The connection is made here, on the caller's thread, so its
        // handle (and whether it may send 0-RTT) is known at once; the
        // endpoint actor routes it and starts its actor.
        let conn = self.shared.new_client(&config, remote, server_name)?;
        let early = conn.zero_rtt_state() == ZeroRttState::Offered;
        let (actor, parts) = PendingActor::new(remote, None, Some(&conn));
        self.addr.do_send(StartClient {
            conn: Box::new(conn),
            actor,
        });
        Ok(Connecting::new(Connection::from_parts(parts), false, early))
    }

    /// The next client's connection attempt, before any TLS work: await
    /// it to accept (`endpoint.accept().await?.await` is the connection),
    /// or decide otherwise with its methods; `None` once the endpoint is
    /// closed. Cancel-safe: an `accept` dropped before it completes
    /// takes no attempt.
    pub async fn accept(&self) -> Option<Incoming> {
        let incoming = self.addr.send(Accept).await.ok()??;
        // Decisions go straight to the worker holding the attempt.
        let owner = self
            .workers
            .get(incoming.worker())
            .unwrap_or(&self.addr)
            .clone();
        Some(Incoming::new(incoming, owner, self.shared.clone()))
    }

    /// Sets (or with `None`, removes) the actor that decides on every new
    /// connection attempt before it reaches [`accept`](Self::accept): a
    /// per-address policy or a rate limiter as an actor. It answers each
    /// [`NewIncoming`](crate::messages::NewIncoming) with an
    /// [`IncomingDecision`](crate::messages::IncomingDecision); attempts
    /// it accepts wait for `accept()`.
    pub fn set_incoming_policy(&self, policy: Option<Recipient<NewIncoming>>) {
        self.addr.do_send(SetIncomingPolicy(policy));
    }

    /// Closes every connection with `error_code` and `reason` and stops
    /// accepting.
    pub fn close(&self, error_code: VarInt, reason: &[u8]) {
        self.shared.stop();
        self.addr.do_send(CloseEndpoint {
            code: error_code,
            reason: Bytes::copy_from_slice(reason),
        });
    }

    /// Waits until every connection is gone (closed and drained), in
    /// every worker.
    pub async fn wait_idle(&self) {
        futures::future::join_all(self.workers.iter().map(|w| w.send(WaitIdle))).await;
    }
}
