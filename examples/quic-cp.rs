//! `quic-cp`: copy a file to a server over QUIC, with a progress bar,
//! a SHA-256 check at the end, and resumption: an interrupted copy
//! continues where the server's copy stopped, and a reconnection in the
//! same run goes out in 0-RTT.
//!
//! ```sh
//! # A server keeping what it receives in ./received, with a generated
//! # self-signed certificate written to ./received/quic-cp-cert.pem:
//! cargo run --release --example quic-cp -- serve --dir received
//! # Copy a file; the client trusts the certificate it is given:
//! cargo run --release --example quic-cp -- put big.iso 127.0.0.1:4433 \
//!     --ca received/quic-cp-cert.pem
//! ```
//!
//! `serve --cert cert.pem --key key.pem` uses a certificate of your own.
//! `put --reconnect-after BYTES` drops the connection once that many
//! bytes were sent and resumes on a new one (in 0-RTT), and
//! `put --stop-after BYTES` quits there (exit code 3), so that the next
//! `put` resumes: both show resumption at work.
//!
//! The protocol, one bidirectional stream per request, lines in UTF-8:
//! - `STAT name` → `SIZE n`: bytes of `name` the server holds so far.
//! - `PUT name offset total` then the bytes from `offset`, then FIN →
//!   `DONE sha256` once the file is whole, or `PARTIAL n`.

use actix_quic::rustls;
use actix_quic::rustls::pki_types::pem::PemObject;
use actix_quic::rustls::pki_types::CertificateDer;
use actix_quic::{ClientConfig, Connection, Endpoint, RecvStream, SendStream, ServerConfig};
use actix_quic::{TransportConfig, VarInt, ZeroRttAccepted};
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

#[path = "shared/cli.rs"]
mod shared;

use shared::{BoxError, ServeArgs};

const ALPN: &[u8] = b"quic-cp";
/// Bytes read from the file and written to the stream at a time.
const CHUNK: usize = 256 * 1024;
/// The longest request line.
const MAX_LINE: usize = 4096;

fn usage() -> &'static str {
    "usage:\n  quic-cp serve [--listen ADDR] [--dir DIR] [--cert PEM --key PEM]\n  \
     quic-cp put FILE HOST:PORT [--name NAME] --ca PEM [--server-name NAME] \
     [--reconnect-after BYTES] [--stop-after BYTES] [--no-progress]"
}

fn main() -> ExitCode {
    shared::run("quic-cp", |args| async move {
        match args.first().map(String::as_str) {
            Some("serve") => serve(ServeArgs::parse(&args[1..], "0.0.0.0:4433", usage())?).await,
            Some("put") => put(PutArgs::parse(&args[1..])?).await,
            _ => Err(usage().into()),
        }
    })
}

/// The value after a flag.
fn value<'a>(args: &mut impl Iterator<Item = &'a String>, flag: &str) -> Result<String, BoxError> {
    shared::value(args, flag, usage())
}

fn transport() -> Arc<TransportConfig> {
    let mut t = TransportConfig::default();
    // A copy may pause while the disk catches up: PINGs keep it open.
    t.keep_alive_interval(Some(Duration::from_secs(5)));
    // A qlog trace per connection in QLOGDIR (with `--features qlog`).
    #[cfg(feature = "qlog")]
    t.qlog(
        actix_quic::protocol::QlogDir::from_env()
            .map(|d| Arc::new(d) as Arc<dyn actix_quic::protocol::QlogFactory>),
    );
    Arc::new(t)
}

// ---- server ----

