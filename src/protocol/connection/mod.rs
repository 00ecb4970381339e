//! One QUIC connection as a sans-IO state machine.
//!
//! Inputs: [`Connection::handle_datagram`], [`Connection::handle_timeout`]
//! and the stream/close commands. Outputs, drained in this order after
//! every input: [`Connection::poll_transmit`], [`Connection::poll_timeout`],
//! [`Connection::poll_endpoint_event`], [`Connection::poll_event`].
//!
//! The connection composes parts, each a type with its own file and tests:
//! the [`path`](path::PathState) (RTT, congestion control, pacing, PMTU,
//! amplification limit), the [`CIDs`](cids::CidState), the
//! [`datagram queues`](datagrams::Datagrams), per space the
//! [`ACK state`](acks::AckState), [`loss detection`](recovery::Recovery),
//! the [`timer table`](timers::TimerTable) and the
//! [`pending control frames`](pending::PendingFrames). The other files
//! are what the connection does with them: `recv.rs` (packets and frames
//! in), `send.rs` (packets out), `loss.rs` (acknowledgements and losses),
//! `close.rs`, `migration.rs`, `mtud.rs`, `validation.rs` (Retry and
//! tokens), `version.rs`, `zero_rtt.rs`.

mod acks;
mod cids;
mod close;
mod datagrams;
pub(super) mod ecn;
#[cfg(feature = "test-hooks")]
mod hooks;
mod loss;
mod migration;
mod mtud;
mod path;
mod payload;
mod pending;
mod qlog;
mod recovery;
mod recv;
mod rng;
mod send;
mod sent;
pub(super) mod spaces;
mod stats;
mod timers;
mod tls;
mod validation;
pub(crate) mod version;
mod zero_rtt;

use super::cid::ConnectionId;
use super::config::TransportConfig;
use super::congestion::CongestionState;
use super::crypto::{self, OneRttKeys};
use super::error::{TransportError, TransportErrorCode};
use super::packet;
use super::stream_id::{Dir, StreamId, MAX_STREAM_COUNT};
use super::streams::{ReadFailure, SendStatus, StreamEvent, Streams, WriteFailure};
use super::transport_params::{TransportParameters, VersionInformation};
use super::Side;
use bytes::Bytes;
pub(crate) use cids::reset_token;
use cids::CidState;
pub use close::{ApplicationClose, ConnectionClose, ConnectionError};
use datagrams::Datagrams;
pub use ecn::EcnState;
use path::PathState;
use pending::PendingFrames;
use qlog::QlogSink;
#[cfg(feature = "qlog")]
pub use qlog::{QlogDir, QlogFactory};
use rand::rngs::StdRng;
use recovery::Recovery;
use spaces::{PacketSpace, SpaceId, Spaces};
pub use stats::{ConnectionStats, EcnStats, FrameStats};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
pub(crate) use tls::TlsSession;
pub(super) use validation::ServerValidation;
pub use zero_rtt::ZeroRttState;

use super::varint::{self, VarInt};
use acks::ACK_DELAY_EXPONENT;

/// An event for the application layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake has agreed its parameters (ALPN, server name):
    /// [`Connection::handshake_data`] has them, before the handshake
    /// completes.
    HandshakeDataReady,
    /// The handshake completed; streams may be used.
    Connected,
    /// A stream event.
    Stream(StreamEvent),
    /// A DATAGRAM frame arrived.
    DatagramReceived,
    /// The connection is closed, for this reason.
    ConnectionLost(ConnectionError),
}

/// Largest `max_datagram_frame_size` we announce (RFC 9221 §3): a DATAGRAM
/// frame must fit in one UDP datagram.
const MAX_DATAGRAM_FRAME_SIZE: usize = 65535;

/// An event for the endpoint that routes datagrams to this connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointEvent {
    /// Route this connection ID (with its stateless reset token) here.
    NewCid(ConnectionId),
    /// Stop routing this connection ID.
    RetireCid(ConnectionId),
    /// Datagrams from this address ending in this stateless reset token
    /// belong to this connection (RFC 9000 §10.3.1); replaces the
    /// connection's previous token.
    ResetToken(SocketAddr, [u8; 16]),
    /// The handshake completed: the connection no longer counts against
    /// the endpoint's limit on incoming handshakes.
    Established,
    /// The connection is fully closed; forget it.
    Drained,
}

/// A batch of datagrams written into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send.
    pub destination: SocketAddr,
    /// The local address to send from, when the socket is bound to a
    /// wildcard address: the one the peer reached (server only).
    pub src_ip: Option<std::net::IpAddr>,
    /// The ECN codepoint to send the datagrams with (RFC 9000 §13.4).
    pub ecn: Option<super::ecn::EcnCodepoint>,
    /// Total bytes in the buffer.
    pub size: usize,
    /// When several datagrams were written: the size of each but the last
    /// (which may be shorter), for GSO.
    pub segment_size: Option<usize>,
}

