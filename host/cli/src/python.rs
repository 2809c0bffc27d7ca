//! Python guests: `raylab-host run app.py` and `submit app.py` run a
//! Python program in raylab's Python runtime, one component shared by
//! every program.
//!
//! The runtime component is CPython (componentize-py, installed by
//! `scripts/setup.sh` in a virtual environment with cloudpickle), the
//! `raylab` Python package (`guest-tasks/python/raylab`, embedded in this
//! binary with the WIT files, so that an installed `raylab-host` needs
//! nothing else) and the pure-Python standard library. It is built once per
//! version of those inputs and cached by their SHA-256 in
//! `<cache>/python/<sha256>.wasm` (`raylab-host build` makes it ahead
//! of time); the node's compile cache keeps its compiled form, so every
//! later program starts at once.
//!
//! A program is data, as `python app.py` would read it: the driver gets a
//! *bundle* as its first argument (JSON: the main file's name and the
//! source of every `.py` file beside it and of the packages below it, at
//! most [`BUNDLE_LIMIT`] bytes), runs the main file as `__main__` and
//! serves the others as importable modules; remote functions and classes
//! travel by value (see `raylab/_runtime.py`). Why not a component per
//! program, as before: componentize-py runs a module's top level while it
//! builds (its snapshot is taken after import), so a Ray program's
//! top-level `.remote()` ran at build time, and each edit paid 9-13 s of
//! rebuilding CPython. Now an edit reruns at once.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// A file of the Python SDK, by its path under `guest-tasks/python`.
macro_rules! sdk_file {
    ($path:literal) => {
        (
            $path,
            include_str!(concat!("../../../guest-tasks/python/", $path)),
        )
    };
}

/// The `raylab` Python package, as the runtime component bundles it.
const SDK: &[(&str, &str)] = &[
    sdk_file!("raylab/__init__.py"),
    sdk_file!("raylab/_msgpack.py"),
    sdk_file!("raylab/_codec.py"),
    sdk_file!("raylab/_runtime.py"),
    sdk_file!("raylab/exceptions.py"),
    sdk_file!("raylab/actor.py"),
    sdk_file!("raylab/dag/__init__.py"),
    sdk_file!("raylab/dag/input_node.py"),
    sdk_file!("raylab/dag/output_node.py"),
    sdk_file!("raylab/dag/function_node.py"),
    sdk_file!("raylab/dag/class_node.py"),
    sdk_file!("raylab/dag/dag_node.py"),
    sdk_file!("raylab/_raylet.py"),
    sdk_file!("raylab/_private/__init__.py"),
    sdk_file!("raylab/_private/internal_api.py"),
    sdk_file!("raylab/_private/ray_constants.py"),
    sdk_file!("raylab/runtime_context.py"),
    sdk_file!("raylab/util/__init__.py"),
    sdk_file!("raylab/util/scheduling_strategies.py"),
    sdk_file!("raylab/util/placement_group.py"),
    sdk_file!("raylab/util/actor_pool.py"),
    sdk_file!("raylab/util/queue.py"),
    sdk_file!("raylab/util/serialization.py"),
    sdk_file!("raylab/util/check_serialize.py"),
    sdk_file!("raylab/util/accelerators.py"),
    // The sandboxed CPython has no `locale` (argparse needs one).
    (
        "locale.py",
        include_str!("../../../guest-tasks/python/shims/locale.py"),
    ),
];

/// The Python SDK's files (`raylab/...`), for `raylab-host new`.
pub const SDK_FILES: &[(&str, &str)] = SDK;

/// The contract, with the WASI packages it uses.
const WIT: &[(&str, &str)] = &[
    ("runtime.wit", include_str!("../../../wit/runtime.wit")),
    (
        "deps/cli/cli.wit",
        include_str!("../../../wit/deps/cli/cli.wit"),
    ),
    (
        "deps/clocks/clocks.wit",
        include_str!("../../../wit/deps/clocks/clocks.wit"),
    ),
    (
        "deps/filesystem/filesystem.wit",
        include_str!("../../../wit/deps/filesystem/filesystem.wit"),
    ),
    (
        "deps/io/io.wit",
        include_str!("../../../wit/deps/io/io.wit"),
    ),
    (
        "deps/random/random.wit",
        include_str!("../../../wit/deps/random/random.wit"),
    ),
    (
        "deps/sockets/sockets.wit",
        include_str!("../../../wit/deps/sockets/sockets.wit"),
    ),
];

/// The component's entry module: the exports live in the SDK.
const ENTRY: &str = "from raylab._runtime import Run, Task  # noqa: F401\n";

/// The largest program bundle (the main file and the modules beside it).
pub const BUNDLE_LIMIT: usize = 16 << 20;

/// Whether `path` names a Python program.
pub fn is_python(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "py")
}

/// Where `scripts/setup.sh` puts componentize-py's virtual environment.
fn default_venv() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("raylab/python"))
}

