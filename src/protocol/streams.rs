//! Stream state (RFC 9000 §2, §3): send buffers with retransmission,
//! receive reassembly, stream- and connection-level flow control (§4) and
//! stream-count limits.

use super::assembler::Assembler;
use super::error::{TransportError, TransportErrorCode};
use super::range_set::RangeSet;
use super::stream_id::{Dir, StreamId, MAX_STREAM_COUNT};
use super::varint::{self, VarInt};
use super::Side;
use bytes::Bytes;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;

/// Most STOP_SENDING codes remembered for forgotten send halves.
const MAX_REMEMBERED_STOPS: usize = 1024;

/// Chunks beyond gaps a connection may hold in all, at least and at most;
/// in between, one per 256 bytes of the connection's receive window (a
/// peer whose packets are lost or reordered leaves about one gap per
/// packet, some 1200 bytes).
const MIN_FRAGMENTS: u64 = 4096;
const MAX_FRAGMENTS: u64 = 1 << 16;

/// A stream's chunks beyond gaps are counted against the connection's
/// bound only once it holds more than this many.
const FRAGMENT_SCAN_FROM: usize = 16;

/// A RESET_STREAM frame (RFC 9000 §19.4): the stream, our error code and
/// the final size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamReset {
    pub(crate) id: StreamId,
    pub(crate) code: u64,
    pub(crate) final_size: u64,
}

/// The bytes of a stream one STREAM frame carried (and whether it had
/// the FIN): released when acknowledged, queued again when lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamChunk {
    pub(crate) id: StreamId,
    pub(crate) offset: u64,
    pub(crate) len: u64,
    pub(crate) fin: bool,
}

/// Where the sending half of a stream stands, for `stopped()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendStatus {
    /// The peer's STOP_SENDING error code, if it sent one.
    pub stopped: Option<VarInt>,
    /// Everything written, and the FIN, was acknowledged.
    pub acknowledged: bool,
}

/// Why a stream write failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFailure {
    /// No credit now; the caller waits for `Event::Writable`.
    Blocked,
    /// The peer asked us to stop with this code.
    Stopped(VarInt),
    /// The stream is finished, reset or unknown.
    Closed,
}

/// Why a stream read yielded no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFailure {
    /// Nothing to read yet; the caller waits for `Event::Readable`.
    Blocked,
    /// The peer reset the stream with this code.
    Reset(VarInt),
    /// The stream is unknown or was stopped locally.
    Closed,
}

/// Sending half of a stream.
#[derive(Debug, Default)]
pub(super) struct SendState {
    chunks: VecDeque<(u64, Bytes)>,
    /// The index in `chunks` the last copy ended in: new data is sent in
    /// order, so the next copy usually starts there.
    copy_hint: usize,
    /// Offset just past everything the application wrote.
    written: u64,
    /// Offset below which everything was acknowledged and freed.
    acked_base: u64,
    acked: RangeSet,
    /// Offset just past the highest byte ever sent.
    sent: u64,
    retransmit: RangeSet,
    /// Peer's MAX_STREAM_DATA.
    max_data: u64,
    fin: bool,
    fin_sent: bool,
    fin_acked: bool,
    /// Peer's STOP_SENDING code.
    stopped: Option<u64>,
    /// Our RESET_STREAM code once reset.
    reset: Option<u64>,
    blocked_reported: Option<u64>,
}

impl SendState {
    fn has_pending(&self) -> bool {
        self.reset.is_none()
            && (!self.retransmit.is_empty()
                || self.sent < self.written
                || (self.fin && !self.fin_sent && !self.fin_acked))
    }

    fn unacked(&self) -> u64 {
        self.written - self.acked_base
    }

    /// True once the peer acknowledged all data and the FIN.
    pub(super) fn is_done(&self) -> bool {
        self.fin_acked && self.acked_base == self.written
    }

    fn copy_range(&mut self, mut offset: u64, len: usize, out: &mut Vec<u8>) {
        let mut left = len;
        let holds = |i: usize| {
            self.chunks
                .get(i)
                .is_some_and(|(o, b)| *o <= offset && offset < o + b.len() as u64)
        };
        let mut i = if holds(self.copy_hint) {
            self.copy_hint
        } else if holds(self.copy_hint + 1) {
            self.copy_hint + 1
        } else {
            self.chunks
                .partition_point(|(o, b)| o + b.len() as u64 <= offset)
        };
        while left > 0 {
            let (o, b) = &self.chunks[i];
            let start = (offset - o) as usize;
            let n = (b.len() - start).min(left);
            out.extend_from_slice(&b[start..start + n]);
            left -= n;
            offset += n as u64;
            i += 1;
        }
        self.copy_hint = i.saturating_sub(1);
    }

    fn on_ack(&mut self, offset: u64, len: u64, fin: bool) {
        if fin {
            self.fin_acked = true;
            self.fin_sent = true;
        }
        if len == 0 {
            return;
        }
        // A range queued again (a PTO probe, or a loss declared before a
        // late ACK) needs no retransmission once acknowledged; its bytes
        // may already be freed below.
        if !self.retransmit.is_empty() {
            self.retransmit.remove(offset..offset + len);
        }
        if offset <= self.acked_base && self.acked.is_empty() {
            // In order, the common case: nothing to remember beyond the base.
            self.acked_base = self.acked_base.max(offset + len);
        } else {
            self.acked.insert(offset..offset + len);
        }
        while let Some(r) = self.acked.first() {
            if r.start > self.acked_base {
                break;
            }
            self.acked_base = self.acked_base.max(r.end);
            self.acked.pop_first();
        }
        while let Some((o, b)) = self.chunks.front() {
            if o + b.len() as u64 <= self.acked_base {
                self.chunks.pop_front();
                self.copy_hint = self.copy_hint.saturating_sub(1);
            } else {
                break;
            }
        }
    }
}

