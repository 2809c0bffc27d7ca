//! The node's control state: the object store, the scheduler and the
//! bookkeeping that ties them together (which task produces which object,
//! how many tasks each job has alive), under one mutex.
//!
//! They share one lock because their changes must be atomic together:
//! completing an object wakes the tasks that depend on it, or fails them
//! (transitively) if it failed; submitting registers a task's dependencies
//! and queues it in one step. Critical sections are short; bytes are copied
//! outside the lock.
//!
//! Like the scheduler, this module knows nothing of wasm: a task is a
//! payload `P` that says which object it produces and which references its
//! arguments hold ([`Pending`]), so the bookkeeping is unit-tested on its
//! own. Callers get [`Start`]s back and run them; nothing here spawns.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::core::cancel::CancelFlag;
use crate::core::object_store::{
    Lookup, ObjectId, ObjectStore, Signal, Status, StoreStats, Waiter, hit_signals,
};
use crate::core::resources::Resources;
use crate::core::scheduler::{Scheduler, SchedulerCounts, Start, TaskId};
use crate::error::{ErrorKind, TaskError};

pub use crate::ids::JobId;

// The job of detached actors: it never ends, and its objects (their
// handles, and what they put) are visible to every job.
pub(crate) use crate::ids::DETACHED_JOB;

/// What the control state needs to know of a task's payload.
pub(crate) trait Pending {
    /// The task's id.
    fn id(&self) -> TaskId;
    /// The job the task belongs to.
    fn job(&self) -> JobId;
    /// The object the task produces.
    fn result(&self) -> ObjectId;
    /// References its argument list holds (dependencies and nested).
    fn arg_refs(&self) -> &[ObjectId];
    /// Its name, for errors.
    fn name(&self) -> &str;
    /// Whether another node of the cluster runs it (here it holds no
    /// resources and no sandbox).
    fn forwarded(&self) -> bool {
        false
    }
}

/// The task producing an object, while it has not finished.
#[derive(Debug, Clone)]
struct Producer {
    task: TaskId,
    name: Arc<str>,
    cancel: Arc<CancelFlag>,
    job: JobId,
    /// The task that submitted it (none: the driver).
    parent: Option<TaskId>,
}

/// Task counts of one job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct JobTasks {
    /// Submitted so far.
    pub submitted: u64,
    /// Finished or failed so far.
    pub done: u64,
    /// Not finished yet (the pending-task cap counts these).
    pub alive: usize,
}

/// Counts of the node since start.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct RuntimeStats {
    /// Object store usage.
    pub objects: StoreStats,
    /// Tasks by scheduler state.
    pub tasks: SchedulerCounts,
    /// Tasks submitted.
    pub submitted: u64,
    /// Tasks that finished with a result.
    pub finished: u64,
    /// Tasks that failed (after retries).
    pub failed: u64,
}

/// A job's counts, and whether its driver has ended (then the entry goes
/// with its last task).
#[derive(Debug, Default)]
struct JobCount {
    tasks: JobTasks,
    ended: bool,
}

/// A task to add, as [`Core::submit`] takes it.
pub(crate) struct NewTask<'a> {
    pub(crate) id: TaskId,
    pub(crate) job: JobId,
    /// Shared with the task's record (no copy per task).
    pub(crate) name: Arc<str>,
    pub(crate) demand: Resources,
    pub(crate) cancel: Arc<CancelFlag>,
    /// Top-level references: dependencies the task waits for.
    pub(crate) deps: &'a [ObjectId],
    /// Every reference the argument list holds (deps and nested).
    pub(crate) arg_refs: &'a [ObjectId],
    /// Most tasks the job may have alive.
    pub(crate) max_alive: usize,
    /// The task submitting it (none: the driver): if that task fails, this
    /// one is cancelled.
    pub(crate) parent: Option<TaskId>,
    /// Another node of the cluster runs it: it needs no resources here
    /// (the cluster's placement found a node that can hold it).
    pub(crate) forwarded: bool,
}

/// The state under the lock.
pub(crate) struct Core<P> {
    objects: ObjectStore,
    sched: Scheduler<P>,
    /// Result object -> the task producing it, for tasks not finished.
    producers: crate::ids::ObjectMap<Producer>,
    /// Task -> the result objects of its children not finished yet.
    children: crate::ids::IdMap<crate::ids::ObjectSet>,
    /// Result object -> how to stop the actor call producing it, for
    /// calls not finished (see `calls`).
    calls: crate::ids::ObjectMap<Arc<CallStop>>,
    jobs: crate::ids::IdMap<JobCount, JobId>,
    submitted: u64,
    finished: u64,
    failed: u64,
}

