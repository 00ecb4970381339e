//! Every configuration: transport settings shared by both sides of a
//! connection, what a server accepts with, what a client connects with,
//! and the settings of an endpoint as a whole.

use super::cid_generator::ConnectionIdGenerator;
use super::congestion::CongestionAlgorithm;
use super::packet;
use super::token::{
    TokenKey, TokenStore, DEFAULT_RETRY_TOKEN_LIFETIME, DEFAULT_VALIDATION_TOKEN_LIFETIME,
};
use super::varint::{VarInt, VarIntBoundsExceeded};
use std::sync::Arc;
use std::time::Duration;

/// A rustls configuration QUIC cannot use, found when the QUIC
/// configuration is built (rather than by every connection failing).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The rustls provider has no TLS 1.3 cipher suite: QUIC runs only
    /// on TLS 1.3 (RFC 9001 §4.2).
    #[error("the rustls provider offers no TLS 1.3 cipher suite; QUIC is TLS 1.3 only")]
    NoTls13,
    /// A server's `max_early_data_size` is neither 0 (no 0-RTT) nor
    /// `u32::MAX` (0-RTT), the only values QUIC allows (RFC 9001 §4.6.1).
    #[error("max_early_data_size is {0}; QUIC allows only 0 or u32::MAX")]
    MaxEarlyDataSize(u32),
    /// rustls refused to build the configuration.
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
}

/// Checks what QUIC needs of a rustls crypto provider: TLS 1.3 cipher
/// suites. (Initial packets use AES-128-GCM whatever the configuration
/// offers, RFC 9001 §5.2, so a provider restricted to ChaCha20 works.)
fn check_provider(provider: &rustls::crypto::CryptoProvider) -> Result<(), ConfigError> {
    if !provider.cipher_suites.iter().any(|s| s.tls13().is_some()) {
        return Err(ConfigError::NoTls13);
    }
    Ok(())
}

/// The crypto provider of this build (ring).
fn default_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(crate::protocol::backend::default_provider())
}

/// How long a silent connection lives (RFC 9000 §10.1), in milliseconds
/// on the wire, as quinn's `IdleTimeout`: made from a [`VarInt`] of
/// milliseconds or, fallibly, from a `Duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IdleTimeout(VarInt);

impl IdleTimeout {
    pub(crate) fn duration(self) -> Duration {
        Duration::from_millis(self.0.into_inner())
    }
}

impl From<VarInt> for IdleTimeout {
    fn from(ms: VarInt) -> Self {
        Self(ms)
    }
}

impl TryFrom<Duration> for IdleTimeout {
    type Error = VarIntBoundsExceeded;
    fn try_from(timeout: Duration) -> Result<Self, VarIntBoundsExceeded> {
        Ok(Self(VarInt::try_from(timeout.as_millis())?))
    }
}

/// Transport tuning, as quinn's `TransportConfig`: set with its methods,
/// which take values the wire can carry. Defaults suit a fast local
/// network and the public internet alike.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    pub(crate) max_idle_timeout: Option<Duration>,
    pub(crate) stream_receive_window: u64,
    pub(crate) receive_window: u64,
    pub(crate) send_window: u64,
    pub(crate) max_concurrent_bidi_streams: u64,
    pub(crate) max_concurrent_uni_streams: u64,
    pub(crate) keep_alive_interval: Option<Duration>,
    pub(crate) initial_rtt: Duration,
    pub(crate) max_ack_delay: Duration,
    pub(crate) initial_mtu: u16,
    pub(crate) datagram_receive_buffer_size: Option<usize>,
    pub(crate) datagram_send_buffer_size: usize,
    pub(crate) crypto_buffer_size: u64,
    pub(crate) active_connection_id_limit: u64,
    pub(crate) initial_window: u64,
    pub(crate) congestion: CongestionAlgorithm,
    pub(crate) pacing: bool,
    pub(crate) ecn: bool,
    pub(crate) mtu_discovery: Option<MtuDiscoveryConfig>,
    #[cfg(feature = "qlog")]
    pub(crate) qlog: Option<QlogHook>,
}

