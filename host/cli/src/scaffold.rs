//! `raylab-host new`: a new project that builds and runs with the two
//! commands its README gives, outside this repository.
//!
//! A Rust project depends on the guest SDK by path, and the path is a copy
//! of the SDK compiled into this binary (its source and the WIT contract,
//! [`sdk_dir`]), extracted once per SDK version to the user's data
//! directory (`$XDG_DATA_HOME/raylab/sdk/raylab-guest-VERSION-HASH`). So
//! the SDK a project builds against is exactly the one the running
//! `raylab-host` speaks, and no checkout or registry release is needed. The
//! project's `.cargo/config.toml` builds for `wasm32-wasip2` with SIMD and
//! makes `raylab-host runner` Cargo's runner, so `cargo run` and `cargo
//! test` run the component on raylab (tests call `.remote()` for real).
//!
//! A Python project is a program (`app.py`) plus, for editors, the
//! `raylab` package under `.raylab/python` (dot-directories are never
//! bundled, so it cannot shadow the runtime's own copy) with the settings
//! that point Pyright/Pylance at it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// A file of the Rust guest SDK, by its path under `guest-tasks/sdk`.
macro_rules! sdk_file {
    ($path:literal) => {
        (
            $path,
            include_str!(concat!("../../../guest-tasks/sdk/", $path)),
        )
    };
}

/// The Rust guest SDK as this binary was built with it (its own tests,
/// `src/tests.rs`, need the repository and stay out). A test checks that
/// this list is every file of the SDK.
pub const RUST_SDK: &[(&str, &str)] = &[
    sdk_file!("Cargo.toml"),
    sdk_file!("src/lib.rs"),
    sdk_file!("src/actor.rs"),
    sdk_file!("src/codec.rs"),
    sdk_file!("src/placement.rs"),
    sdk_file!("src/math.rs"),
    sdk_file!("macros/Cargo.toml"),
    sdk_file!("macros/src/lib.rs"),
    sdk_file!("wit/runtime.wit"),
    sdk_file!("wit/deps/cli/cli.wit"),
    sdk_file!("wit/deps/clocks/clocks.wit"),
    sdk_file!("wit/deps/filesystem/filesystem.wit"),
    sdk_file!("wit/deps/io/io.wit"),
    sdk_file!("wit/deps/random/random.wit"),
    sdk_file!("wit/deps/sockets/sockets.wit"),
];

/// The versions of the SDK's dependencies that this repository builds and
/// tests its guests with: a new project starts from them (Cargo drops what
/// it does not use), so it builds with what was tested, offline when the
/// registry cache has them.
const GUEST_LOCK: &str = include_str!("../../../guest-tasks/Cargo.lock");

/// The language of a new project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A Rust crate built into a WebAssembly component.
    Rust,
    /// A Python program run by raylab's Python runtime.
    Python,
}

/// What a new project starts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// Remote functions and a driver that fans out calls and gathers them
    /// (`@ray.remote def f`, `ray.get([f.remote(x) ...])`).
    Task,
    /// An actor: state that lives between calls in a sandbox of its own.
    Actor,
    /// Remote functions only, callable by name from drivers in any
    /// language (`--plugin NAME=...`); Rust only.
    Plugin,
    /// A driver that handles results as they finish (`ray.wait`) under a
    /// deadline.
    Driver,
}

/// `raylab-host new`'s arguments.
#[derive(clap::Args, Debug)]
pub struct NewArgs {
    /// The project's name: a directory of that name is made (letters,
    /// digits, `-` and `_`, starting with a letter).
    pub name: String,
    /// The language.
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: Lang,
    /// What it starts as.
    #[arg(long, value_enum, default_value = "task")]
    pub template: Template,
    /// Make the project here instead of `./NAME`.
    #[arg(long)]
    pub path: Option<PathBuf>,
}

/// raylab's per-user data directory (`$XDG_DATA_HOME/raylab`, else
/// `~/.local/share/raylab`), where `scripts/setup.sh` also puts the Python
/// tool chain.
pub fn data_dir() -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .context("neither XDG_DATA_HOME nor HOME is set: no data directory for the SDK")?;
    Ok(base.join("raylab"))
}

