//! Connection statistics: UDP and packet counters, frames per type, and
//! the path figures a user wants to see.

use super::ecn::EcnState;
use crate::protocol::frame::*;
use std::time::Duration;

/// Connection statistics. More figures may come: as quinn's, it cannot
/// be built outside this crate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// UDP datagrams sent.
    pub udp_tx_datagrams: u64,
    /// UDP bytes sent.
    pub udp_tx_bytes: u64,
    /// UDP datagrams received.
    pub udp_rx_datagrams: u64,
    /// UDP bytes received.
    pub udp_rx_bytes: u64,
    /// QUIC packets sent.
    pub packets_sent: u64,
    /// QUIC packets received and authenticated.
    pub packets_received: u64,
    /// Packets declared lost.
    pub lost_packets: u64,
    /// Bytes in packets declared lost.
    pub lost_bytes: u64,
    /// Frames sent, all types.
    pub frames_sent: u64,
    /// Frames received, all types.
    pub frames_received: u64,
    /// Frames sent, per type.
    pub frame_tx: FrameStats,
    /// Frames received, per type.
    pub frame_rx: FrameStats,
    /// Received datagrams (RFC 9221) dropped, oldest first, because the
    /// receive buffer was full and the application did not read them.
    pub datagrams_dropped_rx: u64,
    /// Queued datagrams dropped, oldest first, because the send queue was
    /// full.
    pub datagrams_dropped_tx: u64,
    /// Congestion window reductions.
    pub congestion_events: u64,
    /// 1-RTT key updates (RFC 9001 §6), started by either side.
    pub key_updates: u64,
    /// Times the peer moved to a new address (RFC 9000 §9).
    pub migrations: u64,
    /// PMTU probes lost (RFC 8899; not counted in `lost_packets`).
    pub lost_mtu_probes: u64,
    /// PMTU black holes detected: the datagram size fell back to 1200.
    pub black_holes: u64,
    /// Smoothed RTT.
    pub rtt: Duration,
    /// Congestion window.
    pub cwnd: u64,
    /// Datagram size in use.
    pub mtu: u16,
    /// ECN (RFC 9000 §13.4): marks sent, received and reported.
    pub ecn: EcnStats,
}

/// ECN figures of a connection (RFC 9000 §13.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EcnStats {
    /// Where validation of the current path stands.
    pub state: EcnState,
    /// QUIC packets we sent marked ECT(0).
    pub sent_ect0: u64,
    /// QUIC packets received marked ECT(0), ECT(1) and CE: what our ACK
    /// frames report, summed over the packet number spaces.
    pub received_ect0: u64,
    /// See `received_ect0`.
    pub received_ect1: u64,
    /// See `received_ect0`.
    pub received_ce: u64,
    /// The peer's ECT(0) and CE counts of our packets, as its ACK frames
    /// last reported them (validated), summed over the spaces.
    pub peer_ect0: u64,
    /// See `peer_ect0`.
    pub peer_ce: u64,
    /// Congestion events signalled by CE marks (also counted in
    /// `congestion_events`).
    pub ce_events: u64,
}

impl Default for EcnStats {
    fn default() -> Self {
        Self {
            state: EcnState::Disabled,
            sent_ect0: 0,
            received_ect0: 0,
            received_ect1: 0,
            received_ce: 0,
            peer_ect0: 0,
            peer_ce: 0,
            ce_events: 0,
        }
    }
}

/// Declares [`FrameStats`] from one list of counters, each with the frame
/// types it counts, so the struct, `add` and `+=` cannot drift apart.
macro_rules! frame_stats {
    ($($(#[$doc:meta])* $field:ident: $($ty:pat_param)|+,)*) => {
        /// Frames counted per type (RFC 9000 §12.4, RFC 9221 §4).
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct FrameStats {
            $($(#[$doc])* pub $field: u64,)*
        }

        impl FrameStats {
            /// Counts `n` frames of type `ty` (the frame's first varint);
            /// unknown types are not counted.
            pub fn add(&mut self, ty: u64, n: u64) {
                match ty {
                    $($($ty)|+ => self.$field += n,)*
                    _ => {}
                }
            }

            /// Frames of every type.
            pub fn total(&self) -> u64 {
                0 $(+ self.$field)*
            }
        }

        impl std::ops::AddAssign for FrameStats {
            fn add_assign(&mut self, o: Self) {
                $(self.$field += o.$field;)*
            }
        }
    };
}

frame_stats! {
    /// PADDING frames (a run of padding bytes counts once).
    padding: PADDING,
    /// PING frames.
    ping: PING,
    /// ACK frames, with or without ECN counts.
    ack: ACK | ACK_ECN,
    /// RESET_STREAM frames.
    reset_stream: RESET_STREAM,
    /// STOP_SENDING frames.
    stop_sending: STOP_SENDING,
    /// CRYPTO frames.
    crypto: CRYPTO,
    /// NEW_TOKEN frames.
    new_token: NEW_TOKEN,
    /// STREAM frames.
    stream: STREAM..=STREAM_LAST,
    /// MAX_DATA frames.
    max_data: MAX_DATA,
    /// MAX_STREAM_DATA frames.
    max_stream_data: MAX_STREAM_DATA,
    /// MAX_STREAMS frames, both directions.
    max_streams: MAX_STREAMS_BIDI | MAX_STREAMS_UNI,
    /// DATA_BLOCKED frames.
    data_blocked: DATA_BLOCKED,
    /// STREAM_DATA_BLOCKED frames.
    stream_data_blocked: STREAM_DATA_BLOCKED,
    /// STREAMS_BLOCKED frames, both directions.
    streams_blocked: STREAMS_BLOCKED_BIDI | STREAMS_BLOCKED_UNI,
    /// NEW_CONNECTION_ID frames.
    new_connection_id: NEW_CONNECTION_ID,
    /// RETIRE_CONNECTION_ID frames.
    retire_connection_id: RETIRE_CONNECTION_ID,
    /// PATH_CHALLENGE frames.
    path_challenge: PATH_CHALLENGE,
    /// PATH_RESPONSE frames.
    path_response: PATH_RESPONSE,
    /// CONNECTION_CLOSE frames, transport and application.
    connection_close: CONNECTION_CLOSE | CONNECTION_CLOSE_APP,
    /// HANDSHAKE_DONE frames.
    handshake_done: HANDSHAKE_DONE,
    /// DATAGRAM frames.
    datagram: DATAGRAM | DATAGRAM_LEN,
}

impl FrameStats {
    /// Counts one frame of type `ty`.
    pub(crate) fn record(&mut self, ty: u64) {
        self.add(ty, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_type_has_a_counter() {
        let mut s = FrameStats::default();
        for ty in (0x00..=0x1e).chain([0x30, 0x31]) {
            s.record(ty);
        }
        // Types sharing a counter: ACK/ACK_ECN, 8 STREAM types, MAX_STREAMS
        // and STREAMS_BLOCKED per direction, both CLOSEs, both DATAGRAMs.
        assert_eq!(s.total(), 33);
        assert_eq!(s.stream, 8);
        assert!(s.padding == 1 && s.ack == 2 && s.max_streams == 2 && s.datagram == 2);
        assert!(s.path_challenge == 1 && s.handshake_done == 1 && s.connection_close == 2);
        s.record(0x40);
        assert_eq!(s.total(), 33, "unknown types are not counted");
        let mut t = s;
        t += s;
        assert_eq!(t.total(), 66);
    }
}
