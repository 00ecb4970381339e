//! `bench --workers N`: actix-quic's server endpoint with 1 worker and
//! with N (`EndpointConfig::workers`) in the same run, under loads that
//! many clients make: 64 concurrent handshakes (each from a client port
//! of its own, so the kernel spreads them over the workers) and 8
//! concurrent bulk uploads, from two client threads. Prints aggregate
//! rates, and the server's CPU time (every thread of the process but the
//! clients') per handshake and per MiB, with the ratio N / 1. Then the
//! price of a hop between threads: one connection's upload to a server
//! of two workers with its datagrams arriving at the worker holding it,
//! and arriving at the other one, which passes them on.

use super::{
    named, ours_transport, payload_chunk, rounds, thread_id, Args, BoxError, OursServer, Tls,
    CHUNK, CONCURRENT, MIB, MTUS, TRANSFER_LIMIT,
};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

/// Client threads (each with its own actix system).
const CLIENT_THREADS: usize = 2;
/// Bulk uploads at once, each on a connection of its own.
const BULK_CONNECTIONS: usize = 8;

/// CPU time of every thread of this process but `exclude` (from each
/// task's schedstat, in nanoseconds).
fn cpu_except(exclude: &[u32]) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    tasks
        .filter_map(|t| t.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|tid| !exclude.contains(tid))
        .map(super::cpu)
        .sum()
}

/// One run against a server of some number of workers.
struct Measured {
    handshakes: usize,
    handshake_time: Duration,
    handshake_cpu: RunCpu,
    bulk_mib: f64,
    bulk_time: Duration,
    bulk_cpu: RunCpu,
}

/// CPU time of the server (every thread but the clients') and of the
/// clients during a run.
#[derive(Clone, Copy, Default)]
struct RunCpu {
    server: Duration,
    clients: Duration,
}

/// Runs `work` on `CLIENT_THREADS` client threads at once and returns
/// what each returned, the common start, and the CPU time meanwhile.
fn on_client_threads<T: Send + 'static>(
    work: impl Fn(usize) -> Result<T, BoxError> + Send + Sync + 'static,
) -> Result<(Vec<T>, Instant, RunCpu), BoxError> {
    let barrier = Arc::new(Barrier::new(CLIENT_THREADS + 1));
    let work = Arc::new(work);
    let (tid_tx, tid_rx) = mpsc::channel();
    let threads: Vec<_> = (0..CLIENT_THREADS)
        .map(|i| {
            let (barrier, work, tid_tx) = (barrier.clone(), work.clone(), tid_tx.clone());
            named(&format!("ours-client-{i}"), move || {
                let _ = tid_tx.send(thread_id());
                barrier.wait();
                let cpu = super::cpu(thread_id());
                let out = work(i)?;
                Ok::<_, BoxError>((out, super::cpu(thread_id()).saturating_sub(cpu)))
            })
        })
        .collect();
    let tids: Vec<u32> = (0..CLIENT_THREADS)
        .map(|_| tid_rx.recv())
        .collect::<Result<_, _>>()?;
    let before = cpu_except(&tids);
    let start = Instant::now();
    barrier.wait();
    let mut out = Vec::new();
    let mut clients = Duration::ZERO;
    for t in threads {
        let (o, cpu) = super::join(t, "client thread")?;
        out.push(o);
        clients += cpu;
    }
    let server = cpu_except(&tids).saturating_sub(before);
    Ok((out, start, RunCpu { server, clients }))
}

fn client_config(tls: &Tls) -> Result<actix_quic::ClientConfig, BoxError> {
    let mut config = actix_quic::ClientConfig::new(tls.client.clone())?;
    config.transport_config(Arc::new(ours_transport(MTUS[1])));
    Ok(config)
}

/// Client endpoints of their own ports, each with `config`.
fn client_endpoints(
    n: usize,
    config: &actix_quic::ClientConfig,
) -> Result<Vec<actix_quic::Endpoint>, BoxError> {
    (0..n)
        .map(|_| {
            let e = actix_quic::Endpoint::client("127.0.0.1:0".parse()?)?;
            e.set_default_client_config(config.clone());
            Ok(e)
        })
        .collect()
}

impl OursServer {
    /// Waits for the server's report of `n` drained uploads; their bytes
    /// and when the last was drained.
    fn drained(&mut self, n: usize) -> Result<(u64, Instant), BoxError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        let (mut bytes, mut last) = (0, None::<Instant>);
        for _ in 0..n {
            let r = rt
                .block_on(async { tokio::time::timeout(TRANSFER_LIMIT, self.reports.recv()).await })
                .map_err(|_| "an upload was not reported")?
                .ok_or("the server went away")?;
            bytes += r.bytes;
            last = Some(last.map_or(r.at, |l| l.max(r.at)));
        }
        Ok((bytes, last.unwrap_or_else(Instant::now)))
    }
}