/// Receiving half of a stream.
#[derive(Debug, Default)]
pub(super) struct RecvState {
    asm: Assembler,
    /// Offset just past the highest byte received.
    received: u64,
    /// Our advertised MAX_STREAM_DATA.
    max_data: u64,
    window: u64,
    final_size: Option<u64>,
    /// The peer's RESET_STREAM code.
    reset: Option<u64>,
    /// We sent STOP_SENDING (or the application dropped the stream).
    stopped: bool,
    /// FIN was delivered to the application.
    finished_read: bool,
}

impl RecvState {
    fn readable(&self) -> bool {
        self.reset.is_some()
            || self.asm.has_data()
            || (self.final_size == Some(self.asm.read_offset()) && !self.finished_read)
    }
}

/// What the connection must send for streams outside STREAM frames.
#[derive(Debug, Default)]
pub(super) struct PendingControl {
    /// MAX_DATA needs sending.
    pub max_data: bool,
    /// Streams whose MAX_STREAM_DATA needs sending.
    pub max_stream_data: FxHashSet<StreamId>,
    /// MAX_STREAMS per direction needs sending.
    pub max_streams: [bool; 2],
    /// RESET_STREAM frames to send (id, code, final size).
    pub resets: Vec<StreamReset>,
    /// STOP_SENDING frames to send (id, code).
    pub stop_sending: Vec<(StreamId, u64)>,
    /// DATA_BLOCKED at this limit.
    pub data_blocked: Option<u64>,
    /// STREAM_DATA_BLOCKED frames (id, limit).
    pub stream_data_blocked: Vec<(StreamId, u64)>,
}

impl PendingControl {
    /// True when a control frame waits to be sent.
    fn wants_send(&self) -> bool {
        self.max_data
            || !self.max_stream_data.is_empty()
            || self.max_streams[0]
            || self.max_streams[1]
            || !self.resets.is_empty()
            || !self.stop_sending.is_empty()
            || self.data_blocked.is_some()
            || !self.stream_data_blocked.is_empty()
    }
}

/// Stream events the connection turns into its own events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent {
    /// The peer opened a stream in this direction.
    Opened(Dir),
    /// Data, FIN or a reset can be read.
    Readable(StreamId),
    /// Credit or buffer space became available.
    Writable(StreamId),
    /// The peer sent STOP_SENDING with this code.
    Stopped(StreamId, VarInt),
    /// Everything written, and the FIN, was acknowledged.
    Finished(StreamId),
    /// The peer raised our stream limit in this direction.
    Available(Dir),
}

/// All streams of a connection and their flow control.
#[derive(Debug)]
pub(super) struct Streams {
    side: Side,
    send: FxHashMap<StreamId, SendState>,
    recv: FxHashMap<StreamId, RecvState>,
    /// Streams opened locally per direction.
    opened_local: [u64; 2],
    /// Peer's MAX_STREAMS per direction.
    max_local: [u64; 2],
    /// Streams opened by the peer per direction (count of IDs used).
    opened_remote: [u64; 2],
    /// Our MAX_STREAMS per direction.
    max_remote: [u64; 2],
    /// Concurrency we allow the peer.
    concurrency: [u64; 2],
    /// Remote streams fully closed, per direction.
    closed_remote: [u64; 2],
    incoming: [VecDeque<StreamId>; 2],
    /// Peer's MAX_DATA.
    max_data: u64,
    /// Bytes written by the application over all streams.
    written: u64,
    send_window: u64,
    unacked: u64,
    /// Our MAX_DATA.
    local_max_data: u64,
    local_window: u64,
    /// Most chunks held beyond gaps, all streams together (RFC 9000
    /// §21.7).
    max_fragments: usize,
    /// Sum of highest received offsets.
    received: u64,
    /// Bytes consumed by the application (plus discarded).
    consumed: u64,
    // Initial windows from transport parameters.
    peer_stream_bidi_local: u64,
    peer_stream_bidi_remote: u64,
    peer_stream_uni: u64,
    stream_window: u64,
    sendable: VecDeque<StreamId>,
    in_sendable: FxHashSet<StreamId>,
    /// Control frames waiting to be sent.
    pub pending: PendingControl,
    events: VecDeque<StreamEvent>,
    conn_blocked_writers: bool,
    /// STOP_SENDING codes of send halves already forgotten.
    stopped_codes: FxHashMap<StreamId, u64>,
    stopped_order: VecDeque<StreamId>,
    /// The MAX_DATA at which we last queued DATA_BLOCKED.
    data_blocked_reported: Option<u64>,
}

impl Streams {
    /// Frees the queues' buffers that hold nothing (what the handshake
    /// grew and left empty).
    pub(crate) fn compact(&mut self) {
        for q in &mut self.incoming {
            q.shrink_to_fit();
        }
        self.sendable.shrink_to_fit();
        self.in_sendable.shrink_to_fit();
        self.events.shrink_to_fit();
        self.stopped_codes.shrink_to_fit();
        self.stopped_order.shrink_to_fit();
    }

