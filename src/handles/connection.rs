//! The `Connection` handle: a cheap clone of the connection actor's
//! address; each async method sends exactly one message from
//! `crate::messages`.

use super::streams::{RecvStream, SendStream};
use crate::actors::{ConnectionActor, ConnectionParts, Snapshot};
use crate::errors::{ConnectionError, SendDatagramError};
use crate::messages::internal::{HandleParts, OpenAt, StartKeyUpdate};
use crate::messages::{self, ExportKeyingMaterialError};
use crate::protocol::CongestionState;
use crate::protocol::VarInt;
use crate::protocol::{ConnectionStats, HandshakeData};
use crate::protocol::{Dir, StreamId};
use actix::Addr;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// A QUIC connection. Clones are handles to the same connection; when
/// every clone, stream and pending operation is gone, the connection
/// closes with code 0 and an empty reason.
#[derive(Clone)]
pub struct Connection {
    /// The actor, the shared snapshot and the token keeping it open,
    /// shared by every clone and stream handle: cloning an actor address
    /// allocates, and a stream's handles each hold a `Connection`.
    parts: Arc<ConnectionParts>,
}

/// A connection actor stopped before a handle could be made.
fn gone() -> ConnectionError {
    ConnectionError::LocallyClosed
}

impl Connection {
    /// Makes a handle for the actor at `addr`.
    pub async fn from_addr(addr: Addr<ConnectionActor>) -> Result<Self, ConnectionError> {
        let parts = addr
            .send(HandleParts)
            .await
            .ok()
            .flatten()
            .ok_or_else(gone)?;
        Ok(Self::from_parts(parts))
    }

    /// A handle from parts the actor handed out.
    pub(crate) fn from_parts(parts: ConnectionParts) -> Self {
        Self {
            parts: Arc::new(parts),
        }
    }

    /// The connection actor's address, for sending `crate::messages` directly.
    pub fn addr(&self) -> &Addr<ConnectionActor> {
        self.parts.addr()
    }

    async fn ask<M>(&self, msg: M) -> Result<M::Result, ConnectionError>
    where
        M: actix::Message + Send + 'static,
        M::Result: Send,
        ConnectionActor: actix::Handler<M>,
    {
        self.parts.addr().send(msg).await.map_err(|_| self.lost())
    }

    /// The reason the connection closed, or `LocallyClosed` if unknown.
    pub(crate) fn lost(&self) -> ConnectionError {
        self.close_reason()
            .unwrap_or(ConnectionError::LocallyClosed)
    }

    /// Opens a bidirectional stream. Instant unless the peer's stream limit
    /// is reached, then it waits. The peer learns of the stream only when
    /// data (or FIN) is first sent on it.
    pub async fn open_bi(&self) -> Result<(SendStream, RecvStream), ConnectionError> {
        let id = match self.open_now(Dir::Bi) {
            Some(id) => id,
            None => self.ask(messages::OpenBi).await??,
        };
        Ok((
            SendStream::new(self.clone(), id),
            RecvStream::new(self.clone(), id),
        ))
    }

    /// Opens a unidirectional stream; waits while the peer's limit is reached.
    pub async fn open_uni(&self) -> Result<SendStream, ConnectionError> {
        let id = match self.open_now(Dir::Uni) {
            Some(id) => id,
            None => self.ask(messages::OpenUni).await??,
        };
        Ok(SendStream::new(self.clone(), id))
    }

    /// A stream of ours opened at once, with no round trip to the actor,
    /// when the peer's limit allows one more (as quinn's open is); the
    /// actor learns of it before anything else this handle sends.
    fn open_now(&self, dir: Dir) -> Option<StreamId> {
        if self.close_reason().is_some() {
            return None;
        }
        let id = self.parts.shared.take_stream(dir)?;
        self.parts.addr().do_send(OpenAt(id));
        Some(id)
    }

    /// The next bidirectional stream the peer opened, in order.
    pub async fn accept_bi(&self) -> Result<(SendStream, RecvStream), ConnectionError> {
        let id = self.ask(messages::AcceptBi).await??;
        Ok((
            SendStream::new(self.clone(), id),
            RecvStream::new(self.clone(), id),
        ))
    }

    /// The next unidirectional stream the peer opened, in order.
    pub async fn accept_uni(&self) -> Result<RecvStream, ConnectionError> {
        let id = self.ask(messages::AcceptUni).await??;
        Ok(RecvStream::new(self.clone(), id))
    }

