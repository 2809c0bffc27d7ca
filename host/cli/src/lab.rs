//! The lab's and the bench's guests for a `raylab-host` installed anywhere:
//! where their components are found, how they are built on request from
//! the sources compiled into this binary, and `raylab-host lab`, which runs
//! the lab's four tasks as `scripts/lab.sh` does in a checkout.
//!
//! Components are looked for, in order: `--guests DIR` /
//! `$RAYLAB_GUESTS`; a `guests` directory next to the binary (what a
//! packaged install ships); the data directory's
//! (`$XDG_DATA_HOME/raylab/guests/VERSION-HASH`, where a build on request
//! puts them); and `guest-tasks/target/wasm32-wasip2/release` under the
//! current directory (a checkout). A build on request extracts the guest
//! workspace (the lab tasks, their helpers, the bench guest and the SDK,
//! with the repository's `Cargo.lock`) to the data directory and runs
//! `cargo build --release --target wasm32-wasip2` there (it needs the Rust
//! tool chain with that target, as any guest does; `CARGO_TARGET_DIR` is
//! honoured). The Python lab and bench programs are compiled in as well and
//! written next to the components when a checkout is not there.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// A file of the guest workspace, by its path under `guest-tasks`.
macro_rules! guest_file {
    ($path:literal) => {
        ($path, include_str!(concat!("../../../guest-tasks/", $path)))
    };
}

/// The lab tasks, their helpers and the bench guest, as this binary was
/// built with them (the SDK comes from [`crate::scaffold::RUST_SDK`]). A
/// test checks the list against the files on disk.
pub const GUEST_SOURCES: &[(&str, &str)] = &[
    guest_file!("Cargo.lock"),
    guest_file!("labkit/Cargo.toml"),
    guest_file!("labkit/src/lib.rs"),
    guest_file!("labkit/src/flags.rs"),
    guest_file!("labkit/src/float.rs"),
    guest_file!("labkit/src/rng.rs"),
    guest_file!("labkit/src/task2.rs"),
    guest_file!("labkit/src/task3.rs"),
    guest_file!("task1/Cargo.toml"),
    guest_file!("task1/src/main.rs"),
    guest_file!("task2/Cargo.toml"),
    guest_file!("task2/src/main.rs"),
    guest_file!("task3/Cargo.toml"),
    guest_file!("task3/src/main.rs"),
    guest_file!("task3/src/matmul.wgsl"),
    guest_file!("task4/Cargo.toml"),
    guest_file!("task4/src/main.rs"),
    guest_file!("bench/Cargo.toml"),
    guest_file!("bench/src/main.rs"),
];

/// The guest workspace's manifest; extracted, its members are the crates
/// above (the repository's test programs stay behind).
const WORKSPACE: &str = include_str!("../../../guest-tasks/Cargo.toml");

/// The repository's guest build settings (SIMD).
const CARGO_CONFIG: &str = include_str!("../../../.cargo/config.toml");

/// The Python programs of the lab and the bench, by path under
/// `guest-tasks/python`.
pub const PYTHON_PROGRAMS: &[(&str, &str)] = &[
    (
        "lab/task1.py",
        include_str!("../../../guest-tasks/python/lab/task1.py"),
    ),
    (
        "lab/task2.py",
        include_str!("../../../guest-tasks/python/lab/task2.py"),
    ),
    (
        "lab/task4.py",
        include_str!("../../../guest-tasks/python/lab/task4.py"),
    ),
    (
        "bench/bench.py",
        include_str!("../../../guest-tasks/python/bench/bench.py"),
    ),
];

/// The components the lab and the bench run.
pub const COMPONENTS: [&str; 5] = ["bench", "task1", "task2", "task3", "task4"];

/// Where a checkout keeps the built components, relative to its root.
pub const CHECKOUT_GUESTS: &str = "guest-tasks/target/wasm32-wasip2/release";

/// A short digest of everything compiled in, naming the data directory's
/// copies (a new build of raylab-host gets its own).
/// Computed once: a command looks in several places.
fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let files = GUEST_SOURCES
            .iter()
            .chain(crate::scaffold::RUST_SDK)
            .chain(PYTHON_PROGRAMS)
            .copied()
            .chain([("Cargo.toml", WORKSPACE)]);
        format!(
            "{}-{}",
            env!("CARGO_PKG_VERSION"),
            crate::scaffold::digest_of(files)
        )
    })
}

/// Whether `dir` holds every component.
fn complete(dir: &Path) -> bool {
    COMPONENTS
        .iter()
        .all(|c| dir.join(format!("{c}.wasm")).is_file())
}

/// The directories searched for the components, in order (see the module
/// docs), without `--guests`.
pub fn search_path() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("RAYLAB_GUESTS").filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(bin) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(bin.join("guests"));
    }
    if let Ok(data) = crate::scaffold::data_dir() {
        dirs.push(data.join("guests").join(version()));
    }
    dirs.push(PathBuf::from(CHECKOUT_GUESTS));
    dirs
}

