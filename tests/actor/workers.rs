//! A server endpoint of several workers (threads with a socket each on
//! one address, `EndpointConfig::workers`) over real UDP on 127.0.0.1:
//! `accept()` yields every worker's connections, a client that moves to
//! an address the kernel hashes to another worker keeps its connection,
//! and the endpoint's limits and tokens hold across workers.

use crate::common::within;
use actix_quic::{ClientConfig, Connection, Endpoint, EndpointConfig, ServerConfig, TokenStore};
use std::net::SocketAddr;
use std::sync::Arc;

/// A server endpoint of `workers` workers whose accepted connections
/// echo every unidirectional stream back on a new one, and the client
/// configuration trusting it.
fn echo_server(
    workers: usize,
    set: impl FnOnce(&mut ServerConfig),
) -> (Endpoint, ClientConfig, SocketAddr) {
    let (client_cfg, mut server_cfg) = crate::common::configs();
    set(&mut server_cfg);
    let server = Endpoint::new(
        EndpointConfig::new().workers(workers),
        Some(server_cfg),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    assert_eq!(server.workers(), workers);
    let addr = server.local_addr().unwrap();
    let accepting = server.clone();
    actix::spawn(async move {
        while let Some(incoming) = accepting.accept().await {
            actix::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                while let Ok(mut r) = conn.accept_uni().await {
                    let data = r.read_to_end(1 << 20).await.unwrap();
                    let mut s = conn.open_uni().await.unwrap();
                    s.write_all(&data).await.unwrap();
                    s.finish().unwrap();
                }
            });
        }
    });
    (server, client_cfg, addr)
}

/// A client endpoint of its own (so its own port) connected to `addr`.
async fn client(cfg: &ClientConfig, addr: SocketAddr) -> (Endpoint, Connection) {
    let ep = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(cfg.clone());
    let conn = within(10, ep.connect(addr, "localhost").unwrap())
        .await
        .unwrap();
    (ep, conn)
}

/// Sends `msg` and reads the server's echo.
async fn echo(conn: &Connection, msg: &[u8]) -> Vec<u8> {
    let mut s = conn.open_uni().await.unwrap();
    s.write_all(msg).await.unwrap();
    s.finish().unwrap();
    let mut r = within(10, conn.accept_uni()).await.unwrap();
    within(10, r.read_to_end(1 << 20)).await.unwrap()
}

/// Clients from new ports until every worker holds a connection (the
/// kernel hashes addresses to workers; 64 clients all on one of two
/// workers would take odds of 2^-63). Every client's echo works.
#[actix::test]
async fn accept_yields_the_connections_of_every_worker() {
    crate::common::trace();
    let (server, cfg, addr) = echo_server(2, |_| {});
    let mut clients = Vec::new();
    while server.open_connections_per_worker_for_test().contains(&0) {
        assert!(
            clients.len() < 64,
            "{:?}",
            server.open_connections_per_worker_for_test()
        );
        let (ep, conn) = client(&cfg, addr).await;
        let msg = format!("client {}", clients.len());
        assert_eq!(echo(&conn, msg.as_bytes()).await, msg.as_bytes());
        clients.push((ep, conn));
    }
    assert_eq!(server.open_connections(), clients.len());
    assert_eq!(server.stats().accepted_handshakes, clients.len() as u64);
    // Closing the endpoint closes the connections of every worker.
    server.close(0u32.into(), b"bye");
    within(10, server.wait_idle()).await;
    for (_, conn) in &clients {
        within(10, conn.closed()).await;
    }
    assert_eq!(server.open_connections(), 0);
}