/// The componentize-py to use: `$RAYLAB_COMPONENTIZE_PY`, then the one
/// `scripts/setup.sh` installed, then the one on the PATH.
pub fn componentize_py() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("RAYLAB_COMPONENTIZE_PY") {
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = default_venv().map(|v| v.join("bin/componentize-py"))
        && p.is_file()
    {
        return Ok(p);
    }
    let on_path = Command::new("componentize-py")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        return Ok(PathBuf::from("componentize-py"));
    }
    bail!(
        "running a Python program needs componentize-py: run scripts/setup.sh (it installs it in a \
         virtual environment under ~/.local/share/raylab/python), or `pip install componentize-py` \
         into one of yours and put it on the PATH (or set RAYLAB_COMPONENTIZE_PY)"
    )
}

/// The Python that runs componentize-py's environment, to find
/// cloudpickle in it: the `python3` beside the tool, else the PATH's.
fn python_beside(tool: &Path) -> PathBuf {
    tool.parent()
        .map(|d| d.join("python3"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// The directory holding cloudpickle (a site-packages) and its version.
fn cloudpickle(tool: &Path) -> anyhow::Result<(PathBuf, String)> {
    let python = python_beside(tool);
    let out = Command::new(&python)
        .args([
            "-c",
            "import cloudpickle, os; print(os.path.dirname(os.path.dirname(cloudpickle.__file__))); \
             print(cloudpickle.__version__)",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let mut lines = text.lines();
            let dir = lines.next().unwrap_or_default().trim().to_string();
            let version = lines.next().unwrap_or_default().trim().to_string();
            Ok((PathBuf::from(dir), version))
        }
        _ => bail!(
            "raylab's Python runtime needs cloudpickle beside componentize-py (`{}` cannot import \
             it): run scripts/setup.sh, or `pip install cloudpickle` into componentize-py's \
             environment",
            python.display()
        ),
    }
}

/// raylab's Python runtime component: from `cache` (`<cache>/python`) when
/// this version of it was built before, else built now (and cached when
/// `cache` is given). `say` reports that a build starts.
pub fn runtime(cache: Option<&Path>, say: bool) -> anyhow::Result<PathBuf> {
    let tool = componentize_py()?;
    let version = Command::new(&tool)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {}", tool.display()))?;
    let (site, pickle_version) = cloudpickle(&tool)?;
    let mut h = Sha256::new();
    h.update(&version.stdout);
    h.update(pickle_version.as_bytes());
    h.update(ENTRY.as_bytes());
    for (name, text) in SDK.iter().chain(WIT) {
        h.update(name.as_bytes());
        h.update(text.as_bytes());
    }
    // `<sha256>.wasm`: the cache's own name for it (`raylab-host cache`
    // counts, prunes and clears it as one of raylab's entries).
    let key: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let scratch;
    let out_dir = match cache {
        Some(c) => c.join("python"),
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().to_path_buf()
        }
    };
    let out = out_dir.join(format!("{key}.wasm"));
    if out.is_file() {
        raylab::disk_cache::touch(&out);
        return Ok(out);
    }
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    // One build at a time (tests and jobs may start together); the others
    // wait for it and take its result.
    let lock = std::fs::File::create(out_dir.join("runtime.lock"))?;
    lock.lock()?;
    if out.is_file() {
        return Ok(out);
    }
    if say {
        eprintln!(
            "raylab: building the Python runtime with componentize-py (once per raylab version)"
        );
    }
    let work = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(&out_dir)?;
    for (name, text) in SDK
        .iter()
        .map(|(n, t)| (format!("sdk/{n}"), t))
        .chain(WIT.iter().map(|(n, t)| (format!("wit/{n}"), t)))
        .chain(std::iter::once((
            "entry/raylab_entry.py".to_string(),
            &ENTRY,
        )))
    {
        let path = work.path().join(name);
        std::fs::create_dir_all(path.parent().expect("a parent"))?;
        std::fs::write(&path, text)?;
    }
    // Only cloudpickle from its site-packages: componentize-py bundles
    // what is imported while it builds, from the paths given.
    let deps = work.path().join("deps");
    copy_dir(&site.join("cloudpickle"), &deps.join("cloudpickle"))?;
    let built = work.path().join("out.wasm");
    let result = Command::new(&tool)
        .arg("-q")
        .arg("-d")
        .arg(work.path().join("wit"))
        .args(["-w", "driver", "componentize"])
        .arg("-p")
        .arg(work.path().join("entry"))
        .arg("-p")
        .arg(work.path().join("sdk"))
        .arg("-p")
        .arg(&deps)
        .arg("-o")
        .arg(&built)
        .arg("raylab_entry")
        // No virtual environment or pipenv of the caller's is searched.
        .env_remove("VIRTUAL_ENV")
        .current_dir(work.path())
        .output()
        .with_context(|| format!("cannot run {}", tool.display()))?;
    if !result.status.success() {
        bail!(
            "componentize-py could not build raylab's Python runtime:\n{}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
    }
    std::fs::rename(&built, &out)?;
    if let (Some(root), Some(limit)) = (cache, raylab::disk_cache::limit()) {
        raylab::disk_cache::prune(root, limit);
    }
    Ok(out)
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            if entry.file_name() != "__pycache__" {
                copy_dir(&path, &to.join(entry.file_name()))?;
            }
        } else {
            std::fs::copy(&path, to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// A Python program ready to run: the runtime component, and the
/// arguments its driver takes before the program's own.
pub struct Program {
    /// raylab's Python runtime component.
    pub component: PathBuf,
    /// The module name to load it as (`app.py`).
    pub name: String,
    /// The bundle, then the program's arguments.
    pub args: Vec<String>,
}

/// Prepare `app` to run with `args`: the runtime component (built when
/// needed) and the program's bundle.
pub fn program(
    app: &Path,
    args: &[String],
    cache: Option<&Path>,
    say: bool,
) -> anyhow::Result<Program> {
    let bundle = bundle(app)?;
    let component = runtime(cache, say)?;
    let name = app
        .file_name()
        .map_or_else(|| "app.py".into(), |s| s.to_string_lossy().into_owned());
    let mut all = vec![bundle];
    all.extend_from_slice(args);
    Ok(Program {
        component,
        name,
        args: all,
    })
}

/// The bundle of program `app` (see the module's docs), as JSON.
pub fn bundle(app: &Path) -> anyhow::Result<String> {
    let main = app
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .context("a Python program needs a file name")?;
    let source =
        std::fs::read_to_string(app).with_context(|| format!("cannot read {}", app.display()))?;
    let dir = match app.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut files = serde_json::Map::new();
    let mut total = source.len();
    files.insert(main.clone(), source.into());
    collect(&dir, "", 0, &mut files, &mut total, &main)?;
    let bundle = serde_json::json!({"main": main, "files": files});
    Ok(bundle.to_string())
}

/// Add the `.py` files of `dir` (and the packages below it) to `files`.
fn collect(
    dir: &Path,
    prefix: &str,
    depth: usize,
    files: &mut serde_json::Map<String, serde_json::Value>,
    total: &mut usize,
    main: &str,
) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "__pycache__" {
            continue;
        }
        let path = entry.path();
        let rel = format!("{prefix}{name}");
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            // A package (with its `__init__.py`), not any directory.
            if depth < 8 && path.join("__init__.py").is_file() {
                collect(&path, &format!("{rel}/"), depth + 1, files, total, main)?;
            }
        } else if is_python(&path) && rel != main {
            let Ok(text) = std::fs::read_to_string(&path) else {
                tracing::warn!("{} is not UTF-8: not bundled", path.display());
                continue;
            };
            *total += text.len();
            if *total > BUNDLE_LIMIT {
                bail!(
                    "{main}: the program and the Python files beside it come to more than {} MiB \
                     (at {}): move the program to a directory of its own",
                    BUNDLE_LIMIT >> 20,
                    path.display()
                );
            }
            files.insert(rel, text.into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::bundle;

    #[test]
    fn a_bundle_holds_the_program_its_modules_and_packages_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("app.py"), "import helper\n").unwrap();
        std::fs::write(d.join("helper.py"), "X = 1\n").unwrap();
        std::fs::write(d.join("notes.txt"), "not Python").unwrap();
        std::fs::create_dir_all(d.join("pkg/sub")).unwrap();
        std::fs::write(d.join("pkg/__init__.py"), "").unwrap();
        std::fs::write(d.join("pkg/sub/__init__.py"), "").unwrap();
        std::fs::write(d.join("pkg/sub/m.py"), "Y = 2\n").unwrap();
        // Not a package: not bundled.
        std::fs::create_dir_all(d.join("data")).unwrap();
        std::fs::write(d.join("data/x.py"), "").unwrap();
        let b: serde_json::Value =
            serde_json::from_str(&bundle(&d.join("app.py")).unwrap()).unwrap();
        assert_eq!(b["main"], "app.py");
        let mut files: Vec<&str> = b["files"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                "app.py",
                "helper.py",
                "pkg/__init__.py",
                "pkg/sub/__init__.py",
                "pkg/sub/m.py"
            ]
        );
        assert_eq!(b["files"]["pkg/sub/m.py"], "Y = 2\n");
    }

    /// Every module of the Python SDK is in the runtime (a file missing
    /// from `SDK` would be missing in every sandbox).
    #[test]
    fn the_runtime_bundles_every_file_of_the_python_sdk() {
        fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    if e.file_name() != "__pycache__" {
                        walk(&p, root, out);
                    }
                } else if p.extension().is_some_and(|x| x == "py") {
                    out.push(p.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-tasks/python");
        let mut files = Vec::new();
        walk(&root.join("raylab"), &root, &mut files);
        files.sort();
        let mut listed: Vec<String> = super::SDK
            .iter()
            .map(|(n, _)| n.to_string())
            .filter(|n| n.starts_with("raylab/"))
            .collect();
        listed.sort();
        assert_eq!(listed, files);
    }

    #[test]
    fn a_missing_program_is_a_clear_error() {
        let e = bundle(std::path::Path::new("/nonexistent/app.py")).unwrap_err();
        assert!(
            format!("{e:#}").contains("cannot read /nonexistent/app.py"),
            "{e:#}"
        );
    }
}