/// The qlog writer factory of a configuration, shown by name only.
#[cfg(feature = "qlog")]
#[derive(Clone)]
pub(crate) struct QlogHook(pub(crate) Arc<dyn super::connection::QlogFactory>);

#[cfg(feature = "qlog")]
impl std::fmt::Debug for QlogHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QlogFactory")
    }
}

impl TransportConfig {
    /// How long a connection may stay silent before it is closed
    /// (RFC 9000 §10.1; the smaller of both ends' values applies);
    /// `None` disables the local limit. 30 s by default.
    pub fn max_idle_timeout(&mut self, value: Option<IdleTimeout>) -> &mut Self {
        self.max_idle_timeout = value.map(IdleTimeout::duration);
        self
    }

    /// Bytes the peer may send on one stream beyond what was read
    /// (4 MiB by default).
    pub fn stream_receive_window(&mut self, value: VarInt) -> &mut Self {
        self.stream_receive_window = value.into_inner();
        self
    }

    /// Bytes the peer may send across all streams beyond what was read
    /// (16 MiB by default).
    pub fn receive_window(&mut self, value: VarInt) -> &mut Self {
        self.receive_window = value.into_inner();
        self
    }

    /// Bytes we buffer unacknowledged across all send streams (16 MiB by
    /// default).
    pub fn send_window(&mut self, value: u64) -> &mut Self {
        self.send_window = value;
        self
    }

    /// Bidirectional streams the peer may have open at once (100 by
    /// default; at most 2^60 is granted, RFC 9000 §4.6).
    pub fn max_concurrent_bidi_streams(&mut self, value: VarInt) -> &mut Self {
        self.max_concurrent_bidi_streams = value.into_inner();
        self
    }

    /// Unidirectional streams the peer may have open at once (100 by
    /// default).
    pub fn max_concurrent_uni_streams(&mut self, value: VarInt) -> &mut Self {
        self.max_concurrent_uni_streams = value.into_inner();
        self
    }

    /// Send a PING when nothing was received for this long, as quinn's:
    /// keeps a quiet connection (and the NAT bindings on its path) alive
    /// when set below the idle timeout. Off by default.
    pub fn keep_alive_interval(&mut self, value: Option<Duration>) -> &mut Self {
        self.keep_alive_interval = value;
        self
    }

    /// RTT assumed before a sample exists (RFC 9002 §6.2.2; 333 ms by
    /// default).
    pub fn initial_rtt(&mut self, value: Duration) -> &mut Self {
        self.initial_rtt = value;
        self
    }

    /// Longest we delay an acknowledgement (RFC 9000 §13.2.1; 25 ms by
    /// default).
    pub fn max_ack_delay(&mut self, value: Duration) -> &mut Self {
        self.max_ack_delay = value;
        self
    }

    /// UDP payload size before path MTU discovery raises it. 1200 (the
    /// default) is always safe (RFC 9000 §14); larger values need a path
    /// that carries them. Values below 1200 count as 1200.
    pub fn initial_mtu(&mut self, value: u16) -> &mut Self {
        self.initial_mtu = value;
        self
    }

    /// Path MTU discovery (RFC 8899, RFC 9000 §14.3) above the initial
    /// MTU; `None` keeps the initial MTU for the whole connection. On by
    /// default.
    pub fn mtu_discovery_config(&mut self, value: Option<MtuDiscoveryConfig>) -> &mut Self {
        self.mtu_discovery = value;
        self
    }

    /// Bytes of received datagrams (RFC 9221) buffered until the
    /// application reads them; the oldest are dropped beyond it. It also
    /// bounds the `max_datagram_frame_size` we announce (at most 65535).
    /// `None` disables datagrams. 1 MiB by default.
    pub fn datagram_receive_buffer_size(&mut self, value: Option<usize>) -> &mut Self {
        self.datagram_receive_buffer_size = value;
        self
    }

