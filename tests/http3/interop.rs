//! Our HTTP/3 (h3 over actix-quic) against h3 over quinn, both ways.

use super::app;
use crate::common::{client_crypto, server_crypto, within};
use actix_quic::{http3, ClientConfig, Endpoint, ServerConfig};
use bytes::Bytes;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::sync::Arc;

const ALPN: &[u8] = b"h3";

/// An actix-quic endpoint serving the test app over HTTP/3.
fn our_server(goaway_after: Option<usize>) -> (Endpoint, SocketAddr, CertificateDer<'static>) {
    let (tls, cert) = server_crypto(&[ALPN]);
    let ep = Endpoint::server(
        ServerConfig::with_crypto(Arc::new(tls)).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let addr = ep.local_addr().unwrap();
    let server = ep.clone();
    actix::spawn(async move {
        while let Some(incoming) = server.accept().await {
            actix::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                let h3 = h3::server::Connection::new(http3::Connection::new(conn))
                    .await
                    .unwrap();
                app::serve(h3, goaway_after).await;
            });
        }
    });
    (ep, addr, cert)
}

/// A quinn endpoint serving the test app over HTTP/3 (h3-quinn).
fn quinn_server(
    goaway_after: Option<usize>,
) -> (quinn::Endpoint, SocketAddr, CertificateDer<'static>) {
    let (tls, cert) = server_crypto(&[ALPN]);
    let cfg = quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls).unwrap()));
    let ep = quinn::Endpoint::server(cfg, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = ep.local_addr().unwrap();
    let server = ep.clone();
    actix::spawn(async move {
        while let Some(incoming) = server.accept().await {
            actix::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                let h3 = h3::server::Connection::new(h3_quinn::Connection::new(conn))
                    .await
                    .unwrap();
                app::serve(h3, goaway_after).await;
            });
        }
    });
    (ep, addr, cert)
}

type Client<C, O> = (
    h3::client::Connection<C, Bytes>,
    h3::client::SendRequest<O, Bytes>,
);

/// An HTTP/3 client on actix-quic, connected to `addr`.
async fn our_client(
    addr: SocketAddr,
    cert: &CertificateDer<'static>,
) -> Client<http3::Connection, http3::OpenStreams> {
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let config = ClientConfig::new(Arc::new(client_crypto(cert, &[ALPN]))).unwrap();
    let conn = within(5, client.connect_with(config, addr, "localhost").unwrap())
        .await
        .unwrap();
    h3::client::new(http3::Connection::new(conn)).await.unwrap()
}

/// An HTTP/3 client on quinn (h3-quinn), connected to `addr`.
async fn quinn_client(
    addr: SocketAddr,
    cert: &CertificateDer<'static>,
) -> Client<h3_quinn::Connection, h3_quinn::OpenStreams> {
    let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(quinn::ClientConfig::new(Arc::new(
        QuicClientConfig::try_from(client_crypto(cert, &[ALPN])).unwrap(),
    )));
    let conn = within(5, client.connect(addr, "localhost").unwrap())
        .await
        .unwrap();
    h3::client::new(h3_quinn::Connection::new(conn))
        .await
        .unwrap()
}

#[actix::test]
async fn our_client_against_h3_quinn_server() {
    crate::common::trace();
    let (_quinn, addr, cert) = quinn_server(None);
    let (driver, send) = our_client(addr, &cert).await;
    within(60, app::exchange(driver, send)).await;
}

#[actix::test]
async fn h3_quinn_client_against_our_server() {
    crate::common::trace();
    let (_server, addr, cert) = our_server(None);
    let (driver, send) = quinn_client(addr, &cert).await;
    within(60, app::exchange(driver, send)).await;
}

#[actix::test]
async fn our_client_against_our_server() {
    crate::common::trace();
    let (_server, addr, cert) = our_server(None);
    let (driver, send) = our_client(addr, &cert).await;
    within(60, app::exchange(driver, send)).await;
}

#[actix::test]
async fn goaway_from_h3_quinn_server_to_our_client() {
    crate::common::trace();
    let (_quinn, addr, cert) = quinn_server(Some(1));
    let (driver, send) = our_client(addr, &cert).await;
    within(10, app::goaway(driver, send)).await;
}

#[actix::test]
async fn goaway_from_our_server_to_h3_quinn_client() {
    crate::common::trace();
    let (_server, addr, cert) = our_server(Some(1));
    let (driver, send) = quinn_client(addr, &cert).await;
    within(10, app::goaway(driver, send)).await;
}
