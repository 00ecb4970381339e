//! A quic-interop-runner style endpoint: HTTP/0.9 over QUIC with ALPN
//! `hq-interop`.
//!
//! ```text
//! cargo run --release --example interop -- server --listen 127.0.0.1:4433 \
//!     --cert cert.pem --key key.pem --www ./www [--testcase NAME]
//! cargo run --release --example interop -- client --testcase transfer \
//!     --downloads ./downloads [--insecure | --ca cert.pem] \
//!     https://127.0.0.1:4433/a https://127.0.0.1:4433/b
//! ```
//!
//! The server prints `listening on ADDR` once it accepts connections
//! (with `--listen 127.0.0.1:0`, ADDR says which port it got). The client
//! sends, for each URL, `GET /path\r\n` and FIN on a new bidirectional
//! stream; the server answers with the file from `--www` and FIN. Files
//! are saved into `--downloads` under their last path segment. All URLs
//! must name one server.
//!
//! As in the runner, `TESTCASE` is read when `--testcase` is absent, and
//! `REQUESTS` (space-separated URLs) when no URL is given. `QLOGDIR`
//! gets a qlog trace per connection (with `--features qlog`). `SSLKEYLOGFILE`
//! is honoured; `RUST_LOG` sets the log filter (to stderr).
//!
//! Test cases (the runner's names, and those it hands the endpoints):
//!
//! - `handshake`, `longrtt`: one connection, URLs fetched one after
//!   another.
//! - `transfer`, `multiplexing`, `goodput`, `crosstraffic`,
//!   `amplificationlimit`, `transferloss`, `transfercorruption`,
//!   `blackhole`: one connection, all URLs at once (`open_bi` waits at
//!   the server's stream limit). The impairments are the network's
//!   business; for the endpoints these are plain transfers.
//! - `retry`: the server validates every client address with a Retry
//!   (`ServerConfig::retry`); the client follows it on its own.
//! - `keyupdate`: a transfer during which the client starts a 1-RTT key
//!   update (RFC 9001 §6) as soon as the connection allows one; the
//!   client fails if no key update happened.
//! - `chacha20`: the client offers only TLS_CHACHA20_POLY1305_SHA256 and
//!   fails if another suite was negotiated.
//! - `handshakeloss`, `handshakecorruption` (the runner hands the
//!   endpoints `multiconnect` for both): one new connection per URL, one
//!   after another.
//! - `resumption`: the first URL on a first connection, which stays open
//!   until its download finished (the server's session tickets come with
//!   its first 1-RTT flight), then the other URLs at once on a second
//!   connection that resumes the TLS session. The client fails if the
//!   first connection brought no ticket or the second did not resume.
//! - `zerortt`: as `resumption`, but the requests of the second
//!   connection go out in 0-RTT packets, before its handshake completes
//!   (`Connecting::into_0rtt`); the server answers them in 0.5-RTT. The
//!   client fails if 0-RTT was impossible or the server rejected it.
//! - `v2`: a transfer in QUIC version 2 (RFC 9369). The runner expects
//!   the client to offer version 1 and be upgraded by compatible version
//!   negotiation (RFC 9368); this stack cannot upgrade a connection
//!   (rustls fixes the QUIC version of a TLS connection when it is
//!   created), so the client starts in version 2 directly. The server
//!   accepts both versions in every test case.
//! - `rebind-port`, `rebind-addr`: plain transfers; the server follows a
//!   client whose address changes (`ServerConfig::migration`, on by
//!   default).
//!
//! The server accepts early data (`max_early_data_size`) in every test
//! case, and in `zerortt` uses each connection before its handshake
//! completes.
//!
//! Not supported for now, exit code 127 as the runner expects: `http3`,
//! `ecn`, `connectionmigration` (needs a server preferred address),
//! `versionnegotiation` and any other name.
//!
//! The client's last line on stdout sums up: files, bytes, time,
//! connections, the negotiated cipher suite, packets, key updates, how
//! many connections resumed a session, what became of 0-RTT and the QUIC
//! version the client connected with.

