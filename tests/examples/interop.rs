//! Runs the `interop` example (the quic-interop-runner style endpoint) as
//! real processes: a server on 127.0.0.1 with a self-signed certificate
//! and a `www` directory of generated files, and a client per test case
//! that must exit 0 with byte-identical downloads. A UDP relay between
//! them reads the clear-text long headers to check what the runner's
//! checks look at: how many handshakes the server made (distinct source
//! CIDs of its Initials), whether it sent a Retry, whether the client
//! sent 0-RTT packets and which QUIC versions were used. For
//! `rebind-port` and `rebind-addr` the relay moves the client to a new
//! port or address in mid-transfer, as a NAT rebinding would.
//!

use crate::process::{example, run, start_until, ChildGuard};
use std::collections::{HashSet, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The files in every test's `www` directory: name and size.
fn www_files() -> Vec<(String, usize)> {
    let mut files = vec![
        ("1k".to_string(), 1024),
        ("100k".to_string(), 100 * 1024),
        ("1m".to_string(), 1024 * 1024),
    ];
    files.extend((0..40).map(|i| (format!("small-{i:02}"), 32 + i)));
    files
}

/// Deterministic bytes for a file, different for each name.
fn content(name: &str, len: usize) -> Vec<u8> {
    let seed = name
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A directory of its own under the system's temporary directory with a
/// certificate for 127.0.0.1, the `www` files and room for downloads;
/// removed on drop.
struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "actix-quic-example-interop-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("www")).unwrap();
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap();
        std::fs::write(dir.join("cert.pem"), c.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), c.key_pair.serialize_pem()).unwrap();
        for (name, len) in www_files() {
            std::fs::write(dir.join("www").join(&name), content(&name, len)).unwrap();
        }
        Self { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The example's command with no runner variables inherited.
fn command(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_remove("TESTCASE")
        .env_remove("REQUESTS")
        .env_remove("SSLKEYLOGFILE")
        .stdin(Stdio::null());
    cmd
}

/// A running example server and the address it reported.
struct Server {
    _child: ChildGuard,
    addr: SocketAddr,
}

/// Starts the server for `testcase` (in `--testcase`, or with `via_env`
/// in `TESTCASE`) on 127.0.0.1, port 0, and waits for its
/// `listening on ADDR` line.
fn start_server(bin: &Path, fx: &Fixture, testcase: &str, via_env: bool) -> Server {
    let mut cmd = command(bin);
    cmd.arg("server")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--cert")
        .arg(fx.path("cert.pem"))
        .arg("--key")
        .arg(fx.path("key.pem"))
        .arg("--www")
        .arg(fx.path("www"))
        .stderr(Stdio::inherit());
    if via_env {
        cmd.env("TESTCASE", testcase);
    } else {
        cmd.arg("--testcase").arg(testcase);
    }
    let (child, addr) = start_until(cmd, "listening on ");
    Server {
        _child: child,
        addr: addr
            .parse()
            .unwrap_or_else(|e| panic!("server address {addr:?}: {e}")),
    }
}

/// QUIC version 1 (RFC 9000).
const VERSION_1: u32 = 1;
/// QUIC version 2 (RFC 9369).
const VERSION_2: u32 = 0x6b33_43cf;

/// Long header packet types, whose bits differ between versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LongType {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
}

/// What the relay reads from one long header packet.
struct LongHeader<'a> {
    version: u32,
    /// `None` for Version Negotiation and unknown versions.
    kind: Option<LongType>,
    scid: &'a [u8],
    /// Where the next coalesced packet starts, when this one says.
    end: Option<usize>,
}

/// A QUIC variable-length integer at `at`; its value and end.
fn varint(d: &[u8], at: usize) -> Option<(usize, usize)> {
    let first = *d.get(at)?;
    let len = 1usize << (first >> 6);
    let bytes = d.get(at..at + len)?;
    let v = bytes[1..]
        .iter()
        .fold(u64::from(first & 0x3f), |v, b| v << 8 | u64::from(*b));
    Some((usize::try_from(v).ok()?, at + len))
}