/// The first directory of [`search_path`] that holds every component.
pub fn find() -> Option<PathBuf> {
    search_path().into_iter().find(|d| complete(d))
}

/// What to say when the components are nowhere.
pub fn missing() -> String {
    let looked: Vec<String> = search_path()
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    format!(
        "the lab's guest components (bench, task1 ... task4) are not built: looked in {}. \
         Build them once with `raylab-host lab --build` (cargo and the wasm32-wasip2 target), \
         or pass --guests DIR",
        looked.join(", ")
    )
}

/// The extracted workspace manifest: only the crates compiled in.
fn workspace_manifest() -> anyhow::Result<String> {
    let members =
        "members = [\"bench\", \"labkit\", \"sdk\", \"task1\", \"task2\", \"task3\", \"task4\"]";
    let Some(line) = WORKSPACE.lines().find(|l| l.starts_with("members = [")) else {
        bail!("the guest workspace's manifest has no members line");
    };
    Ok(WORKSPACE.replace(line, members))
}

/// Build the components from the sources compiled in (see the module
/// docs) and put them in the data directory; that directory.
pub fn build() -> anyhow::Result<PathBuf> {
    let data = crate::scaffold::data_dir()?;
    let version = version();
    let out = data.join("guests").join(version);
    let src = data.join("guest-src").join(version);
    let mut files: Vec<(&str, String)> = GUEST_SOURCES
        .iter()
        .map(|(p, t)| (*p, t.to_string()))
        .collect();
    files.push(("Cargo.toml", workspace_manifest()?));
    files.push((".cargo/config.toml", CARGO_CONFIG.to_string()));
    let sdk: Vec<(String, String)> = crate::scaffold::RUST_SDK
        .iter()
        .map(|(p, t)| (format!("sdk/{p}"), t.to_string()))
        .collect();
    files.extend(sdk.iter().map(|(p, t)| (p.as_str(), t.clone())));
    crate::scaffold::write_files(&src, files)?;
    eprintln!(
        "Building the lab's guest components from the sources in this raylab-host \
         (once; cargo, wasm32-wasip2) in {} ...",
        src.display()
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Not `--locked`: the lock file is the whole guest workspace's, and
    // cargo drops the entries of crates left behind (the test programs);
    // every crate kept keeps its locked version.
    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--workspace",
        ])
        .current_dir(&src)
        .status()
        .with_context(|| {
            format!(
                "cannot run {} (is Rust installed?)",
                cargo.to_string_lossy()
            )
        })?;
    if !status.success() {
        bail!(
            "building the lab's guests failed ({status}); the wasm32-wasip2 target may be \
             missing: `rustup target add wasm32-wasip2`"
        );
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_relative() { src.join(t) } else { t })
        .unwrap_or_else(|| src.join("target"));
    let built = target.join("wasm32-wasip2/release");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot make {}", out.display()))?;
    for c in COMPONENTS {
        let from = built.join(format!("{c}.wasm"));
        std::fs::copy(&from, out.join(format!("{c}.wasm")))
            .with_context(|| format!("cannot copy {}", from.display()))?;
    }
    Ok(out)
}

/// The directory of the lab's and bench's Python programs: the checkout's
/// `guest-tasks/python` when it is there, else the copies compiled in,
/// written to the data directory.
pub fn python_dir() -> anyhow::Result<PathBuf> {
    let checkout = PathBuf::from("guest-tasks/python");
    if checkout.join("lab/task1.py").is_file() {
        return Ok(checkout);
    }
    let dir = crate::scaffold::data_dir()?
        .join("python-programs")
        .join(version());
    if !dir.join("bench/bench.py").is_file() {
        crate::scaffold::write_files(
            &dir,
            PYTHON_PROGRAMS.iter().map(|(p, t)| (*p, t.to_string())),
        )?;
    }
    Ok(dir)
}

/// `raylab-host lab`'s arguments.
#[derive(clap::Args, Debug)]
pub struct LabArgs {
    /// Build the guest components from the sources in this binary first,
    /// even if they are found (they are built anyway when they are not).
    #[arg(long)]
    pub build: bool,
    /// Only build them; run nothing.
    #[arg(long)]
    pub build_only: bool,
    /// Directory of the components [default: searched, see `raylab-host
    /// lab --help`'s module docs: next to the binary, the data directory,
    /// a checkout].
    #[arg(long, value_name = "DIR")]
    pub guests: Option<PathBuf>,
    /// Skip the Python parts (they need componentize-py, from
    /// scripts/setup.sh, the first time).
    #[arg(long)]
    pub no_python: bool,
}

