//! QUIC frames: the frame types of RFC 9000 §19 and the DATAGRAM frame of
//! RFC 9221 §4, their wire encoding, a zero-copy decoder, and the §12.4
//! rules about which packet types may carry which frames.

use std::ops::RangeInclusive;

use bytes::Bytes;

use super::cid::{ConnectionId, MAX_CID_LEN};
use super::error::TransportError;
use super::stream_id::{Dir, StreamId, MAX_STREAM_COUNT};
use super::varint::{self, Reader};

// Frame type values, RFC 9000 §12.4 Table 3 and RFC 9221 §4.
pub(crate) const PADDING: u64 = 0x00;
pub(crate) const PING: u64 = 0x01;
pub(crate) const ACK: u64 = 0x02;
pub(crate) const ACK_ECN: u64 = 0x03;
pub(crate) const RESET_STREAM: u64 = 0x04;
pub(crate) const STOP_SENDING: u64 = 0x05;
pub(crate) const CRYPTO: u64 = 0x06;
pub(crate) const NEW_TOKEN: u64 = 0x07;
pub(crate) const STREAM: u64 = 0x08;
pub(crate) const STREAM_LAST: u64 = 0x0f;
pub(crate) const MAX_DATA: u64 = 0x10;
pub(crate) const MAX_STREAM_DATA: u64 = 0x11;
pub(crate) const MAX_STREAMS_BIDI: u64 = 0x12;
pub(crate) const MAX_STREAMS_UNI: u64 = 0x13;
pub(crate) const DATA_BLOCKED: u64 = 0x14;
pub(crate) const STREAM_DATA_BLOCKED: u64 = 0x15;
pub(crate) const STREAMS_BLOCKED_BIDI: u64 = 0x16;
pub(crate) const STREAMS_BLOCKED_UNI: u64 = 0x17;
pub(crate) const NEW_CONNECTION_ID: u64 = 0x18;
pub(crate) const RETIRE_CONNECTION_ID: u64 = 0x19;
pub(crate) const PATH_CHALLENGE: u64 = 0x1a;
pub(crate) const PATH_RESPONSE: u64 = 0x1b;
pub(crate) const CONNECTION_CLOSE: u64 = 0x1c;
pub(crate) const CONNECTION_CLOSE_APP: u64 = 0x1d;
pub(crate) const HANDSHAKE_DONE: u64 = 0x1e;
pub(crate) const DATAGRAM: u64 = 0x30;
pub(crate) const DATAGRAM_LEN: u64 = 0x31;

// STREAM type bits, RFC 9000 §19.8.
const STREAM_OFF: u64 = 0x04;
const STREAM_LEN: u64 = 0x02;
const STREAM_FIN: u64 = 0x01;

/// The most ACK ranges the decoder keeps from one ACK frame; further ranges
/// (older packet numbers) are parsed and skipped.
const MAX_STORED_ACK_RANGES: usize = 64;
/// Initial capacity bound for the range vector: the peer's range count is not
/// trusted for allocation.
const ACK_RANGES_INITIAL_CAPACITY: usize = 16;

/// The three ECN counters of an ACK frame of type 0x03 (RFC 9000 §19.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EcnCounts {
    /// Packets received with the ECT(0) codepoint.
    pub ect0: u64,
    /// Packets received with the ECT(1) codepoint.
    pub ect1: u64,
    /// Packets received with the ECN-CE codepoint.
    pub ce: u64,
}

/// ACK frame. `ranges` holds inclusive packet-number ranges in DESCENDING
/// order (`ranges[0]` contains `largest`), non-overlapping, non-adjacent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// Largest Acknowledged packet number.
    pub largest: u64,
    /// The ACK Delay field as encoded (not scaled by ack_delay_exponent).
    pub delay: u64,
    /// Acknowledged ranges, highest first.
    pub ranges: Vec<RangeInclusive<u64>>,
    /// ECN counts, present for frame type 0x03.
    pub ecn: Option<EcnCounts>,
}

/// A QUIC frame (RFC 9000 §19, RFC 9221 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A run of `n` PADDING bytes (RFC 9000 §19.1); the decoder coalesces
    /// consecutive 0x00 bytes into one value.
    Padding(usize),
    /// PING (RFC 9000 §19.2).
    Ping,
    /// ACK (RFC 9000 §19.3).
    Ack(Ack),
    /// RESET_STREAM (RFC 9000 §19.4).
    ResetStream {
        /// Stream ID.
        id: StreamId,
        /// Application protocol error code.
        error_code: u64,
        /// Final size of the stream.
        final_size: u64,
    },
    /// STOP_SENDING (RFC 9000 §19.5).
    StopSending {
        /// Stream ID.
        id: StreamId,
        /// Application protocol error code.
        error_code: u64,
    },
    /// CRYPTO (RFC 9000 §19.6).
    Crypto {
        /// Byte offset in the crypto stream.
        offset: u64,
        /// Handshake data.
        data: Bytes,
    },
    /// NEW_TOKEN (RFC 9000 §19.7).
    NewToken {
        /// The (non-empty) address validation token.
        token: Bytes,
    },
    /// STREAM (RFC 9000 §19.8).
    Stream {
        /// Stream ID.
        id: StreamId,
        /// Byte offset of `data` in the stream.
        offset: u64,
        /// True if this frame ends the stream.
        fin: bool,
        /// Stream data.
        data: Bytes,
    },
    /// MAX_DATA (RFC 9000 §19.9).
    MaxData(u64),
    /// MAX_STREAM_DATA (RFC 9000 §19.10).
    MaxStreamData {
        /// Stream ID.
        id: StreamId,
        /// Maximum stream data, in bytes.
        max: u64,
    },
    /// MAX_STREAMS (RFC 9000 §19.11).
    MaxStreams {
        /// Which kind of stream the limit applies to.
        dir: Dir,
        /// Cumulative number of streams the peer may open (at most 2^60).
        count: u64,
    },
    /// DATA_BLOCKED (RFC 9000 §19.12).
    DataBlocked(u64),
    /// STREAM_DATA_BLOCKED (RFC 9000 §19.13).
    StreamDataBlocked {
        /// Stream ID.
        id: StreamId,
        /// The stream data limit at which the sender is blocked.
        limit: u64,
    },
    /// STREAMS_BLOCKED (RFC 9000 §19.14).
    StreamsBlocked {
        /// Which kind of stream the sender is blocked on.
        dir: Dir,
        /// The stream limit at the time the frame was sent (at most 2^60).
        limit: u64,
    },
    /// NEW_CONNECTION_ID (RFC 9000 §19.15).
    NewConnectionId {
        /// Sequence number of the connection ID.
        seq: u64,
        /// Connection IDs below this sequence number should be retired.
        retire_prior_to: u64,
        /// The new connection ID (1 to 20 bytes).
        cid: ConnectionId,
        /// Stateless reset token for `cid`.
        reset_token: [u8; 16],
    },
    /// RETIRE_CONNECTION_ID (RFC 9000 §19.16).
    RetireConnectionId {
        /// Sequence number of the connection ID being retired.
        seq: u64,
    },
    /// PATH_CHALLENGE (RFC 9000 §19.17).
    PathChallenge([u8; 8]),
    /// PATH_RESPONSE (RFC 9000 §19.18).
    PathResponse([u8; 8]),
    /// CONNECTION_CLOSE (RFC 9000 §19.19).
    ConnectionClose {
        /// True for the application variant (type 0x1d).
        app: bool,
        /// Transport or application error code.
        code: u64,
        /// Type of the frame that triggered the error; 0 for the application
        /// variant, which does not carry the field.
        frame_type: u64,
        /// Reason phrase (should be UTF-8, not checked).
        reason: Bytes,
    },
    /// HANDSHAKE_DONE (RFC 9000 §19.20).
    HandshakeDone,
    /// DATAGRAM (RFC 9221 §4).
    Datagram {
        /// Datagram payload.
        data: Bytes,
    },
}

