//! The bench runs end to end on tiny sizes: every figure it prints for
//! both stacks, as a table and as JSON records (a smoke test of the
//! harness, not a measurement).

use crate::process::{example, run};
use std::process::{Command, Stdio};

/// The names (under `key`) of the JSON records in `stdout` that have
/// one, each checked to carry two values (named by `fields`) that are
/// positive, or at least zero for CPU times, which may not have moved on
/// a run this small.
fn records(
    stdout: &str,
    key: &str,
    fields: impl Fn(&str) -> (&'static str, &'static str),
) -> Vec<String> {
    let mut figures = Vec::new();
    let start = format!("{{\"{key}\":");
    for line in stdout.lines().filter(|l| l.starts_with(&start)) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let least = if line.contains("_cpu_") {
            0.0
        } else {
            f64::MIN_POSITIVE
        };
        let (a, b) = fields(line);
        assert!(v[a].as_f64().unwrap() >= least, "{line}");
        assert!(v[b].as_f64().unwrap() >= least, "{line}");
        figures.push(v[key].as_str().unwrap().to_string());
    }
    figures
}

#[test]
fn the_bench_runs_every_figure_for_both_stacks() {
    let mut cmd = Command::new(example("bench"));
    cmd.args([
        "--size-mib",
        "1",
        "--handshakes",
        "3",
        "--requests",
        "20",
        "--idle",
        "3",
        // The other concurrent-handshake figure: quinn with the
        // kernel's socket buffers, as it sets none.
        "--quinn-default-buffers",
    ])
    .stdin(Stdio::null());
    let out = run(cmd);
    assert!(out.status.success(), "{out}");
    assert!(
        out.stdout
            .contains("socket buffers: the kernel's defaults for quinn"),
        "{out}"
    );
    let figures = records(&out.stdout, "figure", |_| ("actix_quic", "quinn"));
    for figure in [
        "bulk_1200_mib_per_s",
        "bulk_1452_mib_per_s",
        "bulk_1200_client_cpu_us_per_mib",
        "bulk_1200_server_cpu_us_per_mib",
        "handshakes_per_s",
        "handshakes_p50_us",
        "handshakes_p99_us",
        "concurrent_handshakes_per_s",
        "concurrent_handshakes_p99_us",
        "requests_new_stream_per_s",
        "requests_new_stream_p50_us",
        "requests_ping_pong_per_s",
        "requests_ping_pong_p99_us",
        "handshake_client_cpu_us",
        "handshake_server_cpu_us",
        "idle_heap_kib_per_connection",
    ] {
        assert!(figures.iter().any(|f| f == figure), "no {figure}: {out}");
    }
    // The floors under them, in the same run.
    let floors = records(&out.stdout, "floor", |_| ("value", "quinn"));
    for floor in [
        "bulk_1200_mib_per_s",
        "bulk_1452_mib_per_s",
        "handshakes_per_s",
        "handshakes_p50_us",
        "handshake_client_cpu_us",
        "concurrent_handshake_server_cpu_us",
        "requests_new_stream_per_s",
        "requests_ping_pong_per_s",
        "requests_ping_pong_p50_us",
    ] {
        assert!(
            floors.iter().any(|f| f == floor),
            "no floor of {floor}: {out}"
        );
    }
    // The request floors include sealed packets, through actors too,
    // a task per request, and each protocol core's work added to a
    // design's hand-overs.
    let has = |figure: &str, of: &str| {
        let start = format!("{{\"floor\":\"{figure}\",\"of\":\"{of}\"");
        out.stdout.lines().any(|l| l.starts_with(&start))
    };
    for (figure, of) in [
        ("requests_ping_pong_per_s", "sealed, actors"),
        ("requests_new_stream_per_s", "UDP, actors, tasks"),
        ("requests_new_stream_p50_us", "UDP, actors, tasks"),
    ] {
        assert!(has(figure, of), "no floor {of} of {figure}: {out}");
    }
    for figure in [
        "handshakes_per_s",
        "handshakes_p50_us",
        "requests_new_stream_per_s",
        "requests_new_stream_p50_us",
        "requests_ping_pong_per_s",
        "requests_ping_pong_p50_us",
    ] {
        for of in [
            "actors + our core",
            "actors + quinn core",
            "tokio + our core",
            "tokio + quinn core",
        ] {
            assert!(has(figure, of), "no floor {of} of {figure}: {out}");
        }
    }
    // The cores' own work per request, measured in memory.
    let cores = records(&out.stdout, "core", |_| ("actix_quic", "quinn_proto"));
    for core in [
        "core_handshake_mean_us",
        "core_handshake_p50_us",
        "core_new_stream_mean_us",
        "core_new_stream_p50_us",
        "core_ping_pong_mean_us",
        "core_ping_pong_p50_us",
    ] {
        assert!(cores.iter().any(|c| c == core), "no {core}: {out}");
    }
}

