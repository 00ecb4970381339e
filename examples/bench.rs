//! actix-quic against quinn, side by side in one run, on 127.0.0.1.
//!
//! ```text
//! cargo run --release --example bench
//! cargo run --release --example bench -- --size-mib 256 --handshakes 100 --requests 5000
//! ```
//!
//! Every figure, for both stacks with the same settings, then the ratio
//! actix-quic / quinn and one JSON record per figure:
//! - bulk: `--size-mib` MiB (default 1024) on one unidirectional stream,
//!   written in 64 KiB `Bytes` chunks (`write_chunk` on both) and drained
//!   with `read_chunk`, timed from the first write to the last byte (FIN)
//!   read by the server; at 1200 B and at 1452 B UDP payloads.
//! - handshakes: `--handshakes` (default 200) sequential connections
//!   (connect, handshake, close) on one client endpoint, and as many
//!   again 64 at a time; rate, and each handshake's p50/p99.
//! - request/response: `--requests` (default 20000) 32 B requests each
//!   answered with 32 B, on a new bidirectional stream each, and
//!   ping-pong on one stream; rate, p50 and p99.
//! - CPU: the client's and the server's thread time (from
//!   `/proc/self/task/*/schedstat`) per MiB of bulk and per handshake.
//! - idle memory: `--idle` (default 200) connections opened and left
//!   idle; the heap bytes still allocated, divided by their number (both
//!   ends of each connection, in one process), counted by a global
//!   allocator that counts only during this measurement.
//!
//! - floors: the same work with no QUIC stack, in the same run (see the
//!   `floor` module): UDP ping-pong on blocking and on tokio sockets
//!   under the request figures, rustls handshakes in memory under the
//!   handshake figures (each side's share under its CPU per handshake),
//!   and packets sealed, sent in GSO batches,
//!   received in GRO batches and opened under bulk; each with
//!   floor / quinn, the most any stack could reach against quinn here.
//!   Under the request figures also: each protocol core's own work per
//!   request (actix-quic's `protocol` and `quinn-proto`, in memory, see
//!   the `cores` module) added to a design's UDP floor ("actors + our
//!   core": the most this design, an actor per connection and the
//!   application in tasks of its own, allows with that core; "tokio +
//!   our core": one task per side doing everything), and the cores' work
//!   itself, side by side.
//!
//! - `--cost ping-pong|new-stream|bulk|handshake|idle`: instead of the
//!   above, actix-quic alone runs `--requests` requests of one mode (or
//!   uploads `--size-mib` MiB, or makes `--handshakes` connections) and
//!   prints the datagrams per request (or MiB, or handshake); run
//!   it under `valgrind --tool=callgrind` (instructions) or `heaptrack`
//!   (allocations) and divide by the count, figures that do not move
//!   with the machine's load. `--cost idle` opens `--idle` connections
//!   and exits with them alive: under `heaptrack`, the bytes "leaked"
//!   are the idle connections' heap, by allocation site.
//! - `--workers N`: instead of the above, actix-quic's server with 1 and
//!   with N workers in the same run (`EndpointConfig::workers`): 64
//!   concurrent handshakes and 8 concurrent bulk uploads (`--size-mib`
//!   in all) from two client threads; aggregate rates, and the server's
//!   CPU time (every thread of the process but the clients') per
//!   handshake and per MiB.
//!
//! Each stack runs its server and its client on two threads, each with its
//! own runtime (an actix `System` for actix-quic, a current-thread tokio
//! runtime for quinn). Both use the same UDP payload size (quinn's MTU
//! discovery is off, as ours), the same flow-control windows, initial RTT,
//! idle timeout, congestion controller (CUBIC; `--reno` for NewReno) with
//! the same initial window, and sockets with the same buffer sizes
//! (`--quinn-default-buffers`: quinn's sockets keep the kernel's default
//! sizes, as a quinn endpoint that sets none has).

use actix_quic::TransportConfig;
use bytes::Bytes;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::error::Error;
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

#[path = "shared/bench_core.rs"]
mod cores;
#[path = "shared/bench_floor.rs"]
mod floor;
#[path = "shared/named_thread.rs"]
mod named_thread;
#[path = "shared/bench_workers.rs"]
mod workers;
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
    handshakes: u32,
    requests: u32,
    idle: usize,
    /// `--workers N`: only the multi-worker comparison, 1 against N.
    workers: Option<usize>,
    /// `--cost MODE`: only actix-quic's requests of one mode.
    cost: Option<Cost>,
    /// `--cost idle`: only actix-quic's `--idle` connections, opened and
    /// left idle; the process then exits with them alive, so `heaptrack`
    /// reports each live byte where it was allocated (as "leaked").
    idle_cost: bool,
}

/// `--cost ping-pong|new-stream|bulk|handshake|idle`: actix-quic alone
/// runs `--requests` requests of one mode (or, for `bulk`, uploads
/// `--size-mib` MiB on one stream at 1452 B payloads; for `handshake`,
/// makes `--handshakes` connections one after another) and prints the
/// datagrams each request (or MiB) took, for a counter of the whole
/// process to divide by: instructions under `valgrind --tool=callgrind`,
/// allocations under `heaptrack`. Unlike times, these do not depend on
/// what else the machine is doing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cost {
    PingPong,
    NewStream,
    Bulk,
    Handshake,
}

