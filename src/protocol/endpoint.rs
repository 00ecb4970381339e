//! The sans-IO endpoint: routes datagrams to connections by destination
//! CID, accepts new server connections, and answers what needs no
//! connection: Version Negotiation (RFC 9000 §6), Retry (§8.1.2, §17.2.5)
//! and stateless resets (§10.3).

use super::cid::ConnectionId;
use super::cid_generator::{CidIssuer, RandomCids};
use super::config::{ClientConfig, EndpointConfig, ServerConfig};
use super::connection::version;
use super::connection::{
    ConnectError, Connection, ConnectionError, EndpointEvent, ServerValidation,
};
use super::crypto::{self, TAG_LEN};
use super::ecn::EcnCodepoint;
use super::error::TransportError;
use super::error::TransportErrorCode;
use super::frame::Frame;
use super::incoming::{AcceptError, Held, Incoming, PendingIncoming, RetryError};
use super::packet::{
    self, HeaderKind, LongType, PartialHeader, MIN_INITIAL_SIZE, MIN_STATELESS_RESET_LEN,
};
use super::token::{Token, TokenError};
use super::varint;
use super::{KeyedMap, KeyedSet};
use bytes::BytesMut;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Identifies a connection within one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle(pub usize);

/// What to do with an incoming datagram.
#[derive(Debug)]
pub enum DatagramEvent {
    /// Hand it to this existing connection.
    Route(ConnectionHandle),
    /// A client's authentic first Initial: decide on it with
    /// [`Endpoint::accept`], [`refuse`](Endpoint::refuse),
    /// [`retry`](Endpoint::retry) or [`ignore`](Endpoint::ignore).
    NewConnection(Box<Incoming>),
    /// Send these bytes back to the sender, nothing else.
    Respond(Vec<u8>),
    /// It belongs to a connection of another worker of this server
    /// endpoint (the one its destination connection ID names), which
    /// takes it. Only the workers of a multi-worker `Endpoint` (see
    /// [`EndpointConfig::workers`]) see this; a core driven by hand is
    /// one worker and never does.
    Forward(usize),
    /// Ignore it.
    Drop,
}

/// Datagrams this short or shorter are never answered with a stateless
/// reset; the resets we send are this long, so they are never answered
/// either, by us or by a peer following the same rule (RFC 9000 §10.3.3).
const STATELESS_RESET_LEN: usize = 42;

/// Stateless resets sent in a burst before the rate limit applies.
const RESET_BURST: f64 = 32.0;

/// Stateless resets per second in the long run.
const RESET_RATE: f64 = 32.0;

/// Stateless resets one source address gets in a burst, so that one
/// sender cannot use up the endpoint's whole budget.
const RESET_BURST_PER_SOURCE: f64 = 4.0;

/// Stateless resets per second one source address gets in the long run.
const RESET_RATE_PER_SOURCE: f64 = 2.0;

/// Source addresses whose reset budgets are tracked; past it the table
/// starts over (bounded memory under spoofed sources).
const MAX_RESET_SOURCES: usize = 4096;

/// A token bucket on the virtual clock limiting stateless resets
/// (RFC 9000 §10.3.3: an endpoint can stop sending them past a limit).
#[derive(Debug, Clone, Copy)]
struct ResetBucket {
    tokens: f64,
    last: Option<Instant>,
    burst: f64,
    rate: f64,
}

impl ResetBucket {
    fn new(burst: f64, rate: f64) -> Self {
        Self {
            tokens: burst,
            last: None,
            burst,
            rate,
        }
    }

