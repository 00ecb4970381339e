//! A peer that breaks HTTP/3's rules: the server closes the connection
//! with the HTTP/3 error code (RFC 9114 §8.1) that h3 produces, and
//! panics nowhere.

use super::app;
use super::client::quic;
use crate::common::within;
use actix_quic::{Connection, ConnectionError};

/// The application error code the server closed `conn` with.
async fn closed_with(conn: &Connection) -> u64 {
    match within(5, conn.closed()).await {
        ConnectionError::ApplicationClosed(c) => c.error_code.into_inner(),
        other => panic!("closed otherwise: {other:?}"),
    }
}

/// A request stream whose first frame is DATA, not HEADERS:
/// H3_FRAME_UNEXPECTED (0x105).
#[actix::test]
async fn data_before_headers_is_frame_unexpected() {
    crate::common::trace();
    let (_server, addr, cert, _) = app::server();
    let (_client, conn) = quic(addr, &cert).await;
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    // DATA (type 0), length 3.
    send.write_all(&[0x00, 0x03, b'a', b'b', b'c'])
        .await
        .unwrap();
    send.finish().unwrap();
    assert_eq!(closed_with(&conn).await, 0x105);
}

/// A control stream that does not start with SETTINGS:
/// H3_MISSING_SETTINGS (0x10a).
#[actix::test]
async fn control_stream_without_settings_is_missing_settings() {
    crate::common::trace();
    let (_server, addr, cert, _) = app::server();
    let (_client, conn) = quic(addr, &cert).await;
    let mut control = conn.open_uni().await.unwrap();
    // Stream type 0 (control), then GOAWAY (type 7) of length 1.
    control.write_all(&[0x00, 0x07, 0x01, 0x00]).await.unwrap();
    assert_eq!(closed_with(&conn).await, 0x10a);
}

/// A HEADERS frame whose QPACK field section cannot be decoded:
/// QPACK_DECOMPRESSION_FAILED (0x200).
#[actix::test]
async fn undecodable_qpack_is_decompression_failed() {
    crate::common::trace();
    let (_server, addr, cert, _) = app::server();
    let (_client, conn) = quic(addr, &cert).await;
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    // HEADERS (type 1), length 4: a field section prefix that names a
    // dynamic table entry which does not exist.
    send.write_all(&[0x01, 0x04, 0x00, 0x00, 0x80, 0xff])
        .await
        .unwrap();
    send.finish().unwrap();
    assert_eq!(closed_with(&conn).await, 0x200);
}

/// A frame longer than the stream carries (the stream ends inside it):
/// H3_FRAME_ERROR (0x106) or a request error, never a panic; garbage on
/// many streams at once does not wedge the server.
#[actix::test]
async fn truncated_and_garbage_frames_leave_the_server_serving() {
    crate::common::trace();
    let (_server, addr, cert, _) = app::server();
    for seed in 0..20u8 {
        let (_client, conn) = quic(addr, &cert).await;
        let (mut send, _recv) = conn.open_bi().await.unwrap();
        let garbage: Vec<u8> = (0..64u8)
            .map(|i| i.wrapping_mul(31).wrapping_add(seed))
            .collect();
        let _ = send.write_all(&garbage).await;
        let _ = send.finish();
        let _ = within(5, conn.closed()).await;
    }
    // Still serving.
    let (_client, mut send) = super::client::connect(addr, &cert).await;
    let (status, _, _) =
        super::client::request(&mut send, "GET", "/json", &[], bytes::Bytes::new()).await;
    assert_eq!(status, http::StatusCode::OK);
}