/// Kinds of packet, for the §12.4 allowed-frames check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketSpaceKind {
    /// Initial packets (RFC 9000 §17.2.2).
    Initial,
    /// Handshake packets (RFC 9000 §17.2.4).
    Handshake,
    /// 0-RTT packets (RFC 9000 §17.2.3).
    ZeroRtt,
    /// 1-RTT (short header) packets (RFC 9000 §17.3).
    OneRtt,
}

/// Destination for the encoder: either a byte vector or a length counter, so
/// that `encode` and `encoded_len` share one code path and cannot disagree.
trait Sink {
    fn put_u8(&mut self, b: u8);
    fn put_varint(&mut self, v: u64);
    fn put_slice(&mut self, s: &[u8]);
    fn put_zeros(&mut self, n: usize);
}

impl Sink for Vec<u8> {
    fn put_u8(&mut self, b: u8) {
        self.push(b);
    }
    fn put_varint(&mut self, v: u64) {
        varint::write(self, v);
    }
    fn put_slice(&mut self, s: &[u8]) {
        self.extend_from_slice(s);
    }
    fn put_zeros(&mut self, n: usize) {
        self.resize(self.len() + n, 0);
    }
}

/// Counts the bytes an encoding would take.
struct Counter(usize);

impl Sink for Counter {
    fn put_u8(&mut self, _: u8) {
        self.0 += 1;
    }
    fn put_varint(&mut self, v: u64) {
        self.0 += varint::size(v);
    }
    fn put_slice(&mut self, s: &[u8]) {
        self.0 += s.len();
    }
    fn put_zeros(&mut self, n: usize) {
        self.0 += n;
    }
}

/// The STREAM frame type encode() uses: LEN always set, OFF iff offset > 0
/// (RFC 9000 §19.8).
fn stream_type(offset: u64, fin: bool) -> u64 {
    let mut ty = STREAM | STREAM_LEN;
    if offset > 0 {
        ty |= STREAM_OFF;
    }
    if fin {
        ty |= STREAM_FIN;
    }
    ty
}

// RFC 9000 §19.8: Type, Stream ID, [Offset], Length.
fn stream_header_to<S: Sink>(s: &mut S, id: StreamId, offset: u64, len: usize, fin: bool) {
    s.put_varint(stream_type(offset, fin));
    s.put_varint(u64::from(id));
    if offset > 0 {
        s.put_varint(offset);
    }
    s.put_varint(len as u64);
}

// RFC 9000 §19.6: Type, Offset, Length.
fn crypto_header_to<S: Sink>(s: &mut S, offset: u64, len: usize) {
    s.put_varint(CRYPTO);
    s.put_varint(offset);
    s.put_varint(len as u64);
}

/// Writes a STREAM frame header with the LEN bit set (and OFF bit iff
/// offset > 0, FIN bit iff fin), for `len` data bytes; the caller appends the
/// data itself.
pub fn encode_stream_header(buf: &mut Vec<u8>, id: StreamId, offset: u64, len: usize, fin: bool) {
    stream_header_to(buf, id, offset, len, fin);
}

/// Size of the header [`encode_stream_header`] writes.
pub fn stream_header_len(id: StreamId, offset: u64, len: usize) -> usize {
    let mut c = Counter(0);
    stream_header_to(&mut c, id, offset, len, false);
    c.0
}

/// Writes a CRYPTO frame header for `len` bytes at `offset`; the caller
/// appends the data itself.
pub fn encode_crypto_header(buf: &mut Vec<u8>, offset: u64, len: usize) {
    crypto_header_to(buf, offset, len);
}

/// Size of the header [`encode_crypto_header`] writes.
pub fn crypto_header_len(offset: u64, len: usize) -> usize {
    let mut c = Counter(0);
    crypto_header_to(&mut c, offset, len);
    c.0
}

impl Ack {
    /// RFC 9000 §19.3: everything after the type. Ranges are turned into the
    /// First ACK Range and Gap / ACK Range Length pairs (§19.3.1). Arithmetic
    /// saturates so that a malformed `Ack` cannot panic the encoder.
    fn encode_body<S: Sink>(&self, s: &mut S) {
        ack_body(
            s,
            self.largest,
            self.delay,
            self.ranges.len(),
            self.ranges.iter().cloned(),
            self.ecn.as_ref(),
        );
    }
}

/// Appends an ACK frame (RFC 9000 §19.3) of `count` ranges, highest
/// first, without building an [`Ack`]: the ranges come straight from
/// where they are tracked.
pub(crate) fn encode_ack(
    buf: &mut Vec<u8>,
    largest: u64,
    delay: u64,
    count: usize,
    ranges: impl Iterator<Item = RangeInclusive<u64>>,
    ecn: Option<&EcnCounts>,
) {
    buf.put_varint(if ecn.is_some() { ACK_ECN } else { ACK });
    ack_body(buf, largest, delay, count, ranges, ecn);
}

