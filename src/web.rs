//! actix-web over HTTP/3 (feature `actix-web`): [`Http3Server`] serves
//! the `App` factory an `actix_web::HttpServer` takes, on an actix-quic
//! [`Endpoint`], through h3 (RFC 9114).
//!
//! Each HTTP/3 request becomes an `actix_http::Request` (method, URI,
//! headers, the peer's address, and the request body streamed as its
//! payload); the App's answer goes back on the request's stream (status,
//! headers, the body streamed as the App produces it). One App instance
//! serves every connection of the endpoint, on the endpoint's thread.
//!
//! ```no_run
//! use actix_quic::web::{alt_svc, Http3Server};
//! use actix_web::{web, App, HttpServer};
//! # async fn run(endpoint: actix_quic::Endpoint) -> std::io::Result<()> {
//! let app = || App::new().route("/", web::get().to(|| async { "hello" }));
//! let port = endpoint.local_addr()?.port();
//! // HTTP/1.1 and HTTP/2 on TCP, advertising HTTP/3 (RFC 7838 Alt-Svc)...
//! let tcp = HttpServer::new(move || app().wrap(alt_svc(port)))
//!     .bind(("127.0.0.1", port))?
//!     .run();
//! // ...and the same App over HTTP/3 on the QUIC endpoint.
//! let h3 = Http3Server::new(app).serve(endpoint);
//! let _ = futures::join!(tcp, h3);
//! # Ok(()) }
//! ```
//!
//! Not supported yet: trailers from the App (actix-web's bodies have
//! none), server push, extended CONNECT (WebTransport), HTTP/3
//! datagrams.

use crate::handles::{Connection, Endpoint};
use crate::http3;
use actix_http::body::{BodySize, MessageBody};
use actix_http::error::PayloadError;
use actix_http::{BoxedPayloadStream, Payload, Request, Response};
use actix_service::{IntoServiceFactory, Service, ServiceFactory};
use actix_web::dev::AppConfig;
use actix_web::middleware::DefaultHeaders;
use bytes::{Buf, Bytes};
use futures::StreamExt;
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;

/// The request stream h3 hands a server, over actix-quic.
type H3Stream = ::h3::server::RequestStream<http3::BidiStream<Bytes>, Bytes>;

/// Serves an actix-web App over HTTP/3.
pub struct Http3Server<F> {
    factory: F,
    host: Option<String>,
}

impl<F> fmt::Debug for Http3Server<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http3Server")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// The `Alt-Svc` header (RFC 7838; RFC 9114 §3.1.1) that tells HTTP/1.1
/// and HTTP/2 clients the same origin speaks HTTP/3 on UDP `port`: wrap
/// the TCP server's App in it.
pub fn alt_svc(port: u16) -> DefaultHeaders {
    DefaultHeaders::new().add(("alt-svc", format!("h3=\":{port}\"; ma=86400")))
}

impl<F> Http3Server<F> {
    /// A server for the App `factory` makes, as `HttpServer::new` takes.
    pub fn new(factory: F) -> Self {
        Self {
            factory,
            host: None,
        }
    }

    /// The host name the App sees in its `AppConfig` (URL generation);
    /// the endpoint's address by default.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Serves every connection `endpoint` accepts until it is closed.
    /// Each connection, and each request on it, runs as its own task on
    /// the current thread (an actix arbiter).
    pub async fn serve<I, S, B>(self, endpoint: Endpoint) -> std::io::Result<()>
    where
        F: Fn() -> I + 'static,
        I: IntoServiceFactory<S, Request>,
        S: ServiceFactory<Request, Config = AppConfig> + 'static,
        S::Error: Into<actix_web::Error> + 'static,
        S::InitError: fmt::Debug,
        S::Response: Into<Response<B>> + 'static,
        B: MessageBody + 'static,
    {
        let addr = endpoint.local_addr()?;
        let host = self.host.unwrap_or_else(|| addr.to_string());
        // `AppConfig` has no public constructor; this is the one
        // actix-test uses.
        let config = AppConfig::__priv_test_new(true, host, addr);
        let factory = actix_service::map_config((self.factory)(), move |()| config.clone());
        let service = factory
            .new_service(())
            .await
            .map_err(|e| std::io::Error::other(format!("App failed to start: {e:?}")))?;
        let service = Rc::new(service);
        while let Some(incoming) = endpoint.accept().await {
            let service = service.clone();
            actix::spawn(async move {
                if let Ok(conn) = incoming.await {
                    serve_connection(conn, service).await;
                }
            });
        }
        Ok(())
    }
}

/// Answers every request on `conn` until it ends.
async fn serve_connection<T, B>(conn: Connection, service: Rc<T>)
where
    T: Service<Request> + 'static,
    T::Error: Into<actix_web::Error>,
    T::Response: Into<Response<B>>,
    B: MessageBody + 'static,
{
    let peer = conn.remote_address();
    let Ok(mut h3) = ::h3::server::Connection::new(http3::Connection::new(conn)).await else {
        return;
    };
    // h3 closes the connection with the HTTP/3 error code a malformed
    // frame or QPACK block calls for (RFC 9114 §8, RFC 9204 §6).
    while let Ok(Some(resolver)) = h3.accept().await {
        let service = service.clone();
        actix::spawn(async move {
            if let Ok((req, stream)) = resolver.resolve_request().await {
                answer(req, stream, peer, &*service).await;
            }
        });
    }
}

