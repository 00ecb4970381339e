//! An HTTP/3 client (h3 on actix-quic) for the tests.

use actix_quic::{http3, ClientConfig, Connection, Endpoint};
use bytes::{Buf, Bytes};
use http::{Request, StatusCode};
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::sync::Arc;

pub type Sender = h3::client::SendRequest<http3::OpenStreams, Bytes>;

/// A QUIC connection to `addr` speaking ALPN h3.
pub async fn quic(addr: SocketAddr, cert: &CertificateDer<'static>) -> (Endpoint, Connection) {
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let config = ClientConfig::new(Arc::new(crate::common::client_crypto(cert, &[b"h3"]))).unwrap();
    let conn = crate::common::within(5, client.connect_with(config, addr, "localhost").unwrap())
        .await
        .unwrap();
    (client, conn)
}

/// An HTTP/3 client to `addr`, its connection driven in the background.
pub async fn connect(addr: SocketAddr, cert: &CertificateDer<'static>) -> (Endpoint, Sender) {
    let (endpoint, conn) = quic(addr, cert).await;
    let (mut driver, send) = h3::client::new(http3::Connection::new(conn)).await.unwrap();
    actix::spawn(async move { futures::future::poll_fn(|cx| driver.poll_close(cx)).await });
    (endpoint, send)
}

/// Sends `method path` with `body` and reads the whole answer.
pub async fn request(
    send: &mut Sender,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> (StatusCode, http::HeaderMap, Vec<u8>) {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("https://localhost{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let stream = send.send_request(req.body(()).unwrap()).await.unwrap();
    // Send and receive at once: a server may answer while the body still
    // comes (an echo), and flow control needs both sides read.
    let (mut tx, mut rx) = stream.split();
    let upload = async move {
        for piece in body.chunks(64 * 1024) {
            tx.send_data(body.slice_ref(piece)).await.unwrap();
        }
        tx.finish().await.unwrap();
    };
    let download = async move {
        let resp = rx.recv_response().await.unwrap();
        let mut got = Vec::new();
        while let Some(mut chunk) = rx.recv_data().await.unwrap() {
            got.extend_from_slice(&chunk.copy_to_bytes(chunk.remaining()));
        }
        (resp.status(), resp.headers().clone(), got)
    };
    futures::future::join(upload, download).await.1
}
