//! Python guests: programs run sandboxed by `raylab-host run app.py` in
//! raylab's Python runtime, built once with the real componentize-py
//! (installed by scripts/setup.sh) and cached in the test cache, so a rerun
//! does not build it again.

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

/// Run a program written here as `name` (in a directory of its own).
fn run_source(name: &str, source: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join(name);
    std::fs::write(&app, source).unwrap();
    run_py(app.to_str().unwrap(), &[], &[])
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

    // An exception escaping the driver: its traceback, exit status 1.
    let out = run_py(&file, &["--resources", r#"{"token": 1}"#], &["--fail"]);
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
fn python_and_rust_exchange_packed_vectors_as_lists_and_bytes() {
    let plugin = format!("deps={}", guests::DEPENDENCIES);
    let out = run_py(
        &program("tests/rust_values.py"),
        &["--plugin", &plugin],
        &[],
    );
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "floats list [0.0, 0.25, 0.5, 0.75, 1.0]",
            "big floats 100000 True",
            "ints [0, -1, -2, -3]",
            "bytes bytes 300 b'\\x00\\x01\\x02\\x03'",
            "text ababab",
            "sums [2.0, 253, -4]",
            "sums of big [1249987500.0, 33586000, 499500]",
        ]
    );
}

#[test]
fn async_actor_calls_run_together_and_end_one_by_one() {
    let out = run_py(&program("tests/async_actors.py"), &[], &[]);
    assert!(out.status.success(), "{}", show(&out));
    let v = lines(&out);
    let want = [
        // Code that never yields stops the instance at the actor's limit:
        // every call it ran fails, and the restarted actor serves.
        ("crash.nap", "ActorDiedError"),
        ("crash.spin", "ActorDiedError"),
        ("crash.after", "ok:pong"),
        // One call past the limit fails alone.
        ("limit.quick", "ok:napped"),
        ("limit.slow", "time-limit-exceeded"),
        ("limit.after", "ok:pong"),
        // exit_actor in one call ends the calls running beside it, and
        // a call made after fails at `get` (not at `.remote`), as in Ray.
        ("exit.leave", "ActorDiedError"),
        ("exit.nap", "ActorDiedError"),
        ("exit.after", "ActorDiedError"),
        ("kill", "ActorDiedError,ActorDiedError,ActorDiedError"),
        // A plain actor: a queued call is cancelled, a running one is not
        // interrupted (Ray's rule for actors that are not async).
        ("plain.queued", "TaskCancelledError"),
        ("plain.running", "ok:slow done"),
        ("plain.after", "ok:quick done"),
    ];
    for (key, value) in want {
        assert_eq!(
            v.get(key).map(String::as_str),
            Some(value),
            "{key}: {}",
            show(&out)
        );
    }
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

/// The components the test cache holds for Python.
fn built() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(test_cache().join("python"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".wasm"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn an_edited_program_reruns_without_building_anything() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.py");
    let helper = dir.path().join("helper.py");
    std::fs::write(&helper, "def scale(x):\n    return x * 10\n").unwrap();
    let version = |n: u32| {
        format!(
            "import raylab as ray\nimport helper\n\n@ray.remote\ndef f(x):\n    return helper.scale(x) + {n}\n\nprint(ray.get(f.remote(1)))\n"
        )
    };
    std::fs::write(&app, version(1)).unwrap();
    let out = run_py(app.to_str().unwrap(), &[], &[]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "11\n");
    let before = built();
    // Edit the program and the module beside it: both are read anew, and
    // no component is built for them.
    std::fs::write(&app, version(2)).unwrap();
    std::fs::write(&helper, "def scale(x):\n    return x * 100\n").unwrap();
    let out = run_py(app.to_str().unwrap(), &[], &[]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "102\n");
    assert_eq!(built(), before, "nothing was built for the edit");
}

/// Ray programs of our own (guest-tasks/python/ray_programs), each as Ray
/// users write them with only `import ray` changed: what each prints must
/// be what Ray 2.47 printed for it (`NAME.expected`), with the same exit
/// status (`NAME.exit`, else 0).
#[test]
fn ray_programs_print_what_ray_prints() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../guest-tasks/python/ray_programs");
    let mut programs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "py") && p.with_extension("expected").is_file()
        })
        .collect();
    programs.sort();
    assert!(programs.len() >= 20, "the suite is there: {programs:?}");
    let mut failed = Vec::new();
    for p in &programs {
        let out = run_py(p.to_str().unwrap(), &[], &[]);
        let want = std::fs::read_to_string(p.with_extension("expected")).unwrap();
        let code = std::fs::read_to_string(p.with_extension("exit"))
            .map_or(0, |c| c.trim().parse().unwrap());
        let got = String::from_utf8_lossy(&out.stdout);
        if got != want || out.status.code() != Some(code) {
            failed.push(format!(
                "{}: want exit {code}, stdout:\n{want}\n{}",
                p.file_name().unwrap().to_string_lossy(),
                show(&out)
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} differ from Ray:\n{}",
        failed.len(),
        programs.len(),
        failed.join("\n")
    );
}

#[test]
fn what_the_sandbox_cannot_give_fails_with_a_line_that_says_why() {
    let cases = [
        ("import numpy\n", "numpy is a C extension"),
        (
            "import no_such_package_here\n",
            "vendor it beside the program (pip install --target",
        ),
        (
            "import subprocess\nsubprocess.run(['ls'])\n",
            "subprocess cannot start programs",
        ),
        (
            "import threading\nthreading.Thread(target=print).start()\n",
            "threads cannot start in the sandbox",
        ),
        (
            "import urllib.request\nurllib.request.urlopen('http://localhost:1/')\n",
            "the sandbox has no network",
        ),
    ];
    for (i, (source, why)) in cases.iter().enumerate() {
        let out = run_source(
            &format!("case{i}.py"),
            &format!("import raylab as ray\n{source}"),
        );
        assert_eq!(out.status.code(), Some(1), "{source}: {}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{source}: {}", show(&out));
    }
    // The standard library is whole: modules nothing imported when the
    // runtime was built import in the driver and in a task.
    let out = run_source(
        "stdlib.py",
        "import raylab as ray\n\
         import zipfile, io\n\
         @ray.remote\n\
         def rows():\n\
         \x20   import csv, difflib, xml.etree.ElementTree as et\n\
         \x20   return (next(csv.reader(['a,b'])), et.fromstring('<x>1</x>').text)\n\
         print(ray.get(rows.remote()))\n",
    );
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "(['a', 'b'], '1')\n");
}

