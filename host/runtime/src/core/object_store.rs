//! The object store: immutable MessagePack objects, reference-counted, with
//! a byte capacity. An object is *pending* (a task will produce it), *ready*
//! (bytes) or *failed* (the producing task's error). Objects may contain
//! references to other objects; those are retained while the container
//! lives, so an object nobody can reach any more is freed, recursively.
//!
//! Waiters (tasks waiting for an argument, guests blocked in `get`/`wait`)
//! register on pending objects and are handed back when the object
//! completes; the caller wakes them. Ids are never reused, so a stale id is
//! told apart from a forged one.
//!
//! In a cluster, an object lives on the node that owns it (the top bits of
//! its id, [`owner_node`]). A node that holds references to an object of
//! another node keeps a *stub* for it: an entry without bytes that counts
//! its references (a guest's, a task's arguments, a containing object)
//! like any other, plus the references its owner keeps for this node
//! (`holds`: one per message that brought the id here). When the stub's
//! last reference goes, its holds are handed to the sink set with
//! [`ObjectStore::on_foreign_freed`], which gives them back to the owner:
//! so an object is freed everywhere once no node references it.
//!
//! When memory is full, ready objects that nobody is reading at the moment
//! are spilled to disk, oldest first (`spill`), and read back when someone
//! needs their bytes; `object-store-full` only when the spill space is full
//! too. The spilling happens under the caller's lock: a spill of a large
//! object holds up the node's bookkeeping while it is written, which is the
//! price of never failing where disk would do.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

use crate::core::spill::{Spill, SpillStats};
use crate::error::{ErrorKind, TaskError};
use crate::ids::JobId;
use crate::ids::TaskId;

pub use crate::ids::ObjectId;

/// Who waits for a pending object.
#[derive(Debug, Clone)]
pub(crate) enum Waiter {
    /// A task whose argument this is.
    Task(TaskId),
    /// A guest blocked in `get`/`wait`.
    Signal(Arc<Signal>),
}

/// Wakes a guest blocked in `get`/`wait` once `n` of the objects it waits
/// for have completed: one wake-up per call, however many objects.
#[derive(Debug)]
pub(crate) struct Signal {
    left: AtomicUsize,
    notify: Notify,
}

impl Signal {
    /// A signal that fires after `n` hits.
    pub(crate) fn new(n: usize) -> Arc<Signal> {
        Arc::new(Signal {
            left: AtomicUsize::new(n),
            notify: Notify::new(),
        })
    }

    /// One awaited object completed (or went away).
    pub(crate) fn hit(&self) {
        let prev = self
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if prev == Ok(1) {
            self.notify.notify_one();
        }
    }

    /// Wait until the signal fires.
    pub(crate) async fn fired(&self) {
        self.notify.notified().await;
    }
}

/// Wake the guests among `waiters` (tasks are woken by the scheduler).
pub(crate) fn hit_signals(waiters: Vec<Waiter>) {
    for w in waiters {
        if let Waiter::Signal(s) = w {
            s.hit();
        }
    }
}

/// The state of an object as seen by a reader.
#[derive(Debug, Clone)]
pub(crate) enum Lookup {
    /// Not produced yet.
    Pending,
    /// Its bytes.
    Ready(Arc<Vec<u8>>),
    /// The error of the task that should have produced it.
    Failed(Arc<TaskError>),
}

/// An object's state, without its bytes.
#[derive(Debug, Clone)]
pub(crate) enum Status {
    /// Not produced yet.
    Pending,
    /// Ready (in memory or on disk).
    Ready,
    /// The error of the task that should have produced it.
    Failed(Arc<TaskError>),
}

#[derive(Debug)]
enum State {
    Pending(Vec<Waiter>),
    Ready(Arc<Vec<u8>>),
    /// Ready, on disk: its length.
    Spilled(usize),
    Failed(Arc<TaskError>),
    /// An object of another node: the references its owner keeps for this
    /// node, given back when the stub goes.
    Foreign {
        holds: u32,
    },
}

#[derive(Debug)]
struct Entry {
    /// The job that created it; other jobs cannot see it.
    job: JobId,
    refs: u32,
    state: State,
    contained: Vec<ObjectId>,
}

/// Usage figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct StoreStats {
    /// Objects alive (any state), stubs of other nodes' objects included.
    pub objects: usize,
    /// Of those, stubs: objects of other nodes referenced here.
    pub foreign: usize,
    /// Bytes of ready objects.
    pub bytes: usize,
    /// Capacity in bytes.
    pub capacity: usize,
    /// Objects created so far.
    pub created: u64,
    /// Objects freed so far.
    pub freed: u64,
    /// What is on disk.
    pub spill: SpillStats,
}