/// Reads the long header at the start of `d` (RFC 8999 §5.1, RFC 9000
/// §17.2, RFC 9369 §3.2); `None` for a short header.
fn long_header(d: &[u8]) -> Option<LongHeader<'_>> {
    if d.first()? & 0x80 == 0 {
        return None;
    }
    let version = u32::from_be_bytes(d.get(1..5)?.try_into().ok()?);
    let dcid_len = usize::from(*d.get(5)?);
    let at = 6 + dcid_len;
    let scid_len = usize::from(*d.get(at)?);
    let scid = d.get(at + 1..at + 1 + scid_len)?;
    let bits = (d[0] >> 4) & 0x03;
    let kind = match version {
        VERSION_1 => Some(
            [
                LongType::Initial,
                LongType::ZeroRtt,
                LongType::Handshake,
                LongType::Retry,
            ][usize::from(bits)],
        ),
        VERSION_2 => Some(
            [
                LongType::Retry,
                LongType::Initial,
                LongType::ZeroRtt,
                LongType::Handshake,
            ][usize::from(bits)],
        ),
        _ => None,
    };
    let mut at = at + 1 + scid_len;
    let end = match kind {
        Some(LongType::Initial | LongType::ZeroRtt | LongType::Handshake) => {
            if kind == Some(LongType::Initial) {
                let (token_len, after) = varint(d, at)?;
                at = after + token_len;
            }
            let (len, after) = varint(d, at)?;
            Some(after + len)
        }
        _ => None,
    };
    Some(LongHeader {
        version,
        kind,
        scid,
        end,
    })
}

/// The long header packets coalesced at the start of a datagram (RFC
/// 9000 §12.2); a short header packet can only come last.
fn long_headers(mut d: &[u8]) -> Vec<LongHeader<'_>> {
    let mut out = Vec::new();
    while let Some(h) = long_header(d) {
        let end = h.end;
        out.push(h);
        match end {
            Some(end) if end < d.len() => d = &d[end..],
            _ => break,
        }
    }
    out
}

/// What the relay saw.
#[derive(Default)]
struct Seen {
    /// Retry packets.
    retries: AtomicUsize,
    /// Source CIDs of the server's Initial packets: one per handshake,
    /// as the runner counts them.
    initial_scids: Mutex<HashSet<Vec<u8>>>,
    /// The versions of all long header packets, both ways (0 for Version
    /// Negotiation).
    versions: Mutex<HashSet<u32>>,
    /// The client's 0-RTT packets.
    zero_rtt_packets: AtomicUsize,
    /// Datagrams from the server that reached the relay's new address,
    /// after a rebinding.
    after_rebind: AtomicUsize,
    /// Whether the relay rebound.
    rebound: AtomicBool,
}

