//! `Endpoint::rebind` and `ServerConfig::migration` between our own
//! endpoints over real UDP on 127.0.0.1: `remote_address()` follows a
//! client that moves; with migration off the server ignores it.

use crate::common::{rebind_settled, within};
use actix_quic::{Connection, Endpoint};
use std::time::Duration;

/// Client and server connections, with the server's migration setting.
async fn connected_with_migration(migration: bool) -> (Endpoint, Endpoint, Connection, Connection) {
    let (client_cfg, mut server_cfg) = crate::common::configs();
    server_cfg.migration(migration);
    let server = Endpoint::server(server_cfg, "127.0.0.1:0".parse().unwrap()).unwrap();
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(client_cfg);
    let addr = server.local_addr().unwrap();
    let (c, s) = crate::common::connect(&server, &client, addr).await;
    (server, client, c, s)
}

/// Sends `msg` on a new stream from `from`; `to` reads it.
async fn message(from: &Connection, to: &Connection, msg: &[u8]) -> Vec<u8> {
    let mut s = from.open_uni().await.unwrap();
    s.write_all(msg).await.unwrap();
    s.finish().unwrap();
    let mut r = to.accept_uni().await.unwrap();
    r.read_to_end(1 << 20).await.unwrap()
}

#[actix::test]
async fn server_follows_a_rebound_client() {
    crate::common::trace();
    let (_se, ce, c, s) = connected_with_migration(true).await;
    let id = s.stable_id();
    assert_eq!(within(5, message(&c, &s, b"before")).await, b"before");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let new = socket.local_addr().unwrap();
    ce.rebind(socket).unwrap();
    assert_eq!(ce.local_addr().unwrap(), new);
    rebind_settled(&ce, &c).await;
    assert_eq!(within(5, message(&c, &s, b"after")).await, b"after");
    assert_eq!(within(5, message(&s, &c, b"back")).await, b"back");
    assert_eq!(s.remote_address(), new);
    assert_eq!(s.stats().migrations, 1);
    assert_eq!(s.stable_id(), id, "stable across address and CID changes");
}

#[actix::test]
async fn migration_off_ignores_the_new_address() {
    crate::common::trace();
    let (_se, ce, c, s) = connected_with_migration(false).await;
    let old = s.remote_address();
    assert_eq!(within(5, message(&c, &s, b"before")).await, b"before");
    ce.rebind(std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .unwrap();
    rebind_settled(&ce, &c).await;
    let mut st = c.open_uni().await.unwrap();
    st.write_all(b"lost").await.unwrap();
    st.finish().unwrap();
    // Nothing from the new address is taken.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), s.accept_uni())
            .await
            .is_err()
    );
    assert_eq!(s.remote_address(), old);
    assert_eq!(s.stats().migrations, 0);
}

/// A server bound to 0.0.0.0 learns which of its addresses each client
/// reached and answers from it: a client talking to 127.0.0.2 only
/// accepts packets from 127.0.0.2 (RFC 9000 §9), so the handshake itself
/// proves the replies' source.
#[actix::test]
async fn local_ip_on_a_wildcard_server() {
    crate::common::trace();
    let (client_cfg, server_cfg) = crate::common::configs();
    let server = Endpoint::server(server_cfg, "0.0.0.0:0".parse().unwrap()).unwrap();
    let port = server.local_addr().unwrap().port();
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(client_cfg);
    for ip in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        let to = format!("{ip}:{port}").parse().unwrap();
        let (c, s) = crate::common::connect(&server, &client, to).await;
        assert_eq!(s.local_ip(), Some(ip.parse().unwrap()));
        assert_eq!(c.local_ip(), None, "clients do not report one");
        assert_eq!(within(5, message(&c, &s, b"ping")).await, b"ping");
        assert_eq!(within(5, message(&s, &c, b"pong")).await, b"pong");
    }
}

/// The same over IPv6: a server bound to `[::]` reached at `[::1]`
/// (IPV6_RECVPKTINFO) reports and answers from `::1`.
#[actix::test]
async fn local_ip_on_an_ipv6_wildcard_server() {
    crate::common::trace();
    let (client_cfg, server_cfg) = crate::common::configs();
    let server = Endpoint::server(server_cfg, "[::]:0".parse().unwrap()).unwrap();
    let port = server.local_addr().unwrap().port();
    let client = Endpoint::client("[::1]:0".parse().unwrap()).unwrap();
    client.set_default_client_config(client_cfg);
    let to = format!("[::1]:{port}").parse().unwrap();
    let (c, s) = crate::common::connect(&server, &client, to).await;
    assert_eq!(s.local_ip(), Some("::1".parse().unwrap()));
    assert_eq!(within(5, message(&c, &s, b"v6")).await, b"v6");
}
