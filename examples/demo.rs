//! A tour of actix-quic in one process: an echo server and a client on
//! 127.0.0.1 with a self-signed certificate made at start.
//!
//! ```text
//! cargo run --release --example demo
//! RUST_LOG=actix_quic=debug cargo run --release --example demo
//! SSLKEYLOGFILE=/tmp/keys.log cargo run --release --example demo   # for Wireshark
//! ```
//!
//! The client echoes 10 streams of 1 MiB at once, then one 64 MiB stream,
//! through the server, checks every byte, and also drives one stream with
//! raw typed messages sent to the connection actor's `Addr`. Then it
//! echoes a datagram, updates the 1-RTT keys, derives keying material,
//! and opens a second connection that resumes the session and sends its
//! request in 0-RTT.

use actix_quic::messages::{self, StreamId};
use actix_quic::VarInt;
use actix_quic::{
    ClientConfig, Connection, ConnectionStats, Endpoint, RecvStream, SendStream, ServerConfig,
};
use bytes::Bytes;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

type BoxError = Box<dyn Error + Send + Sync>;

const ALPN: &[u8] = b"actix-quic-demo";
const MIB: usize = 1024 * 1024;
const CHUNK: usize = 64 * 1024;
const SMALL_STREAMS: usize = 10;
const SMALL_LEN: usize = MIB;
const BIG_LEN: usize = 64 * MIB;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_configs() -> Result<(rustls::ServerConfig, rustls::ClientConfig), BoxError> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let cert: CertificateDer<'static> = made.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));

    let mut server = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)?;
    server.alpn_protocols = vec![ALPN.to_vec()];
    // 0-RTT: QUIC needs u32::MAX here (RFC 9001 §4.6.1).
    server.max_early_data_size = u32::MAX;
    server.key_log = Arc::new(rustls::KeyLogFile::new());

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert)?;
    let mut client = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![ALPN.to_vec()];
    client.enable_early_data = true;
    client.key_log = Arc::new(rustls::KeyLogFile::new());
    Ok((server, client))
}