impl Seen {
    fn record(&self, datagram: &[u8], from_server: bool) {
        for h in long_headers(datagram) {
            self.versions.lock().unwrap().insert(h.version);
            match (h.kind, from_server) {
                (Some(LongType::Initial), true) => {
                    self.initial_scids.lock().unwrap().insert(h.scid.to_vec());
                }
                (Some(LongType::Retry), true) => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                }
                (Some(LongType::ZeroRtt), false) => {
                    self.zero_rtt_packets.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    }
}

/// A change of the client's address, as the server sees it, like a NAT
/// rebinding: after `after` datagrams from the client, the relay sends
/// from a new socket on `ip` (new port), and what the server sends to
/// the old one is dropped.
#[derive(Debug, Clone, Copy)]
struct Rebind {
    after: usize,
    ip: &'static str,
}

/// A UDP relay on 127.0.0.1 in front of one server, for one client
/// address; its threads end on drop.
struct Relay {
    addr: SocketAddr,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    /// What the server sends reaches the client `delay` later.
    fn start(server: SocketAddr, rebind: Option<Rebind>, delay: Duration) -> Self {
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        let old = UdpSocket::bind("127.0.0.1:0").unwrap();
        let new = UdpSocket::bind(format!("{}:0", rebind.map_or("127.0.0.1", |r| r.ip)))
            .unwrap_or_else(|e| panic!("a socket for the rebinding: {e}"));
        old.connect(server).unwrap();
        new.connect(server).unwrap();
        // Lets the threads see `stop` while nothing arrives.
        for s in [&front, &old, &new] {
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        }
        let addr = front.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let stop = Arc::new(AtomicBool::new(false));
        let client = Arc::new(Mutex::new(None::<SocketAddr>));
        let mut threads = Vec::new();
        {
            let (front, old, new) = (
                front.try_clone().unwrap(),
                old.try_clone().unwrap(),
                new.try_clone().unwrap(),
            );
            let (stop, seen, client) = (stop.clone(), seen.clone(), client.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                let mut datagrams = 0;
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((n, from)) = front.recv_from(&mut buf) {
                        *client.lock().unwrap() = Some(from);
                        seen.record(&buf[..n], false);
                        datagrams += 1;
                        let rebound = rebind.is_some_and(|r| datagrams > r.after);
                        seen.rebound.store(rebound, Ordering::Relaxed);
                        let _ = if rebound { &new } else { &old }.send(&buf[..n]);
                    }
                }
            }));
        }
        for (back, is_new) in [(old, false), (new, true)] {
            let front = front.try_clone().unwrap();
            let (stop, seen, client) = (stop.clone(), seen.clone(), client.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                // Datagrams held for `delay`, oldest first.
                let mut held: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
                while !stop.load(Ordering::Relaxed) {
                    let wait = held.front().map_or(Duration::from_millis(50), |(at, _)| {
                        at.saturating_duration_since(Instant::now())
                            .max(Duration::from_millis(1))
                    });
                    back.set_read_timeout(Some(wait)).unwrap();
                    if let Ok(n) = back.recv(&mut buf) {
                        seen.record(&buf[..n], true);
                        if is_new {
                            seen.after_rebind.fetch_add(1, Ordering::Relaxed);
                        }
                        // Once rebound, the old mapping is gone.
                        if is_new || !seen.rebound.load(Ordering::Relaxed) {
                            held.push_back((Instant::now() + delay, buf[..n].to_vec()));
                        }
                    }
                    while held.front().is_some_and(|(at, _)| *at <= Instant::now()) {
                        let (_, d) = held.pop_front().expect("checked");
                        if let Some(c) = *client.lock().unwrap() {
                            let _ = front.send_to(&d, c);
                        }
                    }
                }
            }));
        }
        Self {
            addr,
            seen,
            stop,
            threads,
        }
    }

    fn retries(&self) -> usize {
        self.seen.retries.load(Ordering::Relaxed)
    }

    fn handshakes(&self) -> usize {
        self.seen.initial_scids.lock().unwrap().len()
    }

    fn versions(&self) -> HashSet<u32> {
        self.seen.versions.lock().unwrap().clone()
    }

    fn zero_rtt_packets(&self) -> usize {
        self.seen.zero_rtt_packets.load(Ordering::Relaxed)
    }

    fn after_rebind(&self) -> usize {
        self.seen.after_rebind.load(Ordering::Relaxed)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// What one test case must show.
struct Expect<'a> {
    /// Handshakes the server made.
    handshakes: usize,
    /// Whether the server sent a Retry.
    retry: bool,
    /// Fewest key updates the client's summary may report.
    key_updates: u64,
    /// Text the client's stdout must contain.
    stdout: &'a [&'a str],
    /// Connections that resumed a session, as the client's summary
    /// says; `None`: not checked.
    resumed: Option<u64>,
    /// The client sent 0-RTT packets and says the server accepted them;
    /// otherwise it sent none and says 0-RTT was unused.
    zero_rtt: bool,
    /// The only QUIC version in the long headers, both ways; the client's
    /// summary names it too.
    version: u32,
    /// The relay moves the client to a new address during the transfer;
    /// the server must follow.
    rebind: Option<Rebind>,
}