async fn serve(args: ServeArgs) -> Result<ExitCode, BoxError> {
    tokio::fs::create_dir_all(&args.dir).await?;
    let (chain, key) = args.identity("quic-cp-cert.pem")?;
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    // 0-RTT for resuming clients (QUIC wants exactly u32::MAX here).
    tls.max_early_data_size = u32::MAX;
    let mut config = ServerConfig::with_crypto(Arc::new(tls))?;
    config.transport_config(transport());
    let endpoint = Endpoint::server(config, args.listen)?;
    println!("listening on {}", endpoint.local_addr()?);
    let store = Arc::new(Store {
        dir: args.dir,
        locks: Default::default(),
    });
    // Many clients at once: each connection, and each request, is a task.
    while let Some(incoming) = endpoint.accept().await {
        let store = store.clone();
        actix::spawn(async move {
            let remote = incoming.remote_address();
            match incoming.await {
                Ok(conn) => serve_connection(conn, store).await,
                Err(e) => tracing::warn!(%remote, error = %e, "handshake failed"),
            }
        });
    }
    Ok(ExitCode::SUCCESS)
}

/// Where files go, with a lock per name: a resumed copy waits until the
/// request it resumes has written all it received.
struct Store {
    dir: PathBuf,
    locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Store {
    fn lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().expect("not poisoned");
        // Forget the locks nobody holds, so the table stays small.
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.entry(name.to_string()).or_default().clone()
    }
}

async fn serve_connection(conn: Connection, store: Arc<Store>) {
    while let Ok((send, recv)) = conn.accept_bi().await {
        let store = store.clone();
        actix::spawn(async move {
            if let Err(e) = serve_request(send, recv, &store).await {
                tracing::warn!(error = %e, "request failed");
            }
        });
    }
}

/// Reads one line (up to `\n`) from the stream.
async fn read_line(recv: &mut RecvStream) -> Result<String, BoxError> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        recv.read_exact(&mut byte).await?;
        if byte[0] == b'\n' {
            return Ok(String::from_utf8(line)?);
        }
        line.push(byte[0]);
        if line.len() > MAX_LINE {
            return Err("request line too long".into());
        }
    }
}

/// A name the server stores under its directory: a plain file name.
fn stored(dir: &Path, name: &str) -> Result<PathBuf, BoxError> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.ends_with(".part");
    if !plain {
        return Err(format!("refused name {name:?}").into());
    }
    Ok(dir.join(name))
}

fn part(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".part");
    PathBuf::from(p)
}

async fn len_of(path: &Path) -> u64 {
    tokio::fs::metadata(path).await.map_or(0, |m| m.len())
}

async fn serve_request(
    mut send: SendStream,
    mut recv: RecvStream,
    store: &Store,
) -> Result<(), BoxError> {
    let line = read_line(&mut recv).await?;
    let words: Vec<&str> = line.split(' ').collect();
    let answer = match words.as_slice() {
        ["STAT", name] => {
            let path = stored(&store.dir, name)?;
            let lock = store.lock(name);
            let _held = lock.lock().await;
            // A whole file counts once its copy finished; a partial one
            // is what arrived so far.
            let have = match tokio::fs::metadata(&path).await {
                Ok(m) => m.len(),
                Err(_) => len_of(&part(&path)).await,
            };
            format!("SIZE {have}\n")
        }
        ["PUT", name, offset, total] => {
            let path = stored(&store.dir, name)?;
            let (offset, total): (u64, u64) = (offset.parse()?, total.parse()?);
            let lock = store.lock(name);
            let _held = lock.lock().await;
            receive(&mut recv, &path, offset, total).await?
        }
        _ => return Err(format!("bad request {line:?}").into()),
    };
    send.write_all(answer.as_bytes()).await?;
    send.finish()?;
    let _ = send.stopped().await;
    Ok(())
}

/// Appends what arrives to `path.part` from `offset`; once it holds
/// `total` bytes it becomes `path`, and the answer carries its SHA-256.
async fn receive(
    recv: &mut RecvStream,
    path: &Path,
    offset: u64,
    total: u64,
) -> Result<String, BoxError> {
    let part = part(path);
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&part)
        .await?;
    if offset > file.metadata().await?.len() {
        return Err(format!("offset {offset} past what {} holds", part.display()).into());
    }
    // Resuming may send again bytes already here: they are the same.
    file.set_len(offset).await?;
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut have = offset;
    let ended = loop {
        match recv.read_chunk(CHUNK).await {
            Ok(Some(chunk)) => {
                have += chunk.len() as u64;
                if have > total {
                    break Err("more bytes than announced".into());
                }
                file.write_all(&chunk).await?;
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(BoxError::from(e)),
        }
    };
    // What arrived stays, also when the connection broke: a resumed copy
    // continues from it.
    file.flush().await?;
    drop(file);
    ended?;
    if have < total {
        return Ok(format!("PARTIAL {have}\n"));
    }
    tokio::fs::rename(&part, path).await?;
    Ok(format!("DONE {}\n", hex(&sha256_of(path, total).await?)))
}