/// A client that keeps moving lands, sooner or later, on an address the
/// kernel hashes to the other worker: its datagrams are passed to the
/// worker that holds its connection, which goes on.
#[actix::test]
async fn a_client_that_moves_is_followed_across_workers() {
    crate::common::trace();
    let (server, cfg, addr) = echo_server(2, |_| {});
    let (ep, conn) = client(&cfg, addr).await;
    assert_eq!(echo(&conn, b"first").await, b"first");
    let mut moves = 0;
    while server.stats().forwarded_datagrams == 0 {
        assert!(moves < 40, "40 new ports, all on one worker");
        ep.rebind(std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .unwrap();
        crate::common::rebind_settled(&ep, &conn).await;
        moves += 1;
        let msg = format!("after move {moves}");
        assert_eq!(echo(&conn, msg.as_bytes()).await, msg.as_bytes());
    }
    // And it keeps working from there.
    assert_eq!(echo(&conn, b"last").await, b"last");
    assert_eq!(server.open_connections(), 1);
    assert!(conn.close_reason().is_none());
}

/// `max_connections` counts the connections of every worker: with room
/// for 3, of 8 clients from 8 ports 3 connect and 5 are refused.
#[actix::test]
async fn max_connections_holds_across_workers() {
    crate::common::trace();
    let (server, cfg, addr) = echo_server(2, |s| {
        s.max_connections(3);
    });
    let mut connected = Vec::new();
    let mut refused = 0;
    for _ in 0..8 {
        let ep = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        ep.set_default_client_config(cfg.clone());
        match within(10, ep.connect(addr, "localhost").unwrap()).await {
            Ok(conn) => {
                assert_eq!(echo(&conn, b"in").await, b"in");
                connected.push((ep, conn));
            }
            Err(_) => refused += 1,
        }
    }
    assert_eq!((connected.len(), refused), (3, 5));
    assert_eq!(server.open_connections(), 3);
}

/// The workers share the token key: each client comes back with the
/// NEW_TOKEN token of the previous connection, whichever worker issued
/// it, and only the first one needs a Retry.
#[actix::test]
async fn tokens_of_one_worker_are_taken_by_the_others() {
    crate::common::trace();
    let (server, mut cfg, addr) = echo_server(2, |s| {
        s.retry(true);
    });
    let tokens = Arc::new(TokenStore::default());
    cfg.token_store(Some(tokens.clone()));
    let mut clients = Vec::new();
    while server.open_connections_per_worker_for_test().contains(&0) {
        assert!(clients.len() < 64);
        let (ep, conn) = client(&cfg, addr).await;
        // The NEW_TOKEN came in the server's first 1-RTT flight, before
        // the echo.
        assert_eq!(echo(&conn, b"token?").await, b"token?");
        assert_eq!(tokens.len(), 1);
        clients.push((ep, conn));
    }
    assert!(clients.len() >= 2);
    assert_eq!(server.stats().retried_handshakes, 1);
}

/// A server of two workers that lost its state (another endpoint with
/// the same reset key and the same QUIC-LB IDs stands in for it, behind
/// the same relay) resets the client's connection: the worker the kernel
/// hands the client's packet to reads which worker the ID names and
/// passes it on, and that one, knowing no such ID, answers with the
/// stateless reset that the shared key derives (RFC 9000 §10.3).
#[actix::test]
async fn a_server_of_two_workers_that_lost_its_state_resets_the_client() {
    crate::common::trace();
    let (client_cfg, server_cfg) = crate::common::configs();
    let lb = actix_quic::QuicLbConfig::new(0, 1, 6, Some([3; 16])).unwrap();
    let server = || {
        let ids = actix_quic::QuicLbCids::new(lb.clone(), &[1]).unwrap();
        Endpoint::new(
            EndpointConfig::with_reset_key(&[0x42; 32])
                .cid_generator(Arc::new(ids))
                .workers(2),
            Some(server_cfg.clone()),
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap()
    };
    let (a, b) = (server(), server());
    let (addr, _seen, target) = crate::retry::switchable_relay(a.local_addr().unwrap()).await;
    let accepting = a.clone();
    actix::spawn(async move {
        let conn = accepting.accept().await.unwrap().await.unwrap();
        let mut r = conn.accept_uni().await.unwrap();
        let _ = r.read_to_end(64).await;
        // Keep the connection, silently.
        std::future::pending::<()>().await;
    });
    let (_ep, conn) = client(&client_cfg, addr).await;
    let mut s = conn.open_uni().await.unwrap();
    s.write_all(b"hello").await.unwrap();
    s.finish().unwrap();
    within(10, s.stopped()).await.unwrap();

    *target.lock().unwrap() = b.local_addr().unwrap();
    let mut s = conn.open_uni().await.unwrap();
    s.write_all(&[7u8; 1000]).await.unwrap();
    assert_eq!(
        within(10, conn.closed()).await,
        actix_quic::ConnectionError::Reset
    );
    assert_eq!(b.stats().accepted_handshakes, 0);
}

/// Tells of every attempt a policy sees, and lets it wait for `accept()`.
struct Seen(tokio::sync::mpsc::UnboundedSender<()>);

impl actix::Actor for Seen {
    type Context = actix::Context<Self>;
}

impl actix::Handler<actix_quic::messages::NewIncoming> for Seen {
    type Result = actix_quic::messages::IncomingDecision;
    fn handle(
        &mut self,
        _: actix_quic::messages::NewIncoming,
        _: &mut actix::Context<Self>,
    ) -> Self::Result {
        let _ = self.0.send(());
        actix_quic::messages::IncomingDecision::Accept
    }
}

/// `max_incoming` counts the attempts of every worker: with room for 3
/// and nobody calling `accept()`, of 6 clients from 6 ports (one after
/// the other, each refused or seen waiting before the next) 3 wait and 3
/// are refused; the 3 that waited are then accepted, whichever worker
/// holds them.
#[actix::test]
async fn max_incoming_holds_across_workers() {
    use actix::Actor;
    crate::common::trace();
    let (client_cfg, mut server_cfg) = crate::common::configs();
    server_cfg.max_incoming(3);
    let server = Endpoint::new(
        EndpointConfig::new().workers(2),
        Some(server_cfg),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    server.set_incoming_policy(Some(Seen(seen_tx).start().recipient()));
    let addr = server.local_addr().unwrap();
    let mut waiting = Vec::new();
    let mut refused = 0;
    for _ in 0..6 {
        let ep = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        ep.set_default_client_config(client_cfg.clone());
        let mut connecting = Box::pin(std::future::IntoFuture::into_future(
            ep.connect(addr, "localhost").unwrap(),
        ));
        tokio::select! {
            r = &mut connecting => {
                assert!(r.is_err(), "nobody accepted yet");
                refused += 1;
            }
            _ = seen.recv() => waiting.push((ep, connecting)),
        }
    }
    assert_eq!((waiting.len(), refused), (3, 3));
    assert_eq!(server.stats().refused_handshakes, 3);
    for _ in 0..3 {
        let incoming = within(10, server.accept()).await.unwrap();
        actix::spawn(async move {
            let _ = incoming.await;
        });
    }
    for (_ep, connecting) in waiting {
        within(10, connecting).await.unwrap();
    }
}
