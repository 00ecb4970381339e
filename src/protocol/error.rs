//! Transport error codes (RFC 9000 §20.1) and the error type the protocol
//! core uses to close a connection.

use std::fmt;

/// A QUIC transport error code (RFC 9000 §20.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransportErrorCode(pub u64);

impl TransportErrorCode {
    /// An endpoint uses this with CONNECTION_CLOSE to signal that the
    /// connection is being closed abruptly in the absence of any error.
    pub const NO_ERROR: Self = Self(0x00);
    /// The endpoint encountered an internal error and cannot continue.
    pub const INTERNAL_ERROR: Self = Self(0x01);
    /// The server refused to accept a new connection.
    pub const CONNECTION_REFUSED: Self = Self(0x02);
    /// Received more data than permitted in advertised data limits.
    pub const FLOW_CONTROL_ERROR: Self = Self(0x03);
    /// Received a frame for a stream identifier that exceeded the advertised stream limit.
    pub const STREAM_LIMIT_ERROR: Self = Self(0x04);
    /// Received a frame for a stream that was not in a state that permitted that frame.
    pub const STREAM_STATE_ERROR: Self = Self(0x05);
    /// Received a final size that was inconsistent with data already received.
    pub const FINAL_SIZE_ERROR: Self = Self(0x06);
    /// Received a frame that was badly formatted.
    pub const FRAME_ENCODING_ERROR: Self = Self(0x07);
    /// Received transport parameters that were badly formatted or invalid.
    pub const TRANSPORT_PARAMETER_ERROR: Self = Self(0x08);
    /// The number of connection IDs provided by the peer exceeds the limit.
    pub const CONNECTION_ID_LIMIT_ERROR: Self = Self(0x09);
    /// Detected an error with protocol compliance not covered by a more specific code.
    pub const PROTOCOL_VIOLATION: Self = Self(0x0a);
    /// A server received a client Initial that contained an invalid Token field.
    pub const INVALID_TOKEN: Self = Self(0x0b);
    /// The application or application protocol caused the connection to be closed.
    pub const APPLICATION_ERROR: Self = Self(0x0c);
    /// Received more data in CRYPTO frames than can be buffered.
    pub const CRYPTO_BUFFER_EXCEEDED: Self = Self(0x0d);
    /// Detected errors in performing key updates.
    pub const KEY_UPDATE_ERROR: Self = Self(0x0e);
    /// Reached the confidentiality or integrity limit for the AEAD algorithm.
    pub const AEAD_LIMIT_REACHED: Self = Self(0x0f);
    /// No viable network path exists.
    pub const NO_VIABLE_PATH: Self = Self(0x10);
    /// Version negotiation was tampered with or failed (RFC 9368 §10.2).
    pub const VERSION_NEGOTIATION_ERROR: Self = Self(0x11);

    /// A TLS alert mapped into the CRYPTO_ERROR range (RFC 9001 §4.8).
    pub const fn crypto(alert: u8) -> Self {
        Self(0x0100 | alert as u64)
    }
}

impl fmt::Debug for TransportErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0x00 => "NO_ERROR",
            0x01 => "INTERNAL_ERROR",
            0x02 => "CONNECTION_REFUSED",
            0x03 => "FLOW_CONTROL_ERROR",
            0x04 => "STREAM_LIMIT_ERROR",
            0x05 => "STREAM_STATE_ERROR",
            0x06 => "FINAL_SIZE_ERROR",
            0x07 => "FRAME_ENCODING_ERROR",
            0x08 => "TRANSPORT_PARAMETER_ERROR",
            0x09 => "CONNECTION_ID_LIMIT_ERROR",
            0x0a => "PROTOCOL_VIOLATION",
            0x0b => "INVALID_TOKEN",
            0x0c => "APPLICATION_ERROR",
            0x0d => "CRYPTO_BUFFER_EXCEEDED",
            0x0e => "KEY_UPDATE_ERROR",
            0x0f => "AEAD_LIMIT_REACHED",
            0x10 => "NO_VIABLE_PATH",
            0x11 => "VERSION_NEGOTIATION_ERROR",
            0x100..=0x1ff => return write!(f, "CRYPTO_ERROR({:#x})", self.0 & 0xff),
            other => return write!(f, "{other:#x}"),
        };
        f.write_str(name)
    }
}

impl fmt::Display for TransportErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A transport error: the code sent in CONNECTION_CLOSE (type 0x1c), the
/// type of the frame that triggered it (0 when unknown) and a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// The error code.
    pub code: TransportErrorCode,
    /// The frame type that triggered the error, or 0.
    pub frame_type: u64,
    /// A human-readable reason, sent to the peer.
    pub reason: String,
}

impl TransportError {
    /// An error with `code` and `reason`, not tied to a frame type.
    pub fn new(code: TransportErrorCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            frame_type: 0,
            reason: reason.into(),
        }
    }

    /// Shorthand for a PROTOCOL_VIOLATION.
    pub fn protocol_violation(reason: impl Into<String>) -> Self {
        Self::new(TransportErrorCode::PROTOCOL_VIOLATION, reason)
    }

    /// Shorthand for a FRAME_ENCODING_ERROR.
    pub fn frame_encoding(reason: impl Into<String>) -> Self {
        Self::new(TransportErrorCode::FRAME_ENCODING_ERROR, reason)
    }

    /// Sets the frame type that triggered the error.
    pub fn with_frame_type(mut self, frame_type: u64) -> Self {
        self.frame_type = frame_type;
        self
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        Ok(())
    }
}

impl std::error::Error for TransportError {}