    /// Whether a reset may go now (and counts it).
    fn take(&mut self, now: Instant) -> bool {
        self.tokens = match self.last {
            Some(last) => {
                let dt = now.saturating_duration_since(last).as_secs_f64();
                (self.tokens + dt * self.rate).min(self.burst)
            }
            None => self.burst,
        };
        self.last = Some(self.last.map_or(now, |l| l.max(now)));
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// Makes client connections for an endpoint, away from it: what a
/// client connection takes from its endpoint is the reset key and
/// randomness.
#[derive(Debug)]
pub(crate) struct ClientFactory {
    ids: Arc<CidIssuer>,
    rng: StdRng,
}

impl ClientFactory {
    /// A client connection to `remote` for `server_name`, its first
    /// flight ready (and its 0-RTT keys, when a ticket allows early
    /// data). A NEW_TOKEN token stored for `server_name` in the
    /// configuration's token store is used (and removed from the store).
    pub(crate) fn connect(
        &mut self,
        now: Instant,
        config: &ClientConfig,
        remote: SocketAddr,
        server_name: &str,
    ) -> Result<Connection, ConnectError> {
        check_connect(config, remote, server_name)?;
        let mut conn = Connection::client(
            config.version,
            config.transport.clone(),
            config.crypto.clone(),
            server_name,
            now,
            remote,
            self.ids.clone(),
            StdRng::from_seed(self.rng.gen()),
        )?;
        if let Some(store) = &config.token_store {
            conn.use_token_store(store.clone(), server_name);
        }
        Ok(conn)
    }
}

/// What an endpoint did with connection attempts, as quinn's
/// `EndpointStats`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Client attempts accepted (their handshake started).
    pub accepted_handshakes: u64,
    /// Connections this endpoint started as a client.
    pub outgoing_handshakes: u64,
    /// Client attempts refused with CONNECTION_REFUSED, by the
    /// application or because the endpoint was full.
    pub refused_handshakes: u64,
    /// Client attempts the application ignored.
    pub ignored_handshakes: u64,
    /// Client attempts answered with a Retry by the endpoint itself
    /// (`ServerConfig::retry`, or switched on under load).
    pub retried_handshakes: u64,
    /// Datagrams passed on to the worker holding their connection, whose
    /// client moved to an address the kernel hashes to another worker
    /// (see [`EndpointConfig::workers`]).
    pub forwarded_datagrams: u64,
}

/// Unvalidated connection attempts in progress past which Retry switches
/// on by itself (see `ServerConfig::retry_above`).
pub(crate) const MAX_UNVALIDATED_IN_PROGRESS: usize = 1024;

/// Routing state of one UDP socket.
pub struct Endpoint {
    server: Option<ServerConfig>,
    ids: Arc<CidIssuer>,
    /// Set when this is one worker of a multi-worker server endpoint.
    worker: Option<crate::protocol::WorkerRole>,
    /// The endpoint's only source of randomness (and, seeded from it,
    /// each connection's): CIDs, tokens, Retry and reset bytes.
    rng: StdRng,
    routes: KeyedMap<ConnectionId, ConnectionHandle>,
    cids_of: KeyedMap<ConnectionHandle, Vec<ConnectionId>>,
    /// The peer's stateless reset token of each connection, with the
    /// address it applies to (RFC 9000 §10.3.1): a reset carries a random
    /// DCID, so it is routed by its last 16 bytes instead.
    reset_routes: KeyedMap<(SocketAddr, [u8; 16]), ConnectionHandle>,
    reset_token_of: KeyedMap<ConnectionHandle, (SocketAddr, [u8; 16])>,
    resets: ResetBucket,
    /// Per source address, within `resets`.
    resets_by_source: KeyedMap<std::net::IpAddr, ResetBucket>,
    next_handle: usize,
    refuse_new: bool,
    /// Server connections whose handshake has not completed.
    handshaking: KeyedSet<ConnectionHandle>,
    /// Those of `handshaking` whose client had not proved its address
    /// when accepted.
    unvalidated_handshakes: KeyedSet<ConnectionHandle>,
    /// Connection attempts counted in the current one-second window,
    /// and when it began (`ServerConfig::retry_above`).
    attempts: (Option<Instant>, u64),
    /// Connection attempts awaiting the application's decision.
    incoming: PendingIncoming,
    stats: EndpointStats,
}

impl EndpointStats {
    /// Adds `other`'s counts (another worker's) to these.
    pub(crate) fn add(&mut self, other: &EndpointStats) {
        self.accepted_handshakes += other.accepted_handshakes;
        self.outgoing_handshakes += other.outgoing_handshakes;
        self.refused_handshakes += other.refused_handshakes;
        self.ignored_handshakes += other.ignored_handshakes;
        self.retried_handshakes += other.retried_handshakes;
        self.forwarded_datagrams += other.forwarded_datagrams;
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("connections", &self.cids_of.len())
            .field("server", &self.server.is_some())
            .finish()
    }
}

impl Endpoint {
    /// An endpoint with `config`, accepting connections with `server`
    /// when set. Every random choice it and its connections make comes
    /// from `seed`: the same seed, inputs and clock make the same run.
    pub fn new(config: EndpointConfig, server: Option<ServerConfig>, seed: [u8; 32]) -> Self {
        let mut rng = StdRng::from_seed(seed);
        // The maps' hash key comes from the seed too (not from the random
        // stream, so that a seed makes the same run as before).
        let mut key = [0u8; 8];
        key.copy_from_slice(&seed[24..]);
        let hasher = foldhash::fast::FixedState::with_seed(u64::from_le_bytes(key));
        let reset_key = config.reset_key.unwrap_or_else(|| {
            crate::protocol::backend::hmac::Key::new(
                crate::protocol::backend::hmac::HMAC_SHA256,
                &rng.gen::<[u8; 32]>(),
            )
        });
        let generator = config
            .cid_generator
            .unwrap_or_else(|| Arc::new(RandomCids::default()));
        let ids = Arc::new(CidIssuer::new(generator, reset_key));
        let worker = config.worker_role;
        if let Some(s) = &server {
            s.token_key.init(&mut rng);
        }
        Self {
            server,
            ids,
            worker,
            rng,
            routes: KeyedMap::with_hasher(hasher.clone()),
            cids_of: KeyedMap::with_hasher(hasher.clone()),
            reset_routes: KeyedMap::with_hasher(hasher.clone()),
            reset_token_of: KeyedMap::with_hasher(hasher.clone()),
            resets: ResetBucket::new(RESET_BURST, RESET_RATE),
            resets_by_source: KeyedMap::with_hasher(hasher.clone()),
            next_handle: 0,
            refuse_new: false,
            handshaking: KeyedSet::with_hasher(hasher.clone()),
            unvalidated_handshakes: KeyedSet::with_hasher(hasher.clone()),
            attempts: (None, 0),
            incoming: PendingIncoming::new(hasher),
            stats: EndpointStats::default(),
        }
    }

    /// What the endpoint did with connection attempts so far.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Replaces the server configuration (or stops accepting with `None`).
    pub fn set_server_config(&mut self, server: Option<ServerConfig>) {
        if let Some(s) = &server {
            s.token_key.init(&mut self.rng);
        }
        self.server = server;
    }

    /// Stops accepting new connections.
    pub fn reject_new_connections(&mut self) {
        self.refuse_new = true;
    }

    /// Number of live connections.
    pub fn connection_count(&self) -> usize {
        self.cids_of.len()
    }

    fn add_route(&mut self, cid: ConnectionId, h: ConnectionHandle) {
        self.routes.insert(cid, h);
        self.cids_of.entry(h).or_default().push(cid);
    }

    /// Starts a client connection. A NEW_TOKEN token stored for
    /// `server_name` in the configuration's token store is used (and
    /// removed from the store).
    pub fn connect(
        &mut self,
        now: Instant,
        config: &ClientConfig,
        remote: SocketAddr,
        server_name: &str,
    ) -> Result<(ConnectionHandle, Connection), ConnectError> {
        if self.refuse_new {
            return Err(ConnectError::EndpointStopping);
        }
        let mut clients = ClientFactory {
            ids: self.ids.clone(),
            rng: StdRng::from_seed(self.rng.gen()),
        };
        let conn = clients.connect(now, config, remote, server_name)?;
        let h = self.add_client(&conn)?;
        Ok((h, conn))
    }

    /// Makes client connections away from the endpoint (the handle's
    /// `connect`, on the caller's thread), for [`add_client`](Self::add_client)
    /// to route; seeded from the endpoint's random source.
    pub(crate) fn client_factory(&mut self) -> ClientFactory {
        ClientFactory {
            ids: self.ids.clone(),
            rng: StdRng::from_seed(self.rng.gen()),
        }
    }