/// The UDP payload sizes bulk runs at.
const MTUS: [u16; 2] = [1200, 1452];
/// Handshakes at once in the concurrent run.
const CONCURRENT: usize = 64;
/// Request and response size.
const MESSAGE: usize = 32;

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
        handshakes: 200,
        requests: 20_000,
        idle: 200,
        workers: None,
        cost: None,
        idle_cost: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--size-mib" => args.size_mib = value()?.parse().map_err(|e| format!("{a}: {e}"))?,
            "--reno" => RENO.store(true, std::sync::atomic::Ordering::Relaxed),
            "--quinn-default-buffers" => {
                QUINN_DEFAULT_BUFFERS.store(true, std::sync::atomic::Ordering::Relaxed)
            }
            "--handshakes" => {
                args.handshakes = value()?.parse().map_err(|e| format!("{a}: {e}"))?
            }
            "--requests" => args.requests = value()?.parse().map_err(|e| format!("{a}: {e}"))?,
            "--idle" => args.idle = value()?.parse().map_err(|e| format!("{a}: {e}"))?,
            "--workers" => args.workers = Some(value()?.parse().map_err(|e| format!("{a}: {e}"))?),
            "--cost" => {
                args.cost = Some(match value()?.as_str() {
                    "ping-pong" => Cost::PingPong,
                    "new-stream" => Cost::NewStream,
                    "bulk" => Cost::Bulk,
                    "handshake" => Cost::Handshake,
                    "idle" => {
                        args.idle_cost = true;
                        continue;
                    }
                    other => {
                        return Err(format!(
                            "--cost: ping-pong, new-stream, bulk, handshake or idle, not {other}"
                        ))
                    }
                })
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if args.size_mib == 0 || args.handshakes == 0 || args.requests == 0 || args.idle == 0 {
        return Err("every count must be at least 1".into());
    }
    Ok(args)
}

