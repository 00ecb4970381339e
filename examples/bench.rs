//! actix-quic against quinn, side by side in one run, on 127.0.0.1.
//!
//! ```text
//! cargo run --release --example bench
//! cargo run --release --example bench -- --size-mib 256 --mtu 1452 --handshakes 100
//! ```
//!
//! - Throughput: `--size-mib` MiB (default 1024) on one unidirectional
//!   stream, written in 64 KiB `Bytes` chunks (`write_chunk` on both) and drained with `read_chunk`; timed from the
//!   first write to the last byte (FIN) read by the server.
//! - Handshakes: `--handshakes` (default 200) sequential connections
//!   (connect, handshake, close) on one client endpoint.
//! - Idle memory: `--idle` (default 200) connections opened and left
//!   idle; the heap bytes still allocated, divided by their number (both
//!   ends of each connection, in one process), counted by a global
//!   allocator that counts only during this measurement.
//!
//! Each stack runs its server and its client on two threads, each with its
//! own runtime (an actix `System` for actix-quic, a current-thread tokio
//! runtime for quinn). Both use the same UDP payload size (`--mtu`, default
//! 1200; quinn's MTU discovery is off), the same flow-control windows,
//! initial RTT, idle timeout, congestion controller (CUBIC; `--reno` for
//! NewReno) with the same initial window, and
//! sockets with the same buffer sizes.

use actix_quic::TransportConfig;
use actix_quic::VarInt;
use bytes::Bytes;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::error::Error;
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

#[path = "shared/named_thread.rs"]
mod named_thread;
use named_thread::named;

type BoxError = Box<dyn Error + Send + Sync>;

const ALPN: &[u8] = b"bench";
const MIB: u64 = 1024 * 1024;
const CHUNK: usize = 64 * 1024;
const SOCKET_BUFFER: usize = 8 * 1024 * 1024;
const TRANSFER_LIMIT: Duration = Duration::from_secs(300);

#[derive(Clone, Copy)]
struct Args {
    size_mib: u64,
    mtu: u16,
    handshakes: u32,
    idle: usize,
}

/// Counts live heap bytes while `COUNTING` is set (off during the
/// throughput and handshake runs, where it would only add cost).
struct CountingAlloc;