    /// Bytes of datagrams queued for sending; the oldest are dropped
    /// beyond it (datagrams are unreliable). 1 MiB by default.
    pub fn datagram_send_buffer_size(&mut self, value: usize) -> &mut Self {
        self.datagram_send_buffer_size = value;
        self
    }

    /// Out-of-order CRYPTO bytes buffered per level before the peer is
    /// closed with CRYPTO_BUFFER_EXCEEDED (64 KiB by default).
    pub fn crypto_buffer_size(&mut self, value: usize) -> &mut Self {
        self.crypto_buffer_size = value as u64;
        self
    }

    /// Most connection IDs of the peer we store
    /// (active_connection_id_limit, RFC 9000 §18.2; 4 by default, at
    /// least 2).
    pub fn active_connection_id_limit(&mut self, value: u32) -> &mut Self {
        self.active_connection_id_limit = u64::from(value.max(2));
        self
    }

    /// Initial congestion window in bytes (RFC 9002 §7.2; 14720 by
    /// default).
    pub fn initial_window(&mut self, value: u64) -> &mut Self {
        self.initial_window = value;
        self
    }

    /// The congestion controller: CUBIC (RFC 9438, the default) or
    /// NewReno (RFC 9002 §7.3).
    pub fn congestion(&mut self, value: CongestionAlgorithm) -> &mut Self {
        self.congestion = value;
        self
    }

    /// Spread sending over the RTT (RFC 9002 §7.7); on by default.
    pub fn pacing(&mut self, value: bool) -> &mut Self {
        self.pacing = value;
        self
    }

    /// Mark packets ECT(0) and react to congestion the path signals with
    /// CE marks instead of losses (RFC 9000 §13.4, RFC 9002 §7.1); on by
    /// default. Each path is validated first: a path or peer that
    /// bleaches, drops or remarks ECN turns marking off for that path.
    /// Received marks are reported either way.
    pub fn ecn(&mut self, value: bool) -> &mut Self {
        self.ecn = value;
        self
    }

    /// Writes a qlog trace of each connection (JSON-SEQ,
    /// draft-ietf-quic-qlog-main-schema and quic-events) where `factory`
    /// says, for instance [`QlogDir`](crate::protocol::QlogDir); `None`
    /// (the default) writes none. Cargo feature `qlog`.
    #[cfg(feature = "qlog")]
    #[cfg_attr(docsrs, doc(cfg(feature = "qlog")))]
    pub fn qlog(&mut self, factory: Option<Arc<dyn super::connection::QlogFactory>>) -> &mut Self {
        self.qlog = factory.map(QlogHook);
        self
    }
}

/// How the path MTU is discovered (RFC 8899 DPLPMTUD), as quinn's
/// `MtuDiscoveryConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MtuDiscoveryConfig {
    pub(crate) upper_bound: u16,
    pub(crate) interval: Duration,
    pub(crate) black_hole_cooldown: Duration,
    pub(crate) minimum_change: u16,
}

impl MtuDiscoveryConfig {
    /// The largest UDP payload size probed for (1452 by default: an
    /// Ethernet MTU of 1500 less IPv6 and UDP headers). The peer's
    /// max_udp_payload_size bounds it too.
    pub fn upper_bound(&mut self, value: u16) -> &mut Self {
        self.upper_bound = value;
        self
    }

    /// After a search ends, how long until the path is probed again
    /// (RFC 8899 §5.2; 600 s by default).
    pub fn interval(&mut self, value: Duration) -> &mut Self {
        self.interval = value;
        self
    }

    /// After a black hole sent the size back to 1200, how long until
    /// probing starts again (60 s by default).
    pub fn black_hole_cooldown(&mut self, value: Duration) -> &mut Self {
        self.black_hole_cooldown = value;
        self
    }

    /// The search stops when its bounds are closer than this (20 bytes
    /// by default).
    pub fn minimum_change(&mut self, value: u16) -> &mut Self {
        self.minimum_change = value;
        self
    }
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
            ecn: true,
            mtu_discovery: Some(MtuDiscoveryConfig::default()),
            #[cfg(feature = "qlog")]
            qlog: None,
        }
    }
}

