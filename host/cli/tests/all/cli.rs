//! Bad input: one clear message, a non-zero exit, no panic, no backtrace.

use crate::{fails_with, guests, raylab, run_ok, show};

fn temp_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".wasm").tempfile().unwrap();
    std::io::Write::write_all(&mut f, bytes).unwrap();
    f
}

#[test]
fn a_missing_module_file_is_one_clear_error() {
    fails_with(
        &["run", "/nonexistent/task.wasm"],
        "cannot read /nonexistent/task.wasm",
    );
    // One line, the cause said once.
    let out = raylab(&["run", "/nonexistent/task.wasm"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: cannot read /nonexistent/task.wasm: No such file or directory (os error 2)\n"
    );
}

#[test]
fn a_file_that_is_not_wasm_is_refused_by_name() {
    let f = temp_file(b"#!/bin/sh\necho hello\n");
    fails_with(
        &["run", f.path().to_str().unwrap()],
        "not a WebAssembly file",
    );
}

#[test]
fn a_truncated_component_is_refused_without_a_panic() {
    let bytes = std::fs::read(guests::SMOKE).unwrap();
    let f = temp_file(&bytes[..bytes.len() / 2]);
    fails_with(
        &["run", f.path().to_str().unwrap()],
        "invalid or unsupported component",
    );
}

#[test]
fn a_core_module_is_refused_with_how_to_make_a_component() {
    // The smallest valid core module: header only.
    let f = temp_file(b"\0asm\x01\0\0\0");
    fails_with(
        &["run", f.path().to_str().unwrap()],
        "is a core WebAssembly module, not a component",
    );
}

#[test]
fn a_component_outside_the_raylab_world_is_refused_naming_its_exports() {
    // The smallest valid component: header only, no exports.
    let f = temp_file(b"\0asm\x0d\0\x01\0");
    fails_with(
        &["run", f.path().to_str().unwrap()],
        "does not implement the raylab world",
    );
}

#[test]
fn running_a_plugin_as_a_driver_is_refused() {
    fails_with(&["run", guests::STATS_PLUGIN], "has no driver entry point");
}

#[test]
fn driver_trap_is_reported_with_the_guest_message() {
    fails_with(
        &["run", guests::DRIVER_PANIC],
        "driver `driver_panic` crashed",
    );
    fails_with(&["run", guests::DRIVER_PANIC], "the driver gave up");
}

#[test]
fn bad_flags_are_refused() {
    fails_with(
        &["run", guests::SMOKE, "--num-cpus=-1"],
        "--num-cpus must be a number of CPUs, 0 or more",
    );
    fails_with(
        &["run", guests::SMOKE, "--resources", "{oops"],
        "--resources must be a JSON object",
    );
    fails_with(
        &["run", guests::SMOKE, "--resources", r#"{"CPU": 3}"#],
        "set `CPU` with its own flag",
    );
    let out = raylab(&["run", guests::SMOKE, "--object-store-memory", "12Q"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap usage error: {}",
        show(&out)
    );
}

#[test]
fn help_documents_every_flag() {
    let out = raylab(&["run", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--plugin",
        "--num-cpus",
        "--resources",
        "--object-store-memory",
        "--isolation",
        "--cache-dir",
        "--no-cache",
        "--stats",
        "--json",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn cache_info_shows_the_caches_and_clear_empties_them() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().to_str().unwrap();
    assert_eq!(
        run_ok(&["run", guests::SMOKE, "--cache-dir", cache]),
        "sum=5\n"
    );
    // Someone else's file in the same directory.
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let info = |dir: &str| -> serde_json::Value {
        let out = raylab(&["cache", "info", "--cache-dir", dir, "--json"]);
        assert!(out.status.success(), "{}", show(&out));
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    let before = info(cache);
    assert_eq!(before["components"]["files"], 1, "{before}");
    assert!(
        before["functions"]["files"].as_u64().unwrap() > 0,
        "{before}"
    );
    assert!(before["bytes"].as_u64().unwrap() > 0);
    let out = raylab(&["cache", "clear", "--cache-dir", cache]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("removed "));
    assert_eq!(info(cache)["bytes"], 0);
    assert!(
        dir.path().join("notes.txt").exists(),
        "other files are left alone"
    );
    // The next run compiles again.
    assert_eq!(
        run_ok(&["run", guests::SMOKE, "--cache-dir", cache]),
        "sum=5\n"
    );
    let human = raylab(&["cache", "info", "--cache-dir", cache]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("compiled components"));
}

#[test]
fn bench_measures_with_the_guests_it_is_given() {
    let dir = std::path::Path::new(guests::BENCH).parent().unwrap();
    let out = raylab(&[
        "bench",
        "--runs",
        "1",
        "--round-trips",
        "200",
        "--filter",
        "round trip",
        "--json",
        "--guests",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let figures = report["figures"].as_array().expect("figures");
    assert_eq!(figures.len(), 2, "fresh and warm round trips: {report}");
    for f in figures {
        assert_eq!(f["unit"], "us", "{f}");
        assert!(f["value"].as_f64().unwrap() > 0.0, "{f}");
    }
    // Without the guests, it says how to build them.
    let empty = tempfile::tempdir().unwrap();
    fails_with(
        &["bench", "--guests", empty.path().to_str().unwrap()],
        "cargo build --release --target wasm32-wasip2",
    );
}
