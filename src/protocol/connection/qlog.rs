//! qlog traces (draft-ietf-quic-qlog-main-schema, draft-ietf-quic-qlog-
//! quic-events), one JSON-SEQ file per connection, written with the `qlog`
//! crate's event types when the `qlog` feature is on and
//! `TransportConfig::qlog` names a writer. Without the feature every
//! method here is empty and the sink holds nothing.
//!
//! Events: connection_started and connection_closed, parameters_set
//! (ours and the peer's), packet_sent and packet_received with their
//! header and frames, packets_acked, packet_lost, metrics_updated (RTT,
//! window, bytes in flight, when they change), congestion_state_updated
//! and key_updated. Times are relative to the connection's start, from
//! the `now` the connection is given: the core still reads no clock.

#![cfg_attr(not(feature = "qlog"), allow(unused_variables))]

use super::super::cid::ConnectionId;
use super::super::config::TransportConfig;
use super::super::Side;
use super::spaces::SpaceId;
use std::time::Instant;

#[cfg(feature = "qlog")]
pub use enabled::{QlogDir, QlogFactory};

/// Why a packet was declared lost.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LostBecause {
    /// Enough later packets were acknowledged (RFC 9002 §6.1.1).
    Reordering,
    /// It is older than the time threshold (RFC 9002 §6.1.2).
    Time,
}

/// Where a connection's qlog events go, if anywhere.
#[derive(Default)]
pub(crate) struct QlogSink {
    #[cfg(feature = "qlog")]
    inner: Option<Box<enabled::Trace>>,
}

impl std::fmt::Debug for QlogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QlogSink")
            .field("enabled", &self.enabled())
            .finish()
    }
}

impl QlogSink {
    /// A trace for the connection of `side` whose original destination
    /// CID is `odcid`, when `config` asks for one.
    pub(crate) fn new(
        config: &TransportConfig,
        side: Side,
        odcid: &ConnectionId,
        now: Instant,
    ) -> Self {
        Self {
            #[cfg(feature = "qlog")]
            inner: enabled::Trace::start(config, side, odcid, now).map(Box::new),
        }
    }

    /// True when events are written.
    pub(crate) fn enabled(&self) -> bool {
        #[cfg(feature = "qlog")]
        return self.inner.is_some();
        #[cfg(not(feature = "qlog"))]
        false
    }

    /// connection_started.
    pub(crate) fn connection_started(
        &mut self,
        now: Instant,
        remote: std::net::SocketAddr,
        scid: &ConnectionId,
        dcid: &ConnectionId,
    ) {
        #[cfg(feature = "qlog")]
        if let Some(t) = self.inner.as_mut() {
            t.connection_started(now, remote, scid, dcid);
        }
    }

    /// parameters_set, for our parameters (`local`) or the peer's.
    pub(crate) fn parameters_set(
        &mut self,
        now: Instant,
        local: bool,
        params: &super::super::transport_params::TransportParameters,
    ) {
        #[cfg(feature = "qlog")]
        if let Some(t) = self.inner.as_mut() {
            t.parameters_set(now, local, params);
        }
    }

