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
