//! Runs the `interop` example (the quic-interop-runner style endpoint) as
//! real processes: a server on 127.0.0.1 with a self-signed certificate
//! and a `www` directory of generated files, and a client per test case
//! that must exit 0 with byte-identical downloads. A UDP relay between
//! them reads the clear-text long headers to check what the runner's
//! checks look at: how many handshakes the server made (distinct source
//! CIDs of its Initials) and whether it sent a Retry.
//!
//! The example binary is not built by `cargo test --test example_interop`
//! alone: `cargo build --example interop` first (a plain `cargo test`
//! builds it). A missing or stale binary fails the test.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bound on every wait for a child process.
const TIMEOUT: Duration = Duration::from_secs(30);

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

/// The sources cargo's dep-info file (`<binary>.d`, one make rule
/// `binary: source source ...`, spaces in paths escaped) lists for the
/// binary.
fn dep_info_sources(dep_info: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(dep_info).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; cannot tell whether the example is up to date: \
             rebuild it with `cargo build --example interop`",
            dep_info.display()
        )
    });
    let rule = text.lines().next().unwrap_or_default();
    let (_, deps) = rule
        .split_once(": ")
        .unwrap_or_else(|| panic!("{}: no make rule", dep_info.display()));
    let mut sources = Vec::new();
    let mut current = String::new();
    let mut chars = deps.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            c if c.is_whitespace() => {
                if !current.is_empty() {
                    sources.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        sources.push(PathBuf::from(current));
    }
    sources
}

/// The built example: `target/<profile>/examples/interop`, next to this
/// test's `deps` directory. Missing, or older than a source its dep-info
/// lists, it fails the test rather than testing something else.
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lies in target/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("interop{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build --example interop` \
         (`cargo test --test example_interop` does not build examples)",
        bin.display()
    );
    // A binary older than one of its sources would test other code.
    let built = bin.metadata().unwrap().modified().unwrap();
    let sources = dep_info_sources(&bin.with_extension("d"));
    assert!(
        sources.iter().any(|s| s.ends_with("examples/interop.rs")),
        "{}.d does not list examples/interop.rs",
        bin.display()
    );
    for source in sources {
        let changed = source.metadata().and_then(|m| m.modified());
        assert!(
            changed.is_ok_and(|c| c <= built),
            "{} is older than {} (or it is gone): rebuild it with \
             `cargo build --example interop`",
            bin.display(),
            source.display()
        );
    }
    bin
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

/// Kills and reaps the child on drop, also when a test fails.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if via_env {
        cmd.env("TESTCASE", testcase);
    } else {
        cmd.arg("--testcase").arg(testcase);
    }
    let mut child = ChildGuard(cmd.spawn().expect("start the example server"));
    let stdout = child.0.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    // Reads stdout until the server exits, so it never blocks on a full
    // pipe; the address goes out through the channel.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    let addr = match rx.recv_timeout(TIMEOUT) {
        Ok(a) => a,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("the server did not print `listening on ADDR` within {TIMEOUT:?}")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!(
            "the server closed stdout before `listening on ADDR` (exit: {:?})",
            child.0.wait()
        ),
    };
    Server {
        _child: child,
        addr: addr
            .parse()
            .unwrap_or_else(|e| panic!("server address {addr:?}: {e}")),
    }
}

/// What a finished child said.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to its end, killing it and failing after [`TIMEOUT`].
fn run(mut cmd: Command) -> Finished {
    let mut child = ChildGuard(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the example"),
    );
    let deadline = Instant::now() + TIMEOUT;
    let (tx, rx) = mpsc::channel();
    for (is_stdout, pipe) in [
        (
            true,
            Box::new(child.0.stdout.take().unwrap()) as Box<dyn Read + Send>,
        ),
        (false, Box::new(child.0.stderr.take().unwrap())),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut pipe = pipe;
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            let _ = tx.send((is_stdout, text));
        });
    }
    drop(tx);
    let (mut stdout, mut stderr) = (String::new(), String::new());
    // Both pipes reach their end when the child exits.
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((true, text)) => stdout = text,
            Ok((false, text)) => stderr = text,
            Err(_) => panic!(
                "{cmd:?} did not finish within {TIMEOUT:?}; killed\n--- stdout so far\n{stdout}"
            ),
        }
    }
    let status = child.0.wait().expect("wait for the example");
    Finished {
        status,
        stdout,
        stderr,
    }
}

/// Reads a QUIC long header's version, type and connection IDs:
/// `(type, dcid, scid)` of a version 1 packet.
fn long_header(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    if d.first()? & 0x80 == 0 || d.get(1..5)? != [0, 0, 0, 1] {
        return None;
    }
    let dcid_len = usize::from(*d.get(5)?);
    let dcid = d.get(6..6 + dcid_len)?;
    let at = 6 + dcid_len;
    let scid_len = usize::from(*d.get(at)?);
    let scid = d.get(at + 1..at + 1 + scid_len)?;
    Some(((d[0] >> 4) & 0x03, dcid, scid))
}

/// What the relay saw from the server.
#[derive(Default)]
struct Seen {
    /// Retry packets.
    retries: AtomicUsize,
    /// Source CIDs of the server's Initial packets: one per handshake,
    /// as the runner counts them.
    initial_scids: Mutex<HashSet<Vec<u8>>>,
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
    fn start(server: SocketAddr) -> Self {
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").unwrap();
        back.connect(server).unwrap();
        // Lets the threads see `stop` while nothing arrives.
        for s in [&front, &back] {
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        }
        let addr = front.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let stop = Arc::new(AtomicBool::new(false));
        let client = Arc::new(Mutex::new(None::<SocketAddr>));
        let (front2, back2) = (front.try_clone().unwrap(), back.try_clone().unwrap());
        let to_server = {
            let (stop, client) = (stop.clone(), client.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((n, from)) = front.recv_from(&mut buf) {
                        *client.lock().unwrap() = Some(from);
                        let _ = back.send(&buf[..n]);
                    }
                }
            })
        };
        let to_client = {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok(n) = back2.recv(&mut buf) else {
                        continue;
                    };
                    match long_header(&buf[..n]) {
                        Some((0, _, scid)) => {
                            seen.initial_scids.lock().unwrap().insert(scid.to_vec());
                        }
                        Some((3, _, _)) => {
                            seen.retries.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                    if let Some(c) = *client.lock().unwrap() {
                        let _ = front2.send_to(&buf[..n], c);
                    }
                }
            })
        };
        Self {
            addr,
            seen,
            stop,
            threads: vec![to_server, to_client],
        }
    }

    fn retries(&self) -> usize {
        self.seen.retries.load(Ordering::Relaxed)
    }

    fn handshakes(&self) -> usize {
        self.seen.initial_scids.lock().unwrap().len()
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
    let bin = example();
    let fx = Fixture::new(if via_env { "env" } else { testcase });
    let server = start_server(&bin, &fx, testcase, via_env);
    let relay = Relay::start(server.addr);
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
    for text in expect.stdout {
        assert!(
            out.stdout.contains(text),
            "{testcase}: no `{text}` in the client's output:\n{}",
            out.stdout
        );
    }
}

/// One connection per client, no Retry, no key update needed.
fn plain(handshakes: usize) -> Expect<'static> {
    Expect {
        handshakes,
        retry: false,
        key_updates: 0,
        stdout: &[],
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
    let bin = example();
    let fx = Fixture::new("unsupported");
    for testcase in ["zerortt", "resumption", "v2", "ecn", "connectionmigration"] {
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
        .arg("zerortt");
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(127), "server for zerortt: {out}");
}