async fn sha256_of(path: &Path, len: u64) -> Result<Vec<u8>, BoxError> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut left = len;
    while left > 0 {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Err(format!("{} is shorter than {len} bytes", path.display()).into());
        }
        let n = n.min(left as usize);
        hash.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hash.finalize().to_vec())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- client ----

struct PutArgs {
    file: PathBuf,
    server: SocketAddr,
    name: String,
    ca: PathBuf,
    server_name: String,
    reconnect_after: Option<u64>,
    stop_after: Option<u64>,
    progress: bool,
}

impl PutArgs {
    fn parse(args: &[String]) -> Result<Self, BoxError> {
        let mut positional = Vec::new();
        let (mut name, mut ca, mut server_name) = (None, None, "localhost".to_string());
        let (mut reconnect_after, mut stop_after, mut progress) = (None, None, true);
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--name" => name = Some(value(&mut it, a)?),
                "--ca" => ca = Some(PathBuf::from(value(&mut it, a)?)),
                "--server-name" => server_name = value(&mut it, a)?,
                "--reconnect-after" => reconnect_after = Some(value(&mut it, a)?.parse()?),
                "--stop-after" => stop_after = Some(value(&mut it, a)?.parse()?),
                "--no-progress" => progress = false,
                s if s.starts_with("--") => {
                    return Err(format!("unknown argument {a}\n{}", usage()).into())
                }
                _ => positional.push(a.clone()),
            }
        }
        let [file, server] = positional.as_slice() else {
            return Err(usage().into());
        };
        let file = PathBuf::from(file);
        let name = match name {
            Some(n) => n,
            None => file
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or("the file has no name; give one with --name")?
                .to_string(),
        };
        Ok(Self {
            server: server.parse().map_err(|e| format!("{server}: {e}"))?,
            file,
            name,
            ca: ca.ok_or("--ca PEM: the certificate to trust (the server prints its path)")?,
            server_name,
            reconnect_after,
            stop_after,
            progress,
        })
    }
}

fn client_config(ca: &Path) -> Result<ClientConfig, BoxError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))? {
        roots.add(cert.map_err(|e| format!("{}: {e}", ca.display()))?)?;
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])?
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    // A reconnection in the same run resumes the TLS session in 0-RTT.
    tls.enable_early_data = true;
    let mut config = ClientConfig::new(Arc::new(tls))?;
    config.transport_config(transport());
    Ok(config)
}

/// Sends one request line (and, with `body`, what follows it) on a new
/// stream, and reads the one-line answer.
async fn request(
    conn: &Connection,
    line: &str,
    body: Option<(&mut tokio::fs::File, u64, &mut Sent)>,
) -> Result<String, BoxError> {
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(line.as_bytes()).await?;
    if let Some((file, mut left, sent)) = body {
        let mut buf = vec![0u8; CHUNK];
        while left > 0 {
            let want = (left as usize).min(CHUNK).min(sent.until_break());
            let n = file.read(&mut buf[..want]).await?;
            if n == 0 {
                return Err("the file shrank while it was sent".into());
            }
            send.write_chunk(Bytes::copy_from_slice(&buf[..n])).await?;
            left -= n as u64;
            if sent.add(n as u64) {
                return Err(Interrupted.into());
            }
        }
    }
    send.finish()?;
    read_line(&mut recv).await
}

/// The copy was cut short on purpose (`--reconnect-after`,
/// `--stop-after`).
#[derive(Debug)]
struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Bytes sent in this run, and where the run is to break off.
struct Sent {
    bytes: u64,
    break_at: Option<u64>,
    bar: ProgressBar,
}

