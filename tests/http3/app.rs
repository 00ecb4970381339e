//! One HTTP/3 application over any `h3::quic` transport: the routes a
//! server answers, and the requests a client makes, so each test runs
//! the same exchange with either stack on either side.

use bytes::{Buf, Bytes, BytesMut};
use h3::quic;
use http::{HeaderMap, Request, Response, StatusCode};

/// Size of `/big`.
pub const BIG: usize = 10 << 20;

/// Serves every request on `conn` until the client goes away; each
/// request runs on its own task.
///
/// - `GET /small`: `hello h3`.
/// - `GET /big`: 10 MiB of `pattern(7, BIG)`.
/// - `POST /echo`: the body back, with an `x-len` trailer.
/// - anything else: 404.
///
/// With `goaway_after`, the server shuts down gracefully (GOAWAY, RFC
/// 9114 §5.2) once it has taken that many requests, answers them, and
/// closes the connection with H3_NO_ERROR.
pub async fn serve<C>(mut conn: h3::server::Connection<C, Bytes>, goaway_after: Option<usize>)
where
    C: quic::Connection<Bytes> + 'static,
    C::BidiStream: quic::BidiStream<Bytes> + 'static,
{
    let mut taken = 0;
    while let Ok(Some(resolver)) = conn.accept().await {
        taken += 1;
        if Some(taken) == goaway_after {
            conn.shutdown(0).await.unwrap();
        }
        actix::spawn(async move {
            let Ok((req, mut stream)) = resolver.resolve_request().await else {
                return;
            };
            let path = req.uri().path().to_string();
            let ok = Response::builder().status(StatusCode::OK).body(()).unwrap();
            match (req.method().as_str(), path.as_str()) {
                ("GET", "/small") => {
                    stream.send_response(ok).await.unwrap();
                    stream
                        .send_data(Bytes::from_static(b"hello h3"))
                        .await
                        .unwrap();
                }
                ("GET", "/big") => {
                    stream.send_response(ok).await.unwrap();
                    let body = Bytes::from(crate::common::pattern(7, BIG));
                    for piece in body.chunks(64 * 1024) {
                        stream.send_data(body.slice_ref(piece)).await.unwrap();
                    }
                }
                ("POST", "/echo") => {
                    let mut body = BytesMut::new();
                    while let Some(mut chunk) = stream.recv_data().await.unwrap() {
                        body.extend_from_slice(&chunk.copy_to_bytes(chunk.remaining()));
                    }
                    stream.send_response(ok).await.unwrap();
                    let len = body.len();
                    stream.send_data(body.freeze()).await.unwrap();
                    let mut trailers = HeaderMap::new();
                    trailers.insert("x-len", len.to_string().parse().unwrap());
                    stream.send_trailers(trailers).await.unwrap();
                }
                _ => {
                    let nf = Response::builder()
                        .status(StatusCode::NOT_FOUND)
                        .body(())
                        .unwrap();
                    stream.send_response(nf).await.unwrap();
                }
            }
            let _ = stream.finish().await;
        });
    }
}

/// What a request got back.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub trailers: Option<HeaderMap>,
}

/// Sends `method path` with `body` (none when empty) and reads the whole
/// answer.
pub async fn request<O>(
    send: &mut h3::client::SendRequest<O, Bytes>,
    method: &str,
    path: &str,
    body: Bytes,
) -> Answer
where
    O: quic::OpenStreams<Bytes>,
{
    let req = Request::builder()
        .method(method)
        .uri(format!("https://localhost{path}"))
        .body(())
        .unwrap();
    let mut stream = send.send_request(req).await.unwrap();
    if !body.is_empty() {
        for piece in body.chunks(100 * 1024) {
            stream.send_data(body.slice_ref(piece)).await.unwrap();
        }
    }
    stream.finish().await.unwrap();
    let resp = stream.recv_response().await.unwrap();
    let mut got = Vec::new();
    while let Some(mut chunk) = stream.recv_data().await.unwrap() {
        got.extend_from_slice(&chunk.copy_to_bytes(chunk.remaining()));
    }
    let trailers = stream.recv_trailers().await.unwrap();
    Answer {
        status: resp.status(),
        body: got,
        trailers,
    }
}

/// The exchange every test runs: small and 10 MiB GETs, a 1 MiB POST
/// echoed with a trailer, a 404, then 100 concurrent GETs on the one
/// connection.
pub async fn exchange<C, O>(
    mut driver: h3::client::Connection<C, Bytes>,
    send: h3::client::SendRequest<O, Bytes>,
) where
    C: quic::Connection<Bytes, OpenStreams = O> + 'static,
    O: quic::OpenStreams<Bytes> + Clone,
{
    let _driving =
        actix::spawn(async move { futures::future::poll_fn(|cx| driver.poll_close(cx)).await });
    let mut s = send.clone();
    let small = request(&mut s, "GET", "/small", Bytes::new()).await;
    assert_eq!(small.status, StatusCode::OK);
    assert_eq!(small.body, b"hello h3");

    let big = request(&mut s, "GET", "/big", Bytes::new()).await;
    assert_eq!(big.status, StatusCode::OK);
    assert_eq!(big.body.len(), BIG);
    assert!(
        big.body == crate::common::pattern(7, BIG),
        "10 MiB body differs"
    );

    let upload = Bytes::from(crate::common::pattern(9, 1 << 20));
    let echo = request(&mut s, "POST", "/echo", upload.clone()).await;
    assert_eq!(echo.status, StatusCode::OK);
    assert!(echo.body == upload, "upload echo differs");
    let trailers = echo.trailers.expect("trailers");
    assert_eq!(trailers["x-len"], (1usize << 20).to_string().as_str());

    let missing = request(&mut s, "GET", "/nope", Bytes::new()).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let many = (0..100).map(|_| {
        let mut s = send.clone();
        async move { request(&mut s, "GET", "/small", Bytes::new()).await }
    });
    for a in futures::future::join_all(many).await {
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.body, b"hello h3");
    }
}

/// Against a server that sends GOAWAY after one request: that request is
/// answered, later requests are refused once the GOAWAY arrived, and the
/// connection then ends with H3_NO_ERROR.
pub async fn goaway<C, O>(
    mut driver: h3::client::Connection<C, Bytes>,
    mut send: h3::client::SendRequest<O, Bytes>,
) where
    C: quic::Connection<Bytes, OpenStreams = O> + 'static,
    O: quic::OpenStreams<Bytes>,
{
    let driving =
        actix::spawn(async move { futures::future::poll_fn(|cx| driver.poll_close(cx)).await });
    let small = request(&mut send, "GET", "/small", Bytes::new()).await;
    assert_eq!(small.body, b"hello h3");
    // Requests sent before the GOAWAY reached us are rejected by the
    // server; once it arrived, h3 refuses to send them.
    loop {
        let req = Request::builder()
            .uri("https://localhost/small")
            .body(())
            .unwrap();
        match send.send_request(req).await {
            Err(_) => break,
            Ok(mut stream) => {
                let _ = stream.finish().await;
                let _ = stream.recv_response().await;
            }
        }
    }
    drop(send);
    let closed = driving.await.unwrap();
    assert!(closed.is_h3_no_error(), "{closed:?}");
}