async fn serve(endpoint: Endpoint, report: UnboundedSender<ConnectionStats>) {
    while let Some(incoming) = endpoint.accept().await {
        let report = report.clone();
        actix::spawn(async move {
            let Ok(connecting) = incoming.accept() else {
                return tracing::warn!("server: endpoint closing");
            };
            // A server can always answer before its handshake completes
            // (0.5-RTT), which serves requests that came in 0-RTT at once.
            let conn = match connecting.into_0rtt() {
                Ok((c, _)) => c,
                Err(_) => return tracing::warn!("server: connection failed"),
            };
            tracing::info!(remote = %conn.remote_address(), "server: accepted");
            // Datagrams come back as they are.
            let datagrams = conn.clone();
            actix::spawn(async move {
                while let Ok(d) = datagrams.read_datagram().await {
                    let _ = datagrams.send_datagram(d);
                }
            });
            loop {
                match conn.accept_bi().await {
                    Ok((send, recv)) => {
                        actix::spawn(async move {
                            if let Err(e) = echo(send, recv).await {
                                tracing::warn!(error = %e, "server: echo failed");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::info!(reason = %e, "server: connection ended");
                        let _ = report.send(conn.stats());
                        return;
                    }
                }
            }
        });
    }
}

async fn echo(mut send: SendStream, mut recv: RecvStream) -> Result<(), BoxError> {
    while let Some(chunk) = recv.read_chunk(CHUNK).await? {
        send.write_chunk(chunk).await?;
    }
    send.finish()?;
    Ok(())
}

/// Sends `payload` on a new stream while reading the echo back; checks
/// every byte and returns the number echoed.
async fn echo_through(conn: Connection, payload: Bytes) -> Result<usize, BoxError> {
    let (mut send, mut recv) = conn.open_bi().await?;
    let out = payload.clone();
    let writer = actix::spawn(async move {
        let mut rest = out;
        while !rest.is_empty() {
            let chunk = rest.split_to(rest.len().min(CHUNK));
            send.write_chunk(chunk).await?;
        }
        send.finish()?;
        Ok::<_, BoxError>(())
    });
    let mut got = 0;
    while let Some(chunk) = recv.read_chunk(CHUNK).await? {
        let end = got + chunk.len();
        if end > payload.len() || chunk[..] != payload[got..end] {
            return Err(format!("echo differs near byte {got}").into());
        }
        got = end;
    }
    writer.await??;
    if got != payload.len() {
        return Err(format!("echo short: {got} of {} bytes", payload.len()).into());
    }
    Ok(got)
}

/// One stream driven only by typed messages sent to the actor's `Addr`.
async fn raw_messages(conn: &Connection) -> Result<StreamId, BoxError> {
    let addr = conn.addr();
    let id = addr.send(messages::OpenBi).await??;
    let hello = Bytes::from_static(b"hello through raw actor messages");
    let mut rest = hello.clone();
    while !rest.is_empty() {
        let n = addr
            .send(messages::Write {
                stream: id,
                data: rest.clone(),
            })
            .await??;
        let _ = rest.split_to(n);
    }
    addr.send(messages::Finish { stream: id }).await??;
    let mut back = Vec::new();
    while let Some(b) = addr
        .send(messages::Read {
            stream: id,
            max: CHUNK,
        })
        .await??
    {
        back.extend_from_slice(&b);
    }
    if back != hello {
        return Err("raw-message echo differs".into());
    }
    Ok(id)
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / MIB as f64
}

fn rate(bytes: usize, d: Duration) -> f64 {
    mib(bytes) / d.as_secs_f64()
}

fn print_stats(side: &str, s: &ConnectionStats) {
    println!("{side} stats:");
    println!(
        "  packets sent {} received {} lost {} ({} bytes), congestion events {}",
        s.packets_sent, s.packets_received, s.lost_packets, s.lost_bytes, s.congestion_events
    );
    println!(
        "  udp datagrams sent {} ({} bytes), received {} ({} bytes)",
        s.udp_tx_datagrams, s.udp_tx_bytes, s.udp_rx_datagrams, s.udp_rx_bytes
    );
    println!(
        "  frames sent {} received {}, rtt {:.3} ms, cwnd {} bytes, mtu {}",
        s.frames_sent,
        s.frames_received,
        s.rtt.as_secs_f64() * 1e3,
        s.cwnd,
        s.mtu
    );
}

#[actix::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();

    let (server_tls, client_tls) = tls_configs()?;
    let any: SocketAddr = "127.0.0.1:0".parse()?;
    let server = Endpoint::server(ServerConfig::with_crypto(Arc::new(server_tls))?, any)?;
    let server_addr = server.local_addr()?;
    let (report, mut server_stats) = unbounded_channel();
    actix::spawn(serve(server.clone(), report));

    let client = Endpoint::client(any)?;
    client.set_default_client_config(ClientConfig::new(Arc::new(client_tls))?);

    let started = Instant::now();
    let conn = client.connect(server_addr, "localhost")?.await?;
    let handshake = started.elapsed();
    let alpn = conn
        .handshake_data()
        .and_then(|h| h.protocol)
        .map(|p| String::from_utf8_lossy(&p).into_owned());
    println!("connected to {server_addr}");
    println!("  handshake    {:.3} ms", handshake.as_secs_f64() * 1e3);
    println!("  rtt          {:.3} ms", conn.rtt().as_secs_f64() * 1e3);
    println!("  alpn         {}", alpn.as_deref().unwrap_or("-"));
    println!("  stable id    {}", conn.stable_id());

    // The same operation two ways: a typed message and the handle call.
    let raw_id = raw_messages(&conn).await?;
    let (mut send, recv) = conn.open_bi().await?;
    println!(
        "streams: OpenBi message -> id {raw_id}, Connection::open_bi -> id {}",
        send.id()
    );
    send.finish()?;
    drop(recv);

    let pattern: Bytes = (0..BIG_LEN).map(|i| (i * 31 % 251) as u8).collect();

    let t = Instant::now();
    let tasks: Vec<_> = (0..SMALL_STREAMS)
        .map(|i| {
            let payload = pattern.slice(i * 997..i * 997 + SMALL_LEN);
            echo_through(conn.clone(), payload)
        })
        .collect();
    let mut small = 0;
    for r in futures::future::join_all(tasks).await {
        small += r?;
    }
    let small_time = t.elapsed();
    println!(
        "{SMALL_STREAMS} concurrent streams: echoed {:.0} MiB in {:.3} s = {:.1} MiB/s each way",
        mib(small),
        small_time.as_secs_f64(),
        rate(small, small_time)
    );

    let t = Instant::now();
    let big = echo_through(conn.clone(), pattern.clone()).await?;
    let big_time = t.elapsed();
    println!(
        "1 stream: echoed {:.0} MiB in {:.3} s = {:.1} MiB/s each way",
        mib(big),
        big_time.as_secs_f64(),
        rate(big, big_time)
    );

    let total = small + big;
    let time = small_time + big_time;
    let s = conn.stats();
    println!(
        "total: {:.0} MiB payload sent + {:.0} MiB received in {:.3} s = {:.1} MiB/s both ways",
        mib(total),
        mib(total),
        time.as_secs_f64(),
        rate(2 * total, time)
    );

    // A datagram (RFC 9221) to the server and back; PMTU discovery has
    // grown the path MTU from 1200 by now.
    let max = conn.max_datagram_size().unwrap_or(0);
    conn.send_datagram(Bytes::from(vec![0xd6; max]))?;
    let back = tokio::time::timeout(Duration::from_secs(2), conn.read_datagram()).await??;
    println!(
        "datagram: {} bytes echoed (max_datagram_size {max}, path MTU {})",
        back.len(),
        conn.stats().mtu
    );

    // New 1-RTT keys, then traffic under them.
    conn.force_key_update();
    echo_through(conn.clone(), pattern.slice(..MIB)).await?;
    let mut secret = [0u8; 16];
    conn.export_keying_material(&mut secret, b"EXPORTER-demo", b"")?;
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    println!(
        "keys: {} key update(s); exporter EXPORTER-demo = {hex}",
        conn.stats().key_updates
    );

    conn.close(VarInt::from_u32(0), b"demo done");
    let reason = conn.closed().await;
    println!("closed: {reason:?}");
    print_stats("client", &s);
    match tokio::time::timeout(Duration::from_secs(2), server_stats.recv()).await {
        Ok(Some(s)) => print_stats("server", &s),
        _ => println!("server stats: not reported"),
    }
    drop(conn);

    // A second connection resumes the TLS session and sends its request
    // in 0-RTT, before the handshake completes.
    let started = Instant::now();
    match client.connect(server_addr, "localhost")?.into_0rtt() {
        Ok((again, accepted)) => {
            let n = echo_through(again.clone(), pattern.slice(..64 * 1024)).await?;
            let answered = started.elapsed();
            let accepted = accepted.await;
            let resumed = again.handshake_data().is_some_and(|h| h.resumed);
            println!(
                "0-RTT: {n} bytes echoed {:.3} ms after connect; accepted {accepted}, resumed {resumed}",
                answered.as_secs_f64() * 1e3
            );
            again.close(VarInt::from_u32(0), b"");
        }
        Err(_) => println!("0-RTT: no session ticket; skipped"),
    }

    if tokio::time::timeout(Duration::from_secs(2), client.wait_idle())
        .await
        .is_err()
    {
        println!("client endpoint not idle after 2 s; exiting anyway");
    }
    server.close(VarInt::from_u32(0), b"");
    Ok(())
}
