//! The size of the on-disk caches: least recently used files go first.
//!
//! Three caches share the user's cache directory: compiled components
//! (`<dir>/*.cwasm`, ~34 MB for a Python program), Cranelift's output per
//! function (`<dir>/functions/`) and Python programs built into components
//! (`<dir>/python/`, ~19 MB each). Every edit of a Python program adds one
//! of each, so without a bound the directory grows by ~50 MB an edit.
//!
//! A file's modification time is its last use: a cache hit sets it to now
//! ([`touch`]; [`read_and_touch`] for the per-function entries, marked
//! again only after ten minutes), and after a cache writes a new entry, [`prune`] removes the
//! oldest files until the whole directory is within its limit
//! ([`limit`]: `RAYLAB_CACHE_LIMIT_MB`, 2048 MiB by default; 0 turns
//! pruning off). Removing a file another process has mapped is safe on
//! Unix (the mapping stays valid); two processes pruning at once only race
//! to remove the same files. Files younger than a minute are never removed,
//! so an entry just written cannot vanish before its writer loads it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Default limit of the cache directory, in MiB.
pub const DEFAULT_LIMIT_MB: u64 = 2048;

/// Files used this recently are kept whatever the limit.
const GRACE: Duration = Duration::from_secs(60);

/// The cache directory's size limit in bytes: `RAYLAB_CACHE_LIMIT_MB`, or
/// [`DEFAULT_LIMIT_MB`]; `None` when set to 0 (no pruning).
pub fn limit() -> Option<u64> {
    let mb = std::env::var("RAYLAB_CACHE_LIMIT_MB")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_LIMIT_MB);
    (mb > 0).then(|| mb.saturating_mul(1 << 20))
}

/// Mark a cache entry as used now (best effort: a read-only file system
/// only loses the ordering).
pub fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().write(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Read a cache entry and mark it used: one open for both, and the time
/// set only when the last mark is older than [`TOUCH_AFTER`] (a
/// recompile reads thousands of function entries).
pub fn read_and_touch(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = std::fs::File::options().read(true).write(true).open(path)?;
    let meta = f.metadata()?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.read_to_end(&mut bytes)?;
    let now = SystemTime::now();
    if meta
        .modified()
        .is_ok_and(|m| now.duration_since(m).unwrap_or_default() > TOUCH_AFTER)
    {
        let _ = f.set_modified(now);
    }
    Ok(bytes)
}

/// An entry marked used this recently is not marked again.
const TOUCH_AFTER: Duration = Duration::from_secs(600);

/// What [`prune`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Bytes in the directory before.
    pub before: u64,
    /// Files removed.
    pub files: usize,
    /// Bytes removed.
    pub bytes: u64,
}

/// Remove the least recently used files under `dir` (recursively) until it
/// holds at most `limit` bytes, sparing files used in the last minute.
/// Temporary files of writers in progress (`*.tmp*`, `*.staged*`, `build-*`
/// directories) count but are left alone.
pub fn prune(dir: &Path, limit: u64) -> Pruned {
    prune_at(dir, limit, SystemTime::now())
}

fn prune_at(dir: &Path, limit: u64, now: SystemTime) -> Pruned {
    let mut files = Vec::new();
    let mut total = 0u64;
    collect(dir, &mut files, &mut total);
    let mut pruned = Pruned {
        before: total,
        ..Pruned::default()
    };
    if total <= limit {
        return pruned;
    }
    files.sort_by_key(|(_, _, used)| *used);
    for (path, len, used) in files {
        if total <= limit {
            break;
        }
        if now.duration_since(used).unwrap_or_default() < GRACE {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
            pruned.files += 1;
            pruned.bytes += len;
        }
    }
    if pruned.files > 0 {
        tracing::info!(
            dir = %dir.display(),
            files = pruned.files,
            mib = pruned.bytes >> 20,
            "cache over its limit: removed the least recently used entries"
        );
    }
    pruned
}

fn collect(dir: &Path, files: &mut Vec<(PathBuf, u64, SystemTime)>, total: &mut u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if meta.is_dir() {
            if name.starts_with("build-") {
                continue;
            }
            collect(&path, files, total);
        } else if meta.is_file() {
            *total += meta.len();
            if name.contains(".tmp") || name.contains(".staged") {
                continue;
            }
            let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            files.push((path, meta.len(), used));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, len: usize, age_s: u64, now: SystemTime) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, vec![0u8; len]).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(now - Duration::from_secs(age_s)).unwrap();
        path
    }

    #[test]
    fn oldest_files_go_first_until_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let old = file(dir.path(), "a.cwasm", 1000, 3600, now);
        let older = file(dir.path(), "functions/f1", 1000, 7200, now);
        let recent = file(dir.path(), "python/p.wasm", 1000, 600, now);
        let p = prune_at(dir.path(), 2000, now);
        assert_eq!(
            p,
            Pruned {
                before: 3000,
                files: 1,
                bytes: 1000
            }
        );
        assert!(!older.exists());
        assert!(old.exists() && recent.exists());
        // Within the limit: nothing to do.
        assert_eq!(prune_at(dir.path(), 2000, now).files, 0);
    }

    #[test]
    fn a_touched_entry_outlives_an_untouched_one() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let a = file(dir.path(), "a.cwasm", 1000, 7200, now);
        let b = file(dir.path(), "b.cwasm", 1000, 3600, now);
        touch(&a);
        // `touch` set a's time to the real now; prune as of a minute later.
        prune_at(dir.path(), 1000, now + GRACE + Duration::from_secs(1));
        assert!(a.exists(), "the entry used last is kept");
        assert!(!b.exists());
    }

    #[test]
    fn reading_an_old_entry_marks_it_used() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let path = file(dir.path(), "functions/f", 10, 7200, now);
        assert_eq!(read_and_touch(&path).unwrap(), vec![0u8; 10]);
        let used = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert!(now.duration_since(used).unwrap_or_default() < Duration::from_secs(60));
    }

    #[test]
    fn recent_and_in_progress_files_are_spared() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let fresh = file(dir.path(), "new.cwasm", 1000, 5, now);
        let tmp = file(dir.path(), "x.cwasm.tmp123", 1000, 7200, now);
        let building = file(dir.path(), "python/build-abc/out.wasm", 1000, 7200, now);
        let p = prune_at(dir.path(), 0, now);
        assert_eq!(p.files, 0);
        assert!(fresh.exists() && tmp.exists() && building.exists());
    }
}
