//! HTTP/3 request/response, actix-quic against quinn, side by side in one
//! run on 127.0.0.1: h3 over actix-quic (`actix_quic::http3`) and h3 over
//! quinn (h3-quinn), serving the same route to a client of its own stack.
//!
//! ```text
//! cargo run --release --example h3bench --features h3
//! cargo run --release --example h3bench --features h3 -- --requests 50000 --concurrency 32
//! ```
//!
//! - sequential: `--requests` (default 20000) `GET /32` (32-byte body)
//!   one after the other on one connection; req/s and the p50/p99 of
//!   each request's latency (send to last byte).
//! - concurrent: the same number of requests from `--concurrency`
//!   (default 16) requesters at once on one connection; req/s.
//!
//! Each stack runs its server and its client on two threads, each a
//! single-threaded runtime (an actix `System` for actix-quic, a
//! current-thread tokio runtime for quinn), with default transport
//! settings. One JSON record per figure follows the table.

use actix_quic::{http3, ClientConfig, Endpoint, ServerConfig};
use bytes::{Buf, Bytes};
use h3::quic;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

#[path = "shared/named_thread.rs"]
mod named_thread;
use named_thread::named;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const BODY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";
const WARMUP: usize = 500;

struct Args {
    requests: usize,
    concurrency: usize,
}

fn parse_args() -> Result<Args, BoxError> {
    let mut args = Args {
        requests: 20_000,
        concurrency: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--requests" => args.requests = v.parse()?,
            "--concurrency" => args.concurrency = v.parse()?,
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    Ok(args)
}

struct Tls {
    server: rustls::ServerConfig,
    client: rustls::ClientConfig,
}

fn tls() -> Result<Tls, BoxError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    let der: CertificateDer<'static> = cert.cert.der().clone();
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)?;
    server.alpn_protocols = vec![b"h3".to_vec()];
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der)?;
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h3".to_vec()];
    Ok(Tls { server, client })
}

/// Answers every `GET /32` on `conn` with 32 bytes, each request on its
/// own local task.
async fn serve<C>(mut conn: h3::server::Connection<C, Bytes>)
where
    C: quic::Connection<Bytes> + 'static,
    C::BidiStream: 'static,
{
    while let Ok(Some(resolver)) = conn.accept().await {
        tokio::task::spawn_local(async move {
            let Ok((_req, mut stream)) = resolver.resolve_request().await else {
                return;
            };
            let resp = http::Response::builder().status(200).body(()).unwrap();
            if stream.send_response(resp).await.is_ok()
                && stream.send_data(Bytes::from_static(BODY)).await.is_ok()
            {
                let _ = stream.finish().await;
            }
        });
    }
}

/// One `GET /32`; its latency.
async fn get<O: quic::OpenStreams<Bytes>>(
    send: &mut h3::client::SendRequest<O, Bytes>,
) -> Duration {
    let start = Instant::now();
    let req = http::Request::builder()
        .uri("https://localhost/32")
        .body(())
        .unwrap();
    let mut stream = send.send_request(req).await.expect("request sent");
    stream.finish().await.expect("request finished");
    let resp = stream.recv_response().await.expect("response");
    assert_eq!(resp.status(), 200);
    let mut n = 0;
    while let Some(chunk) = stream.recv_data().await.expect("body") {
        n += chunk.remaining();
    }
    assert_eq!(n, BODY.len());
    start.elapsed()
}

/// What one stack measured.
struct Outcome {
    /// Sequential requests' latencies, sorted.
    latencies: Vec<Duration>,
    sequential: Duration,
    concurrent: Duration,
}

/// Warms up, then the sequential and the concurrent runs.
async fn measure<O>(send: h3::client::SendRequest<O, Bytes>, args: &Args) -> Outcome
where
    O: quic::OpenStreams<Bytes> + Clone,
{
    let mut s = send.clone();
    for _ in 0..WARMUP {
        get(&mut s).await;
    }
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(args.requests);
    for _ in 0..args.requests {
        latencies.push(get(&mut s).await);
    }
    let sequential = start.elapsed();
    latencies.sort();
    let per = args.requests / args.concurrency;
    let start = Instant::now();
    let requesters = (0..args.concurrency).map(|_| {
        let mut s = send.clone();
        async move {
            for _ in 0..per {
                get(&mut s).await;
            }
        }
    });
    futures::future::join_all(requesters).await;
    let concurrent = start.elapsed();
    Outcome {
        latencies,
        sequential,
        concurrent,
    }
}