    /// packet_sent: a packet of `space` numbered `pn`, `size` bytes on the
    /// wire, whose plaintext frames are `frames` (PADDING added after them
    /// counted in `padding`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn packet_sent(
        &mut self,
        now: Instant,
        space: SpaceId,
        zero_rtt: bool,
        pn: u64,
        size: usize,
        frames: &[u8],
        padding: usize,
    ) {
        #[cfg(feature = "qlog")]
        if let Some(t) = self.inner.as_mut() {
            t.packet(now, true, space, zero_rtt, pn, size, frames, padding);
        }
    }

    /// packet_received: a packet of `space` numbered `pn`, `size` bytes
    /// on the wire, whose decrypted payload is `payload`.
    pub(crate) fn packet_received(
        &mut self,
        now: Instant,
        space: SpaceId,
        zero_rtt: bool,
        pn: u64,
        size: usize,
        payload: &[u8],
    ) {
        #[cfg(feature = "qlog")]
        if let Some(t) = self.inner.as_mut() {
            t.packet(now, false, space, zero_rtt, pn, size, payload, 0);
        }
    }

    /// packets_acked: packets of `space` newly acknowledged.
    pub(crate) fn packets_acked(&mut self, now: Instant, space: SpaceId, pns: &[u64]) {
        #[cfg(feature = "qlog")]
        if let Some(t) = self.inner.as_mut() {
            t.packets_acked(now, space, pns);
        }
    }

    /// packet_lost.
    pub(crate) fn packet_lost(&mut self, now: Instant, space: SpaceId, pn: u64, why: LostBecause) {
        #[cfg(feature = "qlog")]
        if let Some(t) = self.inner.as_mut() {
            t.packet_lost(now, space, pn, why);
        }
    }

    /// metrics_updated, when a figure changed since the last one written.
    pub(crate) fn metrics(&mut self, now: Instant, m: Metrics) {
        #[cfg(feature = "qlog")]
        if let Some(t) = self.inner.as_mut() {
            t.metrics(now, m);
        }
    }

    /// congestion_state_updated, when the phase changed.
    pub(crate) fn congestion_state(&mut self, now: Instant, phase: &'static str) {
        #[cfg(feature = "qlog")]
        if let Some(t) = self.inner.as_mut() {
            t.congestion_state(now, phase);
        }
    }

    /// key_updated: 1-RTT keys of a new key phase, `generation` counting
    /// the updates, started by us (`local`) or by the peer. Logged at the
    /// time of the last event (a local update is asked for without a
    /// time).
    pub(crate) fn key_updated(&mut self, side: Side, generation: u64, local: bool) {
        #[cfg(feature = "qlog")]
        if let Some(t) = self.inner.as_mut() {
            let now = t.last;
            t.key_updated(now, side, generation, local);
        }
    }

    /// connection_closed, at the time of the last event; the trace ends
    /// there (what the closing period still sends is not logged).
    pub(crate) fn connection_closed(&mut self, error: &super::ConnectionError) {
        #[cfg(feature = "qlog")]
        if let Some(t) = self.inner.as_mut() {
            let now = t.last;
            t.connection_closed(now, error);
        }
    }
}

/// The figures of metrics_updated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Metrics {
    pub(crate) smoothed_rtt: std::time::Duration,
    pub(crate) latest_rtt: std::time::Duration,
    pub(crate) min_rtt: std::time::Duration,
    pub(crate) rtt_variance: std::time::Duration,
    pub(crate) congestion_window: u64,
    pub(crate) bytes_in_flight: u64,
}

#[cfg(feature = "qlog")]
mod enabled {
    use super::super::super::cid::ConnectionId;
    use super::super::super::config::TransportConfig;
    use super::super::super::frame::{Frame, Frames};
    use super::super::super::transport_params::TransportParameters;
    use super::super::super::Side;
    use super::super::spaces::SpaceId;
    use super::super::ConnectionError;
    use super::{LostBecause, Metrics};
    use qlog::events::connectivity::{ConnectionClosed, ConnectionStarted, TransportOwner};
    use qlog::events::quic::{
        AckedRanges, CongestionStateUpdated, ErrorSpace, MetricsUpdated, PacketHeader, PacketLost,
        PacketLostTrigger, PacketNumberSpace, PacketReceived, PacketSent, PacketType, PacketsAcked,
        QuicFrame, StreamType, TransportParametersSet,
    };
    use qlog::events::security::{KeyType, KeyUpdateOrRetiredTrigger, KeyUpdated};
    use qlog::events::{Event, EventData, EventImportance};
    use qlog::streamer::QlogStreamer;
    use std::io::Write;
    use std::path::PathBuf;

    use std::time::Instant;

    /// Makes the qlog writer of each connection, as set with
    /// `TransportConfig::qlog` (feature `qlog`).
    pub trait QlogFactory: Send + Sync {
        /// Where the trace of the connection of `side` whose original
        /// destination connection ID is `odcid` goes; `None`: no trace.
        fn writer(&self, side: Side, odcid: &ConnectionId) -> Option<Box<dyn Write + Send + Sync>>;
    }

