//! Session resumption and 0-RTT against quinn, in both directions, and
//! between our own endpoints, over real UDP on 127.0.0.1.

use crate::common::within;
use actix_quic::VarInt;
use actix_quic::{ClientConfig, Connection, Endpoint, ServerConfig};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use std::net::SocketAddr;
use std::sync::Arc;

const ALPN: &[u8] = b"interop";

/// TLS settings with early data on: stateful tickets and
/// `max_early_data_size` of `u32::MAX` (RFC 9001 §4.6.1).
fn tls_with_early_data() -> (rustls::ServerConfig, rustls::ClientConfig) {
    let (mut server, cert) = crate::common::server_crypto(&[ALPN]);
    server.max_early_data_size = u32::MAX;
    let mut client = crate::common::client_crypto(&cert, &[ALPN]);
    client.enable_early_data = true;
    (server, client)
}

/// Answers `request` with its reverse on a bidirectional stream of ours.
async fn ask(conn: &Connection, request: &[u8]) -> Vec<u8> {
    let (mut s, mut r) = conn.open_bi().await.unwrap();
    s.write_all(request).await.unwrap();
    s.finish().unwrap();
    within(10, r.read_to_end(1 << 16)).await.unwrap()
}

fn reversed(v: &[u8]) -> Vec<u8> {
    v.iter().rev().copied().collect()
}

/// A quinn server answering every bidirectional stream with the reverse
/// of what it read, using 0.5-RTT when the client sent 0-RTT. Returns
/// its address.
fn quinn_reverse_server(tls: rustls::ServerConfig) -> (quinn::Endpoint, SocketAddr) {
    let cfg = quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls).unwrap()));
    let ep = quinn::Endpoint::server(cfg, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = ep.local_addr().unwrap();
    let server = ep.clone();
    tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            tokio::spawn(async move {
                let connecting = incoming.accept().unwrap();
                let conn = match connecting.into_0rtt() {
                    Ok((c, _)) => c,
                    Err(connecting) => connecting.await.unwrap(),
                };
                while let Ok((mut s, mut r)) = conn.accept_bi().await {
                    let data = r.read_to_end(1 << 16).await.unwrap();
                    s.write_all(&reversed(&data)).await.unwrap();
                    s.finish().unwrap();
                }
            });
        }
    });
    (ep, addr)
}

/// Our server answering every bidirectional stream with the reverse of
/// what it read; with `early`, it uses each connection before its
/// handshake completes (0.5-RTT).
fn our_reverse_server(tls: rustls::ServerConfig, early: bool) -> (Endpoint, SocketAddr) {
    let server = Endpoint::server(
        ServerConfig::with_crypto(Arc::new(tls)).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let addr = server.local_addr().unwrap();
    let srv = server.clone();
    actix::spawn(async move {
        while let Some(incoming) = srv.accept().await {
            actix::spawn(async move {
                let connecting = incoming.accept().unwrap();
                let conn = if early {
                    connecting.into_0rtt().expect("servers always can").0
                } else {
                    match connecting.await {
                        Ok(c) => c,
                        Err(_) => return,
                    }
                };
                while let Ok((mut s, mut r)) = conn.accept_bi().await {
                    let data = r.read_to_end(1 << 16).await.unwrap();
                    s.write_all(&reversed(&data)).await.unwrap();
                    s.finish().unwrap();
                }
            });
        }
    });
    (server, addr)
}

#[actix::test]
async fn our_client_resumes_with_0rtt_against_quinn() {
    crate::common::trace();
    let (server_tls, client_tls) = tls_with_early_data();
    let (_quinn, addr) = quinn_reverse_server(server_tls);
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(ClientConfig::new(Arc::new(client_tls)).unwrap());
    // First connection: full handshake, no 0-RTT possible; it leaves a
    // ticket.
    let first = client.connect(addr, "localhost").unwrap();
    let first = match first.into_0rtt() {
        Ok(_) => panic!("0-RTT without a ticket"),
        Err(c) => within(10, c).await.unwrap(),
    };
    assert_eq!(ask(&first, b"one").await, b"eno");
    first.close(VarInt::from_u32(0), b"");
    // Second: the request goes in 0-RTT and quinn accepts it.
    let (conn, accepted) = client
        .connect(addr, "localhost")
        .unwrap()
        .into_0rtt()
        .expect("ticket allows 0-RTT");
    // Keying material exists once the handshake completes, not before.
    let mut key = [0u8; 32];
    assert!(conn.export_keying_material(&mut key, b"x", b"").is_err());
    let answer = ask(&conn, b"early request").await;
    assert_eq!(answer, reversed(b"early request"));
    assert!(within(10, accepted).await, "quinn accepted the 0-RTT data");
    conn.export_keying_material(&mut key, b"x", b"").unwrap();
}

#[actix::test]
async fn quinn_client_resumes_with_0rtt_against_our_server() {
    crate::common::trace();
    let (server_tls, client_tls) = tls_with_early_data();
    let (_server, addr) = our_reverse_server(server_tls, true);
    let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(quinn::ClientConfig::new(Arc::new(
        QuicClientConfig::try_from(client_tls).unwrap(),
    )));
    let quinn_ask = |conn: quinn::Connection, req: &'static [u8]| async move {
        let (mut s, mut r) = conn.open_bi().await.unwrap();
        s.write_all(req).await.unwrap();
        s.finish().unwrap();
        r.read_to_end(1 << 16).await.unwrap()
    };
    let first = within(10, client.connect(addr, "localhost").unwrap())
        .await
        .unwrap();
    assert_eq!(quinn_ask(first.clone(), b"one").await, b"eno");
    first.close(0u32.into(), b"");
    let (conn, accepted) = client
        .connect(addr, "localhost")
        .unwrap()
        .into_0rtt()
        .expect("ticket allows 0-RTT");
    let answer = within(10, quinn_ask(conn, b"early request")).await;
    assert_eq!(answer, reversed(b"early request"));
    assert!(within(10, accepted).await, "we accepted quinn's 0-RTT data");
}

#[actix::test]
async fn between_our_endpoints_and_rejected_when_the_server_says_no() {
    crate::common::trace();
    let (server_tls, client_tls) = tls_with_early_data();
    let no_early = {
        let mut t = server_tls.clone();
        t.max_early_data_size = 0;
        t
    };
    let (server, addr) = our_reverse_server(server_tls, false);
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(ClientConfig::new(Arc::new(client_tls)).unwrap());
    let first = within(10, client.connect(addr, "localhost").unwrap())
        .await
        .unwrap();
    assert_eq!(ask(&first, b"one").await, b"eno");
    let (conn, accepted) = client
        .connect(addr, "localhost")
        .unwrap()
        .into_0rtt()
        .expect("0-RTT");
    assert_eq!(ask(&conn, b"two").await, b"owt");
    assert!(within(10, accepted).await);
    // The server stops taking early data: the client's 0-RTT request is
    // rejected and sent again in 1-RTT, transparently.
    server.set_server_config(Some(ServerConfig::with_crypto(Arc::new(no_early)).unwrap()));
    let (conn, accepted) = client
        .connect(addr, "localhost")
        .unwrap()
        .into_0rtt()
        .expect("the client still has a ticket");
    assert_eq!(ask(&conn, b"three").await, b"eerht");
    assert!(!within(10, accepted).await, "rejected");
}
