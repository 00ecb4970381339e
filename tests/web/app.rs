//! The App under test, and a server running it over HTTP/3.

use actix_quic::web::Http3Server;
use actix_quic::{Endpoint, ServerConfig};
use actix_web::{error, web, App, HttpResponse, Responder};
use futures::StreamExt;
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Size of `/big`.
pub const BIG: usize = 10 << 20;

/// What `/json` answers and `/greet` takes.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Greeting {
    pub name: String,
    pub count: u32,
}

/// Requests the App is working on (a request future lives), shared with
/// the test.
#[derive(Clone, Default)]
pub struct Live(Arc<Counts>);

#[derive(Default)]
struct Counts {
    live: AtomicUsize,
    started: AtomicUsize,
    changed: Notify,
}

impl Live {
    /// How many requests are live.
    pub fn count(&self) -> usize {
        self.0.live.load(Ordering::SeqCst)
    }

    /// How many requests the App has begun.
    pub fn started(&self) -> usize {
        self.0.started.load(Ordering::SeqCst)
    }

    /// Waits until `n` requests are live.
    pub async fn until(&self, n: usize) {
        loop {
            let changed = self.0.changed.notified();
            futures::pin_mut!(changed);
            changed.as_mut().enable();
            if self.count() == n {
                return;
            }
            changed.await;
        }
    }
}

/// Counts a live request for as long as it is held.
struct Guard(Live);

impl Guard {
    fn new(live: &Live) -> Self {
        live.0.live.fetch_add(1, Ordering::SeqCst);
        live.0.started.fetch_add(1, Ordering::SeqCst);
        live.0.changed.notify_waiters();
        Self(live.clone())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0 .0.live.fetch_sub(1, Ordering::SeqCst);
        self.0 .0.changed.notify_waiters();
    }
}

async fn json() -> impl Responder {
    web::Json(Greeting {
        name: "h3".into(),
        count: 3,
    })
}

async fn greet(body: web::Json<Greeting>) -> impl Responder {
    format!("hello {} x{}", body.name, body.count)
}

async fn user(path: web::Path<(String, u32)>) -> impl Responder {
    let (name, id) = path.into_inner();
    format!("{name}#{id}")
}

/// Streams the request body back as it arrives.
async fn echo(payload: web::Payload, live: web::Data<Live>) -> HttpResponse {
    let guard = Guard::new(&live);
    let body = payload.map(move |chunk| {
        let _held = &guard;
        chunk
    });
    HttpResponse::Ok().streaming(body)
}

/// Reads the whole body, then says how long it was.
async fn count(mut payload: web::Payload, live: web::Data<Live>) -> Result<String, error::Error> {
    let _guard = Guard::new(&live);
    let mut n = 0;
    while let Some(chunk) = payload.next().await {
        n += chunk?.len();
    }
    Ok(n.to_string())
}

async fn big() -> HttpResponse {
    let data = bytes::Bytes::from(crate::common::pattern(7, BIG));
    let chunks: Vec<_> = (0..BIG)
        .step_by(100 * 1024)
        .map(|i| Ok::<_, error::Error>(data.slice(i..(i + 100 * 1024).min(BIG))))
        .collect();
    HttpResponse::Ok().streaming(futures::stream::iter(chunks))
}

async fn fail() -> Result<String, error::Error> {
    Err(error::ErrorInternalServerError("boom"))
}

/// The App: JSON, path and body extractors, streaming both ways, an
/// error.
pub fn app(
    live: Live,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(live))
        .route("/json", web::get().to(json))
        .route("/greet", web::post().to(greet))
        .route("/user/{name}/{id}", web::get().to(user))
        .route("/echo", web::post().to(echo))
        .route("/count", web::post().to(count))
        .route("/big", web::get().to(big))
        .route("/fail", web::get().to(fail))
}

/// An endpoint serving `app` over HTTP/3; its address, the certificate to
/// trust, and the live-request counter.
pub fn server() -> (Endpoint, SocketAddr, CertificateDer<'static>, Live) {
    let (tls, cert) = crate::common::server_crypto(&[b"h3"]);
    let endpoint = Endpoint::server(
        ServerConfig::with_crypto(Arc::new(tls)).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let addr = endpoint.local_addr().unwrap();
    let live = Live::default();
    let l = live.clone();
    let ep = endpoint.clone();
    actix::spawn(async move {
        Http3Server::new(move || app(l.clone()))
            .serve(ep)
            .await
            .unwrap();
    });
    (endpoint, addr, cert, live)
}
