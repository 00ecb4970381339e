//! `examples/http3.rs` as a user runs it: the server process (HTTP/3 and
//! TCP with a generated certificate) and client processes fetching a
//! JSON route, a static file and a large body, and echoing an upload.

use crate::process::{example, run, start_until, ChildGuard};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A directory of its own, removed on drop.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn server(bin: &Path, dir: &Path) -> (ChildGuard, String) {
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    start_until(cmd, "listening on ")
}

fn client(bin: &Path, dir: &Path, args: &[&str]) -> crate::process::Finished {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .arg("--ca")
        .arg(dir.join("http3-cert.pem"))
        .arg("--no-progress");
    let done = run(cmd);
    assert!(done.status.success(), "{done}");
    done
}

#[test]
fn serves_json_files_big_bodies_and_echo_over_http3() {
    let bin = example("http3");
    let dir = Dir(std::env::temp_dir().join(format!("actix-quic-http3-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(dir.0.join("index.html"), "<h1>over HTTP/3</h1>").unwrap();
    let (_server, rest) = server(&bin, &dir.0);
    let addr = rest.split(':').take(2).collect::<Vec<_>>().join(":");
    let port = addr.rsplit(':').next().unwrap().to_string();
    let url = |path: &str| format!("https://localhost:{port}{path}");

    let hello = client(&bin, &dir.0, &["get", &url("/api/hello?name=test")]);
    assert_eq!(
        hello.stdout.trim(),
        r#"{"greeting":"hello test","protocol":"HTTP/3.0"}"#
    );
    assert!(hello.stderr.contains("200"), "{hello}");

    let file = client(&bin, &dir.0, &["get", &url("/files/index.html")]);
    assert_eq!(file.stdout, "<h1>over HTTP/3</h1>");

    let out = dir.0.join("big.out");
    let out_s = out.to_str().unwrap();
    client(&bin, &dir.0, &["get", &url("/big/20000000"), "-o", out_s]);
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 20_000_000);

    let upload = dir.0.join("upload.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&upload, &data).unwrap();
    let echoed = dir.0.join("echoed.bin");
    client(
        &bin,
        &dir.0,
        &[
            "post",
            &url("/echo"),
            upload.to_str().unwrap(),
            "-o",
            echoed.to_str().unwrap(),
        ],
    );
    assert!(std::fs::read(&echoed).unwrap() == data, "echo differs");
}
