//! Runtime semantics, driven by the guests in `guest-tasks/test-programs`.

use crate::{field, guests, raylab, raylab_in, run_ok, show, stats};

#[test]
fn nested_tasks_do_not_deadlock_on_one_cpu() {
    let out = run_ok(&["run", guests::NESTED, "--num-cpus", "1", "--", "12"]);
    assert_eq!(field(&out, "fib(12)="), "144");
}

#[test]
fn nested_tasks_with_warm_instances() {
    let out = run_ok(&[
        "run",
        guests::NESTED,
        "--num-cpus",
        "2",
        "--isolation",
        "warm",
        "--",
        "10",
    ]);
    assert_eq!(field(&out, "fib(10)="), "55");
}

#[test]
fn refs_as_arguments_are_dependencies() {
    let out = raylab(&[
        "run",
        guests::DEPENDENCIES,
        "--num-cpus",
        "1",
        "--stats",
        "--json",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(field(&stdout, "chain="), "46");
    // Vec<u8>, String and number vectors, small and large, whole.
    assert!(stdout.contains("plain values: ok"), "{stdout}");
    assert_eq!(field(&stdout, "both="), "106");
    assert!(
        stdout.contains("not run because an argument failed"),
        "{stdout}"
    );
    // ByRef parameters get the ref and read slices, whatever the header.
    for n in [10, 1000, 100_000] {
        assert_eq!(
            field(&stdout, &format!("slice{n}=")),
            format!(
                "[3.0, 4.0, 5.0, 6.0] empty=0 tail=[{}.0, {}.0]",
                n - 2,
                n - 1
            )
        );
        assert_eq!(
            field(&stdout, &format!("slice{n} outside:")),
            format!(
                "invalid-argument: range {}..{} is outside the vector (len {n})",
                n - 1,
                n + 1
            )
        );
    }
    // On one CPU, a ByRef task waiting in get_range lets the producer run.
    assert_eq!(field(&stdout, "waited="), "[6.0, 7.0]");
    let s = stats(&out);
    // fail, and its two dependents, never ran: three failures; and the
    // three out-of-range slices.
    assert_eq!(s["failed"], 6, "{s}");
    assert_eq!(s["objects"]["objects"], 0, "{s}");
}

#[test]
fn wait_with_partial_readiness_and_timeouts() {
    let out = run_ok(&[
        "run",
        guests::WAITING,
        "--num-cpus",
        "2",
        "--resources",
        r#"{"token": 1}"#,
    ]);
    assert!(out.contains("wait(1): ready=1 not_ready=1"), "{out}");
    assert!(out.contains("wait(2, 100ms): ready=1 not_ready=1"), "{out}");
    assert!(out.contains("get timeout:"), "{out}");
    // A task submitted by a driver that keeps computing starts before the
    // driver blocks (within a preemption tick, on the other CPU).
    assert!(
        out.contains("submit then compute: the task started before the driver blocked"),
        "{out}"
    );
    assert!(out.ends_with("ok\n"), "{out}");
}

/// Placement groups from Rust: what a group reserves leaves the node's
/// pool, its tasks and actors hold the group's resources, a child of a
/// capturing task lands in the group, removal fails the group's queued
/// tasks and gives the CPUs back, a group too big stays pending, a
/// bundle's GPUs are devices its tasks get the ids of.
#[test]
fn placement_groups_reserve_bundles_for_their_tasks() {
    let out = run_ok(&[
        "run",
        guests::PLACEMENT,
        "--num-cpus",
        "2",
        "--resources",
        r#"{"slot": 1}"#,
        "--num-gpus",
        "2",
    ]);
    for line in [
        "reserved: CPU and slot left the pool",
        "bundle 1: the task held the group's slot",
        "captured: the child ran in the parent's group",
        "actor: lives in bundle 0",
        "removed: its queued task failed: task `probe`: its placement group was removed before it started",
        "removed: the plain task ran on the CPU given back",
        "too big: pending, then removed",
        "gpu bundles: each bundle's task got the bundle's own device",
        "gpu bundle: bundle 0 holds 1.5 GPU: above 1, GPUs come in whole numbers",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(out.ends_with("ok\n"), "{out}");
}

#[test]
fn reference_counting_frees_objects() {
    let out = raylab(&["run", guests::REFCOUNT, "--stats", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("freed: object"), "{stdout}");
    assert!(stdout.contains("never created"), "{stdout}");
    let s = stats(&out);
    assert_eq!(s["objects"]["objects"], 0, "{s}");
    assert_eq!(s["objects"]["bytes"], 0, "{s}");
    let created = s["objects"]["created"].as_u64().unwrap();
    assert_eq!(s["objects"]["freed"].as_u64().unwrap(), created, "{s}");
}

#[test]
fn object_store_capacity_is_enforced() {
    // 20 results of 100 kB each exist one at a time: fits in 300 kB...
    run_ok(&["run", guests::REFCOUNT, "--object-store-memory", "300K"]);
    // ...but not in 50 kB: the task's result is refused with a clear error.
    let out = raylab(&["run", guests::REFCOUNT, "--object-store-memory", "50K"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("object store full"),
        "{}",
        show(&out)
    );
}

#[test]
fn task_errors_are_values_naming_the_task() {
    let out = raylab(&[
        "run",
        guests::FAILURES,
        "--num-cpus",
        "2",
        "--stats",
        "--json",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("failed: task `divide`: cannot divide 1 by zero"),
        "{stdout}"
    );
    assert!(
        stdout.contains("crashed: task `boom`: crashed: wasm trap"),
        "{stdout}"
    );
    assert!(stdout.contains("kaboom"), "{stdout}");
    assert!(
        stdout.contains("missing: module `failures` has no remote function `nope`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("infeasible: task `divide`: demands 64 CPU"),
        "{stdout}"
    );
    assert!(stdout.ends_with("ok\n"), "{stdout}");
}

#[test]
fn any_wasi_command_is_a_driver_and_its_exit_status_is_kept() {
    // WASI 0.2's `exit` carries success or failure only: any non-zero code
    // a guest passes to `std::process::exit` arrives as 1.
    let out = raylab(&["run", guests::EXIT_CODE, "--", "7"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let out = raylab(&["run", guests::EXIT_CODE, "--", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn compile_cache_is_used_and_survives_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().to_str().unwrap();
    let args = ["run", guests::SMOKE, "--cache-dir", cache];
    assert_eq!(run_ok(&args), "sum=5\n");
    // Beside the per-function cache of `run`.
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("functions"))
        .collect();
    assert_eq!(entries.len(), 1, "one compiled artefact: {entries:?}");
    assert!(entries[0].extension().is_some_and(|e| e == "cwasm"));
    assert_eq!(run_ok(&args), "sum=5\n");
    // A damaged cache entry is ignored and recompiled, never loaded.
    std::fs::write(&entries[0], b"garbage").unwrap();
    assert_eq!(run_ok(&args), "sum=5\n");
    assert_eq!(run_ok(&["run", guests::SMOKE, "--no-cache"]), "sum=5\n");
}

#[test]
fn compile_cache_stays_within_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().to_str().unwrap();
    assert_eq!(
        run_ok(&["run", guests::SMOKE, "--cache-dir", cache]),
        "sum=5\n"
    );
    let old = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("the first module's compiled artefact");
    // Everything there was last used hours ago, that artefact first.
    let age = |path: &std::path::Path, hours: u64| {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(hours * 3600))
            .unwrap();
    };
    for entry in walk(dir.path()) {
        age(&entry, 2);
    }
    age(&old, 3);
    // Another module, with the cache limited to 1 MiB: the least recently
    // used entries go, the new one stays.
    let out = raylab_in(
        &["run", guests::EXIT_CODE, "--cache-dir", cache, "--", "0"],
        &[("RAYLAB_CACHE_LIMIT_MB", "1")],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(!old.exists(), "the oldest artefact is removed");
    let artefacts: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(
        artefacts.len(),
        1,
        "the new module's artefact: {artefacts:?}"
    );
    // It loads from the cache as before.
    let out = raylab_in(
        &["run", guests::EXIT_CODE, "--cache-dir", cache, "--", "0"],
        &[("RAYLAB_CACHE_LIMIT_MB", "1")],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(artefacts[0].exists());
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn tasks_printing_at_once_never_mix_their_lines() {
    // Four tasks on two workers, each line written in three pieces.
    let out = raylab(&["run", guests::CHATTER, "--num-cpus", "2", "--", "4", "300"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "printed=1200\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut seen = std::collections::HashSet::new();
    for line in stderr.lines().filter(|l| !l.starts_with("raylab")) {
        let words: Vec<&str> = line.split(' ').collect();
        assert!(
            matches!(words[..], ["task", t, "line", l, "end"] if t.parse::<u32>().is_ok() && l.parse::<u32>().is_ok()),
            "a line made of pieces of different tasks: {line:?}"
        );
        assert!(seen.insert(line.to_string()), "printed twice: {line:?}");
    }
    assert_eq!(seen.len(), 1200, "every line, once");
}

#[test]
fn timeline_is_a_chrome_trace_with_a_slice_per_task() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.json");
    let p = path.to_str().unwrap();
    run_ok(&[
        "run",
        guests::TASK1,
        "--num-cpus",
        "2",
        "--timeline",
        p,
        "--",
        "--n",
        "4",
        "--work-ms",
        "50",
    ]);
    let trace: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let slices: Vec<&serde_json::Value> = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .collect();
    assert_eq!(slices.len(), 8, "4 square + 4 slow_square tasks: {trace}");
    let slow: Vec<_> = slices
        .iter()
        .filter(|e| e["name"] == "slow_square")
        .collect();
    assert_eq!(slow.len(), 4);
    // Each slice lasts at least its 50 ms of sleep.
    assert!(
        slow.iter()
            .all(|e| e["dur"].as_u64().unwrap() >= 50_000 && e["args"]["state"] == "finished")
    );
    // Two CPUs: never more than two slow tasks at once (slices as
    // intervals; ends sort before starts at the same instant).
    let mut edges: Vec<(u64, i32)> = slow
        .iter()
        .flat_map(|e| {
            let (ts, dur) = (e["ts"].as_u64().unwrap(), e["dur"].as_u64().unwrap());
            [(ts, 1), (ts + dur, -1)]
        })
        .collect();
    edges.sort_by_key(|&(t, d)| (t, d));
    let most = edges
        .iter()
        .scan(0, |n, &(_, d)| {
            *n += d;
            Some(*n)
        })
        .max();
    assert!(most <= Some(2), "more tasks than CPUs at once: {trace}");
    assert!(
        trace["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["ph"] == "M"),
        "lanes are named"
    );
}

#[test]
fn a_journaled_run_gives_a_crashed_drivers_finished_calls_back_instead_of_running_them() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let journal = journal.to_str().unwrap();
    let durable = |n: &str, crash: &str, salt: &str| {
        raylab(&[
            "run",
            "--quiet",
            "--journal",
            journal,
            guests::DURABLE,
            "--",
            n,
            crash,
            salt,
        ])
    };
    let ran = |out: &std::process::Output| -> Vec<String> {
        let mut ran: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("ran ").map(str::to_string))
            .collect();
        ran.sort();
        ran
    };
    // Three calls finish, then the driver crashes.
    let out = durable("6", "3", "0");
    assert!(!out.status.success(), "{}", show(&out));
    assert_eq!(ran(&out), ["0", "1", "2"], "{}", show(&out));
    // Run again: those three come from the journal, the rest run.
    let out = durable("6", "6", "0");
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(ran(&out), ["3", "4", "5"], "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("sum=55"),
        "{}",
        show(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("3 calls replayed, 3 results recorded"),
        "{}",
        show(&out)
    );
    // A driver that makes another call than the recorded run fails at
    // once, running nothing for it.
    let out = durable("6", "6", "1");
    assert!(!out.status.success(), "{}", show(&out));
    assert!(ran(&out).is_empty(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("diverged from its journal at call 0"),
        "{}",
        show(&out)
    );
    // The whole run is in the journal now: nothing runs.
    let out = durable("6", "6", "0");
    assert!(out.status.success(), "{}", show(&out));
    assert!(ran(&out).is_empty(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("sum=55"),
        "{}",
        show(&out)
    );
}
