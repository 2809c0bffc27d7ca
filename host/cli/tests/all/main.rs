//! Integration tests: real guest components (built from source by the
//! test-only `raylab-test-programs` crate) run by the real `raylab-host`
//! binary, and the `raylab` library driven directly.

mod actors;
mod cli;
mod cluster;
mod dashboard;
mod docs;
mod fuzz;
mod gpu;
mod head;
mod lab;
mod netns;
mod new;
mod python;
mod runtime;
mod sandbox;
mod soak;

/// Paths of the guest components, built from source by the test-only
/// `raylab-test-programs` crate.
pub use raylab_test_programs as guests;

use std::process::{Command, Output};

/// Longest a `raylab-host` command may take in a test before it counts as
/// hung (and is killed, failing the test instead of blocking the suite).
const HANG: std::time::Duration = std::time::Duration::from_secs(300);

/// The compile cache every test shares.
pub fn test_cache() -> std::path::PathBuf {
    std::env::temp_dir().join("raylab-test-cache")
}

/// A bounded number of iterations (of a fuzz or soak test) for CI, or
/// `RAYLAB_<NAME>` from the environment for a longer run.
pub fn budget(name: &str, default: u64) -> u64 {
    std::env::var(format!("RAYLAB_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Wait for `cond` to hold, checking every 20 ms: the way a test waits for
/// an event it cannot be told of (never a fixed sleep before asserting).
/// Fails the test, naming `what`, after 60 s.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Wait for `child` (stdout and stderr piped) at most `secs` seconds: past
/// that it is killed and the test fails, naming `what` and showing what it
/// printed, instead of hanging the suite. (Its output is read once it
/// ends: for commands that print less than a pipe holds.)
pub fn output_within(what: &str, mut child: std::process::Child, secs: u64) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("{what}: still running after {secs} s\n{}", show(&out));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// Run `raylab-host` with `args`, sharing one compile cache across tests.
pub fn raylab(args: &[&str]) -> Output {
    raylab_in(args, &[])
}

/// [`raylab`] with more environment variables.
pub fn raylab_in(args: &[&str], env: &[(&str, &str)]) -> Output {
    let cache = test_cache();
    let child = Command::new(env!("CARGO_BIN_EXE_raylab-host"))
        .args(args)
        .env("RAYLAB_CACHE_DIR", cache)
        .envs(env.iter().copied())
        .env_remove("RAYLAB_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start raylab-host");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(HANG) {
        Ok(out) => out.expect("wait for raylab-host"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("raylab-host {args:?} hung for {HANG:?} and was killed");
        }
    }
}

/// Run `raylab-host` with `args`, require it to fail with exit status 1
/// and one `error:` line containing `needle`, without a host panic or a
/// backtrace; returns stderr.
pub fn fails_with(args: &[&str], needle: &str) -> String {
    let out = raylab(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr.contains(needle),
        "expected {needle:?} in {}",
        show(&out)
    );
    // The host itself never panics (a guest may, and says so itself).
    assert!(!stderr.contains("panicked at host/"), "{}", show(&out));
    assert!(!stderr.contains("stack backtrace"), "{}", show(&out));
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{}",
        show(&out)
    );
    stderr.into_owned()
}

/// The arguments of `list tasks` for the finished tasks of the node at
/// `http`, as JSON.
pub fn finished_tasks_args(http: &str) -> [&str; 7] {
    [
        "list",
        "tasks",
        "--state",
        "finished",
        "--json",
        "--address",
        http,
    ]
}

/// How many times each task name finished, from the JSON that
/// [`finished_tasks_args`] asks for (nothing if it is not that).
pub fn count_finished(json: &[u8]) -> std::collections::HashMap<String, usize> {
    let rows: Vec<serde_json::Value> = serde_json::from_slice(json).unwrap_or_default();
    let mut done = std::collections::HashMap::new();
    for row in rows {
        *done
            .entry(row["name"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    done
}

/// stdout and stderr of a run, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Run and require success; returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = raylab(args);
    assert!(out.status.success(), "{}", show(&out));
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// The value after `key` on the line that starts with it.
pub fn field<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no line starting with {key:?} in:\n{stdout}"))
        .trim()
}

/// The runtime statistics a `--stats --json` run printed on stderr.
pub fn stats(out: &Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no stats in {}", show(out)));
    serde_json::from_str(line).expect("stats JSON")
}

/// Every guest component the test-programs crate builds is run by some
/// test (wasmtime's rule for its test programs): a program nobody runs is
/// dead weight in every build, or a test that was lost.
#[test]
fn every_guest_component_is_run_by_a_test() {
    let sources = [
        include_str!("actors.rs"),
        include_str!("cli.rs"),
        include_str!("cluster.rs"),
        include_str!("dashboard.rs"),
        include_str!("fuzz.rs"),
        include_str!("soak.rs"),
        include_str!("gpu.rs"),
        include_str!("head.rs"),
        include_str!("lab.rs"),
        include_str!("runtime.rs"),
        include_str!("sandbox.rs"),
    ]
    .concat();
    let unused: Vec<&str> = guests::ALL
        .iter()
        .filter(|(_, constant, _)| !sources.contains(&format!("guests::{constant}")))
        .map(|(name, _, _)| *name)
        .collect();
    assert!(
        unused.is_empty(),
        "built but run by no test: {unused:?} (use them in a test, or remove them)"
    );
}