    /// Fresh stream state with our limits.
    pub(super) fn new(
        side: Side,
        max_bidi: u64,
        max_uni: u64,
        receive_window: u64,
        stream_window: u64,
        send_window: u64,
    ) -> Self {
        // Limits past what the wire carries are the largest it does, so
        // sums of them cannot overflow (RFC 9000 §4.6, §16).
        let (max_bidi, max_uni) = (
            max_bidi.min(MAX_STREAM_COUNT),
            max_uni.min(MAX_STREAM_COUNT),
        );
        let (receive_window, stream_window) = (
            receive_window.min(varint::MAX),
            stream_window.min(varint::MAX),
        );
        Self {
            side,
            send: FxHashMap::default(),
            recv: FxHashMap::default(),
            opened_local: [0; 2],
            max_local: [0; 2],
            opened_remote: [0; 2],
            max_remote: [max_bidi, max_uni],
            concurrency: [max_bidi, max_uni],
            closed_remote: [0; 2],
            incoming: Default::default(),
            max_data: 0,
            written: 0,
            send_window,
            unacked: 0,
            local_max_data: receive_window,
            local_window: receive_window,
            max_fragments: (receive_window / 256).clamp(MIN_FRAGMENTS, MAX_FRAGMENTS) as usize,
            received: 0,
            consumed: 0,
            peer_stream_bidi_local: 0,
            peer_stream_bidi_remote: 0,
            peer_stream_uni: 0,
            stream_window,
            sendable: VecDeque::new(),
            in_sendable: FxHashSet::default(),
            pending: PendingControl::default(),
            events: VecDeque::new(),
            conn_blocked_writers: false,
            stopped_codes: FxHashMap::default(),
            stopped_order: VecDeque::new(),
            data_blocked_reported: None,
        }
    }

    /// Applies the peer's transport parameters (RFC 9000 §18.2).
    pub(super) fn set_peer_params(
        &mut self,
        max_data: u64,
        bidi_local: u64,
        bidi_remote: u64,
        uni: u64,
        max_bidi: u64,
        max_uni: u64,
    ) {
        if max_data > self.max_data {
            self.max_data = max_data;
            self.wake_conn_blocked();
        }
        self.peer_stream_bidi_local = bidi_local;
        self.peer_stream_bidi_remote = bidi_remote;
        self.peer_stream_uni = uni;
        self.max_local = [
            self.max_local[0].max(max_bidi),
            self.max_local[1].max(max_uni),
        ];
        // Streams opened before the parameters arrived (0-RTT) get credit now.
        for (&id, s) in self.send.iter_mut() {
            if id.initiator() == self.side {
                let init = match id.dir() {
                    Dir::Bi => bidi_remote,
                    Dir::Uni => uni,
                };
                if init > s.max_data {
                    // A write parked on the remembered (0-RTT) limit goes on.
                    if s.written >= s.max_data {
                        self.events.push_back(StreamEvent::Writable(id));
                    }
                    s.max_data = init;
                }
            }
        }
        self.events.push_back(StreamEvent::Available(Dir::Bi));
        self.events.push_back(StreamEvent::Available(Dir::Uni));
    }

    /// Our current MAX_DATA.
    pub(super) fn local_max_data(&self) -> u64 {
        self.local_max_data
    }

    /// Our current MAX_STREAMS for `d`.
    pub(super) fn local_max_streams(&self, d: Dir) -> u64 {
        self.max_remote[d.index()]
    }

    /// Our MAX_STREAM_DATA for `id`, if it still takes data.
    pub(super) fn local_max_stream_data(&self, id: StreamId) -> Option<u64> {
        self.recv
            .get(&id)
            .filter(|r| r.final_size.is_none() && r.reset.is_none())
            .map(|r| r.max_data)
    }

    /// Next queued stream event.
    pub(super) fn poll_event(&mut self) -> Option<StreamEvent> {
        self.events.pop_front()
    }

    /// Opens a local stream, or `None` when the peer's limit is reached.
    pub(super) fn open(&mut self, d: Dir) -> Option<StreamId> {
        let i = d.index();
        if self.opened_local[i] >= self.max_local[i] {
            return None;
        }
        let id = StreamId::new(self.side, d, self.opened_local[i]);
        self.opened_local[i] += 1;
        let max = match d {
            Dir::Bi => self.peer_stream_bidi_remote,
            Dir::Uni => self.peer_stream_uni,
        };
        self.send.insert(
            id,
            SendState {
                max_data: max,
                ..Default::default()
            },
        );
        if d == Dir::Bi {
            self.recv.insert(id, self.new_recv());
        }
        Some(id)
    }

    /// Opens our streams of `d` up to and including `index`, as far as
    /// the peer's limit allows (streams allocated elsewhere, in order);
    /// true when `index` is open.
    pub(super) fn open_at(&mut self, d: Dir, index: u64) -> bool {
        let i = d.index();
        while self.opened_local[i] <= index && self.open(d).is_some() {}
        index < self.opened_local[i]
    }

    /// How many of our streams of `d` the peer allows in all (its
    /// MAX_STREAMS).
    pub(super) fn open_limit(&self, d: Dir) -> u64 {
        self.max_local[d.index()]
    }

    fn new_recv(&self) -> RecvState {
        RecvState {
            max_data: self.stream_window,
            window: self.stream_window,
            ..Default::default()
        }
    }

    /// Takes the next stream the peer opened in direction `d`.
    pub(super) fn accept(&mut self, d: Dir) -> Option<StreamId> {
        self.incoming[d.index()].pop_front()
    }

    /// Raises how many streams the peer may have open at once.
    pub(super) fn set_max_concurrent(&mut self, d: Dir, n: u64) {
        let i = d.index();
        self.concurrency[i] = n;
        let target = self.remote_limit(i);
        if target > self.max_remote[i] {
            self.max_remote[i] = target;
            self.pending.max_streams[i] = true;
        }
    }

    /// The MAX_STREAMS we grant for direction `i`: the streams closed so
    /// far plus the concurrency allowed, never past 2^60 (RFC 9000 §4.6).
    fn remote_limit(&self, i: usize) -> u64 {
        self.closed_remote[i]
            .saturating_add(self.concurrency[i])
            .min(MAX_STREAM_COUNT)
    }