/// Uploads `len` bytes on a new stream of `conn` and waits until the
/// server acknowledged all of it.
pub(super) async fn upload(conn: &actix_quic::Connection, len: u64) -> Result<(), BoxError> {
    let chunk = payload_chunk();
    let mut send = conn.open_uni().await?;
    let mut written = 0;
    while written < len {
        let n = (len - written).min(CHUNK as u64) as usize;
        send.write_chunk(chunk.slice(..n)).await?;
        written += n as u64;
    }
    send.finish()?;
    send.stopped().await?;
    Ok(())
}

fn measure(args: &Args, tls: &Tls, workers: usize) -> Result<Measured, BoxError> {
    let mut server = OursServer::start(tls, workers)?;
    let addr = server.addr;

    // 64 handshakes at a time, each from its own port.
    let rounds = rounds(args);
    let per_thread = CONCURRENT / CLIENT_THREADS;
    let config = client_config(tls)?;
    let (done, start, handshake_cpu) = on_client_threads(move |_| {
        let config = config.clone();
        actix::System::new().block_on(async move {
            let endpoints = client_endpoints(per_thread, &config)?;
            let mut count = 0;
            for _ in 0..rounds {
                let round = futures::future::join_all(endpoints.iter().map(|e| async move {
                    let conn = e.connect(addr, "localhost")?.await?;
                    conn.close(0u32.into(), b"");
                    Ok::<_, BoxError>(())
                }))
                .await;
                for r in round {
                    r?;
                    count += 1;
                }
            }
            Ok::<_, BoxError>(count)
        })
    })?;
    let handshake_time = start.elapsed();
    let handshakes = done.iter().sum();

    // 8 uploads at once, each on its own connection and port.
    let each = (args.size_mib * MIB / BULK_CONNECTIONS as u64).max(CHUNK as u64);
    let per_thread = BULK_CONNECTIONS / CLIENT_THREADS;
    let config = client_config(tls)?;
    let (_, start, bulk_cpu) = on_client_threads(move |_| {
        let config = config.clone();
        actix::System::new().block_on(async move {
            let endpoints = client_endpoints(per_thread, &config)?;
            let mut conns = Vec::new();
            for e in &endpoints {
                conns.push(e.connect(addr, "localhost")?.await?);
            }
            let uploads = conns.iter().map(|conn| upload(conn, each));
            for r in futures::future::join_all(uploads).await {
                r?;
            }
            Ok::<_, BoxError>(())
        })
    })?;
    // The server reports each stream it drained; the last one ends the run.
    let (got, last) = server.drained(BULK_CONNECTIONS)?;
    if got != each * BULK_CONNECTIONS as u64 {
        return Err(format!("the server got {got} bytes").into());
    }
    let bulk_time = last.duration_since(start);
    if bulk_time > TRANSFER_LIMIT {
        return Err("the uploads took too long".into());
    }
    server.stop()?;
    Ok(Measured {
        handshakes,
        handshake_time,
        handshake_cpu,
        bulk_mib: (each * BULK_CONNECTIONS as u64) as f64 / MIB as f64,
        bulk_time,
        bulk_cpu,
    })
}

/// One connection's upload to a server of two workers when its
/// datagrams reach the worker holding it, and when the kernel hands them
/// to the other worker, which passes them on: the second pays one
/// mailbox hop between threads per datagram batch, which is what a
/// design with one socket and connections spread over threads would pay
/// on every batch.
struct Hop {
    mib: f64,
    direct: (Duration, Duration),
    passed: (Duration, Duration),
}

fn measure_hop(args: &Args, tls: &Tls) -> Result<Hop, BoxError> {
    let server = OursServer::start(tls, 2)?;
    let (addr, endpoint) = (server.addr, server.endpoint.clone());
    let len = (args.size_mib * MIB / 4).max(CHUNK as u64);
    let config = client_config(tls)?;
    let timed = named("ours-client-hop", move || {
        actix::System::new().block_on(async move {
            let client = actix_quic::Endpoint::client("127.0.0.1:0".parse()?)?;
            client.set_default_client_config(config);
            let conn = client.connect(addr, "localhost")?.await?;
            let mut out = Vec::new();
            for passed in [false, true] {
                // Moves to new ports until the connection's datagrams are
                // passed between workers (or not, as wanted).
                let mut moves = 0;
                loop {
                    let before = endpoint.stats().forwarded_datagrams;
                    upload(&conn, 256 * 1024).await?;
                    if (endpoint.stats().forwarded_datagrams > before) == passed {
                        break;
                    }
                    moves += 1;
                    if moves > 40 {
                        return Err::<_, BoxError>("40 new ports, all on one worker".into());
                    }
                    client.rebind(std::net::UdpSocket::bind("127.0.0.1:0")?)?;
                }
                let me = [thread_id()];
                let (cpu, start) = (cpu_except(&me), Instant::now());
                upload(&conn, len).await?;
                out.push((start.elapsed(), cpu_except(&me).saturating_sub(cpu)));
            }
            conn.close(0u32.into(), b"");
            Ok(out)
        })
    });
    let out = super::join(timed, "client")?;
    server.stop()?;
    Ok(Hop {
        mib: len as f64 / MIB as f64,
        direct: out[0],
        passed: out[1],
    })
}