/// Where the connection is in its life (RFC 9000 §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Handshake,
    Established,
    /// We sent CONNECTION_CLOSE; answer packets with it until the deadline.
    Closing,
    /// The peer closed; stay silent until the deadline.
    Draining,
    /// Gone.
    Drained,
}

/// Negotiated handshake results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandshakeData {
    /// The ALPN protocol agreed, if any.
    pub protocol: Option<Vec<u8>>,
    /// The server name the client asked for (SNI); known to the server.
    pub server_name: Option<String>,
    /// The TLS 1.3 cipher suite protecting the connection's packets
    /// (RFC 9001 §5.3).
    pub cipher_suite: Option<rustls::CipherSuite>,
    /// The handshake resumed an earlier session (a TLS 1.3 PSK from a
    /// session ticket) rather than running in full.
    pub resumed: bool,
}

/// What a connection keeps of the peer's transport parameters (RFC 9000
/// §18.2, RFC 9221 §3) once it applied them: the few read later, not
/// the whole set (CIDs, tokens, addresses, stream limits).
#[derive(Debug, Clone, Copy)]
struct PeerParams {
    max_idle_timeout: u64,
    max_udp_payload_size: u64,
    ack_delay_exponent: u64,
    max_ack_delay: u64,
    active_connection_id_limit: u64,
    max_datagram_frame_size: Option<u64>,
}

impl From<&TransportParameters> for PeerParams {
    fn from(p: &TransportParameters) -> Self {
        Self {
            max_idle_timeout: p.max_idle_timeout,
            max_udp_payload_size: p.max_udp_payload_size,
            ack_delay_exponent: p.ack_delay_exponent,
            max_ack_delay: p.max_ack_delay,
            active_connection_id_limit: p.active_connection_id_limit,
            max_datagram_frame_size: p.max_datagram_frame_size,
        }
    }
}

/// What only the handshake uses, boxed so that an established
/// connection does not carry it.
struct Handshaking {
    /// The cipher suite of Initial packets (RFC 9001 §5.2), from the TLS
    /// configuration's crypto provider.
    initial_suite: rustls::quic::Suite,
    /// Client: the token our Initials carry (RFC 9000 §17.2.2).
    initial_token: Bytes,
    /// 0-RTT keys (client: sealing; server: opening) while they are used.
    zero_rtt_keys: Option<zero_rtt::ZeroRttKeys>,
    /// Server: the client's original version, when we answer in another
    /// (RFC 9368 §2.3).
    original_version: Option<version::OriginalVersion>,
    /// 1-RTT packets that arrived before the server's handshake completed.
    early_1rtt: Vec<(bytes::BytesMut, Option<super::ecn::EcnCodepoint>)>,
}

