//! Soak: a head under a mixed load of good and hostile jobs, round after
//! round. Every good job's results must be right while the hostile ones
//! (a blocking fork bomb, a memory bomb, an output flood, a reference
//! cycle, a runaway driver) run beside it, and the head's memory must end
//! near where it started. CI runs a bounded time (`RAYLAB_SOAK_SECS`,
//! default 40); figures from longer runs are in BENCHMARKS.md.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::head::Head;
use crate::{budget, guests, show, test_cache};

/// Resident memory of process `pid` now and at its peak, MiB.
fn rss(pid: u32) -> (u64, u64) {
    let mib = |key| {
        raylab_host::procfs::status_field(&pid.to_string(), key).expect("/proc status") / 1024
    };
    (mib("VmRSS"), mib("VmHWM"))
}

/// `raylab-host submit` of `module` with `args`, as a child process.
fn submit(
    address: &str,
    module: &str,
    timeout: Option<&str>,
    args: &[&str],
) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_raylab-host"));
    cmd.args(["submit", "--quiet", "--address", address]);
    if let Some(t) = timeout {
        cmd.args(["--timeout", t]);
    }
    cmd.arg(module)
        .arg("--")
        .args(args)
        .env("RAYLAB_CACHE_DIR", test_cache())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// The good jobs of a round and what each must print.
fn good_round(address: &str) -> Vec<(std::process::Child, &'static str)> {
    vec![
        (
            submit(
                address,
                guests::TASK1,
                None,
                &["--n", "10", "--work-ms", "1"],
            ),
            "results equal: yes",
        ),
        (
            submit(
                address,
                guests::TASK2,
                None,
                &["--n", "100000", "--per-element", "200"],
            ),
            "results equal: yes",
        ),
        (
            submit(address, guests::TASK4, None, &[]),
            "mean accuracy: 0.9733 ± 0.0249",
        ),
    ]
}

#[test]
fn soak_a_head_under_good_and_hostile_jobs() {
    let head = Head::start_with(&[
        "--object-store-memory",
        "256M",
        "--keep-finished-jobs",
        "20",
    ]);
    let a = head.address.clone();
    let pid = head.child.id();
    let check = |children: Vec<(std::process::Child, &'static str)>| {
        for (child, expect) in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", show(&out));
            assert!(
                String::from_utf8_lossy(&out.stdout).contains(expect),
                "{}",
                show(&out)
            );
        }
    };
    // A first round warms up what stays: compiled modules, the first
    // sandbox slots.
    check(good_round(&a));
    let (start, _) = rss(pid);
    let deadline = Instant::now() + Duration::from_secs(budget("SOAK_SECS", 40));
    let mut rounds = 0;
    let mut per_round = Vec::new();
    while Instant::now() < deadline || rounds < 2 {
        let hostile = vec![
            submit(&a, guests::HOSTILE, Some("30"), &["bomb"]),
            submit(&a, guests::HOSTILE, None, &["memory"]),
            submit(&a, guests::PEEK, None, &["flood", "20"]),
            submit(&a, guests::PEEK, None, &["cycle", "40"]),
            submit(&a, guests::HOSTILE, Some("1"), &["driver-loop"]),
        ];
        check(good_round(&a));
        for child in hostile {
            // Whatever they did, they end: by themselves, by a limit or by
            // their time limit.
            child.wait_with_output().unwrap();
        }
        rounds += 1;
        let (now, _) = rss(pid);
        eprintln!("soak: round {rounds}: head RSS {now} MiB");
        per_round.push(now);
    }
    // Idle again: nothing queued, running or holding a sandbox.
    let idle = Instant::now() + Duration::from_secs(60);
    loop {
        let text = ureq::get(&format!("{a}/api/status"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        if v["tasks"]["instances"] == 0 && v["tasks"]["waiting_for_resources"] == 0 {
            assert_eq!(
                v["object_store"]["bytes"], 0,
                "every job's objects went with it: {v}"
            );
            break;
        }
        assert!(Instant::now() < idle, "the head did not go idle: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (end, peak) = rss(pid);
    // The highest of the first half of the rounds: by then the bounded
    // stores (finished jobs' logs, sandbox slots, allocator caches) have
    // filled; later rounds must not climb above it (a leak would).
    let settled = *per_round[..per_round.len().div_ceil(2)]
        .iter()
        .max()
        .unwrap();
    eprintln!(
        "soak: {rounds} rounds of 3 good + 5 hostile jobs; head RSS {start} MiB after warm-up, \
         {settled} MiB at most in the first half, {peak} MiB at peak, {end} MiB at the end"
    );
    // What stays after the hostile jobs is bounded by design: the finished
    // jobs' logs (64 MiB together), what finished sandboxes keep (128 KiB a
    // slot ever used: about the most sandboxes alive at once, 450 for the
    // bomb), the allocator's caches.
    assert!(
        end <= start + 384,
        "head RSS grew from {start} MiB to {end} MiB"
    );
    assert!(
        end <= settled + 64,
        "head RSS kept growing: {settled} MiB in the first half, {end} MiB at the end"
    );
}