/// The SDK's `Cargo.toml` as a dependency outside this repository: its
/// dev-dependencies (the repository's lab helpers, for its own tests) go.
fn standalone_manifest(manifest: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in manifest.lines() {
        if line.starts_with('[') {
            skipping = line.trim() == "[dev-dependencies]";
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The directory holding the Rust SDK compiled into this binary, extracted
/// there first if it is not yet (atomically: a directory appears whole or
/// not at all, so two `new`s at once are fine).
pub fn sdk_dir() -> anyhow::Result<PathBuf> {
    sdk_dir_in(&data_dir()?)
}

/// [`sdk_dir`] under the data directory `data`.
pub fn sdk_dir_in(data: &Path) -> anyhow::Result<PathBuf> {
    let root = data.join("sdk");
    let dir = root.join(format!(
        "raylab-guest-{}-{}",
        env!("CARGO_PKG_VERSION"),
        digest_of(RUST_SDK.iter().copied())
    ));
    if dir.join("Cargo.toml").is_file() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&root)
        .with_context(|| format!("cannot make the SDK directory {}", root.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".extracting-")
        .tempdir_in(&root)
        .with_context(|| format!("cannot write under {}", root.display()))?;
    write_files(
        staging.path(),
        RUST_SDK.iter().map(|&(path, text)| {
            let text = if path == "Cargo.toml" {
                standalone_manifest(text)
            } else {
                text.to_string()
            };
            (path, text)
        }),
    )?;
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &dir) {
        let _ = std::fs::remove_dir_all(&staged);
        // Another `new` extracted the same SDK meanwhile.
        if !dir.join("Cargo.toml").is_file() {
            return Err(e).with_context(|| format!("cannot make {}", dir.display()));
        }
    }
    Ok(dir)
}

/// The first 12 hex digits of a SHA-256 over `files` (paths and texts):
/// what names a copy of embedded files, so that other contents get another
/// directory.
pub(crate) fn digest_of<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut hash = Sha256::new();
    for (path, text) in files {
        hash.update(path.as_bytes());
        hash.update([0]);
        hash.update(text.as_bytes());
        hash.update([0]);
    }
    format!("{:x}", hash.finalize())[..12].to_string()
}

/// Write `files` under `dir` (each path relative to it), making the
/// directories they need.
pub(crate) fn write_files<'a>(
    dir: &Path,
    files: impl IntoIterator<Item = (&'a str, String)>,
) -> anyhow::Result<()> {
    for (path, text) in files {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot make {}", parent.display()))?;
        }
        std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(())
}

/// Check a project name: it becomes a crate name, a directory and a file
/// name.
fn check_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.len() <= 64;
    if !ok {
        bail!(
            "`{name}` cannot name a project: use letters, digits, `-` and `_`, starting with a letter"
        );
    }
    const RESERVED: [&str; 8] = [
        "test",
        "std",
        "core",
        "alloc",
        "proc_macro",
        "self",
        "super",
        "crate",
    ];
    if RESERVED.contains(&name) {
        bail!("`{name}` is reserved by Rust: choose another name");
    }
    Ok(())
}

/// Fill a template's `{{name}}`, `{{crate}}` (the name as a Rust
/// identifier), `{{sdk}}` and `{{wasm}}` (the built component's file).
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (key, value) in vars {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    out
}