/// Settings for accepting connections, as quinn's `ServerConfig`: made
/// from a rustls configuration (checked for what QUIC needs) or from a
/// certificate, then set with its methods.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub(crate) crypto: Arc<rustls::ServerConfig>,
    pub(crate) transport: Arc<TransportConfig>,
    pub(crate) max_connections: usize,
    pub(crate) max_incoming: usize,
    pub(crate) incoming_buffer_size: usize,
    pub(crate) incoming_buffer_size_total: usize,
    pub(crate) retry: bool,
    pub(crate) retry_above: Option<u32>,
    pub(crate) send_new_token: bool,
    pub(crate) token_key: Arc<TokenKey>,
    pub(crate) retry_token_lifetime: Duration,
    pub(crate) validation_token_lifetime: Duration,
    pub(crate) migration: bool,
    pub(crate) preferred_versions: Vec<u32>,
}

impl ServerConfig {
    /// A server configuration on `crypto` (certificate, ALPN) with
    /// default transport settings. Fails when QUIC cannot use it: no
    /// TLS 1.3 cipher suite in its provider, or a `max_early_data_size`
    /// other than 0 (0-RTT off) or `u32::MAX` (0-RTT on).
    pub fn with_crypto(crypto: Arc<rustls::ServerConfig>) -> Result<Self, ConfigError> {
        check_provider(crypto.crypto_provider())?;
        match crypto.max_early_data_size {
            0 | u32::MAX => {}
            n => return Err(ConfigError::MaxEarlyDataSize(n)),
        }
        // The key log also keeps each connection's exporter secret, so the
        // connection can drop its TLS session after the handshake.
        let mut crypto = (*crypto).clone();
        crypto.key_log = super::exporter::capture_in(&crypto.key_log);
        let crypto = Arc::new(crypto);
        Ok(Self {
            crypto,
            transport: Arc::new(TransportConfig::default()),
            max_connections: 100_000,
            max_incoming: 1 << 16,
            incoming_buffer_size: 64 * 1024,
            incoming_buffer_size_total: 16 << 20,
            retry: false,
            retry_above: Some(10_000),
            send_new_token: true,
            token_key: Arc::new(TokenKey::default()),
            retry_token_lifetime: DEFAULT_RETRY_TOKEN_LIFETIME,
            validation_token_lifetime: DEFAULT_VALIDATION_TOKEN_LIFETIME,
            migration: true,
            preferred_versions: packet::SUPPORTED_VERSIONS.to_vec(),
        })
    }

