//! Every configuration: transport settings shared by both sides of a
//! connection, what a server accepts with, what a client connects with,
//! and the settings of an endpoint as a whole.

use super::congestion::CongestionAlgorithm;
use super::packet;
use super::token::{
    TokenKey, TokenStore, DEFAULT_RETRY_TOKEN_LIFETIME, DEFAULT_VALIDATION_TOKEN_LIFETIME,
};
use std::sync::Arc;
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

/// Settings for accepting connections.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// TLS settings (certificate, ALPN).
    pub crypto: Arc<rustls::ServerConfig>,
    /// Transport settings for accepted connections.
    pub transport: Arc<TransportConfig>,
    /// Most connections at once; further client Initials are refused
    /// with CONNECTION_REFUSED (RFC 9000 §20.1) rather than growing memory.
    pub max_connections: usize,
    /// Most connection attempts at once, counting those awaiting the
    /// application's decision (`Incoming`) and those handshaking; beyond
    /// it new Initials are refused with CONNECTION_REFUSED before any TLS
    /// work (RFC 9000 §20.1).
    pub max_incoming: usize,
    /// Most bytes of further datagrams held for one undecided attempt
    /// (the client's 0-RTT, a retransmitted Initial) until it is
    /// accepted; past it they are dropped and the client sends again.
    pub incoming_buffer_size: usize,
    /// Most bytes held for all undecided attempts together.
    pub incoming_buffer_size_total: usize,
    /// Validate every client address with a Retry round trip before
    /// creating any state for it (RFC 9000 §8.1.2). Clients returning a
    /// valid NEW_TOKEN token skip the Retry. Off by default.
    pub retry: bool,
    /// Send each client a NEW_TOKEN frame once the handshake completes, so
    /// its next connection starts with a validated address (RFC 9000
    /// §8.1.3). On by default.
    pub send_new_token: bool,
    /// The secret sealing Retry and NEW_TOKEN tokens; by default random,
    /// drawn by the first endpoint that uses this configuration (clones
    /// share it). Endpoints sharing it accept each other's tokens.
    pub token_key: Arc<TokenKey>,
    /// How long a Retry token is accepted (10 s by default).
    pub retry_token_lifetime: Duration,
    /// How long a NEW_TOKEN token is accepted (24 h by default).
    pub validation_token_lifetime: Duration,
    /// Follow clients that move to a new address or port (RFC 9000 §9):
    /// NAT rebinding or a client's new socket. When false, packets from
    /// any other address than the one the handshake used are dropped.
    /// On by default, as in quinn.
    pub migration: bool,
    /// The versions we answer in, most preferred first. A client that
    /// starts in one version and lists a more preferred one in its
    /// version_information is answered in that one (compatible version
    /// negotiation, RFC 9368 §2.3). By default v1 then v2: clients get
    /// the version they start with.
    pub preferred_versions: Vec<u32>,
}

impl ServerConfig {
    /// Sets [`migration`](Self::migration), as quinn's
    /// `ServerConfig::migration`.
    pub fn migration(&mut self, value: bool) -> &mut Self {
        self.migration = value;
        self
    }

    /// A server configuration with default transport settings.
    pub fn with_crypto(crypto: Arc<rustls::ServerConfig>) -> Self {
        Self {
            crypto,
            transport: Arc::new(TransportConfig::default()),
            max_connections: 100_000,
            max_incoming: 1 << 16,
            incoming_buffer_size: 64 * 1024,
            incoming_buffer_size_total: 16 << 20,
            retry: false,
            send_new_token: true,
            token_key: Arc::new(TokenKey::default()),
            retry_token_lifetime: DEFAULT_RETRY_TOKEN_LIFETIME,
            validation_token_lifetime: DEFAULT_VALIDATION_TOKEN_LIFETIME,
            migration: true,
            preferred_versions: packet::SUPPORTED_VERSIONS.to_vec(),
        }
    }
}

/// Settings for making connections.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// TLS settings (roots, ALPN).
    pub crypto: Arc<rustls::ClientConfig>,
    /// Transport settings.
    pub transport: Arc<TransportConfig>,
    /// Where NEW_TOKEN tokens from servers are kept and taken from for
    /// later connections to the same server name (RFC 9000 §8.1.3);
    /// `None` neither keeps nor sends any.
    pub token_store: Option<Arc<TokenStore>>,
    /// The QUIC version to connect with: [`VERSION_1`](packet::VERSION_1) (the
    /// default) or [`VERSION_2`](packet::VERSION_2) (RFC 9369).
    pub version: u32,
}

impl ClientConfig {
    /// A client configuration with default transport settings.
    pub fn new(crypto: Arc<rustls::ClientConfig>) -> Self {
        Self {
            crypto,
            transport: Arc::new(TransportConfig::default()),
            token_store: Some(Arc::new(TokenStore::default())),
            version: packet::VERSION_1,
        }
    }
}

/// Settings of an endpoint as a whole, client or server.
#[derive(Clone, Default)]
pub struct EndpointConfig {
    /// HMAC key deriving the stateless reset token of each CID we issue
    /// (RFC 9000 §10.3.2); random per endpoint when unset.
    pub(crate) reset_key: Option<Arc<ring::hmac::Key>>,
}

impl EndpointConfig {
    /// A configuration with a random stateless reset key, drawn by each
    /// endpoint: resets are recognised by peers only while that endpoint
    /// runs.
    pub fn new() -> Self {
        Self::default()
    }

    /// A configuration whose stateless reset tokens are derived from
    /// `secret` with HMAC-SHA256 (RFC 9000 §10.3.2). An endpoint restarted
    /// with the same secret resets the connections of its previous run,
    /// so their peers learn at once that the state is gone. Keep the
    /// secret private: whoever knows it can reset our connections.
    pub fn with_reset_key(secret: &[u8]) -> Self {
        Self {
            reset_key: Some(Arc::new(ring::hmac::Key::new(
                ring::hmac::HMAC_SHA256,
                secret,
            ))),
        }
    }
}

impl std::fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointConfig").finish_non_exhaustive()
    }
}
