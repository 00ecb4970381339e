//! `quic-cp` as a user runs it: a server process with a generated
//! certificate, and client processes copying a file to it. The copy
//! must arrive whole (the client checks the server's SHA-256, and so does
//! this test), a reconnection in the same run must resume in 0-RTT, and
//! a run stopped half-way must be resumed by the next one.

use crate::process::{example, run, start_until, ChildGuard};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A directory of its own, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("actix-quic-quic-cp-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("received")).unwrap();
        Self(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A file of `len` pseudo-random bytes.
fn file(path: &Path, len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(path, &data).unwrap();
    data
}

/// Starts `quic-cp serve` in `dir/received`; returns it and its address.
fn server(bin: &Path, dir: &Path) -> (ChildGuard, String) {
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.join("received"))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    start_until(cmd, "listening on ")
}

fn put(bin: &Path, dir: &Path, addr: &str, name: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("put")
        .arg(dir.join("big.bin"))
        .arg(addr)
        .args(["--name", name, "--no-progress", "--ca"])
        .arg(dir.join("received").join("quic-cp-cert.pem"))
        .args(extra)
        .stdin(Stdio::null());
    cmd
}

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn copy_reconnect_in_0rtt_and_resume_a_stopped_run() {
    let bin = example("quic-cp");
    let dir = Dir::new("copy");
    let data = file(&dir.0.join("big.bin"), 6 << 20);
    let (_server, addr) = server(&bin, &dir.0);

    // A copy that loses its connection at 2 MiB and resumes on a new one,
    // in 0-RTT, from where the server's copy stopped.
    let out = run(put(
        &bin,
        &dir.0,
        &addr,
        "one.bin",
        &["--reconnect-after", "2097152"],
    ));
    assert!(out.status.success(), "{out}");
    assert!(
        out.stdout.contains("0-RTT accepted"),
        "no 0-RTT resumption: {out}"
    );
    let resumed_at: u64 = out
        .stdout
        .split("resuming at ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no resumption reported: {out}"));
    assert!(resumed_at > 0, "{out}");
    assert!(
        out.stdout.contains(&format!("sha256 {} ok", sha256(&data))),
        "{out}"
    );
    assert!(std::fs::read(dir.0.join("received/one.bin")).unwrap() == data);

    // A run stopped at 3 MiB leaves a partial copy; the next run sends
    // only the rest.
    let out = run(put(
        &bin,
        &dir.0,
        &addr,
        "two.bin",
        &["--stop-after", "3145728"],
    ));
    assert_eq!(out.status.code(), Some(3), "{out}");
    let partial = std::fs::metadata(dir.0.join("received/two.bin.part"))
        .unwrap()
        .len();
    assert!(partial > 0 && partial <= 3 << 20, "{partial} bytes kept");
    let out = run(put(&bin, &dir.0, &addr, "two.bin", &[]));
    assert!(out.status.success(), "{out}");
    assert!(
        out.stdout.contains(&format!("resuming at {partial} bytes")),
        "{out}"
    );
    let sent_now = (data.len() as u64 - partial).to_string();
    assert!(
        out.stdout.contains(&format!("{sent_now} sent in this run")),
        "{out}"
    );
    assert!(std::fs::read(dir.0.join("received/two.bin")).unwrap() == data);
    assert!(!dir.0.join("received/two.bin.part").exists());
}

#[test]
fn a_name_outside_the_directory_is_refused() {
    let bin = example("quic-cp");
    let dir = Dir::new("names");
    file(&dir.0.join("big.bin"), 1000);
    let (_server, addr) = server(&bin, &dir.0);
    let out = run(put(&bin, &dir.0, &addr, "../escape.bin", &[]));
    assert!(!out.status.success(), "{out}");
    assert!(!dir.0.join("escape.bin").exists());
}