    /// Writes each connection's trace to `<dir>/<odcid>_<client|server>.sqlog`,
    /// as the quic-interop-runner's `QLOGDIR` asks.
    #[derive(Debug, Clone)]
    pub struct QlogDir(pub PathBuf);

    impl QlogDir {
        /// The directory `QLOGDIR` names (the quic-interop-runner's
        /// variable), created if need be; `None` when it is unset.
        pub fn from_env() -> Option<Self> {
            let dir = PathBuf::from(std::env::var_os("QLOGDIR")?);
            if let Err(e) = std::fs::create_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "QLOGDIR");
            }
            Some(Self(dir))
        }
    }

    impl QlogFactory for QlogDir {
        fn writer(&self, side: Side, odcid: &ConnectionId) -> Option<Box<dyn Write + Send + Sync>> {
            let name = format!(
                "{odcid}_{}.sqlog",
                if side.is_client() { "client" } else { "server" }
            );
            match std::fs::File::create(self.0.join(name)) {
                Ok(f) => Some(Box::new(std::io::BufWriter::new(f))),
                Err(e) => {
                    tracing::warn!(dir = %self.0.display(), error = %e, "no qlog file");
                    None
                }
            }
        }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn space_of(space: SpaceId) -> PacketNumberSpace {
        match space {
            SpaceId::Initial => PacketNumberSpace::Initial,
            SpaceId::Handshake => PacketNumberSpace::Handshake,
            SpaceId::Data => PacketNumberSpace::ApplicationData,
        }
    }

    fn packet_type(space: SpaceId, zero_rtt: bool) -> PacketType {
        match space {
            SpaceId::Initial => PacketType::Initial,
            SpaceId::Handshake => PacketType::Handshake,
            SpaceId::Data if zero_rtt => PacketType::ZeroRtt,
            SpaceId::Data => PacketType::OneRtt,
        }
    }

    fn header(space: SpaceId, zero_rtt: bool, pn: u64, size: usize) -> PacketHeader {
        PacketHeader {
            packet_type: packet_type(space, zero_rtt),
            packet_number: Some(pn),
            length: u16::try_from(size).ok(),
            ..PacketHeader::default()
        }
    }

    fn stream_type(dir: crate::protocol::Dir) -> StreamType {
        match dir {
            crate::protocol::Dir::Bi => StreamType::Bidirectional,
            crate::protocol::Dir::Uni => StreamType::Unidirectional,
        }
    }

    /// A decoded frame as qlog describes it.
    fn frame(f: Frame) -> QuicFrame {
        match f {
            Frame::Padding(n) => QuicFrame::Padding {
                length: None,
                payload_length: n as u32,
            },
            Frame::Ping => QuicFrame::Ping {
                length: None,
                payload_length: None,
            },
            Frame::Ack(a) => QuicFrame::Ack {
                ack_delay: None,
                acked_ranges: Some(AckedRanges::Double(
                    a.ranges
                        .iter()
                        .rev()
                        .map(|r| (*r.start(), *r.end()))
                        .collect(),
                )),
                ect1: a.ecn.map(|e| e.ect1),
                ect0: a.ecn.map(|e| e.ect0),
                ce: a.ecn.map(|e| e.ce),
                length: None,
                payload_length: None,
            },
            Frame::ResetStream {
                id,
                error_code,
                final_size,
            } => QuicFrame::ResetStream {
                stream_id: id.into(),
                error_code,
                final_size,
                length: None,
                payload_length: None,
            },
            Frame::StopSending { id, error_code } => QuicFrame::StopSending {
                stream_id: id.into(),
                error_code,
                length: None,
                payload_length: None,
            },
            Frame::Crypto { offset, data } => QuicFrame::Crypto {
                offset,
                length: data.len() as u64,
            },
            Frame::NewToken { token } => QuicFrame::NewToken {
                token: qlog::Token {
                    ty: Some(qlog::TokenType::Resumption),
                    details: None,
                    raw: Some(qlog::events::RawInfo {
                        length: Some(token.len() as u64),
                        payload_length: None,
                        data: None,
                    }),
                },
            },
            Frame::Stream {
                id,
                offset,
                fin,
                data,
            } => QuicFrame::Stream {
                stream_id: id.into(),
                offset,
                length: data.len() as u64,
                fin: Some(fin),
                raw: None,
            },
            Frame::MaxData(maximum) => QuicFrame::MaxData { maximum },
            Frame::MaxStreamData { id, max } => QuicFrame::MaxStreamData {
                stream_id: id.into(),
                maximum: max,
            },
            Frame::MaxStreams { dir, count } => QuicFrame::MaxStreams {
                stream_type: stream_type(dir),
                maximum: count,
            },
            Frame::DataBlocked(limit) => QuicFrame::DataBlocked { limit },
            Frame::StreamDataBlocked { id, limit } => QuicFrame::StreamDataBlocked {
                stream_id: id.into(),
                limit,
            },
            Frame::StreamsBlocked { dir, limit } => QuicFrame::StreamsBlocked {
                stream_type: stream_type(dir),
                limit,
            },
            Frame::NewConnectionId {
                seq,
                retire_prior_to,
                cid,
                reset_token,
            } => QuicFrame::NewConnectionId {
                sequence_number: seq as u32,
                retire_prior_to: retire_prior_to as u32,
                connection_id_length: Some(cid.len() as u8),
                connection_id: hex(&cid),
                stateless_reset_token: Some(hex(&reset_token)),
            },
            Frame::RetireConnectionId { seq } => QuicFrame::RetireConnectionId {
                sequence_number: seq as u32,
            },
            Frame::PathChallenge(d) => QuicFrame::PathChallenge {
                data: Some(hex(&d)),
            },
            Frame::PathResponse(d) => QuicFrame::PathResponse {
                data: Some(hex(&d)),
            },
            Frame::ConnectionClose {
                app,
                code,
                frame_type,
                reason,
            } => QuicFrame::ConnectionClose {
                error_space: Some(if app {
                    ErrorSpace::ApplicationError
                } else {
                    ErrorSpace::TransportError
                }),
                error_code: Some(code),
                error_code_value: Some(code),
                reason: Some(String::from_utf8_lossy(&reason).into_owned()),
                trigger_frame_type: (!app).then_some(frame_type),
            },
            Frame::HandshakeDone => QuicFrame::HandshakeDone,
            Frame::Datagram { data } => QuicFrame::Datagram {
                length: data.len() as u64,
                raw: None,
            },
        }
    }

    fn frames(payload: &[u8], padding: usize) -> Vec<QuicFrame> {
        let mut out: Vec<QuicFrame> = Frames::new(bytes::Bytes::copy_from_slice(payload))
            .map_while(Result::ok)
            .map(frame)
            .collect();
        if padding > 0 {
            out.push(QuicFrame::Padding {
                length: None,
                payload_length: padding as u32,
            });
        }
        out
    }

    /// One connection's trace.
    pub(crate) struct Trace {
        streamer: QlogStreamer,
        odcid: String,
        /// The time of the last event.
        pub(crate) last: Instant,
        last_metrics: Option<Metrics>,
        last_phase: Option<&'static str>,
    }

    impl Trace {
        pub(crate) fn start(
            config: &TransportConfig,
            side: Side,
            odcid: &ConnectionId,
            now: Instant,
        ) -> Option<Self> {
            let writer = config.qlog.as_ref()?.0.writer(side, odcid)?;
            let vantage = qlog::VantagePoint {
                name: Some("actix-quic".into()),
                ty: if side.is_client() {
                    qlog::VantagePointType::Client
                } else {
                    qlog::VantagePointType::Server
                },
                flow: None,
            };
            let trace = qlog::TraceSeq::new(
                vantage,
                Some(format!("actix-quic {odcid}")),
                None,
                Some(qlog::Configuration {
                    time_offset: Some(0.0),
                    original_uris: None,
                }),
                None,
            );
            let mut streamer = QlogStreamer::new(
                qlog::QLOG_VERSION.to_string(),
                Some("actix-quic".into()),
                None,
                None,
                now,
                trace,
                EventImportance::Extra,
                writer,
            );
            if let Err(e) = streamer.start_log() {
                tracing::warn!(error = ?e, "cannot start the qlog trace");
                return None;
            }
            Some(Self {
                streamer,
                odcid: odcid.to_string(),
                last: now,
                last_metrics: None,
                last_phase: None,
            })
        }

        fn emit(&mut self, now: Instant, data: EventData) {
            self.last = self.last.max(now);
            let mut event = Event::with_time(0.0, data);
            event.group_id = Some(self.odcid.clone());
            if let Err(e) = self.streamer.add_event_with_instant(event, now) {
                tracing::debug!(error = ?e, "qlog event not written");
            }
        }

        pub(crate) fn connection_started(
            &mut self,
            now: Instant,
            remote: std::net::SocketAddr,
            scid: &ConnectionId,
            dcid: &ConnectionId,
        ) {
            let data = EventData::ConnectionStarted(ConnectionStarted {
                ip_version: Some(if remote.is_ipv4() { "v4" } else { "v6" }.into()),
                src_ip: String::new(),
                dst_ip: remote.ip().to_string(),
                protocol: Some("QUIC".into()),
                src_port: None,
                dst_port: Some(remote.port()),
                src_cid: Some(scid.to_string()),
                dst_cid: Some(dcid.to_string()),
            });
            self.emit(now, data);
        }

        pub(crate) fn parameters_set(
            &mut self,
            now: Instant,
            local: bool,
            p: &TransportParameters,
        ) {
            let data = EventData::TransportParametersSet(TransportParametersSet {
                owner: Some(if local {
                    TransportOwner::Local
                } else {
                    TransportOwner::Remote
                }),
                original_destination_connection_id: p
                    .original_destination_connection_id
                    .map(|c| c.to_string()),
                initial_source_connection_id: p.initial_source_connection_id.map(|c| c.to_string()),
                retry_source_connection_id: p.retry_source_connection_id.map(|c| c.to_string()),
                stateless_reset_token: p.stateless_reset_token.map(|t| hex(&t)),
                disable_active_migration: Some(p.disable_active_migration),
                max_idle_timeout: Some(p.max_idle_timeout),
                max_udp_payload_size: u32::try_from(p.max_udp_payload_size).ok(),
                ack_delay_exponent: u16::try_from(p.ack_delay_exponent).ok(),
                max_ack_delay: u16::try_from(p.max_ack_delay).ok(),
                active_connection_id_limit: u32::try_from(p.active_connection_id_limit).ok(),
                initial_max_data: Some(p.initial_max_data),
                initial_max_stream_data_bidi_local: Some(p.initial_max_stream_data_bidi_local),
                initial_max_stream_data_bidi_remote: Some(p.initial_max_stream_data_bidi_remote),
                initial_max_stream_data_uni: Some(p.initial_max_stream_data_uni),
                initial_max_streams_bidi: Some(p.initial_max_streams_bidi),
                initial_max_streams_uni: Some(p.initial_max_streams_uni),
                ..TransportParametersSet::default()
            });
            self.emit(now, data);
        }

        #[allow(clippy::too_many_arguments)]
        pub(crate) fn packet(
            &mut self,
            now: Instant,
            sent: bool,
            space: SpaceId,
            zero_rtt: bool,
            pn: u64,
            size: usize,
            payload: &[u8],
            padding: usize,
        ) {
            let header = header(space, zero_rtt, pn, size);
            let frames = frames(payload, padding);
            let raw = Some(qlog::events::RawInfo {
                length: Some(size as u64),
                payload_length: None,
                data: None,
            });
            let data = if sent {
                EventData::PacketSent(PacketSent {
                    header,
                    raw,
                    frames: Some(frames.into()),
                    ..PacketSent::default()
                })
            } else {
                EventData::PacketReceived(PacketReceived {
                    header,
                    raw,
                    frames: Some(frames),
                    ..PacketReceived::default()
                })
            };
            self.emit(now, data);
        }

        pub(crate) fn packets_acked(&mut self, now: Instant, space: SpaceId, pns: &[u64]) {
            let data = EventData::PacketsAcked(PacketsAcked {
                packet_number_space: Some(space_of(space)),
                packet_numbers: Some(pns.to_vec()),
            });
            self.emit(now, data);
        }

        pub(crate) fn packet_lost(
            &mut self,
            now: Instant,
            space: SpaceId,
            pn: u64,
            why: LostBecause,
        ) {
            let data = EventData::PacketLost(PacketLost {
                header: Some(PacketHeader {
                    packet_type: packet_type(space, false),
                    packet_number: Some(pn),
                    ..PacketHeader::default()
                }),
                frames: None,
                trigger: Some(match why {
                    LostBecause::Reordering => PacketLostTrigger::ReorderingThreshold,
                    LostBecause::Time => PacketLostTrigger::TimeThreshold,
                }),
            });
            self.emit(now, data);
        }

        pub(crate) fn metrics(&mut self, now: Instant, m: Metrics) {
            if self.last_metrics == Some(m) {
                return;
            }
            self.last_metrics = Some(m);
            let ms = |d: std::time::Duration| d.as_secs_f32() * 1000.0;
            let data = EventData::MetricsUpdated(MetricsUpdated {
                min_rtt: Some(ms(m.min_rtt)),
                smoothed_rtt: Some(ms(m.smoothed_rtt)),
                latest_rtt: Some(ms(m.latest_rtt)),
                rtt_variance: Some(ms(m.rtt_variance)),
                congestion_window: Some(m.congestion_window),
                bytes_in_flight: Some(m.bytes_in_flight),
                ..MetricsUpdated::default()
            });
            self.emit(now, data);
        }

        pub(crate) fn congestion_state(&mut self, now: Instant, phase: &'static str) {
            if self.last_phase == Some(phase) {
                return;
            }
            let old = self.last_phase.replace(phase);
            let data = EventData::CongestionStateUpdated(CongestionStateUpdated {
                old: old.map(str::to_string),
                new: phase.to_string(),
                trigger: None,
            });
            self.emit(now, data);
        }

        pub(crate) fn key_updated(
            &mut self,
            now: Instant,
            side: Side,
            generation: u64,
            local: bool,
        ) {
            // Both directions move to the new phase; logged as the keys of
            // the side that speaks first in it.
            let key_type = if side.is_client() == local {
                KeyType::Client1RttSecret
            } else {
                KeyType::Server1RttSecret
            };
            let data = EventData::KeyUpdated(KeyUpdated {
                key_type,
                old: None,
                new: String::new(),
                generation: u32::try_from(generation).ok(),
                trigger: Some(if local {
                    KeyUpdateOrRetiredTrigger::LocalUpdate
                } else {
                    KeyUpdateOrRetiredTrigger::RemoteUpdate
                }),
            });
            self.emit(now, data);
        }

        pub(crate) fn connection_closed(&mut self, now: Instant, error: &ConnectionError) {
            use qlog::events::connectivity::ConnectionClosedTrigger as T;
            let (owner, trigger) = match error {
                ConnectionError::TimedOut => (None, Some(T::IdleTimeout)),
                ConnectionError::Reset => (Some(TransportOwner::Remote), Some(T::StatelessReset)),
                ConnectionError::LocallyClosed => (Some(TransportOwner::Local), Some(T::Clean)),
                ConnectionError::ApplicationClosed(_) | ConnectionError::ConnectionClosed(_) => {
                    (Some(TransportOwner::Remote), Some(T::Error))
                }
                _ => (Some(TransportOwner::Local), Some(T::Error)),
            };
            let data = EventData::ConnectionClosed(ConnectionClosed {
                owner,
                connection_code: None,
                application_code: None,
                internal_code: None,
                reason: Some(error.to_string()),
                trigger,
            });
            self.emit(now, data);
            // The end of the trace: flushed now, whatever comes after.
            if let Err(e) = self.streamer.finish_log() {
                tracing::debug!(error = ?e, "qlog trace not flushed");
            }
        }
    }

    impl Drop for Trace {
        fn drop(&mut self) {
            let _ = self.streamer.finish_log();
        }
    }
}