/// This thread's ID, for reading its CPU time from another thread.
fn thread_id() -> u32 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time thread `tid` of this process has run (the first field of
/// its schedstat, in nanoseconds).
fn cpu(tid: u32) -> Duration {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// CPU time of the client (this thread) and of the server thread.
#[derive(Clone, Copy, Default)]
struct Cpu {
    client: Duration,
    server: Duration,
}

impl Cpu {
    fn now(client: u32, server: u32) -> Self {
        Self {
            client: cpu(client),
            server: cpu(server),
        }
    }

    fn since(self, start: Self) -> Self {
        Self {
            client: self.client.saturating_sub(start.client),
            server: self.server.saturating_sub(start.server),
        }
    }
}

/// Times `f`'s CPU on both threads.
struct CpuClock {
    client: u32,
    server: u32,
}

impl CpuClock {
    fn start(&self) -> Cpu {
        Cpu::now(self.client, self.server)
    }
    fn since(&self, start: Cpu) -> Cpu {
        Cpu::now(self.client, self.server).since(start)
    }
}

/// What the server reports when a stream has been drained.
struct Received {
    bytes: u64,
    at: Instant,
}

/// One bulk transfer.
#[derive(Default)]
struct Bulk {
    mtu: u16,
    time: Duration,
    lost_packets: u64,
    sent_packets: u64,
    cpu: Cpu,
}

/// Latencies of a run of operations, and its length.
#[derive(Default)]
struct Run {
    total: Duration,
    /// Sorted.
    latencies: Vec<Duration>,
    cpu: Cpu,
}

impl Run {
    fn new(total: Duration, mut latencies: Vec<Duration>, cpu: Cpu) -> Self {
        latencies.sort();
        Self {
            total,
            latencies,
            cpu,
        }
    }

    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.total.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
}

#[derive(Default)]
struct Outcome {
    bulk: Vec<Bulk>,
    handshakes: Run,
    concurrent_handshakes: Run,
    new_stream_requests: Run,
    ping_pong: Run,
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

/// `--quinn-default-buffers`: quinn's sockets keep the kernel's sizes.
static QUINN_DEFAULT_BUFFERS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

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

/// The client's measurements, the same for both stacks (their handles
/// have the same method names): `$packets(&conn)` gives a connection's
/// (sent, lost) packet counts.
macro_rules! measure_client {
    ($name:expr, $args:ident, $endpoint:ident, $config:ident, $server:ident, $received:ident, $clock:ident, $packets:expr) => {{
        let (args, endpoint, config, server, received, clock) = (
            $args,
            &$endpoint,
            &$config,
            $server,
            &mut $received,
            &$clock,
        );
        let total = args.size_mib * MIB;
        let chunk = payload_chunk();
        let mut out = Outcome::default();

        for mtu in MTUS {
            let conn = endpoint
                .connect_with(config(mtu)?, server, "localhost")?
                .await?;
            let mut send = conn.open_uni().await?;
            let cpu = clock.start();
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
                .map_err(|_| concat!($name, " transfer timed out"))?
                .ok_or(concat!($name, " server went away"))?;
            if got.bytes != total {
                return Err(format!("{} server got {} of {total} bytes", $name, got.bytes).into());
            }
            let (sent_packets, lost_packets) = $packets(&conn);
            out.bulk.push(Bulk {
                mtu,
                time: got.at.duration_since(start),
                lost_packets,
                sent_packets,
                cpu: clock.since(cpu),
            });
            conn.close(0u32.into(), b"");
        }

        let handshake = || async {
            let start = Instant::now();
            let conn = endpoint.connect(server, "localhost")?.await?;
            let took = start.elapsed();
            conn.close(0u32.into(), b"");
            Ok::<_, BoxError>(took)
        };
        let (cpu, start) = (clock.start(), Instant::now());
        let mut latencies = Vec::new();
        for _ in 0..args.handshakes {
            latencies.push(handshake().await?);
        }
        out.handshakes = Run::new(start.elapsed(), latencies, clock.since(cpu));
        let (cpu, start) = (clock.start(), Instant::now());
        let mut latencies = Vec::new();
        for _ in 0..rounds(args) {
            let round = futures::future::join_all((0..CONCURRENT).map(|_| handshake())).await;
            for took in round {
                latencies.push(took?);
            }
        }
        out.concurrent_handshakes = Run::new(start.elapsed(), latencies, clock.since(cpu));

        let conn = endpoint.connect(server, "localhost")?.await?;
        let request = [7u8; MESSAGE];
        let exchange = || async {
            let start = Instant::now();
            let (mut send, mut recv) = conn.open_bi().await?;
            send.write_all(&request).await?;
            send.finish()?;
            let answer = recv.read_to_end(2 * MESSAGE).await?;
            if answer.len() != MESSAGE {
                return Err::<Duration, BoxError>("short answer".into());
            }
            Ok(start.elapsed())
        };
        for _ in 0..WARMUP {
            exchange().await?;
        }
        let (cpu, start) = (clock.start(), Instant::now());
        let mut latencies = Vec::with_capacity(args.requests as usize);
        for _ in 0..args.requests {
            latencies.push(exchange().await?);
        }
        out.new_stream_requests = Run::new(start.elapsed(), latencies, clock.since(cpu));

        let (mut send, mut recv) = conn.open_bi().await?;
        let mut answer = [0u8; MESSAGE];
        for _ in 0..WARMUP {
            send.write_all(&request).await?;
            recv.read_exact(&mut answer).await?;
        }
        let (cpu, start) = (clock.start(), Instant::now());
        let mut latencies = Vec::with_capacity(args.requests as usize);
        for _ in 0..args.requests {
            let t = Instant::now();
            send.write_all(&request).await?;
            recv.read_exact(&mut answer).await?;
            latencies.push(t.elapsed());
        }
        out.ping_pong = Run::new(start.elapsed(), latencies, clock.since(cpu));
        send.finish()?;
        conn.close(0u32.into(), b"");
        let _ = tokio::time::timeout(Duration::from_secs(5), endpoint.wait_idle()).await;
        Ok(out)
    }};
}

/// Answers each 32 B message on a bidirectional stream with the same
/// 32 B, until the client finishes the stream; then finishes it too.
async fn ours_echo(mut send: actix_quic::SendStream, mut recv: actix_quic::RecvStream) {
    let mut buf = [0u8; MESSAGE];
    while recv.read_exact(&mut buf).await.is_ok() {
        if send.write_all(&buf).await.is_err() {
            return;
        }
    }
    let _ = send.finish();
}

async fn ours_serve(endpoint: actix_quic::Endpoint, report: UnboundedSender<Received>) {
    while let Some(incoming) = endpoint.accept().await {
        let report = report.clone();
        actix::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            let c = conn.clone();
            actix::spawn(async move {
                while let Ok((send, recv)) = c.accept_bi().await {
                    actix::spawn(ours_echo(send, recv));
                }
            });
            // Handshake-only connections end here when the client closes.
            while let Ok(mut recv) = conn.accept_uni().await {
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
            }
        });
    }
}

async fn ours_client(
    args: &Args,
    tls: Tls,
    server: SocketAddr,
    mut received: UnboundedReceiver<Received>,
    clock: CpuClock,
) -> Result<Outcome, BoxError> {
    let endpoint = actix_quic::Endpoint::client("127.0.0.1:0".parse()?)?;
    let config = |mtu| -> Result<actix_quic::ClientConfig, BoxError> {
        let mut config = actix_quic::ClientConfig::new(tls.client.clone())?;
        config.transport_config(Arc::new(ours_transport(mtu)));
        Ok(config)
    };
    endpoint.set_default_client_config(config(MTUS[0])?);
    measure_client!(
        "actix-quic",
        args,
        endpoint,
        config,
        server,
        received,
        clock,
        |c: &actix_quic::Connection| {
            let s = c.stats();
            (s.packets_sent, s.lost_packets)
        }
    )
}

/// Requests before each measured request/response run.
const WARMUP: u32 = 200;

/// Rounds of `CONCURRENT` handshakes: about as many handshakes as the
/// sequential run.
fn rounds(args: &Args) -> usize {
    (args.handshakes as usize / CONCURRENT).max(1)
}

/// An actix-quic server of `workers` workers running on its own thread
/// (`--workers` uses it too).
struct OursServer {
    addr: SocketAddr,
    endpoint: actix_quic::Endpoint,
    system: actix::System,
    /// The server thread (its first worker's).
    tid: u32,
    thread: std::thread::JoinHandle<Result<(), BoxError>>,
    /// Drained uploads.
    reports: UnboundedReceiver<Received>,
}

impl OursServer {
    fn start(tls: &Tls, workers: usize) -> Result<Self, BoxError> {
        let (report_tx, reports) = unbounded_channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let mut server_config = actix_quic::ServerConfig::with_crypto(tls.server.clone())?;
        server_config.transport_config(Arc::new(ours_transport(MTUS[1])));
        let thread = named("ours-server", move || -> Result<(), BoxError> {
            let system = actix::System::new();
            system.block_on(async move {
                let ep = actix_quic::Endpoint::new(
                    actix_quic::EndpointConfig::new().workers(workers),
                    Some(server_config),
                    "127.0.0.1:0".parse()?,
                )?;
                ready_tx.send((ep.clone(), actix::System::current(), thread_id()))?;
                actix::spawn(ours_serve(ep, report_tx));
                Ok::<_, BoxError>(())
            })?;
            system.run()?;
            Ok(())
        });
        let (endpoint, system, tid) = ready_rx
            .recv()
            .map_err(|_| "actix-quic server did not start")?;
        if endpoint.workers() != workers {
            return Err(format!(
                "asked for {workers} workers, the endpoint runs {}",
                endpoint.workers()
            )
            .into());
        }
        Ok(Self {
            addr: endpoint.local_addr()?,
            endpoint,
            system,
            tid,
            thread,
            reports,
        })
    }

    /// Stops the server and waits for its thread.
    fn stop(self) -> Result<(), BoxError> {
        self.system.stop();
        join(self.thread, "actix-quic server")
    }

    /// Runs `client` on a thread of its own against this server, then
    /// stops the server.
    fn serve<T: Send + 'static>(
        mut self,
        client: impl FnOnce(SocketAddr, UnboundedReceiver<Received>, u32) -> Result<T, BoxError>
            + Send
            + 'static,
    ) -> Result<T, BoxError> {
        let (addr, tid) = (self.addr, self.tid);
        let reports = std::mem::replace(&mut self.reports, unbounded_channel().1);
        let client = named("ours-client", move || client(addr, reports, tid));
        let out = join(client, "actix-quic client");
        self.stop()?;
        out
    }
}

