//! Integration tests: real guest components (built from source by
//! `build.rs`) run by the real `raylab-host` binary and library.

mod cli;
mod gpu;
mod head;
mod lab;
mod runtime;
mod sandbox;

/// Paths of the guest components.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

use std::process::{Command, Output};

/// Longest a `raylab-host` command may take in a test before it counts as
/// hung (and is killed, failing the test instead of blocking the suite).
const HANG: std::time::Duration = std::time::Duration::from_secs(300);

/// The compile cache every test shares.
pub fn test_cache() -> std::path::PathBuf {
    std::env::temp_dir().join("raylab-test-cache")
}

/// Run `raylab-host` with `args`, sharing one compile cache across tests.
pub fn raylab(args: &[&str]) -> Output {
    let cache = test_cache();
    let child = Command::new(env!("CARGO_BIN_EXE_raylab-host"))
        .args(args)
        .env("RAYLAB_CACHE_DIR", cache)
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
