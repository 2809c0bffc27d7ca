//! Python guests: `raylab-host run app.py`, `submit app.py` and
//! `build app.py -o app.wasm` turn a Python program into a component with
//! componentize-py (installed by `scripts/setup.sh` in a virtual
//! environment), and cache it by content.
//!
//! The component targets the `driver` world of `wit/runtime.wit`. Its entry
//! module (generated here) hands the program's source to the `raylab`
//! Python package (`guest-tasks/python/raylab`, embedded in this binary
//! with the WIT files, so that an installed `raylab-host` needs nothing
//! else), which defines the remote functions at build time and runs the
//! program as `__main__` when the driver starts. The program's directory is
//! on the module path, so its own modules and pure-Python packages vendored
//! beside it are bundled too.
//!
//! The cache key is the SHA-256 of everything that goes in: the program's
//! file name and source, the other `.py` files beside it, the SDK, the WIT
//! and componentize-py's version. The built component lands in
//! `<cache>/python/<key>.wasm`; the node's compile cache then keeps its
//! compiled form, so a second run of the same source starts at once.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// The `raylab` Python package, as the component bundles it.
const SDK: &[(&str, &str)] = &[
    (
        "raylab/__init__.py",
        include_str!("../../../guest-tasks/python/raylab/__init__.py"),
    ),
    (
        "raylab/_msgpack.py",
        include_str!("../../../guest-tasks/python/raylab/_msgpack.py"),
    ),
    (
        "raylab/_guest.py",
        include_str!("../../../guest-tasks/python/raylab/_guest.py"),
    ),
    // The sandboxed CPython has no `locale` (argparse needs one).
    (
        "locale.py",
        include_str!("../../../guest-tasks/python/shims/locale.py"),
    ),
];

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

/// The component of Python program `app`: from `cache` (`<cache>/python`)
/// when this exact program was built before, else built now (and cached
/// when `cache` is given). `say` reports that a build starts.
pub fn build(app: &Path, cache: Option<&Path>, say: bool) -> anyhow::Result<PathBuf> {
    let source =
        std::fs::read_to_string(app).with_context(|| format!("cannot read {}", app.display()))?;
    let file_name = app
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .context("a Python program needs a file name")?;
    let dir = match app.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tool = componentize_py()?;
    let version = Command::new(&tool)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {}", tool.display()))?;
    let entry = format!(
        "# Generated by raylab-host: the program {name:?}.\n\
         import raylab._guest as _g\n\
         _g.load({name:?}, {source:?})\n\
         from raylab._guest import Run, Task  # noqa: F401\n",
        name = PyStr(&file_name),
        source = PyStr(&source)
    );
    let mut h = Sha256::new();
    h.update(&version.stdout);
    for (name, text) in SDK.iter().chain(WIT) {
        h.update(name.as_bytes());
        h.update(text.as_bytes());
    }
    h.update(entry.as_bytes());
    // The modules beside it are bundled too.
    let mut siblings: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| is_python(p) && p.file_name() != app.file_name())
                .collect()
        })
        .unwrap_or_default();
    siblings.sort();
    for p in &siblings {
        h.update(p.file_name().unwrap_or_default().as_encoded_bytes());
        h.update(std::fs::read(p).unwrap_or_default());
    }
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
    if say {
        eprintln!(
            "raylab: building {file_name} with componentize-py (once per version of the program)"
        );
    }
    let work = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(&out_dir)?;
    for (name, text) in SDK
        .iter()
        .map(|(n, t)| (format!("sdk/{n}"), t))
        .chain(WIT.iter().map(|(n, t)| (format!("wit/{n}"), t)))
    {
        let path = work.path().join(name);
        std::fs::create_dir_all(path.parent().expect("a parent"))?;
        std::fs::write(&path, text)?;
    }
    std::fs::create_dir_all(work.path().join("entry"))?;
    std::fs::write(work.path().join("entry/raylab_entry.py"), &entry)?;
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
        .arg(&dir)
        .arg("-o")
        .arg(&built)
        .arg("raylab_entry")
        .output()
        .with_context(|| format!("cannot run {}", tool.display()))?;
    if !result.status.success() {
        bail!(
            "{file_name}: componentize-py could not build it:\n{}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
    }
    std::fs::rename(&built, &out)?;
    // Every edit adds a component: keep the cache within its limit.
    if let (Some(root), Some(limit)) = (cache, raylab::disk_cache::limit()) {
        raylab::disk_cache::prune(root, limit);
    }
    Ok(out)
}

/// Build `app` into `out` (`raylab-host build`).
pub fn build_to(app: &Path, out: &Path, cache: Option<&Path>) -> anyhow::Result<()> {
    let built = build(app, cache, true)?;
    std::fs::copy(&built, out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

/// A Python string literal of any text (`{:?}` of a Rust string is not
/// one: Rust escapes `\u{..}` differently).
struct PyStr<'a>(&'a str);

impl std::fmt::Debug for PyStr<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    use super::PyStr;

    #[test]
    fn python_string_literals_escape_what_python_needs() {
        let lit = format!("{:?}", PyStr("a\"b\\c\nd\té\u{1}"));
        assert_eq!(lit, "\"a\\\"b\\\\c\\nd\\té\\x01\"");
    }
}
