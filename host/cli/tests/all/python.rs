//! Python guests: programs built with the real componentize-py (installed
//! by scripts/setup.sh) and run sandboxed by `raylab-host run app.py`. The
//! built components are cached in the test cache (target directory), so a
//! rerun does not build them again.

use std::path::PathBuf;

use crate::{guests, raylab_in, show, test_cache};

fn program(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../guest-tasks/python")
        .join(rel)
        .display()
        .to_string()
}

/// `raylab-host run` of a Python program with the test cache.
fn run_py(file: &str, flags: &[&str], args: &[&str]) -> std::process::Output {
    let cache = test_cache();
    let mut all = vec!["run", "-q"];
    all.push(file);
    all.extend_from_slice(&["--cache-dir", cache.to_str().unwrap()]);
    all.extend_from_slice(flags);
    all.push("--");
    all.extend_from_slice(args);
    raylab_in(&all, &[])
}

fn lines(out: &std::process::Output) -> std::collections::HashMap<String, String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_python_sdk_reads_like_rays_and_runs_sandboxed() {
    let file = program("tests/behaviour.py");
    let out = run_py(&file, &["--resources", r#"{"token": 1}"#], &["a", "b"]);
    assert!(out.status.success(), "{}", show(&out));
    let v = lines(&out);
    assert_eq!(v["args"], "a,b");
    assert_eq!(v["squares"], "[0, 1, 4, 9, 16]");
    assert_eq!(v["dependency"], "10", "a ref argument is a dependency");
    assert_eq!(v["nested"], "[1, 2, 3, 4]", "a nested ref stays a ref");
    assert_eq!(v["roundtrip"], "True");
    assert_eq!(v["wait"], "2,0");
    assert_eq!(v["error"], "task-failed ValueError: bad input 7");
    assert_eq!(v["ref_in_result"], "40");
    assert_eq!(v["options"], "['local', 0.5, 1.0]");
    assert_eq!(v["direct_call"], "refused");
    assert_eq!(v["argparse"], "3", "argparse works (the SDK's locale shim)");
    assert_eq!(
        v["actor"], "[11, 13, 16]",
        "an actor's calls run in order on its state"
    );
    assert_eq!(v["actor_by_name"], "116");
    assert_eq!(v["actor_error"], "task-failed KeyError: 'no such key'");
    assert_eq!(v["killed"], "actor-died", "a call after kill fails");

    // An exception escaping the driver: its traceback, exit status 1. The
    // same source again is not built again.
    let built = || std::fs::read_dir(test_cache().join("python")).map_or(0, |d| d.count());
    let before = built();
    let out = run_py(&file, &["--resources", r#"{"token": 1}"#], &["--fail"]);
    assert_eq!(built(), before, "the component came from the cache");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Traceback")
            && stderr.contains("RuntimeError: the driver failed on purpose"),
        "{}",
        show(&out)
    );
    assert!(!stderr.contains("unreachable"), "not a bare trap: {stderr}");
}

#[test]
fn the_lab_runs_in_python() {
    let out = run_py(
        &program("lab/task1.py"),
        &[],
        &["--n", "4", "--work-ms", "20"],
    );
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("results equal: yes").count(), 2, "{stdout}");
    assert!(
        stdout.contains("parallel results:   [0, 1, 4, 9]"),
        "{stdout}"
    );

    let out = run_py(&program("lab/task2.py"), &[], &["--n", "20000"]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("results equal: yes"), "{stdout}");
    assert!(stdout.contains("(2 chunk tasks)"), "{stdout}");

    // A Python driver calling the Rust task4's linfa folds by name.
    let plugin = format!("task4={}", guests::TASK4);
    let out = run_py(&program("lab/task4.py"), &["--plugin", &plugin], &[]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("mean accuracy: 0.9733 ± 0.0249"),
        "scikit-learn's figure: {stdout}"
    );
}

#[test]
fn without_componentize_py_run_says_how_to_install_it() {
    let empty = tempfile::tempdir().unwrap();
    let out = raylab_in(
        &["run", &program("lab/task1.py")],
        &[
            ("PATH", "/usr/bin:/bin"),
            ("HOME", empty.path().to_str().unwrap()),
            ("XDG_DATA_HOME", empty.path().to_str().unwrap()),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("needs componentize-py: run scripts/setup.sh"),
        "{}",
        show(&out)
    );
}

#[test]
fn a_python_program_is_submitted_to_a_head_as_a_job() {
    // An 18 MB interpreter takes a debug build's compiler half a minute.
    let head = crate::head::Head::start_with(&["--compile-timeout", "600"]);
    let out = raylab_in(
        &[
            "submit",
            "--quiet",
            "--address",
            &head.address,
            &program("lab/task1.py"),
            "--",
            "--n",
            "3",
            "--work-ms",
            "0",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("results equal: yes"),
        "{}",
        show(&out)
    );
}
