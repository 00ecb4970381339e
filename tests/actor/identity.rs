//! Who is on the other end and how the connection is protected, through
//! the `Connection` handle over real UDP on 127.0.0.1: negotiated
//! parameters, certificate chains (also client certificates), each TLS
//! 1.3 cipher suite end to end, and stream limits changed at run time.

use crate::common::within;
use actix_quic::VarInt;
use actix_quic::{ClientConfig, Connection, Endpoint, ServerConfig};
use rustls::pki_types::CertificateDer;
use std::sync::Arc;
use std::time::Duration;

/// Connects a client using `client_tls` to a server using `server_tls`.
async fn connect_tls(
    client_tls: rustls::ClientConfig,
    server_tls: rustls::ServerConfig,
) -> (Connection, Connection, Endpoint, Endpoint) {
    let server = Endpoint::server(
        ServerConfig::with_crypto(Arc::new(server_tls)).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let connecting = client
        .connect_with(
            ClientConfig::new(Arc::new(client_tls)).unwrap(),
            server.local_addr().unwrap(),
            "localhost",
        )
        .unwrap();
    let (c, s) = futures::join!(within(10, connecting), async {
        within(10, server.accept()).await.unwrap().await
    });
    (c.unwrap(), s.unwrap(), server, client)
}

fn chain(conn: &Connection) -> Option<Vec<CertificateDer<'static>>> {
    conn.peer_identity()
        .map(|any| *any.downcast::<Vec<CertificateDer<'static>>>().unwrap())
}

#[actix::test]
async fn handshake_data_and_server_certificate() {
    crate::common::trace();
    let (server_tls, cert) = crate::common::server_crypto(&[b"h3", b"test"]);
    let client_tls = crate::common::client_crypto(&cert, &[b"test"]);
    let (c, s, _se, _ce) = connect_tls(client_tls, server_tls).await;
    let hc = c.handshake_data().unwrap();
    let hs = s.handshake_data().unwrap();
    assert_eq!(hc.protocol.as_deref(), Some(&b"test"[..]));
    assert_eq!(hs.protocol.as_deref(), Some(&b"test"[..]));
    assert_eq!(hs.server_name.as_deref(), Some("localhost"));
    assert_eq!(hc.server_name, None, "only the server learns the SNI");
    assert_eq!(hc.cipher_suite, hs.cipher_suite);
    assert_eq!(chain(&c), Some(vec![cert]));
    assert!(chain(&s).is_none(), "no client certificate was asked for");
}

#[actix::test]
async fn client_certificate_when_the_server_asks() {
    crate::common::trace();
    let (client_cert, client_key) = crate::common::cert();
    let (server_cert, server_key) = crate::common::cert();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(crate::common::roots(&client_cert)),
        Arc::new(crate::common::backend_provider()),
    )
    .build()
    .unwrap();
    let mut server_tls =
        rustls::ServerConfig::builder_with_provider(Arc::new(crate::common::backend_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![server_cert.clone()], server_key)
            .unwrap();
    server_tls.alpn_protocols = vec![b"test".to_vec()];
    server_tls.max_early_data_size = 0;
    let mut client_tls =
        rustls::ClientConfig::builder_with_provider(Arc::new(crate::common::backend_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(crate::common::roots(&server_cert))
            .with_client_auth_cert(vec![client_cert.clone()], client_key)
            .unwrap();
    client_tls.alpn_protocols = vec![b"test".to_vec()];
    let (c, s, _se, _ce) = connect_tls(client_tls, server_tls).await;
    assert_eq!(chain(&s), Some(vec![client_cert]));
    assert_eq!(chain(&c), Some(vec![server_cert]));
}

#[actix::test]
async fn each_cipher_suite_end_to_end() {
    crate::common::trace();
    for (suite, id) in crate::common::quic_suites() {
        let (server_tls, cert) = crate::common::server_crypto(&[b"test"]);
        let client_tls = crate::common::client_crypto_with_suites(&cert, &[b"test"], &[suite]);
        let (c, s, _se, _ce) = connect_tls(client_tls, server_tls).await;
        assert_eq!(c.handshake_data().unwrap().cipher_suite, Some(id));
        assert_eq!(s.handshake_data().unwrap().cipher_suite, Some(id));
        // Data both ways, and the exporter.
        let echo = actix::spawn(async move {
            let (mut tx, mut rx) = s.accept_bi().await.unwrap();
            let d = rx.read_to_end(1 << 20).await.unwrap();
            tx.write_all(&d).await.unwrap();
            tx.finish().unwrap();
            s
        });
        let data = crate::common::pattern(5, 512 * 1024);
        let (mut tx, mut rx) = c.open_bi().await.unwrap();
        tx.write_all(&data).await.unwrap();
        tx.finish().unwrap();
        let got = within(20, rx.read_to_end(1 << 20)).await.unwrap();
        assert!(got == data, "{id:?}: echo differs");
        let s = echo.await.unwrap();
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        c.export_keying_material(&mut a, b"EXPORTER-x", b"")
            .unwrap();
        s.export_keying_material(&mut b, b"EXPORTER-x", b"")
            .unwrap();
        assert_eq!(a, b);
    }
}

type Bi = (actix_quic::SendStream, actix_quic::RecvStream);

/// Opens a stream on `c` and makes the peer `s` see it (data must flow).
async fn open_and_accept(c: &Connection, s: &Connection) -> (Bi, Bi) {
    let (mut tx, rx) = within(5, c.open_bi()).await.unwrap();
    tx.write_all(b"x").await.unwrap();
    let theirs = within(5, s.accept_bi()).await.unwrap();
    ((tx, rx), theirs)
}

/// Ends both directions of a stream, so both sides forget it.
async fn close_stream(((mut tx, mut rx), (mut stx, mut srx)): (Bi, Bi)) {
    tx.finish().unwrap();
    within(5, srx.read_to_end(64)).await.unwrap();
    stx.finish().unwrap();
    within(5, rx.read_to_end(64)).await.unwrap();
}

/// True when `fut` is still pending after a short wait.
async fn still_waiting<T>(fut: &mut tokio::task::JoinHandle<T>) -> bool {
    tokio::time::timeout(Duration::from_millis(300), fut)
        .await
        .is_err()
}

/// A peer blocked on the old limit proceeds after an increase; a
/// decrease takes effect as open streams close.
#[actix::test]
async fn stream_limits_change_at_run_time() {
    crate::common::trace();
    let limit_one = {
        let mut config = actix_quic::TransportConfig::default();
        config.max_concurrent_bidi_streams(VarInt::from_u64(1).unwrap());
        config
    };
    let (server, client, addr) =
        crate::common::endpoints_with(actix_quic::TransportConfig::default(), limit_one);
    let (c, s) = crate::common::connect(&server, &client, addr).await;
    let a = open_and_accept(&c, &s).await;
    // The limit is reached: a second stream waits.
    let (c2, s2) = (c.clone(), s.clone());
    let mut second = actix::spawn(async move { open_and_accept(&c2, &s2).await });
    assert!(still_waiting(&mut second).await, "opened past the limit");
    s.set_max_concurrent_bi_streams(VarInt::from_u32(3));
    let b = within(5, second).await.unwrap();
    let c3 = open_and_accept(&c, &s).await;
    // Three open, the limit lowered to one: a new stream waits until
    // all three have closed.
    s.set_max_concurrent_bi_streams(VarInt::from_u32(1));
    let (c4, s4) = (c.clone(), s.clone());
    let mut fourth = actix::spawn(async move { open_and_accept(&c4, &s4).await });
    assert!(
        still_waiting(&mut fourth).await,
        "opened past the lowered limit"
    );
    close_stream(a).await;
    close_stream(b).await;
    assert!(still_waiting(&mut fourth).await, "one stream still open");
    close_stream(c3).await;
    let d = within(5, fourth).await.unwrap();
    assert_eq!(u64::from(d.0 .0.id()), 12);
}
