//! The messages a connection actor answers, one per operation. The
//! `Connection`, `SendStream` and `RecvStream` handles are thin wrappers
//! over exactly these.

use crate::actors::{EventSink, Subscription};
use crate::errors::{
    ClosedStream, ConnectionError, ReadError, SendDatagramError, StoppedError, WriteError, Written,
};
use crate::protocol::{ConnectionStats, Dir, HandshakeData, StreamId, VarInt, ZeroRttState};
use actix::Message;
use bytes::Bytes;

/// Opens a bidirectional stream; waits while the peer's limit is reached.
/// Replies with the new stream's ID.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<StreamId, ConnectionError>")]
pub struct OpenBi;

/// Opens a unidirectional stream; waits while the peer's limit is reached.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<StreamId, ConnectionError>")]
pub struct OpenUni;

/// Waits for the next bidirectional stream the peer opens.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<StreamId, ConnectionError>")]
pub struct AcceptBi;

/// Waits for the next unidirectional stream the peer opens.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<StreamId, ConnectionError>")]
pub struct AcceptUni;

/// Closes the connection at once with an application error code and
/// reason; every pending operation fails with `LocallyClosed`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Close {
    /// The application error code sent to the peer.
    pub code: VarInt,
    /// The reason sent to the peer (truncated to fit one packet).
    pub reason: Bytes,
}

/// Writes data to a stream; replies with how many bytes were taken
/// (at least one), waiting while flow control allows none.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<usize, WriteError>")]
pub struct Write {
    /// The stream.
    pub stream: StreamId,
    /// The data.
    pub data: Bytes,
}

/// Writes several chunks to a stream, in order, as far as flow control
/// takes them; replies with what was taken (some data at least), waiting
/// while flow control allows none.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Written, WriteError>")]
pub struct WriteChunks {
    /// The stream.
    pub stream: StreamId,
    /// The chunks.
    pub data: Vec<Bytes>,
}

/// Marks the end of a stream's data (FIN).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), ClosedStream>")]
pub struct Finish {
    /// The stream.
    pub stream: StreamId,
}

/// Abandons sending on a stream (RESET_STREAM).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), ClosedStream>")]
pub struct Reset {
    /// The stream.
    pub stream: StreamId,
    /// The application error code.
    pub code: VarInt,
}

/// Waits until the peer stopped the stream (`Some(code)`) or acknowledged
/// all of its data and FIN (`None`).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Option<VarInt>, StoppedError>")]
pub struct Stopped {
    /// The stream.
    pub stream: StreamId,
}

/// Reads up to `max` bytes; `None` at the end of the stream. Waits for data.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Option<Bytes>, ReadError>")]
pub struct Read {
    /// The stream.
    pub stream: StreamId,
    /// Most bytes to return.
    pub max: usize,
}

/// Reads every contiguous chunk available, up to `max` bytes in all,
/// without copying; `None` at the end of the stream. Waits for data.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Option<Chunks>, ReadError>")]
pub struct ReadChunks {
    /// The stream.
    pub stream: StreamId,
    /// Most bytes to return in all.
    pub max: usize,
}

/// What [`ReadChunks`] read: contiguous chunks in order, and whether the
/// stream ends right after them (then the stream is done: the next
/// `ReadChunks` would answer `None`, and needs not be sent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chunks {
    /// The data, in order, none of it empty.
    pub data: Vec<Bytes>,
    /// The stream's FIN follows the data.
    pub fin: bool,
}

/// Asks the peer to stop sending on a stream (STOP_SENDING) and discards
/// what arrives.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), ClosedStream>")]
pub struct Stop {
    /// The stream.
    pub stream: StreamId,
    /// The application error code.
    pub code: VarInt,
}

/// Sends an unreliable datagram (RFC 9221).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), SendDatagramError>")]
pub struct SendDatagram(pub Bytes);

/// Waits for the next datagram from the peer.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Bytes, ConnectionError>")]
pub struct ReadDatagram;

/// Changes how many streams the peer may have open at once (MAX_STREAMS).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct SetMaxConcurrentStreams {
    /// The direction.
    pub dir: Dir,
    /// The number of streams.
    pub count: VarInt,
}

/// Starts a 1-RTT key update (RFC 9001 §6); replies whether it started
/// (not before the handshake is confirmed, nor before the previous update
/// was acknowledged).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "bool")]
pub struct ForceKeyUpdate;

/// Replies where the connection stands with 0-RTT (RFC 9001 §4.6).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "ZeroRttState")]
pub struct ZeroRttStatus;

/// Replies with the connection's statistics.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "ConnectionStats")]
pub struct Stats;

/// Waits for the handshake to complete.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), ConnectionError>")]
pub struct WaitConnected;

/// Waits until the handshake has agreed its parameters (ALPN, server
/// name): a server's from the client's first flight, a client's from the
/// server's answer.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<HandshakeData, ConnectionError>")]
pub struct WaitHandshakeData;

/// Waits until the connection is closed, replying with the reason.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "ConnectionError")]
pub struct WaitClosed;

/// RFC 8446 §7.5 keying material exporter.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<u8>, ExportKeyingMaterialError>")]
pub struct ExportKeyingMaterial {
    /// Bytes wanted.
    pub len: usize,
    /// The label.
    pub label: Vec<u8>,
    /// The context.
    pub context: Vec<u8>,
}

/// The exporter failed (handshake not complete, or the length is invalid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("keying material export failed")]
pub struct ExportKeyingMaterialError;

/// Subscribes an actor to a connection's events: instead of waiting in
/// `AcceptBi` / `AcceptUni` / `ReadDatagram`, it receives each incoming
/// stream and datagram as a [`ConnectionEvent`](crate::ConnectionEvent)
/// message, and the close. Made with [`Subscribe::new`] or
/// [`Subscribe::to`].
///
/// Replies with a [`Subscription`] guard: keep it (typically in the
/// subscribing actor's state). While it lives the connection stays open
/// even with no other handle; dropping it ends the subscription. Incoming
/// streams go to the newest subscriber that takes streams, datagrams to
/// the newest that takes datagrams (others get only the close). Streams
/// always arrive; a datagram that finds the subscriber's mailbox full is
/// dropped and counted in `ConnectionStats::datagrams_dropped_rx`, as
/// datagrams are unreliable. Subscribing to a closed connection replies
/// with its error.
#[derive(Message)]
#[rtype(result = "Result<Subscription, ConnectionError>")]
pub struct Subscribe {
    /// Where the events go: the handle layer turns stream IDs into
    /// stream handles for the subscriber.
    pub(crate) sink: Box<dyn EventSink>,
    /// Take incoming streams (away from `AcceptBi` / `AcceptUni`).
    pub(crate) streams: bool,
    /// Take datagrams (away from `ReadDatagram`).
    pub(crate) datagrams: bool,
}

impl std::fmt::Debug for Subscribe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscribe")
            .field("streams", &self.streams)
            .field("datagrams", &self.datagrams)
            .finish_non_exhaustive()
    }
}

/// Ends the subscription with this ID (sent by a dropped
/// [`Subscription`](crate::Subscription)).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Unsubscribe(pub u64);