static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is bookkeeping only.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if COUNTING.load(std::sync::atomic::Ordering::Relaxed) {
            LIVE.fetch_add(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        }
        std::alloc::System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        if COUNTING.load(std::sync::atomic::Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        }
        std::alloc::System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        if COUNTING.load(std::sync::atomic::Ordering::Relaxed) {
            LIVE.fetch_add(
                new as isize - layout.size() as isize,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        std::alloc::System.realloc(ptr, layout, new)
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Live heap bytes counted so far.
fn live() -> isize {
    LIVE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Starts counting (from zero).
fn count_from_here() {
    LIVE.store(0, std::sync::atomic::Ordering::Relaxed);
    COUNTING.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        size_mib: 1024,
        mtu: 1200,
        handshakes: 200,
        idle: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--size-mib" => args.size_mib = value()?.parse().map_err(|e| format!("{a}: {e}"))?,
            "--mtu" => args.mtu = value()?.parse().map_err(|e| format!("{a}: {e}"))?,
            "--reno" => RENO.store(true, std::sync::atomic::Ordering::Relaxed),
            "--handshakes" => {
                args.handshakes = value()?.parse().map_err(|e| format!("{a}: {e}"))?
            }
            "--idle" => args.idle = value()?.parse().map_err(|e| format!("{a}: {e}"))?,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if args.mtu < 1200 {
        return Err("--mtu must be at least 1200".into());
    }
    if args.size_mib == 0 {
        return Err("--size-mib must be at least 1".into());
    }
    if args.idle == 0 {
        return Err("--idle must be at least 1".into());
    }
    Ok(args)
}

/// What the server reports when a stream has been drained.
struct Received {
    bytes: u64,
    at: Instant,
}

#[derive(Default)]
struct Outcome {
    transfer: Duration,
    lost_packets: u64,
    sent_packets: u64,
    handshakes: Duration,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[derive(Clone)]
struct Tls {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

fn tls() -> Result<Tls, BoxError> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let cert: CertificateDer<'static> = made.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
    let mut server = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)?;
    server.alpn_protocols = vec![ALPN.to_vec()];
    server.max_early_data_size = 0;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert)?;
    let mut client = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![ALPN.to_vec()];
    // Every handshake is a full one, for both stacks.
    client.resumption = rustls::client::Resumption::disabled();
    Ok(Tls {
        server: Arc::new(server),
        client: Arc::new(client),
    })
}

fn payload_chunk() -> Bytes {
    (0..CHUNK).map(|i| (i * 31 % 251) as u8).collect()
}

/// Runs the client closure's result through a thread, turning a panic
/// into an error.
fn join<T>(h: std::thread::JoinHandle<Result<T, BoxError>>, who: &str) -> Result<T, BoxError> {
    h.join().map_err(|_| format!("{who} thread panicked"))?
}

// ---- actix-quic ----

/// `--reno`: both stacks use NewReno instead of CUBIC.
static RENO: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The settings both stacks get, so they are compared like for like.
struct Shared {
    mtu: u16,
    reno: bool,
    initial_window: u64,
    stream_receive_window: u32,
    receive_window: u32,
    send_window: u64,
    max_concurrent_streams: u32,
    idle_timeout: Duration,
    initial_rtt: Duration,
    datagram_receive_buffer_size: usize,
}

impl Shared {
    fn new(mtu: u16) -> Self {
        Self {
            mtu,
            reno: RENO.load(std::sync::atomic::Ordering::Relaxed),
            initial_window: 14720,
            stream_receive_window: 4 << 20,
            receive_window: 16 << 20,
            send_window: 16 << 20,
            max_concurrent_streams: 100,
            idle_timeout: Duration::from_secs(30),
            initial_rtt: Duration::from_millis(333),
            datagram_receive_buffer_size: 1 << 20,
        }
    }
}

fn ours_transport(mtu: u16) -> TransportConfig {
    let s = Shared::new(mtu);
    let congestion = if s.reno {
        actix_quic::protocol::CongestionAlgorithm::NewReno
    } else {
        actix_quic::protocol::CongestionAlgorithm::Cubic
    };
    let mut config = TransportConfig::default();
    // The same datagram size for both stacks: no discovery.
    config
        .initial_mtu(s.mtu)
        .mtu_discovery_config(None)
        .congestion(congestion)
        .initial_window(s.initial_window)
        .stream_receive_window(s.stream_receive_window.into())
        .receive_window(s.receive_window.into())
        .send_window(s.send_window)
        .max_concurrent_bidi_streams(s.max_concurrent_streams.into())
        .max_concurrent_uni_streams(s.max_concurrent_streams.into())
        .max_idle_timeout(Some(
            actix_quic::IdleTimeout::try_from(s.idle_timeout).expect("fits"),
        ))
        .initial_rtt(s.initial_rtt)
        .datagram_receive_buffer_size(Some(s.datagram_receive_buffer_size));
    config
}

async fn ours_serve(endpoint: actix_quic::Endpoint, report: UnboundedSender<Received>) {
    while let Some(connecting) = endpoint.accept().await {
        let report = report.clone();
        actix::spawn(async move {
            let Ok(conn) = connecting.await else { return };
            // Handshake-only connections end here when the client closes.
            let Ok(mut recv) = conn.accept_uni().await else {
                return;
            };
            let mut bytes = 0u64;
            loop {
                match recv.read_chunk(CHUNK).await {
                    Ok(Some(c)) => bytes += c.len() as u64,
                    Ok(None) => break,
                    Err(e) => return tracing::warn!(error = %e, "actix-quic server read"),
                }
            }
            let _ = report.send(Received {
                bytes,
                at: Instant::now(),
            });
            conn.closed().await;
        });
    }
}

async fn ours_client(
    args: &Args,
    tls: Tls,
    server: SocketAddr,
    mut received: UnboundedReceiver<Received>,
) -> Result<Outcome, BoxError> {
    let endpoint = actix_quic::Endpoint::client("127.0.0.1:0".parse()?)?;
    let mut config = actix_quic::ClientConfig::new(tls.client)?;
    config.transport_config(Arc::new(ours_transport(args.mtu)));
    endpoint.set_default_client_config(config);
    let total = args.size_mib * MIB;
    let chunk = payload_chunk();

    let conn = endpoint.connect(server, "localhost")?.await?;
    let mut send = conn.open_uni().await?;
    let start = Instant::now();
    let mut written = 0;
    while written < total {
        let n = (total - written).min(CHUNK as u64) as usize;
        send.write_chunk(chunk.slice(..n)).await?;
        written += n as u64;
    }
    send.finish()?;
    let got = tokio::time::timeout(TRANSFER_LIMIT, received.recv())
        .await
        .map_err(|_| "actix-quic transfer timed out")?
        .ok_or("actix-quic server went away")?;
    if got.bytes != total {
        return Err(format!("actix-quic server got {} of {total} bytes", got.bytes).into());
    }
    let stats = conn.stats();
    let mut out = Outcome {
        transfer: got.at.duration_since(start),
        lost_packets: stats.lost_packets,
        sent_packets: stats.packets_sent,
        ..Outcome::default()
    };
    conn.close(VarInt::from_u32(0), b"");
    drop((send, conn));

    let start = Instant::now();
    for _ in 0..args.handshakes {
        let conn = endpoint.connect(server, "localhost")?.await?;
        conn.close(VarInt::from_u32(0), b"");
    }
    out.handshakes = start.elapsed();
    let _ = tokio::time::timeout(Duration::from_secs(5), endpoint.wait_idle()).await;
    Ok(out)
}

fn run_ours(args: &Args, tls: &Tls) -> Result<Outcome, BoxError> {
    let (report_tx, report_rx) = unbounded_channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut server_config = actix_quic::ServerConfig::with_crypto(tls.server.clone())?;
    server_config.transport_config(Arc::new(ours_transport(args.mtu)));
    let server = named("ours-server", move || -> Result<(), BoxError> {
        let system = actix::System::new();
        system.block_on(async move {
            let ep = actix_quic::Endpoint::server(server_config, "127.0.0.1:0".parse()?)?;
            ready_tx.send((ep.local_addr()?, actix::System::current()))?;
            actix::spawn(ours_serve(ep, report_tx));
            Ok::<_, BoxError>(())
        })?;
        system.run()?;
        Ok(())
    });
    let (addr, server_system) = ready_rx
        .recv()
        .map_err(|_| "actix-quic server did not start")?;

    let client = {
        let tls = tls.clone();
        let args = *args;
        named("ours-client", move || {
            actix::System::new().block_on(ours_client(&args, tls, addr, report_rx))
        })
    };
    let out = join(client, "actix-quic client");
    server_system.stop();
    join(server, "actix-quic server")?;
    out
}

// ---- quinn ----

fn quinn_transport(mtu: u16) -> Result<quinn::TransportConfig, BoxError> {
    let s = Shared::new(mtu);
    // The same algorithm as ours (CUBIC by default) with the same initial window.
    let controller: Arc<dyn quinn::congestion::ControllerFactory + Send + Sync> = if s.reno {
        let mut c = quinn::congestion::NewRenoConfig::default();
        c.initial_window(s.initial_window);
        Arc::new(c)
    } else {
        let mut c = quinn::congestion::CubicConfig::default();
        c.initial_window(s.initial_window);
        Arc::new(c)
    };
    let mut t = quinn::TransportConfig::default();
    t.initial_mtu(s.mtu)
        .mtu_discovery_config(None)
        .stream_receive_window(s.stream_receive_window.into())
        .receive_window(s.receive_window.into())
        .send_window(s.send_window)
        .max_concurrent_bidi_streams(s.max_concurrent_streams.into())
        .max_concurrent_uni_streams(s.max_concurrent_streams.into())
        .max_idle_timeout(Some(quinn::IdleTimeout::try_from(s.idle_timeout)?))
        .initial_rtt(s.initial_rtt)
        .datagram_receive_buffer_size(Some(s.datagram_receive_buffer_size))
        .congestion_controller_factory(controller);
    Ok(t)
}

/// A UDP socket set up as actix-quic sets up its own.
fn quinn_socket() -> Result<std::net::UdpSocket, BoxError> {
    let addr: SocketAddr = "127.0.0.1:0".parse()?;
    let s = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = s.set_send_buffer_size(SOCKET_BUFFER);
    s.bind(&addr.into())?;
    Ok(s.into())
}

fn current_thread() -> Result<tokio::runtime::Runtime, BoxError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

async fn quinn_serve(endpoint: quinn::Endpoint, report: UnboundedSender<Received>) {
    while let Some(incoming) = endpoint.accept().await {
        let report = report.clone();
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            let Ok(mut recv) = conn.accept_uni().await else {
                return;
            };
            let mut bytes = 0u64;
            loop {
                match recv.read_chunk(CHUNK, true).await {
                    Ok(Some(c)) => bytes += c.bytes.len() as u64,
                    Ok(None) => break,
                    Err(e) => return tracing::warn!(error = %e, "quinn server read"),
                }
            }
            let _ = report.send(Received {
                bytes,
                at: Instant::now(),
            });
            conn.closed().await;
        });
    }
}

async fn quinn_client(
    args: &Args,
    tls: Tls,
    server: SocketAddr,
    mut received: UnboundedReceiver<Received>,
) -> Result<Outcome, BoxError> {
    let mut endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        None,
        quinn_socket()?,
        Arc::new(quinn::TokioRuntime),
    )?;
    let mut config = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls.client)?));
    config.transport_config(Arc::new(quinn_transport(args.mtu)?));
    endpoint.set_default_client_config(config);
    let total = args.size_mib * MIB;
    let chunk = payload_chunk();

    let conn = endpoint.connect(server, "localhost")?.await?;
    let mut send = conn.open_uni().await?;
    let start = Instant::now();
    let mut written = 0;
    while written < total {
        let n = (total - written).min(CHUNK as u64) as usize;
        send.write_chunk(chunk.slice(..n)).await?;
        written += n as u64;
    }
    send.finish()?;
    let got = tokio::time::timeout(TRANSFER_LIMIT, received.recv())
        .await
        .map_err(|_| "quinn transfer timed out")?
        .ok_or("quinn server went away")?;
    if got.bytes != total {
        return Err(format!("quinn server got {} of {total} bytes", got.bytes).into());
    }
    let stats = conn.stats();
    let mut out = Outcome {
        transfer: got.at.duration_since(start),
        lost_packets: stats.path.lost_packets,
        sent_packets: stats.path.sent_packets,
        ..Outcome::default()
    };
    conn.close(0u32.into(), b"");
    drop((send, conn));

    let start = Instant::now();
    for _ in 0..args.handshakes {
        let conn = endpoint.connect(server, "localhost")?.await?;
        conn.close(0u32.into(), b"");
    }
    out.handshakes = start.elapsed();
    let _ = tokio::time::timeout(Duration::from_secs(5), endpoint.wait_idle()).await;
    Ok(out)
}

