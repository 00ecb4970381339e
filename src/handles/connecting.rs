//! The `Connecting` future: a connection whose handshake is under way,
//! usable early with 0-RTT.

use super::connection::Connection;
use crate::errors::ConnectionError;
use crate::messages::{WaitConnected, WaitHandshakeData, ZeroRttStatus};
use crate::protocol::{HandshakeData, ZeroRttState};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A connection whose handshake is in progress; await it for the
/// `Connection`, or use it at once with [`into_0rtt`](Self::into_0rtt).
/// Dropping it abandons the connection.
pub struct Connecting {
    /// The connection's handle, made with it.
    conn: Connection,
    /// Waiting for the handshake, once polled.
    done: Option<BoxFuture<'static, Result<Connection, ConnectionError>>>,
    /// This side is the server.
    server: bool,
    /// A client's first flight carries 0-RTT keys.
    early: bool,
}

impl Connecting {
    /// The handshake of `conn`; `early` when a client offers 0-RTT.
    pub(crate) fn new(conn: Connection, server: bool, early: bool) -> Self {
        Self {
            conn,
            done: None,
            server,
            early,
        }
    }

    /// The peer's UDP address.
    pub fn remote_address(&self) -> SocketAddr {
        self.conn.remote_address()
    }

    /// The local IP address the client reached (servers, where the
    /// platform reports it); `None` for clients.
    pub fn local_ip(&self) -> Option<IpAddr> {
        self.conn.local_ip()
    }

    /// The parameters the handshake has agreed so far (ALPN protocol,
    /// server name), as quinn's: a server has them from the client's
    /// first flight, a client once the server's answer arrives. Fails
    /// when the connection does before they are known.
    pub async fn handshake_data(&self) -> Result<HandshakeData, ConnectionError> {
        self.conn
            .addr()
            .send(WaitHandshakeData)
            .await
            .map_err(|_| self.conn.lost())?
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
    pub fn into_0rtt(self) -> Result<(Connection, ZeroRttAccepted), Self> {
        if !(self.server || self.early) {
            return Err(self);
        }
        let conn = self.conn.clone();
        let accepted = async move {
            let Ok(conn) = Self::wait_connected(conn).await else {
                return false;
            };
            matches!(
                conn.addr().send(ZeroRttStatus).await,
                Ok(ZeroRttState::Accepted)
            )
        }
        .boxed();
        Ok((self.conn, ZeroRttAccepted(accepted)))
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
            self.done = Some(Self::wait_connected(self.conn.clone()).boxed());
        }
        self.done.as_mut().expect("set above").poll_unpin(cx)
    }
}

impl std::fmt::Debug for Connecting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connecting")
            .field("remote_address", &self.remote_address())
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}
