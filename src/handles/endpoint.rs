//! The `Endpoint` handle and the `Connecting` future.

use super::connection::Connection;
use crate::actors::{EndpointActor, EndpointShared, Socket};
use crate::errors::{ConnectError, ConnectionError};
use crate::messages::internal::Rebind;
use crate::messages::{
    Accept, CloseEndpoint, Connect, SetDefaultClientConfig, SetServerConfig, WaitConnected,
    WaitIdle, ZeroRttStatus,
};
use crate::protocol::VarInt;
use crate::protocol::ZeroRttState;
use crate::protocol::{check_connect, ClientConfig, EndpointConfig, ServerConfig};
use actix::{Actor, Addr};
use bytes::Bytes;
use futures::future::{BoxFuture, Shared};
use futures::FutureExt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// A QUIC endpoint: one UDP socket, any number of connections. Must be
/// created inside a running actix system.
#[derive(Clone, Debug)]
pub struct Endpoint {
    addr: Addr<EndpointActor>,
    local: Arc<Mutex<SocketAddr>>,
    shared: Arc<EndpointShared>,
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
        let socket = Socket::bind(addr)?;
        let local = socket.local_addr();
        let shared = Arc::new(EndpointShared::default());
        let addr = EndpointActor::new(socket, config, server, shared.clone()).start();
        Ok(Self {
            addr,
            local: Arc::new(Mutex::new(local)),
            shared,
        })
    }

    /// The endpoint actor's address.
    pub fn addr(&self) -> &Addr<EndpointActor> {
        &self.addr
    }

    /// The bound local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(*self.local.lock().expect("not poisoned"))
    }

    /// Moves the endpoint to `socket` (already bound), as quinn's
    /// `Endpoint::rebind`: the old socket is dropped, and every connection
    /// goes on from the new address. Client connections take a fresh
    /// connection ID and tell the server at once (RFC 9000 §9.2, §9.5);
    /// a server with migration enabled follows them.
    pub fn rebind(&self, socket: std::net::UdpSocket) -> io::Result<()> {
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
        check_connect(&config, remote, server_name)?;
        if remote.is_ipv6() && self.local_addr().is_ok_and(|l| l.is_ipv4()) {
            return Err(ConnectError::InvalidRemoteAddress(remote));
        }
        let endpoint = self.addr.clone();
        let msg = Connect {
            config: Some(config),
            remote,
            server_name: server_name.to_string(),
        };
        let fut = async move {
            let actor = endpoint
                .send(msg)
                .await
                .map_err(|_| ConnectionError::LocallyClosed)?
                .map_err(|e| {
                    ConnectionError::TransportError(crate::protocol::TransportError::new(
                        crate::protocol::TransportErrorCode::INTERNAL_ERROR,
                        e.to_string(),
                    ))
                })?;
            Connection::from_addr(actor).await
        };
        // Start the handshake now, as quinn does, rather than when the
        // `Connecting` is first polled. If it is dropped, the task still
        // ends by dropping its `Connection`, which closes the connection.
        let task = actix::spawn(fut);
        Ok(Connecting::new(
            async move { task.await.unwrap_or(Err(ConnectionError::LocallyClosed)) }.boxed(),
            false,
        ))
    }

    /// The next incoming connection, still handshaking; `None` once the
    /// endpoint is closed.
    pub async fn accept(&self) -> Option<Connecting> {
        let actor = self.addr.send(Accept).await.ok()??;
        // Take a handle first so the connection is owned while it
        // handshakes.
        let handle = Connection::from_addr(actor).await;
        Some(Connecting::new(async move { handle }.boxed(), true))
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

    /// Waits until every connection is gone (closed and drained).
    pub async fn wait_idle(&self) {
        let _ = self.addr.send(WaitIdle).await;
    }
}

/// A connection whose handshake is in progress; await it for the
/// `Connection`, or use it at once with [`into_0rtt`](Self::into_0rtt).
pub struct Connecting {
    /// The handle, made as soon as the connection actor exists.
    handle: Shared<BoxFuture<'static, Result<Connection, ConnectionError>>>,
    /// Waiting for the handshake, once polled.
    done: Option<BoxFuture<'static, Result<Connection, ConnectionError>>>,
    /// This side is the server.
    server: bool,
}

impl Connecting {
    fn new(handle: BoxFuture<'static, Result<Connection, ConnectionError>>, server: bool) -> Self {
        Self {
            handle: handle.shared(),
            done: None,
            server,
        }
    }

    async fn wait_connected(conn: Connection) -> Result<Connection, ConnectionError> {
        conn.addr()
            .send(WaitConnected)
            .await
            .map_err(|_| conn.lost())??;
        Ok(conn)
    }

    /// Uses the connection before its handshake completes, as quinn's
    /// `Connecting::into_0rtt`. A client can when it resumes a session
    /// whose ticket allows early data (`rustls::ClientConfig::
    /// enable_early_data`): streams and datagrams then go out in 0-RTT
    /// packets (RFC 9001 §4.6). A server always can, sending 0.5-RTT data
    /// before the client's handshake is confirmed. Otherwise the
    /// `Connecting` comes back unchanged.
    ///
    /// 0-RTT data may be replayed by an attacker (RFC 8446 §8): send only
    /// idempotent requests in it. If the server rejects it, what was sent
    /// goes again in 1-RTT packets; [`ZeroRttAccepted`] tells which.
    ///
    /// Unlike quinn's, this is async: the answer comes from the connection
    /// actor.
    pub async fn into_0rtt(self) -> Result<(Connection, ZeroRttAccepted), Self> {
        let Ok(conn) = self.handle.clone().await else {
            return Err(self);
        };
        let state = match conn.addr().send(ZeroRttStatus).await {
            Ok(s) => s,
            Err(_) => return Err(self),
        };
        let usable = self.server || matches!(state, ZeroRttState::Offered | ZeroRttState::Accepted);
        if !usable {
            return Err(self);
        }
        let c = conn.clone();
        let accepted = async move {
            if Self::wait_connected(c.clone()).await.is_err() {
                return false;
            }
            matches!(
                c.addr().send(ZeroRttStatus).await,
                Ok(ZeroRttState::Accepted)
            )
        }
        .boxed();
        Ok((conn, ZeroRttAccepted(accepted)))
    }
}

/// Resolves once the handshake completes: whether the server accepted
/// the 0-RTT data (false also when the connection failed).
pub struct ZeroRttAccepted(BoxFuture<'static, bool>);

impl Future for ZeroRttAccepted {
    type Output = bool;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        self.0.poll_unpin(cx)
    }
}

impl std::fmt::Debug for ZeroRttAccepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZeroRttAccepted")
    }
}

impl Future for Connecting {
    type Output = Result<Connection, ConnectionError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.done.is_none() {
            let handle = self.handle.clone();
            self.done = Some(async move { Self::wait_connected(handle.await?).await }.boxed());
        }
        self.done.as_mut().expect("set above").poll_unpin(cx)
    }
}

impl std::fmt::Debug for Connecting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connecting")
    }
}