impl Sent {
    /// Bytes that may go before the break.
    fn until_break(&self) -> usize {
        self.break_at
            .map_or(usize::MAX, |b| b.saturating_sub(self.bytes) as usize)
            .max(1)
    }

    /// Counts `n` more bytes; true when the break is reached.
    fn add(&mut self, n: u64) -> bool {
        self.bytes += n;
        self.bar.inc(n);
        self.break_at.is_some_and(|b| self.bytes >= b)
    }
}

/// Connects; on a reconnection (`early`), the session resumes with early
/// data and the connection is used at once: the STAT opening the
/// resumption goes in 0-RTT.
async fn connect(
    endpoint: &Endpoint,
    args: &PutArgs,
    early: bool,
) -> Result<(Connection, Option<ZeroRttAccepted>), BoxError> {
    let connecting = endpoint.connect(args.server, &args.server_name)?;
    if early {
        match connecting.into_0rtt() {
            Ok((conn, accepted)) => return Ok((conn, Some(accepted))),
            Err(connecting) => return Ok((connecting.await?, None)),
        }
    }
    Ok((connecting.await?, None))
}

async fn put(args: PutArgs) -> Result<ExitCode, BoxError> {
    let started = Instant::now();
    let total = tokio::fs::metadata(&args.file).await?.len();
    let local_hash = hex(&sha256_of(&args.file, total).await?);
    let endpoint = Endpoint::client("0.0.0.0:0".parse()?)?;
    endpoint.set_default_client_config(client_config(&args.ca)?);

    let bar = if args.progress {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    )?);
    let mut sent = Sent {
        bytes: 0,
        break_at: args.reconnect_after.or(args.stop_after),
        bar,
    };
    let mut file = tokio::fs::File::open(&args.file).await?;
    let mut attempt = 0;
    let answer = loop {
        let (conn, accepted) = connect(&endpoint, &args, attempt > 0).await?;
        let have = request(&conn, &format!("STAT {}\n", args.name), None).await?;
        let offset: u64 = have
            .strip_prefix("SIZE ")
            .ok_or_else(|| format!("server said {have:?}"))?
            .parse()?;
        let early = match accepted {
            Some(accepted) => {
                if accepted.await {
                    "0-RTT accepted"
                } else {
                    "0-RTT rejected"
                }
            }
            None => "0-RTT unused",
        };
        if attempt > 0 || offset > 0 {
            println!("resuming at {offset} bytes of {total}, {early}");
        }
        sent.bar.set_position(offset);
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        let line = format!("PUT {} {offset} {total}\n", args.name);
        match request(&conn, &line, Some((&mut file, total - offset, &mut sent))).await {
            Ok(answer) => {
                conn.close(VarInt::from_u32(0), b"done");
                break answer;
            }
            Err(e) if e.is::<Interrupted>() => {
                conn.close(VarInt::from_u32(1), b"interrupted");
                if args.stop_after.is_some() {
                    endpoint.wait_idle().await;
                    sent.bar.abandon();
                    println!("stopped after {} bytes; run again to resume", sent.bytes);
                    return Ok(ExitCode::from(3));
                }
                // Once only: carry on to the end on the next connection.
                sent.break_at = None;
                attempt += 1;
                // Wait until the server has what was sent, then resume.
                endpoint.wait_idle().await;
            }
            Err(e) => return Err(e),
        }
    };
    sent.bar.finish();
    let Some(remote_hash) = answer.strip_prefix("DONE ") else {
        return Err(format!("the server's copy is not whole: {answer}").into());
    };
    if remote_hash != local_hash {
        return Err(format!("sha256 differs: local {local_hash}, server {remote_hash}").into());
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "copied {} ({total} bytes, {} sent in this run) in {secs:.2} s, {:.1} MiB/s; sha256 {local_hash} ok",
        args.name,
        sent.bytes,
        sent.bytes as f64 / secs / (1 << 20) as f64,
    );
    endpoint.wait_idle().await;
    Ok(ExitCode::SUCCESS)
}