    /// Validates a frame's stream ID against our role and limits, creating
    /// peer-initiated streams up to it (RFC 9000 §3.2, §4.6). `sending`:
    /// the frame is about the peer's sending part (STREAM, RESET_STREAM,
    /// STREAM_DATA_BLOCKED); otherwise about its receiving part.
    /// Returns Ok(false) for a stream that is already closed and forgotten.
    fn touch(&mut self, id: StreamId, sending: bool) -> Result<bool, TransportError> {
        let d = id.dir();
        let i = d.index();
        let index = id.index();
        if id.initiator() == self.side {
            // A locally opened stream.
            if index >= self.opened_local[i] {
                return Err(TransportError::new(
                    TransportErrorCode::STREAM_STATE_ERROR,
                    "frame for a stream we did not open",
                ));
            }
            if sending && d == Dir::Uni {
                return Err(TransportError::new(
                    TransportErrorCode::STREAM_STATE_ERROR,
                    "peer sent on our unidirectional stream",
                ));
            }
            return Ok(if sending {
                self.recv.contains_key(&id)
            } else {
                self.send.contains_key(&id)
            });
        }
        if !sending && d == Dir::Uni {
            return Err(TransportError::new(
                TransportErrorCode::STREAM_STATE_ERROR,
                "frame for the sending part of a peer's unidirectional stream",
            ));
        }
        if index >= self.max_remote[i] {
            return Err(TransportError::new(
                TransportErrorCode::STREAM_LIMIT_ERROR,
                "peer exceeded the stream limit",
            ));
        }
        while self.opened_remote[i] <= index {
            let new_id = StreamId::new(self.side.peer(), d, self.opened_remote[i]);
            self.opened_remote[i] += 1;
            self.recv.insert(new_id, self.new_recv());
            if d == Dir::Bi {
                let max = self.peer_stream_bidi_local;
                self.send.insert(
                    new_id,
                    SendState {
                        max_data: max,
                        ..Default::default()
                    },
                );
            }
            self.incoming[i].push_back(new_id);
            self.events.push_back(StreamEvent::Opened(d));
        }
        Ok(if sending {
            self.recv.contains_key(&id)
        } else {
            self.send.contains_key(&id)
        })
    }

    /// Handles a STREAM frame (RFC 9000 §19.8).
    pub(super) fn on_stream_frame(
        &mut self,
        id: StreamId,
        offset: u64,
        data: Bytes,
        fin: bool,
    ) -> Result<(), TransportError> {
        if !self.touch(id, true)? {
            return Ok(());
        }
        let end = offset + data.len() as u64;
        let rs = self.recv.get_mut(&id).expect("touched");
        // Before anything changes: a FIN alone (no data) makes the stream
        // readable too.
        let was = rs.readable();
        if let Some(fs) = rs.final_size {
            if end > fs || (fin && end != fs) {
                return Err(TransportError::new(
                    TransportErrorCode::FINAL_SIZE_ERROR,
                    "data beyond or changing the final size",
                ));
            }
        }
        if fin && end < rs.received {
            return Err(TransportError::new(
                TransportErrorCode::FINAL_SIZE_ERROR,
                "final size below data already received",
            ));
        }
        if end > rs.max_data {
            return Err(TransportError::new(
                TransportErrorCode::FLOW_CONTROL_ERROR,
                "stream data beyond MAX_STREAM_DATA",
            ));
        }
        if end > rs.received {
            let grow = end - rs.received;
            if self.received + grow > self.local_max_data {
                return Err(TransportError::new(
                    TransportErrorCode::FLOW_CONTROL_ERROR,
                    "stream data beyond MAX_DATA",
                ));
            }
            self.received += grow;
            rs.received = end;
        }
        if fin {
            rs.final_size = Some(end);
        }
        if rs.reset.is_some() {
            return Ok(());
        }
        if rs.stopped {
            // RFC 9000 §4.5: discarded data still counts as consumed, or
            // the connection window would shrink for good.
            let unread = rs.received - rs.asm.read_offset();
            rs.asm.clear_to(rs.received);
            self.add_consumed(unread);
            self.maybe_forget_recv(id);
            return Ok(());
        }
        let ahead = rs.asm.ahead_chunks();
        rs.asm.insert(offset, data);
        let grew = rs.asm.ahead_chunks() > ahead.max(FRAGMENT_SCAN_FROM);
        if !was && rs.readable() {
            self.events.push_back(StreamEvent::Readable(id));
        }
        // RFC 9000 §21.7: the data held beyond gaps is bounded by flow
        // control, but its tracking is not: a peer sending one byte in
        // every other position costs a map entry and a buffer per byte.
        // Past a bound on fragments across all streams, the connection
        // closes. Counted only when a stream grows past a few, so an
        // ordinary reordering costs nothing.
        if grew {
            let fragments: usize = self.recv.values().map(|r| r.asm.ahead_chunks()).sum();
            if fragments > self.max_fragments {
                return Err(TransportError::protocol_violation(
                    "stream data too fragmented",
                ));
            }
        }
        Ok(())
    }

    /// Handles RESET_STREAM (RFC 9000 §19.4).
    pub(super) fn on_reset(
        &mut self,
        id: StreamId,
        code: u64,
        final_size: u64,
    ) -> Result<(), TransportError> {
        if !self.touch(id, true)? {
            return Ok(());
        }
        let rs = self.recv.get_mut(&id).expect("touched");
        if rs.final_size.is_some_and(|f| f != final_size) || final_size < rs.received {
            return Err(TransportError::new(
                TransportErrorCode::FINAL_SIZE_ERROR,
                "reset final size conflicts with data",
            ));
        }
        if final_size > rs.max_data {
            return Err(TransportError::new(
                TransportErrorCode::FLOW_CONTROL_ERROR,
                "reset final size beyond MAX_STREAM_DATA",
            ));
        }
        let grow = final_size - rs.received;
        if self.received + grow > self.local_max_data {
            return Err(TransportError::new(
                TransportErrorCode::FLOW_CONTROL_ERROR,
                "reset final size beyond MAX_DATA",
            ));
        }
        self.received += grow;
        rs.received = final_size;
        rs.final_size = Some(final_size);
        if rs.reset.is_none() {
            rs.reset = Some(code);
            let unread = final_size - rs.asm.read_offset();
            rs.asm.clear_to(final_size);
            let stopped = rs.stopped;
            self.add_consumed(unread);
            if stopped {
                // Nobody will read the reset: the stream is over
                // (RFC 9000 §3.2, "Reset Recvd").
                self.maybe_forget_recv(id);
            } else {
                self.events.push_back(StreamEvent::Readable(id));
            }
        }
        Ok(())
    }