/// An ACK frame's fields after its type.
fn ack_body<S: Sink>(
    s: &mut S,
    largest: u64,
    delay: u64,
    count: usize,
    mut ranges: impl Iterator<Item = RangeInclusive<u64>>,
    ecn: Option<&EcnCounts>,
) {
    s.put_varint(largest);
    s.put_varint(delay);
    s.put_varint(count.saturating_sub(1) as u64);
    let (first, mut prev_smallest) = match ranges.next() {
        Some(r) => (largest.saturating_sub(*r.start()), *r.start()),
        None => (0, largest),
    };
    s.put_varint(first);
    for r in ranges {
        // largest = previous_smallest - gap - 2 (§19.3.1)
        let gap = prev_smallest.saturating_sub(*r.end()).saturating_sub(2);
        let len = r.end().saturating_sub(*r.start());
        s.put_varint(gap);
        s.put_varint(len);
        prev_smallest = *r.start();
    }
    // RFC 9000 §19.3.2
    if let Some(ecn) = ecn {
        s.put_varint(ecn.ect0);
        s.put_varint(ecn.ect1);
        s.put_varint(ecn.ce);
    }
}

impl Frame {
    /// The wire frame type of this frame (for STREAM: 0x08 with OFF/LEN/FIN
    /// bits as encode() writes them; Datagram: 0x31; ConnectionClose: 0x1c /
    /// 0x1d).
    pub fn ty(&self) -> u64 {
        match self {
            Frame::Padding(_) => PADDING,
            Frame::Ping => PING,
            Frame::Ack(ack) => {
                if ack.ecn.is_some() {
                    ACK_ECN
                } else {
                    ACK
                }
            }
            Frame::ResetStream { .. } => RESET_STREAM,
            Frame::StopSending { .. } => STOP_SENDING,
            Frame::Crypto { .. } => CRYPTO,
            Frame::NewToken { .. } => NEW_TOKEN,
            Frame::Stream { offset, fin, .. } => stream_type(*offset, *fin),
            Frame::MaxData(_) => MAX_DATA,
            Frame::MaxStreamData { .. } => MAX_STREAM_DATA,
            Frame::MaxStreams { dir: Dir::Bi, .. } => MAX_STREAMS_BIDI,
            Frame::MaxStreams { dir: Dir::Uni, .. } => MAX_STREAMS_UNI,
            Frame::DataBlocked(_) => DATA_BLOCKED,
            Frame::StreamDataBlocked { .. } => STREAM_DATA_BLOCKED,
            Frame::StreamsBlocked { dir: Dir::Bi, .. } => STREAMS_BLOCKED_BIDI,
            Frame::StreamsBlocked { dir: Dir::Uni, .. } => STREAMS_BLOCKED_UNI,
            Frame::NewConnectionId { .. } => NEW_CONNECTION_ID,
            Frame::RetireConnectionId { .. } => RETIRE_CONNECTION_ID,
            Frame::PathChallenge(_) => PATH_CHALLENGE,
            Frame::PathResponse(_) => PATH_RESPONSE,
            Frame::ConnectionClose { app: false, .. } => CONNECTION_CLOSE,
            Frame::ConnectionClose { app: true, .. } => CONNECTION_CLOSE_APP,
            Frame::HandshakeDone => HANDSHAKE_DONE,
            Frame::Datagram { .. } => DATAGRAM_LEN,
        }
    }

    /// Appends the encoding. STREAM frames are always encoded with explicit
    /// offset (when offset>0) and LEN bit; DATAGRAM always with length (0x31).
    pub fn encode(&self, buf: &mut Vec<u8>) {
        self.encode_to(buf);
    }

    /// Encoded size in bytes (equal to what [`Frame::encode`] appends).
    pub fn encoded_len(&self) -> usize {
        let mut c = Counter(0);
        self.encode_to(&mut c);
        c.0
    }

    fn encode_to<S: Sink>(&self, s: &mut S) {
        match self {
            // RFC 9000 §19.1: each PADDING frame is a single 0x00 byte.
            Frame::Padding(n) => s.put_zeros(*n),
            // RFC 9000 §19.8
            Frame::Stream {
                id,
                offset,
                fin,
                data,
            } => {
                stream_header_to(s, *id, *offset, data.len(), *fin);
                s.put_slice(data);
            }
            // RFC 9000 §19.6
            Frame::Crypto { offset, data } => {
                crypto_header_to(s, *offset, data.len());
                s.put_slice(data);
            }
            _ => {
                s.put_varint(self.ty());
                self.encode_body(s);
            }
        }
    }

    /// The fields after the frame type, for frames whose header is not
    /// produced by a shared helper.
    fn encode_body<S: Sink>(&self, s: &mut S) {
        match self {
            // Handled in encode_to.
            Frame::Padding(_) | Frame::Stream { .. } | Frame::Crypto { .. } => {}
            // RFC 9000 §19.2, §19.20: no fields.
            Frame::Ping | Frame::HandshakeDone => {}
            Frame::Ack(ack) => ack.encode_body(s),
            // RFC 9000 §19.4
            Frame::ResetStream {
                id,
                error_code,
                final_size,
            } => {
                s.put_varint(u64::from(*id));
                s.put_varint(*error_code);
                s.put_varint(*final_size);
            }
            // RFC 9000 §19.5
            Frame::StopSending { id, error_code } => {
                s.put_varint(u64::from(*id));
                s.put_varint(*error_code);
            }
            // RFC 9000 §19.7
            Frame::NewToken { token } => {
                s.put_varint(token.len() as u64);
                s.put_slice(token);
            }
            // RFC 9000 §19.9, §19.12
            Frame::MaxData(v) | Frame::DataBlocked(v) => s.put_varint(*v),
            // RFC 9000 §19.10
            Frame::MaxStreamData { id, max } => {
                s.put_varint(u64::from(*id));
                s.put_varint(*max);
            }
            // RFC 9000 §19.13
            Frame::StreamDataBlocked { id, limit } => {
                s.put_varint(u64::from(*id));
                s.put_varint(*limit);
            }
            // RFC 9000 §19.11, §19.14
            Frame::MaxStreams { count: v, .. } | Frame::StreamsBlocked { limit: v, .. } => {
                s.put_varint(*v)
            }
            // RFC 9000 §19.15
            Frame::NewConnectionId {
                seq,
                retire_prior_to,
                cid,
                reset_token,
            } => {
                s.put_varint(*seq);
                s.put_varint(*retire_prior_to);
                s.put_u8(cid.len() as u8);
                s.put_slice(cid);
                s.put_slice(reset_token);
            }
            // RFC 9000 §19.16
            Frame::RetireConnectionId { seq } => s.put_varint(*seq),
            // RFC 9000 §19.17, §19.18
            Frame::PathChallenge(d) | Frame::PathResponse(d) => s.put_slice(d),
            // RFC 9000 §19.19
            Frame::ConnectionClose {
                app,
                code,
                frame_type,
                reason,
            } => {
                s.put_varint(*code);
                if !*app {
                    s.put_varint(*frame_type);
                }
                s.put_varint(reason.len() as u64);
                s.put_slice(reason);
            }
            // RFC 9221 §4, type 0x31 (with Length).
            Frame::Datagram { data } => {
                s.put_varint(data.len() as u64);
                s.put_slice(data);
            }
        }
    }