    /// Closes the connection immediately: pending operations fail with
    /// `ConnectionError::LocallyClosed`, and the peer receives `error_code`
    /// and `reason` (truncated to fit one packet).
    pub fn close(&self, error_code: VarInt, reason: &[u8]) {
        // Closed for this handle's getters at once, before the actor hears.
        self.parts
            .shared
            .snapshot
            .lock()
            .expect("not poisoned")
            .closed_locally();
        // Closing is a control message: it must not wait for capacity.
        self.parts.addr().do_send(messages::Close {
            code: error_code,
            reason: Bytes::copy_from_slice(reason),
        });
    }

    /// Subscribes `recipient` to this connection's events: incoming
    /// streams, datagrams and the close arrive as
    /// [`ConnectionEvent`](crate::ConnectionEvent) messages, in order,
    /// instead of through `accept_*` and `read_datagram`. Keep the returned
    /// guard; see [`messages::Subscribe`].
    pub async fn subscribe(
        &self,
        recipient: actix::Recipient<crate::ConnectionEvent>,
    ) -> Result<crate::Subscription, ConnectionError> {
        self.subscribe_to(recipient, true, true).await
    }

    /// As [`subscribe`](Self::subscribe), taking only incoming streams
    /// (`streams`) and/or datagrams (`datagrams`); the close is always
    /// delivered.
    pub async fn subscribe_to(
        &self,
        recipient: actix::Recipient<crate::ConnectionEvent>,
        streams: bool,
        datagrams: bool,
    ) -> Result<crate::Subscription, ConnectionError> {
        self.ask(messages::Subscribe::to(recipient, streams, datagrams))
            .await?
    }

    /// Starts a 1-RTT key update (RFC 9001 §6) now, as quinn's
    /// `force_key_update`; ignored while one is not allowed (before the
    /// handshake is confirmed or the previous update acknowledged). Keys
    /// are also updated on their own before the AEAD's limits (§6.6).
    ///
    /// The update is asked for when this is called, awaited or not;
    /// awaiting the returned [`KeyUpdate`] tells whether it started.
    pub fn force_key_update(&self) -> KeyUpdate {
        let (tx, answer) = futures::channel::oneshot::channel();
        // A control message, sent whatever the mailbox holds; the answer
        // comes back on its own channel.
        self.parts.addr().do_send(StartKeyUpdate(tx));
        KeyUpdate(async move { answer.await.unwrap_or(false) }.boxed())
    }

    /// Waits until the connection is closed and says why.
    pub async fn closed(&self) -> ConnectionError {
        self.ask(messages::WaitClosed).await.unwrap_or_else(|e| e)
    }

    /// Sends an unreliable datagram (RFC 9221), as quinn's: returns at
    /// once. Fails when it is larger than [`max_datagram_size`](Self::max_datagram_size),
    /// when datagrams are off at either end, or once the connection is
    /// closed. Unreliable all the way: past the send buffer
    /// (`TransportConfig::datagram_send_buffer_size`) the oldest queued
    /// datagrams are dropped, and when the connection actor's mailbox is
    /// full this one is. [`send_datagram_wait`](Self::send_datagram_wait)
    /// waits for the actor instead.
    pub fn send_datagram(&self, data: Bytes) -> Result<(), SendDatagramError> {
        let limit = self.snapshot(|s| match &s.close_reason {
            Some(e) => Err(SendDatagramError::ConnectionLost(e.clone())),
            None => s.datagram_limit.clone(),
        })?;
        if data.len() > limit {
            return Err(SendDatagramError::TooLarge);
        }
        match self.parts.addr().try_send(messages::SendDatagram(data)) {
            Ok(()) | Err(actix::prelude::SendError::Full(_)) => Ok(()),
            Err(actix::prelude::SendError::Closed(_)) => {
                Err(SendDatagramError::ConnectionLost(self.lost()))
            }
        }
    }

    /// Sends an unreliable datagram, waiting until the connection actor
    /// has queued it (or said why not): backpressure from the actor's
    /// mailbox, as quinn's `send_datagram_wait`.
    pub async fn send_datagram_wait(&self, data: Bytes) -> Result<(), SendDatagramError> {
        self.ask(messages::SendDatagram(data))
            .await
            .map_err(SendDatagramError::ConnectionLost)?
    }

    /// The next datagram from the peer.
    pub async fn read_datagram(&self) -> Result<Bytes, ConnectionError> {
        self.ask(messages::ReadDatagram).await?
    }

    /// Largest datagram payload that can be sent now; `None` when the peer
    /// does not accept datagrams.
    pub fn max_datagram_size(&self) -> Option<usize> {
        self.snapshot(|s| s.max_datagram_size)
    }