    /// Our RESET_STREAM for `id` was acknowledged: the sending half is
    /// over (RFC 9000 §3.1, "Reset Recvd") and may be forgotten.
    pub(super) fn on_reset_acked(&mut self, id: StreamId) {
        if self.send.get(&id).is_some_and(|s| s.reset.is_some()) {
            self.in_sendable.remove(&id);
            self.sendable.retain(|s| *s != id);
            self.maybe_forget_send(id);
        }
    }

    /// Handles STOP_SENDING (RFC 9000 §19.5): we answer with RESET_STREAM.
    pub(super) fn on_stop_sending(
        &mut self,
        id: StreamId,
        code: u64,
    ) -> Result<(), TransportError> {
        if !self.touch(id, false)? {
            return Ok(());
        }
        let ss = self.send.get_mut(&id).expect("touched");
        if ss.stopped.is_none() {
            ss.stopped = Some(code);
            self.events
                .push_back(StreamEvent::Stopped(id, VarInt::from_wire(code)));
            if ss.reset.is_none() && !ss.is_done() {
                self.reset(id, code);
            }
        }
        Ok(())
    }

    /// Handles MAX_STREAM_DATA (RFC 9000 §19.10).
    pub(super) fn on_max_stream_data(
        &mut self,
        id: StreamId,
        max: u64,
    ) -> Result<(), TransportError> {
        if !self.touch(id, false)? {
            return Ok(());
        }
        let ss = self.send.get_mut(&id).expect("touched");
        if max > ss.max_data {
            let was_blocked = ss.written >= ss.max_data;
            ss.max_data = max;
            if was_blocked {
                self.events.push_back(StreamEvent::Writable(id));
            }
        }
        Ok(())
    }

    /// Handles STREAM_DATA_BLOCKED (RFC 9000 §19.13): only validated.
    pub(super) fn on_stream_data_blocked(&mut self, id: StreamId) -> Result<(), TransportError> {
        self.touch(id, true).map(|_| ())
    }

    /// Handles MAX_DATA (RFC 9000 §19.9).
    pub(super) fn on_max_data(&mut self, max: u64) {
        if max > self.max_data {
            self.max_data = max;
            self.wake_conn_blocked();
        }
    }

    /// Handles MAX_STREAMS (RFC 9000 §19.11).
    pub(super) fn on_max_streams(&mut self, d: Dir, count: u64) {
        let i = d.index();
        if count > self.max_local[i] {
            self.max_local[i] = count;
            self.events.push_back(StreamEvent::Available(d));
        }
    }

    fn wake_conn_blocked(&mut self) {
        if self.conn_blocked_writers {
            self.conn_blocked_writers = false;
            for (&id, s) in &self.send {
                if s.reset.is_none() && !s.fin {
                    self.events.push_back(StreamEvent::Writable(id));
                }
            }
        }
    }

    /// Streams with a sending part, and with a receiving part, in the
    /// tables.
    #[cfg(feature = "test-hooks")]
    pub(super) fn table_sizes(&self) -> (usize, usize) {
        (self.send.len(), self.recv.len())
    }

    /// Buffers application data; returns how many bytes were taken.
    pub(super) fn write(&mut self, id: StreamId, data: &mut Bytes) -> Result<usize, WriteFailure> {
        if let Some(&code) = self.stopped_codes.get(&id) {
            return Err(WriteFailure::Stopped(VarInt::from_wire(code)));
        }
        let ss = self.send.get_mut(&id).ok_or(WriteFailure::Closed)?;
        if let Some(code) = ss.stopped {
            return Err(WriteFailure::Stopped(VarInt::from_wire(code)));
        }
        if ss.fin || ss.reset.is_some() {
            return Err(WriteFailure::Closed);
        }
        let stream_credit = ss.max_data.saturating_sub(ss.written);
        let conn_credit = self.max_data.saturating_sub(self.written);
        let buffer_credit = self.send_window.saturating_sub(self.unacked);
        let n = (data.len() as u64)
            .min(stream_credit)
            .min(conn_credit)
            .min(buffer_credit) as usize;
        if n == 0 {
            if stream_credit == 0 {
                if ss.blocked_reported != Some(ss.max_data) {
                    ss.blocked_reported = Some(ss.max_data);
                    self.pending.stream_data_blocked.push((id, ss.max_data));
                }
            } else {
                // RFC 9000 §4.1, §19.12: one DATA_BLOCKED per limit, not
                // one per attempt; an application retrying its write
                // would otherwise keep a packet going every time.
                if conn_credit == 0 && self.data_blocked_reported != Some(self.max_data) {
                    self.data_blocked_reported = Some(self.max_data);
                    self.pending.data_blocked = Some(self.max_data);
                }
                self.conn_blocked_writers = true;
            }
            return Err(WriteFailure::Blocked);
        }
        let chunk = data.split_to(n);
        ss.chunks.push_back((ss.written, chunk));
        ss.written += n as u64;
        self.written += n as u64;
        self.unacked += n as u64;
        self.mark_sendable(id);
        Ok(n)
    }

    /// Marks the end of the stream (FIN).
    pub(super) fn finish(&mut self, id: StreamId) -> Result<(), WriteFailure> {
        let ss = self.send.get_mut(&id).ok_or(WriteFailure::Closed)?;
        if let Some(code) = ss.stopped {
            return Err(WriteFailure::Stopped(VarInt::from_wire(code)));
        }
        if ss.fin || ss.reset.is_some() {
            return Err(WriteFailure::Closed);
        }
        ss.fin = true;
        self.mark_sendable(id);
        Ok(())
    }