/// The files of a new project, by path relative to its directory.
pub fn files(
    name: &str,
    lang: Lang,
    template: Template,
    sdk: &Path,
) -> anyhow::Result<Vec<(String, String)>> {
    check_name(name)?;
    let krate = name.replace('-', "_");
    let sdk = sdk.display().to_string();
    let wasm = match template {
        // A library's file takes the crate's name (underscores).
        Template::Plugin => format!("{krate}.wasm"),
        _ => format!("{name}.wasm"),
    };
    let vars = [
        ("name", name),
        ("crate", krate.as_str()),
        ("sdk", sdk.as_str()),
        ("wasm", wasm.as_str()),
    ];
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |path: &str, text: &str| out.push((path.to_string(), fill(text, &vars)));
    match lang {
        Lang::Rust => {
            add(".gitignore", "/target\n");
            add(".cargo/config.toml", templates::CARGO_CONFIG);
            add("Cargo.lock", GUEST_LOCK);
            let (main, readme) = match template {
                Template::Task => (templates::RUST_TASK, templates::RUST_README_TASK),
                Template::Actor => (templates::RUST_ACTOR, templates::RUST_README_ACTOR),
                Template::Driver => (templates::RUST_DRIVER, templates::RUST_README_DRIVER),
                Template::Plugin => {
                    add("Cargo.toml", templates::RUST_PLUGIN_MANIFEST);
                    add("src/lib.rs", templates::RUST_PLUGIN);
                    add("examples/call.rs", templates::RUST_PLUGIN_CALL);
                    add("README.md", templates::RUST_README_PLUGIN);
                    return Ok(out);
                }
            };
            add("Cargo.toml", templates::RUST_MANIFEST);
            add("src/main.rs", main);
            add("README.md", readme);
        }
        Lang::Python => {
            let (app, readme) = match template {
                Template::Task => (templates::PY_TASK, templates::PY_README_TASK),
                Template::Actor => (templates::PY_ACTOR, templates::PY_README_ACTOR),
                Template::Driver => (templates::PY_DRIVER, templates::PY_README_DRIVER),
                Template::Plugin => bail!(
                    "a plugin is a component other modules call by name, and raylab's Python \
                     programs are drivers: write the plugin in Rust (--lang rust --template \
                     plugin) and call it from Python with ray.remote_function(\"NAME/function\")"
                ),
            };
            add("app.py", app);
            add("README.md", readme);
            add(".gitignore", "__pycache__/\n");
            // For editors: the package itself, where Pyright and Pylance
            // look (never bundled: dot-directories are skipped).
            for (path, text) in crate::python::SDK_FILES {
                if path.starts_with("raylab/") {
                    add(&format!(".raylab/python/{path}"), text);
                }
            }
            add("pyrightconfig.json", templates::PYRIGHT);
            add(".vscode/settings.json", templates::VSCODE);
        }
    }
    Ok(out)
}

/// `raylab-host new`: make the project and say how to build and run it.
pub fn new(args: &NewArgs) -> anyhow::Result<()> {
    check_name(&args.name)?;
    let dir = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty: choose another name or --path",
            dir.display()
        );
    }
    let sdk = match args.lang {
        Lang::Rust => sdk_dir()?,
        Lang::Python => PathBuf::new(),
    };
    let files = files(&args.name, args.lang, args.template, &sdk)?;
    write_files(&dir, files.iter().map(|(p, t)| (p.as_str(), t.clone())))?;
    let shown = dir.display();
    println!(
        "Made {shown} ({:?} {:?}). Build and run it:",
        args.lang, args.template
    );
    println!("    cd {shown}");
    // The README's own commands (its indented block), so the two agree.
    let readme = files
        .iter()
        .find(|(p, _)| p == "README.md")
        .map(|(_, t)| t.as_str())
        .unwrap_or_default();
    for line in readme.lines().filter(|l| l.starts_with("    ")) {
        println!("{line}");
    }
    if args.lang == Lang::Rust {
        println!("It builds against the SDK in {}.", sdk.display());
    }
    Ok(())
}

/// The templates' text.
mod templates {
    pub(super) const CARGO_CONFIG: &str = r#"# Guests are WebAssembly components for WASI 0.2.
[build]
target = "wasm32-wasip2"

[target.wasm32-wasip2]
# WebAssembly SIMD: raylab_guest::math runs two lanes at once with it.
rustflags = ["-C", "target-feature=+simd128"]
# `cargo run` and `cargo test` run the component on raylab.
runner = ["raylab-host", "runner"]
"#;

    pub(super) const RUST_MANIFEST: &str = r#"[package]
name = "{{name}}"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
# The SDK of the raylab-host that made this project (`raylab-host new`
# extracted it there).
raylab-guest = { path = "{{sdk}}" }

[profile.release]
strip = "debuginfo"
"#;

