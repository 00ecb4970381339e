//! Retry, NEW_TOKEN and stateless reset over real UDP: our client and
//! quinn's against our server with address validation on, and our client
//! reset by a quinn server that lost its state. A small relay between
//! them reads the clear-text long headers to count Retry packets and see
//! which client Initials carry a token, and can switch servers.

use crate::common::within;
use actix_quic::VarInt;
use actix_quic::{ClientConfig, Endpoint, ServerConfig, TokenStore};
use quinn::crypto::rustls::QuicClientConfig;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;

pub(crate) const ALPN: &[u8] = b"retry";

/// What the relay saw.
#[derive(Debug, Default, Clone)]
pub(crate) struct Seen {
    /// Retry packets from the server.
    retries: usize,
    /// For each client Initial, the length of its token.
    initial_tokens: Vec<usize>,
}

/// Reads a QUIC varint.
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let first = *b.first()?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(..len)?;
    let mut v = u64::from(first & 0x3f);
    for x in &bytes[1..] {
        v = (v << 8) | u64::from(*x);
    }
    Some((v, len))
}

/// The long packet type (0 Initial .. 3 Retry) of a v1 long header and,
/// for an Initial, its token length.
fn long_header(d: &[u8]) -> Option<(u8, usize)> {
    if d.first()? & 0x80 == 0 || d.get(1..5)? != [0, 0, 0, 1] {
        return None;
    }
    let ty = (d[0] >> 4) & 0x03;
    let mut at = 5;
    for _ in 0..2 {
        at += 1 + usize::from(*d.get(at)?);
    }
    if ty != 0 {
        return Some((ty, 0));
    }
    let (len, _) = varint(d.get(at..)?)?;
    Some((ty, len as usize))
}

/// A UDP relay on 127.0.0.1 in front of `server`, for one client.
async fn relay(server: SocketAddr) -> (SocketAddr, Arc<Mutex<Seen>>) {
    let (addr, seen, _) = switchable_relay(server).await;
    (addr, seen)
}

/// A relay whose server address can be changed while it runs.
pub(crate) async fn switchable_relay(
    server: SocketAddr,
) -> (SocketAddr, Arc<Mutex<Seen>>, Arc<Mutex<SocketAddr>>) {
    let front = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let back = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = Arc::new(Mutex::new(server));
    let to = target.clone();
    let addr = front.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    tokio::spawn(async move {
        let mut client = None;
        let mut a = vec![0u8; 65536];
        let mut b = vec![0u8; 65536];
        loop {
            tokio::select! {
                r = front.recv_from(&mut a) => {
                    let Ok((n, from)) = r else { return };
                    client = Some(from);
                    if let Some((0, token)) = long_header(&a[..n]) {
                        s.lock().unwrap().initial_tokens.push(token);
                    }
                    let server = *to.lock().unwrap();
                    let _ = back.send_to(&a[..n], server).await;
                }
                r = back.recv_from(&mut b) => {
                    let Ok((n, _)) = r else { return };
                    if let Some((3, _)) = long_header(&b[..n]) {
                        s.lock().unwrap().retries += 1;
                    }
                    if let Some(c) = client {
                        let _ = front.send_to(&b[..n], c).await;
                    }
                }
            }
        }
    });
    (addr, seen, target)
}

/// Our server with Retry on, echoing every bidirectional stream of every
/// connection.
fn retry_server() -> (
    Endpoint,
    SocketAddr,
    rustls::pki_types::CertificateDer<'static>,
) {
    let (crypto, cert) = crate::common::server_crypto(&[ALPN]);
    let mut cfg = ServerConfig::with_crypto(Arc::new(crypto)).unwrap();
    cfg.retry(true);
    let ep = Endpoint::server(cfg, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = ep.local_addr().unwrap();
    let server = ep.clone();
    actix::spawn(async move {
        while let Some(connecting) = server.accept().await {
            actix::spawn(async move {
                let Ok(conn) = connecting.await else { return };
                while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                    let data = recv.read_to_end(1 << 20).await.unwrap();
                    send.write_all(&data).await.unwrap();
                    send.finish().unwrap();
                }
            });
        }
    });
    (ep, addr, cert)
}

#[actix::test]
async fn our_client_through_retry_then_with_new_token() {
    crate::common::trace();
    let (_server, server_addr, cert) = retry_server();
    let (addr, seen) = relay(server_addr).await;
    let mut cfg =
        ClientConfig::new(Arc::new(crate::common::client_crypto(&cert, &[ALPN]))).unwrap();
    let store = Arc::new(TokenStore::default());
    cfg.token_store(Some(store.clone()));
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(cfg);

    for round in 0..2 {
        let conn = within(10, client.connect(addr, "localhost").unwrap())
            .await
            .unwrap();
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        let msg = format!("hello through Retry, round {round}");
        send.write_all(msg.as_bytes()).await.unwrap();
        send.finish().unwrap();
        let echo = within(10, recv.read_to_end(1024)).await.unwrap();
        assert_eq!(echo, msg.as_bytes());
        // The server's NEW_TOKEN came with its first 1-RTT flight, before
        // the echo.
        assert_eq!(store.len(), 1, "round {round}");
        conn.close(VarInt::from_u32(0), b"done");
        let s = seen.lock().unwrap().clone();
        // One Retry in all: the second connection's first Initial carries
        // the NEW_TOKEN token and is accepted at once.
        assert_eq!(s.retries, 1, "{s:?}");
        if round == 0 {
            assert_eq!(s.initial_tokens[0], 0, "{s:?}");
            assert!(s.initial_tokens[1..].iter().all(|&t| t > 0), "{s:?}");
        } else {
            assert!(s.initial_tokens.iter().skip(1).all(|&t| t > 0), "{s:?}");
        }
    }
}

#[actix::test]
async fn quinn_client_against_our_retry_server() {
    crate::common::trace();
    let (_server, server_addr, cert) = retry_server();
    let (addr, seen) = relay(server_addr).await;
    let crypto = crate::common::client_crypto(&cert, &[ALPN]);
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(
        QuicClientConfig::try_from(crypto).unwrap(),
    )));
    let conn = within(10, ep.connect(addr, "localhost").unwrap())
        .await
        .unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(b"quinn was here").await.unwrap();
    send.finish().unwrap();
    let echo = within(10, recv.read_to_end(1024)).await.unwrap();
    assert_eq!(echo, b"quinn was here");
    conn.close(0u32.into(), b"done");
    let s = seen.lock().unwrap().clone();
    // quinn checked our Retry's integrity tag and the connection IDs in
    // our transport parameters (RFC 9000 §7.3), or it would have failed.
    assert_eq!(s.retries, 1, "{s:?}");
    assert_eq!(s.initial_tokens[0], 0, "{s:?}");
    assert!(s.initial_tokens[1] > 0, "{s:?}");
    ep.wait_idle().await;
}