use actix_quic::VarInt;
use actix_quic::{ClientConfig, Connection, Endpoint, RecvStream, SendStream, ServerConfig};
use actix_quic::{VERSION_1, VERSION_2};
use bytes::BytesMut;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Resumption};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, NamedGroup, SignatureScheme};
use std::error::Error;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type BoxError = Box<dyn Error + Send + Sync>;

const ALPN: &[u8] = b"hq-interop";
const CHUNK: usize = 64 * 1024;
const MAX_REQUEST: usize = 8 * 1024;
const EXIT_UNSUPPORTED: u8 = 127;

const USAGE: &str = "usage:
  interop server --listen ADDR --cert PEM --key PEM --www DIR [--testcase NAME]
  interop client --testcase NAME --downloads DIR [--insecure | --ca PEM] URL...
TESTCASE stands in for --testcase, REQUESTS (space-separated) for the URLs.";

/// How the client fetches its URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    /// One connection, one URL after another.
    Sequential,
    /// One connection, all URLs at once.
    Parallel,
    /// A new connection for each URL, one after another.
    ConnectionPerUrl,
    /// The first URL on a first connection, then the others at once on a
    /// second connection that resumes the TLS session.
    Resumption,
    /// As `Resumption`, with the second connection's requests in 0-RTT.
    ZeroRtt,
}

/// What a test case asks of the endpoints.
#[derive(Debug, Clone, Copy)]
struct Case {
    /// How the client fetches its URLs.
    fetch: Fetch,
    /// The server validates client addresses with a Retry.
    retry: bool,
    /// The client starts a 1-RTT key update during the transfer.
    key_update: bool,
    /// The client offers only TLS_CHACHA20_POLY1305_SHA256.
    chacha20: bool,
    /// The QUIC version the client connects with.
    version: u32,
}

/// The behaviour for test case `name`; `None` when it is not supported.
fn case(name: &str) -> Option<Case> {
    let transfer = Case {
        fetch: Fetch::Parallel,
        retry: false,
        key_update: false,
        chacha20: false,
        version: VERSION_1,
    };
    Some(match name {
        "handshake" | "longrtt" => Case {
            fetch: Fetch::Sequential,
            ..transfer
        },
        "transfer" | "multiplexing" | "goodput" | "crosstraffic" | "amplificationlimit"
        | "transferloss" | "transfercorruption" | "blackhole" | "rebind-port" | "rebind-addr" => {
            transfer
        }
        "retry" => Case {
            retry: true,
            ..transfer
        },
        "keyupdate" => Case {
            key_update: true,
            ..transfer
        },
        "chacha20" => Case {
            chacha20: true,
            ..transfer
        },
        "handshakeloss" | "handshakecorruption" | "multiconnect" => Case {
            fetch: Fetch::ConnectionPerUrl,
            ..transfer
        },
        "resumption" => Case {
            fetch: Fetch::Resumption,
            ..transfer
        },
        "zerortt" => Case {
            fetch: Fetch::ZeroRtt,
            ..transfer
        },
        "v2" => Case {
            version: VERSION_2,
            ..transfer
        },
        _ => return None,
    })
}

/// The test case from `--testcase`, else from the runner's `TESTCASE`.
fn testcase_or_env(arg: Option<String>) -> Option<String> {
    arg.or_else(|| std::env::var("TESTCASE").ok().filter(|t| !t.is_empty()))
}

struct ServerArgs {
    listen: SocketAddr,
    cert: PathBuf,
    key: PathBuf,
    www: PathBuf,
    testcase: Option<String>,
}

struct ClientArgs {
    testcase: String,
    downloads: PathBuf,
    insecure: bool,
    ca: Option<PathBuf>,
    urls: Vec<String>,
}

enum Command {
    Server(ServerArgs),
    Client(ClientArgs),
}

