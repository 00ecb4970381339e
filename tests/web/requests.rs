//! Requests through the App: routes, extractors, streaming bodies both
//! ways, errors, cancelled requests, many at once, and Alt-Svc on TCP.

use super::app::{self, Greeting, BIG};
use super::client::{connect, request};
use crate::common::{pattern, within};
use actix_quic::messages::{ConnectionActors, TableSizes, Tables};
use bytes::Bytes;
use http::StatusCode;

#[actix::test]
async fn routes_and_extractors() {
    crate::common::trace();
    let (_server, addr, cert, _) = app::server();
    let (_client, mut send) = connect(addr, &cert).await;

    let (status, headers, body) = request(&mut send, "GET", "/json", &[], Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let g: Greeting = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        g,
        Greeting {
            name: "h3".into(),
            count: 3
        }
    );

    let json = serde_json::to_vec(&Greeting {
        name: "actix".into(),
        count: 2,
    })
    .unwrap();
    let (status, _, body) = request(
        &mut send,
        "POST",
        "/greet",
        &[("content-type", "application/json")],
        Bytes::from(json),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"hello actix x2");

    let (status, _, body) = request(&mut send, "GET", "/user/ann/42", &[], Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"ann#42");

    // Extractors refuse what does not parse: 404 for a path, 400 for JSON.
    let (status, _, _) = request(&mut send, "GET", "/user/ann/x", &[], Bytes::new()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = request(
        &mut send,
        "POST",
        "/greet",
        &[("content-type", "application/json")],
        Bytes::from_static(b"{not json"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = request(&mut send, "GET", "/nowhere", &[], Bytes::new()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A 10 MiB body streamed down, and 10 MiB streamed up and back.
#[actix::test]
async fn ten_mib_streamed_both_ways() {
    crate::common::trace();
    let (_server, addr, cert, live) = app::server();
    let (_client, mut send) = connect(addr, &cert).await;
    let (status, headers, body) =
        within(30, request(&mut send, "GET", "/big", &[], Bytes::new())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("content-length").is_none(), "a streamed body");
    assert!(body == pattern(7, BIG), "10 MiB download differs");

    let up = Bytes::from(pattern(5, BIG));
    let (status, _, body) = within(30, request(&mut send, "POST", "/echo", &[], up.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == up, "10 MiB echo differs ({} bytes)", body.len());
    let (_, _, body) = within(30, request(&mut send, "POST", "/count", &[], up)).await;
    assert_eq!(body, BIG.to_string().as_bytes());
    assert_eq!(live.count(), 0);
}

/// A handler's error reaches the client as a 500.
#[actix::test]
async fn a_handler_error_is_a_500() {
    crate::common::trace();
    let (_server, addr, cert, _) = app::server();
    let (_client, mut send) = connect(addr, &cert).await;
    let (status, _, body) = request(&mut send, "GET", "/fail", &[], Bytes::new()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, b"boom");
}

/// Clients that reset their request mid-body leave nothing behind: the
/// App's request futures end, and the streams are freed (250 requests,
/// far more than the 100 concurrent streams a connection allows, go
/// through in batches, and a normal one after them).
#[actix::test]
async fn requests_reset_mid_body_leave_nothing_behind() {
    crate::common::trace();
    const BATCH: usize = 50;
    let (server, addr, cert, live) = app::server();
    let (_client, mut send) = connect(addr, &cert).await;
    for _ in 0..5 {
        let mut streams = Vec::new();
        for _ in 0..BATCH {
            let req = http::Request::builder()
                .method("POST")
                .uri("https://localhost/count")
                .body(())
                .unwrap();
            let mut stream = send.send_request(req).await.unwrap();
            stream
                .send_data(Bytes::from_static(&[1; 1000]))
                .await
                .unwrap();
            streams.push(stream);
        }
        // Every request is in the App, waiting for the rest of its body.
        within(10, live.until(BATCH)).await;
        for mut stream in streams {
            stream.stop_stream(h3::error::Code::H3_REQUEST_CANCELLED);
            stream.stop_sending(h3::error::Code::H3_REQUEST_CANCELLED);
        }
        // The resets end them all.
        within(10, live.until(0)).await;
    }
    assert_eq!(live.started(), 5 * BATCH);
    let (status, _, body) = within(
        10,
        request(
            &mut send,
            "POST",
            "/count",
            &[],
            Bytes::from_static(b"12345"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"5");
    // The server's connection tracks no more than HTTP/3's own streams
    // (control and QPACK, three each way) and what its last request may
    // still wait for (an ACK), however many requests were reset.
    let actors = server.addr().send(ConnectionActors).await.unwrap();
    assert_eq!(actors.len(), 1);
    let small = |t: &Tables| t.send_streams <= 4 && t.recv_streams <= 4 && t.stream_waiters <= 8;
    let tables = within(5, async {
        loop {
            let t = actors[0].send(TableSizes).await.unwrap();
            if small(&t) {
                return t;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(small(&tables), "{tables:?}");
}

/// 200 requests at once on one connection.
#[actix::test]
async fn two_hundred_concurrent_requests() {
    crate::common::trace();
    let (_server, addr, cert, _) = app::server();
    let (_client, send) = connect(addr, &cert).await;
    let all = (0..200u32).map(|i| {
        let mut send = send.clone();
        async move {
            let path = format!("/user/u{i}/{i}");
            let (status, _, body) = request(&mut send, "GET", &path, &[], Bytes::new()).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body, format!("u{i}#{i}").as_bytes());
        }
    });
    within(30, futures::future::join_all(all)).await;
}

/// The same App on TCP (HTTP/1.1 through `HttpServer`) advertises the
/// HTTP/3 endpoint with Alt-Svc.
#[actix::test]
async fn tcp_advertises_http3_with_alt_svc() {
    crate::common::trace();
    let (_server, addr, _cert, live) = app::server();
    let port = addr.port();
    let tcp = actix_web::HttpServer::new(move || {
        app::app(live.clone()).wrap(actix_quic::web::alt_svc(port))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let tcp_addr = tcp.addrs()[0];
    let running = tcp.run();
    let handle = running.handle();
    actix::spawn(running);
    let answer = within(10, async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(tcp_addr).await.unwrap();
        s.write_all(b"GET /json HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        String::from_utf8(out).unwrap()
    })
    .await;
    handle.stop(false).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let expected = format!("alt-svc: h3=\":{port}\"; ma=86400");
    assert!(answer.to_lowercase().contains(&expected), "{answer}");
}
