//! Every message of this crate, each a plain actix [`Message`](actix::Message):
//! the connection actor's (one per operation: [`OpenBi`], [`Write`],
//! [`Close`], [`SendDatagram`], ...) and the endpoint actor's
//! ([`Connect`], [`Accept`], ...). A user may send them straight to an
//! actor's `Addr` ([`Connection::addr`](crate::Connection::addr),
//! [`Endpoint::addr`](crate::Endpoint::addr)); the handles are thin
//! wrappers over exactly these. The messages the actors exchange among
//! themselves are in `internal`, not public.

mod connection;
mod endpoint;
#[cfg(feature = "test-hooks")]
mod hooks;
pub(crate) mod internal;
#[cfg(feature = "test-hooks")]
pub use hooks::{ConnectionActors, TableSizes, Tables};

/// Stream IDs name the stream in stream messages.
pub use crate::protocol::StreamId;
pub use connection::{
    AcceptBi, AcceptUni, Chunks, Close, ExportKeyingMaterial, ExportKeyingMaterialError, Finish,
    ForceKeyUpdate, OpenBi, OpenUni, Read, ReadChunks, ReadDatagram, Reset, SendDatagram,
    SetMaxConcurrentStreams, Stats, Stop, Stopped, Subscribe, Unsubscribe, WaitClosed,
    WaitConnected, WaitHandshakeData, Write, WriteChunks, ZeroRttStatus,
};
pub use endpoint::{
    Accept, AcceptIncoming, CloseEndpoint, Connect, IgnoreIncoming, IncomingDecision, NewIncoming,
    RefuseIncoming, RetryIncoming, SetDefaultClientConfig, SetIncomingPolicy, SetServerConfig,
    WaitIdle,
};