fn run_ours(args: &Args, tls: &Tls) -> Result<Outcome, BoxError> {
    let (tls, args) = (tls.clone(), *args);
    OursServer::start(&tls, 1)?.serve(move |addr, reports, server_tid| {
        let clock = CpuClock {
            client: thread_id(),
            server: server_tid,
        };
        actix::System::new().block_on(ours_client(&args, tls, addr, reports, clock))
    })
}

/// `--cost`: see [`Cost`].
fn cost(args: &Args, tls: &Tls, mode: Cost) -> Result<(), BoxError> {
    let (tls, mib) = (tls.clone(), args.size_mib);
    let n = if mode == Cost::Handshake {
        args.handshakes
    } else {
        args.requests
    };
    let (sent, received, cpu) =
        OursServer::start(&tls, 1)?.serve(move |addr, mut reports, server| {
            let clock = CpuClock {
                client: thread_id(),
                server,
            };
            actix::System::new().block_on(async move {
                let endpoint = actix_quic::Endpoint::client("127.0.0.1:0".parse()?)?;
                let mut config = actix_quic::ClientConfig::new(tls.client.clone())?;
                config.transport_config(Arc::new(ours_transport(MTUS[1])));
                endpoint.set_default_client_config(config);
                let conn = endpoint.connect(addr, "localhost")?.await?;
                let request = [7u8; MESSAGE];
                let mut answer = [0u8; MESSAGE];
                let before = conn.stats();
                // Datagrams of connections other than `conn`.
                let mut others = (0, 0);
                let start = clock.start();
                match mode {
                    Cost::Handshake => {
                        for _ in 0..n {
                            let c = endpoint.connect(addr, "localhost")?.await?;
                            let s = c.stats();
                            others.0 += s.udp_tx_datagrams;
                            others.1 += s.udp_rx_datagrams;
                            c.close(0u32.into(), b"");
                        }
                    }
                    Cost::PingPong => {
                        let (mut send, mut recv) = conn.open_bi().await?;
                        for _ in 0..n {
                            send.write_all(&request).await?;
                            recv.read_exact(&mut answer).await?;
                        }
                    }
                    Cost::Bulk => {
                        let total = mib * MIB;
                        workers::upload(&conn, total).await?;
                        let got = tokio::time::timeout(TRANSFER_LIMIT, reports.recv())
                            .await?
                            .ok_or("the server went away")?;
                        if got.bytes != total {
                            return Err(
                                format!("the server got {} of {total} bytes", got.bytes).into()
                            );
                        }
                    }
                    Cost::NewStream => {
                        for _ in 0..n {
                            let (mut send, mut recv) = conn.open_bi().await?;
                            send.write_all(&request).await?;
                            send.finish()?;
                            if recv.read_to_end(2 * MESSAGE).await?.len() != MESSAGE {
                                return Err::<_, BoxError>("short answer".into());
                            }
                        }
                    }
                }
                let cpu = clock.since(start);
                let after = conn.stats();
                conn.close(0u32.into(), b"");
                Ok((
                    after.udp_tx_datagrams - before.udp_tx_datagrams + others.0,
                    after.udp_rx_datagrams - before.udp_rx_datagrams + others.1,
                    cpu,
                ))
            })
        })?;
    let (per, what, each) = match mode {
        Cost::Bulk => (
            mib as f64,
            format!("{mib} MiB on one stream: datagrams per MiB"),
            "MiB",
        ),
        Cost::Handshake => (
            f64::from(n),
            format!("{n} handshakes, one after another: datagrams per handshake (until the client's completes)"),
            "handshake",
        ),
        _ => (
            f64::from(n),
            format!("{n} requests of {MESSAGE} B: datagrams per request"),
            "request",
        ),
    };
    println!(
        "{what}: {:.2} from the client, {:.2} from the server",
        sent as f64 / per,
        received as f64 / per
    );
    // Thread CPU time moves with the machine's load less than elapsed
    // time does, but more than the counters above.
    println!(
        "CPU per {each} (us): client {:.1}, server {:.1}",
        us(cpu.client) / per,
        us(cpu.server) / per
    );
    Ok(())
}