/// One QUIC connection.
pub struct Connection {
    /// The QUIC version in use (RFC 9000 §15, RFC 9369).
    version: u32,
    side: Side,
    config: Arc<TransportConfig>,
    tls: TlsSession,
    spaces: Spaces<PacketSpace>,
    one_rtt: Option<OneRttKeys>,
    state: State,
    /// TLS finished on our side.
    handshake_complete: bool,
    /// RFC 9001 §4.1.2.
    handshake_confirmed: bool,
    /// Spaces whose crypto we write into now.
    write_level: SpaceId,
    /// The connection IDs of both sides.
    cids: CidState,
    /// The client's first destination CID.
    orig_dcid: ConnectionId,
    /// Our first source CID.
    initial_scid: ConnectionId,
    /// Client: the server's SCID was adopted.
    got_server_scid: bool,
    /// The SCID of the Retry this client followed, or through which this
    /// server accepted the connection (RFC 9000 §7.3).
    retry_scid: Option<ConnectionId>,
    /// Client: where NEW_TOKEN tokens go, and the server name they are for.
    token_store: Option<(Arc<crate::protocol::token::TokenStore>, String)>,
    /// Server: the key sealing the NEW_TOKEN token we issue.
    token_key: Option<Arc<crate::protocol::token::TokenKey>>,
    /// The network path.
    path: PathState,
    /// Server: follow a client to a new address (RFC 9000 §9).
    allow_migration: bool,
    /// Where the connection stands with 0-RTT.
    zero_rtt: ZeroRttState,
    /// The peer's transport parameters came from this handshake (not
    /// remembered for 0-RTT).
    params_from_handshake: bool,
    peer_params: Option<PeerParams>,
    streams: Streams,
    /// Loss detection.
    recovery: Recovery,
    idle_timeout: Option<Duration>,
    idle_deadline: Option<Instant>,
    /// Closing and draining (RFC 9000 §10.2).
    close: close::CloseState,
    error: Option<Box<ConnectionError>>,
    events: VecDeque<Event>,
    endpoint_events: VecDeque<EndpointEvent>,
    /// Unreliable datagrams both ways (RFC 9221), from the first one on.
    datagrams: Option<Box<Datagrams>>,
    stats: ConnectionStats,
    /// Control frames of the connection itself waiting to be sent.
    pending: PendingFrames,
    last_sent_eliciting: Option<Instant>,
    /// When the keep-alive interval last started: the last packet
    /// received, or the last keep-alive PING (quinn's meaning).
    keep_alive_from: Option<Instant>,
    /// An ack-eliciting packet went out since the last packet arrived.
    sent_eliciting_since_recv: bool,
    /// The handshake was sped up once already (RFC 9002 §6.2.3).
    handshake_sped_up: bool,
    /// ECN marking and validation of the current path.
    ecn: ecn::Ecn,
    /// The ECN codepoint of the transmit being built, and whether it is
    /// in the testing period.
    tx_ecn: Option<(super::ecn::EcnCodepoint, bool)>,
    /// Received packets that failed authentication (RFC 9001 §6.6).
    auth_failures: u64,
    app_limited: bool,
    any_packet_processed: bool,
    handshake_data: Option<HandshakeData>,
    /// The TLS session was retired and what the handshake left behind is
    /// still to be freed (see `compact`).
    compact_due: bool,
    /// First packet number sent in the current 1-RTT key phase.
    key_phase_first_sent: u64,
    /// Packets protected with the current 1-RTT keys (RFC 9001 §6.6).
    sealed_in_phase: u64,
    /// The connection's only source of randomness (CIDs, path
    /// challenges, tokens), seeded by the endpoint.
    rng: rng::SeedRng,
    /// What only the handshake uses; freed once it is confirmed.
    handshaking: Option<Box<Handshaking>>,
    /// Where qlog events go, if anywhere.
    qlog: QlogSink,
    /// What the test hooks changed.
    #[cfg(feature = "test-hooks")]
    hooks: hooks::Overrides,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("side", &self.side)
            .field("state", &self.state)
            .field("remote", &self.path.remote)
            .field("scid", &self.initial_scid)
            .field("dcid", &self.cids.dcid())
            .finish()
    }
}

impl Connection {
    /// What only the handshake uses, until it is freed.
    fn handshaking(&self) -> Option<&Handshaking> {
        self.handshaking.as_deref()
    }

    /// The 0-RTT keys, while they are used.
    fn zero_rtt_keys(&self) -> Option<&zero_rtt::ZeroRttKeys> {
        self.handshaking()?.zero_rtt_keys.as_ref()
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        version: u32,
        side: Side,
        config: Arc<TransportConfig>,
        tls: rustls::quic::Connection,
        now: Instant,
        remote: SocketAddr,
        scid: ConnectionId,
        dcid: ConnectionId,
        orig_dcid: ConnectionId,
        ids: Arc<crate::protocol::CidIssuer>,
        rng: StdRng,
        initial_suite: rustls::quic::Suite,
    ) -> Self {
        let mut spaces: Spaces<PacketSpace> = Default::default();
        spaces[0].keys =
            Some(crypto::initial_keys_for(&initial_suite, version, &orig_dcid, side).into());
        let streams = Streams::new(
            side,
            config.max_concurrent_bidi_streams,
            config.max_concurrent_uni_streams,
            config.receive_window,
            config.stream_receive_window,
            config.send_window,
        );
        let mut conn = Self {
            version,
            side,
            tls: TlsSession::new(tls, side),
            spaces,
            one_rtt: None,
            state: State::Handshake,
            handshake_complete: false,
            handshake_confirmed: false,
            write_level: SpaceId::Initial,
            cids: CidState::new(scid, dcid, ids),
            orig_dcid,
            initial_scid: scid,
            got_server_scid: false,
            retry_scid: None,
            token_store: None,
            token_key: None,
            path: PathState::new(&config, remote, side.is_client()),
            allow_migration: false,
            zero_rtt: ZeroRttState::None,
            params_from_handshake: false,
            peer_params: None,
            streams,
            recovery: Recovery::default(),
            idle_timeout: config.max_idle_timeout,
            idle_deadline: None,
            close: close::CloseState::default(),
            error: None,
            events: VecDeque::new(),
            endpoint_events: VecDeque::new(),
            datagrams: None,
            stats: ConnectionStats::default(),
            pending: PendingFrames::default(),
            last_sent_eliciting: None,
            keep_alive_from: None,
            sent_eliciting_since_recv: false,
            handshake_sped_up: false,
            ecn: ecn::Ecn::new(config.ecn),
            tx_ecn: None,
            auth_failures: 0,
            app_limited: false,
            any_packet_processed: false,
            handshake_data: None,
            compact_due: false,
            key_phase_first_sent: 0,
            sealed_in_phase: 0,
            rng: rng::SeedRng::new(rng),
            handshaking: Some(Box::new(Handshaking {
                initial_suite,
                initial_token: Bytes::new(),
                zero_rtt_keys: None,
                original_version: None,
                early_1rtt: Vec::new(),
            })),
            qlog: QlogSink::new(&config, side, &orig_dcid, now),
            #[cfg(feature = "test-hooks")]
            hooks: hooks::Overrides::default(),
            config,
        };
        conn.reset_idle(now);
        conn.qlog.connection_started(now, remote, &scid, &dcid);
        conn
    }