    /// True if receiving this frame requires an ACK (RFC 9002 §2: all but
    /// ACK, PADDING, CONNECTION_CLOSE).
    pub fn is_ack_eliciting(&self) -> bool {
        !matches!(
            self,
            Frame::Ack(_) | Frame::Padding(_) | Frame::ConnectionClose { .. }
        )
    }

    /// RFC 9000 §12.4 table: may this frame appear in that packet type?
    /// (Initial/Handshake: PADDING, PING, ACK, CRYPTO, CONNECTION_CLOSE type
    /// 0x1c only; 0-RTT: everything except ACK, CRYPTO, HANDSHAKE_DONE,
    /// NEW_TOKEN, PATH_RESPONSE, RETIRE_CONNECTION_ID; 1-RTT: all)
    pub fn allowed_in(&self, kind: PacketSpaceKind) -> bool {
        match kind {
            // RFC 9000 §12.4 ("IH" and "ih" columns), §17.2.2, §17.2.4.
            PacketSpaceKind::Initial | PacketSpaceKind::Handshake => matches!(
                self,
                Frame::Padding(_)
                    | Frame::Ping
                    | Frame::Ack(_)
                    | Frame::Crypto { .. }
                    | Frame::ConnectionClose { app: false, .. }
            ),
            // RFC 9000 §12.5 lists the frames that cannot be sent in 0-RTT
            // (this includes RETIRE_CONNECTION_ID, which the §12.4 table marks
            // "__01"); RFC 9221 §4 allows DATAGRAM in 0-RTT.
            PacketSpaceKind::ZeroRtt => !matches!(
                self,
                Frame::Ack(_)
                    | Frame::Crypto { .. }
                    | Frame::HandshakeDone
                    | Frame::NewToken { .. }
                    | Frame::PathResponse(_)
                    | Frame::RetireConnectionId { .. }
            ),
            // RFC 9000 §12.4: "all frames can appear in 1-RTT packets".
            PacketSpaceKind::OneRtt => true,
        }
    }
}

/// Iterates the frames of a decrypted packet payload. Stream, crypto,
/// datagram, token and reason data are zero-copy `Bytes::slice`s of the
/// payload. After the first error the iterator yields `None`.
#[derive(Debug, Clone)]
pub struct Frames {
    payload: Bytes,
    pos: usize,
    failed: bool,
}

impl Frames {
    /// Starts iterating over the frames of `payload`.
    pub fn new(payload: Bytes) -> Self {
        Self {
            payload,
            pos: 0,
            failed: false,
        }
    }
}

impl Iterator for Frames {
    type Item = Result<Frame, TransportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.payload.len() {
            return None;
        }
        match decode_frame(&self.payload, self.pos) {
            Ok((frame, end)) => {
                self.pos = end;
                Some(Ok(frame))
            }
            Err(e) => {
                self.failed = true;
                self.pos = self.payload.len();
                Some(Err(e))
            }
        }
    }
}

/// A reader over one frame that knows the frame type for error reporting
/// and hands out zero-copy slices of the payload.
struct Cursor<'a> {
    payload: &'a Bytes,
    base: usize,
    r: Reader<'a>,
    ty: u64,
}

impl<'a> Cursor<'a> {
    fn err(&self, reason: &'static str) -> TransportError {
        TransportError::frame_encoding(reason).with_frame_type(self.ty)
    }

    fn varint(&mut self) -> Result<u64, TransportError> {
        self.r.varint().ok_or_else(|| self.err("truncated varint"))
    }

