//! The `Incoming` handle: a client's connection attempt before the server
//! decides on it, as quinn's. `Endpoint::accept` yields it; awaiting it
//! accepts.

use super::connecting::Connecting;
use super::connection::Connection;
use crate::actors::{EndpointActor, EndpointShared, PendingActor};
use crate::errors::ConnectionError;
use crate::messages::internal::AcceptInto;
use crate::messages::{IgnoreIncoming, RefuseIncoming, RetryIncoming};
use crate::protocol::{self, ServerConfig, TransportError, TransportErrorCode};
use actix::Addr;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::future::IntoFuture;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// A client's attempt to connect, authenticated (its Initial decrypts,
/// its token was checked) but with no connection made and no TLS work
/// done yet. Decide with [`accept`](Self::accept) (or `.await`, which
/// accepts), [`refuse`](Self::refuse), [`retry`](Self::retry) or
/// [`ignore`](Self::ignore). Dropped undecided, it is refused.
pub struct Incoming {
    inner: Option<protocol::Incoming>,
    endpoint: Addr<EndpointActor>,
    shared: Arc<EndpointShared>,
}

impl Incoming {
    pub(crate) fn new(
        inner: protocol::Incoming,
        endpoint: Addr<EndpointActor>,
        shared: Arc<EndpointShared>,
    ) -> Self {
        Self {
            inner: Some(inner),
            endpoint,
            shared,
        }
    }

    fn inner(&self) -> &protocol::Incoming {
        self.inner.as_ref().expect("decided only by consuming self")
    }

    fn take(&mut self) -> protocol::Incoming {
        self.inner.take().expect("decided only by consuming self")
    }

    /// Accepts the connection with the endpoint's server configuration;
    /// its handshake starts now. Fails at once when the endpoint is
    /// closing; later failures (the endpoint full, rustls refusing the
    /// configuration) come from the `Connecting`.
    pub fn accept(self) -> Result<Connecting, ConnectionError> {
        self.accept_inner(None)
    }

    /// Accepts the connection with `config` instead of the endpoint's
    /// server configuration (its transport and TLS settings).
    pub fn accept_with(self, config: Arc<ServerConfig>) -> Result<Connecting, ConnectionError> {
        self.accept_inner(Some(Arc::unwrap_or_clone(config)))
    }

    fn accept_inner(mut self, config: Option<ServerConfig>) -> Result<Connecting, ConnectionError> {
        let incoming = self.take();
        let (remote, local_ip) = (incoming.remote_address(), incoming.local_ip());
        if self.shared.is_stopping() {
            self.endpoint.do_send(RefuseIncoming(incoming));
            return Err(ConnectionError::TransportError(TransportError::new(
                TransportErrorCode::CONNECTION_REFUSED,
                "endpoint stopping",
            )));
        }
        let (actor, parts) = PendingActor::new(remote, local_ip, None);
        self.endpoint.do_send(AcceptInto {
            incoming,
            config,
            actor,
        });
        Ok(Connecting::new(Connection::from_parts(parts), true, false))
    }

    /// Refuses the connection: the client's attempt fails with
    /// CONNECTION_REFUSED (RFC 9000 §20.1).
    pub fn refuse(mut self) {
        let incoming = self.take();
        self.endpoint.do_send(RefuseIncoming(incoming));
    }

    /// Answers with a Retry (RFC 9000 §8.1.2): a client that really is at
    /// its address comes back with a token proving it, as a new
    /// `Incoming` whose [`remote_address_validated`](Self::remote_address_validated)
    /// is true. Fails, giving this `Incoming` back, when it answers a
    /// Retry already ([`may_retry`](Self::may_retry)).
    pub fn retry(mut self) -> Result<(), RetryError> {
        if !self.may_retry() {
            return Err(RetryError(Box::new(self)));
        }
        let incoming = self.take();
        self.endpoint.do_send(RetryIncoming(incoming));
        Ok(())
    }

    /// Drops the attempt without a word: the client hears nothing and
    /// tries again or gives up.
    pub fn ignore(mut self) {
        let incoming = self.take();
        self.endpoint.do_send(IgnoreIncoming(incoming));
    }

    /// The client's UDP address.
    pub fn remote_address(&self) -> SocketAddr {
        self.inner().remote_address()
    }

    /// The local IP address the client reached, where the platform
    /// reports it.
    pub fn local_ip(&self) -> Option<IpAddr> {
        self.inner().local_ip()
    }

    /// Whether the client proved it receives at its address (a valid
    /// Retry or NEW_TOKEN token, RFC 9000 §8.1).
    pub fn remote_address_validated(&self) -> bool {
        self.inner().remote_address_validated()
    }

    /// Whether [`retry`](Self::retry) may answer it: not when it answers
    /// a Retry already.
    pub fn may_retry(&self) -> bool {
        self.inner().may_retry()
    }

    /// The destination connection ID of the client's first Initial,
    /// before any Retry, as quinn's.
    pub fn orig_dst_cid(&self) -> protocol::ConnectionId {
        self.inner().orig_dst_cid()
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if let Some(incoming) = self.inner.take() {
            self.endpoint.do_send(RefuseIncoming(incoming));
        }
    }
}

impl IntoFuture for Incoming {
    type Output = Result<Connection, ConnectionError>;
    type IntoFuture = BoxFuture<'static, Result<Connection, ConnectionError>>;

    /// Accepts the connection and waits for its handshake.
    fn into_future(self) -> Self::IntoFuture {
        match self.accept() {
            Ok(connecting) => connecting.boxed(),
            Err(e) => futures::future::ready(Err(e)).boxed(),
        }
    }
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field(
                "remote_address",
                &self.inner.as_ref().map(|i| i.remote_address()),
            )
            .finish_non_exhaustive()
    }
}

/// [`Incoming::retry`] was called on an attempt that answers a Retry
/// already; the `Incoming` comes back to be decided on otherwise.
#[derive(Debug, thiserror::Error)]
#[error("retry() with an Incoming that answers a Retry already")]
pub struct RetryError(Box<Incoming>);

impl RetryError {
    /// The `Incoming`, to accept, refuse or ignore instead.
    pub fn into_incoming(self) -> Incoming {
        *self.0
    }
}
