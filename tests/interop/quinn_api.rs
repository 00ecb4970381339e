//! The `Connection` API against quinn over real UDP on 127.0.0.1, in both
//! directions: datagrams, the TLS exporter, cipher suites.

use crate::common::within;
use actix_quic::{ClientConfig, Connection, Endpoint, ServerConfig};
use bytes::Bytes;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::crypto::ring::cipher_suite;
use rustls::CipherSuite;
use std::sync::Arc;

const ALPN: &[u8] = b"interop";

/// Client TLS trusting `cert`, offering only `suites` (all when empty).
fn client_tls(
    cert: &rustls::pki_types::CertificateDer<'static>,
    suites: &[rustls::SupportedCipherSuite],
) -> rustls::ClientConfig {
    if suites.is_empty() {
        crate::common::client_crypto(cert, &[ALPN])
    } else {
        crate::common::client_crypto_with_suites(cert, &[ALPN], suites)
    }
}

/// Both ends of one connection: ours and quinn's, plus the endpoints
/// that keep them alive.
struct Ends {
    ours: Connection,
    quinn: quinn::Connection,
    _our_ep: Endpoint,
    _quinn_ep: quinn::Endpoint,
}

/// Our client (offering `suites`) connected to a quinn server.
async fn ours_to_quinn(suites: &[rustls::SupportedCipherSuite]) -> Ends {
    let (crypto, cert) = crate::common::server_crypto(&[ALPN]);
    let cfg =
        quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(crypto).unwrap()));
    let server = quinn::Endpoint::server(cfg, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.local_addr().unwrap();
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let connecting = client
        .connect_with(
            ClientConfig::new(Arc::new(client_tls(&cert, suites))).unwrap(),
            addr,
            "localhost",
        )
        .unwrap();
    let (ours, quinn) = futures::join!(
        within(10, connecting),
        within(10, async { server.accept().await.unwrap().await })
    );
    Ends {
        ours: ours.unwrap(),
        quinn: quinn.unwrap(),
        _our_ep: client,
        _quinn_ep: server,
    }
}