    /// Routes datagrams for `conn`, a client connection a
    /// [`ClientFactory`] made.
    pub(crate) fn add_client(
        &mut self,
        conn: &Connection,
    ) -> Result<ConnectionHandle, ConnectError> {
        if self.refuse_new {
            return Err(ConnectError::EndpointStopping);
        }
        let h = ConnectionHandle(self.next_handle);
        self.next_handle += 1;
        self.add_route(conn.initial_scid(), h);
        self.stats.outgoing_handshakes += 1;
        Ok(h)
    }

    /// Decides what to do with a datagram from `remote`.
    pub fn handle(&mut self, now: Instant, remote: SocketAddr, data: &[u8]) -> DatagramEvent {
        self.handle_to(now, remote, None, None, data)
    }

    /// As [`handle_to`](Self::handle_to), for a datagram another worker
    /// passed on ([`DatagramEvent::Forward`]): never passed on again.
    pub(crate) fn handle_forwarded(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        ecn: Option<EcnCodepoint>,
        data: &[u8],
    ) -> DatagramEvent {
        let event = self.handle_inner(now, remote, local_ip, ecn, data, false);
        self.counted(event)
    }

    /// Passes `event` on, first telling the other workers, if any, what we
    /// count when it may have changed (not for a routed datagram).
    fn counted(&self, event: DatagramEvent) -> DatagramEvent {
        if !matches!(event, DatagramEvent::Route(_) | DatagramEvent::Forward(_)) {
            self.publish_counts();
        }
        event
    }

    /// Tells the other workers how many connections and attempts we hold.
    fn publish_counts(&self) {
        if let Some(w) = &self.worker {
            let attempts = self.handshaking.len() + self.incoming.len();
            w.counts.publish(w.index, self.cids_of.len(), attempts);
        }
    }

    /// Our connections and those of the other workers.
    fn connections_total(&self) -> usize {
        self.cids_of.len()
            + self
                .worker
                .as_ref()
                .map_or(0, |w| w.counts.connections_elsewhere(w.index))
    }

    /// Our attempts in progress (undecided or handshaking) and those of
    /// the other workers.
    fn attempts_total(&self) -> usize {
        self.handshaking.len()
            + self.incoming.len()
            + self
                .worker
                .as_ref()
                .map_or(0, |w| w.counts.attempts_elsewhere(w.index))
    }

    /// The destination connection ID of `data` when it is a short-header
    /// (1-RTT) packet, read as routing reads it. Within one batch, a
    /// datagram from the same address with the same one goes where the
    /// previous one went (a route does not change while a batch is
    /// routed), so the caller need not look each one up.
    pub(crate) fn short_header_dcid(&self, data: &[u8]) -> Option<ConnectionId> {
        let first = *data.first()?;
        // RFC 9000 §17.3.1: header form 0, fixed bit 1.
        if first & 0xc0 != 0x40 {
            return None;
        }
        ConnectionId::new(data.get(1..1 + self.ids.cid_len())?)
    }

    /// The connection of ours that destination connection ID `dcid`
    /// names, if any: the first thing routing looks up, with nothing else
    /// done.
    pub(crate) fn route_of(&self, dcid: &ConnectionId) -> Option<ConnectionHandle> {
        self.routes.get(dcid).copied()
    }

    /// As [`handle`](Self::handle), with the local IP address the
    /// datagram was sent to (from IP_PKTINFO or the like), which an
    /// accepted connection answers from, and the ECN codepoint it
    /// arrived with (kept with the datagrams of a connection attempt).
    pub fn handle_to(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        ecn: Option<EcnCodepoint>,
        data: &[u8],
    ) -> DatagramEvent {
        let event = self.handle_inner(now, remote, local_ip, ecn, data, true);
        self.counted(event)
    }

    fn handle_inner(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        ecn: Option<EcnCodepoint>,
        data: &[u8],
        may_forward: bool,
    ) -> DatagramEvent {
        let header = match PartialHeader::parse(data, self.ids.cid_len()) {
            Ok(h) => h,
            Err(_) => return DatagramEvent::Drop,
        };
        if let Some(&h) = self.routes.get(&header.dcid) {
            return DatagramEvent::Route(h);
        }
        // The client's further datagrams while we decide on its attempt
        // (a retransmitted Initial, 0-RTT) wait with it.
        if header.kind != HeaderKind::Short && self.incoming.contains(&header.dcid) {
            if let Some(server) = &self.server {
                let held = Held {
                    remote,
                    local_ip,
                    ecn,
                    data: data.to_vec(),
                };
                self.incoming.hold(
                    &header.dcid,
                    held,
                    server.incoming_buffer_size,
                    server.incoming_buffer_size_total,
                );
            }
            return DatagramEvent::Drop;
        }
        // A connection of another worker: its client moved to an address
        // the kernel hashes to us.
        if let Some(w) = self
            .worker
            .as_ref()
            .filter(|_| may_forward)
            .and_then(|w| w.owner_elsewhere(&header.dcid))
        {
            self.stats.forwarded_datagrams += 1;
            return DatagramEvent::Forward(usize::from(w));
        }
        // RFC 9000 §10.3.1: a datagram we cannot route may be a stateless
        // reset for one of our connections. The map's keyed hash stands in
        // for a constant-time comparison (§10.3.1 allows comparing keyed
        // transforms); the connection then compares in constant time.
        if data.len() >= MIN_STATELESS_RESET_LEN {
            let mut tail = [0u8; 16];
            tail.copy_from_slice(&data[data.len() - 16..]);
            if let Some(&h) = self.reset_routes.get(&(remote, tail)) {
                return DatagramEvent::Route(h);
            }
        }
        if header.kind == HeaderKind::Short {
            return self.stateless_reset(now, remote, &header.dcid, data.len());
        }
        let Some(server) = self.server.clone() else {
            return DatagramEvent::Drop;
        };
        match header.kind {
            HeaderKind::UnsupportedVersion { .. } => {
                // RFC 9000 §6.1: answer only datagrams big enough to be an
                // Initial, so we never amplify.
                if data.len() < MIN_INITIAL_SIZE {
                    return DatagramEvent::Drop;
                }
                let Some((d, s)) = packet::invariant_long_cids(data) else {
                    return DatagramEvent::Drop;
                };
                DatagramEvent::Respond(packet::version_negotiation(
                    d,
                    s,
                    self.rng.gen(),
                    &packet::SUPPORTED_VERSIONS,
                ))
            }
            HeaderKind::Long {
                ty: LongType::Initial,
                scid,
                ..
            } => {
                // RFC 9000 §14.1: drop Initials in small datagrams; §7.2:
                // the client's DCID must be at least 8 bytes.
                if data.len() < MIN_INITIAL_SIZE || header.dcid.len() < 8 {
                    return DatagramEvent::Drop;
                }
                // Under a flood (see `under_load`), an Initial without a
                // token gets a Retry at once, without deriving its keys
                // or decrypting it: the Retry is much smaller than the
                // datagram (no amplification), and what is saved lets the
                // endpoint drain its socket faster than a flood fills it,
                // so real clients' packets get through (RFC 9000 §8.1.2
                // allows a Retry in answer to any Initial).
                let busy = self.under_load(now, &server);
                if busy && header.token.is_empty() {
                    self.stats.retried_handshakes += 1;
                    return DatagramEvent::Respond(self.retry_packet(
                        now,
                        &server,
                        remote,
                        header.version().unwrap_or(packet::VERSION_1),
                        &header.dcid,
                        &scid,
                    ));
                }
                // Only a packet that decrypts with the Initial keys creates
                // state or gets an answer: junk shaped like an Initial costs
                // one decryption.
                let suite = crypto::initial_suite(server.crypto.crypto_provider());
                let Some(payload) = initial_payload(&suite, data, &header) else {
                    return DatagramEvent::Drop;
                };
                // Endpoint limits: refuse, statelessly and before any TLS
                // work, instead of growing.
                if self.incoming_full(now, &server) {
                    return DatagramEvent::Respond(self.refusal(
                        header.version().unwrap_or(packet::VERSION_1),
                        &header.dcid,
                        &scid,
                    ));
                }
                self.validate(
                    now, remote, local_ip, ecn, &server, data, &header, scid, &payload, busy,
                )
            }
            _ => DatagramEvent::Drop,
        }
    }

