//! Two server endpoints behind a load balancer that routes by QUIC-LB
//! connection ID (draft-ietf-quic-load-balancers §4.2), over real UDP on
//! 127.0.0.1: a client that moves to an address the balancer would hash
//! to the other server stays on its own, because the connection IDs its
//! server issued name that server; a new client lands where the hash
//! sends it. With plaintext and with encrypted IDs.

use crate::common::{pattern, rebind_settled, within};
use actix_quic::{
    ClientConfig, Connection, Endpoint, EndpointConfig, QuicLbCids, QuicLbConfig, TokenKey,
    TokenStore,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket as StdSocket};
use std::rc::Rc;
use std::sync::Arc;
use tokio::net::UdpSocket;

/// How the balancer chose a backend for one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    /// The destination CID decoded to a known server ID.
    Cid,
    /// The CID was unroutable (a client's first Initial): 4-tuple hash.
    Hash,
}

/// One datagram the balancer forwarded: from which client address, to
/// which backend, and how it chose.
type Routed = (SocketAddr, usize, By);

/// A load balancer in front of `backends` (server ID, address): one
/// front address for clients, one upstream socket per client address so
/// that answers find their way back.
struct Balancer {
    front: SocketAddr,
    log: Rc<RefCell<Vec<Routed>>>,
}

/// The 4-tuple hash of the fallback (draft §4.3): the client's port
/// parity, so that tests can pick addresses on either side.
fn hash(from: SocketAddr, backends: usize) -> usize {
    usize::from(from.port()) % backends
}

impl Balancer {
    async fn start(config: QuicLbConfig, backends: Vec<(Vec<u8>, SocketAddr)>) -> Self {
        let front = Rc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let log = Rc::new(RefCell::new(Vec::new()));
        let this = Self {
            front: front.local_addr().unwrap(),
            log: log.clone(),
        };
        actix::spawn(async move {
            let mut upstream: HashMap<SocketAddr, Rc<UdpSocket>> = HashMap::new();
            let mut buf = vec![0u8; 65536];
            loop {
                let Ok((n, from)) = front.recv_from(&mut buf).await else {
                    return;
                };
                let data = &buf[..n];
                let (to, by) = route(&config, &backends, data, from);
                log.borrow_mut().push((from, to, by));
                let up = upstream.entry(from).or_insert_with(|| {
                    let s = StdSocket::bind("127.0.0.1:0").unwrap();
                    s.set_nonblocking(true).unwrap();
                    let s = Rc::new(UdpSocket::from_std(s).unwrap());
                    let (back, front) = (s.clone(), front.clone());
                    actix::spawn(async move {
                        let mut buf = vec![0u8; 65536];
                        while let Ok((n, _)) = back.recv_from(&mut buf).await {
                            let _ = front.send_to(&buf[..n], from).await;
                        }
                    });
                    s
                });
                let _ = up.send_to(data, backends[to].1).await;
            }
        });
        this
    }

    /// What was forwarded from `from`.
    fn from(&self, from: SocketAddr) -> Vec<(usize, By)> {
        self.log
            .borrow()
            .iter()
            .filter(|r| r.0 == from)
            .map(|r| (r.1, r.2))
            .collect()
    }
}

/// The backend for `data` from `from`: by the server ID its destination
/// CID carries when that names a backend (draft §4.2 step 1), else by
/// hash.
fn route(
    config: &QuicLbConfig,
    backends: &[(Vec<u8>, SocketAddr)],
    data: &[u8],
    from: SocketAddr,
) -> (usize, By) {
    let dcid = match data.first() {
        Some(b) if b & 0x80 != 0 && data.len() > 6 => {
            let len = usize::from(data[5]);
            data.get(6..6 + len)
        }
        Some(_) => data.get(1..1 + config.cid_len()),
        None => None,
    };
    dcid.and_then(|d| config.decode(d))
        .and_then(|sid| backends.iter().position(|b| b.0[..] == sid[..]))
        .map_or((hash(from, backends.len()), By::Hash), |i| (i, By::Cid))
}

/// A socket on 127.0.0.1 that the balancer hashes to `backend`.
fn socket_hashing_to(backend: usize, backends: usize) -> StdSocket {
    loop {
        let s = StdSocket::bind("127.0.0.1:0").unwrap();
        if hash(s.local_addr().unwrap(), backends) == backend {
            return s;
        }
    }
}

/// Two servers with the fleet's shared secrets, each issuing IDs with
/// its own server ID, behind a balancer.
struct Fleet {
    servers: Vec<Endpoint>,
    balancer: Balancer,
    client_cfg: ClientConfig,
    /// The clients' NEW_TOKEN tokens.
    tokens: Arc<TokenStore>,
}