fn run_ours(args: &Args, tls: &Tls) -> Result<Outcome, BoxError> {
    let (addr_tx, addr_rx) = mpsc::channel();
    let server_tls = tls.server.clone();
    // The server thread lives until the process ends.
    named("ours-server", move || {
        actix::System::new().block_on(async move {
            let config = ServerConfig::with_crypto(Arc::new(server_tls)).expect("TLS 1.3");
            let endpoint = Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).expect("bind");
            addr_tx.send(endpoint.local_addr().unwrap()).unwrap();
            while let Some(incoming) = endpoint.accept().await {
                actix::spawn(async move {
                    if let Ok(conn) = incoming.await {
                        if let Ok(h3) =
                            h3::server::Connection::new(http3::Connection::new(conn)).await
                        {
                            serve(h3).await;
                        }
                    }
                });
            }
        })
    });
    let addr: SocketAddr = addr_rx.recv()?;
    let client_tls = tls.client.clone();
    let (requests, concurrency) = (args.requests, args.concurrency);
    named("ours-client", move || {
        actix::System::new().block_on(async move {
            let client = Endpoint::client("127.0.0.1:0".parse().unwrap())?;
            let config = ClientConfig::new(Arc::new(client_tls))?;
            let conn = client.connect_with(config, addr, "localhost")?.await?;
            let (mut driver, send) = h3::client::new(http3::Connection::new(conn)).await?;
            actix::spawn(async move { futures::future::poll_fn(|cx| driver.poll_close(cx)).await });
            let args = Args {
                requests,
                concurrency,
            };
            Ok::<_, BoxError>(measure(send, &args).await)
        })
    })
    .join()
    .map_err(|_| "the actix-quic client panicked")?
}

fn local_runtime() -> (tokio::runtime::Runtime, tokio::task::LocalSet) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    (rt, tokio::task::LocalSet::new())
}

fn run_quinn(args: &Args, tls: &Tls) -> Result<Outcome, BoxError> {
    let (addr_tx, addr_rx) = mpsc::channel();
    let server_tls = tls.server.clone();
    named("quinn-server", move || {
        let (rt, local) = local_runtime();
        local.block_on(&rt, async move {
            let config = quinn::ServerConfig::with_crypto(Arc::new(
                QuicServerConfig::try_from(server_tls).expect("TLS 1.3"),
            ));
            let endpoint =
                quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).expect("bind");
            addr_tx.send(endpoint.local_addr().unwrap()).unwrap();
            while let Some(incoming) = endpoint.accept().await {
                tokio::task::spawn_local(async move {
                    if let Ok(conn) = incoming.await {
                        if let Ok(h3) =
                            h3::server::Connection::new(h3_quinn::Connection::new(conn)).await
                        {
                            serve(h3).await;
                        }
                    }
                });
            }
        })
    });
    let addr: SocketAddr = addr_rx.recv()?;
    let client_tls = tls.client.clone();
    let (requests, concurrency) = (args.requests, args.concurrency);
    named("quinn-client", move || {
        let (rt, local) = local_runtime();
        local.block_on(&rt, async move {
            let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap())?;
            client.set_default_client_config(quinn::ClientConfig::new(Arc::new(
                QuicClientConfig::try_from(client_tls)?,
            )));
            let conn = client.connect(addr, "localhost")?.await?;
            let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn)).await?;
            tokio::task::spawn_local(async move {
                futures::future::poll_fn(|cx| driver.poll_close(cx)).await
            });
            let args = Args {
                requests,
                concurrency,
            };
            Ok::<_, BoxError>(measure(send, &args).await)
        })
    })
    .join()
    .map_err(|_| "the quinn client panicked")?
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let tls = tls()?;
    let ours = run_ours(&args, &tls)?;
    let quinn = run_quinn(&args, &tls)?;
    let rps = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    let figures = [
        (
            "h3_get32_sequential_req_per_s",
            rps(args.requests, ours.sequential),
            rps(args.requests, quinn.sequential),
            true,
        ),
        (
            "h3_get32_sequential_p50_us",
            percentile(&ours.latencies, 0.5).as_secs_f64() * 1e6,
            percentile(&quinn.latencies, 0.5).as_secs_f64() * 1e6,
            false,
        ),
        (
            "h3_get32_sequential_p99_us",
            percentile(&ours.latencies, 0.99).as_secs_f64() * 1e6,
            percentile(&quinn.latencies, 0.99).as_secs_f64() * 1e6,
            false,
        ),
        (
            "h3_get32_concurrent_req_per_s",
            rps(
                args.requests / args.concurrency * args.concurrency,
                ours.concurrent,
            ),
            rps(
                args.requests / args.concurrency * args.concurrency,
                quinn.concurrent,
            ),
            true,
        ),
    ];
    println!(
        "HTTP/3 GET of 32 B on one connection, {} requests ({} at once in the concurrent run)",
        args.requests, args.concurrency
    );
    println!(
        "{:<32} {:>12} {:>12} {:>12}",
        "figure", "actix-quic", "quinn", "actix/quinn"
    );
    for (name, o, q, higher_is_better) in figures {
        let better = if higher_is_better { "higher" } else { "lower" };
        println!(
            "{name:<32} {o:>12.1} {q:>12.1} {:>11.2}x  ({better} is better)",
            o / q
        );
    }
    // As the bench's records: the ratio is actix-quic / quinn.
    for (name, o, q, higher_is_better) in figures {
        println!(
            "{{\"figure\":\"{name}\",\"actix_quic\":{o:.3},\"quinn\":{q:.3},\"ratio\":{:.4},\"higher_is_better\":{higher_is_better}}}",
            o / q
        );
    }
    Ok(())
}
