//! Running an example as a process: finding its up-to-date binary,
//! running it to its end within a bound, and starting a server that
//! reports its address.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bound on every wait for a child process.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The sources cargo's dep-info file (`<binary>.d`, one make rule
/// `binary: source source ...`, spaces in paths escaped) lists for the
/// binary.
fn dep_info_sources(dep_info: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(dep_info).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; cannot tell whether the example is up to date: \
             rebuild it with `cargo build --example <name>`",
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

/// The built example `name`: `target/<profile>/examples/<name>`, next to
/// this test's `deps` directory. Missing, or older than a source its dep-info
/// lists, it fails the test rather than testing something else.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lies in target/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build --example {name}` \
         (`cargo test --test examples` does not build examples)",
        bin.display()
    );
    // A binary older than one of its sources would test other code.
    let built = bin.metadata().unwrap().modified().unwrap();
    let sources = dep_info_sources(&bin.with_extension("d"));
    assert!(
        sources
            .iter()
            .any(|s| s.ends_with(format!("examples/{name}.rs"))),
        "{}.d does not list examples/{name}.rs",
        bin.display()
    );
    for source in sources {
        let changed = source.metadata().and_then(|m| m.modified());
        assert!(
            changed.is_ok_and(|c| c <= built),
            "{} is older than {} (or it is gone): rebuild it with \
             `cargo build --example {name}`",
            bin.display(),
            source.display()
        );
    }
    bin
}

/// Kills and reaps the child on drop, also when a test fails.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a finished child said.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
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
pub fn run(mut cmd: Command) -> Finished {
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
            Err(_) => {
                // Killed, its pipes end: show all it wrote.
                let _ = child.0.kill();
                while let Ok((is_stdout, text)) = rx.recv_timeout(Duration::from_secs(5)) {
                    if is_stdout {
                        stdout = text;
                    } else {
                        stderr = text;
                    }
                }
                panic!(
                    "{cmd:?} did not finish within {TIMEOUT:?}; killed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
                )
            }
        }
    }
    let status = child.0.wait().expect("wait for the example");
    Finished {
        status,
        stdout,
        stderr,
    }
}

/// Starts `cmd` (stdout piped) and waits for a line starting with
/// `prefix`; returns the child and the rest of that line. Stdout is
/// read to its end in the background, so the child never blocks on it.
pub fn start_until(mut cmd: Command, prefix: &'static str) -> (ChildGuard, String) {
    let mut child = ChildGuard(
        cmd.stdout(Stdio::piped())
            .spawn()
            .expect("start the example"),
    );
    let stdout = child.0.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix(prefix) {
                let _ = tx.send(rest.trim().to_string());
            }
        }
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(rest) => (child, rest),
        Err(e) => panic!(
            "{cmd:?} did not print `{prefix}` within {TIMEOUT:?} ({e}; exit: {:?})",
            child.0.try_wait()
        ),
    }
}