    pub(super) const RUST_PLUGIN_MANIFEST: &str = r#"[package]
name = "{{name}}"
version = "0.1.0"
edition = "2024"
publish = false

# A plugin is a library component; `rlib` too, so that tests link it.
[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
# The SDK of the raylab-host that made this project (`raylab-host new`
# extracted it there).
raylab-guest = { path = "{{sdk}}" }

[profile.release]
strip = "debuginfo"
"#;

    pub(super) const RUST_TASK: &str = r#"//! {{name}}: remote functions and the driver that calls them.
//!
//! Each `square::remote(x)` call runs in a sandbox of its own, in parallel
//! with the others; `get_all` waits for the results in order.

use raylab_guest::{Error, get_all, remote, tasks};

/// Square a number: a plain function, and a remote one.
#[remote]
pub fn square(x: i64) -> i64 {
    x * x
}

fn main() -> Result<(), Error> {
    let n: i64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let refs: Vec<_> = (0..n).map(square::remote).collect();
    let squares = get_all(&refs)?;
    println!("squares: {squares:?}");
    println!("sum of squares below {n}: {}", squares.iter().sum::<i64>());
    Ok(())
}

// Every remote function (and actor class) of the module, for the host.
tasks!(square);

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain call: natively too (`cargo test --target <host triple>`).
    #[test]
    fn square_squares() {
        assert_eq!(square(7), 49);
    }

    /// A remote call: `cargo test` runs on raylab (see .cargo/config.toml).
    #[cfg(target_family = "wasm")]
    #[test]
    fn square_runs_remotely() {
        assert_eq!(square::remote(-8).get().unwrap(), 64);
    }
}
"#;

    pub(super) const RUST_ACTOR: &str = r#"//! {{name}}: an actor, state that lives between calls in a sandbox of
//! its own, and a driver that uses it.

use raylab_guest::{Error, actor, tasks};

/// A running total.
pub struct Counter {
    total: i64,
    calls: u64,
}

#[actor]
impl Counter {
    pub fn new(start: i64) -> Self {
        Counter { total: start, calls: 0 }
    }

    /// Add `x`; the new total.
    pub fn add(&mut self, x: i64) -> i64 {
        self.total += x;
        self.calls += 1;
        self.total
    }

    /// How many calls `add` had.
    pub fn calls(&self) -> u64 {
        self.calls
    }
}

fn main() -> Result<(), Error> {
    let counter = Counter::remote(100);
    // Calls from one caller run in order, one at a time.
    let last = (1..=10).map(|x| counter.add(x)).last().expect("ten calls");
    println!("total: {}", last.get()?);
    println!("calls: {}", counter.calls().get()?);
    Ok(())
}

tasks!(Counter);

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain methods: natively too (`cargo test --target <host triple>`).
    #[test]
    fn the_counter_adds() {
        let mut local = Counter::new(1);
        assert_eq!(local.add(2), 3);
        assert_eq!(local.calls(), 1);
    }

    /// A real actor: `cargo test` runs on raylab (see .cargo/config.toml).
    #[cfg(target_family = "wasm")]
    #[test]
    fn the_counter_keeps_its_total_between_calls() {
        let remote = Counter::remote(5);
        remote.add(1);
        assert_eq!(remote.add(4).get().unwrap(), 10);
        assert_eq!(remote.calls().get().unwrap(), 2);
    }
}
"#;

    pub(super) const RUST_DRIVER: &str = r#"//! {{name}}: a driver that handles results as they finish (`ray.wait`),
//! with a deadline for the stragglers.

use std::time::{Duration, Instant};

use raylab_guest::{Error, remote, tasks, wait};

/// Some work that takes `ms` milliseconds; returns what it was given.
#[remote]
pub fn work(id: u64, ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    id
}

