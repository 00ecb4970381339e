//! QUIC v2 (RFC 9369) through whole endpoints over real UDP on
//! 127.0.0.1: between our own endpoints, and a v2 client meeting quinn
//! (v1 only), which answers with Version Negotiation.

use crate::common::within;
use actix_quic::protocol::packet::{VERSION_1, VERSION_2};
use actix_quic::{ConnectionError, Endpoint};
use quinn::crypto::rustls::QuicServerConfig;
use std::sync::Arc;

#[actix::test]
async fn v2_between_our_endpoints() {
    crate::common::trace();
    let (mut client_cfg, server_cfg) = crate::common::configs();
    client_cfg.version(VERSION_2);
    let server = Endpoint::server(server_cfg, "127.0.0.1:0".parse().unwrap()).unwrap();
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(client_cfg.clone());
    let addr = server.local_addr().unwrap();
    let (c, s) = crate::common::connect(&server, &client, addr).await;
    let echo = actix::spawn(async move {
        let (mut tx, mut rx) = s.accept_bi().await.unwrap();
        let d = rx.read_to_end(1 << 22).await.unwrap();
        tx.write_all(&d).await.unwrap();
        tx.finish().unwrap();
        s
    });
    let data = crate::common::pattern(4, 2 << 20);
    let (mut tx, mut rx) = c.open_bi().await.unwrap();
    tx.write_all(&data).await.unwrap();
    tx.finish().unwrap();
    assert!(within(20, rx.read_to_end(1 << 22)).await.unwrap() == data);
    let s = echo.await.unwrap();
    let mut a = [0u8; 16];
    let mut b = [0u8; 16];
    c.export_keying_material(&mut a, b"x", b"").unwrap();
    s.export_keying_material(&mut b, b"x", b"").unwrap();
    assert_eq!(a, b);
    // The same server still takes v1 clients.
    client_cfg.version(VERSION_1);
    let (v1, sv1) = futures::join!(
        within(
            10,
            client.connect_with(client_cfg, addr, "localhost").unwrap()
        ),
        async { within(5, server.accept()).await.unwrap().await }
    );
    let (v1, sv1) = (v1.unwrap(), sv1.unwrap());
    let mut tx = v1.open_uni().await.unwrap();
    tx.write_all(b"v1 too").await.unwrap();
    tx.finish().unwrap();
    let mut rx = within(5, sv1.accept_uni()).await.unwrap();
    assert_eq!(within(5, rx.read_to_end(64)).await.unwrap(), b"v1 too");
}

#[actix::test]
async fn v2_client_against_quinn_gets_version_mismatch() {
    crate::common::trace();
    let (crypto, cert) = crate::common::server_crypto(&[b"test"]);
    let cfg =
        quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(crypto).unwrap()));
    let quinn = quinn::Endpoint::server(cfg, "127.0.0.1:0".parse().unwrap()).unwrap();
    let mut client_cfg =
        actix_quic::ClientConfig::new(Arc::new(crate::common::client_crypto(&cert, &[b"test"])))
            .unwrap();
    client_cfg.version(VERSION_2);
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let r = within(
        10,
        client
            .connect_with(client_cfg, quinn.local_addr().unwrap(), "localhost")
            .unwrap(),
    )
    .await;
    assert!(matches!(r, Err(ConnectionError::VersionMismatch)), "{r:?}");
}