fn parse_args(args: Vec<String>) -> Result<Command, String> {
    let mut it = args.into_iter();
    let role = it.next().ok_or("missing role")?;
    let mut listen = None;
    let mut cert = None;
    let mut key = None;
    let mut www = None;
    let mut testcase = None;
    let mut downloads = None;
    let mut ca = None;
    let mut insecure = false;
    let mut urls = Vec::new();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => {
                let v = value()?;
                listen = Some(
                    v.to_socket_addrs()
                        .map_err(|e| format!("--listen {v}: {e}"))?
                        .next()
                        .ok_or(format!("--listen {v}: no address"))?,
                );
            }
            "--cert" => cert = Some(PathBuf::from(value()?)),
            "--key" => key = Some(PathBuf::from(value()?)),
            "--www" => www = Some(PathBuf::from(value()?)),
            "--testcase" => testcase = Some(value()?),
            "--downloads" => downloads = Some(PathBuf::from(value()?)),
            "--ca" => ca = Some(PathBuf::from(value()?)),
            "--insecure" => insecure = true,
            a if a.starts_with("--") => return Err(format!("unknown option {a}")),
            _ => urls.push(arg),
        }
    }
    match role.as_str() {
        "server" => Ok(Command::Server(ServerArgs {
            listen: listen.ok_or("server needs --listen")?,
            cert: cert.ok_or("server needs --cert")?,
            key: key.ok_or("server needs --key")?,
            www: www.ok_or("server needs --www")?,
            testcase: testcase_or_env(testcase),
        })),
        "client" => {
            if urls.is_empty() {
                // The runner's REQUESTS: space-separated URLs.
                if let Ok(requests) = std::env::var("REQUESTS") {
                    urls = requests.split_whitespace().map(str::to_string).collect();
                }
            }
            if urls.is_empty() {
                return Err("client needs at least one URL (arguments or REQUESTS)".into());
            }
            if !insecure && ca.is_none() {
                return Err("client needs --insecure or --ca PEM".into());
            }
            Ok(Command::Client(ClientArgs {
                testcase: testcase_or_env(testcase).ok_or("client needs --testcase or TESTCASE")?,
                downloads: downloads.ok_or("client needs --downloads")?,
                insecure,
                ca,
                urls,
            }))
        }
        r => Err(format!("unknown role {r}")),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts any certificate, but still checks the handshake signature
/// with the certificate's key, so the peer must hold that key.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // QUIC is TLS 1.3 only (RFC 9001 §4.2).
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Transport settings: a qlog trace per connection in `QLOGDIR` when the
/// runner sets it (build with `--features qlog`).
fn transport() -> Arc<actix_quic::TransportConfig> {
    #[allow(unused_mut)]
    let mut t = actix_quic::TransportConfig::default();
    #[cfg(feature = "qlog")]
    t.qlog(
        actix_quic::protocol::QlogDir::from_env()
            .map(|d| Arc::new(d) as Arc<dyn actix_quic::protocol::QlogFactory>),
    );
    Arc::new(t)
}

fn server_tls(args: &ServerArgs) -> Result<rustls::ServerConfig, BoxError> {
    let certs = CertificateDer::pem_file_iter(&args.cert)
        .map_err(|e| format!("{}: {e}", args.cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", args.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&args.key)
        .map_err(|e| format!("{}: {e}", args.key.display()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    // Early data on: QUIC needs exactly u32::MAX (RFC 9001 §4.6.1).
    cfg.max_early_data_size = u32::MAX;
    cfg.key_log = Arc::new(rustls::KeyLogFile::new());
    Ok(cfg)
}

/// rustls's in-memory session store, counting the TLS 1.3 session
/// tickets it is given, so the client can tell whether it has one.
#[derive(Debug)]
struct Tickets {
    store: ClientSessionMemoryCache,
    received: AtomicUsize,
}

impl Tickets {
    fn new() -> Self {
        Self {
            store: ClientSessionMemoryCache::new(32),
            received: AtomicUsize::new(0),
        }
    }

    /// Tickets received so far, taken or not.
    fn received(&self) -> usize {
        self.received.load(Ordering::Relaxed)
    }
}

impl ClientSessionStore for Tickets {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.store.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.store.kx_hint(server_name)
    }

    fn set_tls12_session(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.store.set_tls12_session(server_name, value);
    }

    fn tls12_session(
        &self,
        server_name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.store.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.store.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.received.fetch_add(1, Ordering::Relaxed);
        self.store.insert_tls13_ticket(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.store.take_tls13_ticket(server_name)
    }
}

/// The client's rustls configuration, keeping session tickets in
/// `tickets`. With `case.chacha20`, the only cipher suite offered is
/// TLS_CHACHA20_POLY1305_SHA256; for `zerortt`, early data is enabled.
fn client_tls(
    args: &ClientArgs,
    case: Case,
    tickets: Arc<Tickets>,
) -> Result<rustls::ClientConfig, BoxError> {
    let provider = if case.chacha20 {
        Arc::new(rustls::crypto::CryptoProvider {
            cipher_suites: vec![rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256],
            ..rustls::crypto::ring::default_provider()
        })
    } else {
        provider()
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let mut cfg = if args.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    } else {
        let path = args.ca.as_ref().ok_or("no --ca")?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in
            CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))?
        {
            roots.add(cert.map_err(|e| format!("{}: {e}", path.display()))?)?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    cfg.key_log = Arc::new(rustls::KeyLogFile::new());
    cfg.resumption = Resumption::store(tickets);
    cfg.enable_early_data = case.fetch == Fetch::ZeroRtt;
    Ok(cfg)
}

// ---- server ----

async fn run_server(args: ServerArgs, case: Case) -> Result<(), BoxError> {
    let tls = server_tls(&args)?;
    let mut config = ServerConfig::with_crypto(Arc::new(tls))?;
    config.transport_config(transport());
    config.retry(case.retry);
    let endpoint = Endpoint::server(config, args.listen)?;
    let www = Arc::new(args.www.canonicalize()?);
    println!(
        "serving {} (ALPN hq-interop, test case {}, retry {})",
        www.display(),
        args.testcase.as_deref().unwrap_or("none"),
        if case.retry { "on" } else { "off" },
    );
    // The line a harness waits for: connections are accepted from now on.
    println!("listening on {}", endpoint.local_addr()?);
    let early = case.fetch == Fetch::ZeroRtt;
    while let Some(incoming) = endpoint.accept().await {
        let www = www.clone();
        actix::spawn(async move {
            let connecting = match incoming.accept() {
                Ok(c) => c,
                Err(e) => return tracing::warn!(error = %e, "not accepted"),
            };
            // For zerortt, requests that came in 0-RTT are served at once
            // (0.5-RTT); a server can always do that.
            let connecting = if early {
                match connecting.into_0rtt() {
                    Ok((c, _)) => Ok(c),
                    Err(connecting) => connecting.await,
                }
            } else {
                connecting.await
            };
            let conn = match connecting {
                Ok(c) => c,
                Err(e) => return tracing::warn!(error = %e, "handshake failed"),
            };
            tracing::info!(remote = %conn.remote_address(), "connection accepted");
            loop {
                match conn.accept_bi().await {
                    Ok((send, recv)) => {
                        let www = www.clone();
                        actix::spawn(async move {
                            if let Err(e) = serve_request(&www, send, recv).await {
                                tracing::warn!(error = %e, "request failed");
                            }
                        });
                    }
                    Err(e) => return tracing::info!(reason = %e, "connection ended"),
                }
            }
        });
    }
    Ok(())
}

/// Maps an HTTP/0.9 path to a file under `www`, refusing anything that
/// could leave it.
fn resolve(www: &Path, path: &str) -> Option<PathBuf> {
    let rel = path.strip_prefix('/')?;
    let rel = Path::new(rel);
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(www.join(rel))
}

async fn serve_request(
    www: &Path,
    mut send: SendStream,
    mut recv: RecvStream,
) -> Result<(), BoxError> {
    let request = recv.read_to_end(MAX_REQUEST).await?;
    let line = std::str::from_utf8(&request)
        .map_err(|_| "request is not UTF-8")?
        .trim_end();
    let path = line.strip_prefix("GET ").map(str::trim);
    let file = match path {
        Some(p) if !p.contains("..") => resolve(www, p),
        _ => None,
    };
    let Some(file) = file else {
        tracing::warn!(request = line, "bad request");
        send.reset(VarInt::from_u32(1))?;
        return Ok(());
    };
    let mut f = match tokio::fs::File::open(&file).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "not found");
            send.reset(VarInt::from_u32(2))?;
            return Ok(());
        }
    };
    let mut sent = 0u64;
    loop {
        let mut buf = BytesMut::with_capacity(CHUNK);
        if f.read_buf(&mut buf).await? == 0 {
            break;
        }
        sent += buf.len() as u64;
        send.write_chunk(buf.freeze()).await?;
    }
    send.finish()?;
    tracing::info!(file = %file.display(), bytes = sent, "served");
    Ok(())
}

// ---- client ----

struct Target {
    authority: String,
    host: String,
    path: String,
}

fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or(format!("{url}: only https:// URLs"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    let authority = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:443")
    };
    Ok(Target {
        authority,
        host: host.to_string(),
        path: path.to_string(),
    })
}

fn file_name(path: &str) -> Result<String, String> {
    let name = path.rsplit('/').next().unwrap_or_default();
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!("{path}: no file name to save under"));
    }
    Ok(name.to_string())
}