/// The figure after `label` in the client's summary line.
fn figure(stdout: &str, label: &str) -> u64 {
    let at = stdout
        .rfind(label)
        .unwrap_or_else(|| panic!("no `{label}` in the client's output:\n{stdout}"));
    stdout[at + label.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no figure after `{label}`:\n{stdout}"))
}

/// Serves the `www` files, runs the client for `testcase` on `files`
/// through a relay and checks its exit code, the downloads and `expect`.
/// With `via_env`, both endpoints get the test case from `TESTCASE` and
/// the client its URLs from `REQUESTS` instead of arguments.
fn check_case(testcase: &str, files: &[&str], expect: Expect<'_>, via_env: bool) {
    let bin = example("interop");
    let fx = Fixture::new(if via_env { "env" } else { testcase });
    let server = start_server(&bin, &fx, testcase, via_env);
    // With 0-RTT expected, the server's answers are held back 25 ms: on a
    // loaded machine the handshake could otherwise complete before the
    // client writes its requests, which would then rightly go in 1-RTT.
    let delay = if expect.zero_rtt {
        Duration::from_millis(25)
    } else {
        Duration::ZERO
    };
    let relay = Relay::start(server.addr, expect.rebind, delay);
    let urls: Vec<String> = files
        .iter()
        .map(|f| format!("https://{}/{f}", relay.addr))
        .collect();

    let downloads = fx.path("downloads");
    let mut cmd = command(&bin);
    cmd.arg("client")
        .arg("--downloads")
        .arg(&downloads)
        .arg("--ca")
        .arg(fx.path("cert.pem"));
    if via_env {
        cmd.env("TESTCASE", testcase)
            .env("REQUESTS", urls.join(" "));
    } else {
        cmd.arg("--testcase").arg(testcase).args(&urls);
    }
    let out = run(cmd);
    assert!(out.status.success(), "client for {testcase}: {out}");

    let mut got: Vec<String> = std::fs::read_dir(&downloads)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    got.sort();
    let mut want: Vec<String> = files.iter().map(|f| f.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "{testcase}: downloaded files");
    for f in files {
        let original = std::fs::read(fx.path("www").join(f)).unwrap();
        let downloaded = std::fs::read(downloads.join(f)).unwrap();
        assert!(
            original == downloaded,
            "{testcase}: {f} differs ({} bytes served, {} downloaded)",
            original.len(),
            downloaded.len()
        );
    }

    assert_eq!(
        relay.handshakes(),
        expect.handshakes,
        "{testcase}: handshakes"
    );
    if expect.retry {
        assert!(relay.retries() >= 1, "{testcase}: no Retry was sent");
    } else {
        assert_eq!(relay.retries(), 0, "{testcase}: unexpected Retry");
    }
    assert_eq!(
        figure(&out.stdout, "files "),
        files.len() as u64,
        "{testcase}: the summary's file count"
    );
    assert_eq!(
        figure(&out.stdout, "connections "),
        expect.handshakes as u64,
        "{testcase}: the summary's connection count"
    );
    assert!(
        figure(&out.stdout, "key updates ") >= expect.key_updates,
        "{testcase}: too few key updates:\n{}",
        out.stdout
    );
    if let Some(resumed) = expect.resumed {
        assert_eq!(
            figure(&out.stdout, "resumed "),
            resumed,
            "{testcase}: connections that resumed a session:\n{}",
            out.stdout
        );
    }
    let zero_rtt_packets = relay.zero_rtt_packets();
    if expect.zero_rtt {
        assert!(zero_rtt_packets > 0, "{testcase}: no 0-RTT packet was sent");
    } else {
        assert_eq!(zero_rtt_packets, 0, "{testcase}: unexpected 0-RTT packets");
    }
    let zero_rtt_said = if expect.zero_rtt {
        "0-RTT accepted"
    } else {
        "0-RTT unused"
    };
    let version_said = if expect.version == VERSION_2 {
        "QUIC v2"
    } else {
        "QUIC v1"
    };
    assert_eq!(
        relay.versions(),
        HashSet::from([expect.version]),
        "{testcase}: versions in the long headers"
    );
    if expect.rebind.is_some() {
        assert!(
            relay.after_rebind() > 0,
            "{testcase}: the server never sent to the client's new address"
        );
    }
    for text in expect.stdout.iter().chain(&[zero_rtt_said, version_said]) {
        assert!(
            out.stdout.contains(text),
            "{testcase}: no `{text}` in the client's output:\n{}",
            out.stdout
        );
    }
}

/// `handshakes` connections in QUIC v1, none resumed when there is one
/// (not checked for more), no Retry, no key update needed, no 0-RTT, no
/// rebinding.
fn plain(handshakes: usize) -> Expect<'static> {
    Expect {
        handshakes,
        retry: false,
        key_updates: 0,
        stdout: &[],
        resumed: (handshakes == 1).then_some(0),
        zero_rtt: false,
        version: VERSION_1,
        rebind: None,
    }
}