    /// Abandons sending with `code` (RESET_STREAM). Unknown or already
    /// reset streams are ignored.
    pub(super) fn reset(&mut self, id: StreamId, code: u64) -> bool {
        let Some(ss) = self.send.get_mut(&id) else {
            return false;
        };
        if ss.reset.is_some() || ss.is_done() {
            return false;
        }
        ss.reset = Some(code);
        ss.retransmit = RangeSet::new();
        let freed = ss.unacked();
        ss.chunks.clear();
        let final_size = ss.sent;
        self.unacked -= freed;
        // Unsent bytes never count against the peer's MAX_DATA.
        self.written -= ss.written - final_size;
        ss.written = final_size;
        ss.acked_base = final_size;
        self.pending.resets.push(StreamReset {
            id,
            code,
            final_size,
        });
        self.wake_conn_blocked();
        true
    }

    /// Asks the peer to stop sending (STOP_SENDING) and discards data.
    pub(super) fn stop(&mut self, id: StreamId, code: u64) -> bool {
        let Some(rs) = self.recv.get_mut(&id) else {
            return false;
        };
        if rs.stopped {
            return false;
        }
        rs.stopped = true;
        let unread = rs.received - rs.asm.read_offset();
        rs.asm.clear_to(rs.received);
        let done = rs.reset.is_some() || rs.final_size.is_some();
        self.add_consumed(unread);
        if !done {
            self.pending.stop_sending.push((id, code));
        }
        self.maybe_forget_recv(id);
        true
    }

    /// Reads up to `max` contiguous bytes. `Ok(None)` is the end of stream.
    pub(super) fn read(&mut self, id: StreamId, max: usize) -> Result<Option<Bytes>, ReadFailure> {
        let rs = self.recv.get_mut(&id).ok_or(ReadFailure::Closed)?;
        if let Some(code) = rs.reset {
            rs.finished_read = true;
            self.maybe_forget_recv(id);
            return Err(ReadFailure::Reset(VarInt::from_wire(code)));
        }
        if rs.stopped {
            return Err(ReadFailure::Closed);
        }
        if let Some(out) = rs.asm.read(max) {
            let read = rs.asm.read_offset();
            // Credit the peer when half the window is consumed (RFC 9000 §4.2).
            if rs.final_size.is_none() && rs.max_data - read < rs.window / 2 {
                rs.max_data = read + rs.window;
                self.pending.max_stream_data.insert(id);
            }
            self.add_consumed(out.len() as u64);
            return Ok(Some(out));
        }
        if rs.final_size == Some(rs.asm.read_offset()) {
            rs.finished_read = true;
            self.maybe_forget_recv(id);
            return Ok(None);
        }
        Err(ReadFailure::Blocked)
    }

    fn add_consumed(&mut self, n: u64) {
        self.consumed += n;
        if self.local_max_data - self.consumed < self.local_window / 2 {
            self.local_max_data = self.consumed + self.local_window;
            self.pending.max_data = true;
        }
    }

    /// True when stream data (not only a FIN or reset) can be read now.
    pub(super) fn has_data(&self, id: StreamId) -> bool {
        self.recv
            .get(&id)
            .is_some_and(|r| r.reset.is_none() && !r.stopped && r.asm.has_data())
    }

    /// A read of `id` would answer now (data, the end, a reset, or that
    /// the stream is gone) rather than wait.
    #[cfg(debug_assertions)]
    pub(super) fn read_ready(&self, id: StreamId) -> bool {
        self.recv.get(&id).is_none_or(|r| r.stopped || r.readable())
    }

    /// A stream the peer opened in `d` waits to be accepted.
    #[cfg(debug_assertions)]
    pub(super) fn has_incoming(&self, d: Dir) -> bool {
        !self.incoming[d.index()].is_empty()
    }

    /// Everything up to the FIN of `id` was read: the next read reports
    /// the end.
    pub(super) fn at_end(&self, id: StreamId) -> bool {
        self.recv.get(&id).is_some_and(|r| {
            r.reset.is_none()
                && !r.stopped
                && !r.finished_read
                && r.final_size == Some(r.asm.read_offset())
        })
    }

    fn maybe_forget_recv(&mut self, id: StreamId) {
        if let Some(rs) = self.recv.get(&id) {
            let done = rs.finished_read || (rs.stopped && (rs.final_size.is_some()));
            if done {
                self.recv.remove(&id);
                self.pending.max_stream_data.remove(&id);
                self.maybe_forget(id);
            }
        }
    }

    fn maybe_forget_send(&mut self, id: StreamId) {
        if let Some(ss) = self.send.get(&id) {
            let done = ss.is_done() || ss.reset.is_some();
            if done && !self.in_sendable.contains(&id) {
                if let Some(code) = ss.stopped {
                    self.remember_stopped(id, code);
                }
                self.send.remove(&id);
                self.maybe_forget(id);
            }
        }
    }

    /// Keeps the peer's STOP_SENDING code of a forgotten send half so a
    /// late `write` or `stopped` still reports it; bounded, oldest first out.
    fn remember_stopped(&mut self, id: StreamId, code: u64) {
        if self.stopped_codes.len() >= MAX_REMEMBERED_STOPS {
            if let Some(old) = self.stopped_order.pop_front() {
                self.stopped_codes.remove(&old);
            }
        }
        if self.stopped_codes.insert(id, code).is_none() {
            self.stopped_order.push_back(id);
        }
    }

    /// When both halves of a peer-initiated stream are gone, credit a new
    /// stream to the peer (RFC 9000 §4.6).
    fn maybe_forget(&mut self, id: StreamId) {
        if id.initiator() == self.side || self.send.contains_key(&id) || self.recv.contains_key(&id)
        {
            return;
        }
        let i = id.dir().index();
        self.closed_remote[i] += 1;
        let target = self.remote_limit(i);
        if target > self.max_remote[i] {
            self.max_remote[i] = target;
            self.pending.max_streams[i] = true;
        }
    }

