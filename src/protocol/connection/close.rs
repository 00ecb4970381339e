//! Closing a connection (RFC 9000 §10): CONNECTION_CLOSE, the closing and
//! draining states, idle timeout, and the errors users see.

use super::{Connection, EndpointEvent, Event, SpaceId, State};
use crate::protocol::error::{TransportError, TransportErrorCode};
use crate::protocol::frame::Frame;
use crate::protocol::varint::VarInt;
use bytes::Bytes;
use std::fmt;
use std::time::Instant;

/// The peer closed the connection with a transport error (frame 0x1c).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionClose {
    /// The transport error code.
    pub error_code: TransportErrorCode,
    /// The frame type that triggered it.
    pub frame_type: u64,
    /// The reason the peer gave.
    pub reason: Bytes,
}

/// The peer's application closed the connection (frame 0x1d).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationClose {
    /// The application's error code.
    pub error_code: VarInt,
    /// The reason the peer gave.
    pub reason: Bytes,
}

/// Why a connection ended, with the variants quinn users know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// The peer does not speak any version we speak.
    #[error("peer doesn't implement any supported version")]
    VersionMismatch,
    /// We detected a protocol violation by the peer, or an internal error.
    #[error(transparent)]
    TransportError(TransportError),
    /// The peer closed with a transport error.
    #[error("aborted by peer: {0}")]
    ConnectionClosed(ConnectionClose),
    /// The peer's application closed the connection.
    #[error("closed by peer: {0}")]
    ApplicationClosed(ApplicationClose),
    /// The peer sent a stateless reset.
    #[error("reset by peer")]
    Reset,
    /// Nothing was heard from the peer for the idle timeout.
    #[error("timed out")]
    TimedOut,
    /// We closed the connection.
    #[error("closed")]
    LocallyClosed,
    /// quinn's error when no connection ID is left to start a connection
    /// with. Not produced here: our connection IDs are 8 random bytes.
    /// Kept so code written for quinn compiles.
    #[error("CIDs exhausted")]
    CidsExhausted,
}

impl fmt::Display for ConnectionClose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error_code)?;
        if !self.reason.is_empty() {
            write!(f, ": {}", String::from_utf8_lossy(&self.reason))?;
        }
        Ok(())
    }
}

impl fmt::Display for ApplicationClose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error {}", self.error_code)?;
        if !self.reason.is_empty() {
            write!(f, ": {}", String::from_utf8_lossy(&self.reason))?;
        }
        Ok(())
    }
}

/// The CONNECTION_CLOSE frame we send while closing (RFC 9000 §19.19).
#[derive(Debug, Clone)]
pub(super) struct CloseFrame {
    /// Application close (0x1d) rather than transport (0x1c).
    pub(super) app: bool,
    /// The error code.
    pub(super) code: u64,
    /// Transport closes: the frame type that caused it.
    pub(super) frame_type: u64,
    /// The reason phrase.
    pub(super) reason: Bytes,
}

impl CloseFrame {
    /// The frame to send in `space`: an application close becomes a
    /// transport APPLICATION_ERROR without reason in handshake packets,
    /// which must not reveal it (RFC 9000 §10.2.3).
    pub(super) fn frame_for(&self, space: SpaceId) -> Frame {
        if self.app && space != SpaceId::Data {
            Frame::ConnectionClose {
                app: false,
                code: TransportErrorCode::APPLICATION_ERROR.0,
                frame_type: 0,
                reason: Bytes::new(),
            }
        } else {
            Frame::ConnectionClose {
                app: self.app,
                code: self.code,
                frame_type: self.frame_type,
                reason: self.reason.clone(),
            }
        }
    }
}

/// Where a connection stands with closing.
#[derive(Debug)]
pub(super) struct CloseState {
    /// When the closing or draining period ends.
    pub(super) deadline: Option<Instant>,
    /// What we send while closing.
    pub(super) frame: Option<Box<CloseFrame>>,
    /// A CONNECTION_CLOSE is owed.
    pub(super) send_pending: bool,
    /// Packets received while closing before the close is sent again.
    budget: u32,
    /// Packets received while closing since it was last sent.
    received: u32,
}

