//! `examples/h3bench` runs end to end on a few requests and prints every
//! figure for both stacks, table and JSON (a smoke test of the harness,
//! not a measurement).

use crate::process::{example, run};
use std::process::{Command, Stdio};

#[test]
fn the_h3_bench_prints_every_figure_for_both_stacks() {
    let mut cmd = Command::new(example("h3bench"));
    cmd.args(["--requests", "200", "--concurrency", "4"])
        .stdin(Stdio::null());
    let out = run(cmd);
    assert!(out.status.success(), "{out}");
    for figure in [
        "h3_get32_sequential_req_per_s",
        "h3_get32_sequential_p50_us",
        "h3_get32_sequential_p99_us",
        "h3_get32_concurrent_req_per_s",
    ] {
        let json = out
            .stdout
            .lines()
            .find(|l| l.contains(&format!("\"figure\":\"{figure}\"")))
            .unwrap_or_else(|| panic!("no JSON record for {figure}: {out}"));
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert!(v["actix_quic"].as_f64().unwrap() > 0.0, "{json}");
        assert!(v["quinn"].as_f64().unwrap() > 0.0, "{json}");
    }
}