async fn fetch(
    conn: Connection,
    path: String,
    downloads: Arc<PathBuf>,
    key_update: bool,
) -> Result<u64, BoxError> {
    let out = downloads.join(file_name(&path)?);
    let r = download(&conn, &path, &out, key_update).await;
    if r.is_err() {
        // Leave no partial file behind.
        let _ = tokio::fs::remove_file(&out).await;
    }
    r
}

/// Fetches `path` into `out`. With `key_update`, asks for a 1-RTT key
/// update after each chunk read until the connection reports one.
async fn download(
    conn: &Connection,
    path: &str,
    out: &Path,
    key_update: bool,
) -> Result<u64, BoxError> {
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(format!("GET {path}\r\n").as_bytes()).await?;
    send.finish()?;
    let mut file = None;
    let mut got = 0u64;
    while let Some(chunk) = recv
        .read_chunk(CHUNK)
        .await
        .map_err(|e| format!("{path}: {e}"))?
    {
        if file.is_none() {
            file = Some(create(out).await?);
        }
        got += chunk.len() as u64;
        file.as_mut().expect("created").write_all(&chunk).await?;
        if key_update && conn.stats().key_updates == 0 {
            // Refused (ignored) until the handshake is confirmed and a
            // 1-RTT packet of ours was acknowledged, so asked again with
            // every chunk until an update happened.
            conn.force_key_update();
        }
    }
    match file {
        Some(mut f) => f.flush().await?,
        None => drop(create(out).await?),
    }
    tracing::info!(path, bytes = got, "downloaded");
    Ok(got)
}