/// [`Core`] behind its mutex.
///
/// Lock order: after `Actors::registry` and `Remote::guests`; before only
/// `TaskTable::inner` (see "Lock order" in the crate docs).
pub(crate) struct Control<P>(Mutex<Core<P>>);

impl<P> Control<P> {
    /// Control state of a node with `total` resources and an object store
    /// of `capacity` bytes, of which one job may hold `job_capacity`.
    /// Started tasks hold at most `instances` sandboxes, `job_instances` of
    /// one job. Objects spill to `spill` when memory is full.
    pub(crate) fn new(
        total: Resources,
        capacity: usize,
        job_capacity: usize,
        instances: usize,
        job_instances: usize,
        spill: Option<crate::core::spill::Spill>,
    ) -> Self {
        let mut objects = ObjectStore::new(capacity).with_job_capacity(job_capacity);
        if let Some(spill) = spill {
            objects = objects.with_spill(spill);
        }
        Control(Mutex::new(Core {
            objects,
            sched: Scheduler::new(total).with_instance_limits(instances, job_instances),
            producers: Default::default(),
            children: Default::default(),
            calls: Default::default(),
            jobs: Default::default(),
            submitted: 0,
            finished: 0,
            failed: 0,
        }))
    }

    /// Lock it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core<P>> {
        // A panic while holding the lock is a host bug; the state is still
        // consistent enough to report errors, so keep going.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Gives references back: what a sandbox calls when it is dropped with
/// references it still owns. (A trait so that the sandbox need not know the
/// task payload type.)
pub(crate) trait ReleaseRefs: Send + Sync {
    /// Drop `n` references of each id.
    fn release_owned(&self, owned: crate::ids::ObjectMap<u32>);
}

impl<P: Send + Pending> ReleaseRefs for Control<P> {
    fn release_owned(&self, owned: crate::ids::ObjectMap<u32>) {
        self.lock().release_owned(owned);
    }
}

/// The message of a task or call that `cancel` stopped before it started.
pub(crate) const CANCELLED_QUEUED: &str = "cancelled before it started";
/// The message of a task or call that `cancel` stopped while it ran.
pub(crate) const CANCELLED_RUNNING: &str = "cancelled while it ran";

fn dependency_failed(task: &str, cause: &TaskError) -> TaskError {
    TaskError::for_task(
        ErrorKind::DependencyFailed,
        task,
        format!(
            "not run because an argument failed: {}",
            cause.with_task_name()
        ),
    )
}

impl<P: Pending> Core<P> {
    /// Objects of other jobs are invisible: they look as if they never
    /// existed.
    pub(crate) fn check_visible(&self, ids: &[ObjectId], job: JobId) -> Result<(), TaskError> {
        match ids.iter().find(|id| {
            self.objects
                .owner(**id)
                .is_some_and(|j| j != job && j != DETACHED_JOB)
        }) {
            Some(&id) => Err(TaskError::unknown_object(id, false)),
            None => Ok(()),
        }
    }

    fn job(&mut self, job: JobId) -> &mut JobTasks {
        &mut self.jobs.entry(job).or_default().tasks
    }

    fn add_producer(&mut self, result: ObjectId, p: Producer) {
        self.job(p.job).alive += 1;
        if let Some(parent) = p.parent {
            self.children.entry(parent).or_default().insert(result);
        }
        self.producers.insert(result, p);
    }

    /// The task producing `result` is done (finished, failed or dropped).
    fn remove_producer(&mut self, result: ObjectId) {
        let Some(p) = self.producers.remove(&result) else {
            return;
        };
        if let Some(parent) = p.parent
            && let Some(siblings) = self.children.get_mut(&parent)
        {
            siblings.remove(&result);
            if siblings.is_empty() {
                self.children.remove(&parent);
            }
        }
        if let Some(count) = self.jobs.get_mut(&p.job) {
            count.tasks.alive -= 1;
            count.tasks.done += 1;
            if count.ended && count.tasks.alive == 0 {
                self.jobs.remove(&p.job);
            }
        }
    }