    /// A server presenting `cert_chain` with `key`, as quinn's: TLS 1.3
    /// with this build's crypto provider, 0-RTT accepted, no ALPN (build
    /// the rustls configuration yourself for ALPN or client
    /// certificates, and use [`with_crypto`](Self::with_crypto)).
    pub fn with_single_cert(
        cert_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Result<Self, ConfigError> {
        let mut crypto = rustls::ServerConfig::builder_with_provider(default_provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(cert_chain, key)?;
        crypto.max_early_data_size = u32::MAX;
        Self::with_crypto(Arc::new(crypto))
    }

    /// Transport settings for accepted connections.
    pub fn transport_config(&mut self, transport: Arc<TransportConfig>) -> &mut Self {
        self.transport = transport;
        self
    }

    /// Most connections at once; further client Initials are refused
    /// with CONNECTION_REFUSED (RFC 9000 §20.1). 100,000 by default.
    pub fn max_connections(&mut self, value: usize) -> &mut Self {
        self.max_connections = value;
        self
    }

    /// Most connection attempts at once, counting those awaiting the
    /// application's decision (`Incoming`) and those handshaking; beyond
    /// it new Initials are refused with CONNECTION_REFUSED before any TLS
    /// work (RFC 9000 §20.1). 65,536 by default.
    pub fn max_incoming(&mut self, value: usize) -> &mut Self {
        self.max_incoming = value;
        self
    }

    /// Most bytes of further datagrams held for one undecided attempt
    /// (the client's 0-RTT, a retransmitted Initial) until it is
    /// accepted; past it they are dropped and the client sends again.
    /// 64 KiB by default.
    pub fn incoming_buffer_size(&mut self, value: u64) -> &mut Self {
        self.incoming_buffer_size = usize::try_from(value).unwrap_or(usize::MAX);
        self
    }

    /// Most bytes held for all undecided attempts together (16 MiB by
    /// default).
    pub fn incoming_buffer_size_total(&mut self, value: u64) -> &mut Self {
        self.incoming_buffer_size_total = usize::try_from(value).unwrap_or(usize::MAX);
        self
    }

    /// Validate every client address with a Retry round trip before it
    /// reaches `accept()` (RFC 9000 §8.1.2); clients returning a valid
    /// NEW_TOKEN token skip it. Off by default; `Incoming::retry`
    /// decides per client instead.
    pub fn retry(&mut self, value: bool) -> &mut Self {
        self.retry = value;
        self
    }

    /// Switch Retry on by itself while more than `rate` connection
    /// attempts a second arrive (as a server under an Initial flood
    /// does): past that rate, clients that have not proved their address
    /// get a Retry, which costs the server no state, and only those that
    /// answer it (spoofed sources cannot) reach `accept()`. Retry is also
    /// on whenever unvalidated attempts in progress (undecided or
    /// handshaking) number 1,024 or hold half of
    /// [`max_incoming`](Self::max_incoming): real clients finish their
    /// handshakes in a round trip or two, while attempts from spoofed
    /// addresses never do and pile up; the rest of `max_incoming` stays
    /// for clients that proved their address. Under load a tokenless
    /// Initial gets its Retry without being decrypted. 10,000 a second
    /// by default; `None` never switches Retry on by itself (attempts past
    /// `max_incoming` are then refused).
    pub fn retry_above(&mut self, rate: Option<u32>) -> &mut Self {
        self.retry_above = rate;
        self
    }

    /// Send each client a NEW_TOKEN frame once the handshake completes, so
    /// its next connection starts with a validated address (RFC 9000
    /// §8.1.3). On by default.
    pub fn send_new_token(&mut self, value: bool) -> &mut Self {
        self.send_new_token = value;
        self
    }

    /// The secret sealing Retry and NEW_TOKEN tokens; by default random,
    /// drawn by the first endpoint that uses this configuration (clones
    /// share it). Endpoints sharing it accept each other's tokens.
    pub fn token_key(&mut self, value: Arc<TokenKey>) -> &mut Self {
        self.token_key = value;
        self
    }

    /// How long a Retry token is accepted (10 s by default).
    pub fn retry_token_lifetime(&mut self, value: Duration) -> &mut Self {
        self.retry_token_lifetime = value;
        self
    }

    /// How long a NEW_TOKEN token is accepted (24 h by default).
    pub fn validation_token_lifetime(&mut self, value: Duration) -> &mut Self {
        self.validation_token_lifetime = value;
        self
    }

    /// Follow clients that move to a new address or port (RFC 9000 §9):
    /// NAT rebinding or a client's new socket. When false, packets from
    /// any other address than the one the handshake used are dropped.
    /// On by default, as in quinn.
    pub fn migration(&mut self, value: bool) -> &mut Self {
        self.migration = value;
        self
    }

    /// The versions we answer in, most preferred first. A client that
    /// starts in one version and lists a more preferred one in its
    /// version_information is answered in that one (compatible version
    /// negotiation, RFC 9368 §2.3). By default v1 then v2: clients get
    /// the version they start with.
    pub fn preferred_versions(&mut self, value: Vec<u32>) -> &mut Self {
        self.preferred_versions = value;
        self
    }
}

/// Settings for making connections, as quinn's `ClientConfig`: made from
/// a rustls configuration (checked for what QUIC needs) or from trusted
/// roots, then set with its methods.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub(crate) crypto: Arc<rustls::ClientConfig>,
    pub(crate) transport: Arc<TransportConfig>,
    pub(crate) token_store: Option<Arc<TokenStore>>,
    pub(crate) version: u32,
}

impl ClientConfig {
    /// A client configuration on `crypto` (roots, ALPN) with default
    /// transport settings. Fails when QUIC cannot use it: no TLS 1.3
    /// cipher suite in its provider.
    pub fn new(crypto: Arc<rustls::ClientConfig>) -> Result<Self, ConfigError> {
        check_provider(crypto.crypto_provider())?;
        // As a server's (see `ServerConfig::with_crypto`).
        let mut crypto = (*crypto).clone();
        crypto.key_log = super::exporter::capture_in(&crypto.key_log);
        Ok(Self {
            crypto: Arc::new(crypto),
            transport: Arc::new(TransportConfig::default()),
            token_store: Some(Arc::new(TokenStore::default())),
            version: packet::VERSION_1,
        })
    }

