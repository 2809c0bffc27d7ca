//! Hostile guests: each bad task fails with its exact error class, the host
//! survives, well-behaved tasks running at the same time return correct
//! results, and every resource is back in the pool afterwards (the guest
//! checks both: `healthy: ok`, `pool: full`).

use crate::{fails_with, guests, raylab, run_ok, show};

fn scenario(args: &[&str], scenario: &str) -> String {
    let mut all = vec!["run", guests::HOSTILE];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--", scenario]);
    let out = run_ok(&all);
    assert!(out.contains("healthy: ok\n"), "{out}");
    assert!(out.ends_with("pool: full\n"), "{out}");
    out
}

#[test]
fn runaway_loop_hits_its_time_limit() {
    let out = scenario(&[], "loop");
    assert!(
        out.contains("loop: TimeLimitExceeded: task `spin`: exceeded its time limit of 0.3 s"),
        "{out}"
    );
}

#[test]
fn memory_bomb_hits_its_quota() {
    let out = scenario(&[], "memory");
    assert!(
        out.contains(
            "memory: MemoryQuotaExceeded: task `memory_bomb`: exceeded its memory quota of 64 MiB"
        ),
        "{out}"
    );
}

#[test]
fn a_2_gib_result_hits_the_default_quota() {
    let out = scenario(&[], "huge-result");
    assert!(
        out.contains("exceeded its memory quota of 1024 MiB"),
        "{out}"
    );
}

#[test]
fn stack_overflow_is_a_crash_not_a_host_failure() {
    let out = scenario(&[], "stack");
    assert!(
        out.contains("stack: TaskCrashed: task `deep`: crashed: wasm trap: call stack exhausted"),
        "{out}"
    );
}

#[test]
fn fork_bomb_is_stopped_by_the_pending_task_limit() {
    let out = scenario(&["--max-pending-tasks", "200"], "fork");
    assert!(
        out.contains("200 tasks of this job are already pending"),
        "{out}"
    );
}

#[test]
fn traps_are_retried_and_errors_only_when_asked() {
    let out = scenario(&[], "retry");
    assert!(out.contains("retry: succeeded on attempt 3"), "{out}");
    assert!(out.contains("retry-exhausted: TaskCrashed"), "{out}");
    assert!(
        out.contains("attempt 2 fails"),
        "the last attempt's panic message: {out}"
    );
    assert!(
        out.contains("no-retry-on-error: TaskFailed: task `fails_twice`: attempt 1 fails"),
        "{out}"
    );
    assert!(
        out.contains("retry-exceptions: succeeded on attempt 3"),
        "{out}"
    );
}

#[test]
fn time_limits_and_cancel_reach_sleeping_and_blocked_tasks() {
    let out = scenario(&["--num-cpus", "2"], "sleep");
    assert!(
        out.contains(
            "sleep-timeout: TimeLimitExceeded: task `slow_value`: exceeded its time limit of 0.3 s"
        ),
        "{out}"
    );
    assert!(
        out.contains("sleep-cancel: Cancelled: task `slow_value`"),
        "{out}"
    );
    assert!(
        out.contains("blocked-timeout: TimeLimitExceeded: task `wait_for`"),
        "{out}"
    );
}

#[test]
fn cancel_stops_running_queued_and_blocked_tasks() {
    let out = scenario(
        &["--num-cpus", "2", "--resources", r#"{"token": 1}"#],
        "cancel",
    );
    assert!(
        out.contains("cancel-running: Cancelled: task `spin`"),
        "{out}"
    );
    assert!(
        out.contains("cancel-queued: Cancelled: task `square`"),
        "{out}"
    );
    assert!(
        out.contains("cancel-blocked: Cancelled: task `wait_for`"),
        "{out}"
    );
    // The blocked task ended when it was cancelled, before the object it
    // was waiting for was produced.
    assert!(
        out.contains("cancel-blocked: the waiter ended while its producer was still blocked"),
        "{out}"
    );
}

#[test]
fn gpus_are_assigned_by_id_and_queued() {
    let out = scenario(&["--num-gpus", "2"], "gpus");
    let line = out.lines().find(|l| l.starts_with("gpus: whole")).unwrap();
    assert!(
        line.contains("halves [[0], [0]]") || line.contains("halves [[1], [1]]"),
        "two halves share a GPU: {line}"
    );
    assert!(out.contains("gpus: declared options ok"), "{out}");
    assert!(
        out.contains(
            "gpus-infeasible: Infeasible: task `gpu_ids`: demands 3 GPU but the node has 2 GPU"
        ),
        "{out}"
    );
    // Without GPUs a GPU task is refused at once, naming the resource.
    let out = raylab(&["run", guests::HOSTILE, "--", "gpus"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("demands 1 GPU but the node has 0 GPU"),
        "{}",
        show(&out)
    );
}

#[test]
fn forbidden_import_is_refused_at_load() {
    let stderr = fails_with(&["run", guests::NET], "net: imports `wasi:sockets/");
    assert!(stderr.contains("no network access"), "{stderr}");
}

#[test]
fn capabilities_are_denied_unless_granted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hi\n").unwrap();
    let out = run_ok(&["run", guests::CAPABILITIES]);
    assert_eq!(
        out,
        "driver: env=<unset> file=<entity not found> write=<entity not found>\n\
         task: env=<unset> file=<entity not found> write=<entity not found>\n"
    );
    let ro = format!("{}::/data", dir.path().display());
    let out = run_ok(&[
        "run",
        guests::CAPABILITIES,
        "--dir-readonly",
        &ro,
        "--env",
        "RAYLAB_TEST_VAR=v1",
    ]);
    assert!(
        out.contains("driver: env=v1 file=hi write=<permission denied>"),
        "{out}"
    );
    assert!(
        out.contains("task: env=v1 file=hi write=<permission denied>"),
        "{out}"
    );
    let out = run_ok(&["run", guests::CAPABILITIES, "--dir", &ro]);
    assert!(out.contains("task: env=<unset> file=hi write=ok"), "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "x"
    );
}

#[test]
fn the_next_job_runs_at_full_capacity_after_hostile_ones() {
    for s in ["loop", "memory", "stack"] {
        scenario(&["--num-cpus", "2"], s);
    }
    let out = run_ok(&[
        "run",
        guests::TASK1,
        "--num-cpus",
        "2",
        "--",
        "--n",
        "4",
        "--work-ms",
        "100",
    ]);
    assert!(out.contains("results equal: yes"), "{out}");
}

#[test]
fn a_run_ends_when_its_driver_exits_with_tasks_still_running() {
    // The driver leaves a task spinning for ever: the node stops it at exit
    // (with preemption at the next tick; without, after a grace period).
    for flags in [&[][..], &["--no-preemption"][..]] {
        let mut args = vec!["run", guests::PEEK];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--", "orphan"]);
        assert_eq!(run_ok(&args), "submitted\n", "{flags:?}");
    }
}