/// A server endpoint of one worker: the comparison with quinn is of one
/// core each (`--workers N` measures more).
fn one_worker_server(config: actix_quic::ServerConfig) -> Result<actix_quic::Endpoint, BoxError> {
    Ok(actix_quic::Endpoint::new(
        actix_quic::EndpointConfig::new().workers(1),
        Some(config),
        "127.0.0.1:0".parse()?,
    )?)
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

/// A UDP socket set up as actix-quic sets up its own (unless
/// `--quinn-default-buffers`).
fn quinn_socket() -> Result<std::net::UdpSocket, BoxError> {
    socket_with(!QUINN_DEFAULT_BUFFERS.load(std::sync::atomic::Ordering::Relaxed))
}

/// A UDP socket on 127.0.0.1, with actix-quic's buffer sizes if `sized`.
fn socket_with(sized: bool) -> Result<std::net::UdpSocket, BoxError> {
    let addr: SocketAddr = "127.0.0.1:0".parse()?;
    let s = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if sized {
        let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = s.set_send_buffer_size(SOCKET_BUFFER);
    }
    s.bind(&addr.into())?;
    Ok(s.into())
}

fn current_thread() -> Result<tokio::runtime::Runtime, BoxError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// As [`ours_echo`], with quinn's streams.
async fn quinn_echo(mut send: quinn::SendStream, mut recv: quinn::RecvStream) {
    let mut buf = [0u8; MESSAGE];
    while recv.read_exact(&mut buf).await.is_ok() {
        if send.write_all(&buf).await.is_err() {
            return;
        }
    }
    let _ = send.finish();
}

async fn quinn_serve(endpoint: quinn::Endpoint, report: UnboundedSender<Received>) {
    while let Some(incoming) = endpoint.accept().await {
        let report = report.clone();
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            let c = conn.clone();
            tokio::spawn(async move {
                while let Ok((send, recv)) = c.accept_bi().await {
                    tokio::spawn(quinn_echo(send, recv));
                }
            });
            while let Ok(mut recv) = conn.accept_uni().await {
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
            }
        });
    }
}

async fn quinn_client(
    args: &Args,
    tls: Tls,
    server: SocketAddr,
    mut received: UnboundedReceiver<Received>,
    clock: CpuClock,
) -> Result<Outcome, BoxError> {
    let mut endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        None,
        quinn_socket()?,
        Arc::new(quinn::TokioRuntime),
    )?;
    let config = |mtu| -> Result<quinn::ClientConfig, BoxError> {
        let mut config =
            quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls.client.clone())?));
        config.transport_config(Arc::new(quinn_transport(mtu)?));
        Ok(config)
    };
    endpoint.set_default_client_config(config(MTUS[0])?);
    measure_client!(
        "quinn",
        args,
        endpoint,
        config,
        server,
        received,
        clock,
        |c: &quinn::Connection| {
            let s = c.stats();
            (s.path.sent_packets, s.path.lost_packets)
        }
    )
}

fn run_quinn(args: &Args, tls: &Tls) -> Result<Outcome, BoxError> {
    let (report_tx, report_rx) = unbounded_channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut server_config =
        quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls.server.clone())?));
    server_config.transport_config(Arc::new(quinn_transport(MTUS[1])?));
    let server = named("quinn-server", move || -> Result<(), BoxError> {
        current_thread()?.block_on(async move {
            let ep = quinn::Endpoint::new(
                quinn::EndpointConfig::default(),
                Some(server_config),
                quinn_socket()?,
                Arc::new(quinn::TokioRuntime),
            )?;
            ready_tx.send((ep.local_addr()?, ep.clone(), thread_id()))?;
            quinn_serve(ep, report_tx).await;
            Ok(())
        })
    });
    let (addr, server_endpoint, server_tid) =
        ready_rx.recv().map_err(|_| "quinn server did not start")?;

    let client = {
        let tls = tls.clone();
        let args = *args;
        named("quinn-client", move || {
            let clock = CpuClock {
                client: thread_id(),
                server: server_tid,
            };
            current_thread()?.block_on(quinn_client(&args, tls, addr, report_rx, clock))
        })
    };
    let out = join(client, "quinn client");
    server_endpoint.close(0u32.into(), b"");
    join(server, "quinn server")?;
    out
}