async fn create(out: &Path) -> Result<tokio::fs::File, BoxError> {
    Ok(tokio::fs::File::create(out)
        .await
        .map_err(|e| format!("{}: {e}", out.display()))?)
}

/// Figures over all of a client's connections, for the summary line.
#[derive(Debug, Default)]
struct Summary {
    connections: usize,
    packets_sent: u64,
    packets_received: u64,
    lost_packets: u64,
    key_updates: u64,
    cipher_suite: Option<rustls::CipherSuite>,
    /// Connections whose handshake resumed a TLS session.
    resumed: usize,
    /// Whether the server accepted 0-RTT; `None` when none was sent.
    zero_rtt: Option<bool>,
}

impl Summary {
    fn add(&mut self, conn: &Connection) {
        let s = conn.stats();
        self.connections += 1;
        self.packets_sent += s.packets_sent;
        self.packets_received += s.packets_received;
        self.lost_packets += s.lost_packets;
        self.key_updates += s.key_updates;
        if let Some(h) = conn.handshake_data() {
            if h.cipher_suite.is_some() {
                self.cipher_suite = h.cipher_suite;
            }
            self.resumed += usize::from(h.resumed);
        }
    }
}

/// Whether `conn`'s handshake resumed a TLS session.
fn resumed(conn: &Connection) -> bool {
    conn.handshake_data().is_some_and(|h| h.resumed)
}