/// Measures 1 and `n` workers and prints both, the ratio, and one JSON
/// record per figure.
pub(super) fn compare(args: &Args, tls: &Tls, n: usize) -> Result<(), BoxError> {
    let one = measure(args, tls, 1)?;
    let many = measure(args, tls, n)?;
    let hop = measure_hop(args, tls)?;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let figures = |m: &Measured| {
        [
            (
                "concurrent_handshakes_per_s",
                m.handshakes as f64 / m.handshake_time.as_secs_f64(),
                Some(true),
            ),
            (
                "handshake_server_cpu_us",
                us(m.handshake_cpu.server) / m.handshakes as f64,
                Some(false),
            ),
            (
                "handshake_client_cpu_us",
                us(m.handshake_cpu.clients) / m.handshakes as f64,
                Some(false),
            ),
            (
                "handshake_cores_busy",
                (m.handshake_cpu.server + m.handshake_cpu.clients).as_secs_f64()
                    / m.handshake_time.as_secs_f64(),
                None,
            ),
            (
                "bulk_8_connections_mib_per_s",
                m.bulk_mib / m.bulk_time.as_secs_f64(),
                Some(true),
            ),
            (
                "bulk_server_cpu_us_per_mib",
                us(m.bulk_cpu.server) / m.bulk_mib,
                Some(false),
            ),
            (
                "bulk_client_cpu_us_per_mib",
                us(m.bulk_cpu.clients) / m.bulk_mib,
                Some(false),
            ),
        ]
    };
    println!(
        "actix-quic server, 1 worker against {n}: {CONCURRENT} concurrent handshakes from \
         {CONCURRENT} ports ({} in all), {BULK_CONNECTIONS} concurrent uploads ({:.0} MiB in all), \
         from {CLIENT_THREADS} client threads",
        one.handshakes, one.bulk_mib
    );
    println!(
        "{:<32} {:>12} {:>12} {:>10}",
        "figure",
        "1 worker",
        format!("{n} workers"),
        "ratio"
    );
    for ((name, a, higher), (_, b, _)) in figures(&one).into_iter().zip(figures(&many)) {
        let note = match higher {
            Some(true) => "higher is better",
            Some(false) => "lower is better",
            None => "of the machine's cores",
        };
        println!("{name:<32} {a:>12.2} {b:>12.2} {:>9.2}x  ({note})", b / a);
    }
    for ((name, a, higher), (_, b, _)) in figures(&one).into_iter().zip(figures(&many)) {
        println!(
            "{{\"figure\":\"workers_{name}\",\"workers\":{n},\"one\":{a:.3},\"many\":{b:.3},\"ratio\":{:.4},\"higher_is_better\":{}}}",
            b / a,
            higher.map_or("null".to_string(), |h| h.to_string())
        );
    }
    let rate = |t: (Duration, Duration)| hop.mib / t.0.as_secs_f64();
    let cpu = |t: (Duration, Duration)| us(t.1) / hop.mib;
    println!(
        "one connection, {:.0} MiB, 2 workers: datagrams at the worker holding it / passed on by the other",
        hop.mib
    );
    for (name, a, b, higher) in [
        (
            "hop_bulk_mib_per_s",
            rate(hop.direct),
            rate(hop.passed),
            true,
        ),
        (
            "hop_server_cpu_us_per_mib",
            cpu(hop.direct),
            cpu(hop.passed),
            false,
        ),
    ] {
        let note = if higher {
            "higher is better"
        } else {
            "lower is better"
        };
        println!("{name:<32} {a:>12.2} {b:>12.2} {:>9.2}x  ({note})", b / a);
        println!(
            "{{\"figure\":\"workers_{name}\",\"workers\":2,\"direct\":{a:.3},\"passed\":{b:.3},\"ratio\":{:.4},\"higher_is_better\":{higher}}}",
            b / a
        );
    }
    Ok(())
}