    /// Our transport parameters.
    fn local_params(
        version: u32,
        available: &[u32],
        config: &TransportConfig,
        scid: &ConnectionId,
        orig_dcid: Option<&ConnectionId>,
        reset_token: Option<[u8; 16]>,
    ) -> TransportParameters {
        TransportParameters {
            original_destination_connection_id: orig_dcid.copied(),
            // Configured values past what the wire carries are sent as the
            // largest it does (RFC 9000 §16, §4.6).
            max_idle_timeout: config
                .max_idle_timeout
                .map_or(0, |d| d.as_millis().min(u128::from(varint::MAX)) as u64),
            stateless_reset_token: reset_token,
            max_udp_payload_size: 65527,
            initial_max_data: config.receive_window.min(varint::MAX),
            initial_max_stream_data_bidi_local: config.stream_receive_window.min(varint::MAX),
            initial_max_stream_data_bidi_remote: config.stream_receive_window.min(varint::MAX),
            initial_max_stream_data_uni: config.stream_receive_window.min(varint::MAX),
            initial_max_streams_bidi: config.max_concurrent_bidi_streams.min(MAX_STREAM_COUNT),
            initial_max_streams_uni: config.max_concurrent_uni_streams.min(MAX_STREAM_COUNT),
            ack_delay_exponent: ACK_DELAY_EXPONENT,
            max_ack_delay: config.max_ack_delay.as_millis() as u64,
            disable_active_migration: true,
            preferred_address: None,
            active_connection_id_limit: config.active_connection_id_limit.max(2),
            initial_source_connection_id: Some(*scid),
            retry_source_connection_id: None,
            max_datagram_frame_size: config
                .datagram_receive_buffer_size
                .map(|b| b.min(MAX_DATAGRAM_FRAME_SIZE) as u64),
            // RFC 9368 §3: what we use and what we could have used.
            version_information: Some(VersionInformation {
                chosen: version,
                available: available.to_vec(),
            }),
        }
    }

