//! Errors of stream operations, with the variants quinn users know.

use crate::protocol::VarInt;
pub(crate) use crate::protocol::{ConnectError, ConnectionError, SendDatagramError};

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
}

impl From<WriteError> for std::io::Error {
    fn from(e: WriteError) -> Self {
        let kind = match e {
            WriteError::Stopped(_) | WriteError::ClosedStream => std::io::ErrorKind::BrokenPipe,
            WriteError::ConnectionLost(_) => std::io::ErrorKind::ConnectionAborted,
        };
        std::io::Error::new(kind, e)
    }
}

impl From<ReadError> for std::io::Error {
    fn from(e: ReadError) -> Self {
        let kind = match e {
            ReadError::Reset(_) => std::io::ErrorKind::ConnectionReset,
            ReadError::ConnectionLost(_) | ReadError::ClosedStream => {
                std::io::ErrorKind::NotConnected
            }
        };
        std::io::Error::new(kind, e)
    }
}