    fn mark_sendable(&mut self, id: StreamId) {
        if self.in_sendable.insert(id) {
            self.sendable.push_back(id);
        }
    }

    /// True when stream data, a FIN or a stream control frame waits to
    /// be sent.
    pub(super) fn wants_send(&self) -> bool {
        self.pending.wants_send() || self.has_pending_data()
    }

    /// True if any stream has data or a FIN to send.
    pub(super) fn has_pending_data(&self) -> bool {
        !self.sendable.is_empty()
    }

    /// Writes STREAM frames into `buf` while `space` bytes remain. Records
    /// what was sent in `sent` as (id, offset, len, fin).
    pub(super) fn write_stream_frames(
        &mut self,
        buf: &mut Vec<u8>,
        max_len: usize,
        sent: &mut impl FnMut(StreamChunk),
    ) -> u64 {
        let mut rounds = self.sendable.len();
        let mut written = 0;
        while rounds > 0 {
            let space = max_len.saturating_sub(buf.len());
            if space < 16 {
                break;
            }
            let Some(&id) = self.sendable.front() else {
                break;
            };
            let Some(ss) = self.send.get_mut(&id) else {
                self.sendable.pop_front();
                self.in_sendable.remove(&id);
                self.maybe_forget_send(id);
                rounds -= 1;
                continue;
            };
            if !ss.has_pending() {
                self.sendable.pop_front();
                self.in_sendable.remove(&id);
                self.maybe_forget_send(id);
                rounds -= 1;
                continue;
            }
            // Retransmissions first, then new data. Freed bytes are
            // never sent again.
            ss.retransmit.remove(0..ss.acked_base);
            let (offset, avail, is_new) = if let Some(r) = ss.retransmit.first() {
                (r.start, r.end - r.start, false)
            } else {
                (ss.sent, ss.written - ss.sent, true)
            };
            let hdr = super::frame::stream_header_len(id, offset, avail.min(space as u64) as usize);
            if hdr >= space {
                break;
            }
            let len = avail.min((space - hdr) as u64) as usize;
            let end = offset + len as u64;
            let fin = ss.fin && end == ss.written && (is_new || ss.fin_sent);
            if len == 0 && !fin {
                // FIN already sent and nothing else: clean up.
                self.sendable.pop_front();
                self.in_sendable.remove(&id);
                self.maybe_forget_send(id);
                rounds -= 1;
                continue;
            }
            super::frame::encode_stream_header(buf, id, offset, len, fin);
            ss.copy_range(offset, len, buf);
            if is_new {
                ss.sent = end;
            } else {
                ss.retransmit.remove(offset..end);
            }
            if fin {
                ss.fin_sent = true;
            }
            sent(StreamChunk {
                id,
                offset,
                len: len as u64,
                fin,
            });
            written += 1;
            if !ss.has_pending() {
                self.sendable.pop_front();
                self.in_sendable.remove(&id);
                self.maybe_forget_send(id);
                rounds -= 1;
            } else if len > 0 && buf.len() + 16 < max_len {
                // Round-robin: give the next stream a turn.
                self.sendable.rotate_left(1);
                rounds -= 1;
            }
        }
        written
    }

    /// A STREAM frame we sent was acknowledged.
    pub(super) fn on_stream_acked(&mut self, chunk: StreamChunk) {
        let StreamChunk {
            id,
            offset,
            len,
            fin,
        } = chunk;
        let Some(ss) = self.send.get_mut(&id) else {
            return;
        };
        if ss.reset.is_some() {
            return;
        }
        let before = ss.unacked();
        let was_done = ss.is_done();
        ss.on_ack(offset, len, fin);
        let freed = before - ss.unacked();
        // Report the end once, however many copies of the last frame
        // are acknowledged.
        let done = ss.is_done() && !was_done;
        self.unacked -= freed;
        if freed > 0 {
            self.wake_conn_blocked();
        }
        if done {
            self.events.push_back(StreamEvent::Finished(id));
            self.maybe_forget_send(id);
        }
    }

    /// A STREAM frame we sent was lost: queue its bytes again.
    pub(super) fn on_stream_lost(&mut self, chunk: StreamChunk) {
        let StreamChunk {
            id,
            offset,
            len,
            fin,
        } = chunk;
        let Some(ss) = self.send.get_mut(&id) else {
            return;
        };
        if ss.reset.is_some() {
            return;
        }
        if len > 0 {
            let mut lost = RangeSet::new();
            lost.insert(offset.max(ss.acked_base)..offset + len);
            for r in ss.acked.iter() {
                lost.remove(r);
            }
            for r in lost.iter() {
                ss.retransmit.insert(r);
            }
        }
        if fin && !ss.fin_acked {
            ss.fin_sent = false;
        }
        if ss.has_pending() {
            self.mark_sendable(id);
        }
    }

    #[cfg(test)]
    /// Number of streams currently tracked (for limits and tests).
    pub(super) fn tracked(&self) -> usize {
        self.send.len() + self.recv.len()
    }

    /// The peer's STOP_SENDING code, and whether all data and the FIN were
    /// acknowledged; `None` for a stream no longer tracked.
    pub(super) fn send_status(&self, id: StreamId) -> Option<SendStatus> {
        if let Some(&code) = self.stopped_codes.get(&id) {
            return Some(SendStatus {
                stopped: Some(VarInt::from_wire(code)),
                acknowledged: true,
            });
        }
        self.send.get(&id).map(|s| SendStatus {
            stopped: s.stopped.map(VarInt::from_wire),
            acknowledged: s.is_done(),
        })
    }

