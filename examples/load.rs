//! `load`: many connections held on one server endpoint, each sending a
//! small request every interval, from a client in another process.
//!
//! ```sh
//! cargo run --release --example load                   # 10,000 connections, 30 s
//! cargo run --release --example load -- --connections 1000 --seconds 10
//! ```
//!
//! The program starts the server as a child process (itself, with
//! `serve`), connects `--connections` connections (64 handshakes in
//! flight at a time), then has each send a 32-byte request on a new
//! bidirectional stream every `--interval-ms` (spread evenly over the
//! interval) for `--seconds`, and checks every 32-byte answer. It
//! prints the handshake rate, the request rate, request latency
//! percentiles, the server's resident memory per connection (asked of
//! the server over QUIC), and the connections lost. It exits with
//! failure if any request failed or any connection was lost.
//!
//! `--flood SECONDS` measures an Initial flood instead: a thread sends
//! authentic client Initials (20,000 distinct ones, each its own
//! connection ID) from 64 source ports as fast as it can, while a real
//! client connects every 50 ms. It prints the flood rate, what the
//! server answered (Retry switches on by itself past its rate), the
//! bytes that came back to the flooding ports against those they sent,
//! the real clients' handshake times, and the server's memory.

#[path = "shared/cli.rs"]
#[allow(dead_code)]
mod cli;

use actix_quic::rustls;
use actix_quic::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use actix_quic::{ClientConfig, Connection, Endpoint, ServerConfig, TransportConfig};
use cli::BoxError;
use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ALPN: &[u8] = b"load";
const REQUEST: usize = 32;
const USAGE: &str = "usage: load [--connections N] [--seconds S] [--interval-ms MS] [--flood S]\n       load serve --cert CERT.der --key KEY.der";
/// Distinct Initials (connection IDs) the flood sends, over and over.
const FLOOD_INITIALS: u32 = 20_000;
/// Handshakes in flight at once while connecting.
const CONNECTING: usize = 64;

fn main() -> ExitCode {
    cli::run("load", |args| async move {
        if args.first().map(String::as_str) == Some("serve") {
            serve(&args[1..]).await
        } else {
            drive(&args).await
        }
    })
}

/// Transport settings of both ends: room for every connection's
/// streams, and an idle timeout longer than the interval.
fn transport() -> Arc<TransportConfig> {
    let mut t = TransportConfig::default();
    t.max_idle_timeout(Some(Duration::from_secs(30).try_into().unwrap()));
    Arc::new(t)
}

/// The server: answers each request with 32 bytes, and `stats?` with its
/// resident memory, connection count and its endpoint's attempt counts.
async fn serve(args: &[String]) -> Result<ExitCode, BoxError> {
    let mut it = args.iter();
    let (mut cert, mut key) = (None, None);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--cert" => cert = Some(cli::value(&mut it, a, USAGE)?),
            "--key" => key = Some(cli::value(&mut it, a, USAGE)?),
            other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
        }
    }
    let (cert, key) = cert.zip(key).ok_or(USAGE)?;
    let cert = CertificateDer::from(std::fs::read(cert)?);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(std::fs::read(key)?));
    let mut tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let mut config = ServerConfig::with_crypto(Arc::new(tls))?;
    config.transport_config(transport());
    let endpoint = Endpoint::server(config, "127.0.0.1:0".parse()?)?;
    println!("listening {}", endpoint.local_addr()?);
    let open = Rc::new(RefCell::new(0usize));
    while let Some(incoming) = endpoint.accept().await {
        let open = open.clone();
        let endpoint_stats = endpoint.clone();
        actix::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            *open.borrow_mut() += 1;
            while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                let open = open.clone();
                let endpoint_stats = endpoint_stats.clone();
                actix::spawn(async move {
                    let Ok(req) = recv.read_to_end(1024).await else {
                        return;
                    };
                    let answer = if req == b"stats?" {
                        let s = endpoint_stats.stats();
                        format!(
                            "{} {} {} {} {}",
                            rss_kib(),
                            open.borrow(),
                            s.accepted_handshakes,
                            s.retried_handshakes,
                            s.refused_handshakes
                        )
                        .into_bytes()
                    } else {
                        vec![0xa5; REQUEST]
                    };
                    let _ = send.write_all(&answer).await;
                    let _ = send.finish();
                });
            }
            *open.borrow_mut() -= 1;
        });
    }
    Ok(ExitCode::SUCCESS)
}

/// This process's resident memory in KiB (Linux; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Options {
    connections: usize,
    seconds: u64,
    interval: Duration,
    flood: Option<u64>,
}

fn options(args: &[String]) -> Result<Options, BoxError> {
    let mut o = Options {
        connections: 10_000,
        seconds: 30,
        interval: Duration::from_secs(1),
        flood: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--connections" => o.connections = cli::value(&mut it, a, USAGE)?.parse()?,
            "--seconds" => o.seconds = cli::value(&mut it, a, USAGE)?.parse()?,
            "--flood" => o.flood = Some(cli::value(&mut it, a, USAGE)?.parse()?),
            "--interval-ms" => {
                o.interval = Duration::from_millis(cli::value(&mut it, a, USAGE)?.parse()?)
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
        }
    }
    Ok(o)
}

