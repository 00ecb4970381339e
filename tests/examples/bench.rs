//! The bench runs end to end on tiny sizes: every figure it prints for
//! both stacks (a smoke test of the harness, not a measurement).

use crate::process::{example, run};
use std::process::{Command, Stdio};

#[test]
fn the_bench_runs_every_figure_for_both_stacks() {
    let mut cmd = Command::new(example("bench"));
    cmd.args(["--size-mib", "1", "--handshakes", "3", "--idle", "3"])
        .stdin(Stdio::null());
    let out = run(cmd);
    assert!(out.status.success(), "{out}");
    for figure in ["throughput", "handshakes", "memory"] {
        assert!(
            out.stdout.contains(&format!("{figure} ")),
            "no {figure} ratio: {out}"
        );
    }
}