/// A quinn client (offering `suites`) connected to our server.
async fn quinn_to_ours(suites: &[rustls::SupportedCipherSuite]) -> Ends {
    let (crypto, cert) = crate::common::server_crypto(&[ALPN]);
    let server = Endpoint::server(
        ServerConfig::with_crypto(Arc::new(crypto)).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let addr = server.local_addr().unwrap();
    let tls = Arc::new(client_tls(&cert, suites));
    // quinn protects Initials with AES-128-GCM even when the handshake
    // offers only other suites (RFC 9001 §5.2).
    let initial = cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .and_then(|s| s.quic_suite())
        .unwrap();
    let quic = QuicClientConfig::with_initial(tls, initial).unwrap();
    let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
    let connecting = client.connect(addr, "localhost").unwrap();
    let (quinn, ours) = futures::join!(
        within(10, connecting),
        within(10, async { server.accept().await.unwrap().await })
    );
    Ends {
        ours: ours.unwrap(),
        quinn: quinn.unwrap(),
        _our_ep: server,
        _quinn_ep: client,
    }
}

/// Datagrams go both ways between `e.ours` and `e.quinn`, intact.
async fn datagrams_both_ways(e: &Ends) {
    let max = e.ours.max_datagram_size().expect("quinn accepts datagrams");
    assert!(max >= 1000, "{max}");
    for i in 0..10u8 {
        let d = Bytes::from(vec![i; 100 + usize::from(i) * 50]);
        e.ours.send_datagram(d.clone()).unwrap();
        let got = within(5, e.quinn.read_datagram()).await.unwrap();
        assert_eq!(got, d);
        let back = Bytes::from(vec![i ^ 0xff; 900]);
        e.quinn.send_datagram(back.clone()).unwrap();
        assert_eq!(within(5, e.ours.read_datagram()).await.unwrap(), back);
    }
    // The largest we may send reaches quinn whole.
    let full = Bytes::from(vec![0xab; max]);
    e.ours.send_datagram(full.clone()).unwrap();
    assert_eq!(within(5, e.quinn.read_datagram()).await.unwrap(), full);
    assert_eq!(e.ours.stats().frame_tx.datagram, 11);
    assert_eq!(e.ours.stats().frame_rx.datagram, 10);
}

/// Both ends export the same keying material (RFC 8446 §7.5); label
/// and context change it.
async fn same_exporter(e: &Ends) {
    let mut ours = [0u8; 48];
    let mut theirs = [0u8; 48];
    e.ours
        .export_keying_material(&mut ours, b"EXPORTER-interop", b"context")
        .unwrap();
    e.quinn
        .export_keying_material(&mut theirs, b"EXPORTER-interop", b"context")
        .unwrap();
    assert_eq!(ours, theirs);
    let mut other = [0u8; 48];
    e.ours
        .export_keying_material(&mut other, b"EXPORTER-interop", b"other")
        .unwrap();
    assert_ne!(ours, other);
}

/// 1 MiB echoed over one bidirectional stream opened by our side.
async fn echo_through_quinn(e: &Ends) {
    let q = e.quinn.clone();
    let echo = tokio::spawn(async move {
        let (mut s, mut r) = q.accept_bi().await.unwrap();
        let data = r.read_to_end(2 << 20).await.unwrap();
        s.write_all(&data).await.unwrap();
        s.finish().unwrap();
    });
    let data = crate::common::pattern(3, 1 << 20);
    let (mut s, mut r) = e.ours.open_bi().await.unwrap();
    s.write_all(&data).await.unwrap();
    s.finish().unwrap();
    let got = within(20, r.read_to_end(2 << 20)).await.unwrap();
    assert!(got == data, "echo differs");
    echo.await.unwrap();
}

#[actix::test]
async fn datagrams_with_a_quinn_server() {
    crate::common::trace();
    datagrams_both_ways(&ours_to_quinn(&[]).await).await;
}

#[actix::test]
async fn datagrams_with_a_quinn_client() {
    crate::common::trace();
    datagrams_both_ways(&quinn_to_ours(&[]).await).await;
}

#[actix::test]
async fn exporter_matches_a_quinn_server() {
    crate::common::trace();
    same_exporter(&ours_to_quinn(&[]).await).await;
}

#[actix::test]
async fn exporter_matches_a_quinn_client() {
    crate::common::trace();
    same_exporter(&quinn_to_ours(&[]).await).await;
}

#[actix::test]
async fn each_cipher_suite_with_a_quinn_server() {
    crate::common::trace();
    for (suite, id) in crate::common::quic_suites() {
        let e = ours_to_quinn(&[suite]).await;
        assert_eq!(e.ours.handshake_data().unwrap().cipher_suite, Some(id));
        echo_through_quinn(&e).await;
        same_exporter(&e).await;
    }
}

#[actix::test]
async fn chacha20_only_quinn_client_against_our_server() {
    crate::common::trace();
    let e = quinn_to_ours(&[cipher_suite::TLS13_CHACHA20_POLY1305_SHA256]).await;
    assert_eq!(
        e.ours.handshake_data().unwrap().cipher_suite,
        Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
    );
    echo_through_quinn(&e).await;
    datagrams_both_ways(&e).await;
}

/// Echoes 8 MiB through quinn while our side starts a key update after
/// every MiB that comes back; returns how many key updates we counted.
async fn echo_with_our_key_updates(e: &Ends) -> u64 {
    let q = e.quinn.clone();
    let echo = tokio::spawn(async move {
        let (mut s, mut r) = q.accept_bi().await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        while let Some(n) = r.read(&mut buf).await.unwrap() {
            s.write_all(&buf[..n]).await.unwrap();
        }
        s.finish().unwrap();
    });
    let data = crate::common::pattern(9, 8 << 20);
    let (mut s, mut r) = e.ours.open_bi().await.unwrap();
    let writer = {
        let data = data.clone();
        actix::spawn(async move {
            s.write_all(&data).await.unwrap();
            s.finish().unwrap();
        })
    };
    let mut got = Vec::with_capacity(data.len());
    let mut buf = vec![0u8; 64 * 1024];
    let mut next = 1 << 20;
    let mut started = 0;
    while let Some(n) = within(20, r.read(&mut buf)).await.unwrap() {
        got.extend_from_slice(&buf[..n]);
        if got.len() >= next {
            next += 1 << 20;
            // Says whether it started: not while the last is unacknowledged.
            if e.ours.force_key_update().await {
                started += 1;
            }
        }
    }
    writer.await.unwrap();
    echo.await.unwrap();
    assert!(got == data, "echo differs");
    assert!(started >= 1, "no key update started");
    assert!(e.ours.stats().key_updates >= started);
    e.ours.stats().key_updates
}

/// Has quinn start `n` key updates, one after the other, while messages
/// go back and forth: quinn ignores a request until it has discarded the
/// previous phase's keys (about three PTOs), so it is asked on every
/// round trip until our side has followed.
async fn quinn_key_updates(e: &Ends, n: u64) {
    let q = e.quinn.clone();
    let echo = tokio::spawn(async move {
        let (mut s, mut r) = q.accept_bi().await.unwrap();
        let mut buf = vec![0u8; 1024];
        while let Some(k) = r.read(&mut buf).await.unwrap() {
            s.write_all(&buf[..k]).await.unwrap();
        }
        s.finish().unwrap();
    });
    let (mut s, mut r) = e.ours.open_bi().await.unwrap();
    let start = e.ours.stats().key_updates;
    let mut rounds = 0u32;
    within(30, async {
        while e.ours.stats().key_updates < start + n {
            e.quinn.force_key_update();
            let msg = rounds.to_be_bytes();
            s.write_all(&msg).await.unwrap();
            let mut back = [0u8; 4];
            r.read_exact(&mut back).await.unwrap();
            assert_eq!(back, msg);
            rounds += 1;
        }
    })
    .await;
    s.finish().unwrap();
    assert!(r.read_to_end(64).await.unwrap().is_empty());
    echo.await.unwrap();
}

#[actix::test]
async fn key_updates_with_a_quinn_server() {
    crate::common::trace();
    let e = ours_to_quinn(&[]).await;
    let ours = echo_with_our_key_updates(&e).await;
    assert!(ours >= 2, "{ours} updates started by us");
    quinn_key_updates(&e, 3).await;
    same_exporter(&e).await;
    echo_through_quinn(&e).await;
}

#[actix::test]
async fn key_updates_with_a_quinn_client() {
    crate::common::trace();
    let e = quinn_to_ours(&[]).await;
    let ours = echo_with_our_key_updates(&e).await;
    assert!(ours >= 2, "{ours} updates started by us");
    quinn_key_updates(&e, 3).await;
    echo_through_quinn(&e).await;
}

#[actix::test]
async fn quinn_client_rebinding_is_followed_by_our_server() {
    crate::common::trace();
    let e = quinn_to_ours(&[]).await;
    echo_through_quinn(&e).await;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let new = socket.local_addr().unwrap();
    assert_ne!(e.ours.remote_address(), new);
    e._quinn_ep.rebind(socket).unwrap();
    // Traffic after the move: our server follows the client there.
    echo_through_quinn(&e).await;
    assert_eq!(e.ours.remote_address(), new);
    let s = e.ours.stats();
    assert_eq!(s.migrations, 1);
    assert!(s.frame_tx.path_challenge >= 1);
    same_exporter(&e).await;
}

#[actix::test]
async fn our_client_rebinding_is_followed_by_a_quinn_server() {
    crate::common::trace();
    let e = ours_to_quinn(&[]).await;
    echo_through_quinn(&e).await;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let new = socket.local_addr().unwrap();
    e._our_ep.rebind(socket).unwrap();
    assert_eq!(e._our_ep.local_addr().unwrap(), new);
    crate::common::rebind_settled(&e._our_ep, &e.ours).await;
    echo_through_quinn(&e).await;
    assert_eq!(e.quinn.remote_address(), new);
    // A fresh CID on the new path (RFC 9000 §9.5).
    assert!(e.ours.stats().frame_tx.retire_connection_id >= 1);
}