    /// Task counts of `job`.
    pub(crate) fn job_tasks(&self, job: JobId) -> JobTasks {
        self.jobs.get(&job).map(|c| c.tasks).unwrap_or_default()
    }

    /// `job`'s driver ended (its tasks were cancelled): its objects are
    /// freed, whoever still references them (as Ray frees a job's objects
    /// when its driver exits; nothing outside the job can see them, and
    /// reference cycles inside it would otherwise never be freed). Returns
    /// its task counts as they are now; they are forgotten once its last
    /// task is done.
    pub(crate) fn end_job(&mut self, job: JobId) -> JobTasks {
        hit_signals(self.objects.drop_job(job));
        let tasks = self.job_tasks(job);
        match self.jobs.get_mut(&job) {
            Some(c) if c.tasks.alive > 0 => c.ended = true,
            Some(_) => {
                self.jobs.remove(&job);
            }
            None => {}
        }
        tasks
    }

    /// Result objects of the tasks of `job` that have not finished.
    pub(crate) fn unfinished_of(&self, job: JobId) -> Vec<ObjectId> {
        self.producers
            .iter()
            .filter(|(_, p)| p.job == job)
            .map(|(r, _)| *r)
            .collect()
    }

    /// Usage and task counts.
    /// The objects of `job` (or all), at most `limit`, the newest first.
    pub(crate) fn list_objects(
        &self,
        job: Option<JobId>,
        limit: usize,
    ) -> Vec<crate::core::object_store::ObjectRow> {
        self.objects.list(job, limit)
    }

    pub(crate) fn stats(&self) -> RuntimeStats {
        RuntimeStats {
            objects: self.objects.stats(),
            tasks: self.sched.counts(),
            submitted: self.submitted,
            finished: self.finished,
            failed: self.failed,
        }
    }

    /// The node's total resources.
    pub(crate) fn total(&self) -> &Resources {
        self.sched.total()
    }

    /// Resources not held right now.
    pub(crate) fn available(&self) -> &Resources {
        self.sched.available()
    }

    /// A pending object of `job` standing for an object of another node
    /// (one reference, the caller's), completed by [`Core::complete_mirror`].
    pub(crate) fn create_mirror(&mut self, job: JobId) -> ObjectId {
        self.objects.create_pending_for(job)
    }

    /// The bytes of a mirrored object arrived (or could not): tasks that
    /// wait for it may start. The refs inside it are borrowed from their
    /// owner, not counted here.
    pub(crate) fn complete_mirror(
        &mut self,
        id: ObjectId,
        outcome: Result<Vec<u8>, TaskError>,
    ) -> Vec<Start<P>> {
        self.complete(id, outcome.map(|b| (b, Vec::new())));
        self.dispatch()
    }

    /// New object ids start at `base` (see `ObjectStore::set_id_base`).
    pub(crate) fn set_id_base(&mut self, base: ObjectId) {
        self.objects.set_id_base(base);
    }

    /// CPU held and queued over CPU total (see `Scheduler::load`).
    pub(crate) fn load(&self) -> f64 {
        self.sched.load()
    }

    /// What queued tasks will demand.
    pub(crate) fn pending_demand(&self) -> Resources {
        self.sched.pending_demand()
    }

    /// Set the number of GPUs (before any task holds one).
    pub(crate) fn set_gpus(&mut self, n: u32) {
        self.sched.set_gpus(n);
    }

    /// Set the node's total of resource `name` (see
    /// `Scheduler::set_total`); tasks that now fit start.
    pub(crate) fn set_total(&mut self, name: &str, amount: f64) -> Result<Vec<Start<P>>, String> {
        self.sched.set_total(name, amount)?;
        Ok(self.dispatch())
    }

    /// Task counts by scheduler state.
    pub(crate) fn counts(&self) -> SchedulerCounts {
        self.sched.counts()
    }

    // ---- objects ----

    /// Store `bytes` (containing references `refs`) for `job`; one
    /// reference, the caller's.
    pub(crate) fn put(
        &mut self,
        job: JobId,
        bytes: Vec<u8>,
        refs: Vec<ObjectId>,
    ) -> Result<ObjectId, TaskError> {
        self.check_visible(&refs, job)?;
        self.objects.put_for(bytes, refs, job)
    }