/// Runs one request through the App and sends its answer.
async fn answer<T, B>(req: http::Request<()>, stream: H3Stream, peer: SocketAddr, service: &T)
where
    T: Service<Request>,
    T::Error: Into<actix_web::Error>,
    T::Response: Into<Response<B>>,
    B: MessageBody,
{
    let (mut send, recv) = stream.split();
    let request = match to_actix(req, recv, peer) {
        Ok(r) => r,
        Err(status) => {
            let _ = send_head(
                &mut send,
                status,
                &actix_http::header::HeaderMap::new(),
                None,
            )
            .await;
            let _ = send.finish().await;
            return;
        }
    };
    let response: Response<B> = match service.call(request).await {
        Ok(r) => r.into(),
        Err(e) => {
            let e: actix_web::Error = e.into();
            let (head, body) = Response::from(e.error_response()).into_parts();
            let _ = send_response(&mut send, head, body).await;
            return;
        }
    };
    let (head, body) = response.into_parts();
    let _ = send_response(&mut send, head, body).await;
}

type SendHalf = ::h3::server::RequestStream<http3::SendStream<Bytes>, Bytes>;
type RecvHalf = ::h3::server::RequestStream<http3::RecvStream, Bytes>;

/// The h3 request as actix-web's: method, URI, version, headers, peer,
/// and the body as a stream read from `recv` while the App asks.
fn to_actix(
    req: http::Request<()>,
    recv: RecvHalf,
    peer: SocketAddr,
) -> Result<Request, http::StatusCode> {
    let bad = |_| http::StatusCode::BAD_REQUEST;
    let body = futures::stream::unfold(Some(recv), |recv| async move {
        let mut recv = recv?;
        match recv.recv_data().await {
            Ok(Some(mut chunk)) => {
                let bytes = chunk.copy_to_bytes(chunk.remaining());
                Some((Ok(bytes), Some(recv)))
            }
            Ok(None) => None,
            Err(e) => Some((Err(PayloadError::Io(std::io::Error::other(e))), None)),
        }
    });
    let payload: BoxedPayloadStream = Box::pin(body.boxed_local());
    let mut request = Request::with_payload(Payload::from(payload));
    let head = request.head_mut();
    head.method = actix_http::Method::from_bytes(req.method().as_str().as_bytes()).map_err(bad)?;
    head.uri = actix_http::Uri::try_from(req.uri().to_string())
        .map_err(|_| http::StatusCode::BAD_REQUEST)?;
    head.version = actix_http::Version::HTTP_3;
    head.peer_addr = Some(peer);
    for (name, value) in req.headers() {
        let name = actix_http::header::HeaderName::from_bytes(name.as_str().as_bytes())
            .map_err(|_| http::StatusCode::BAD_REQUEST)?;
        let value = actix_http::header::HeaderValue::from_bytes(value.as_bytes())
            .map_err(|_| http::StatusCode::BAD_REQUEST)?;
        head.headers.append(name, value);
    }
    // actix-web finds the host in `Host`; HTTP/3 carries it as
    // :authority (RFC 9114 §4.3.1).
    if !head.headers.contains_key(actix_http::header::HOST) {
        if let Some(authority) = req.uri().authority() {
            if let Ok(v) = actix_http::header::HeaderValue::from_str(authority.as_str()) {
                head.headers.insert(actix_http::header::HOST, v);
            }
        }
    }
    Ok(request)
}

/// Sends the status and headers; `len` adds a content-length.
async fn send_head(
    send: &mut SendHalf,
    status: http::StatusCode,
    headers: &actix_http::header::HeaderMap,
    len: Option<u64>,
) -> Result<(), ::h3::error::StreamError> {
    let mut resp = http::Response::builder().status(status);
    for (name, value) in headers.iter() {
        // Connection-specific fields are not used in HTTP/3 (RFC 9114
        // §4.2).
        if is_connection_specific(name.as_str()) {
            continue;
        }
        resp = resp.header(name.as_str(), value.as_bytes());
    }
    if let Some(len) = len {
        if !headers.contains_key(actix_http::header::CONTENT_LENGTH) {
            resp = resp.header("content-length", len);
        }
    }
    let resp = resp.body(()).unwrap_or_else(|_| {
        http::Response::builder()
            .status(http::StatusCode::INTERNAL_SERVER_ERROR)
            .body(())
            .expect("a bare status is a response")
    });
    send.send_response(resp).await
}

fn is_connection_specific(name: &str) -> bool {
    matches!(
        name,
        "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade"
    )
}

/// Sends the App's response: head, then the body as the App produces it.
/// A failing body resets the stream (the client sees the response cut).
async fn send_response<B: MessageBody>(
    send: &mut SendHalf,
    head: Response<()>,
    body: B,
) -> Result<(), ::h3::error::StreamError> {
    let head = head.head();
    let len = match body.size() {
        BodySize::Sized(n) => Some(n),
        _ => None,
    };
    let status = http::StatusCode::from_u16(head.status.as_u16())
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    send_head(send, status, &head.headers, len).await?;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await {
        match chunk {
            Ok(bytes) if bytes.is_empty() => {}
            Ok(bytes) => send.send_data(bytes).await?,
            Err(_) => {
                send.stop_stream(::h3::error::Code::H3_INTERNAL_ERROR);
                return Ok(());
            }
        }
    }
    send.finish().await
}
