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
        out.contains("loop: time-limit-exceeded: task `spin`: exceeded its time limit of 0.3 s"),
        "{out}"
    );
}

#[test]
fn memory_bomb_hits_its_quota() {
    let out = scenario(&[], "memory");
    assert!(
        out.contains(
            "memory: memory-quota-exceeded: task `memory_bomb`: exceeded its memory quota of 64 MiB"
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
    // Which stack runs out first depends on the guest: the host's (8 MiB
    // of native stack for a guest's calls) or the guest's own, in its
    // linear memory (1 MiB for Rust guests), which overflows into its data
    // and traps as an out-of-bounds access. Either way the task crashed
    // and the others went on.
    assert!(
        out.contains("stack: task-crashed: task `deep`: crashed: wasm trap: call stack exhausted")
            || out.contains(
                "stack: task-crashed: task `deep`: crashed: wasm trap: out of bounds memory access"
            ),
        "{out}"
    );
    assert!(out.contains("healthy: ok"), "{out}");
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
    assert!(out.contains("retry-exhausted: task-crashed"), "{out}");
    assert!(
        out.contains("attempt 2 fails"),
        "the last attempt's panic message: {out}"
    );
    assert!(
        out.contains("no-retry-on-error: task-failed: task `fails_twice`: attempt 1 fails"),
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
            "sleep-timeout: time-limit-exceeded: task `slow_value`: exceeded its time limit of 0.3 s"
        ),
        "{out}"
    );
    assert!(
        out.contains("sleep-cancel: cancelled: task `slow_value`"),
        "{out}"
    );
    assert!(
        out.contains("blocked-timeout: time-limit-exceeded: task `wait_for`"),
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
        out.contains("cancel-running: cancelled: task `spin`"),
        "{out}"
    );
    assert!(
        out.contains("cancel-queued: cancelled: task `square`"),
        "{out}"
    );
    assert!(
        out.contains("cancel-blocked: cancelled: task `wait_for`"),
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
            "gpus-infeasible: infeasible: task `gpu_ids`: demands 3 GPU but the node has 2 GPU"
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
fn a_module_importing_sockets_loads_and_every_use_is_refused() {
    // A real listener: the guest must not reach it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let out = raylab(&["run", guests::NET, "--", &addr]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in [
        "tcp connect: refused",
        "udp bind: refused",
        "lookup: refused",
    ] {
        assert!(stdout.contains(line), "{line}: {}", show(&out));
    }
    assert!(
        stderr.contains("raylab: `net` was refused Tcp")
            && stderr.contains("raylab grants guests no network"),
        "the host says why: {}",
        show(&out)
    );
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "no connection reached the listener"
    );
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

#[test]
fn a_blocking_fork_bomb_queues_for_sandboxes_and_dies_with_its_root() {
    // Every bomb task blocks holding its sandbox: the job's share runs out
    // and the rest wait in the queue; nothing fails for want of a sandbox,
    // and the root's time limit takes the whole tree with it.
    let out = scenario(&["--num-cpus", "2", "--max-job-instances", "64"], "bomb");
    assert!(
        out.contains("bomb: time-limit-exceeded: task `bomb`"),
        "{out}"
    );
    assert!(!out.contains("cannot instantiate"), "{out}");
}

#[test]
fn a_task_that_fails_takes_the_tasks_it_started_with_it() {
    // The child spins for ever; only its parent's failure stops it, and
    // `scenario` checks that its CPU came back.
    let out = scenario(&["--num-cpus", "2"], "orphan");
    assert!(
        out.contains("orphan: time-limit-exceeded: task `abandon`"),
        "{out}"
    );
}

#[test]
fn objects_past_128_mib_move_up_to_the_quotas() {
    let out = scenario(&[], "big");
    assert!(
        out.contains("big: 200 MiB put and 200 MiB result moved"),
        "{out}"
    );
}

#[test]
fn host_memory_returns_after_a_burst_of_big_tasks() {
    let out = raylab(&["run", guests::HOSTILE, "--stats", "--json", "--", "burst"]);
    assert!(out.status.success(), "{}", show(&out));
    let s = crate::stats(&out);
    let rss = s["process"]["rss_bytes"].as_u64().unwrap();
    let peak = s["process"]["peak_rss_bytes"].as_u64().unwrap();
    // Ten tasks touched 500 MiB each, one at a time: the peak saw one of
    // them, and what is left is near an idle node, not 10 x 500 MiB.
    assert!(peak >= 500 << 20, "{s}");
    assert!(rss < 300 << 20, "{} MiB still resident: {s}", rss >> 20);
}

#[test]
fn a_result_holding_a_forged_ref_fails_the_task() {
    let out = raylab(&[
        "run",
        guests::HOSTILE,
        "--stats",
        "--json",
        "--",
        "forged-result",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "forged-result: invalid-argument: task `forge`: returned a reference to object 987654321"
        ),
        "{stdout}"
    );
    // Counted as failed, not finished.
    assert!(crate::stats(&out)["failed"].as_u64().unwrap() >= 1);
}

#[test]
fn task_names_are_bounded_everywhere_they_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.json");
    let out = run_ok(&[
        "run",
        guests::HOSTILE,
        "--timeline",
        trace.to_str().unwrap(),
        "--",
        "long-name",
    ]);
    assert!(out.contains("long-name: ran"), "{out}");
    let trace: serde_json::Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let longest = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .map(str::len)
        .max()
        .unwrap();
    assert!(longest <= 256, "a name of {longest} bytes was kept");
}

#[test]
fn a_driver_is_held_to_its_memory_quota_and_time_limit() {
    fails_with(
        &[
            "run",
            guests::HOSTILE,
            "--driver-memory",
            "256M",
            "--",
            "driver-memory",
        ],
        "driver `hostile` exceeded its memory quota of 256 MiB",
    );
    fails_with(
        &[
            "run",
            guests::HOSTILE,
            "--timeout",
            "1",
            "--",
            "driver-loop",
        ],
        "driver `hostile` exceeded its time limit of 1 s",
    );
}

#[test]
fn absurd_demands_are_refused_in_plain_numbers() {
    fails_with(
        &["run", guests::SMOKE, "--num-cpus", "1e300"],
        "1e300 is more than any node has",
    );
}

#[test]
fn a_full_store_spills_to_disk_and_fails_only_when_both_are_full() {
    let dir = tempfile::tempdir().unwrap();
    let small = [
        "--object-store-memory",
        "64M",
        "--spill-dir",
        dir.path().to_str().unwrap(),
    ];
    let mut args = vec![
        "run",
        guests::HOSTILE,
        "--stats",
        "--json",
        "--spill-size",
        "512M",
    ];
    args.extend_from_slice(&small);
    args.extend_from_slice(&["--", "spill"]);
    let out = raylab(&args);
    assert!(out.status.success(), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("read back intact"));
    let s = crate::stats(&out);
    let spill = &s["objects"]["spill"];
    assert!(spill["spilled_total"].as_u64().unwrap() >= 80 << 20, "{s}");
    assert!(spill["restored_total"].as_u64().unwrap() >= 40 << 20, "{s}");
    assert_eq!(
        spill["bytes"], 0,
        "freed objects leave nothing on disk: {s}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the spill directory went with the node"
    );
    // With no spill space, the same program finds the store full.
    let mut args = vec!["run", guests::HOSTILE, "--spill-size", "0"];
    args.extend_from_slice(&small);
    args.extend_from_slice(&["--", "spill"]);
    let out = raylab(&args);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("object-store-full"),
        "{}",
        show(&out)
    );
}

#[test]
fn a_refused_module_leaves_nothing_in_the_compile_cache() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().to_str().unwrap();
    fails_with(
        &["run", guests::STATS_PLUGIN, "--cache-dir", dir],
        "has no driver entry point",
    );
    // (`run` also keeps Cranelift's output per function, in `functions`.)
    let cached: Vec<_> = std::fs::read_dir(cache.path())
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name())
                .filter(|n| n != "functions")
                .collect()
        })
        .unwrap_or_default();
    // The plugin is a good module (cached); the forbidden one is not.
    assert_eq!(cached.len(), 1, "{cached:?}");
}