    /// Counts an attempt; true when Retry should switch on by itself
    /// (unless `retry_above` is `None`): past `retry_above` attempts in
    /// the current second, or while unvalidated attempts (undecided or
    /// handshaking) hold half of `max_incoming` or number
    /// [`MAX_UNVALIDATED_IN_PROGRESS`]. Real clients finish their
    /// handshakes within a round trip or two; attempts from spoofed
    /// addresses never do and pile up, so their number tells a flood
    /// apart from a busy server.
    fn under_load(&mut self, now: Instant, server: &ServerConfig) -> bool {
        let Some(limit) = server.retry_above else {
            return false;
        };
        let (start, count) = &mut self.attempts;
        if start.is_none_or(|s| now.saturating_duration_since(s) >= Duration::from_secs(1)) {
            *start = Some(now);
            *count = 0;
        }
        *count += 1;
        let unvalidated = self.incoming.unvalidated() + self.unvalidated_handshakes.len();
        *count > u64::from(limit)
            || 2 * unvalidated >= server.max_incoming
            || unvalidated >= MAX_UNVALIDATED_IN_PROGRESS
    }

    /// True when no further connection attempt fits: the endpoint is
    /// closing, or `max_connections` or `max_incoming` is reached.
    fn incoming_full(&mut self, now: Instant, server: &ServerConfig) -> bool {
        if self.attempts_total() >= server.max_incoming {
            self.incoming.expire(now);
        }
        self.refuse_new
            || self.connections_total() >= server.max_connections
            || self.attempts_total() >= server.max_incoming
    }

    /// An Initial closing the attempt of the client Initial with `dcid`
    /// and `client_scid` with CONNECTION_REFUSED.
    fn refusal(
        &mut self,
        version: u32,
        dcid: &ConnectionId,
        client_scid: &ConnectionId,
    ) -> Vec<u8> {
        self.stats.refused_handshakes += 1;
        let our_scid = self.ids.new_cid(&mut self.rng);
        initial_close(
            &self.initial_suite(),
            version,
            dcid,
            client_scid,
            &our_scid,
            TransportErrorCode::CONNECTION_REFUSED,
        )
    }

    /// The cipher suite of Initial packets, from the server configuration.
    fn initial_suite(&self) -> rustls::quic::Suite {
        self.server
            .as_ref()
            .map_or_else(crypto::default_initial_suite, |s| {
                crypto::initial_suite(s.crypto.crypto_provider())
            })
    }

    /// A Retry for the client Initial with `dcid` and `client_scid`
    /// (RFC 9000 §8.1.2, §17.2.5), carrying a token bound to its address.
    fn retry_packet(
        &mut self,
        now: Instant,
        server: &ServerConfig,
        remote: SocketAddr,
        version: u32,
        dcid: &ConnectionId,
        client_scid: &ConnectionId,
    ) -> Vec<u8> {
        // RFC 9000 §17.2.5.1: a CID of our choice, never the client's
        // DCID; one Retry per datagram.
        let retry_scid = loop {
            let c = self.ids.new_cid(&mut self.rng);
            if c != *dcid {
                break c;
            }
        };
        let token = server
            .token_key
            .seal_retry(&mut self.rng, now, remote, dcid, &retry_scid);
        let unused = (self.rng.next_u32() & 0x0f) as u8;
        tracing::debug!(%remote, "sending Retry");
        crypto::retry_packet(version, client_scid, &retry_scid, &token, dcid, unused)
    }

