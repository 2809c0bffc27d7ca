//! The size of the on-disk caches: least recently used files go first.
//!
//! Three caches share the user's cache directory: compiled components
//! (`<dir>/*.cwasm`, ~50 MB for raylab's Python runtime), Cranelift's
//! output per function (`<dir>/functions/`) and raylab's Python runtime
//! component (`<dir>/python/`, ~31 MB, one per raylab version). Every new
//! version of a module adds entries, so without a bound the directory
//! grows for ever.
//!
//! A file's modification time is its last use: a cache hit sets it to now
//! ([`touch`]; [`read_and_touch`] for the per-function entries, marked
//! again only after ten minutes), and after a cache writes a new entry,
//! [`prune`] removes the oldest entries until the caches are within their
//! limit ([`limit`]: `RAYLAB_CACHE_LIMIT_MB`, 2048 MiB by default; 0 turns
//! pruning off). Only raylab's own entries are counted and removed (the
//! directory may be shared with other programs). Removing a file another
//! process has mapped is safe on Unix (the mapping stays valid); an entry
//! used in the last minute is never removed (its time is read again just
//! before), so one just written or just hit cannot vanish before its user
//! loads it; two processes pruning at once count each other's removals.

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
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Read a cache entry and mark it used: one open for both, and the time
/// set only when the last mark is older than `TOUCH_AFTER` (a
/// recompile reads thousands of function entries).
pub fn read_and_touch(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    // Read-only: a cache on a read-only file system still serves (setting
    // the time needs only to own the file, and may fail harmlessly).
    let mut f = std::fs::File::open(path)?;
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

/// Temporary files of writers (`*.tmp*`, `*.staged*`) younger than this
/// are left alone; older ones were left by a writer that died.
const ABANDONED: Duration = Duration::from_secs(3600);

/// Remove the least recently used cache entries under `dir` until they
/// hold at most `limit` bytes, sparing entries used in the last minute and
/// writers' temporary files of the last hour. Only raylab's own entries
/// are counted and removed (compiled components `<sha256>-<hash>.cwasm`,
/// `functions/<sha256>`, `python/<sha256>.wasm`): the directory may be
/// one the user shares with other programs.
pub fn prune(dir: &Path, limit: u64) -> Pruned {
    prune_at(dir, limit, SystemTime::now())
}

fn prune_at(dir: &Path, limit: u64, now: SystemTime) -> Pruned {
    let mut files = Vec::new();
    let mut total = 0u64;
    collect(dir, Kind::Components, &mut files, &mut total);
    collect(
        &dir.join("functions"),
        Kind::Functions,
        &mut files,
        &mut total,
    );
    collect(&dir.join("python"), Kind::Python, &mut files, &mut total);
    let mut pruned = Pruned {
        before: total,
        ..Pruned::default()
    };
    if total <= limit {
        return pruned;
    }
    files.sort_by_key(|f| f.used);
    for f in files {
        if total <= limit {
            break;
        }
        let spared = if f.temporary { ABANDONED } else { GRACE };
        // Looked at again just before: another process may have used it
        // since the listing.
        let used = std::fs::metadata(&f.path)
            .and_then(|m| m.modified())
            .unwrap_or(f.used);
        if now.duration_since(used).unwrap_or_default() < spared {
            continue;
        }
        match std::fs::remove_file(&f.path) {
            Ok(()) => {
                total -= f.len;
                pruned.files += 1;
                pruned.bytes += f.len;
            }
            // Another process pruning at the same time removed it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => total -= f.len,
            Err(_) => {}
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

/// What the caches under a directory hold: `(files, bytes)` of each.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Compiled components (`*.cwasm`).
    pub components: (u64, u64),
    /// Cranelift's output per function (`functions/`).
    pub functions: (u64, u64),
    /// raylab's Python runtime components (`python/`).
    pub python: (u64, u64),
}

impl Usage {
    /// Bytes of all three.
    pub fn bytes(&self) -> u64 {
        self.components.1 + self.functions.1 + self.python.1
    }
}

/// What the caches under `dir` hold (raylab's entries only).
pub fn usage(dir: &Path) -> Usage {
    let count = |sub: &Path, kind| {
        let (mut files, mut total) = (Vec::new(), 0);
        collect(sub, kind, &mut files, &mut total);
        (files.len() as u64, total)
    };
    Usage {
        components: count(dir, Kind::Components),
        functions: count(&dir.join("functions"), Kind::Functions),
        python: count(&dir.join("python"), Kind::Python),
    }
}

/// Remove every raylab entry under `dir` (`raylab-host cache clear`),
/// except writers' files of the last hour. Another process's next start
/// compiles again.
pub fn clear(dir: &Path) -> Pruned {
    prune_at(dir, 0, SystemTime::now() + GRACE)
}

/// Which of the caches a directory holds.
#[derive(Clone, Copy)]
enum Kind {
    Components,
    Functions,
    Python,
}

/// A cache file.
struct Entry {
    path: PathBuf,
    len: u64,
    used: SystemTime,
    /// A writer's file, not yet renamed into place.
    temporary: bool,
}

/// Whether `name` is one of raylab's files in a directory of `kind`, and
/// whether it is a writer's temporary file.
fn classify(kind: Kind, name: &str) -> Option<bool> {
    let hex = name.len() >= 64 && name.as_bytes()[..64].iter().all(u8::is_ascii_hexdigit);
    if !hex {
        return None;
    }
    let rest = &name[64..];
    let temporary = rest.contains(".tmp") || rest.contains(".staged");
    let ours = match kind {
        Kind::Components => rest.starts_with('-'),
        Kind::Functions => rest.is_empty() || temporary,
        Kind::Python => rest == ".wasm",
    };
    ours.then_some(temporary)
}

fn collect(dir: &Path, kind: Kind, files: &mut Vec<Entry>, total: &mut u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let name = entry.file_name();
        let Some(temporary) = classify(kind, &name.to_string_lossy()) else {
            continue;
        };
        *total += meta.len();
        files.push(Entry {
            path: entry.path(),
            len: meta.len(),
            used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            temporary,
        });
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

    /// A name as the caches make them: 64 hex digits from `c`, then `rest`.
    fn named(c: char, rest: &str) -> String {
        format!("{}{rest}", c.to_string().repeat(64))
    }

    /// A compiled component's name (`<sha256>-<engine hash>.cwasm`).
    fn cwasm(c: char) -> String {
        named(c, "-0123456789abcdef.cwasm")
    }

    #[test]
    fn oldest_entries_go_first_until_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let old = file(dir.path(), &cwasm('a'), 1000, 3600, now);
        let older = file(
            dir.path(),
            &format!("functions/{}", named('b', "")),
            1000,
            7200,
            now,
        );
        let recent = file(
            dir.path(),
            &format!("python/{}", named('c', ".wasm")),
            1000,
            600,
            now,
        );
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
        let a = file(dir.path(), &cwasm('a'), 1000, 7200, now);
        let b = file(dir.path(), &cwasm('b'), 1000, 3600, now);
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
        let path = file(
            dir.path(),
            &format!("functions/{}", named('f', "")),
            10,
            7200,
            now,
        );
        assert_eq!(read_and_touch(&path).unwrap(), vec![0u8; 10]);
        let used = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert!(now.duration_since(used).unwrap_or_default() < Duration::from_secs(60));
    }

    #[test]
    fn recent_entries_writers_files_and_other_programs_files_are_spared() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let fresh = file(dir.path(), &cwasm('a'), 1000, 5, now);
        let writing = file(
            dir.path(),
            &named('b', "-0123456789abcdef.tmp123"),
            1000,
            600,
            now,
        );
        let building = file(dir.path(), "python/build-abc/out.wasm", 1000, 7200, now);
        let theirs = file(dir.path(), "notes.txt", 1000, 7200, now);
        let p = prune_at(dir.path(), 0, now);
        assert_eq!((p.before, p.files), (2000, 0));
        assert!(fresh.exists() && writing.exists() && building.exists() && theirs.exists());
        // A writer's file left for more than an hour goes.
        let abandoned = file(
            dir.path(),
            &named('c', "-0123456789abcdef.staged9"),
            1000,
            7200,
            now,
        );
        assert_eq!(prune_at(dir.path(), 0, now).files, 1);
        assert!(!abandoned.exists());
    }
}