    fn u8(&mut self) -> Result<u8, TransportError> {
        self.r.u8().ok_or_else(|| self.err("truncated frame"))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], TransportError> {
        let b = self.r.bytes(N).ok_or_else(|| self.err("truncated frame"))?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    /// Absolute payload index of the next unread byte.
    fn abs_pos(&self) -> usize {
        self.base + self.r.position()
    }

    /// Takes `len` bytes, checking they are present before any conversion.
    fn take(&mut self, len: u64) -> Result<Bytes, TransportError> {
        if len > self.r.remaining() as u64 {
            return Err(self.err("length exceeds payload"));
        }
        let n = len as usize;
        let start = self.abs_pos();
        self.r
            .bytes(n)
            .ok_or_else(|| self.err("length exceeds payload"))?;
        Ok(self.payload.slice(start..start + n))
    }

    /// Takes everything up to the end of the payload.
    fn take_rest(&mut self) -> Bytes {
        let start = self.abs_pos();
        self.r.rest();
        self.payload.slice(start..)
    }

    /// Takes a varint length followed by that many bytes.
    fn take_len_prefixed(&mut self) -> Result<Bytes, TransportError> {
        let len = self.varint()?;
        self.take(len)
    }
}

/// Decodes the frame starting at `start`; returns it and the index just past
/// its end.
fn decode_frame(payload: &Bytes, start: usize) -> Result<(Frame, usize), TransportError> {
    let mut c = Cursor {
        payload,
        base: start,
        r: Reader::new(&payload[start..]),
        ty: 0,
    };
    // RFC 9000 §12.4: the type is a varint. A longer-than-necessary encoding
    // MAY be treated as an error; it is accepted here.
    c.ty = c.varint()?;
    let frame = match c.ty {
        // RFC 9000 §19.1: coalesce the following zero bytes into one value.
        PADDING => {
            let rest = &payload[c.abs_pos()..];
            let zeros = rest.iter().take_while(|&&b| b == 0).count();
            c.r.bytes(zeros);
            Frame::Padding(c.r.position())
        }
        // RFC 9000 §19.2
        PING => Frame::Ping,
        // RFC 9000 §19.3
        ACK | ACK_ECN => Frame::Ack(decode_ack(&mut c)?),
        // RFC 9000 §19.4
        RESET_STREAM => Frame::ResetStream {
            id: StreamId::from_raw(c.varint()?),
            error_code: c.varint()?,
            final_size: c.varint()?,
        },
        // RFC 9000 §19.5
        STOP_SENDING => Frame::StopSending {
            id: StreamId::from_raw(c.varint()?),
            error_code: c.varint()?,
        },
        // RFC 9000 §19.6
        CRYPTO => {
            let offset = c.varint()?;
            let data = c.take_len_prefixed()?;
            check_end_offset(&c, offset, data.len())?;
            Frame::Crypto { offset, data }
        }
        // RFC 9000 §19.7: the token MUST NOT be empty.
        NEW_TOKEN => {
            let token = c.take_len_prefixed()?;
            if token.is_empty() {
                return Err(c.err("empty NEW_TOKEN"));
            }
            Frame::NewToken { token }
        }
        // RFC 9000 §19.8
        STREAM..=STREAM_LAST => {
            let id = StreamId::from_raw(c.varint()?);
            let offset = if c.ty & STREAM_OFF != 0 {
                c.varint()?
            } else {
                0
            };
            let data = if c.ty & STREAM_LEN != 0 {
                c.take_len_prefixed()?
            } else {
                c.take_rest()
            };
            check_end_offset(&c, offset, data.len())?;
            Frame::Stream {
                id,
                offset,
                fin: c.ty & STREAM_FIN != 0,
                data,
            }
        }
        // RFC 9000 §19.9
        MAX_DATA => Frame::MaxData(c.varint()?),
        // RFC 9000 §19.10
        MAX_STREAM_DATA => Frame::MaxStreamData {
            id: StreamId::from_raw(c.varint()?),
            max: c.varint()?,
        },
        // RFC 9000 §19.11
        MAX_STREAMS_BIDI | MAX_STREAMS_UNI => Frame::MaxStreams {
            dir: dir_of(c.ty),
            count: stream_count(&mut c)?,
        },
        // RFC 9000 §19.12
        DATA_BLOCKED => Frame::DataBlocked(c.varint()?),
        // RFC 9000 §19.13
        STREAM_DATA_BLOCKED => Frame::StreamDataBlocked {
            id: StreamId::from_raw(c.varint()?),
            limit: c.varint()?,
        },
        // RFC 9000 §19.14
        STREAMS_BLOCKED_BIDI | STREAMS_BLOCKED_UNI => Frame::StreamsBlocked {
            dir: dir_of(c.ty),
            limit: stream_count(&mut c)?,
        },
        // RFC 9000 §19.15
        NEW_CONNECTION_ID => {
            let seq = c.varint()?;
            let retire_prior_to = c.varint()?;
            let len = usize::from(c.u8()?);
            if !(1..=MAX_CID_LEN).contains(&len) {
                return Err(c.err("invalid connection ID length"));
            }
            let bytes = c.r.bytes(len).ok_or_else(|| c.err("truncated frame"))?;
            let cid = ConnectionId::new(bytes).ok_or_else(|| c.err("invalid connection ID"))?;
            let reset_token = c.array::<16>()?;
            if retire_prior_to > seq {
                return Err(c.err("retire_prior_to exceeds sequence number"));
            }
            Frame::NewConnectionId {
                seq,
                retire_prior_to,
                cid,
                reset_token,
            }
        }
        // RFC 9000 §19.16
        RETIRE_CONNECTION_ID => Frame::RetireConnectionId { seq: c.varint()? },
        // RFC 9000 §19.17
        PATH_CHALLENGE => Frame::PathChallenge(c.array::<8>()?),
        // RFC 9000 §19.18
        PATH_RESPONSE => Frame::PathResponse(c.array::<8>()?),
        // RFC 9000 §19.19: only type 0x1c carries the Frame Type field.
        CONNECTION_CLOSE | CONNECTION_CLOSE_APP => {
            let app = c.ty == CONNECTION_CLOSE_APP;
            let code = c.varint()?;
            let frame_type = if app { 0 } else { c.varint()? };
            let reason = c.take_len_prefixed()?;
            Frame::ConnectionClose {
                app,
                code,
                frame_type,
                reason,
            }
        }
        // RFC 9000 §19.20
        HANDSHAKE_DONE => Frame::HandshakeDone,
        // RFC 9221 §4: 0x30 runs to the end of the packet, 0x31 has a Length.
        DATAGRAM => Frame::Datagram {
            data: c.take_rest(),
        },
        DATAGRAM_LEN => Frame::Datagram {
            data: c.take_len_prefixed()?,
        },
        // RFC 9000 §12.4: unknown frame types are FRAME_ENCODING_ERROR.
        _ => return Err(c.err("unknown frame type")),
    };
    Ok((frame, c.abs_pos()))
}

fn dir_of(ty: u64) -> Dir {
    if ty & 1 == 0 {
        Dir::Bi
    } else {
        Dir::Uni
    }
}

/// RFC 9000 §19.11, §19.14: stream counts above 2^60 are FRAME_ENCODING_ERROR.
fn stream_count(c: &mut Cursor<'_>) -> Result<u64, TransportError> {
    let v = c.varint()?;
    if v > MAX_STREAM_COUNT {
        return Err(c.err("stream count exceeds 2^60"));
    }
    Ok(v)
}

/// RFC 9000 §19.6, §19.8: offset + length cannot exceed 2^62-1.
fn check_end_offset(c: &Cursor<'_>, offset: u64, len: usize) -> Result<(), TransportError> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= varint::MAX => Ok(()),
        _ => Err(c.err("offset + length exceeds 2^62-1")),
    }
}