fn run_quinn(args: &Args, tls: &Tls) -> Result<Outcome, BoxError> {
    let (report_tx, report_rx) = unbounded_channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut server_config =
        quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls.server.clone())?));
    server_config.transport_config(Arc::new(quinn_transport(args.mtu)?));
    let server = named("quinn-server", move || -> Result<(), BoxError> {
        current_thread()?.block_on(async move {
            let ep = quinn::Endpoint::new(
                quinn::EndpointConfig::default(),
                Some(server_config),
                quinn_socket()?,
                Arc::new(quinn::TokioRuntime),
            )?;
            ready_tx.send((ep.local_addr()?, ep.clone()))?;
            quinn_serve(ep, report_tx).await;
            Ok(())
        })
    });
    let (addr, server_endpoint) = ready_rx.recv().map_err(|_| "quinn server did not start")?;

    let client = {
        let tls = tls.clone();
        let args = *args;
        named("quinn-client", move || {
            current_thread()?.block_on(quinn_client(&args, tls, addr, report_rx))
        })
    };
    let out = join(client, "quinn client");
    server_endpoint.close(0u32.into(), b"");
    join(server, "quinn server")?;
    out
}

// ---- report ----

fn mib_per_sec(args: &Args, o: &Outcome) -> f64 {
    args.size_mib as f64 / o.transfer.as_secs_f64()
}

