//! Transport settings shared by both sides of a connection.

use super::congestion::CongestionAlgorithm;
use std::time::Duration;

/// Transport tuning, as in quinn's `TransportConfig`. Defaults suit a
/// fast local network and the public internet alike.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// How long a connection may stay silent before it is closed
    /// (RFC 9000 §10.1); `None` disables the local limit.
    pub max_idle_timeout: Option<Duration>,
    /// Bytes the peer may send on one stream beyond what was read.
    pub stream_receive_window: u64,
    /// Bytes the peer may send across all streams beyond what was read.
    pub receive_window: u64,
    /// Bytes we buffer unacknowledged across all send streams.
    pub send_window: u64,
    /// Bidirectional streams the peer may have open at once.
    pub max_concurrent_bidi_streams: u64,
    /// Unidirectional streams the peer may have open at once.
    pub max_concurrent_uni_streams: u64,
    /// Send a PING when nothing else was sent for this long.
    pub keep_alive_interval: Option<Duration>,
    /// RTT assumed before a sample exists (RFC 9002 §6.2.2).
    pub initial_rtt: Duration,
    /// Longest we delay an acknowledgement (RFC 9000 §13.2.1).
    pub max_ack_delay: Duration,
    /// UDP payload size used for every packet. 1200 is always safe
    /// (RFC 9000 §14); larger values need a path that carries them.
    pub initial_mtu: u16,
    /// Bytes of received datagrams (RFC 9221) buffered until the
    /// application reads them; the oldest are dropped beyond it. It also
    /// bounds the `max_datagram_frame_size` we announce (at most 65535).
    /// `None` disables datagrams.
    pub datagram_receive_buffer_size: Option<usize>,
    /// Bytes of datagrams queued for sending; the oldest are dropped
    /// beyond it (datagrams are unreliable).
    pub datagram_send_buffer_size: usize,
    /// Out-of-order CRYPTO bytes buffered per level before the peer is
    /// closed with CRYPTO_BUFFER_EXCEEDED.
    pub crypto_buffer_size: u64,
    /// Most peer connection IDs we store (active_connection_id_limit).
    pub active_connection_id_limit: u64,
    /// Initial congestion window in bytes (RFC 9002 §7.2).
    pub initial_window: u64,
    /// The congestion controller (CUBIC by default).
    pub congestion: CongestionAlgorithm,
    /// Spread sending over the RTT (RFC 9002 §7.7).
    pub pacing: bool,
    /// Path MTU discovery (RFC 8899, RFC 9000 §14.3) above
    /// `initial_mtu`; `None` keeps `initial_mtu` for the whole
    /// connection.
    pub mtu_discovery: Option<MtuDiscoveryConfig>,
}

/// How the path MTU is discovered (RFC 8899 DPLPMTUD), as quinn's
/// `MtuDiscoveryConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MtuDiscoveryConfig {
    /// The largest UDP payload size probed for (1452 by default: an
    /// Ethernet MTU of 1500 less IPv6 and UDP headers). The peer's
    /// max_udp_payload_size bounds it too.
    pub upper_bound: u16,
    /// After a search ends, how long until the path is probed again
    /// (RFC 8899 §5.2; 600 s by default).
    pub interval: Duration,
    /// After a black hole sent the size back to 1200, how long until
    /// probing starts again (60 s by default).
    pub black_hole_cooldown: Duration,
    /// The search stops when the bounds are closer than this (20 bytes).
    pub minimum_change: u16,
}

impl Default for MtuDiscoveryConfig {
    fn default() -> Self {
        Self {
            upper_bound: 1452,
            interval: Duration::from_secs(600),
            black_hole_cooldown: Duration::from_secs(60),
            minimum_change: 20,
        }
    }
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            max_idle_timeout: Some(Duration::from_secs(30)),
            stream_receive_window: 4 * 1024 * 1024,
            receive_window: 16 * 1024 * 1024,
            send_window: 16 * 1024 * 1024,
            max_concurrent_bidi_streams: 100,
            max_concurrent_uni_streams: 100,
            keep_alive_interval: None,
            initial_rtt: Duration::from_millis(333),
            max_ack_delay: Duration::from_millis(25),
            initial_mtu: 1200,
            datagram_receive_buffer_size: Some(1024 * 1024),
            datagram_send_buffer_size: 1024 * 1024,
            crypto_buffer_size: 64 * 1024,
            active_connection_id_limit: 4,
            initial_window: 14720,
            congestion: CongestionAlgorithm::Cubic,
            pacing: true,
            mtu_discovery: Some(MtuDiscoveryConfig::default()),
        }
    }
}