    /// Starts a client connection to `remote` for `server_name`.
    /// `version` is the QUIC version to speak (v1, or v2 per RFC 9369).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn client(
        version: u32,
        config: Arc<TransportConfig>,
        tls_config: Arc<rustls::ClientConfig>,
        server_name: &str,
        now: Instant,
        remote: SocketAddr,
        ids: Arc<crate::protocol::CidIssuer>,
        rng: StdRng,
    ) -> Result<Self, ConnectError> {
        Self::new_client(
            version,
            version,
            config,
            tls_config,
            server_name,
            now,
            remote,
            ids,
            rng,
        )
    }

    /// A client speaking `version` whose TLS connection derives its keys
    /// for `tls_version` (rustls fixes it at creation); when they differ,
    /// the client lists both (RFC 9368 §3: only what it could switch to).
    #[allow(clippy::too_many_arguments)]
    fn new_client(
        version: u32,
        tls_version: u32,
        config: Arc<TransportConfig>,
        tls_config: Arc<rustls::ClientConfig>,
        server_name: &str,
        now: Instant,
        remote: SocketAddr,
        ids: Arc<crate::protocol::CidIssuer>,
        rng: StdRng,
    ) -> Result<Self, ConnectError> {
        let mut rng = rng;
        let scid = ids.new_cid(&mut rng);
        let dcid = ConnectionId::random(&mut rng, 16);
        let available: Vec<u32> = std::iter::once(version)
            .chain((tls_version != version).then_some(tls_version))
            .collect();
        let params = Self::local_params(version, &available, &config, &scid, None, None);
        let mut encoded = Vec::new();
        params.encode(&mut encoded);
        let name = rustls::pki_types::ServerName::try_from(server_name.to_string())
            .map_err(|_| ConnectError::InvalidServerName(server_name.into()))?;
        let initial_suite = crypto::initial_suite(tls_config.crypto_provider());
        let tls = rustls::quic::ClientConnection::new(
            tls_config,
            packet::rustls_version(tls_version),
            name,
            encoded,
        )
        .map_err(|e| ConnectError::Tls(e.to_string()))?;
        let mut conn = Self::new(
            version,
            Side::Client,
            config,
            tls.into(),
            now,
            remote,
            scid,
            dcid,
            dcid,
            ids,
            rng,
            initial_suite,
        );
        conn.qlog.parameters_set(now, true, &params);
        conn.pump_tls();
        conn.init_client_0rtt();
        Ok(conn)
    }

    /// The QUIC version this connection speaks.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Which side this is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// Server: the local IP address the client reached, as the platform
    /// reported it for received datagrams; `None` for a client and where
    /// unsupported.
    pub fn local_ip(&self) -> Option<std::net::IpAddr> {
        self.path.local_ip
    }

    /// The peer's address.
    pub fn remote_address(&self) -> SocketAddr {
        self.path.remote
    }

    /// The smoothed RTT.
    pub fn rtt(&self) -> Duration {
        self.path.rtt.smoothed()
    }

    /// The smallest RTT sample (RFC 9002 §5.2).
    pub fn min_rtt(&self) -> Duration {
        self.path.rtt.min()
    }

    /// True once the handshake completed.
    pub fn is_handshake_complete(&self) -> bool {
        self.handshake_complete
    }

    /// True once the connection is closed, closing or draining.
    pub fn is_closed(&self) -> bool {
        matches!(
            self.state,
            State::Closing | State::Draining | State::Drained
        )
    }

    /// True once nothing is left to do and the endpoint may forget us.
    pub fn is_drained(&self) -> bool {
        self.state == State::Drained
    }

    /// Why the connection closed, once it has.
    pub fn error(&self) -> Option<&ConnectionError> {
        self.error.as_deref()
    }

    /// Our first source connection ID.
    pub fn initial_scid(&self) -> ConnectionId {
        self.initial_scid
    }

    /// The client's original destination connection ID.
    pub fn orig_dcid(&self) -> ConnectionId {
        self.orig_dcid
    }

    /// Connection statistics.
    pub fn stats(&self) -> ConnectionStats {
        let mut s = self.stats;
        s.rtt = self.path.rtt.smoothed();
        s.cwnd = self.path.cc.window();
        s.congestion_events = self.path.cc.congestion_events;
        s.mtu = self.path.mtu as u16;
        s.ecn.state = self.ecn.state();
        let peer = self.ecn.peer_counts();
        s.ecn.peer_ect0 = peer.ect0;
        s.ecn.peer_ce = peer.ce;
        s
    }

    /// The congestion controller's state.
    pub fn congestion_state(&self) -> CongestionState {
        self.path.cc.state()
    }

    /// The ALPN protocol and server name, once the handshake agreed them
    /// ([`Event::HandshakeDataReady`]); final once it completes.
    pub fn handshake_data(&self) -> Option<HandshakeData> {
        self.handshake_data.clone()
    }

    /// The peer's certificate chain, once known.
    pub fn peer_certificates(&self) -> Option<Vec<rustls::pki_types::CertificateDer<'static>>> {
        self.tls.peer_certificates()
    }

    /// The TLS session, shared with the connection's handles so they
    /// export keying material without asking the core.
    pub(crate) fn tls_session(&self) -> TlsSession {
        self.tls.clone()
    }

    /// True once the TLS session was dropped after the handshake, its
    /// exporter kept (test hook).
    #[cfg(feature = "test-hooks")]
    pub fn tls_session_retired(&self) -> bool {
        self.tls.is_retired()
    }

    /// RFC 8446 §7.5 exporter.
    pub fn export_keying_material(
        &self,
        out: &mut [u8],
        label: &[u8],
        context: &[u8],
    ) -> Result<(), rustls::Error> {
        self.tls.export_keying_material(out, label, context)
    }

    /// Largest DATAGRAM payload we can send now, or `None` when the peer
    /// does not accept datagrams (RFC 9221 §3).
    pub fn max_datagram_size(&self) -> Option<usize> {
        // RFC 9221 §3: None when either side has datagrams off.
        self.config.datagram_receive_buffer_size?;
        let peer = self.peer_params.as_ref()?.max_datagram_frame_size?;
        // short header (1 + dcid + 4 pn) + tag + frame type + length varint
        let overhead = 1 + self.cids.dcid().len() + 4 + crypto::TAG_LEN + 1 + 2;
        let by_mtu = self.path.mtu.saturating_sub(overhead);
        Some(by_mtu.min(peer.saturating_sub(3) as usize))
    }

    /// The largest datagram [`send_datagram`](Self::send_datagram) takes
    /// now, or why it takes none.
    pub fn datagram_limit(&self) -> Result<usize, SendDatagramError> {
        if self.is_closed() {
            let e = self.error().cloned();
            return Err(SendDatagramError::ConnectionLost(
                e.unwrap_or(ConnectionError::LocallyClosed),
            ));
        }
        if self.config.datagram_receive_buffer_size.is_none() {
            return Err(SendDatagramError::Disabled);
        }
        self.max_datagram_size()
            .ok_or(SendDatagramError::UnsupportedByPeer)
    }

    /// Queues an unreliable datagram (RFC 9221).
    pub fn send_datagram(&mut self, data: Bytes) -> Result<(), SendDatagramError> {
        if data.len() > self.datagram_limit()? {
            return Err(SendDatagramError::TooLarge);
        }
        // Unreliable: the oldest go first to stay within the buffer.
        self.stats.datagrams_dropped_tx += self
            .datagrams
            .get_or_insert_with(Box::default)
            .queue(data, self.config.datagram_send_buffer_size);
        Ok(())
    }

    /// Counts a received datagram that the application layer took but
    /// could not hand over (a full mailbox), in
    /// `ConnectionStats::datagrams_dropped_rx`.
    pub fn note_datagram_dropped(&mut self) {
        self.stats.datagrams_dropped_rx += 1;
    }

    /// Takes a received datagram.
    pub fn read_datagram(&mut self) -> Option<Bytes> {
        self.datagrams.as_mut()?.read()
    }

    /// Opens a stream, or `None` while the peer's stream limit is reached.
    pub fn open(&mut self, dir: Dir) -> Option<StreamId> {
        if self.is_closed() {
            return None;
        }
        self.streams.open(dir)
    }

    /// Opens our stream `id`, and any of ours below it not open yet, when
    /// the peer's limit allows: for stream IDs handed out in order away
    /// from the connection. True when `id` is open.
    pub(crate) fn open_at(&mut self, id: StreamId) -> bool {
        !self.is_closed()
            && id.initiator() == self.side
            && self.streams.open_at(id.dir(), id.index())
    }

    /// How many of our streams of `dir` the peer allows in all (its
    /// MAX_STREAMS, RFC 9000 §4.6).
    pub(crate) fn open_limit(&self, dir: Dir) -> u64 {
        self.streams.open_limit(dir)
    }

    /// Takes the next stream the peer opened.
    pub fn accept(&mut self, dir: Dir) -> Option<StreamId> {
        self.streams.accept(dir)
    }

    /// Buffers stream data; returns the bytes taken.
    pub fn write(&mut self, id: StreamId, data: &mut Bytes) -> Result<usize, WriteFailure> {
        if self.is_closed() {
            return Err(WriteFailure::Closed);
        }
        self.streams.write(id, data)
    }

    /// The peer's STOP_SENDING code for `id` and whether everything sent on
    /// it was acknowledged; `None` once the stream is forgotten.
    pub fn send_status(&self, id: StreamId) -> Option<SendStatus> {
        self.streams.send_status(id)
    }

    /// Finishes a stream (FIN).
    pub fn finish(&mut self, id: StreamId) -> Result<(), WriteFailure> {
        if self.is_closed() {
            return Err(WriteFailure::Closed);
        }
        self.streams.finish(id)
    }

    /// Resets a stream's sending part.
    pub fn reset(&mut self, id: StreamId, code: VarInt) -> bool {
        self.streams.reset(id, code.into_inner())
    }

    /// Reads from a stream. `Ok(None)` is the end of the stream.
    pub fn read(&mut self, id: StreamId, max: usize) -> Result<Option<Bytes>, ReadFailure> {
        self.streams.read(id, max)
    }

    /// True when everything up to the FIN of `id` was read: the next
    /// `read` returns `Ok(None)`.
    pub(crate) fn stream_at_end(&self, id: StreamId) -> bool {
        self.streams.at_end(id)
    }

    /// True when `read` on `id` would answer now instead of reporting
    /// `Blocked` (data, the end, a reset, or that the stream is gone).
    #[cfg(debug_assertions)]
    pub(crate) fn read_ready(&self, id: StreamId) -> bool {
        self.streams.read_ready(id)
    }

    /// True when `accept(dir)` would return a stream now.
    #[cfg(debug_assertions)]
    pub(crate) fn has_incoming(&self, dir: Dir) -> bool {
        self.streams.has_incoming(dir)
    }

    /// True when `read` on `id` would return data right now (not only the
    /// end of the stream or a reset).
    pub fn stream_has_data(&self, id: StreamId) -> bool {
        self.streams.has_data(id)
    }

    /// Stops a stream's receiving part (STOP_SENDING).
    pub fn stop(&mut self, id: StreamId, code: VarInt) -> bool {
        self.streams.stop(id, code.into_inner())
    }

    /// Changes how many streams the peer may have open at once.
    pub fn set_max_concurrent_streams(&mut self, dir: Dir, n: VarInt) {
        self.streams.set_max_concurrent(dir, n.into_inner());
    }

    /// Starts a 1-RTT key update (RFC 9001 §6.1): packets go out under
    /// the next key phase from now on. Returns false when one is not
    /// allowed yet: before the handshake is confirmed, or before a packet
    /// of the current phase was acknowledged. Keys are also updated on
    /// their own before the AEAD's confidentiality limit (§6.6).
    pub fn force_key_update(&mut self) -> bool {
        let acked = self.recovery.largest_acked(SpaceId::Data);
        // RFC 9001 §6.1: not before confirmation, and not again before
        // an acknowledgement for a packet of the current phase.
        if !self.handshake_confirmed
            || self.is_closed()
            || acked.is_none_or(|a| a < self.key_phase_first_sent)
        {
            return false;
        }
        let Some(keys) = self.one_rtt.as_mut() else {
            return false;
        };
        keys.rotate();
        tracing::debug!(side = ?self.side, phase = keys.phase, "initiated key update");
        self.on_new_key_phase(true);
        true
    }

    /// Bookkeeping when our sending keys move to a new phase, started by
    /// us (`local`) or by the peer.
    pub(super) fn on_new_key_phase(&mut self, local: bool) {
        self.key_phase_first_sent = self.spaces[SpaceId::Data as usize].next_pn;
        self.sealed_in_phase = 0;
        self.stats.key_updates += 1;
        self.qlog
            .key_updated(self.side, self.stats.key_updates, local);
    }

    /// RFC 9001 §6.6: before the current keys have protected as many
    /// packets as the AEAD's confidentiality limit allows, update them.
    /// An update starts at three quarters of the limit, leaving time for
    /// the acknowledgement a new update needs (§6.1). Should it still be
    /// impossible at the limit, 1-RTT sending stops
    /// ([`Self::key_limit_reached`]) and the connection ends with
    /// AEAD_LIMIT_REACHED if no acknowledgement comes within a PTO.
    pub(super) fn check_confidentiality_limit(&mut self) {
        let Some(limit) = self.confidentiality_limit() else {
            return;
        };
        if self.sealed_in_phase >= limit - limit / 4 {
            self.force_key_update();
        }
    }

    /// Packets the current 1-RTT keys may protect, once they exist.
    fn confidentiality_limit(&self) -> Option<u64> {
        let keys = self.one_rtt.as_ref()?;
        let limit = keys.current.local.confidentiality_limit();
        #[cfg(feature = "test-hooks")]
        let limit = self.hooks.confidentiality_limit.unwrap_or(limit);
        Some(limit)
    }

    /// The current 1-RTT keys protected all the packets they may and no
    /// update is possible yet.
    pub(super) fn key_limit_reached(&self) -> bool {
        self.confidentiality_limit()
            .is_some_and(|l| self.sealed_in_phase >= l)
    }

    /// Next application event.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        let e = self.streams.poll_event().map(Event::Stream);
        if e.is_none() && self.compact_due {
            self.compact();
        }
        e
    }

    /// Frees, once, the buffers the handshake grew and left empty (event
    /// queues, the 1-RTT CRYPTO reassembly buffer), so an idle connection
    /// does not keep them: when the events are drained after the TLS
    /// session was retired.
    fn compact(&mut self) {
        self.compact_due = false;
        self.events.shrink_to_fit();
        self.endpoint_events.shrink_to_fit();
        self.streams.compact();
        self.spaces[SpaceId::Data as usize].crypto_in.compact();
    }

    /// Next endpoint event.
    pub fn poll_endpoint_event(&mut self) -> Option<EndpointEvent> {
        self.endpoint_events.pop_front()
    }

    fn reset_idle(&mut self, now: Instant) {
        let local = self.idle_timeout;
        let peer = self
            .peer_params
            .as_ref()
            .map(|p| p.max_idle_timeout)
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis);
        // RFC 9000 §10.1: the minimum of both, at least 3 PTO.
        let timeout = match (local, peer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.idle_deadline = timeout.map(|t| now + t.max(3 * self.pto_duration(SpaceId::Data)));
    }

    fn peer_max_ack_delay(&self) -> Duration {
        self.peer_params
            .as_ref()
            .map_or(Duration::from_millis(25), |p| {
                Duration::from_millis(p.max_ack_delay)
            })
    }

    /// Feeds TLS output into the CRYPTO streams and installs new keys.
    fn pump_tls(&mut self) {
        loop {
            let mut out = Vec::new();
            let change = self.tls.write_hs(self.write_level, &mut out);
            if !out.is_empty() {
                self.spaces[self.write_level as usize]
                    .crypto_out
                    .extend_from_slice(&out);
            }
            match change {
                None => break,
                Some(rustls::quic::KeyChange::Handshake { keys }) => {
                    self.spaces[SpaceId::Handshake as usize].keys = Some(keys.into());
                    self.write_level = SpaceId::Handshake;
                }
                Some(rustls::quic::KeyChange::OneRtt { keys, next }) => {
                    self.one_rtt = Some(OneRttKeys::new(keys, next));
                    self.write_level = SpaceId::Data;
                }
            }
        }
    }

    /// Moves to the next connection ID the peer issued and retires the
    /// one in use (RFC 9000 §5.1.2), so that packets on the path no longer
    /// link to the earlier ones. False when the peer has not issued a
    /// spare CID (or uses zero-length CIDs), or before the handshake
    /// completes.
    pub fn rotate_cid(&mut self) -> bool {
        if !self.handshake_complete || self.is_closed() || !self.cids.rotate() {
            return false;
        }
        self.announce_reset_token();
        tracing::debug!(side = ?self.side, "switched to a new connection ID");
        true
    }

    /// Issues connection IDs up to the peer's limit (RFC 9000 §5.1.1).
    fn issue_cids(&mut self) {
        let limit = self
            .peer_params
            .as_ref()
            .map_or(2, |p| p.active_connection_id_limit);
        for cid in self.rng.with(|rng| self.cids.issue(limit, rng)) {
            self.endpoint_events.push_back(EndpointEvent::NewCid(cid));
        }
    }

    /// Raises a transport error: close with it.
    fn transport_error(&mut self, now: Instant, err: TransportError) {
        tracing::debug!(side = ?self.side, error = %err, "closing on transport error");
        let reason = Bytes::from(err.reason.clone().into_bytes());
        self.start_close(
            now,
            false,
            err.code.0,
            err.frame_type,
            reason,
            ConnectionError::TransportError(err),
        );
    }

    /// Raises a TLS failure as a CRYPTO_ERROR (RFC 9001 §4.8).
    fn tls_error(&mut self, now: Instant, e: rustls::Error) {
        let alert = self.tls.alert();
        let code = alert.map_or(TransportErrorCode::PROTOCOL_VIOLATION, |a| {
            TransportErrorCode::crypto(u8::from(a))
        });
        self.transport_error(now, TransportError::new(code, e.to_string()));
    }
}