// ---- idle memory ----

/// How long idle connections are left before counting, so the traffic
/// after the handshake (HANDSHAKE_DONE, tickets, CIDs, ACKs) is over.
const SETTLE: Duration = Duration::from_millis(500);

/// Heap bytes per idle connection (both ends) for actix-quic.
/// With `exit`, the process exits once the figure is printed, with the
/// connections alive (`--cost idle`).
fn idle_ours(args: &Args, tls: &Tls, exit: bool) -> Result<f64, BoxError> {
    let args = *args;
    let tls = tls.clone();
    named("ours-idle", move || {
        actix::System::new().block_on(async move {
            let mut server_config = actix_quic::ServerConfig::with_crypto(tls.server.clone())?;
            server_config.transport_config(Arc::new(ours_transport(MTUS[0])));
            let server = one_worker_server(server_config)?;
            let addr = server.local_addr()?;
            let client = actix_quic::Endpoint::client("127.0.0.1:0".parse()?)?;
            let mut config = actix_quic::ClientConfig::new(tls.client.clone())?;
            config.transport_config(Arc::new(ours_transport(MTUS[0])));
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
            if exit {
                println!(
                    "{} idle connections: {:.2} KiB of heap each, both ends",
                    args.idle,
                    per / 1024.0
                );
                std::process::exit(0);
            }
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
            server_config.transport_config(Arc::new(quinn_transport(MTUS[0])?));
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
            config.transport_config(Arc::new(quinn_transport(MTUS[0])?));
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

// ---- report ----

/// One figure of both stacks.
struct Figure {
    name: String,
    unit: &'static str,
    ours: f64,
    quinn: f64,
    /// A higher value is better (rates); otherwise lower is (times,
    /// CPU, memory).
    higher_is_better: bool,
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Every figure of the two outcomes, and the idle memory.
fn figures(args: &Args, ours: &Outcome, quinn: &Outcome, idle: (f64, f64)) -> Vec<Figure> {
    let mut f = Vec::new();
    let mut add = |name: String, unit, o: f64, q: f64, higher_is_better| {
        f.push(Figure {
            name,
            unit,
            ours: o,
            quinn: q,
            higher_is_better,
        })
    };
    let mib = args.size_mib as f64;
    for (o, q) in ours.bulk.iter().zip(&quinn.bulk) {
        let m = o.mtu;
        let rate = |b: &Bulk| mib / b.time.as_secs_f64();
        add(
            format!("bulk_{m}_mib_per_s"),
            "MiB/s",
            rate(o),
            rate(q),
            true,
        );
        let per_mib = |d: Duration| us(d) / mib;
        add(
            format!("bulk_{m}_client_cpu_us_per_mib"),
            "us",
            per_mib(o.cpu.client),
            per_mib(q.cpu.client),
            false,
        );
        add(
            format!("bulk_{m}_server_cpu_us_per_mib"),
            "us",
            per_mib(o.cpu.server),
            per_mib(q.cpu.server),
            false,
        );
    }
    let runs = [
        ("handshakes", &ours.handshakes, &quinn.handshakes, "per_s"),
        (
            "concurrent_handshakes",
            &ours.concurrent_handshakes,
            &quinn.concurrent_handshakes,
            "per_s",
        ),
        (
            "requests_new_stream",
            &ours.new_stream_requests,
            &quinn.new_stream_requests,
            "per_s",
        ),
        (
            "requests_ping_pong",
            &ours.ping_pong,
            &quinn.ping_pong,
            "per_s",
        ),
    ];
    for (name, o, q, _) in runs {
        add(format!("{name}_per_s"), "1/s", o.rate(), q.rate(), true);
        add(
            format!("{name}_p50_us"),
            "us",
            us(o.percentile(0.5)),
            us(q.percentile(0.5)),
            false,
        );
        add(
            format!("{name}_p99_us"),
            "us",
            us(o.percentile(0.99)),
            us(q.percentile(0.99)),
            false,
        );
    }
    for (name, o, q) in [
        ("handshake", &ours.handshakes, &quinn.handshakes),
        (
            "concurrent_handshake",
            &ours.concurrent_handshakes,
            &quinn.concurrent_handshakes,
        ),
    ] {
        let each = |d: Duration, r: &Run| us(d) / r.latencies.len() as f64;
        add(
            format!("{name}_client_cpu_us"),
            "us",
            each(o.cpu.client, o),
            each(q.cpu.client, q),
            false,
        );
        add(
            format!("{name}_server_cpu_us"),
            "us",
            each(o.cpu.server, o),
            each(q.cpu.server, q),
            false,
        );
    }
    add(
        "idle_heap_kib_per_connection".into(),
        "KiB",
        idle.0 / 1024.0,
        idle.1 / 1024.0,
        false,
    );
    f
}

/// The floors (see [`floor`]) under the figure named `name`, each with
/// what it is: a new-stream request's are ping-pong's, each request being
/// at least one round trip.
fn floors_of(
    name: &str,
    floors: &floor::Floors,
    (ours, quinn): &(cores::CoreWork, cores::CoreWork),
) -> Vec<(&'static str, f64)> {
    let rate = |r: &Run| r.rate();
    let p50 = |r: &Run| us(r.percentile(0.5));
    // A design's hand-overs (its UDP floor: one round trip) plus a core's
    // critical-path work per request or handshake: the least that design
    // allows with that core. The rate adds mean times; the p50 adds
    // medians (close to, not exactly, the median of the sum).
    let with_cores = |times: fn(&cores::CoreWork) -> &[Duration], actors: &Run, p: bool| {
        let work = |c: &cores::CoreWork| {
            us(if p {
                cores::CoreWork::p50(times(c))
            } else {
                cores::CoreWork::mean(times(c))
            })
        };
        let (ours, quinn) = (work(ours), work(quinn));
        let floor = |r: &Run, core: f64| {
            if p {
                p50(r) + core
            } else {
                1e6 / (1e6 / r.rate() + core)
            }
        };
        let tokio = &floors.async_ping_pong;
        vec![
            ("actors + our core", floor(actors, ours)),
            ("actors + quinn core", floor(actors, quinn)),
            ("tokio + our core", floor(tokio, ours)),
            ("tokio + quinn core", floor(tokio, quinn)),
        ]
    };
    let requests = |new_stream: bool, p: bool| {
        if new_stream {
            with_cores(|c| &c.new_stream, &floors.actor_task_each, p)
        } else {
            with_cores(|c| &c.ping_pong, &floors.actor_ping_pong, p)
        }
    };
    let handshakes = |p: bool| with_cores(|c| &c.handshakes, &floors.actor_ping_pong, p);
    let tls_each = |d: Duration| us(d) / floors.handshakes.latencies.len() as f64;
    let udp = |f: fn(&Run) -> f64| {
        vec![
            ("UDP, blocking", f(&floors.ping_pong)),
            ("UDP, tokio", f(&floors.async_ping_pong)),
            ("UDP, actors", f(&floors.actor_ping_pong)),
            ("sealed, tokio", f(&floors.sealed_async_ping_pong)),
            ("sealed, actors", f(&floors.sealed_actor_ping_pong)),
        ]
    };
    if let Some(&(_, r)) = floors
        .bulk
        .iter()
        .find(|(mtu, _)| name == format!("bulk_{mtu}_mib_per_s"))
    {
        return vec![("sealed packets", r)];
    }
    match name {
        "handshakes_per_s" => {
            let mut v = vec![("TLS in memory", rate(&floors.handshakes))];
            v.extend(handshakes(false));
            v
        }
        "handshakes_p50_us" => {
            let mut v = vec![("TLS in memory", p50(&floors.handshakes))];
            v.extend(handshakes(true));
            v
        }
        // Each side's TLS work per handshake (a sequential one: the same
        // work as one of many at once).
        "handshake_client_cpu_us" | "concurrent_handshake_client_cpu_us" => {
            vec![("TLS, client", tls_each(floors.handshakes.cpu.client))]
        }
        "handshake_server_cpu_us" | "concurrent_handshake_server_cpu_us" => {
            vec![("TLS, server", tls_each(floors.handshakes.cpu.server))]
        }
        "requests_new_stream_per_s" | "requests_ping_pong_per_s" => {
            let mut v = udp(rate);
            if name.contains("new_stream") {
                v.push(("UDP, actors, tasks", rate(&floors.actor_task_each)));
            }
            v.extend(requests(name.contains("new_stream"), false));
            v
        }
        "requests_new_stream_p50_us" | "requests_ping_pong_p50_us" => {
            let mut v = udp(p50);
            if name.contains("new_stream") {
                v.push(("UDP, actors, tasks", p50(&floors.actor_task_each)));
            }
            v.extend(requests(name.contains("new_stream"), true));
            v
        }
        _ => Vec::new(),
    }
}

/// Prints each figure that has a floor against it, as a table and as
/// JSON records.
fn print_floors(
    figures: &[Figure],
    floors: &floor::Floors,
    cores: &(cores::CoreWork, cores::CoreWork),
) {
    println!(
        "{:<32} {:<19} {:>10} {:>10} {:>12} {:>12}",
        "floor (no QUIC stack)", "of", "floor", "quinn", "floor/quinn", "actix/floor"
    );
    let rows: Vec<_> = figures
        .iter()
        .flat_map(|f| {
            floors_of(&f.name, floors, cores)
                .into_iter()
                .map(move |(what, v)| (f, what, v))
        })
        .collect();
    for (f, what, floor) in &rows {
        println!(
            "{:<32} {:<19} {:>10.2} {:>10.2} {:>11.2}x {:>11.2}x",
            f.name,
            what,
            floor,
            f.quinn,
            floor / f.quinn,
            f.ours / floor
        );
    }
    for (f, what, floor) in &rows {
        println!(
            "{{\"floor\":\"{}\",\"of\":\"{what}\",\"unit\":\"{}\",\"value\":{floor:.3},\"quinn\":{:.3},\"actix_quic\":{:.3},\"floor_over_quinn\":{:.4},\"higher_is_better\":{}}}",
            f.name,
            f.unit,
            f.quinn,
            f.ours,
            floor / f.quinn,
            f.higher_is_better
        );
    }
}

/// Each core's critical-path work per handshake and request (see
/// [`cores`]), as a
/// table and as JSON records.
fn print_cores((ours, quinn): &(cores::CoreWork, cores::CoreWork)) {
    println!(
        "{:<40} {:>12} {:>12} {:>12}",
        "core work, in memory (us)", "actix-quic", "quinn-proto", "ours/quinn"
    );
    type Times = fn(&cores::CoreWork) -> &[Duration];
    let (mean, p50): (fn(&[Duration]) -> Duration, _) =
        (cores::CoreWork::mean, cores::CoreWork::p50);
    let (hs, ns, pp): (Times, Times, Times) =
        (|c| &c.handshakes, |c| &c.new_stream, |c| &c.ping_pong);
    let rows = [
        ("handshake_mean", mean, hs),
        ("handshake_p50", p50, hs),
        ("new_stream_mean", mean, ns),
        ("new_stream_p50", p50, ns),
        ("ping_pong_mean", mean, pp),
        ("ping_pong_p50", p50, pp),
    ];
    for (name, f, times) in rows {
        let pick = |c: &cores::CoreWork| us(f(times(c)));
        let (o, q) = (pick(ours), pick(quinn));
        println!(
            "{:<40} {o:>12.2} {q:>12.2} {:>11.2}x",
            format!("core_{name}_us"),
            o / q
        );
        println!(
            "{{\"core\":\"core_{name}_us\",\"actix_quic\":{o:.3},\"quinn_proto\":{q:.3},\"ratio\":{:.4}}}",
            o / q
        );
    }
}

fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = parse_args().map_err(|e| {
        format!(
            "{e}\nusage: bench [--size-mib N] [--handshakes N] [--requests N] [--idle N] [--reno] [--quinn-default-buffers] [--workers N] [--cost ping-pong|new-stream|bulk|handshake|idle]"
        )
    })?;
    if let Some(n) = args.workers {
        return workers::compare(&args, &tls()?, n);
    }
    if args.idle_cost {
        idle_ours(&args, &tls()?, true)?;
        return Err("the idle run did not exit".into());
    }
    if let Some(mode) = args.cost {
        return cost(&args, &tls()?, mode);
    }
    let d = Shared::new(MTUS[0]);
    println!(
        "bulk: {} MiB on one stream at {:?} B UDP payloads; windows: stream {} KiB, connection {} KiB, send {} KiB; \
         {} handshakes, then {} x {CONCURRENT} at once; {} requests of {MESSAGE} B; socket buffers: {}",
        args.size_mib,
        MTUS,
        d.stream_receive_window / 1024,
        d.receive_window / 1024,
        d.send_window / 1024,
        args.handshakes,
        rounds(&args),
        args.requests,
        if QUINN_DEFAULT_BUFFERS.load(std::sync::atomic::Ordering::Relaxed) {
            "the kernel's defaults for quinn"
        } else {
            "the same for both"
        },
    );
    let tls = tls()?;
    let ours = run_ours(&args, &tls)?;
    let quinn = run_quinn(&args, &tls)?;
    for (name, o) in [("actix-quic", &ours), ("quinn", &quinn)] {
        for b in &o.bulk {
            println!(
                "{name:<11} bulk at {} B: {} packets sent, {} lost",
                b.mtu, b.sent_packets, b.lost_packets
            );
        }
    }
    let idle = (idle_ours(&args, &tls, false)?, idle_quinn(&args, &tls)?);
    let floors = floor::measure(&tls, args.requests, args.handshakes, args.size_mib, &MTUS)?;
    let cores = cores::measure(&tls, args.handshakes, args.requests)?;
    let figures = figures(&args, &ours, &quinn, idle);
    println!(
        "{:<40} {:>12} {:>12} {:>12}",
        "figure", "actix-quic", "quinn", "actix/quinn"
    );
    for f in &figures {
        let better = if f.higher_is_better {
            "higher"
        } else {
            "lower"
        };
        println!(
            "{:<40} {:>12.2} {:>12.2} {:>11.2}x  ({better} is better)",
            f.name,
            f.ours,
            f.quinn,
            f.ours / f.quinn
        );
    }
    // A figure too small to measure (a CPU time of 0 on a tiny run) has
    // no ratio: JSON says `null` rather than an invalid `inf` or `NaN`.
    let num = |x: f64, digits: usize| {
        if x.is_finite() {
            format!("{x:.digits$}")
        } else {
            "null".to_string()
        }
    };
    for f in &figures {
        println!(
            "{{\"figure\":\"{}\",\"unit\":\"{}\",\"actix_quic\":{},\"quinn\":{},\"ratio\":{},\"higher_is_better\":{}}}",
            f.name,
            f.unit,
            num(f.ours, 3),
            num(f.quinn, 3),
            num(f.ours / f.quinn, 4),
            f.higher_is_better
        );
    }
    print_floors(&figures, &floors, &cores);
    print_cores(&cores);
    Ok(())
}
