//! actix-quic's client against a quiche server (Cloudflare's QUIC, on
//! BoringSSL), over UDP on 127.0.0.1: each run opens 200 bidirectional
//! streams at once on one connection, sends 4 KiB on each and reads the
//! echo back, within 15 s. A stall (a parked read or open that is never
//! woken, issue 13 §2) fails the run.
//!
//! The quiche server runs on a thread of this process with quiche's
//! example settings (100 bidirectional streams, 1 MB stream windows), in
//! several shapes that change what our client sees on the wire:
//! - `split`: the echo goes out as the data arrives, the FIN alone after it;
//! - `whole`: the echo goes out with its FIN once the request is whole;
//! - `ten-streams`: only 10 concurrent streams, so most opens wait for
//!   MAX_STREAMS;
//! - `slow`: every datagram the server sends is held 15 ms (a 30 ms
//!   round trip), and quiche's pacing is obeyed.
//!
//! Each shape runs 8 times, with our three ways of reading a stream in
//! turn (`read_to_end`, `read` into a buffer, tokio's `AsyncRead`).
//!
//! ```sh
//! cargo run --release --manifest-path interop/quiche/Cargo.toml
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ALPN: &[u8] = b"echo";
const STREAMS: u32 = 200;
const STREAM_SIZE: u32 = 4096;
const RUNS: usize = 8;
const LIMIT: Duration = Duration::from_secs(15);

/// How the server answers.
#[derive(Debug, Clone, Copy)]
struct Shape {
    name: &'static str,
    whole: bool,
    max_streams: u64,
    delay: Duration,
}

const SHAPES: [Shape; 4] = [
    Shape {
        name: "split",
        whole: false,
        max_streams: 100,
        delay: Duration::ZERO,
    },
    Shape {
        name: "whole",
        whole: true,
        max_streams: 100,
        delay: Duration::ZERO,
    },
    Shape {
        name: "ten-streams",
        whole: false,
        max_streams: 10,
        delay: Duration::ZERO,
    },
    Shape {
        name: "slow",
        whole: false,
        max_streams: 100,
        delay: Duration::from_millis(15),
    },
];

/// One stream's echo on the server.
#[derive(Default)]
struct Echo {
    data: Vec<u8>,
    written: usize,
    fin_in: bool,
    fin_out: bool,
}

/// The quiche echo server: serves `shape` on `socket` until `stop`.
fn server(socket: UdpSocket, cert: String, key: String, shape: Shape) {
    let mut config = quiche::Config::new(quiche::PROTOCOL_VERSION).unwrap();
    config.load_cert_chain_from_pem_file(&cert).unwrap();
    config.load_priv_key_from_pem_file(&key).unwrap();
    config.set_application_protos(&[ALPN]).unwrap();
    config.set_max_idle_timeout(20_000);
    config.set_max_recv_udp_payload_size(1350);
    config.set_max_send_udp_payload_size(1350);
    config.set_initial_max_data(10_000_000);
    config.set_initial_max_stream_data_bidi_local(1_000_000);
    config.set_initial_max_stream_data_bidi_remote(1_000_000);
    config.set_initial_max_streams_bidi(shape.max_streams);
    config.set_initial_max_streams_uni(100);
    let local = socket.local_addr().unwrap();
    let mut conns: HashMap<SocketAddr, (quiche::Connection, HashMap<u64, Echo>)> = HashMap::new();
    let mut held: VecDeque<(Instant, Vec<u8>, SocketAddr)> = VecDeque::new();
    let (mut buf, mut out, mut chunk) = (vec![0u8; 65535], vec![0u8; 1350], vec![0u8; 65535]);
    let mut next_id = 0u64;
    loop {
        while held.front().is_some_and(|(t, ..)| *t <= Instant::now()) {
            let (_, d, to) = held.pop_front().unwrap();
            let _ = socket.send_to(&d, to);
        }
        let wait = conns
            .values()
            .filter_map(|(c, _)| c.timeout())
            .chain(
                held.front()
                    .map(|(t, ..)| t.saturating_duration_since(Instant::now())),
            )
            .min()
            .unwrap_or(Duration::from_millis(50))
            .clamp(Duration::from_micros(50), Duration::from_millis(50));
        socket.set_read_timeout(Some(wait)).unwrap();
        if let Ok((len, from)) = socket.recv_from(&mut buf) {
            let known = conns.contains_key(&from);
            if !known {
                let initial = quiche::Header::from_slice(&mut buf[..len], quiche::MAX_CONN_ID_LEN)
                    .is_ok_and(|h| h.ty == quiche::Type::Initial);
                if initial {
                    next_id += 1;
                    let mut id = [0u8; 16];
                    id[..8].copy_from_slice(&next_id.to_be_bytes());
                    let scid = quiche::ConnectionId::from_vec(id.to_vec());
                    let conn = quiche::accept(&scid, None, local, from, &mut config).unwrap();
                    conns.insert(from, (conn, HashMap::new()));
                }
            }
            if let Some((conn, _)) = conns.get_mut(&from) {
                let _ = conn.recv(&mut buf[..len], quiche::RecvInfo { from, to: local });
            }
        }
        for (conn, streams) in conns.values_mut() {
            if conn.timeout().is_some_and(|t| t.is_zero()) {
                conn.on_timeout();
            }
            if conn.is_established() {
                let readable: Vec<u64> = conn.readable().collect();
                for s in readable {
                    while let Ok((n, fin)) = conn.stream_recv(s, &mut chunk) {
                        let e = streams.entry(s).or_default();
                        e.data.extend_from_slice(&chunk[..n]);
                        e.fin_in |= fin;
                    }
                }
                for (&s, e) in streams.iter_mut().filter(|(_, e)| !e.fin_out) {
                    if shape.whole {
                        if e.fin_in {
                            if let Ok(n) = conn.stream_send(s, &e.data[e.written..], true) {
                                e.written += n;
                                e.fin_out = e.written == e.data.len();
                            }
                        }
                        continue;
                    }
                    if e.written < e.data.len() {
                        if let Ok(n) = conn.stream_send(s, &e.data[e.written..], false) {
                            e.written += n;
                        }
                    }
                    if e.fin_in && e.written == e.data.len() {
                        e.fin_out = conn.stream_send(s, &[], true).is_ok();
                    }
                }
            }
            while let Ok((n, info)) = conn.send(&mut out) {
                if shape.delay.is_zero() {
                    let _ = socket.send_to(&out[..n], info.to);
                } else {
                    let at = info.at.max(Instant::now()) + shape.delay;
                    held.push_back((at, out[..n].to_vec(), info.to));
                }
            }
        }
        conns.retain(|_, (c, _)| !c.is_closed());
    }
}

