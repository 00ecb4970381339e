//! What a sent packet carried, remembered until it is acknowledged or
//! declared lost (RFC 9002 §A.1.1): the frames to send again if it is
//! lost, and what loss detection and congestion control need.

use crate::protocol::stream_id::{Dir, StreamId};
use crate::protocol::streams::{StreamChunk, StreamReset};
use std::time::Instant;

/// A frame we may need to send again if its packet is lost.
#[derive(Debug, Clone)]
pub(crate) enum SentFrame {
    /// CRYPTO bytes.
    Crypto {
        /// Offset in the crypto stream.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// STREAM bytes.
    Stream(StreamChunk),
    /// MAX_DATA.
    MaxData,
    /// MAX_STREAM_DATA for a stream.
    MaxStreamData(StreamId),
    /// MAX_STREAMS in a direction.
    MaxStreams(Dir),
    /// RESET_STREAM.
    Reset(StreamReset),
    /// STOP_SENDING for a stream, with our error code.
    StopSending { id: StreamId, code: u64 },
    /// NEW_CONNECTION_ID with this sequence number.
    NewCid(u64),
    /// PATH_CHALLENGE with this data (RFC 9000 §8.2).
    PathChallenge([u8; 8]),
    /// RETIRE_CONNECTION_ID with this sequence number.
    RetireCid(u64),
    /// HANDSHAKE_DONE.
    HandshakeDone,
    /// NEW_TOKEN with this token.
    NewToken(bytes::Bytes),
}

/// What we remember about a sent ack-eliciting packet (RFC 9002 §A.1.1).
#[derive(Debug)]
pub(crate) struct SentPacket {
    /// When it was sent.
    pub time: Instant,
    /// Bytes on the wire.
    pub size: u16,
    /// Counted in bytes in flight.
    pub in_flight: bool,
    /// Frames to requeue if lost.
    pub frames: Vec<SentFrame>,
    /// Sent in a 0-RTT packet (sent again if the server rejects 0-RTT).
    pub zero_rtt: bool,
    /// A PMTU probe (RFC 8899): its loss is no congestion signal.
    pub mtu_probe: bool,
    /// Sent marked ECT(0), and whether in the ECN testing period
    /// (RFC 9000 §13.4.2); set when it is tracked.
    pub ecn: bool,
    pub ecn_testing: bool,
    /// The path epoch it was sent under ([`PathState::epoch`](super::path::PathState)):
    /// only packets of the current one count for congestion control.
    pub epoch: u32,
}

/// A packet declared lost, remembered to recognise the loss as spurious
/// when an ACK for it arrives after all (RFC 9002 §6.1).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LostPacket {
    /// Its packet number.
    pub pn: u64,
    /// The largest acknowledged packet number when it was declared lost.
    pub largest_acked: u64,
    /// When it was sent.
    pub sent: Instant,
}
