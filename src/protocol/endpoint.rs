//! The sans-IO endpoint: routes datagrams to connections by destination
//! CID, accepts new server connections, and answers what needs no
//! connection (Version Negotiation, RFC 9000 §6).

use super::cid::ConnectionId;
use super::config::TransportConfig;
use super::connection::{ConnectError, Connection, EndpointEvent, LOCAL_CID_LEN};
use super::crypto;
use super::packet::{self, HeaderKind, LongType, PartialHeader, MIN_INITIAL_SIZE};
use rand::RngCore;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Identifies a connection within one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle(pub usize);

/// Settings for accepting connections.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// TLS settings (certificate, ALPN).
    pub crypto: Arc<rustls::ServerConfig>,
    /// Transport settings for accepted connections.
    pub transport: Arc<TransportConfig>,
    /// Most connections accepted at once (further Initials are dropped).
    pub max_connections: usize,
}

impl ServerConfig {
    /// A server configuration with default transport settings.
    pub fn with_crypto(crypto: Arc<rustls::ServerConfig>) -> Self {
        Self {
            crypto,
            transport: Arc::new(TransportConfig::default()),
            max_connections: 100_000,
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
}

impl ClientConfig {
    /// A client configuration with default transport settings.
    pub fn new(crypto: Arc<rustls::ClientConfig>) -> Self {
        Self {
            crypto,
            transport: Arc::new(TransportConfig::default()),
        }
    }
}

/// What to do with an incoming datagram.
#[derive(Debug)]
pub enum DatagramEvent {
    /// Hand it to this existing connection.
    Route(ConnectionHandle),
    /// A new connection was accepted; hand it the datagram.
    NewConnection(ConnectionHandle, Box<Connection>),
    /// Send these bytes back to the sender, nothing else.
    Respond(Vec<u8>),
    /// Ignore it.
    Drop,
}

/// Routing state of one UDP socket.
pub struct Endpoint {
    server: Option<ServerConfig>,
    reset_key: Arc<ring::hmac::Key>,
    routes: HashMap<ConnectionId, ConnectionHandle>,
    cids_of: HashMap<ConnectionHandle, Vec<ConnectionId>>,
    next_handle: usize,
    refuse_new: bool,
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
    /// An endpoint; with `server`, it accepts connections.
    pub fn new(server: Option<ServerConfig>) -> Self {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Self {
            server,
            reset_key: Arc::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key)),
            routes: HashMap::new(),
            cids_of: HashMap::new(),
            next_handle: 0,
            refuse_new: false,
        }
    }

    /// Replaces the server configuration (or stops accepting with `None`).
    pub fn set_server_config(&mut self, server: Option<ServerConfig>) {
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

    /// Starts a client connection.
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
        let conn = Connection::client(
            config.transport.clone(),
            config.crypto.clone(),
            server_name,
            now,
            remote,
            self.reset_key.clone(),
        )?;
        let h = ConnectionHandle(self.next_handle);
        self.next_handle += 1;
        self.add_route(conn.initial_scid(), h);
        Ok((h, conn))
    }

    /// Decides what to do with a datagram from `remote`.
    pub fn handle(&mut self, now: Instant, remote: SocketAddr, data: &[u8]) -> DatagramEvent {
        let header = match PartialHeader::parse(data, LOCAL_CID_LEN) {
            Ok(h) => h,
            Err(_) => return DatagramEvent::Drop,
        };
        if let Some(&h) = self.routes.get(&header.dcid) {
            return DatagramEvent::Route(h);
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
                let mut b = [0u8; 1];
                rand::thread_rng().fill_bytes(&mut b);
                DatagramEvent::Respond(packet::version_negotiation(
                    d,
                    s,
                    b[0],
                    &[packet::VERSION_1],
                ))
            }
            HeaderKind::Long {
                ty: LongType::Initial,
                scid,
                ..
            } => {
                // RFC 9000 §14.1: drop Initials in small datagrams; §7.2:
                // the client's DCID must be at least 8 bytes.
                if data.len() < MIN_INITIAL_SIZE
                    || header.dcid.len() < 8
                    || self.refuse_new
                    || self.cids_of.len() >= server.max_connections
                {
                    return DatagramEvent::Drop;
                }
                // Only a packet that decrypts with the Initial keys creates
                // state: junk shaped like an Initial costs one decryption.
                if !initial_decrypts(data, &header) {
                    return DatagramEvent::Drop;
                }
                let our_cid = ConnectionId::random(&mut rand::thread_rng(), LOCAL_CID_LEN);
                let conn = match Connection::server(
                    server.transport.clone(),
                    server.crypto.clone(),
                    now,
                    remote,
                    our_cid,
                    header.dcid,
                    scid,
                    self.reset_key.clone(),
                ) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot accept connection");
                        return DatagramEvent::Drop;
                    }
                };
                let h = ConnectionHandle(self.next_handle);
                self.next_handle += 1;
                self.add_route(header.dcid, h);
                self.add_route(our_cid, h);
                DatagramEvent::NewConnection(h, Box::new(conn))
            }
            _ => DatagramEvent::Drop,
        }
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
            EndpointEvent::Drained => self.forget(h),
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
    }
}

/// True when the first packet of `data` is an Initial that the server's
/// Initial keys for its DCID authenticate (RFC 9001 §5.2).
fn initial_decrypts(data: &[u8], header: &PartialHeader) -> bool {
    let keys = crypto::initial_keys(&header.dcid, super::Side::Server);
    let mut packet = data[..header.len].to_vec();
    let Some((pn_len, pn)) = crypto::remove_header_protection(
        &mut packet,
        header.pn_offset,
        None,
        keys.remote.header.as_ref(),
    ) else {
        return false;
    };
    crypto::open_payload(
        &mut packet,
        header.pn_offset + pn_len,
        pn,
        keys.remote.packet.as_ref(),
    )
    .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::packet::PartialHeader;

    fn server() -> Endpoint {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()),
        );
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        Endpoint::new(Some(ServerConfig::with_crypto(Arc::new(tls))))
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
                assert_eq!(versions, vec![packet::VERSION_1]);
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
}