/// One stream: 4 KiB up, the echo back, read the `how`th way.
async fn echo(conn: actix_quic::Connection, i: u32, how: usize) -> Result<(), String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    let data: Vec<u8> = (0..STREAM_SIZE).map(|j| (i * 7 + j) as u8).collect();
    send.write_all(&data).await.map_err(|e| e.to_string())?;
    send.finish().map_err(|e| e.to_string())?;
    let got = match how % 3 {
        0 => recv
            .read_to_end(2 * STREAM_SIZE as usize)
            .await
            .map_err(|e| e.to_string())?,
        1 => {
            let mut got = Vec::new();
            let mut buf = [0u8; 1000];
            while let Some(n) = recv.read(&mut buf).await.map_err(|e| e.to_string())? {
                got.extend_from_slice(&buf[..n]);
            }
            got
        }
        _ => {
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut recv, &mut got)
                .await
                .map_err(|e| e.to_string())?;
            got
        }
    };
    if got != data {
        return Err(format!("stream {i}: the echo differs"));
    }
    Ok(())
}

fn main() -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = std::env::temp_dir().join(format!("actix-quic-quiche-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    let mut servers = Vec::new();
    for shape in SHAPES {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        servers.push((shape, socket.local_addr().unwrap()));
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        std::thread::spawn(move || server(socket, cert, key, shape));
    }
    let der = made.cert.der().clone();
    let failures = actix::System::new().block_on(async move {
        let mut roots = actix_quic::rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let mut tls = actix_quic::rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let tls = Arc::new(tls);
        let mut failures = 0;
        for (shape, addr) in servers {
            let mut times = Vec::new();
            for run in 0..RUNS {
                // A new client endpoint (and port) per run: the server
                // tells its connections apart by address.
                let client = actix_quic::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
                client
                    .set_default_client_config(actix_quic::ClientConfig::new(tls.clone()).unwrap());
                let t0 = Instant::now();
                let conn = match client.connect(addr, "localhost").unwrap().await {
                    Ok(c) => c,
                    Err(e) => {
                        failures += 1;
                        println!("{}: run {run}: handshake failed: {e}", shape.name);
                        continue;
                    }
                };
                let streams = (0..STREAMS).map(|i| echo(conn.clone(), i, run));
                match tokio::time::timeout(LIMIT, futures::future::join_all(streams)).await {
                    Ok(results) => {
                        let errors: Vec<String> =
                            results.into_iter().filter_map(Result::err).collect();
                        if errors.is_empty() {
                            times.push(t0.elapsed());
                        } else {
                            failures += 1;
                            println!(
                                "{}: run {run}: {} streams failed: {}",
                                shape.name,
                                errors.len(),
                                errors[0]
                            );
                        }
                    }
                    Err(_) => {
                        failures += 1;
                        println!(
                            "{}: run {run}: STALLED after {LIMIT:?}: {:?}",
                            shape.name,
                            conn.stats()
                        );
                    }
                }
                conn.close(actix_quic::VarInt::from_u32(0), b"");
            }
            times.sort();
            println!(
                "{}: {}/{RUNS} runs of {STREAMS} echoed streams complete, median {:?}",
                shape.name,
                times.len(),
                times.get(times.len() / 2).copied().unwrap_or_default()
            );
        }
        failures
    });
    let _ = std::fs::remove_dir_all(&dir);
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        println!("{failures} runs failed");
        ExitCode::FAILURE
    }
}
