//! Bad input: one clear message, a non-zero exit, no panic, no backtrace.

use crate::{guests, raylab, show};

fn fails_with(args: &[&str], needle: &str) {
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
}

fn temp_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".wasm").tempfile().unwrap();
    std::io::Write::write_all(&mut f, bytes).unwrap();
    f
}

#[test]
fn missing_file() {
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
fn not_wasm() {
    let f = temp_file(b"#!/bin/sh\necho hello\n");
    fails_with(
        &["run", f.path().to_str().unwrap()],
        "not a WebAssembly file",
    );
}

#[test]
fn truncated_component() {
    let bytes = std::fs::read(guests::SMOKE).unwrap();
    let f = temp_file(&bytes[..bytes.len() / 2]);
    fails_with(
        &["run", f.path().to_str().unwrap()],
        "invalid or unsupported component",
    );
}

#[test]
fn core_module_instead_of_component() {
    // The smallest valid core module: header only.
    let f = temp_file(b"\0asm\x01\0\0\0");
    fails_with(
        &["run", f.path().to_str().unwrap()],
        "is a core WebAssembly module, not a component",
    );
}

#[test]
fn component_outside_the_raylab_world() {
    // The smallest valid component: header only, no exports.
    let f = temp_file(b"\0asm\x0d\0\x01\0");
    fails_with(
        &["run", f.path().to_str().unwrap()],
        "does not implement the raylab world",
    );
}

#[test]
fn plugin_is_not_a_driver() {
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
        &["run", guests::SMOKE, "--num-cpus", "0"],
        "--num-cpus must be a positive number",
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