/// Why a connection could not be started, as quinn's `ConnectError`:
/// returned by `connect` at once, before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The endpoint is closed, or closing: it makes no new connections.
    #[error("endpoint stopping")]
    EndpointStopping,
    /// No connection ID is left to issue for the connection.
    #[error("CIDs exhausted")]
    CidsExhausted,
    /// The server name is not a valid DNS name or IP address.
    #[error("invalid server name: {0}")]
    InvalidServerName(String),
    /// The server's address cannot be reached: port 0, an unspecified
    /// address, or an IPv6 address from an IPv4 socket.
    #[error("invalid remote address: {0}")]
    InvalidRemoteAddress(SocketAddr),
    /// `connect` was called without a configuration and the endpoint has
    /// no default one: set it with `set_default_client_config`, or use
    /// `connect_with`.
    #[error("no default client config")]
    NoDefaultClientConfig,
    /// The configuration asks for a QUIC version this endpoint does not
    /// speak.
    #[error("unsupported QUIC version")]
    UnsupportedVersion,
    /// rustls refused the TLS configuration (it must offer TLS 1.3).
    #[error("TLS configuration error: {0}")]
    Tls(String),
}

/// Why a datagram could not be queued, as quinn's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendDatagramError {
    /// The peer does not accept datagrams (or we have not learned it yet).
    #[error("datagrams not supported by peer")]
    UnsupportedByPeer,
    /// Datagrams are disabled locally
    /// (`TransportConfig::datagram_receive_buffer_size` is `None`).
    #[error("datagrams disabled locally")]
    Disabled,
    /// The datagram is larger than `max_datagram_size()`.
    #[error("datagram too large")]
    TooLarge,
    /// The connection is closed, for this reason.
    #[error("connection lost")]
    ConnectionLost(#[source] ConnectionError),
}