    /// Changes how many unidirectional streams the peer may have open,
    /// as quinn's: at once for later operations on this connection (the
    /// actor handles it before any message sent after), and the peer
    /// learns it with the next packet (MAX_STREAMS).
    pub fn set_max_concurrent_uni_streams(&self, count: VarInt) {
        self.parts
            .addr()
            .do_send(messages::SetMaxConcurrentStreams {
                dir: Dir::Uni,
                count,
            });
    }

    /// Changes how many bidirectional streams the peer may have open, as
    /// [`set_max_concurrent_uni_streams`](Self::set_max_concurrent_uni_streams).
    pub fn set_max_concurrent_bi_streams(&self, count: VarInt) {
        self.parts
            .addr()
            .do_send(messages::SetMaxConcurrentStreams {
                dir: Dir::Bi,
                count,
            });
    }

    /// Which end of the connection this is.
    pub fn side(&self) -> crate::protocol::Side {
        self.parts.shared.side
    }

    /// The smallest RTT sample so far (RFC 9002 §5.2).
    pub fn min_rtt(&self) -> Duration {
        self.snapshot(|s| s.min_rtt)
    }

    /// RFC 8446 §7.5 exporter: both peers get the same `out.len()`
    /// bytes for the same `label` and `context`. Fails before the
    /// handshake completes, or when `out` is too long for the hash.
    pub fn export_keying_material(
        &self,
        out: &mut [u8],
        label: &[u8],
        context: &[u8],
    ) -> Result<(), ExportKeyingMaterialError> {
        self.parts
            .shared
            .tls
            .get()
            .ok_or(ExportKeyingMaterialError)?
            .export_keying_material(out, label, context)
            .map_err(|_| ExportKeyingMaterialError)
    }

    fn snapshot<T>(&self, f: impl FnOnce(&Snapshot) -> T) -> T {
        f(&self.parts.shared.snapshot.lock().expect("not poisoned"))
    }

    /// The peer's UDP address; it follows a client that migrates when
    /// the server allows it (`ServerConfig::migration`).
    pub fn remote_address(&self) -> SocketAddr {
        self.snapshot(|s| s.remote)
    }

    /// The local IP address the peer reached, also when the endpoint is
    /// bound to `0.0.0.0` or `[::]` (IP_PKTINFO / IPV6_RECVPKTINFO on
    /// Linux); replies leave from it. `None` for clients and where the
    /// platform does not say.
    pub fn local_ip(&self) -> Option<std::net::IpAddr> {
        self.snapshot(|s| s.local_ip)
    }

    /// The current smoothed RTT estimate.
    pub fn rtt(&self) -> Duration {
        self.snapshot(|s| s.rtt)
    }

    /// Connection statistics.
    pub fn stats(&self) -> ConnectionStats {
        self.snapshot(|s| s.stats)
    }

    /// The congestion controller's state.
    pub fn congestion_state(&self) -> CongestionState {
        self.snapshot(|s| s.congestion)
    }

    /// ALPN protocol and server name, once the handshake produced them.
    pub fn handshake_data(&self) -> Option<HandshakeData> {
        self.snapshot(|s| s.handshake_data.clone())
    }

    /// The peer's certificate chain, as `Vec<CertificateDer>` in a `Box<dyn Any>`.
    pub fn peer_identity(&self) -> Option<Box<dyn std::any::Any>> {
        self.parts
            .shared
            .tls
            .get()?
            .peer_certificates()
            .map(|c| Box::new(c) as Box<dyn std::any::Any>)
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<ConnectionError> {
        self.snapshot(|s| s.close_reason.clone())
    }

    /// A number that stays fixed for the connection's life.
    pub fn stable_id(&self) -> usize {
        self.parts.shared.stable_id
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.parts.shared.snapshot.lock().expect("not poisoned");
        f.debug_struct("Connection")
            .field("stable_id", &self.parts.shared.stable_id)
            .field("remote", &s.remote)
            .field("rtt", &s.rtt)
            .field(
                "alpn",
                &s.handshake_data
                    .as_ref()
                    .and_then(|h| h.protocol.as_ref())
                    .map(|p| String::from_utf8_lossy(p).into_owned()),
            )
            .field("close_reason", &s.close_reason)
            .finish()
    }
}

/// Whether a key update asked for with
/// [`Connection::force_key_update`] started: false when one was not
/// allowed yet, or the connection is gone. Dropping it does not cancel
/// the update.
pub struct KeyUpdate(BoxFuture<'static, bool>);

impl Future for KeyUpdate {
    type Output = bool;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        self.0.poll_unpin(cx)
    }
}

impl fmt::Debug for KeyUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyUpdate")
    }
}