/// The lab's steps: a title and `raylab-host` arguments (`{g}` is the
/// components' directory, `{p}` the Python programs').
const STEPS: &[(&str, &[&str])] = &[
    (
        "Task 1: basic parallel execution",
        &["run", "{g}/task1.wasm"],
    ),
    (
        "Task 2: 1,000,000 elements in parallel",
        &["run", "{g}/task2.wasm", "--", "--per-element", "10000"],
    ),
    ("Task 3: the GPUs this node would use", &["gpus"]),
    (
        "Task 3: GPU resource scheduling with real GPU compute",
        &["run", "{g}/task3.wasm"],
    ),
    (
        "Task 4: parallel 5-fold cross-validation (linfa)",
        &["run", "{g}/task4.wasm"],
    ),
    (
        "Task 4 beyond the lab: parallel model search",
        &["run", "{g}/task4.wasm", "--", "--search"],
    ),
    ("The lab in Python: Task 1", &["run", "{p}/lab/task1.py"]),
    (
        "Task 4 with a Python driver calling the Rust linfa folds by name",
        &[
            "run",
            "{p}/lab/task4.py",
            "--plugin",
            "task4={g}/task4.wasm",
        ],
    ),
];

/// `raylab-host lab`: the lab's tasks, one after the other; the first that
/// fails ends it with its status.
pub fn lab(args: &LabArgs) -> anyhow::Result<i32> {
    let guests = match &args.guests {
        Some(dir) if !args.build => {
            if !complete(dir) {
                bail!(
                    "{} does not hold every lab component ({})",
                    dir.display(),
                    COMPONENTS.join(", ")
                );
            }
            dir.clone()
        }
        _ => match find() {
            Some(dir) if !args.build => dir,
            _ => build()?,
        },
    };
    if args.build_only {
        println!("{}", guests.display());
        return Ok(0);
    }
    let python = python_dir()?;
    let exe = std::env::current_exe().context("cannot find this program's own path")?;
    for (title, step) in STEPS {
        let is_python = step.iter().any(|a| a.ends_with(".py"));
        if is_python && args.no_python {
            continue;
        }
        println!("\n== {title} ==");
        let argv: Vec<String> = step
            .iter()
            .map(|a| {
                a.replace("{g}", &guests.display().to_string())
                    .replace("{p}", &python.display().to_string())
            })
            .collect();
        let status = Command::new(&exe)
            .args(&argv)
            .status()
            .with_context(|| format!("cannot run {}", exe.display()))?;
        if !status.success() {
            eprintln!("error: `raylab-host {}` failed ({status})", argv.join(" "));
            return Ok(status.code().unwrap_or(1));
        }
        if title.starts_with("Task 2:") {
            native_yardstick();
        }
    }
    Ok(0)
}

/// After Task 2: the speedup plain native threads get on this machine at
/// this moment, with the same math and data outside any sandbox, so that
/// a low speedup printed by Task 2 can be told apart from a machine that
/// gives its cores little time (a shared VM can give two vCPUs one core's
/// worth for a while: BENCHMARKS.md, "What this machine gives two
/// threads").
fn native_yardstick() {
    use crate::bench::native;
    let run = native::task2(&native::task2_data());
    println!(
        "yardstick: task2's formula in plain Rust (std's math) on {} native threads, \
         here and now: sequential {:.3} s, parallel {:.3} s, speedup {:.2}x",
        run.threads,
        run.seq,
        run.par,
        run.seq / run.par
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `dir`, relative to `root`, outside `target`.
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.ends_with("target") {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }

    #[test]
    fn the_embedded_sources_are_every_file_of_the_lab_crates() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-tasks");
        let mut on_disk = vec!["Cargo.lock".to_string()];
        for krate in ["labkit", "task1", "task2", "task3", "task4", "bench"] {
            walk(&root, &root.join(krate), &mut on_disk);
        }
        on_disk.sort();
        let mut embedded: Vec<String> = GUEST_SOURCES.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk, "update GUEST_SOURCES in lab.rs");
    }

    #[test]
    fn the_extracted_workspace_holds_only_what_is_compiled_in() {
        let manifest = workspace_manifest().unwrap();
        assert!(manifest.contains(
            r#"members = ["bench", "labkit", "sdk", "task1", "task2", "task3", "task4"]"#
        ));
        assert!(!manifest.contains("\"test-programs\""), "{manifest}");
        assert!(CARGO_CONFIG.contains("simd128"));
    }

    #[test]
    fn the_lab_runs_every_component_and_python_program() {
        let all: Vec<&str> = STEPS.iter().flat_map(|(_, s)| s.iter().copied()).collect();
        for c in ["task1", "task2", "task3", "task4"] {
            assert!(all.iter().any(|a| a.contains(&format!("{c}.wasm"))), "{c}");
        }
        for p in ["lab/task1.py", "lab/task4.py"] {
            assert!(all.iter().any(|a| a.ends_with(p)), "{p}");
        }
    }
}
