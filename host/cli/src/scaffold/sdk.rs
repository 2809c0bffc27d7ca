//! The Rust guest SDK compiled into this binary, and its extraction to the
//! user's data directory (`$XDG_DATA_HOME/raylab/sdk/raylab-guest-VERSION-HASH`),
//! once per SDK version, for `new`'s projects (and the lab's guests) to
//! build against.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

/// A file of the Rust guest SDK, by its path under `guest-tasks/sdk`.
macro_rules! sdk_file {
    ($path:literal) => {
        (
            $path,
            include_str!(concat!("../../../../guest-tasks/sdk/", $path)),
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
    sdk_file!("src/gpu.rs"),
    sdk_file!("src/math.rs"),
    sdk_file!("src/options.rs"),
    sdk_file!("src/packed.rs"),
    sdk_file!("src/placement.rs"),
    sdk_file!("src/refs.rs"),
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
        assert_eq!(embedded, on_disk, "update RUST_SDK in scaffold/sdk.rs");
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