/// The server child, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the server process; returns it, its address and the client
/// configuration trusting it.
fn start_server() -> Result<(Server, SocketAddr, ClientConfig), BoxError> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let dir = std::env::temp_dir().join(format!("actix-quic-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (cert_path, key_path) = (dir.join("cert.der"), dir.join("key.der"));
    std::fs::write(&cert_path, made.cert.der())?;
    std::fs::write(&key_path, made.key_pair.serialize_der())?;
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .arg("--cert")
        .arg(&cert_path)
        .arg("--key")
        .arg(&key_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening ")
        .ok_or_else(|| format!("server said {line:?}"))?
        .parse()?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone())?;
    let mut tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let mut client = ClientConfig::new(Arc::new(tls))?;
    client.transport_config(transport());
    let _ = std::fs::remove_dir_all(&dir);
    Ok((server, addr, client))
}

/// One request on a new stream; its latency.
async fn request(conn: &Connection, body: &[u8]) -> Result<(Duration, Vec<u8>), BoxError> {
    let t0 = Instant::now();
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(body).await?;
    send.finish()?;
    let answer = recv.read_to_end(1024).await?;
    Ok((t0.elapsed(), answer))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn drive(args: &[String]) -> Result<ExitCode, BoxError> {
    let o = options(args)?;
    let (_server, addr, config) = start_server()?;
    if let Some(seconds) = o.flood {
        return flood(addr, config, Duration::from_secs(seconds)).await;
    }
    let endpoint = Endpoint::client("127.0.0.1:0".parse()?)?;
    endpoint.set_default_client_config(config);
    // A probe connection first: the server's memory with one connection.
    let probe = endpoint.connect(addr, "localhost")?.await?;
    let rss_before = server_stats(&probe).await?.rss_kib;

    let t0 = Instant::now();
    let mut conns: Vec<Connection> = Vec::with_capacity(o.connections);
    let mut pending = futures::stream::FuturesUnordered::new();
    let mut started = 0;
    use futures::StreamExt;
    while conns.len() < o.connections {
        while started < o.connections && pending.len() < CONNECTING {
            pending.push(endpoint.connect(addr, "localhost")?);
            started += 1;
        }
        match pending.next().await {
            Some(Ok(c)) => conns.push(c),
            Some(Err(e)) => return Err(format!("handshake {} failed: {e}", conns.len()).into()),
            None => break,
        }
    }
    let connect_time = t0.elapsed();
    println!(
        "connected {} in {:.1?} ({:.0} handshakes/s)",
        conns.len(),
        connect_time,
        conns.len() as f64 / connect_time.as_secs_f64()
    );

    // Each connection sends a request every interval, its start spread
    // over the first interval.
    let latencies = Rc::new(RefCell::new(Vec::new()));
    let failures = Rc::new(RefCell::new(Vec::new()));
    let rounds = (o.seconds * 1000 / o.interval.as_millis().max(1) as u64).max(1);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, conn) in conns.iter().enumerate() {
        let conn = conn.clone();
        let (latencies, failures) = (latencies.clone(), failures.clone());
        let offset = o.interval.mul_f64(i as f64 / o.connections as f64);
        let interval = o.interval;
        tasks.push(actix::spawn(async move {
            let mut at = start + offset;
            for _ in 0..rounds {
                actix_rt::time::sleep_until(at.into()).await;
                match request(&conn, &[0x5a; REQUEST]).await {
                    Ok((took, answer)) if answer.len() == REQUEST => {
                        latencies.borrow_mut().push(took)
                    }
                    Ok((_, answer)) => failures
                        .borrow_mut()
                        .push(format!("a {}-byte answer", answer.len())),
                    Err(e) => failures.borrow_mut().push(e.to_string()),
                }
                at += interval;
            }
        }));
    }
    // Halfway through, the server's memory under load.
    actix_rt::time::sleep(Duration::from_secs(o.seconds) / 2).await;
    let loaded = server_stats(&probe).await?;
    let (rss_loaded, open) = (loaded.rss_kib, loaded.open as usize);
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed();
    let lost = conns.iter().filter(|c| c.close_reason().is_some()).count();
    let mut lat = std::mem::take(&mut *latencies.borrow_mut());
    lat.sort();
    let failures = failures.borrow();
    println!(
        "{} requests in {:.1?} ({:.0}/s), {} failed; latency p50 {:?} p99 {:?} max {:?}",
        lat.len(),
        elapsed,
        lat.len() as f64 / elapsed.as_secs_f64(),
        failures.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or_default(),
    );
    let per_conn = (rss_loaded.saturating_sub(rss_before)) as f64 / conns.len().max(1) as f64;
    println!(
        "server: {open} connections open, resident {rss_before} KiB with one, {rss_loaded} KiB \
         under load: {per_conn:.1} KiB per connection"
    );
    println!("connections lost: {lost}");
    for f in failures.iter().take(5) {
        println!("failure: {f}");
    }
    probe.close(0u32.into(), b"done");
    endpoint.close(0u32.into(), b"done");
    Ok(
        if failures.is_empty() && lost == 0 && open > o.connections {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// What the flooding thread did.
#[derive(Default)]
struct Flooded {
    sent: u64,
    sent_bytes: u64,
    answers: u64,
    answer_bytes: u64,
}

/// Sends `initials` round-robin from `ports` sockets to `addr` until
/// `until`, counting what comes back.
fn flood_thread(initials: Vec<Vec<u8>>, addr: SocketAddr, until: Instant) -> Flooded {
    let sockets: Vec<std::net::UdpSocket> = (0..64)
        .map(|_| {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
            s.set_nonblocking(true).expect("nonblocking");
            s
        })
        .collect();
    let mut f = Flooded::default();
    let mut buf = [0u8; 2048];
    let mut i = 0usize;
    while Instant::now() < until {
        for _ in 0..256 {
            let d = &initials[i % initials.len()];
            if sockets[i % sockets.len()].send_to(d, addr).is_ok() {
                f.sent += 1;
                f.sent_bytes += d.len() as u64;
            }
            i += 1;
        }
        for s in &sockets {
            while let Ok((n, _)) = s.recv_from(&mut buf) {
                f.answers += 1;
                f.answer_bytes += n as u64;
            }
        }
    }
    f
}

/// What the server reports of itself.
struct ServerStats {
    /// Resident memory, KiB.
    rss_kib: u64,
    /// Connections open.
    open: u64,
    /// Its endpoint's accepted, retried and refused attempts.
    accepted: u64,
    retried: u64,
    refused: u64,
}

/// Asks the server (over `conn`) for its figures.
async fn server_stats(conn: &Connection) -> Result<ServerStats, BoxError> {
    let (_, answer) = request(conn, b"stats?").await?;
    let v: Vec<u64> = String::from_utf8(answer)?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let [rss_kib, open, accepted, retried, refused] = v[..] else {
        return Err(format!("the server said {v:?}").into());
    };
    Ok(ServerStats {
        rss_kib,
        open,
        accepted,
        retried,
        refused,
    })
}

/// The Initial flood: see the module documentation.
async fn flood(addr: SocketAddr, config: ClientConfig, d: Duration) -> Result<ExitCode, BoxError> {
    let endpoint = Endpoint::client("127.0.0.1:0".parse()?)?;
    endpoint.set_default_client_config(config.clone());
    let probe = endpoint.connect(addr, "localhost")?.await?;
    let before = server_stats(&probe).await?;
    // Authentic Initials, each from its own client connection.
    let now = Instant::now();
    let mut initials = Vec::new();
    for i in 0..FLOOD_INITIALS {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&i.to_le_bytes());
        let mut client = actix_quic::protocol::Endpoint::new(
            actix_quic::protocol::EndpointConfig::new(),
            None,
            seed,
        );
        let (_, mut conn) = client.connect(now, &config, addr, "localhost")?;
        let mut buf = Vec::new();
        let t = conn.poll_transmit(now, 1, &mut buf).ok_or("no Initial")?;
        buf.truncate(t.size);
        initials.push(buf);
    }
    let until = Instant::now() + d;
    let flooder = std::thread::Builder::new()
        .name("flood".into())
        .spawn(move || flood_thread(initials, addr, until))?;
    // Real clients meanwhile, one every 50 ms.
    let mut handshakes = Vec::new();
    let mut failed = 0;
    while Instant::now() < until {
        let t0 = Instant::now();
        match tokio::time::timeout(
            Duration::from_secs(10),
            endpoint.connect(addr, "localhost")?,
        )
        .await
        {
            Ok(Ok(c)) => {
                handshakes.push(t0.elapsed());
                c.close(0u32.into(), b"");
            }
            Ok(Err(e)) => {
                failed += 1;
                println!("real client: {e}");
            }
            Err(_) => {
                failed += 1;
                println!("real client: no handshake in 10 s");
            }
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    let during = server_stats(&probe).await?;
    let f = flooder.join().map_err(|_| "flood thread panicked")?;
    handshakes.sort();
    println!(
        "flood: {} Initials in {d:?} ({:.0}/s) from 64 ports; {} answers, {} bytes back for {} sent ({:.3}x)",
        f.sent,
        f.sent as f64 / d.as_secs_f64(),
        f.answers,
        f.answer_bytes,
        f.sent_bytes,
        f.answer_bytes as f64 / f.sent_bytes.max(1) as f64
    );
    println!(
        "server: {} accepted, {} retried, {} refused; resident {} KiB before, {} KiB during",
        during.accepted - before.accepted,
        during.retried - before.retried,
        during.refused - before.refused,
        before.rss_kib,
        during.rss_kib
    );
    println!(
        "real clients: {} connected, {failed} failed; handshake p50 {:?} max {:?}",
        handshakes.len(),
        percentile(&handshakes, 0.5),
        handshakes.last().copied().unwrap_or_default()
    );
    probe.close(0u32.into(), b"done");
    Ok(if failed == 0 && !handshakes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