fn main() -> Result<(), Error> {
    let start = Instant::now();
    // Five jobs of different lengths, and one that would take too long.
    let mut pending: Vec<_> = [(1, 300), (2, 100), (3, 200), (4, 50), (5, 150), (6, 60_000)]
        .into_iter()
        .map(|(id, ms)| work::remote(id, ms))
        .collect();
    let deadline = Duration::from_secs(2);
    while !pending.is_empty() {
        let left = deadline.saturating_sub(start.elapsed());
        let (ready, rest) = wait(pending, 1, Some(left))?;
        if ready.is_empty() {
            println!("{} still running after {deadline:?}: cancelled", rest.len());
            for r in &rest {
                r.cancel()?;
            }
            break;
        }
        for r in ready {
            println!("finished: job {}", r.get()?);
        }
        pending = rest;
    }
    Ok(())
}

tasks!(work);

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain call: natively too (`cargo test --target <host triple>`).
    #[test]
    fn work_returns_its_id() {
        assert_eq!(work(3, 0), 3);
    }

    /// Real tasks: `cargo test` runs on raylab (see .cargo/config.toml).
    #[cfg(target_family = "wasm")]
    #[test]
    fn wait_hands_back_the_first_to_finish() {
        let slow = work::remote(1, 500);
        let quick = work::remote(2, 10);
        let (ready, rest) = wait(vec![slow, quick], 1, None).unwrap();
        assert_eq!(ready[0].get().unwrap(), 2);
        assert_eq!(rest.len(), 1);
    }
}
"#;

    pub(super) const RUST_PLUGIN: &str = r#"//! {{name}}: a plugin, remote functions that any driver calls by name
//! (`{{crate}}/mean`), in any language, once it is loaded with
//! `--plugin {{crate}}=target/wasm32-wasip2/release/{{wasm}}`.

use raylab_guest::{remote, tasks};

/// The mean of some numbers; an error for none.
#[remote]
pub fn mean(xs: Vec<f64>) -> Result<f64, String> {
    if xs.is_empty() {
        return Err("the mean of no numbers".into());
    }
    Ok(xs.iter().sum::<f64>() / xs.len() as f64)
}

/// The largest of some numbers, if any.
#[remote]
pub fn largest(xs: Vec<f64>) -> Option<f64> {
    xs.into_iter().reduce(f64::max)
}

tasks!(mean, largest);

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain calls: natively too (`cargo test --target <host triple>`).
    #[test]
    fn mean_and_largest() {
        assert_eq!(mean(vec![1.0, 2.0, 6.0]), Ok(3.0));
        assert!(mean(vec![]).is_err());
        assert_eq!(largest(vec![3.0, 9.5, -1.0]), Some(9.5));
    }

    /// A real task: `cargo test` runs on raylab (see .cargo/config.toml).
    #[cfg(target_family = "wasm")]
    #[test]
    fn largest_runs_remotely() {
        assert_eq!(largest::remote(vec![3.0, 9.5, -1.0]).get().unwrap(), Some(9.5));
    }
}
"#;

    pub(super) const RUST_PLUGIN_CALL: &str = r#"//! A driver calling the plugin by name, as a driver compiled elsewhere
//! (or written in Python) would:
//!
//!     cargo build --release --lib --examples
//!     raylab-host run target/wasm32-wasip2/release/examples/call.wasm \
//!         --plugin {{crate}}=target/wasm32-wasip2/release/{{wasm}}

use raylab_guest::{Error, ObjectRef, TaskOptions, submit, tasks};

fn main() -> Result<(), Error> {
    let xs = vec![2.0, 4.0, 9.0];
    let mean: ObjectRef<f64> = submit("{{crate}}/mean", &(&xs,), &TaskOptions::new())?;
    let largest: ObjectRef<Option<f64>> = submit("{{crate}}/largest", &(&xs,), &TaskOptions::new())?;
    println!("mean: {}", mean.get()?);
    println!("largest: {:?}", largest.get()?);
    Ok(())
}

tasks!();
"#;

    pub(super) const RUST_README_TASK: &str = r#"# {{name}}

Remote functions and a driver, on raylab: each
`square::remote(x)` runs in a WebAssembly sandbox of its own.

    cargo build --release
    raylab-host run target/wasm32-wasip2/release/{{wasm}} -- 5