/// A new connection to `remote`, reporting the handshake time.
async fn connect(
    endpoint: &Endpoint,
    remote: SocketAddr,
    host: &str,
) -> Result<Connection, BoxError> {
    let started = Instant::now();
    let conn = endpoint.connect(remote, host)?.await?;
    println!(
        "connected to {remote} in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(conn)
}

/// Fetches every target over `conn`, one after another or all at once
/// as `case` says; the total of bytes received.
async fn fetch_all(
    conn: &Connection,
    targets: &[Target],
    downloads: &Arc<PathBuf>,
    case: Case,
) -> Result<u64, BoxError> {
    let mut total = 0;
    if case.fetch == Fetch::Sequential {
        for t in targets {
            total += fetch(
                conn.clone(),
                t.path.clone(),
                downloads.clone(),
                case.key_update,
            )
            .await?;
        }
    } else {
        let tasks: Vec<_> = targets
            .iter()
            .map(|t| {
                actix::spawn(fetch(
                    conn.clone(),
                    t.path.clone(),
                    downloads.clone(),
                    case.key_update,
                ))
            })
            .collect();
        for r in futures::future::join_all(tasks).await {
            total += r??;
        }
    }
    Ok(total)
}

async fn run_client(args: ClientArgs, case: Case) -> Result<(), BoxError> {
    let targets = args
        .urls
        .iter()
        .map(|u| parse_url(u))
        .collect::<Result<Vec<_>, _>>()?;
    let first = &targets[0];
    if let Some(other) = targets.iter().find(|t| t.authority != first.authority) {
        return Err(format!(
            "all URLs must share one server: {} vs {}",
            first.authority, other.authority
        )
        .into());
    }
    let remote = first
        .authority
        .to_socket_addrs()
        .map_err(|e| format!("{}: {e}", first.authority))?
        .next()
        .ok_or(format!("{}: no address", first.authority))?;
    let local: SocketAddr = if remote.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    tokio::fs::create_dir_all(&args.downloads).await?;
    let downloads = Arc::new(args.downloads.clone());

    let tickets = Arc::new(Tickets::new());
    let endpoint = Endpoint::client(local)?;
    let mut client_config = ClientConfig::new(Arc::new(client_tls(&args, case, tickets.clone())?))?;
    client_config.transport_config(transport());
    client_config.version(case.version);
    endpoint.set_default_client_config(client_config);
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut total = 0;
    // Whether the second connection of resumption and zerortt resumed.
    let mut second_resumed = false;
    match case.fetch {
        Fetch::ConnectionPerUrl => {
            for t in &targets {
                let conn = connect(&endpoint, remote, &first.host).await?;
                let r = fetch_all(&conn, std::slice::from_ref(t), &downloads, case).await;
                summary.add(&conn);
                conn.close(VarInt::from_u32(0), b"");
                total += r?;
            }
        }
        Fetch::Sequential | Fetch::Parallel => {
            let conn = connect(&endpoint, remote, &first.host).await?;
            let r = fetch_all(&conn, &targets, &downloads, case).await;
            summary.add(&conn);
            conn.close(VarInt::from_u32(0), b"");
            total += r?;
        }
        Fetch::Resumption | Fetch::ZeroRtt => {
            let (first_target, rest) = targets
                .split_first()
                .filter(|(_, rest)| !rest.is_empty())
                .ok_or(format!(
                "{} needs two URLs or more: one for each connection",
                args.testcase
            ))?;
            // The first connection stays open until its download is
            // done; the server's tickets come with its first 1-RTT
            // flight, before the file.
            let conn = connect(&endpoint, remote, &first.host).await?;
            let r = fetch_all(&conn, std::slice::from_ref(first_target), &downloads, case).await;
            summary.add(&conn);
            conn.close(VarInt::from_u32(0), b"");
            total += r?;
            if tickets.received() == 0 {
                return Err("the first connection brought no session ticket: \
                            nothing to resume"
                    .into());
            }
            let conn = if case.fetch == Fetch::ZeroRtt {
                let started = Instant::now();
                let (conn, accepted) = endpoint
                    .connect(remote, &first.host)?
                    .into_0rtt()
                    .map_err(|_| "0-RTT is impossible on the second connection")?;
                println!("sending 0-RTT to {remote}");
                let r = fetch_all(&conn, rest, &downloads, case).await;
                // Resolves when the handshake completed or failed.
                let accepted = accepted.await;
                println!(
                    "0-RTT {} after {:.1} ms",
                    if accepted { "accepted" } else { "rejected" },
                    started.elapsed().as_secs_f64() * 1e3
                );
                summary.zero_rtt = Some(accepted);
                total += r?;
                conn
            } else {
                let conn = connect(&endpoint, remote, &first.host).await?;
                total += fetch_all(&conn, rest, &downloads, case).await?;
                conn
            };
            second_resumed = resumed(&conn);
            summary.add(&conn);
            conn.close(VarInt::from_u32(0), b"");
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{}: files {}, bytes {total}, time {:.3} s, connections {}, cipher suite {}, \
         packets sent {} received {} lost {}, key updates {}, resumed {}, 0-RTT {}, QUIC {}",
        args.testcase,
        targets.len(),
        elapsed.as_secs_f64(),
        summary.connections,
        summary
            .cipher_suite
            .map_or_else(|| "unknown".to_string(), |c| format!("{c:?}")),
        summary.packets_sent,
        summary.packets_received,
        summary.lost_packets,
        summary.key_updates,
        summary.resumed,
        match summary.zero_rtt {
            Some(true) => "accepted",
            Some(false) => "rejected",
            None => "unused",
        },
        if case.version == VERSION_2 {
            "v2"
        } else {
            "v1"
        },
    );
    // Let the CONNECTION_CLOSEs go out and the connections drain.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), endpoint.wait_idle()).await;
    if case.key_update && summary.key_updates == 0 {
        return Err("no key update happened".into());
    }
    let chacha = rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256;
    if case.chacha20 && summary.cipher_suite != Some(chacha) {
        return Err(format!("negotiated {:?}, not {chacha:?}", summary.cipher_suite).into());
    }
    if matches!(case.fetch, Fetch::Resumption | Fetch::ZeroRtt) && !second_resumed {
        return Err("the second connection did not resume the session".into());
    }
    if case.fetch == Fetch::ZeroRtt && summary.zero_rtt != Some(true) {
        return Err("the server rejected 0-RTT".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cmd = match parse_args(std::env::args().skip(1).collect()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let name = match &cmd {
        // A server told nothing serves plain transfers.
        Command::Server(a) => a.testcase.as_deref().unwrap_or("transfer"),
        Command::Client(a) => a.testcase.as_str(),
    };
    let Some(case) = case(name) else {
        eprintln!("test case {name} is not supported");
        return ExitCode::from(EXIT_UNSUPPORTED);
    };
    let result = actix::System::new().block_on(async move {
        match cmd {
            Command::Server(a) => run_server(a, case).await,
            Command::Client(a) => run_client(a, case).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