    /// A client trusting `roots`, as quinn's: TLS 1.3 with this build's
    /// crypto provider, no ALPN, no client certificate.
    pub fn with_root_certificates(roots: Arc<rustls::RootCertStore>) -> Result<Self, ConfigError> {
        let crypto = rustls::ClientConfig::builder_with_provider(default_provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self::new(Arc::new(crypto))
    }

    /// A client trusting what the operating system trusts, as quinn's
    /// (rustls-platform-verifier): TLS 1.3 with this build's crypto
    /// provider, no ALPN, no client certificate. Cargo feature
    /// `platform-verifier`.
    #[cfg(feature = "platform-verifier")]
    #[cfg_attr(docsrs, doc(cfg(feature = "platform-verifier")))]
    pub fn with_platform_verifier() -> Result<Self, ConfigError> {
        use rustls_platform_verifier::BuilderVerifierExt;
        let crypto = rustls::ClientConfig::builder_with_provider(default_provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_platform_verifier()?
            .with_no_client_auth();
        Self::new(Arc::new(crypto))
    }

    /// Transport settings.
    pub fn transport_config(&mut self, transport: Arc<TransportConfig>) -> &mut Self {
        self.transport = transport;
        self
    }

    /// Where NEW_TOKEN tokens from servers are kept and taken from for
    /// later connections to the same server name (RFC 9000 §8.1.3);
    /// `None` neither keeps nor sends any. Each configuration has its
    /// own store by default; clones share it.
    pub fn token_store(&mut self, store: Option<Arc<TokenStore>>) -> &mut Self {
        self.token_store = store;
        self
    }

    /// The QUIC version to connect with: [`VERSION_1`](packet::VERSION_1)
    /// (the default) or [`VERSION_2`](packet::VERSION_2) (RFC 9369).
    pub fn version(&mut self, version: u32) -> &mut Self {
        self.version = version;
        self
    }
}

/// Settings of an endpoint as a whole, client or server.
#[derive(Clone, Default)]
pub struct EndpointConfig {
    /// HMAC key deriving the stateless reset token of each CID we issue
    /// (RFC 9000 §10.3.2); random per endpoint when unset.
    pub(crate) reset_key: Option<crate::protocol::backend::hmac::Key>,
    /// Makes the CIDs the endpoint issues; random 8-byte IDs when unset.
    pub(crate) cid_generator: Option<Arc<dyn ConnectionIdGenerator>>,
    /// Worker threads of a server endpoint; the available parallelism
    /// when unset.
    pub(crate) workers: Option<usize>,
    /// Set on each worker's copy: its place among the others.
    pub(crate) worker_role: Option<crate::protocol::WorkerRole>,
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
            reset_key: Some(crate::protocol::backend::hmac::Key::new(
                crate::protocol::backend::hmac::HMAC_SHA256,
                secret,
            )),
            cid_generator: None,
            workers: None,
            worker_role: None,
        }
    }