/// Many tasks create an actor of one name at the same instant: exactly one
/// succeeds each time (the name is checked and taken in one critical
/// section; before, two creations at once could both succeed).
#[test]
fn one_name_made_by_many_tasks_at_once_makes_one_actor() {
    let out = run_source(
        "race.py",
        r#"import time
import raylab as ray

ray.init(num_cpus=6)

@ray.remote
class Named:
    def ping(self):
        return "pong"

@ray.remote(num_cpus=1)
def make(name, at):
    while time.monotonic() < at:
        pass
    try:
        Named.options(name=name, lifetime="detached").remote()
        return 1
    except ValueError:
        return 0

made = []
for r in range(25):
    at = time.monotonic() + 0.2
    made.append(sum(ray.get([make.remote("n%d" % r, at) for _ in range(6)])))
print(made)
n0 = ray.get_actor("n0")  # kept: a method of a dropped handle cannot be called, as in Ray
print(ray.get(n0.ping.remote()))
"#,
    );
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{:?}\npong\n", [1; 25])
    );
}

/// Tasks a program submits and forgets just before it ends still run (as
/// in Ray), whether their refs were dropped or kept in globals.
#[test]
fn tasks_submitted_and_forgotten_at_the_end_still_run() {
    let out = run_source(
        "forget.py",
        "import time\nimport raylab as ray\n\n@ray.remote\ndef side(x):\n    time.sleep(0.2)\n    print('ran', x)\n\nkept = side.remote(1)\nside.remote(2)\n",
    );
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort();
    assert_eq!(lines, ["ran 1", "ran 2"], "{}", show(&out));
}

/// An async actor takes any queued call whose arguments are ready, in
/// submission order, while calls before it wait for theirs (Ray's order
/// for async actors): a call waiting for a slow argument, or for one that
/// fails, or cancelled while waiting, holds up no other; a call queued
/// when the last handle goes still runs once its argument is ready.
#[test]
fn an_async_actor_runs_calls_whose_arguments_are_ready_first() {
    let out = run_source(
        "ready_first.py",
        r#"import asyncio
import time
import raylab as ray

ray.init(num_cpus=2)


@ray.remote
def slow(x):
    time.sleep(0.5)
    return x


@ray.remote
class Gate:
    def __init__(self):
        self.event = asyncio.Event()

    async def pass_through(self, value):
        await self.event.wait()
        return value

    async def open(self):
        self.event.set()


@ray.remote
def boom():
    raise ValueError("boom")


@ray.remote
class Log:
    def __init__(self):
        self.seen = []

    async def add(self, tag, value):
        self.seen.append(tag)
        return list(self.seen)

    async def ping(self):
        return "pong"


gate = Gate.remote()
log = Log.remote()
ray.get(log.ping.remote())
blocked = log.add.remote("blocked", gate.pass_through.remote(1))
cancelled = log.add.remote("cancelled", gate.pass_through.remote(2))
failed = log.add.remote("failed", boom.remote())
free = log.add.remote("free", 3)
ray.cancel(cancelled)
print("free=" + ",".join(ray.get(free)))
try:
    ray.get(failed)
except ValueError as e:
    print("failed=" + type(e).__name__)
ray.get(gate.open.remote())
print("blocked=" + ",".join(ray.get(blocked)))
try:
    ray.get(cancelled)
except ray.exceptions.TaskCancelledError:
    print("cancelled=TaskCancelledError")

gone = Log.remote()
last = gone.add.remote("last", slow.remote(4))
del gone
print("orphan=" + ",".join(ray.get(last)))
"#,
    );
    assert!(out.status.success(), "{}", show(&out));
    // What Ray 2.47 prints for this program.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "free=free\nfailed=RayTaskError(ValueError)\nblocked=free,blocked\n\
         cancelled=TaskCancelledError\norphan=last\n",
        "{}",
        show(&out)
    );
}