fn handshakes_per_sec(args: &Args, o: &Outcome) -> f64 {
    f64::from(args.handshakes) / o.handshakes.as_secs_f64()
}

/// How long idle connections are left before counting, so the traffic
/// after the handshake (HANDSHAKE_DONE, tickets, CIDs, ACKs) is over.
const SETTLE: Duration = Duration::from_millis(500);

/// Heap bytes per idle connection (both ends) for actix-quic.
fn idle_ours(args: &Args, tls: &Tls) -> Result<f64, BoxError> {
    let args = *args;
    let tls = tls.clone();
    named("ours-idle", move || {
        actix::System::new().block_on(async move {
            let mut server_config = actix_quic::ServerConfig::with_crypto(tls.server.clone())?;
            server_config.transport_config(Arc::new(ours_transport(args.mtu)));
            let server = actix_quic::Endpoint::server(server_config, "127.0.0.1:0".parse()?)?;
            let addr = server.local_addr()?;
            let client = actix_quic::Endpoint::client("127.0.0.1:0".parse()?)?;
            let mut config = actix_quic::ClientConfig::new(tls.client.clone())?;
            config.transport_config(Arc::new(ours_transport(args.mtu)));
            client.set_default_client_config(config);
            let accept = |server: actix_quic::Endpoint| async move {
                let incoming = server.accept().await.ok_or("no connection")?;
                Ok::<_, BoxError>(incoming.await?)
            };
            // The server handshakes only what it accepts (as quinn's): both
            // at once.
            let pair = || async {
                let (c, s) =
                    futures::join!(client.connect(addr, "localhost")?, accept(server.clone()));
                Ok::<_, BoxError>((c?, s?))
            };
            // One connection first, so lazy set-up is not counted.
            let warm = pair().await?;
            tokio::time::sleep(SETTLE).await;
            count_from_here();
            let mut kept = Vec::with_capacity(args.idle);
            for _ in 0..args.idle {
                kept.push(pair().await?);
            }
            tokio::time::sleep(SETTLE).await;
            let per = live() as f64 / args.idle as f64;
            COUNTING.store(false, std::sync::atomic::Ordering::Relaxed);
            drop((kept, warm));
            Ok::<_, BoxError>(per)
        })
    })
    .join()
    .map_err(|_| "idle measurement panicked")?
}