    /// References to objects of other nodes arrived for `job` (one per
    /// occurrence): stubs for them, one reference each for the caller (see
    /// `ObjectStore::import`; this node's own ids are left alone, and their
    /// sender took a reference for them on this node).
    pub(crate) fn import(&mut self, job: JobId, ids: &[ObjectId]) {
        self.objects.import(job, ids);
    }

    /// One more reference to each of `ids` that still exists, whatever its
    /// job: references taken for another node (or pinned while a message
    /// carrying them is made).
    pub(crate) fn pin(&mut self, ids: &[ObjectId]) {
        for id in ids {
            let _ = self.objects.retain(*id);
        }
    }

    /// The object behind stub `id` was read whole; the references inside
    /// it were imported: the stub keeps them (see `ObjectStore::fill_stub`).
    pub(crate) fn fill_stub(&mut self, id: ObjectId, contained: Vec<ObjectId>) {
        hit_signals(self.objects.fill_stub(id, contained));
    }

    /// Other nodes took or gave back references to objects of this node
    /// (`+n`/`-n` each).
    pub(crate) fn apply_remote_refs(&mut self, changes: &[(ObjectId, i64)]) {
        for &(id, delta) in changes {
            if delta > 0 {
                for _ in 0..delta {
                    self.pin(&[id]);
                }
            } else {
                for _ in 0..delta.unsigned_abs() {
                    hit_signals(self.objects.release(id));
                }
            }
        }
    }

    /// Hand the holds of freed stubs to `sink` (to give back to owners).
    pub(crate) fn on_foreign_freed(&mut self, sink: crate::core::object_store::ForeignSink) {
        self.objects.on_foreign_freed(sink);
    }

    /// One more reference to a visible object.
    pub(crate) fn retain(&mut self, id: ObjectId, job: JobId) -> Result<(), TaskError> {
        self.check_visible(&[id], job)?;
        self.objects.retain(id)
    }

    /// Drop one reference of each id.
    pub(crate) fn release_all(&mut self, ids: &[ObjectId]) {
        for id in ids {
            hit_signals(self.objects.release(*id));
        }
    }

    /// Give back references an instance owned, `n` of each id.
    pub(crate) fn release_owned(&mut self, owned: crate::ids::ObjectMap<u32>) {
        for (id, n) in owned {
            for _ in 0..n {
                hit_signals(self.objects.release(id));
            }
        }
    }

    /// State of an object `job` may see.
    pub(crate) fn lookup(&mut self, id: ObjectId, job: JobId) -> Result<Lookup, TaskError> {
        self.check_visible(&[id], job)?;
        self.objects.lookup(id)
    }

    /// The ids of `ids` that are ready or failed, in order; an error if one
    /// is not visible to `job` or does not exist.
    pub(crate) fn ready(&self, ids: &[ObjectId], job: JobId) -> Result<Vec<ObjectId>, TaskError> {
        let mut ready = Vec::new();
        for &id in ids {
            self.check_visible(&[id], job)?;
            if !matches!(self.objects.status(id)?, Status::Pending) {
                ready.push(id);
            }
        }
        Ok(ready)
    }

    /// Fire `signal` as each of `ids` completes (a duplicate id counts
    /// twice).
    pub(crate) fn notify_on(&mut self, ids: &[ObjectId], signal: &Arc<Signal>) {
        for &id in ids {
            self.objects.add_waiter(id, Waiter::Signal(signal.clone()));
        }
    }

    /// The state of object `id` (an error if it is gone), nothing read.
    pub(crate) fn status(&self, id: ObjectId) -> Result<Status, TaskError> {
        self.objects.status(id)
    }

    /// Be told when object `id` is freed.
    pub(crate) fn watch(&mut self, id: ObjectId) -> Arc<tokio::sync::Notify> {
        self.objects.watch(id)
    }

    // ---- lending the CPU of a blocked task ----

    /// A task blocked: give its `part` back to the pool.
    pub(crate) fn lend(&mut self, part: &Resources) -> Vec<Start<P>> {
        self.sched.block(part);
        self.dispatch()
    }

    /// The task wakes: the receiver completes once `part` is its again.
    pub(crate) fn reclaim(
        &mut self,
        part: Resources,
    ) -> (tokio::sync::oneshot::Receiver<()>, Vec<Start<P>>) {
        let rx = self.sched.resume(part);
        (rx, self.dispatch())
    }
}

mod calls;
pub(crate) use calls::CallStop;
mod groups;
mod tasks;
#[cfg(test)]
mod tests;