#[test]
fn handshake() {
    check_case("handshake", &["1k"], plain(1), false);
}

#[test]
fn transfer() {
    check_case("transfer", &["1k", "100k", "1m"], plain(1), false);
}

#[test]
fn multiplexing() {
    let names: Vec<String> = (0..40).map(|i| format!("small-{i:02}")).collect();
    let mut files: Vec<&str> = names.iter().map(String::as_str).collect();
    files.push("100k");
    check_case("multiplexing", &files, plain(1), false);
}

#[test]
fn retry() {
    let expect = Expect {
        retry: true,
        ..plain(1)
    };
    check_case("retry", &["1k", "100k"], expect, false);
}

#[test]
fn keyupdate() {
    // The client also fails on its own when no key update happened.
    let expect = Expect {
        key_updates: 1,
        ..plain(1)
    };
    check_case("keyupdate", &["1m"], expect, false);
}

#[test]
fn chacha20() {
    let expect = Expect {
        stdout: &["cipher suite TLS13_CHACHA20_POLY1305_SHA256"],
        ..plain(1)
    };
    check_case("chacha20", &["100k", "1m"], expect, false);
}

#[test]
fn handshakeloss_uses_a_connection_per_url() {
    let files = [
        "1k", "small-00", "small-01", "small-02", "small-03", "small-04", "small-05",
    ];
    check_case("handshakeloss", &files, plain(files.len()), false);
}

#[test]
fn resumption() {
    // The client also fails on its own when the second connection did
    // not resume.
    let expect = Expect {
        resumed: Some(1),
        ..plain(2)
    };
    check_case("resumption", &["1k", "100k", "small-00"], expect, false);
}

#[test]
fn zerortt() {
    // The client also fails on its own when 0-RTT was impossible or
    // rejected.
    let expect = Expect {
        resumed: Some(1),
        zero_rtt: true,
        ..plain(2)
    };
    let files = ["1k", "small-00", "small-01", "small-02", "100k"];
    check_case("zerortt", &files, expect, false);
}

#[test]
fn v2() {
    let expect = Expect {
        version: VERSION_2,
        ..plain(1)
    };
    check_case("v2", &["1k", "1m"], expect, false);
}

/// A transfer during which the relay moves the client to `ip` (a new
/// port, and a new address unless it stays 127.0.0.1).
fn check_rebind(case: &str, ip: &'static str) {
    let expect = Expect {
        rebind: Some(Rebind { after: 20, ip }),
        ..plain(1)
    };
    check_case(case, &["1m"], expect, false);
}

#[test]
fn rebind_port() {
    check_rebind("rebind-port", "127.0.0.1");
}

#[test]
fn rebind_addr() {
    // All of 127.0.0.0/8 is loopback on Linux.
    check_rebind("rebind-addr", "127.0.0.2");
}

#[test]
fn runner_environment_variables_stand_in_for_arguments() {
    // Retry shows that the server read its test case from TESTCASE.
    let expect = Expect {
        retry: true,
        ..plain(1)
    };
    check_case("retry", &["1k", "100k"], expect, true);
}

#[test]
fn unsupported_test_cases_exit_with_127() {
    let bin = example("interop");
    let fx = Fixture::new("unsupported");
    for testcase in ["http3", "ecn", "connectionmigration", "versionnegotiation"] {
        let mut cmd = command(&bin);
        cmd.arg("client")
            .arg("--testcase")
            .arg(testcase)
            .arg("--downloads")
            .arg(fx.path("downloads"))
            .arg("--insecure")
            .arg("https://127.0.0.1:9/1k");
        let out = run(cmd);
        assert_eq!(out.status.code(), Some(127), "client for {testcase}: {out}");
    }
    let mut cmd = command(&bin);
    cmd.arg("server")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--cert")
        .arg(fx.path("cert.pem"))
        .arg("--key")
        .arg(fx.path("key.pem"))
        .arg("--www")
        .arg(fx.path("www"))
        .arg("--testcase")
        .arg("connectionmigration");
    let out = run(cmd);
    assert_eq!(
        out.status.code(),
        Some(127),
        "server for connectionmigration: {out}"
    );
}