    /// How many worker threads a server endpoint runs, each with its own
    /// socket on the same address (`SO_REUSEPORT`; the kernel spreads
    /// clients over them by address) and its own connections: a server
    /// uses that many cores. By default the machine's available
    /// parallelism; at most 256. One worker where `SO_REUSEPORT` is
    /// missing (not Linux or a BSD), for client-only endpoints, and with
    /// a [`cid_generator`](Self::cid_generator) whose IDs cannot name a
    /// worker ([`ConnectionIdGenerator::for_worker`]).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers.clamp(1, crate::protocol::MAX_WORKERS));
        self
    }

    /// Issues the connection IDs of `generator` instead of random 8-byte
    /// ones: [`QuicLbCids`](crate::protocol::QuicLbCids) for servers
    /// behind a load balancer that routes by connection ID. Servers of
    /// one fleet share the generator's configuration, each with its own
    /// server ID, and the same reset key ([`with_reset_key`](Self::with_reset_key)),
    /// so that any of them can reset a connection another has lost.
    pub fn cid_generator(mut self, generator: Arc<dyn ConnectionIdGenerator>) -> Self {
        self.cid_generator = Some(generator);
        self
    }
}

impl std::fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointConfig").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert() -> (
        rustls::pki_types::CertificateDer<'static>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        (
            c.cert.der().clone(),
            rustls::pki_types::PrivateKeyDer::Pkcs8(c.key_pair.serialize_der().into()),
        )
    }

    #[test]
    fn a_server_config_quic_cannot_use_is_refused_when_built() {
        let (chain, key) = cert();
        let mut tls = rustls::ServerConfig::builder_with_provider(default_provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![chain], key)
            .unwrap();
        for ok in [0, u32::MAX] {
            tls.max_early_data_size = ok;
            assert!(ServerConfig::with_crypto(Arc::new(tls.clone())).is_ok());
        }
        tls.max_early_data_size = 16384;
        let e = ServerConfig::with_crypto(Arc::new(tls)).unwrap_err();
        assert!(matches!(e, ConfigError::MaxEarlyDataSize(16384)));
        assert!(e.to_string().contains("only 0 or u32::MAX"), "{e}");
    }

    #[test]
    fn quinns_constructors_build_usable_configs() {
        let (chain, key) = cert();
        let server = ServerConfig::with_single_cert(vec![chain.clone()], key).unwrap();
        assert_eq!(server.crypto.max_early_data_size, u32::MAX);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(chain).unwrap();
        let client = ClientConfig::with_root_certificates(Arc::new(roots)).unwrap();
        assert_eq!(client.version, packet::VERSION_1);
        // A key that does not match fails with rustls's reason.
        let (other, _) = cert();
        let (_, key) = cert();
        assert!(matches!(
            ServerConfig::with_single_cert(vec![other], key),
            Err(ConfigError::Rustls(_))
        ));
    }

    #[cfg(feature = "platform-verifier")]
    #[test]
    fn the_platform_verifier_builds() {
        let c = ClientConfig::with_platform_verifier().unwrap();
        assert_eq!(c.version, packet::VERSION_1);
    }

    #[test]
    fn setters_take_what_the_wire_carries() {
        let mut t = TransportConfig::default();
        t.max_idle_timeout(Some(
            IdleTimeout::try_from(Duration::from_millis(1500)).unwrap(),
        ))
        .stream_receive_window(VarInt::MAX)
        .max_concurrent_bidi_streams(VarInt::from_u32(7))
        .active_connection_id_limit(0);
        assert_eq!(t.max_idle_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(t.stream_receive_window, (1 << 62) - 1);
        assert_eq!(t.max_concurrent_bidi_streams, 7);
        assert_eq!(t.active_connection_id_limit, 2, "at least 2");
        assert!(IdleTimeout::try_from(Duration::from_secs(u64::MAX)).is_err());
        t.max_idle_timeout(None);
        assert_eq!(t.max_idle_timeout, None);
    }
}