    #[cfg(feature = "test-hooks")]
    /// Bytes the application may still write to `id` right now.
    pub(super) fn write_credit(&self, id: StreamId) -> u64 {
        self.send.get(&id).map_or(0, |s| {
            s.max_data
                .saturating_sub(s.written)
                .min(self.max_data.saturating_sub(self.written))
                .min(self.send_window.saturating_sub(self.unacked))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: u64) -> StreamId {
        StreamId::from_raw(raw)
    }

    fn server() -> Streams {
        let mut s = Streams::new(Side::Server, 1, 1, 1000, 1000, 10_000);
        s.set_peer_params(10_000, 1000, 1000, 1000, 10, 10);
        s
    }

    fn data(n: usize) -> Bytes {
        Bytes::from(vec![7u8; n])
    }

    /// Every stream event queued so far.
    fn events(s: &mut Streams) -> Vec<StreamEvent> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    #[test]
    fn a_fin_alone_makes_a_drained_stream_readable() {
        // A reader parked after taking all the data is woken by the FIN
        // arriving on its own (the actor wakes readers only on Readable).
        let mut s = server();
        s.on_stream_frame(id(2), 0, data(5), false).unwrap();
        assert!(events(&mut s).contains(&StreamEvent::Readable(id(2))));
        assert_eq!(s.read(id(2), 100).unwrap().map(|b| b.len()), Some(5));
        assert_eq!(s.read(id(2), 100), Err(ReadFailure::Blocked));
        s.on_stream_frame(id(2), 5, Bytes::new(), true).unwrap();
        assert_eq!(events(&mut s), vec![StreamEvent::Readable(id(2))]);
        assert_eq!(s.read(id(2), 100), Ok(None));
    }

    #[test]
    fn credit_from_the_handshake_wakes_writers_blocked_on_remembered_limits() {
        // A 0-RTT client opens a stream under remembered limits and fills
        // them; the server's real transport parameters raise them.
        let mut s = Streams::new(Side::Client, 1, 1, 1000, 1000, 10_000);
        s.set_peer_params(100, 10, 10, 10, 1, 1);
        let id = s.open(Dir::Bi).unwrap();
        assert_eq!(s.write(id, &mut data(20)), Ok(10));
        assert_eq!(s.write(id, &mut data(20)), Err(WriteFailure::Blocked));
        events(&mut s);
        s.set_peer_params(100, 50, 50, 50, 1, 1);
        assert!(events(&mut s).contains(&StreamEvent::Writable(id)));
        assert_eq!(s.write(id, &mut data(20)), Ok(20));
    }

    #[test]
    fn data_after_stop_is_credited_and_stream_closes() {
        // Client uni stream 2: 100 bytes, STOP_SENDING, then the rest and
        // the FIN arrive anyway (RFC 9000 §3.5, §4.5).
        let mut s = server();
        s.on_stream_frame(id(2), 0, data(100), false).unwrap();
        assert_eq!(s.accept(Dir::Uni), Some(id(2)));
        assert!(s.stop(id(2), 0));
        s.on_stream_frame(id(2), 100, data(800), true).unwrap();
        // All 900 bytes count as consumed: the window moved past them.
        assert!(s.pending.max_data);
        assert_eq!(s.local_max_data(), 1900);
        // The stream is over: its credit goes back to the peer.
        assert!(s.pending.max_streams[1]);
        assert_eq!(s.local_max_streams(Dir::Uni), 2);
        assert_eq!(s.read(id(2), 10), Err(ReadFailure::Closed));
    }

    #[test]
    fn reset_after_stop_closes_stream() {
        let mut s = server();
        s.on_stream_frame(id(0), 0, data(10), false).unwrap();
        assert_eq!(s.accept(Dir::Bi), Some(id(0)));
        assert!(s.stop(id(0), 1));
        s.on_reset(id(0), 1, 600).unwrap();
        assert_eq!(s.tracked(), 1, "receive half forgotten");
        // Our own half, reset and acknowledged, closes the stream.
        assert!(s.reset(id(0), 2));
        assert_eq!(
            s.pending.resets,
            vec![StreamReset {
                id: id(0),
                code: 2,
                final_size: 0
            }]
        );
        s.on_reset_acked(id(0));
        assert_eq!(s.tracked(), 0);
        assert_eq!(s.local_max_streams(Dir::Bi), 2);
        // Connection credit: 600 bytes consumed of a 1000-byte window.
        assert_eq!(s.local_max_data(), 1600);
    }

    #[test]
    fn retransmission_of_acknowledged_range_is_skipped() {
        let mut s = Streams::new(Side::Client, 10, 10, 1000, 1000, 10_000);
        s.set_peer_params(10_000, 1000, 1000, 1000, 10, 10);
        let id = s.open(Dir::Uni).unwrap();
        s.write(id, &mut data(500)).unwrap();
        s.finish(id).unwrap();
        let mut buf = Vec::new();
        let mut sent = Vec::new();
        s.write_stream_frames(&mut buf, 1200, &mut |c| sent.push(c));
        let chunk = StreamChunk {
            id,
            offset: 0,
            len: 500,
            fin: true,
        };
        assert_eq!(sent, vec![chunk]);
        // A PTO queues the range again, then the original is acknowledged
        // before the probe goes out: nothing is left to send.
        s.on_stream_lost(chunk);
        s.on_stream_acked(chunk);
        assert_eq!(s.poll_event(), Some(StreamEvent::Available(Dir::Bi)));
        assert_eq!(s.poll_event(), Some(StreamEvent::Available(Dir::Uni)));
        assert_eq!(s.poll_event(), Some(StreamEvent::Finished(id)));
        buf.clear();
        sent.clear();
        s.write_stream_frames(&mut buf, 1200, &mut |c| sent.push(c));
        assert!(sent.is_empty(), "sent {sent:?}");
        assert_eq!(s.tracked(), 0);
        // A duplicate acknowledgement reports nothing more.
        s.on_stream_acked(chunk);
        assert_eq!(s.poll_event(), None);
    }
}