/// One object, as `list objects` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ObjectRow {
    /// Its id.
    pub id: ObjectId,
    /// The job that made (or, for a stub, holds) it.
    pub job: JobId,
    /// `PENDING`, `READY`, `SPILLED` (ready, on disk), `FAILED`, or
    /// `REMOTE` (another node's, referenced here).
    pub state: &'static str,
    /// Its size in bytes (0 unless ready or spilled).
    pub size: usize,
    /// References to it here.
    pub refs: u32,
    /// References it holds to other objects.
    pub contains: usize,
    /// The node that owns it (0 outside a cluster).
    pub owner: u16,
}

/// In a cluster, an object id's bits from here up name the node that owns
/// it (ids stay below 2^53, exact in JSON and JavaScript, up to node 8191).
pub(crate) const OWNER_SHIFT: u32 = 40;

/// The node that owns object `id` (0: none said, outside a cluster).
pub(crate) fn owner_node(id: ObjectId) -> u16 {
    (id.get() >> OWNER_SHIFT) as u16
}

/// Where the holds of a freed stub go: (object, holds to give back).
pub(crate) type ForeignSink = Box<dyn Fn(ObjectId, u32) + Send>;

fn elsewhere(id: ObjectId) -> TaskError {
    TaskError::new(
        ErrorKind::Internal,
        format!(
            "object {id} lives on node {}: it is read from there",
            owner_node(id)
        ),
    )
}

/// The store.
pub(crate) struct ObjectStore {
    entries: crate::ids::IdMap<Entry, ObjectId>,
    /// Bytes of ready objects per job, and the most one job may hold.
    job_used: crate::ids::IdMap<usize, JobId>,
    job_capacity: usize,
    next_id: u64,
    /// Objects created so far.
    created: u64,
    capacity: usize,
    used: usize,
    freed: u64,
    spill: Option<Spill>,
    /// Objects someone wants to hear of when they are freed (an actor's
    /// handle: the actor dies with its last handle).
    watched: crate::ids::IdMap<Arc<Notify>, ObjectId>,
    /// Stubs alive.
    foreign: usize,
    /// The node this store is on (0: none, outside a cluster).
    node: u16,
    /// Gives the holds of freed stubs back to their owners.
    foreign_sink: Option<ForeignSink>,
}