    /// Validates the token of an authentic client Initial, and answers it
    /// with a Retry, an INVALID_TOKEN close, or an [`Incoming`] for the
    /// application to decide on.
    #[allow(clippy::too_many_arguments)]
    fn validate(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        ecn: Option<EcnCodepoint>,
        server: &ServerConfig,
        data: &[u8],
        header: &PartialHeader,
        client_scid: ConnectionId,
        payload: &[u8],
        busy: bool,
    ) -> DatagramEvent {
        let version = header.version().unwrap_or(packet::VERSION_1);
        // RFC 9368 §2.3: answer in a version both prefer, if compatible.
        let negotiated = version::negotiate(version, payload, &server.preferred_versions);
        let mut validation = ServerValidation {
            new_token_key: server.send_new_token.then(|| server.token_key.clone()),
            migration: server.migration,
            version: Some(negotiated),
            original_version: (negotiated != version).then_some(version),
            ..ServerValidation::default()
        };
        let token = &data[header.token.clone()];
        if !token.is_empty() {
            // RFC 9000 §8.1.3: a server MUST attempt to validate a token.
            match server.token_key.open(
                now,
                token,
                remote,
                &header.dcid,
                server.retry_token_lifetime,
                server.validation_token_lifetime,
            ) {
                Ok(Token::Retry { orig_dcid }) => {
                    validation.retry_orig_dcid = Some(orig_dcid);
                    validation.address_validated = true;
                }
                Ok(Token::Validation) => validation.address_validated = true,
                Err(TokenError::InvalidRetry) => {
                    // RFC 9000 §8.1.2: the client takes no second Retry;
                    // close at once, keeping no state.
                    tracing::debug!(%remote, "invalid Retry token");
                    let our_scid = self.ids.new_cid(&mut self.rng);
                    return DatagramEvent::Respond(initial_close(
                        &crypto::initial_suite(server.crypto.crypto_provider()),
                        header.version().unwrap_or(packet::VERSION_1),
                        &header.dcid,
                        &client_scid,
                        &our_scid,
                        TransportErrorCode::INVALID_TOKEN,
                    ));
                }
                // RFC 9000 §8.1.3: proceed as if there were no token.
                Err(TokenError::Unusable) => {}
            }
        }
        if (server.retry || busy) && !validation.address_validated {
            self.stats.retried_handshakes += 1;
            return DatagramEvent::Respond(self.retry_packet(
                now,
                server,
                remote,
                version,
                &header.dcid,
                &client_scid,
            ));
        }
        let incoming = Incoming {
            received: now,
            remote,
            local_ip,
            ecn,
            datagram: data.to_vec(),
            dcid: header.dcid,
            client_scid,
            version,
            validation,
            worker: self.worker.as_ref().map_or(0, |w| w.index),
        };
        self.incoming.insert(&incoming);
        DatagramEvent::NewConnection(Box::new(incoming))
    }

    /// Accepts a connection attempt, with `server` in place of the
    /// endpoint's server configuration when given (its transport and TLS
    /// settings; the token checks were made with the endpoint's). The
    /// connection has processed the client's Initial and what arrived for
    /// it meanwhile: drain it with `poll_transmit`. Fails when the
    /// endpoint closes, serves no more connections or is at
    /// `max_connections`, or when rustls refuses the configuration; the
    /// error then carries the datagram closing the client's attempt.
    pub fn accept(
        &mut self,
        incoming: Incoming,
        now: Instant,
        server: Option<ServerConfig>,
    ) -> Result<(ConnectionHandle, Box<Connection>), AcceptError> {
        let held = self.incoming.take(&incoming.dcid);
        let refused = |code: TransportErrorCode, reason: &str| {
            ConnectionError::TransportError(TransportError::new(code, reason))
        };
        let Some(server) = server.or_else(|| self.server.clone()) else {
            return Err(AcceptError {
                cause: refused(TransportErrorCode::CONNECTION_REFUSED, "not a server"),
                response: Some(self.refuse(incoming)),
            });
        };
        if self.refuse_new || self.connections_total() >= server.max_connections {
            return Err(AcceptError {
                cause: refused(TransportErrorCode::CONNECTION_REFUSED, "endpoint full"),
                response: Some(self.refuse(incoming)),
            });
        }
        let our_cid = self.ids.new_cid(&mut self.rng);
        let rng = self.connection_rng();
        let mut conn = match Connection::server_validated(
            server.transport.clone(),
            server.crypto.clone(),
            now,
            incoming.remote,
            our_cid,
            incoming.dcid,
            incoming.client_scid,
            self.ids.clone(),
            incoming.validation.clone(),
            rng,
        ) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept connection");
                return Err(AcceptError {
                    cause: refused(TransportErrorCode::INTERNAL_ERROR, &e.to_string()),
                    response: Some(self.refuse(incoming)),
                });
            }
        };
        let h = ConnectionHandle(self.next_handle);
        self.next_handle += 1;
        self.add_route(incoming.dcid, h);
        self.add_route(our_cid, h);
        self.handshaking.insert(h);
        if !incoming.validation.address_validated {
            self.unvalidated_handshakes.insert(h);
        }
        self.stats.accepted_handshakes += 1;
        let first = Held {
            remote: incoming.remote,
            local_ip: incoming.local_ip,
            ecn: incoming.ecn,
            data: incoming.datagram,
        };
        for d in std::iter::once(first).chain(held) {
            let data = BytesMut::from(&d.data[..]);
            conn.handle_datagram_to(now, d.remote, d.local_ip, d.ecn, data);
        }
        self.publish_counts();
        Ok((h, Box::new(conn)))
    }

    /// Refuses a connection attempt: the returned Initial, for the
    /// client's address, closes it with CONNECTION_REFUSED (RFC 9000
    /// §20.1). Nothing is kept.
    pub fn refuse(&mut self, incoming: Incoming) -> Vec<u8> {
        self.incoming.take(&incoming.dcid);
        self.publish_counts();
        self.refusal(incoming.version, &incoming.dcid, &incoming.client_scid)
    }

    /// Answers a connection attempt with a Retry (RFC 9000 §8.1.2), for
    /// the client's address: the client comes back with a token proving
    /// its address, as a new `Incoming`. Not for one that answers a Retry
    /// already ([`Incoming::may_retry`]).
    pub fn retry(&mut self, incoming: Incoming, now: Instant) -> Result<Vec<u8>, RetryError> {
        if !incoming.may_retry() {
            return Err(RetryError::new(incoming));
        }
        let Some(server) = self.server.clone() else {
            return Err(RetryError::new(incoming));
        };
        self.incoming.take(&incoming.dcid);
        self.publish_counts();
        Ok(self.retry_packet(
            now,
            &server,
            incoming.remote,
            incoming.version,
            &incoming.dcid,
            &incoming.client_scid,
        ))
    }

    /// Drops a connection attempt without a word; the client's further
    /// datagrams for it are dropped too, until it gives up or its Initial
    /// comes again (then as a new `Incoming`).
    pub fn ignore(&mut self, incoming: Incoming) {
        self.incoming.take(&incoming.dcid);
        self.publish_counts();
        self.stats.ignored_handshakes += 1;
    }

    /// Answers a short-header datagram for an unknown CID with a stateless
    /// reset (RFC 9000 §10.3), within the rate limit.
    fn stateless_reset(
        &mut self,
        now: Instant,
        source: SocketAddr,
        dcid: &ConnectionId,
        len: usize,
    ) -> DatagramEvent {
        // RFC 9000 §10.3.3: strictly smaller than the trigger, and never
        // an answer to what could be a reset itself.
        if len <= STATELESS_RESET_LEN {
            return DatagramEvent::Drop;
        }
        // Rate limited per source address, then for the endpoint.
        if self.resets_by_source.len() >= MAX_RESET_SOURCES
            && !self.resets_by_source.contains_key(&source.ip())
        {
            self.resets_by_source.clear();
        }
        let per_source = self
            .resets_by_source
            .entry(source.ip())
            .or_insert_with(|| ResetBucket::new(RESET_BURST_PER_SOURCE, RESET_RATE_PER_SOURCE));
        if !per_source.take(now) || !self.resets.take(now) {
            return DatagramEvent::Drop;
        }
        // RFC 9000 §10.3.2: the token is the HMAC of the CID the packet was
        // sent to, as the connection computed it when issuing that CID.
        let token = self.ids.reset_token(dcid);
        tracing::debug!(cid = %dcid, "sending stateless reset");
        DatagramEvent::Respond(packet::stateless_reset(
            STATELESS_RESET_LEN,
            &token,
            &mut self.rng,
        ))
    }

    /// Applies a connection's endpoint event.
    pub fn handle_event(&mut self, h: ConnectionHandle, event: EndpointEvent) {
        match event {
            EndpointEvent::NewCid(cid) => self.add_route(cid, h),
            EndpointEvent::RetireCid(cid) => {
                if self.routes.get(&cid) == Some(&h) {
                    self.routes.remove(&cid);
                }
                if let Some(v) = self.cids_of.get_mut(&h) {
                    v.retain(|c| *c != cid);
                }
            }
            EndpointEvent::ResetToken(remote, token) => {
                self.forget_reset_token(h);
                self.reset_routes.insert((remote, token), h);
                self.reset_token_of.insert(h, (remote, token));
            }
            EndpointEvent::Established => {
                self.handshaking.remove(&h);
                self.unvalidated_handshakes.remove(&h);
                self.publish_counts();
            }
            EndpointEvent::Drained => self.forget(h),
        }
    }

    /// A random source for a new connection, seeded from ours.
    fn connection_rng(&mut self) -> StdRng {
        StdRng::from_seed(self.rng.gen())
    }

    fn forget_reset_token(&mut self, h: ConnectionHandle) {
        if let Some(key) = self.reset_token_of.remove(&h) {
            if self.reset_routes.get(&key) == Some(&h) {
                self.reset_routes.remove(&key);
            }
        }
    }

    /// Forgets every route to `h`.
    pub fn forget(&mut self, h: ConnectionHandle) {
        if let Some(cids) = self.cids_of.remove(&h) {
            for c in cids {
                if self.routes.get(&c) == Some(&h) {
                    self.routes.remove(&c);
                }
            }
        }
        self.forget_reset_token(h);
        self.handshaking.remove(&h);
        self.unvalidated_handshakes.remove(&h);
        self.publish_counts();
    }
}

