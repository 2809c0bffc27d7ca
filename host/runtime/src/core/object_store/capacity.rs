//! The object store's capacity: room for a new object, made by spilling the
//! least recently used ready objects to disk, restoring a spilled object
//! when it is read, and forgetting an object whose last reference went.

use std::sync::Arc;

use crate::core::spill::Spill;
use crate::error::{ErrorKind, TaskError};
use crate::ids::JobId;

use super::{Entry, ObjectId, ObjectStore, State, Waiter};

impl ObjectStore {
    /// Limit what one job may hold, in memory and spilled (default: no
    /// limit beyond the store's own).
    pub(crate) fn with_job_capacity(mut self, bytes: usize) -> Self {
        self.job_capacity = bytes;
        self
    }

    /// Make room in memory for an object of `len` bytes of `job`: within
    /// the job's share (which counts its spilled bytes too), spilling other
    /// objects to disk when memory is full.
    pub(super) fn check_room(&mut self, len: usize, job: JobId) -> Result<(), TaskError> {
        let held = self.job_used.get(&job).copied().unwrap_or(0);
        if held.saturating_add(len) > self.job_capacity {
            return Err(TaskError::new(
                ErrorKind::ObjectStoreFull,
                format!(
                    "object store full for this job: an object of {len} bytes does not fit \
                     (the job holds {held} of its {} bytes; raise --job-object-store-memory)",
                    self.job_capacity
                ),
            ));
        }
        if self.used.saturating_add(len) > self.capacity {
            self.spill_for(len);
        }
        if self.used.saturating_add(len) > self.capacity {
            let spill = self.spill.as_ref().map(Spill::stats).unwrap_or_default();
            return Err(TaskError::new(
                ErrorKind::ObjectStoreFull,
                format!(
                    "object store full: an object of {len} bytes does not fit \
                     ({} of {} bytes in use, {} of {} bytes spilled to disk; raise \
                     --object-store-memory or --spill-size)",
                    self.used, self.capacity, spill.bytes, spill.capacity
                ),
            ));
        }
        Ok(())
    }

    /// Spill ready objects nobody is reading (their bytes are not shared),
    /// oldest first, until `len` more bytes fit in memory or nothing more
    /// can go.
    pub(super) fn spill_for(&mut self, len: usize) {
        let Some(spill) = self.spill.as_mut() else {
            return;
        };
        let mut candidates: Vec<(ObjectId, usize)> = self
            .entries
            .iter()
            .filter_map(|(id, e)| match &e.state {
                State::Ready(b) if Arc::strong_count(b) == 1 && !b.is_empty() => {
                    Some((*id, b.len()))
                }
                _ => None,
            })
            .collect();
        candidates.sort_unstable();
        for (id, size) in candidates {
            if self.used.saturating_add(len) <= self.capacity || !spill.has_room(size) {
                break;
            }
            let entry = self.entries.get_mut(&id).expect("listed");
            let State::Ready(bytes) = &entry.state else {
                continue;
            };
            match spill.write(id, bytes) {
                Ok(()) => {
                    entry.state = State::Spilled(size);
                    self.used -= size;
                }
                Err(e) => {
                    tracing::warn!("cannot spill object {id}: {e}");
                    break;
                }
            }
        }
    }

    /// Bring a spilled object back into memory.
    pub(super) fn restore(&mut self, id: ObjectId, len: usize) -> Result<Arc<Vec<u8>>, TaskError> {
        if self.used.saturating_add(len) > self.capacity {
            self.spill_for(len);
        }
        if self.used.saturating_add(len) > self.capacity {
            return Err(TaskError::new(
                ErrorKind::ObjectStoreFull,
                format!("object {id} is on disk and memory has no room for its {len} bytes"),
            ));
        }
        let spill = self.spill.as_mut().expect("spilled objects have a spill");
        let bytes = Arc::new(spill.restore(id, len).map_err(|e| {
            TaskError::new(
                ErrorKind::Internal,
                format!("cannot read spilled object {id} back: {e}"),
            )
        })?);
        self.used += len;
        self.entries.get_mut(&id).expect("present").state = State::Ready(bytes.clone());
        Ok(bytes)
    }

    /// Account for an object leaving the store.
    pub(super) fn forget(&mut self, id: ObjectId, entry: Entry) -> Vec<Waiter> {
        self.freed += 1;
        if let Some(watcher) = self.watched.remove(&id) {
            watcher.notify_one();
        }
        let len = match entry.state {
            State::Ready(bytes) => {
                self.used -= bytes.len();
                bytes.len()
            }
            State::Spilled(len) => {
                if let Some(spill) = self.spill.as_mut() {
                    spill.remove(id, len);
                }
                len
            }
            State::Pending(w) => return w,
            State::Failed(_) => 0,
            State::Foreign { holds } => {
                self.foreign -= 1;
                if let Some(sink) = &self.foreign_sink {
                    sink(id, holds);
                }
                0
            }
        };
        if let Some(held) = self.job_used.get_mut(&entry.job) {
            *held = held.saturating_sub(len);
        }
        Vec::new()
    }
}