impl Default for CloseState {
    fn default() -> Self {
        Self {
            deadline: None,
            frame: None,
            send_pending: false,
            budget: 1,
            received: 0,
        }
    }
}

impl CloseState {
    /// A packet arrived while closing: answer with the close again, with
    /// exponential back-off (RFC 9000 §10.2.1).
    fn on_packet(&mut self) {
        self.received += 1;
        if self.received >= self.budget {
            self.received = 0;
            self.budget = self.budget.saturating_mul(2);
            self.send_pending = true;
        }
    }
}

impl Connection {
    /// Closes the connection with an application error code and reason
    /// (RFC 9000 §10.2). The reason is truncated to fit one packet.
    pub fn close(&mut self, now: Instant, code: VarInt, reason: Bytes) {
        if self.is_closed() {
            return;
        }
        self.start_close(
            now,
            true,
            code.into_inner(),
            0,
            reason,
            ConnectionError::LocallyClosed,
        );
    }

    /// Enters the closing state and reports `error` to the application.
    pub(super) fn start_close(
        &mut self,
        now: Instant,
        app: bool,
        code: u64,
        frame_type: u64,
        mut reason: Bytes,
        error: ConnectionError,
    ) {
        if self.is_closed() {
            return;
        }
        // Keep the whole CONNECTION_CLOSE within one packet.
        let max_reason = self.path.mtu.saturating_sub(100);
        if reason.len() > max_reason {
            reason.truncate(max_reason);
        }
        self.close.frame = Some(Box::new(CloseFrame {
            app,
            code,
            frame_type,
            reason,
        }));
        self.close.send_pending = true;
        self.state = State::Closing;
        // RFC 9000 §10.2: linger for three times the PTO.
        self.close.deadline = Some(now + 3 * self.pto_duration(SpaceId::Data));
        self.set_error(error);
        self.release_send_state();
    }

    /// The peer sent CONNECTION_CLOSE: enter draining (RFC 9000 §10.2.2).
    pub(super) fn on_peer_close(&mut self, now: Instant, error: ConnectionError) {
        if self.state == State::Draining || self.state == State::Drained {
            return;
        }
        self.state = State::Draining;
        self.close.send_pending = false;
        self.close.deadline = Some(now + 3 * self.pto_duration(SpaceId::Data));
        self.set_error(error);
        self.release_send_state();
    }

    /// Ends the connection without a word (idle timeout, stateless reset).
    pub(super) fn drain_now(&mut self, error: ConnectionError) {
        self.set_error(error);
        self.close.send_pending = false;
        self.state = State::Drained;
        self.endpoint_events.push_back(EndpointEvent::Drained);
        self.release_send_state();
    }

    fn set_error(&mut self, error: ConnectionError) {
        if self.error.is_none() {
            self.qlog.connection_closed(&error);
            self.error = Some(Box::new(error.clone()));
            self.events.push_back(Event::ConnectionLost(error));
        }
    }

    fn release_send_state(&mut self) {
        self.recovery.clear();
        for s in self.spaces.iter_mut() {
            s.acks.cancel();
        }
        self.path.cc.in_flight = 0;
        if let Some(d) = &mut self.datagrams {
            d.clear_outgoing();
        }
    }

    /// Called on every packet received while closing: answer with the
    /// close frame again, with exponential back-off (RFC 9000 §10.2.1).
    pub(super) fn on_packet_while_closing(&mut self) {
        self.close.on_packet();
    }

    /// Handles the close and idle deadlines; true if one fired.
    pub(super) fn on_close_timers(&mut self, now: Instant) -> bool {
        if self.state == State::Drained {
            return true;
        }
        if let Some(t) = self.close.deadline {
            if now >= t {
                self.close.deadline = None;
                self.state = State::Drained;
                self.endpoint_events.push_back(EndpointEvent::Drained);
                return true;
            }
        }
        if matches!(self.state, State::Closing | State::Draining) {
            return true;
        }
        if let Some(t) = self.idle_deadline {
            if now >= t {
                // RFC 9000 §10.1: silently close.
                self.drain_now(ConnectionError::TimedOut);
                return true;
            }
        }
        false
    }
}
