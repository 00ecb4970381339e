//! Errors of stream operations, with the variants quinn users know.

use crate::protocol::VarInt;
pub(crate) use crate::protocol::{ConnectError, ConnectionError, SendDatagramError};
use std::io;

/// Why a write to a stream failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The peer asked us to stop sending with this code (STOP_SENDING).
    #[error("sending stopped by peer: error {0}")]
    Stopped(VarInt),
    /// The connection was lost.
    #[error("connection lost")]
    ConnectionLost(#[from] ConnectionError),
    /// The stream was already finished or reset.
    #[error("closed stream")]
    ClosedStream,
    /// quinn's error for 0-RTT streams when the server rejects 0-RTT.
    /// Never returned here: data written in rejected 0-RTT is sent again
    /// in 1-RTT packets, on the same stream (RFC 9001 §4.6.2 leaves that
    /// to the implementation). Kept so code written for quinn compiles.
    #[error("0-RTT rejected")]
    ZeroRttRejected,
}

/// Why a read from a stream failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The peer abandoned the stream with this code (RESET_STREAM).
    #[error("stream reset by peer: error {0}")]
    Reset(VarInt),
    /// The connection was lost.
    #[error("connection lost")]
    ConnectionLost(#[from] ConnectionError),
    /// The stream was already stopped or fully read.
    #[error("closed stream")]
    ClosedStream,
    /// quinn's error for 0-RTT streams when the server rejects 0-RTT;
    /// never returned here, see [`WriteError::ZeroRttRejected`].
    #[error("0-RTT rejected")]
    ZeroRttRejected,
}

/// Why `read_exact` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadExactError {
    /// The stream finished after this many bytes, before the buffer was full.
    #[error("stream finished early ({0} bytes read)")]
    FinishedEarly(usize),
    /// A read failed.
    #[error(transparent)]
    ReadError(#[from] ReadError),
}

/// Why `read_to_end` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadToEndError {
    /// The stream was longer than the limit.
    #[error("read limit exceeded")]
    TooLong,
    /// A read failed.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// What a `write_chunks` took: how many chunks in full, and how many
/// bytes in all (of the chunks taken in full and of one taken in part).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Bytes taken.
    pub bytes: usize,
    /// Chunks taken in full.
    pub chunks: usize,
}

/// The stream is already finished, reset, stopped or unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("closed stream")]
pub struct ClosedStream;

/// Why waiting for `stopped` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoppedError {
    /// The connection was lost.
    #[error("connection lost")]
    ConnectionLost(#[from] ConnectionError),
    /// quinn's error for 0-RTT streams when the server rejects 0-RTT;
    /// never returned here, see [`WriteError::ZeroRttRejected`].
    #[error("0-RTT rejected")]
    ZeroRttRejected,
}

// The `std::io::Error` kinds are quinn's, so code moving between the two
// sees the same kinds.

impl From<WriteError> for io::Error {
    fn from(e: WriteError) -> Self {
        let kind = match e {
            WriteError::Stopped(_) | WriteError::ZeroRttRejected => io::ErrorKind::ConnectionReset,
            WriteError::ConnectionLost(_) | WriteError::ClosedStream => io::ErrorKind::NotConnected,
        };
        io::Error::new(kind, e)
    }
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> Self {
        let kind = match e {
            ReadError::Reset(_) | ReadError::ZeroRttRejected => io::ErrorKind::ConnectionReset,
            ReadError::ConnectionLost(_) | ReadError::ClosedStream => io::ErrorKind::NotConnected,
        };
        io::Error::new(kind, e)
    }
}

impl From<ReadExactError> for io::Error {
    fn from(e: ReadExactError) -> Self {
        match e {
            ReadExactError::FinishedEarly(_) => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            ReadExactError::ReadError(e) => e.into(),
        }
    }
}

impl From<StoppedError> for io::Error {
    fn from(e: StoppedError) -> Self {
        let kind = match e {
            StoppedError::ZeroRttRejected => io::ErrorKind::ConnectionReset,
            StoppedError::ConnectionLost(_) => io::ErrorKind::NotConnected,
        };
        io::Error::new(kind, e)
    }
}

impl From<ClosedStream> for io::Error {
    fn from(e: ClosedStream) -> Self {
        io::Error::new(io::ErrorKind::NotConnected, e)
    }
}

impl From<ConnectionError> for io::Error {
    fn from(e: ConnectionError) -> Self {
        let kind = match e {
            ConnectionError::TimedOut => io::ErrorKind::TimedOut,
            ConnectionError::Reset => io::ErrorKind::ConnectionReset,
            ConnectionError::ApplicationClosed(_) | ConnectionError::ConnectionClosed(_) => {
                io::ErrorKind::ConnectionAborted
            }
            ConnectionError::TransportError(_)
            | ConnectionError::VersionMismatch
            | ConnectionError::LocallyClosed
            | ConnectionError::CidsExhausted => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ApplicationClose;

    #[test]
    fn io_error_kinds_are_quinns() {
        let kind = |e: io::Error| e.kind();
        let code = VarInt::from_u32(7);
        assert_eq!(
            kind(WriteError::Stopped(code).into()),
            io::ErrorKind::ConnectionReset
        );
        assert_eq!(
            kind(WriteError::ClosedStream.into()),
            io::ErrorKind::NotConnected
        );
        assert_eq!(
            kind(WriteError::ConnectionLost(ConnectionError::TimedOut).into()),
            io::ErrorKind::NotConnected
        );
        assert_eq!(
            kind(ReadError::Reset(code).into()),
            io::ErrorKind::ConnectionReset
        );
        assert_eq!(
            kind(ReadError::ClosedStream.into()),
            io::ErrorKind::NotConnected
        );
        assert_eq!(
            kind(ReadExactError::FinishedEarly(3).into()),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            kind(ReadExactError::ReadError(ReadError::Reset(code)).into()),
            io::ErrorKind::ConnectionReset
        );
        assert_eq!(
            kind(StoppedError::ConnectionLost(ConnectionError::Reset).into()),
            io::ErrorKind::NotConnected
        );
        assert_eq!(kind(ClosedStream.into()), io::ErrorKind::NotConnected);
        assert_eq!(
            kind(ConnectionError::TimedOut.into()),
            io::ErrorKind::TimedOut
        );
        assert_eq!(
            kind(ConnectionError::Reset.into()),
            io::ErrorKind::ConnectionReset
        );
        let closed = ConnectionError::ApplicationClosed(ApplicationClose {
            error_code: code,
            reason: bytes::Bytes::new(),
        });
        assert_eq!(kind(closed.into()), io::ErrorKind::ConnectionAborted);
        assert_eq!(
            kind(ConnectionError::LocallyClosed.into()),
            io::ErrorKind::Other
        );
    }
}