async fn fleet(key: Option<[u8; 16]>, retry: bool) -> Fleet {
    let config = QuicLbConfig::new(1, 3, 6, key).unwrap();
    let (mut client_cfg, mut server_cfg) = crate::common::configs();
    server_cfg
        .token_key(Arc::new(TokenKey::new(&[5; 32])))
        .retry(retry);
    let tokens = Arc::new(TokenStore::default());
    client_cfg.token_store(Some(tokens.clone()));
    let mut servers = Vec::new();
    let mut backends = Vec::new();
    for sid in [[0x11, 0x22, 0x33], [0x44, 0x55, 0x66]] {
        let server_cfg = server_cfg.clone();
        let ids = QuicLbCids::new(config.clone(), &sid).unwrap();
        let endpoint_cfg = EndpointConfig::with_reset_key(&[9; 32]).cid_generator(Arc::new(ids));
        let server = Endpoint::new(
            endpoint_cfg,
            Some(server_cfg),
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        backends.push((sid.to_vec(), server.local_addr().unwrap()));
        servers.push(server);
    }
    let balancer = Balancer::start(config, backends).await;
    Fleet {
        servers,
        balancer,
        client_cfg,
        tokens,
    }
}

/// A client endpoint whose address the balancer hashes to `backend`,
/// connected through the balancer; the server's side is accepted from
/// `servers[backend]`.
async fn client_on(fleet: &Fleet, backend: usize) -> (Endpoint, Connection, Connection) {
    let (servers, balancer) = (&fleet.servers, &fleet.balancer);
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(fleet.client_cfg.clone());
    client
        .rebind(socket_hashing_to(backend, servers.len()))
        .unwrap();
    let (c, s) = crate::common::connect(&servers[backend], &client, balancer.front).await;
    (client, c, s)
}

async fn migrating_client_stays_on_its_server(key: Option<[u8; 16]>) {
    crate::common::trace();
    let fleet = fleet(key, false).await;
    let (servers, balancer) = (&fleet.servers, &fleet.balancer);
    let (client, c, s) = client_on(&fleet, 0).await;
    let first = client.local_addr().unwrap();
    const LEN: usize = 2 << 20;
    let data = pattern(3, LEN);
    let sent = data.clone();
    let server_side = actix::spawn(async move {
        let mut st = s.open_uni().await.unwrap();
        st.write_all(&sent).await.unwrap();
        st.finish().unwrap();
        s
    });
    let mut r = within(10, c.accept_uni()).await.unwrap();
    let mut got = vec![0u8; 256 << 10];
    within(10, r.read_exact(&mut got)).await.unwrap();

    // Move to an address the balancer hashes to the other server.
    let moved = socket_hashing_to(1, servers.len());
    let second = moved.local_addr().unwrap();
    client.rebind(moved).unwrap();
    rebind_settled(&client, &c).await;
    let rest = within(20, r.read_to_end(LEN)).await.unwrap();
    got.extend_from_slice(&rest);
    assert!(got == data, "the whole transfer arrives intact");
    let s = within(10, server_side).await.unwrap();
    assert_eq!(s.remote_address().ip(), balancer.front.ip());
    assert_eq!(s.stats().migrations, 1, "the server followed the client");

    // Every datagram from the new address went to the first server, by
    // its CID; before the move, everything after the client's first
    // Initial was routed by CID too.
    let after = balancer.from(second);
    assert!(!after.is_empty());
    assert!(after.iter().all(|&r| r == (0, By::Cid)), "{after:?}");
    let before = balancer.from(first);
    assert_eq!(before[0], (0, By::Hash), "the first Initial is hashed");
    assert!(before.iter().all(|r| r.0 == 0), "{before:?}");
    assert!(before.iter().filter(|r| r.1 == By::Cid).count() > 10);
    assert_eq!(servers[1].stats().accepted_handshakes, 0);

    // A second client that hashes to the other server lands there.
    let (_client2, c2, s2) = client_on(&fleet, 1).await;
    let mut st = c2.open_uni().await.unwrap();
    st.write_all(b"other").await.unwrap();
    st.finish().unwrap();
    let mut r2 = within(10, s2.accept_uni()).await.unwrap();
    assert_eq!(within(10, r2.read_to_end(16)).await.unwrap(), b"other");
    assert_eq!(servers[1].stats().accepted_handshakes, 1);
    assert_eq!(servers[0].stats().accepted_handshakes, 1);
}

#[actix::test]
async fn plaintext_ids_keep_a_migrating_client_on_its_server() {
    migrating_client_stays_on_its_server(None).await;
}

#[actix::test]
async fn encrypted_ids_keep_a_migrating_client_on_its_server() {
    migrating_client_stays_on_its_server(Some([0x5a; 16])).await;
}

/// The servers share the token key: a NEW_TOKEN token one issued lets a
/// client skip the other's Retry (RFC 9000 §8.1.3). And the Retry's
/// connection ID names its server, so the client's second Initial goes
/// back to it.
#[actix::test]
async fn a_token_from_one_server_is_taken_by_the_other() {
    crate::common::trace();
    let fleet = fleet(Some([7; 16]), true).await;
    let (_client, c, s) = client_on(&fleet, 0).await;
    let mut st = s.open_uni().await.unwrap();
    st.write_all(b"hello").await.unwrap();
    st.finish().unwrap();
    let mut r = within(10, c.accept_uni()).await.unwrap();
    assert_eq!(within(10, r.read_to_end(16)).await.unwrap(), b"hello");
    assert_eq!(fleet.servers[0].stats().retried_handshakes, 1);
    assert_eq!(fleet.servers[0].stats().accepted_handshakes, 1);
    // The server's NEW_TOKEN came with its first 1-RTT flight, before
    // the stream.
    assert_eq!(fleet.tokens.len(), 1);

    let (_client2, _c2, _s2) = client_on(&fleet, 1).await;
    let other = fleet.servers[1].stats();
    assert_eq!(
        (other.retried_handshakes, other.accepted_handshakes),
        (0, 1)
    );
}