`cargo test` runs the tests on raylab (`.cargo/config.toml` makes
`raylab-host runner` Cargo's runner), so they can call `.remote()`;
`cargo test --target x86_64-unknown-linux-gnu` (your machine's triple: `rustc
-vV`) runs the plain-function tests natively.
"#;

    pub(super) const RUST_README_ACTOR: &str = r#"# {{name}}

An actor on raylab: a `Counter` whose state lives between calls in a
sandbox of its own.

    cargo build --release
    raylab-host run target/wasm32-wasip2/release/{{wasm}}

`cargo test` runs the tests on raylab (`.cargo/config.toml` makes
`raylab-host runner` Cargo's runner), so they can create actors;
`cargo test --target x86_64-unknown-linux-gnu` (your machine's triple: `rustc
-vV`) runs the plain-method tests natively.
"#;

    pub(super) const RUST_README_DRIVER: &str = r#"# {{name}}

A raylab driver that handles results as they finish (`wait`) and cancels
what is still running at its deadline.

    cargo build --release
    raylab-host run target/wasm32-wasip2/release/{{wasm}}

`cargo test` runs the tests on raylab (`.cargo/config.toml` makes
`raylab-host runner` Cargo's runner); `cargo test --target
x86_64-unknown-linux-gnu` (your machine's triple: `rustc -vV`) runs the
plain-function test natively.
"#;

    pub(super) const RUST_README_PLUGIN: &str = r#"# {{name}}

A raylab plugin: remote functions any driver calls by name
(`{{crate}}/mean`, `{{crate}}/largest`), in Rust or Python. `examples/call.rs`
is such a driver.

    cargo build --release --lib --examples
    raylab-host run target/wasm32-wasip2/release/examples/call.wasm --plugin {{crate}}=target/wasm32-wasip2/release/{{wasm}}

From Python: `ray.remote_function("{{crate}}/mean").remote([1.0, 2.0])`,
with the same `--plugin`. `cargo test` runs the tests on raylab; `cargo
test --lib --target x86_64-unknown-linux-gnu` (your machine's triple) runs
the plain-function ones natively (`--lib`: the plugin's own library
component does not link natively).
"#;

    pub(super) const PY_TASK: &str = r#"""" {{name}}: a Ray program on raylab. Run it with

    raylab-host run app.py

With `import ray` instead of the line below, it runs on Ray unchanged.
"""

import raylab as ray


@ray.remote
def square(x):
    return x * x


refs = [square.remote(i) for i in range(10)]
squares = ray.get(refs)
print("squares:", squares)
print("sum of squares below 10:", sum(squares))
"#;

    pub(super) const PY_ACTOR: &str = r#"""" {{name}}: an actor on raylab. Run it with

    raylab-host run app.py

With `import ray` instead of the line below, it runs on Ray unchanged.
"""

import raylab as ray


@ray.remote
class Counter:
    def __init__(self, start):
        self.total = start
        self.calls = 0

    def add(self, x):
        self.total += x
        self.calls += 1
        return self.total


counter = Counter.remote(100)
last = [counter.add.remote(x) for x in range(1, 11)][-1]
print("total:", ray.get(last))
"#;

    pub(super) const PY_DRIVER: &str = r#"""" {{name}}: a driver that handles results as they finish. Run it with

    raylab-host run app.py

With `import ray` instead of the line below, it runs on Ray unchanged.
"""

import time

import raylab as ray


@ray.remote
def work(job, seconds):
    time.sleep(seconds)
    return job


pending = [work.remote(job, s) for job, s in [(1, 0.3), (2, 0.1), (3, 0.2), (4, 60)]]
deadline = time.monotonic() + 2
while pending:
    ready, pending = ray.wait(pending, num_returns=1, timeout=max(0, deadline - time.monotonic()))
    if not ready:
        print(len(pending), "still running at the deadline: cancelled")
        for ref in pending:
            ray.cancel(ref)
        break
    print("finished: job", ray.get(ready[0]))
"#;

    pub(super) const PY_README_TASK: &str = r#"# {{name}}

A Ray program on raylab: `@ray.remote` functions, each call in a sandbox.

    raylab-host run app.py

An edit reruns at once (no build). `.raylab/python` holds the `raylab`
package for your editor's completion; the runtime has its own copy.
"#;

    pub(super) const PY_README_ACTOR: &str = r#"# {{name}}

A Ray actor on raylab: a `Counter` whose state lives between calls.

    raylab-host run app.py

`.raylab/python` holds the `raylab` package for your editor's completion.
"#;

    pub(super) const PY_README_DRIVER: &str = r#"# {{name}}

A raylab driver that handles results as they finish (`ray.wait`) and
cancels what is left at its deadline.

    raylab-host run app.py

`.raylab/python` holds the `raylab` package for your editor's completion.
"#;

    pub(super) const PYRIGHT: &str = r#"{
  "extraPaths": [".raylab/python"]
}
"#;

    pub(super) const VSCODE: &str = r#"{
  "python.analysis.extraPaths": [".raylab/python"]
}
"#;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `dir`, relative to `root`.
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }

    #[test]
    fn the_embedded_sdk_is_every_file_of_the_sdk() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-tasks/sdk");
        let mut on_disk = Vec::new();
        walk(&root, &root, &mut on_disk);
        on_disk.retain(|p| p != "src/tests.rs");
        on_disk.sort();
        let mut embedded: Vec<String> = RUST_SDK.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk, "update RUST_SDK in scaffold.rs");
    }

    #[test]
    fn the_extracted_manifest_stands_alone() {
        let manifest = standalone_manifest(RUST_SDK[0].1);
        assert!(manifest.contains("[dependencies]"), "{manifest}");
        assert!(!manifest.contains("dev-dependencies"), "{manifest}");
        assert!(!manifest.contains("labkit"), "{manifest}");
        assert!(!manifest.contains("workspace = true"), "{manifest}");
        assert!(manifest.contains("[lints.rust]"), "{manifest}");
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "1x", "a b", "a/b", "../x", "self", "x.y"] {
            assert!(
                files(bad, Lang::Rust, Template::Task, Path::new("/sdk")).is_err(),
                "{bad}"
            );
        }
        assert!(files("my-app_2", Lang::Rust, Template::Task, Path::new("/sdk")).is_ok());
    }

    #[test]
    fn templates_fill_every_placeholder() {
        for lang in [Lang::Rust, Lang::Python] {
            for template in [
                Template::Task,
                Template::Actor,
                Template::Driver,
                Template::Plugin,
            ] {
                let Ok(files) = files("my-app", lang, template, Path::new("/sdk")) else {
                    assert_eq!((lang, template), (Lang::Python, Template::Plugin));
                    continue;
                };
                for (path, text) in &files {
                    if path != "Cargo.lock" && !path.starts_with(".raylab/") {
                        assert!(!text.contains("{{"), "{path}: {text}");
                    }
                }
                let readme = &files.iter().find(|(p, _)| p == "README.md").unwrap().1;
                assert!(readme.contains("raylab-host run"), "{readme}");
                if lang == Lang::Rust {
                    let wasm = if template == Template::Plugin {
                        "my_app.wasm"
                    } else {
                        "my-app.wasm"
                    };
                    assert!(readme.contains(wasm), "{readme}");
                    let manifest = &files.iter().find(|(p, _)| p == "Cargo.toml").unwrap().1;
                    assert!(manifest.contains(r#"path = "/sdk""#), "{manifest}");
                } else {
                    assert!(
                        files
                            .iter()
                            .any(|(p, _)| p == ".raylab/python/raylab/__init__.py")
                    );
                }
            }
        }
    }

    #[test]
    fn the_sdk_is_extracted_once_and_whole() {
        let data = tempfile::tempdir().unwrap();
        let dir = sdk_dir_in(data.path()).unwrap();
        assert!(dir.starts_with(data.path().join("sdk")));
        for (path, _) in RUST_SDK {
            assert!(dir.join(path).is_file(), "{path}");
        }
        assert_eq!(sdk_dir_in(data.path()).unwrap(), dir);
        let entries: Vec<_> = std::fs::read_dir(data.path().join("sdk"))
            .unwrap()
            .collect();
        assert_eq!(entries.len(), 1, "no staging directory is left behind");
    }
}