/// RFC 9000 §19.3, §19.3.1, §19.3.2: the fields after the type.
fn decode_ack(c: &mut Cursor<'_>) -> Result<Ack, TransportError> {
    let largest = c.varint()?;
    let delay = c.varint()?;
    let count = c.varint()?;
    let first = c.varint()?;
    // smallest = largest - ack_range; negative is FRAME_ENCODING_ERROR.
    let mut smallest = largest
        .checked_sub(first)
        .ok_or_else(|| c.err("ACK range below zero"))?;
    // The peer's count is not trusted for allocation.
    let cap = 1 + usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(ACK_RANGES_INITIAL_CAPACITY);
    let mut ranges = Vec::with_capacity(cap);
    ranges.push(smallest..=largest);
    // Each iteration consumes at least two bytes, so a huge count ends in a
    // truncation error rather than a long loop.
    for _ in 0..count {
        let gap = c.varint()?;
        let len = c.varint()?;
        // largest = previous_smallest - gap - 2 (gap <= 2^62-1, no overflow).
        let hi = smallest
            .checked_sub(gap + 2)
            .ok_or_else(|| c.err("ACK range below zero"))?;
        let lo = hi
            .checked_sub(len)
            .ok_or_else(|| c.err("ACK range below zero"))?;
        if ranges.len() < MAX_STORED_ACK_RANGES {
            ranges.push(lo..=hi);
        }
        smallest = lo;
    }
    let ecn = if c.ty == ACK_ECN {
        Some(EcnCounts {
            ect0: c.varint()?,
            ect1: c.varint()?,
            ce: c.varint()?,
        })
    } else {
        None
    };
    Ok(Ack {
        largest,
        delay,
        ranges,
        ecn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error::TransportErrorCode;

    fn decode_all(buf: &[u8]) -> Vec<Result<Frame, TransportError>> {
        Frames::new(Bytes::copy_from_slice(buf)).collect()
    }

    fn expect_err(buf: &[u8]) -> TransportError {
        let items = decode_all(buf);
        match items.last() {
            Some(Err(e)) => e.clone(),
            other => panic!("expected error for {buf:02x?}, got {other:?}"),
        }
    }

    fn cid(b: &[u8]) -> ConnectionId {
        ConnectionId::new(b).unwrap()
    }

    fn sample_frames() -> Vec<Frame> {
        vec![
            Frame::Padding(1),
            Frame::Ping,
            Frame::Ack(Ack {
                largest: 10,
                delay: 3,
                ranges: vec![10..=10],
                ecn: None,
            }),
            Frame::Ack(Ack {
                largest: 1000,
                delay: 12345,
                ranges: vec![990..=1000, 900..=950, 5..=5, 0..=2],
                ecn: Some(EcnCounts {
                    ect0: 7,
                    ect1: 0,
                    ce: 70000,
                }),
            }),
            Frame::ResetStream {
                id: StreamId::from_raw(4),
                error_code: 0x100,
                final_size: 1 << 40,
            },
            Frame::StopSending {
                id: StreamId::from_raw(3),
                error_code: 99,
            },
            Frame::Crypto {
                offset: 0,
                data: Bytes::from_static(b"client hello"),
            },
            Frame::Crypto {
                offset: 70000,
                data: Bytes::new(),
            },
            Frame::NewToken {
                token: Bytes::from_static(b"tok"),
            },
            Frame::Stream {
                id: StreamId::from_raw(0),
                offset: 0,
                fin: false,
                data: Bytes::from_static(b"hello"),
            },
            Frame::Stream {
                id: StreamId::from_raw(1 << 20),
                offset: 1 << 35,
                fin: true,
                data: Bytes::from(vec![0xab; 300]),
            },
            Frame::Stream {
                id: StreamId::from_raw(2),
                offset: 0,
                fin: true,
                data: Bytes::new(),
            },
            Frame::MaxData(1 << 50),
            Frame::MaxStreamData { id: StreamId::from_raw(8), max: 65536 },
            Frame::MaxStreams {
                dir: Dir::Bi,
                count: 100,
            },
            Frame::MaxStreams {
                dir: Dir::Uni,
                count: 1 << 60,
            },
            Frame::DataBlocked(77),
            Frame::StreamDataBlocked { id: StreamId::from_raw(12), limit: 0 },
            Frame::StreamsBlocked {
                dir: Dir::Bi,
                limit: 3,
            },
            Frame::StreamsBlocked {
                dir: Dir::Uni,
                limit: 1 << 60,
            },
            Frame::NewConnectionId {
                seq: 5,
                retire_prior_to: 2,
                cid: cid(&[1, 2, 3, 4, 5, 6, 7, 8]),
                reset_token: [0x5a; 16],
            },
            Frame::NewConnectionId {
                seq: 1,
                retire_prior_to: 1,
                cid: cid(&[9; 20]),
                reset_token: [1; 16],
            },
            Frame::RetireConnectionId { seq: 17 },
            Frame::PathChallenge([1, 2, 3, 4, 5, 6, 7, 8]),
            Frame::PathResponse([8, 7, 6, 5, 4, 3, 2, 1]),
            Frame::ConnectionClose {
                app: false,
                code: 0x0a,
                frame_type: 0x08,
                reason: Bytes::from_static(b"bad stream"),
            },
            Frame::ConnectionClose {
                app: true,
                code: 0x1234,
                frame_type: 0,
                reason: Bytes::new(),
            },
            Frame::HandshakeDone,
            Frame::Datagram {
                data: Bytes::from_static(b"dgram"),
            },
            Frame::Datagram { data: Bytes::new() },
        ]
    }

    #[test]
    fn round_trip_every_variant() {
        for f in sample_frames() {
            let mut buf = Vec::new();
            f.encode(&mut buf);
            assert_eq!(buf.len(), f.encoded_len(), "{f:?}");
            let mut ty = Reader::new(&buf);
            assert_eq!(ty.varint(), Some(f.ty()), "{f:?}");
            let got = decode_all(&buf);
            assert_eq!(got, vec![Ok(f.clone())], "{f:?}");
        }
    }

    #[test]
    fn round_trip_concatenated() {
        let frames = sample_frames();
        let mut buf = Vec::new();
        for f in &frames {
            f.encode(&mut buf);
        }
        let got: Vec<Frame> = decode_all(&buf).into_iter().map(Result::unwrap).collect();
        assert_eq!(got, frames);
    }

    #[test]
    fn padding_coalesces() {
        let mut buf = vec![0u8; 5];
        Frame::Ping.encode(&mut buf);
        buf.extend_from_slice(&[0, 0, 0]);
        assert_eq!(
            decode_all(&buf),
            vec![
                Ok(Frame::Padding(5)),
                Ok(Frame::Ping),
                Ok(Frame::Padding(3))
            ]
        );
        let mut out = Vec::new();
        Frame::Padding(7).encode(&mut out);
        assert_eq!(out, vec![0u8; 7]);
        assert_eq!(Frame::Padding(7).encoded_len(), 7);
    }

    #[test]
    fn ack_wire_format() {
        // RFC 9000 §19.3.1 worked by hand: largest 100, first range 5
        // (95..=100), gap 3 -> next largest 95-3-2 = 90, len 10 (80..=90).
        let ack = Ack {
            largest: 100,
            delay: 9,
            ranges: vec![95..=100, 80..=90],
            ecn: None,
        };
        let mut buf = Vec::new();
        Frame::Ack(ack.clone()).encode(&mut buf);
        assert_eq!(buf, [0x02, 0x40, 100, 9, 1, 5, 3, 10]);
        assert_eq!(decode_all(&buf), vec![Ok(Frame::Ack(ack))]);
    }

    #[test]
    fn ack_with_ecn_and_many_ranges() {
        let mut ranges = Vec::new();
        let mut hi = 10_000u64;
        for i in 0..20 {
            ranges.push(hi - i..=hi);
            hi -= i + 2 + i % 3;
        }
        let ack = Ack {
            largest: 10_000,
            delay: 1 << 20,
            ranges,
            ecn: Some(EcnCounts {
                ect0: 1,
                ect1: 2,
                ce: 3,
            }),
        };
        let f = Frame::Ack(ack);
        assert_eq!(f.ty(), 0x03);
        let mut buf = Vec::new();
        f.encode(&mut buf);
        assert_eq!(buf.len(), f.encoded_len());
        assert_eq!(decode_all(&buf), vec![Ok(f)]);
    }

    #[test]
    fn ack_ranges_capped_at_64() {
        let ranges: Vec<_> = (0..100u64).rev().map(|i| i * 3..=i * 3 + 1).collect();
        let ack = Ack {
            largest: 99 * 3 + 1,
            delay: 0,
            ranges: ranges.clone(),
            ecn: Some(EcnCounts::default()),
        };
        let mut buf = Vec::new();
        Frame::Ack(ack).encode(&mut buf);
        Frame::Ping.encode(&mut buf);
        let got = decode_all(&buf);
        assert_eq!(got.len(), 2);
        match &got[0] {
            Ok(Frame::Ack(a)) => {
                assert_eq!(a.ranges.len(), 64);
                assert_eq!(a.ranges[..], ranges[..64]);
                assert_eq!(a.ecn, Some(EcnCounts::default()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(got[1], Ok(Frame::Ping));
    }

    #[test]
    fn ack_huge_range_count_does_not_allocate() {
        // Range count 2^62-1 with no ranges present.
        let mut buf = vec![0x02, 5, 0];
        varint::write(&mut buf, varint::MAX);
        buf.push(0);
        let e = expect_err(&buf);
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
        assert_eq!(e.frame_type, 0x02);
    }

    #[test]
    fn ack_range_underflow() {
        // First ACK Range larger than Largest Acknowledged.
        let e = expect_err(&[0x02, 5, 0, 0, 6]);
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
        assert_eq!(e.frame_type, 0x02);
        // Gap pushes below zero: smallest 3, gap 2 -> 3 - 4 < 0.
        let e = expect_err(&[0x02, 5, 0, 1, 2, 2, 0]);
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
        // Exactly to zero is fine: smallest 3, gap 1 -> largest 0, len 0.
        assert!(decode_all(&[0x02, 5, 0, 1, 2, 1, 0])[0].is_ok());
        // Range length pushes below zero.
        let e = expect_err(&[0x03, 5, 0, 1, 2, 1, 1, 0, 0, 0]);
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
        assert_eq!(e.frame_type, 0x03);
    }

    #[test]
    fn truncated_input_errors() {
        for f in sample_frames() {
            if matches!(f, Frame::Padding(_)) {
                continue;
            }
            let mut buf = Vec::new();
            f.encode(&mut buf);
            for cut in 1..buf.len() {
                let got = decode_all(&buf[..cut]);
                assert_eq!(got.len(), 1, "{f:?} cut at {cut}");
                let e = got[0].clone().expect_err("truncated frame decoded");
                assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
            }
        }
        // A truncated multi-byte frame type.
        assert!(decode_all(&[0x40]).pop().unwrap().is_err());
    }

    #[test]
    fn unknown_frame_types() {
        for ty in [0x1f_u64, 0x20, 0x2f, 0x32, 0x3f, 0x40, 0x1234, varint::MAX] {
            let mut buf = Vec::new();
            varint::write(&mut buf, ty);
            buf.extend_from_slice(&[0; 8]);
            let e = expect_err(&buf);
            assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
            assert_eq!(e.frame_type, ty);
        }
    }

    #[test]
    fn stops_after_first_error() {
        let mut it = Frames::new(Bytes::from_static(&[0x01, 0x1f, 0x01, 0x01]));
        assert_eq!(it.next(), Some(Ok(Frame::Ping)));
        assert!(matches!(it.next(), Some(Err(_))));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn non_minimal_frame_type_accepted() {
        assert_eq!(decode_all(&[0x40, 0x01]), vec![Ok(Frame::Ping)]);
        assert_eq!(
            decode_all(&[0x80, 0, 0, 0x1e]),
            vec![Ok(Frame::HandshakeDone)]
        );
        assert_eq!(decode_all(&[0x40, 0x10, 0x05]), vec![Ok(Frame::MaxData(5))]);
    }

    #[test]
    fn stream_flag_variants() {
        // No OFF, no LEN, FIN: data runs to the end.
        assert_eq!(
            decode_all(&[0x09, 4, b'a', b'b', b'c']),
            vec![Ok(Frame::Stream {
                id: StreamId::from_raw(4),
                offset: 0,
                fin: true,
                data: Bytes::from_static(b"abc"),
            })]
        );
        // OFF with an explicit zero offset, LEN.
        assert_eq!(
            decode_all(&[0x0e, 4, 0, 1, b'x', 0x01]),
            vec![
                Ok(Frame::Stream {
                    id: StreamId::from_raw(4),
                    offset: 0,
                    fin: false,
                    data: Bytes::from_static(b"x"),
                }),
                Ok(Frame::Ping)
            ]
        );
        // OFF without LEN, empty data.
        assert_eq!(
            decode_all(&[0x0c, 4, 0x40, 0x64]),
            vec![Ok(Frame::Stream {
                id: StreamId::from_raw(4),
                offset: 100,
                fin: false,
                data: Bytes::new(),
            })]
        );
    }

    #[test]
    fn offset_limit() {
        // STREAM: offset 2^62-1 plus one byte of data.
        let mut buf = vec![0x0e, 0];
        varint::write(&mut buf, varint::MAX);
        buf.extend_from_slice(&[1, 0xff]);
        let e = expect_err(&buf);
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
        assert_eq!(e.frame_type, 0x0e);
        // Same offset with no data is allowed.
        let mut ok = vec![0x0e, 0];
        varint::write(&mut ok, varint::MAX);
        ok.push(0);
        assert!(decode_all(&ok)[0].is_ok());
        // CRYPTO.
        let mut buf = vec![0x06];
        varint::write(&mut buf, varint::MAX - 1);
        buf.extend_from_slice(&[2, 0xaa, 0xbb]);
        let e = expect_err(&buf);
        assert_eq!(e.frame_type, 0x06);
    }

    #[test]
    fn field_validation() {
        // Empty NEW_TOKEN.
        let e = expect_err(&[0x07, 0]);
        assert_eq!(
            (e.code, e.frame_type),
            (TransportErrorCode::FRAME_ENCODING_ERROR, 0x07)
        );
        // MAX_STREAMS / STREAMS_BLOCKED above 2^60.
        for ty in [0x12u8, 0x13, 0x16, 0x17] {
            let mut buf = vec![ty];
            varint::write(&mut buf, (1 << 60) + 1);
            let e = expect_err(&buf);
            assert_eq!(
                (e.code, e.frame_type),
                (TransportErrorCode::FRAME_ENCODING_ERROR, u64::from(ty))
            );
        }
        // NEW_CONNECTION_ID with length 0 and 21.
        for len in [0u8, 21] {
            let mut buf = vec![0x18, 1, 0, len];
            buf.extend_from_slice(&[7; 21]);
            buf.extend_from_slice(&[0; 16]);
            let e = expect_err(&buf);
            assert_eq!(
                (e.code, e.frame_type),
                (TransportErrorCode::FRAME_ENCODING_ERROR, 0x18)
            );
        }
        // retire_prior_to > seq.
        let mut buf = vec![0x18, 1, 2, 4, 1, 2, 3, 4];
        buf.extend_from_slice(&[0; 16]);
        let e = expect_err(&buf);
        assert_eq!(
            (e.code, e.frame_type),
            (TransportErrorCode::FRAME_ENCODING_ERROR, 0x18)
        );
        // Length larger than the payload.
        let e = expect_err(&[0x31, 0x80, 0, 0x10, 0, 1, 2]);
        assert_eq!(e.frame_type, 0x31);
        let e = expect_err(&[0x1d, 0, 0xc0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(e.frame_type, 0x1d);
    }

    #[test]
    fn connection_close_variants_on_wire() {
        let mut buf = Vec::new();
        Frame::ConnectionClose {
            app: false,
            code: 7,
            frame_type: 0x06,
            reason: Bytes::from_static(b"x"),
        }
        .encode(&mut buf);
        assert_eq!(buf, [0x1c, 7, 6, 1, b'x']);
        buf.clear();
        Frame::ConnectionClose {
            app: true,
            code: 7,
            frame_type: 0,
            reason: Bytes::from_static(b"x"),
        }
        .encode(&mut buf);
        assert_eq!(buf, [0x1d, 7, 1, b'x']);
    }

    #[test]
    fn datagram_without_length() {
        assert_eq!(
            decode_all(&[0x30, 1, 2, 3]),
            vec![Ok(Frame::Datagram {
                data: Bytes::from_static(&[1, 2, 3]),
            })]
        );
        assert_eq!(
            decode_all(&[0x30]),
            vec![Ok(Frame::Datagram { data: Bytes::new() })]
        );
    }

    #[test]
    fn decoded_data_is_zero_copy() {
        let mut buf = Vec::new();
        encode_stream_header(&mut buf, StreamId::from_raw(4), 0, 3, false);
        buf.extend_from_slice(b"abc");
        let payload = Bytes::from(buf);
        let base = payload.as_ptr() as usize;
        let range = base..base + payload.len();
        match Frames::new(payload.clone()).next() {
            Some(Ok(Frame::Stream { data, .. })) => {
                assert!(range.contains(&(data.as_ptr() as usize)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stream_header_encoder() {
        for (id, offset, fin) in [(0u64, 0u64, false), (4, 0, true), (1 << 40, 1 << 20, true)] {
            let id = StreamId::from_raw(id);
            let data = vec![0x42u8; 200];
            let mut buf = Vec::new();
            encode_stream_header(&mut buf, id, offset, data.len(), fin);
            assert_eq!(buf.len(), stream_header_len(id, offset, data.len()));
            buf.extend_from_slice(&data);
            let f = Frame::Stream {
                id,
                offset,
                fin,
                data: Bytes::from(data),
            };
            let mut full = Vec::new();
            f.encode(&mut full);
            assert_eq!(buf, full);
            buf.push(0x01);
            assert_eq!(decode_all(&buf), vec![Ok(f), Ok(Frame::Ping)]);
        }
    }

    #[test]
    fn crypto_header_encoder() {
        let mut buf = Vec::new();
        encode_crypto_header(&mut buf, 1000, 4);
        assert_eq!(buf.len(), crypto_header_len(1000, 4));
        buf.extend_from_slice(b"abcd");
        assert_eq!(
            decode_all(&buf),
            vec![Ok(Frame::Crypto {
                offset: 1000,
                data: Bytes::from_static(b"abcd"),
            })]
        );
    }

    #[test]
    fn allowed_in_table() {
        use PacketSpaceKind::*;
        let check = |f: &Frame, i: bool, z: bool| {
            assert_eq!(f.allowed_in(Initial), i, "{f:?} Initial");
            assert_eq!(f.allowed_in(Handshake), i, "{f:?} Handshake");
            assert_eq!(f.allowed_in(ZeroRtt), z, "{f:?} 0-RTT");
            assert!(f.allowed_in(OneRtt), "{f:?} 1-RTT");
        };
        for f in sample_frames() {
            let (ih, zero) = match &f {
                Frame::Padding(_) | Frame::Ping => (true, true),
                Frame::Ack(_) | Frame::Crypto { .. } => (true, false),
                Frame::ConnectionClose { app: false, .. } => (true, true),
                Frame::ConnectionClose { app: true, .. } => (false, true),
                Frame::NewToken { .. }
                | Frame::HandshakeDone
                | Frame::PathResponse(_)
                | Frame::RetireConnectionId { .. } => (false, false),
                _ => (false, true),
            };
            check(&f, ih, zero);
        }
        check(&Frame::Datagram { data: Bytes::new() }, false, true);
        check(&Frame::MaxData(1), false, true);
        check(&Frame::PathChallenge([0; 8]), false, true);
    }

    #[test]
    fn ack_eliciting() {
        for f in sample_frames() {
            let expect = !matches!(
                f,
                Frame::Ack(_) | Frame::Padding(_) | Frame::ConnectionClose { .. }
            );
            assert_eq!(f.is_ack_eliciting(), expect, "{f:?}");
        }
        assert!(Frame::Ping.is_ack_eliciting());
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
    }

    #[test]
    fn fuzz_no_panic() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut valid = Vec::new();
        for f in sample_frames() {
            let mut b = Vec::new();
            f.encode(&mut b);
            valid.push(b);
        }
        for i in 0..20_000 {
            let len = (rng.next() % 48) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            match i % 3 {
                // Bias the first byte towards known frame types.
                0 if !buf.is_empty() => buf[0] = (rng.next() % 0x32) as u8,
                // Mutate a valid encoding.
                1 => {
                    buf = valid[(rng.next() % valid.len() as u64) as usize].clone();
                    for _ in 0..1 + rng.next() % 3 {
                        let pos = (rng.next() % buf.len() as u64) as usize;
                        buf[pos] = rng.next() as u8;
                    }
                    let cut = (rng.next() % (buf.len() as u64 + 1)) as usize;
                    buf.truncate(cut);
                }
                _ => {}
            }
            // Anything decoded must re-encode consistently.
            for f in Frames::new(Bytes::from(buf)).flatten() {
                let mut out = Vec::new();
                f.encode(&mut out);
                assert_eq!(out.len(), f.encoded_len());
            }
        }
    }
}
