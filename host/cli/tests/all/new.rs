//! A `raylab-host` installed anywhere, with no checkout: `new`'s projects
//! made from an empty directory outside the checkout, with only the binary
//! on the PATH, built and run with exactly the commands their READMEs give;
//! `lab` and `bench` with the guests next to the binary or built on
//! request into the data directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::{show, test_cache};

/// A directory outside the checkout holding a copy of the binary, the
/// data directory (where `new` extracts the SDK) and the projects.
struct Sandbox {
    dir: tempfile::TempDir,
    path: String,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_raylab-host"), bin.join("raylab-host")).unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Sandbox { dir, path }
    }

    /// `sh -c line` in `dir`, with the copied binary first on the PATH and
    /// nothing of the outer cargo's build settings.
    fn sh(&self, dir: &Path, line: &str, data_home: bool) -> Output {
        self.sh_with(dir, line, data_home, &[])
    }

    /// [`Sandbox::sh`] with more environment variables.
    fn sh_with(&self, dir: &Path, line: &str, data_home: bool, env: &[(&str, &Path)]) -> Output {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(line)
            .current_dir(dir)
            .env("PATH", &self.path)
            .env("RAYLAB_CACHE_DIR", test_cache())
            .env_remove("RAYLAB_LOG");
        if data_home {
            cmd.env("XDG_DATA_HOME", self.data());
        }
        for var in crate::guests::OUTER_CARGO_ENV {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        cmd.output().expect("run sh")
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `raylab-host new ARGS` in the sandbox; the project's directory.
    fn new_project(&self, name: &str, args: &str, data_home: bool) -> PathBuf {
        let out = self.sh(
            self.dir.path(),
            &format!("raylab-host new {name} {args}"),
            data_home,
        );
        assert!(out.status.success(), "{}", show(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&format!("cd {name}")), "{stdout}");
        self.dir.path().join(name)
    }
}

/// The commands of a README's indented block.
fn readme_commands(project: &Path) -> Vec<String> {
    std::fs::read_to_string(project.join("README.md"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .map(str::to_string)
        .collect()
}

/// Run a README's commands in order; the last one's output.
fn follow_readme(sandbox: &Sandbox, project: &Path, data_home: bool) -> String {
    let commands = readme_commands(project);
    assert!(!commands.is_empty(), "{}", project.display());
    let mut last = String::new();
    for command in &commands {
        let out = sandbox.sh(project, command, data_home);
        assert!(out.status.success(), "`{command}`: {}", show(&out));
        last = String::from_utf8_lossy(&out.stdout).into_owned();
    }
    last
}

/// The projects' compiled dependencies, kept between runs of the suite:
/// each project's `target` is a link to it (so the READMEs' paths hold).
fn shared_target(project: &Path) {
    let shared = std::env::temp_dir().join("raylab-test-new-target");
    std::fs::create_dir_all(&shared).unwrap();
    std::os::unix::fs::symlink(&shared, project.join("target")).unwrap();
}

#[test]
fn rust_projects_from_new_build_and_run_with_their_readmes_commands() {
    let sandbox = Sandbox::new();
    let expect = [
        ("hello", "", "sum of squares below 5: 30"),
        ("counter", "--template actor", "total: 155"),
        (
            "waiter",
            "--template driver",
            "still running after 2s: cancelled",
        ),
        ("stats-kit", "--template plugin", "largest: Some(9.0)"),
    ];
    for (name, args, want) in expect {
        let project = sandbox.new_project(name, args, true);
        shared_target(&project);
        let stdout = follow_readme(&sandbox, &project, true);
        assert!(stdout.contains(want), "{name}: {stdout}");
    }
    // The SDK came from the binary, into the data directory.
    let sdk: Vec<_> = std::fs::read_dir(sandbox.data().join("raylab/sdk"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(sdk.len(), 1, "one SDK, extracted once");
    // `cargo test` runs the project's tests on raylab (Cargo's runner is
    // `raylab-host runner`), remote calls included.
    let hello = sandbox.dir.path().join("hello");
    let out = sandbox.sh(&hello, "cargo test", true);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for test in ["square_squares", "square_runs_remotely"] {
        assert!(
            stdout.contains(&format!("test tests::{test} ... ok")),
            "{stdout}"
        );
    }
    // And natively, the plain-function test (the remote one is for wasm).
    let host = String::from_utf8(Command::new("rustc").arg("-vV").output().unwrap().stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .unwrap();
    let out = sandbox.sh(&hello, &format!("cargo test --target {host}"), true);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("test tests::square_squares ... ok"),
        "{stdout}"
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
    // A remote function left out of `tasks!(..)` is a compile error that
    // names it, not a `no-such-function` when it is first called.
    let main_rs = hello.join("src/main.rs");
    let source = std::fs::read_to_string(&main_rs).unwrap();
    std::fs::write(
        &main_rs,
        format!("{source}\n#[remote]\nfn forgotten() -> u8 {{\n    1\n}}\n"),
    )
    .unwrap();
    let out = sandbox.sh(&hello, "cargo build", true);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot find value `forgotten` in module `crate::listed_in_tasks`"),
        "{}",
        show(&out)
    );
    std::fs::write(&main_rs, source).unwrap();
    // The plugin's, natively, as its README says (`--lib`).
    let plugin = sandbox.dir.path().join("stats-kit");
    let out = sandbox.sh(&plugin, &format!("cargo test --lib --target {host}"), true);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("test tests::mean_and_largest ... ok"),
        "{}",
        show(&out)
    );
    // A name that cannot be a crate is refused before anything is made.
    let out = sandbox.sh(sandbox.dir.path(), "raylab-host new 9lives", true);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(!sandbox.dir.path().join("9lives").exists());
    // So is a directory that is already there.
    let out = sandbox.sh(sandbox.dir.path(), "raylab-host new hello", true);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{}",
        show(&out)
    );
}

#[test]
fn python_projects_from_new_run_with_their_readmes_command() {
    let sandbox = Sandbox::new();
    for (name, template, want) in [
        ("squares", "task", "sum of squares below 10: 285"),
        ("tally", "actor", "total: 155"),
        (
            "deadline",
            "driver",
            "still running at the deadline: cancelled",
        ),
    ] {
        // The real data directory: componentize-py lives there
        // (scripts/setup.sh), should the runtime need building.
        let project =
            sandbox.new_project(name, &format!("--lang python --template {template}"), false);
        assert!(project.join(".raylab/python/raylab/__init__.py").is_file());
        let stdout = follow_readme(&sandbox, &project, false);
        assert!(stdout.contains(want), "{name}: {stdout}");
    }
    let out = sandbox.sh(
        sandbox.dir.path(),
        "raylab-host new p --lang python --template plugin",
        false,
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("write the plugin in Rust"),
        "{}",
        show(&out)
    );
}

#[test]
fn an_installed_binary_runs_the_lab_and_bench_from_anywhere() {
    use crate::guests;
    let sandbox = Sandbox::new();
    let outside = sandbox.dir.path();
    // Packaged as an install would ship them: next to the binary.
    let shipped = outside.join("bin/guests");
    std::fs::create_dir(&shipped).unwrap();
    for (name, path) in [
        ("bench", guests::BENCH),
        ("task1", guests::TASK1),
        ("task2", guests::TASK2),
        ("task3", guests::TASK3),
        ("task4", guests::TASK4),
    ] {
        std::fs::copy(path, shipped.join(format!("{name}.wasm"))).unwrap();
    }
    // The whole lab, Python included (the real data directory: that is
    // where scripts/setup.sh put componentize-py).
    let out = sandbox.sh(outside, "raylab-host lab", false);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for want in [
        "== Task 1: basic parallel execution ==",
        "results equal: yes",
        "== Task 3: GPU resource scheduling with real GPU compute ==",
        "mean accuracy: 0.9733 ± 0.0249",
        "leaderboard agrees with the ranking: yes",
        "== Task 4 with a Python driver calling the Rust linfa folds by name ==",
    ] {
        assert!(stdout.contains(want), "{want}: {stdout}");
    }
    // After Task 2's speedup: what native threads get here at that moment.
    let at = |what: &str| {
        stdout
            .find(what)
            .unwrap_or_else(|| panic!("{what}: {stdout}"))
    };
    let yardstick = at("yardstick: task2's formula in plain Rust (std's math) on ");
    assert!(
        at("== Task 2:") < yardstick && yardstick < at("== Task 3:"),
        "{stdout}"
    );
    // bench finds them there too.
    let out = sandbox.sh(
        outside,
        "raylab-host bench --filter lab --runs 1 --json",
        false,
    );
    assert!(out.status.success(), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["figures"].as_array().map(Vec::len), Some(3), "{v}");

    // Nowhere to be found: bench says how to get them, and `lab` builds
    // them from the sources in the binary, into the data directory (with a
    // target directory of its own, kept between runs of the suite: the
    // test guests' must not be rewritten under tests that run them).
    std::fs::remove_dir_all(&shipped).unwrap();
    let out = sandbox.sh(outside, "raylab-host bench --filter lab --runs 1", true);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("raylab-host lab --build"),
        "{}",
        show(&out)
    );
    let target = std::env::temp_dir().join("raylab-test-lab-target");
    let out = sandbox.sh_with(
        outside,
        "raylab-host lab --build-only",
        true,
        &[("CARGO_TARGET_DIR", &target)],
    );
    assert!(out.status.success(), "{}", show(&out));
    let built = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        built.starts_with(sandbox.data().join("raylab/guests")),
        "{}",
        built.display()
    );
    for name in ["bench", "task1", "task2", "task3", "task4"] {
        assert!(built.join(format!("{name}.wasm")).is_file(), "{name}");
    }
    let out = sandbox.sh(
        outside,
        "raylab-host run \"$XDG_DATA_HOME\"/raylab/guests/*/task1.wasm -- --work-ms 0",
        true,
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("results equal: yes"),
        "{}",
        show(&out)
    );
}
