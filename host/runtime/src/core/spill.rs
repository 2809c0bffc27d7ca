//! Spilling: objects written to local disk when the object store's memory
//! is full, and read back when they are needed (Ray's object spilling).
//!
//! One file per object, named by its id, in a directory private to the
//! node (mode 0700), created on the first spill and removed with the node.
//! The disk space is bounded: past it, spilling stops and the store
//! reports `object-store-full`. The store decides what to spill
//! (`object_store`); this module only moves bytes and counts them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// An object's id (the store's, kept opaque here).
use crate::ids::ObjectId;

/// Totals of what was spilled and restored.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SpillStats {
    /// Objects on disk now.
    pub objects: usize,
    /// Bytes on disk now.
    pub bytes: usize,
    /// Most bytes on disk.
    pub capacity: usize,
    /// Bytes written since start.
    pub spilled_total: u64,
    /// Bytes read back since start.
    pub restored_total: u64,
    /// Seconds spent writing.
    pub spill_seconds: f64,
    /// Seconds spent reading back.
    pub restore_seconds: f64,
}

/// A node's spill space.
#[derive(Debug)]
pub(crate) struct Spill {
    /// Where the files go: a directory of its own under `base`, made on
    /// the first spill.
    base: PathBuf,
    dir: Option<PathBuf>,
    stats: SpillStats,
}

impl Spill {
    /// Spill space under `base`, at most `capacity` bytes.
    pub(crate) fn new(base: PathBuf, capacity: usize) -> Self {
        Spill {
            base,
            dir: None,
            stats: SpillStats {
                capacity,
                ..SpillStats::default()
            },
        }
    }

    pub(crate) fn stats(&self) -> SpillStats {
        self.stats
    }

    /// Whether `len` more bytes fit.
    pub(crate) fn has_room(&self, len: usize) -> bool {
        self.stats.bytes.saturating_add(len) <= self.stats.capacity
    }

    fn dir(&mut self) -> std::io::Result<&Path> {
        if self.dir.is_none() {
            std::fs::create_dir_all(&self.base)?;
            let dir = tempfile::Builder::new()
                .prefix("raylab-spill-")
                .tempdir_in(&self.base)?
                .keep();
            // Objects are the jobs' data: private to the user.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
            self.dir = Some(dir);
        }
        Ok(self.dir.as_deref().expect("made above"))
    }

    fn path(&mut self, id: ObjectId) -> std::io::Result<PathBuf> {
        Ok(self.dir()?.join(id.to_string()))
    }

    /// Write object `id`.
    pub(crate) fn write(&mut self, id: ObjectId, bytes: &[u8]) -> std::io::Result<()> {
        let start = Instant::now();
        let path = self.path(id)?;
        let mut f = std::fs::File::create(&path)?;
        if let Err(e) = f.write_all(bytes) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        self.stats.objects += 1;
        self.stats.bytes += bytes.len();
        self.stats.spilled_total += bytes.len() as u64;
        self.stats.spill_seconds += start.elapsed().as_secs_f64();
        Ok(())
    }

    /// Read object `id` (of `len` bytes) back and forget its file.
    pub(crate) fn restore(&mut self, id: ObjectId, len: usize) -> std::io::Result<Vec<u8>> {
        let start = Instant::now();
        let path = self.path(id)?;
        let bytes = std::fs::read(&path)?;
        if bytes.len() != len {
            return Err(std::io::Error::other(format!(
                "spilled object {id} has {} bytes on disk, {len} expected",
                bytes.len()
            )));
        }
        self.remove(id, len);
        self.stats.restored_total += len as u64;
        self.stats.restore_seconds += start.elapsed().as_secs_f64();
        Ok(bytes)
    }

    /// Forget object `id` (of `len` bytes) on disk.
    pub(crate) fn remove(&mut self, id: ObjectId, len: usize) {
        if let Ok(path) = self.path(id) {
            let _ = std::fs::remove_file(path);
        }
        self.stats.objects = self.stats.objects.saturating_sub(1);
        self.stats.bytes = self.stats.bytes.saturating_sub(len);
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_round_trip_through_a_private_directory_that_goes_with_it() {
        let base = tempfile::tempdir().unwrap();
        let mut spill = Spill::new(base.path().to_path_buf(), 100);
        assert!(spill.has_room(100) && !spill.has_room(101));
        spill.write(ObjectId::new(7), b"hello").unwrap();
        let dir = spill.dir.clone().unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(spill.stats().bytes, 5);
        assert!(!spill.has_room(96));
        assert_eq!(spill.restore(ObjectId::new(7), 5).unwrap(), b"hello");
        let s = spill.stats();
        assert_eq!(
            (s.objects, s.bytes, s.spilled_total, s.restored_total),
            (0, 0, 5, 5)
        );
        spill.write(ObjectId::new(8), b"gone").unwrap();
        spill.remove(ObjectId::new(8), 4);
        assert!(!dir.join("8").exists());
        drop(spill);
        assert!(!dir.exists(), "the spill directory goes with the node");
    }
}