/// Heap bytes per idle connection (both ends) for quinn.
fn idle_quinn(args: &Args, tls: &Tls) -> Result<f64, BoxError> {
    let args = *args;
    let tls = tls.clone();
    named("quinn-idle", move || {
        current_thread()?.block_on(async move {
            let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(
                QuicServerConfig::try_from(tls.server.clone())?,
            ));
            server_config.transport_config(Arc::new(quinn_transport(args.mtu)?));
            let server = quinn::Endpoint::new(
                quinn::EndpointConfig::default(),
                Some(server_config),
                quinn_socket()?,
                Arc::new(quinn::TokioRuntime),
            )?;
            let addr = server.local_addr()?;
            let mut client = quinn::Endpoint::new(
                quinn::EndpointConfig::default(),
                None,
                quinn_socket()?,
                Arc::new(quinn::TokioRuntime),
            )?;
            let mut config =
                quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls.client.clone())?));
            config.transport_config(Arc::new(quinn_transport(args.mtu)?));
            client.set_default_client_config(config);
            let accept = |server: quinn::Endpoint| async move {
                let incoming = server.accept().await.ok_or("no connection")?;
                Ok::<_, BoxError>(incoming.await?)
            };
            // quinn's server handshakes only what it accepts: both at once.
            let pair = || async {
                let (c, s) =
                    tokio::join!(client.connect(addr, "localhost")?, accept(server.clone()));
                Ok::<_, BoxError>((c?, s?))
            };
            let warm = pair().await?;
            tokio::time::sleep(SETTLE).await;
            count_from_here();
            let mut kept = Vec::with_capacity(args.idle);
            for _ in 0..args.idle {
                kept.push(pair().await?);
            }
            tokio::time::sleep(SETTLE).await;
            let per = live() as f64 / args.idle as f64;
            COUNTING.store(false, std::sync::atomic::Ordering::Relaxed);
            drop((kept, warm));
            Ok::<_, BoxError>(per)
        })
    })
    .join()
    .map_err(|_| "idle measurement panicked")?
}

fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = parse_args().map_err(|e| {
        format!("{e}\nusage: bench [--size-mib N] [--mtu BYTES] [--handshakes N] [--idle N]")
    })?;
    let d = Shared::new(args.mtu);
    println!(
        "{} MiB on one stream, {} B UDP payloads, windows: stream {} KiB, connection {} KiB, send {} KiB; {} handshakes",
        args.size_mib,
        args.mtu,
        d.stream_receive_window / 1024,
        d.receive_window / 1024,
        d.send_window / 1024,
        args.handshakes
    );
    let tls = tls()?;

    let ours = run_ours(&args, &tls)?;
    println!(
        "actix-quic  {:>8.1} MiB/s ({:.2} s, {} packets sent, {} lost)  {:>7.1} handshakes/s",
        mib_per_sec(&args, &ours),
        ours.transfer.as_secs_f64(),
        ours.sent_packets,
        ours.lost_packets,
        handshakes_per_sec(&args, &ours)
    );
    let quinn = run_quinn(&args, &tls)?;
    println!(
        "quinn       {:>8.1} MiB/s ({:.2} s, {} packets sent, {} lost)  {:>7.1} handshakes/s",
        mib_per_sec(&args, &quinn),
        quinn.transfer.as_secs_f64(),
        quinn.sent_packets,
        quinn.lost_packets,
        handshakes_per_sec(&args, &quinn)
    );
    println!(
        "actix-quic / quinn: throughput {:.2}x, handshakes {:.2}x",
        mib_per_sec(&args, &ours) / mib_per_sec(&args, &quinn),
        handshakes_per_sec(&args, &ours) / handshakes_per_sec(&args, &quinn)
    );
    let idle_ours = idle_ours(&args, &tls)?;
    let idle_quinn = idle_quinn(&args, &tls)?;
    println!(
        "idle connection (both ends, heap): actix-quic {:.1} KiB, quinn {:.1} KiB; actix-quic / quinn: memory {:.2}x",
        idle_ours / 1024.0,
        idle_quinn / 1024.0,
        idle_ours / idle_quinn
    );
    Ok(())
}