/// `--workers 2`: the server with 1 and with 2 workers, every figure
/// for both, 64 handshakes from 64 ports and 8 uploads.
#[test]
fn the_bench_compares_one_worker_with_two() {
    let mut cmd = Command::new(example("bench"));
    cmd.args(["--workers", "2", "--size-mib", "8", "--handshakes", "64"])
        .stdin(Stdio::null());
    let out = run(cmd);
    assert!(out.status.success(), "{out}");
    assert!(out.stdout.contains("\"workers\":2,"), "{out}");
    // The hop figures compare one connection's two paths.
    let figures = records(&out.stdout, "figure", |line| {
        if line.contains("_hop_") {
            ("direct", "passed")
        } else {
            ("one", "many")
        }
    });
    for figure in [
        "workers_concurrent_handshakes_per_s",
        "workers_handshake_server_cpu_us",
        "workers_bulk_8_connections_mib_per_s",
        "workers_bulk_server_cpu_us_per_mib",
        "workers_hop_bulk_mib_per_s",
        "workers_hop_server_cpu_us_per_mib",
    ] {
        assert!(figures.iter().any(|f| f == figure), "no {figure}: {out}");
    }
}

/// Runs `bench --cost ...` with `args`; returns its output and the
/// numbers in it.
fn cost(args: &[&str]) -> (String, Vec<f64>) {
    let mut cmd = Command::new(example("bench"));
    cmd.arg("--cost").args(args).stdin(Stdio::null());
    let out = run(cmd);
    assert!(out.status.success(), "{out}");
    // The first line: the datagrams (the second, CPU times, varies).
    let numbers = out
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (out.to_string(), numbers)
}

/// `--cost`: our requests alone, one mode each; a request and its answer
/// take a datagram each way when nothing is lost (new streams: the ACK
/// of the answer and the stream credit each take one more).
#[test]
fn the_bench_runs_one_request_mode_alone_for_counters() {
    for (mode, most) in [("ping-pong", 1.0), ("new-stream", 2.0)] {
        let (out, per) = cost(&[mode, "--requests", "200"]);
        // "200 requests of 32 B: datagrams per request: C from the
        // client, S from the server"
        assert_eq!(per.len(), 4, "{out}");
        assert_eq!(per[0], 200.0, "{out}");
        for datagrams in [per[2], per[3]] {
            assert!((1.0..=most + 0.1).contains(&datagrams), "{mode}: {out}");
        }
    }
}

/// `--cost handshake`: our handshakes alone, one after another; until
/// the client's completes, it sends its Initial and its Handshake
/// Finished, and the server its one flight (Initial and Handshake
/// packets in one datagram, the certificate being small).
#[test]
fn the_bench_runs_handshakes_alone_for_counters() {
    let (out, per) = cost(&["handshake", "--handshakes", "20"]);
    // "20 handshakes, one after another: datagrams per handshake (until
    // the client's completes): C from the client, S from the server"
    assert_eq!(per.len(), 3, "{out}");
    assert_eq!(per[0], 20.0, "{out}");
    assert!((2.0..2.5).contains(&per[1]), "{out}");
    assert!((1.0..1.5).contains(&per[2]), "{out}");
}

/// `--cost bulk`: our upload alone; a MiB takes about 1 MiB / 1.4 KiB
/// full datagrams from the client, and a few ACKs from the server.
#[test]
fn the_bench_runs_a_bulk_upload_alone_for_counters() {
    let (out, per) = cost(&["bulk", "--size-mib", "8"]);
    // "8 MiB on one stream: datagrams per MiB: C from the client, S from
    // the server"
    assert_eq!(per.len(), 3, "{out}");
    assert_eq!(per[0], 8.0, "{out}");
    assert!((730.0..800.0).contains(&per[1]), "{out}");
    assert!((0.5..200.0).contains(&per[2]), "{out}");
}

/// `--cost idle`: our idle connections alone; the process exits with
/// them alive (for heaptrack), after printing the heap each holds.
#[test]
fn the_bench_leaves_idle_connections_alive_for_heaptrack() {
    let (out, per) = cost(&["idle", "--idle", "4"]);
    // "4 idle connections: K KiB of heap each, both ends"
    assert_eq!(per.len(), 2, "{out}");
    assert_eq!(per[0], 4.0, "{out}");
    assert!((4.0..200.0).contains(&per[1]), "{out}");
}
