//! `load` runs end to end on a small load: its server process, 300
//! connections each sending a request every 200 ms for 2 s, every
//! request answered, none lost (the 10,000-connection figures come from
//! `cargo run --release --example load`).

use crate::process::{example, run};
use std::process::{Command, Stdio};

#[test]
fn the_load_example_holds_every_connection() {
    let mut cmd = Command::new(example("load"));
    cmd.args([
        "--connections",
        "300",
        "--seconds",
        "2",
        "--interval-ms",
        "200",
    ])
    .stdin(Stdio::null());
    let out = run(cmd);
    assert!(out.status.success(), "{out}");
    assert!(out.stdout.contains("connected 300 in"), "{out}");
    assert!(out.stdout.contains("3000 requests in"), "{out}");
    assert!(out.stdout.contains(", 0 failed;"), "{out}");
    assert!(out.stdout.contains("server: 301 connections open"), "{out}");
    assert!(out.stdout.contains("connections lost: 0"), "{out}");
}