/// An Initial packet closing the connection attempt of the client Initial
/// whose DCID was `dcid` and SCID `client_scid` with transport error
/// `code`, sent without creating any connection state (RFC 9000 §8.1.2,
/// §10.2.3). Small, so it never amplifies.
fn initial_close(
    suite: &rustls::quic::Suite,
    version: u32,
    dcid: &ConnectionId,
    client_scid: &ConnectionId,
    our_scid: &ConnectionId,
    code: TransportErrorCode,
) -> Vec<u8> {
    let keys = crypto::initial_keys_for(suite, version, dcid, super::Side::Server);
    let mut buf = Vec::with_capacity(64);
    let pn_len = 1;
    let len_at = packet::write_long_header(
        &mut buf,
        version,
        LongType::Initial,
        client_scid,
        our_scid,
        &[],
        0,
        pn_len,
    );
    let pn_offset = len_at + 2;
    Frame::ConnectionClose {
        app: false,
        code: code.0,
        frame_type: 0,
        reason: bytes::Bytes::new(),
    }
    .encode(&mut buf);
    // RFC 9001 §5.4.2: room for the header protection sample (PADDING).
    let min_len = pn_offset + 4;
    if buf.len() < min_len {
        buf.resize(min_len, 0);
    }
    let len = buf.len() - pn_offset + TAG_LEN;
    varint::write_with_len(&mut buf[len_at..], len as u64, 2);
    crypto::seal(
        &mut buf,
        0,
        pn_offset,
        pn_len,
        0,
        keys.local.packet.as_ref(),
        keys.local.header.as_ref(),
    );
    buf
}

/// The payload of the first packet of `data` when it is an Initial that
/// the server's Initial keys for its DCID authenticate (RFC 9001 §5.2).
fn initial_payload(
    suite: &rustls::quic::Suite,
    data: &[u8],
    header: &PartialHeader,
) -> Option<Vec<u8>> {
    let version = header.version().unwrap_or(packet::VERSION_1);
    let keys = crypto::initial_keys_for(suite, version, &header.dcid, super::Side::Server);
    let mut packet = data[..header.len].to_vec();
    let (pn_len, pn) = crypto::remove_header_protection(
        &mut packet,
        header.pn_offset,
        None,
        keys.remote.header.as_ref(),
    )?;
    let start = header.pn_offset + pn_len;
    let n = crypto::open_payload(&mut packet, start, pn, keys.remote.packet.as_ref())?;
    packet.truncate(start + n);
    Some(packet.split_off(start))
}