impl std::fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStore")
            .field("objects", &self.entries.len())
            .field("used", &self.used)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl ObjectStore {
    /// An empty store holding at most `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Self {
        ObjectStore {
            entries: crate::ids::IdMap::default(),
            job_used: Default::default(),
            job_capacity: usize::MAX,
            next_id: 1,
            created: 0,
            capacity,
            used: 0,
            freed: 0,
            spill: None,
            watched: crate::ids::IdMap::default(),
            foreign: 0,
            node: 0,
            foreign_sink: None,
        }
    }

    /// Hand the holds of each freed stub to `sink` (see the module docs).
    pub(crate) fn on_foreign_freed(&mut self, sink: ForeignSink) {
        self.foreign_sink = Some(sink);
    }

    /// References to objects of other nodes arrived in a message (one per
    /// occurrence of an id in `ids`): each gets a stub here, or its stub one
    /// more reference (the caller's) and one more hold. Ids of this node's
    /// own objects (`own(id)`) are skipped: their owner counts them itself.
    pub(crate) fn import(&mut self, job: JobId, ids: &[ObjectId]) {
        for &id in ids {
            if owner_node(id) == self.node {
                continue;
            }
            let entry = self.entries.entry(id).or_insert_with(|| {
                self.foreign += 1;
                Entry {
                    job,
                    refs: 0,
                    state: State::Foreign { holds: 0 },
                    contained: Vec::new(),
                }
            });
            entry.refs += 1;
            if let State::Foreign { holds } = &mut entry.state {
                *holds += 1;
            }
        }
    }

    /// A stub's object arrived whole (a read of all its bytes), with the
    /// references inside it, imported by the caller: the stub keeps them
    /// the first time (as a local object keeps what it contains); after
    /// that they are given back.
    pub(crate) fn fill_stub(&mut self, id: ObjectId, contained: Vec<ObjectId>) -> Vec<Waiter> {
        match self.entries.get_mut(&id) {
            Some(Entry {
                state: State::Foreign { .. },
                contained: kept,
                ..
            }) if kept.is_empty() => {
                *kept = contained;
                Vec::new()
            }
            _ => {
                let mut woken = Vec::new();
                for id in contained {
                    woken.extend(self.release(id));
                }
                woken
            }
        }
    }

    /// Be told when `id` is freed (at once if it is already gone).
    pub(crate) fn watch(&mut self, id: ObjectId) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        if self.entries.contains_key(&id) {
            self.watched.insert(id, notify.clone());
        } else {
            notify.notify_one();
        }
        notify
    }

    /// Spill to `spill` when memory is full.
    pub(crate) fn with_spill(mut self, spill: Spill) -> Self {
        self.spill = Some(spill);
        self
    }

    /// The objects of `job` (or all), at most `limit`, the newest first.
    pub(crate) fn list(&self, job: Option<JobId>, limit: usize) -> Vec<ObjectRow> {
        let mut ids: Vec<ObjectId> = self
            .entries
            .iter()
            .filter(|(_, e)| job.is_none_or(|j| e.job == j))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable_by_key(|id| std::cmp::Reverse(*id));
        ids.truncate(limit);
        ids.into_iter()
            .map(|id| {
                let e = &self.entries[&id];
                let (state, size) = match &e.state {
                    State::Pending(_) => ("PENDING", 0),
                    State::Ready(b) => ("READY", b.len()),
                    State::Spilled(n) => ("SPILLED", *n),
                    State::Failed(_) => ("FAILED", 0),
                    State::Foreign { .. } => ("REMOTE", 0),
                };
                ObjectRow {
                    id,
                    job: e.job,
                    state,
                    size,
                    refs: e.refs,
                    contains: e.contained.len(),
                    owner: owner_node(id),
                }
            })
            .collect()
    }

    /// Usage figures.
    pub(crate) fn stats(&self) -> StoreStats {
        StoreStats {
            objects: self.entries.len(),
            foreign: self.foreign,
            bytes: self.used,
            capacity: self.capacity,
            created: self.created,
            freed: self.freed,
            spill: self.spill.as_ref().map(Spill::stats).unwrap_or_default(),
        }
    }

    fn unknown(&self, id: ObjectId) -> TaskError {
        TaskError::unknown_object(id, id.get() > 0 && id.get() < self.next_id)
    }

    /// New ids start at `base` (when above those given so far): in a
    /// cluster, an id's top bits name the node that owns it ([`OWNER_SHIFT`]).
    pub(crate) fn set_id_base(&mut self, base: ObjectId) {
        self.next_id = self.next_id.max(base.get());
        self.node = owner_node(base);
    }

    /// A new pending object with one reference (held by the submitter).
    #[cfg(test)]
    pub(crate) fn create_pending(&mut self) -> ObjectId {
        self.create_pending_for(JobId::new(0))
    }

    /// The job that created `id`, if it exists.
    pub(crate) fn owner(&self, id: ObjectId) -> Option<JobId> {
        self.entries.get(&id).map(|e| e.job)
    }

    /// A new pending object of `job`, with one reference.
    pub(crate) fn create_pending_for(&mut self, job: JobId) -> ObjectId {
        let id = ObjectId::new(self.next_id);
        self.next_id += 1;
        self.created += 1;
        self.entries.insert(
            id,
            Entry {
                job,
                refs: 1,
                state: State::Pending(Vec::new()),
                contained: Vec::new(),
            },
        );
        id
    }

    /// Store ready bytes that contain references `contained` (which must
    /// exist; they are retained). One reference, held by the caller.
    #[cfg(test)]
    pub(crate) fn put(
        &mut self,
        bytes: Vec<u8>,
        contained: Vec<ObjectId>,
    ) -> Result<ObjectId, TaskError> {
        self.put_for(bytes, contained, JobId::new(0))
    }

    /// [`ObjectStore::put`] on behalf of `job`.
    pub(crate) fn put_for(
        &mut self,
        bytes: Vec<u8>,
        contained: Vec<ObjectId>,
        job: JobId,
    ) -> Result<ObjectId, TaskError> {
        self.check_room(bytes.len(), job)?;
        self.retain_all(&contained)?;
        let id = ObjectId::new(self.next_id);
        self.next_id += 1;
        self.created += 1;
        self.used += bytes.len();
        *self.job_used.entry(job).or_insert(0) += bytes.len();
        self.entries.insert(
            id,
            Entry {
                job,
                refs: 1,
                state: State::Ready(Arc::new(bytes)),
                contained,
            },
        );
        Ok(id)
    }

    /// Retain each id, or none of them if one is unknown.
    pub(crate) fn retain_all(&mut self, ids: &[ObjectId]) -> Result<(), TaskError> {
        if let Some(&bad) = ids.iter().find(|id| !self.entries.contains_key(id)) {
            return Err(self.unknown(bad));
        }
        for id in ids {
            self.entries.get_mut(id).expect("checked").refs += 1;
        }
        Ok(())
    }

    /// Take one more reference.
    pub(crate) fn retain(&mut self, id: ObjectId) -> Result<(), TaskError> {
        self.retain_all(&[id])
    }

    /// Drop one reference; frees what becomes unreachable. Returns the
    /// waiters of freed pending objects (none in practice: a waiter holds a
    /// reference) so that nobody waits for ever.
    pub(crate) fn release(&mut self, id: ObjectId) -> Vec<Waiter> {
        let mut woken = Vec::new();
        let mut work = vec![id];
        while let Some(id) = work.pop() {
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            entry.refs -= 1;
            if entry.refs > 0 {
                continue;
            }
            let mut entry = self.entries.remove(&id).expect("present");
            let contained = std::mem::take(&mut entry.contained);
            woken.extend(self.forget(id, entry));
            work.extend(contained);
        }
        woken
    }

    /// Free every object of `job`, whatever references them (the job has
    /// ended; nothing outside it can see them). Returns the waiters of
    /// those still pending.
    pub(crate) fn drop_job(&mut self, job: JobId) -> Vec<Waiter> {
        let ids: Vec<ObjectId> = self
            .entries
            .iter()
            .filter(|(_, e)| e.job == job)
            .map(|(id, _)| *id)
            .collect();
        let mut woken = Vec::new();
        for id in ids {
            let entry = self.entries.remove(&id).expect("listed");
            woken.extend(self.forget(id, entry));
        }
        self.job_used.remove(&job);
        woken
    }

    /// Current state of an object, its bytes in memory (a spilled object
    /// is read back).
    pub(crate) fn lookup(&mut self, id: ObjectId) -> Result<Lookup, TaskError> {
        let spilled = match self.entries.get(&id) {
            None => return Err(self.unknown(id)),
            Some(e) => match &e.state {
                State::Pending(_) => return Ok(Lookup::Pending),
                State::Ready(b) => return Ok(Lookup::Ready(b.clone())),
                State::Failed(err) => return Ok(Lookup::Failed(err.clone())),
                State::Foreign { .. } => return Err(elsewhere(id)),
                State::Spilled(len) => *len,
            },
        };
        self.restore(id, spilled).map(Lookup::Ready)
    }

    /// Whether an object is still pending; the error it failed with, if it
    /// failed (nothing is read back from disk).
    pub(crate) fn status(&self, id: ObjectId) -> Result<Status, TaskError> {
        match self.entries.get(&id) {
            None => Err(self.unknown(id)),
            Some(e) => Ok(match &e.state {
                State::Pending(_) => Status::Pending,
                // Read from its owner, who says when it is ready.
                State::Ready(_) | State::Spilled(_) | State::Foreign { .. } => Status::Ready,
                State::Failed(err) => Status::Failed(err.clone()),
            }),
        }
    }

    /// Register a waiter on a pending object. Returns false (and registers
    /// nothing) when the object is not pending.
    pub(crate) fn add_waiter(&mut self, id: ObjectId, waiter: Waiter) -> bool {
        match self.entries.get_mut(&id) {
            Some(Entry {
                state: State::Pending(w),
                ..
            }) => {
                w.push(waiter);
                true
            }
            _ => false,
        }
    }

    /// Complete a pending object with the producing task's outcome. Returns
    /// its waiters. An object freed meanwhile is dropped, releasing what it
    /// contains. A result over capacity completes the object as failed.
    pub(crate) fn complete(
        &mut self,
        id: ObjectId,
        outcome: Result<(Vec<u8>, Vec<ObjectId>), TaskError>,
    ) -> Vec<Waiter> {
        // Only a pending object completes: one freed meanwhile is dropped,
        // and a second completion (a cancelled task's late result) is
        // ignored before anything is counted or retained.
        let job = match self.entries.get(&id) {
            Some(Entry {
                state: State::Pending(_),
                job,
                ..
            }) => *job,
            _ => return Vec::new(),
        };
        let state = match outcome {
            Ok((bytes, contained)) => match self
                .check_room(bytes.len(), job)
                .and_then(|()| self.retain_all(&contained))
            {
                Ok(()) => {
                    self.used += bytes.len();
                    *self.job_used.entry(job).or_insert(0) += bytes.len();
                    self.entries.get_mut(&id).expect("present").contained = contained;
                    State::Ready(Arc::new(bytes))
                }
                Err(e) => State::Failed(Arc::new(e)),
            },
            Err(e) => State::Failed(Arc::new(e)),
        };
        let entry = self.entries.get_mut(&id).expect("present");
        match std::mem::replace(&mut entry.state, state) {
            State::Pending(w) => w,
            _ => unreachable!("checked pending above"),
        }
    }
}

/// The part of an object of `len` bytes that `get-range` returns.
pub(crate) fn byte_range(len: usize, offset: u64, count: u64) -> std::ops::Range<usize> {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(len);
    let end = start
        .saturating_add(usize::try_from(count).unwrap_or(usize::MAX))
        .min(len);
    start..end
}

mod capacity;
#[cfg(test)]
mod tests;
