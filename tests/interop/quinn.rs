//! Interop with quinn over real UDP on 127.0.0.1, in both directions.

use crate::common::within;
use actix_quic::VarInt;
use actix_quic::{ClientConfig, ConnectionError, Endpoint, ServerConfig};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use std::net::SocketAddr;
use std::sync::Arc;

const ALPN: &[u8] = b"interop";
const TEN_MIB: usize = 10 * 1024 * 1024;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn quinn_server() -> (quinn::Endpoint, rustls::pki_types::CertificateDer<'static>) {
    let (crypto, cert) = crate::common::server_crypto(&[ALPN]);
    let cfg =
        quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(crypto).unwrap()));
    let ep = quinn::Endpoint::server(cfg, "127.0.0.1:0".parse().unwrap()).unwrap();
    (ep, cert)
}

fn our_server() -> (
    Endpoint,
    SocketAddr,
    rustls::pki_types::CertificateDer<'static>,
) {
    let (crypto, cert) = crate::common::server_crypto(&[ALPN]);
    let ep = Endpoint::server(
        ServerConfig::with_crypto(Arc::new(crypto)).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let addr = ep.local_addr().unwrap();
    (ep, addr, cert)
}

fn quinn_client(cert: &rustls::pki_types::CertificateDer<'static>) -> quinn::Endpoint {
    let crypto = crate::common::client_crypto(cert, &[ALPN]);
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(
        QuicClientConfig::try_from(crypto).unwrap(),
    )));
    ep
}

fn our_client(cert: &rustls::pki_types::CertificateDer<'static>) -> Endpoint {
    let ep = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(
        ClientConfig::new(Arc::new(crate::common::client_crypto(cert, &[ALPN]))).unwrap(),
    );
    ep
}

/// ECN over loopback with quinn (RFC 9000 §13.4): quinn read our ECT(0)
/// marks and reported them (our validation passed), and it kept marking
/// its own packets through a 10 MiB transfer, which it does only while
/// our ACK frames report its marks correctly (a failed validation stops
/// its marking after the first ACK).
fn assert_ecn_both_ways(conn: &actix_quic::Connection) {
    let e = conn.stats().ecn;
    assert_eq!(e.state, actix_quic::EcnState::Capable, "{e:?}");
    assert!(e.peer_ect0 > 1000, "quinn reported {e:?}");
    assert!(e.received_ect0 > 1000, "quinn marked {e:?}");
}

#[actix::test]
async fn our_client_against_quinn_server() {
    crate::common::trace();
    let (server, cert) = quinn_server();
    let addr = server.local_addr().unwrap();
    let srv = tokio::spawn(async move {
        let conn = server.accept().await.unwrap().await.unwrap();
        // Echo one bidi stream.
        let (mut send, mut recv) = conn.accept_bi().await.unwrap();
        let data = recv.read_to_end(TEN_MIB + 1).await.unwrap();
        send.write_all(&data).await.unwrap();
        send.finish().unwrap();
        // Count 50 uni streams.
        let mut total = 0;
        for i in 0..50u32 {
            let mut r = conn.accept_uni().await.unwrap();
            let d = r.read_to_end(1024).await.unwrap();
            assert_eq!(d, format!("uni {i}").into_bytes());
            total += 1;
        }
        let mut done = conn.open_uni().await.unwrap();
        done.write_all(b"got 50").await.unwrap();
        done.finish().unwrap();
        let reason = conn.closed().await;
        (total, reason)
    });

    let client = our_client(&cert);
    let conn = within(10, client.connect(addr, "localhost").unwrap())
        .await
        .unwrap();
    assert_eq!(
        conn.handshake_data().unwrap().protocol.as_deref(),
        Some(ALPN)
    );
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let data = pattern(TEN_MIB);
    let writer = {
        let data = data.clone();
        actix::spawn(async move {
            send.write_all(&data).await.unwrap();
            send.finish().unwrap();
        })
    };
    let echoed = within(60, recv.read_to_end(TEN_MIB + 1)).await.unwrap();
    writer.await.unwrap();
    assert_eq!(echoed.len(), data.len());
    assert!(echoed == data, "echo differs");
    for i in 0..50u32 {
        let mut s = conn.open_uni().await.unwrap();
        s.write_all(format!("uni {i}").as_bytes()).await.unwrap();
        s.finish().unwrap();
    }
    // Close only once the server confirmed it read all 50.
    let mut done = within(10, conn.accept_uni()).await.unwrap();
    assert_eq!(within(10, done.read_to_end(64)).await.unwrap(), b"got 50");
    assert_ecn_both_ways(&conn);
    conn.close(VarInt::from_u32(0x42), b"bye quinn");
    let (total, reason) = within(20, srv).await.unwrap();
    assert_eq!(total, 50);
    match reason {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(u64::from(c.error_code), 0x42);
            assert_eq!(&c.reason[..], b"bye quinn");
        }
        e => panic!("quinn saw {e:?}"),
    }
}

#[actix::test]
async fn quinn_client_against_our_server() {
    crate::common::trace();
    let (server, addr, cert) = our_server();
    let srv = actix::spawn(async move {
        let conn = server.accept().await.unwrap().await.unwrap();
        assert_eq!(
            conn.handshake_data().unwrap().protocol.as_deref(),
            Some(ALPN)
        );
        let (mut send, mut recv) = conn.accept_bi().await.unwrap();
        let data = recv.read_to_end(TEN_MIB + 1).await.unwrap();
        send.write_all(&data).await.unwrap();
        send.finish().unwrap();
        let mut total = 0;
        for i in 0..50u32 {
            let mut r = conn.accept_uni().await.unwrap();
            let d = r.read_to_end(1024).await.unwrap();
            assert_eq!(d, format!("uni {i}").into_bytes());
            total += 1;
        }
        let mut done = conn.open_uni().await.unwrap();
        done.write_all(b"got 50").await.unwrap();
        done.finish().unwrap();
        assert_ecn_both_ways(&conn);
        let reason = conn.closed().await;
        (total, reason)
    });

    let client = quinn_client(&cert);
    let conn = within(10, client.connect(addr, "localhost").unwrap())
        .await
        .unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let data = pattern(TEN_MIB);
    let writer = {
        let data = data.clone();
        tokio::spawn(async move {
            send.write_all(&data).await.unwrap();
            send.finish().unwrap();
        })
    };
    let echoed = within(60, recv.read_to_end(TEN_MIB + 1)).await.unwrap();
    writer.await.unwrap();
    assert!(echoed == data, "echo differs");
    for i in 0..50u32 {
        let mut s = conn.open_uni().await.unwrap();
        s.write_all(format!("uni {i}").as_bytes()).await.unwrap();
        s.finish().unwrap();
    }
    let mut done = within(10, conn.accept_uni()).await.unwrap();
    assert_eq!(within(10, done.read_to_end(64)).await.unwrap(), b"got 50");
    conn.close(0x43u32.into(), b"bye actix");
    let (total, reason) = within(20, srv).await.unwrap();
    assert_eq!(total, 50);
    match reason {
        ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code, VarInt::from_u32(0x43));
            assert_eq!(&c.reason[..], b"bye actix");
        }
        e => panic!("we saw {e:?}"),
    }
}