/// What makes `connect` fail before anything is sent, checked where the
/// connection is asked for (the handle checks it too, so that `connect`
/// answers at once): the version, the server's address, the server name
/// and TLS 1.3 cipher suites in the rustls configuration (RFC 9001 §4.2).
pub(crate) fn check_connect(
    config: &ClientConfig,
    remote: SocketAddr,
    server_name: &str,
) -> Result<(), ConnectError> {
    if !packet::is_supported(config.version) {
        return Err(ConnectError::UnsupportedVersion);
    }
    if remote.port() == 0 || remote.ip().is_unspecified() {
        return Err(ConnectError::InvalidRemoteAddress(remote));
    }
    rustls::pki_types::ServerName::try_from(server_name)
        .map_err(|_| ConnectError::InvalidServerName(server_name.into()))?;
    let provider = config.crypto.crypto_provider();
    if !provider.cipher_suites.iter().any(|s| s.tls13().is_some()) {
        return Err(ConnectError::Tls(
            "the rustls provider has no TLS 1.3 cipher suite, which QUIC requires".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::protocol::packet::PartialHeader;
    use crate::protocol::token::DEFAULT_RETRY_TOKEN_LIFETIME;
    use std::time::Duration;

    fn server() -> Endpoint {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()),
        );
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            crate::protocol::backend::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        Endpoint::new(
            EndpointConfig::new(),
            Some(ServerConfig::with_crypto(Arc::new(tls)).unwrap()),
            [1; 32],
        )
    }

    fn long_header(version: u32, len: usize) -> Vec<u8> {
        let mut d = vec![0xc0];
        d.extend_from_slice(&version.to_be_bytes());
        d.push(8);
        d.extend_from_slice(&[1; 8]);
        d.push(4);
        d.extend_from_slice(&[2; 4]);
        d.resize(len, 0);
        d
    }

    #[test]
    fn unknown_version_gets_version_negotiation() {
        let mut ep = server();
        let addr = "127.0.0.1:1".parse().unwrap();
        let now = Instant::now();
        let DatagramEvent::Respond(vn) = ep.handle(now, addr, &long_header(0x1a2a_3a4a, 1200))
        else {
            panic!("expected a Version Negotiation packet");
        };
        let h = PartialHeader::parse(&vn, 8).unwrap();
        // RFC 9000 §17.2.1: CIDs are echoed swapped, versions listed.
        assert_eq!(&h.dcid[..], &[2; 4]);
        match h.kind {
            HeaderKind::VersionNegotiation { scid, versions } => {
                assert_eq!(&scid[..], &[1; 8]);
                assert_eq!(versions, packet::SUPPORTED_VERSIONS.to_vec());
            }
            k => panic!("{k:?}"),
        }
        // Small datagrams are never answered (no amplification).
        assert!(matches!(
            ep.handle(now, addr, &long_header(0x1a2a_3a4a, 100)),
            DatagramEvent::Drop
        ));
    }

    #[test]
    fn small_or_garbage_initials_are_dropped() {
        let mut ep = server();
        let addr = "127.0.0.1:1".parse().unwrap();
        let now = Instant::now();
        // A v1 Initial in a datagram under 1200 bytes (RFC 9000 §14.1).
        let mut d = long_header(packet::VERSION_1, 0);
        d.extend_from_slice(&[0, 0x41, 0x00]);
        d.resize(600, 0);
        assert!(matches!(ep.handle(now, addr, &d), DatagramEvent::Drop));
        assert_eq!(ep.connection_count(), 0);
        // Short headers for unknown CIDs are dropped.
        let mut short = vec![0x40];
        short.extend_from_slice(&[9; 40]);
        assert!(matches!(ep.handle(now, addr, &short), DatagramEvent::Drop));
    }

    /// A client configuration trusting nothing (enough to start one).
    pub(crate) fn client_config() -> ClientConfig {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            crate::protocol::backend::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        ClientConfig::new(Arc::new(tls)).unwrap()
    }

    /// A client connection and its first datagram (an Initial).
    fn client_initial(now: Instant, server: SocketAddr) -> (Connection, Vec<u8>) {
        let mut ep = Endpoint::new(EndpointConfig::new(), None, [2; 32]);
        let (_, mut conn) = ep
            .connect(now, &client_config(), server, "localhost")
            .unwrap();
        let mut buf = Vec::new();
        let t = conn.poll_transmit(now, 1, &mut buf).unwrap();
        buf.truncate(t.size);
        (conn, buf)
    }

    fn retry_server() -> Endpoint {
        let mut ep = server();
        let mut cfg = ep.server.clone().unwrap();
        cfg.retry(true);
        ep.set_server_config(Some(cfg));
        ep
    }

    #[test]
    fn retry_answers_initial_without_state_then_accepts_its_token() {
        let mut ep = retry_server();
        let now = Instant::now();
        let client_addr: SocketAddr = "192.0.2.7:5555".parse().unwrap();
        let server_addr: SocketAddr = "192.0.2.1:443".parse().unwrap();
        let (mut client, initial) = client_initial(now, server_addr);
        let DatagramEvent::Respond(retry) = ep.handle(now, client_addr, &initial) else {
            panic!("expected a Retry");
        };
        assert_eq!(ep.connection_count(), 0, "no state before validation");
        let h =
            PartialHeader::parse(&retry, crate::protocol::cid_generator::DEFAULT_CID_LEN).unwrap();
        let HeaderKind::Long {
            ty: LongType::Retry,
            scid,
            ..
        } = h.kind
        else {
            panic!("{:?}", h.kind);
        };
        // RFC 9000 §17.2.5.1: to the client's SCID, from a new CID.
        assert_eq!(h.dcid, client.initial_scid());
        assert_ne!(scid, client.orig_dcid());
        assert!(crypto::retry_integrity_ok(&client.orig_dcid(), &retry));
        // The client follows it; its next Initial carries the token.
        client.handle_datagram(now, server_addr, bytes::BytesMut::from(&retry[..]));
        assert!(client.retried());
        let mut buf = Vec::new();
        let t = client.poll_transmit(now, 1, &mut buf).unwrap();
        buf.truncate(t.size);
        let h2 =
            PartialHeader::parse(&buf, crate::protocol::cid_generator::DEFAULT_CID_LEN).unwrap();
        assert_eq!(h2.dcid, scid);
        assert_eq!(&buf[h2.token.clone()], client.initial_token());
        // From another port the token is refused: INVALID_TOKEN, no state.
        let other: SocketAddr = "192.0.2.7:5556".parse().unwrap();
        let DatagramEvent::Respond(close) = ep.handle(now, other, &buf) else {
            panic!("expected an INVALID_TOKEN close");
        };
        let hc =
            PartialHeader::parse(&close, crate::protocol::cid_generator::DEFAULT_CID_LEN).unwrap();
        assert!(matches!(
            hc.kind,
            HeaderKind::Long {
                ty: LongType::Initial,
                ..
            }
        ));
        assert_eq!(hc.dcid, client.initial_scid());
        assert!(close.len() < 100);
        assert_eq!(ep.connection_count(), 0);
        // From the right address it is accepted.
        let DatagramEvent::NewConnection(incoming) = ep.handle(now, client_addr, &buf) else {
            panic!("expected a new connection");
        };
        assert!(incoming.remote_address_validated() && !incoming.may_retry());
        let (_, conn) = ep.accept(*incoming, now, None).unwrap();
        assert!(conn.retried());
        assert_eq!(conn.orig_dcid(), client.orig_dcid());
        // After the lifetime, the same token is refused.
        let mut ep2 = retry_server();
        ep2.server.as_mut().unwrap().token_key = ep.server.as_ref().unwrap().token_key.clone();
        let late = now + DEFAULT_RETRY_TOKEN_LIFETIME + Duration::from_secs(1);
        assert!(matches!(
            ep2.handle(late, client_addr, &buf),
            DatagramEvent::Respond(_)
        ));
        assert_eq!(ep2.connection_count(), 0);
    }

    #[test]
    fn stateless_reset_size_token_and_rate_limit() {
        let mut ep = server();
        let addr = "127.0.0.1:9".parse().unwrap();
        let now = Instant::now();
        let cid = ConnectionId::new(&[5; crate::protocol::cid_generator::DEFAULT_CID_LEN]).unwrap();
        let datagram = |len: usize| {
            let mut d = vec![0x41];
            d.extend_from_slice(&cid);
            d.resize(len, 0xaa);
            d
        };
        // RFC 9000 §10.3.3: nothing that could itself be a reset is
        // answered.
        for len in [21, 42] {
            assert!(matches!(
                ep.handle(now, addr, &datagram(len)),
                DatagramEvent::Drop
            ));
        }
        let expected = ep.ids.reset_token(&cid);
        for len in [43, 1200] {
            let DatagramEvent::Respond(r) = ep.handle(now, addr, &datagram(len)) else {
                panic!("expected a stateless reset");
            };
            assert!(r.len() < len && r.len() >= MIN_STATELESS_RESET_LEN);
            assert_eq!(r[0] & 0xc0, 0x40, "looks like a short header");
            assert_eq!(&r[r.len() - 16..], &expected);
        }
        // One source gets a small burst (two went above), refilled with
        // time.
        let mut sent = 2;
        while let DatagramEvent::Respond(_) = ep.handle(now, addr, &datagram(100)) {
            sent += 1;
            assert!(sent < 1000);
        }
        assert_eq!(sent as f64, RESET_BURST_PER_SOURCE);
        let later = now + Duration::from_secs(1);
        let mut more = 0;
        while let DatagramEvent::Respond(_) = ep.handle(later, addr, &datagram(100)) {
            more += 1;
        }
        assert_eq!(more as f64, RESET_RATE_PER_SOURCE);
        // Many sources share the endpoint's budget: after a second it is
        // back to a full burst, less the two that just went to `addr`.
        let source = |i: u32| SocketAddr::from((std::net::Ipv4Addr::from(0x0a00_0000 + i), 9));
        let mut spread = 0;
        for i in 0..1000 {
            if let DatagramEvent::Respond(_) = ep.handle(later, source(i), &datagram(100)) {
                spread += 1;
            }
        }
        assert_eq!(spread as f64, RESET_BURST - RESET_RATE_PER_SOURCE);
        // The table of sources stays bounded.
        for i in 0..10_000 {
            let _ = ep.handle(later, source(i), &datagram(100));
        }
        assert!(ep.resets_by_source.len() <= MAX_RESET_SOURCES);
        // Long headers for unknown CIDs get no reset.
        let mut long = long_header(packet::VERSION_1, 100);
        long[0] = 0xe0; // Handshake
        assert!(matches!(
            ep.handle(now + Duration::from_secs(5), addr, &long),
            DatagramEvent::Drop
        ));
    }

    #[test]
    fn stateless_reset_is_routed_by_its_token() {
        let mut ep = Endpoint::new(EndpointConfig::new(), None, [2; 32]);
        let now = Instant::now();
        let server: SocketAddr = "192.0.2.1:443".parse().unwrap();
        let (h, _conn) = ep
            .connect(now, &client_config(), server, "localhost")
            .unwrap();
        let token = [0x5a; 16];
        ep.handle_event(h, EndpointEvent::ResetToken(server, token));
        let reset = packet::stateless_reset(30, &token, &mut StdRng::seed_from_u64(3));
        assert!(matches!(ep.handle(now, server, &reset), DatagramEvent::Route(x) if x == h));
        // From another address, or after the connection is gone: not ours.
        let other: SocketAddr = "192.0.2.2:443".parse().unwrap();
        assert!(matches!(ep.handle(now, other, &reset), DatagramEvent::Drop));
        // A newer token replaces the old one.
        ep.handle_event(h, EndpointEvent::ResetToken(server, [0x6b; 16]));
        assert!(matches!(
            ep.handle(now, server, &reset),
            DatagramEvent::Drop
        ));
        ep.handle_event(h, EndpointEvent::Drained);
        let reset2 = packet::stateless_reset(30, &[0x6b; 16], &mut StdRng::seed_from_u64(3));
        assert!(matches!(
            ep.handle(now, server, &reset2),
            DatagramEvent::Drop
        ));
    }
}
