//! Calls that are not tasks of the scheduler (an actor's method calls) and
//! objects no task produces (an actor's handle): their bookkeeping in the
//! control state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::Notify;

use super::{Core, DETACHED_JOB, JobId, Pending, dependency_failed};
use crate::core::object_store::{Lookup, ObjectId};
use crate::core::scheduler::Start;
use crate::error::{ErrorKind, TaskError};

/// How `cancel` reaches an actor's method call (Ray's semantics): a call
/// still queued is cancelled at once and never runs; one running in an
/// actor that runs its calls concurrently (an async actor) is cancelled at
/// once and its instance told to stop it; one running alone (a plain
/// method, which nothing can interrupt short of killing the actor) runs to
/// its end, and its result stands.
#[derive(Debug)]
pub(crate) struct CallStop {
    /// `NAME.method`, as the error names it (shared with the context of
    /// the instance that runs the call).
    pub(crate) name: std::sync::Arc<str>,
    state: AtomicU8,
    /// Wakes the actor's instance (in `next-calls`) to hear of it.
    wake: Arc<Notify>,
}

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const CONCURRENT: u8 = 2;
/// The low bits: one of the states above.
const STATE: u8 = 3;
/// Or-ed in once cancelled.
const CANCELLED: u8 = 4;
/// Or-ed in once the instance running it was told.
const TOLD: u8 = 8;

impl CallStop {
    /// A queued call `name` of the actor woken by `wake`.
    pub(crate) fn new(name: String, wake: Arc<Notify>) -> Self {
        CallStop {
            name: name.into(),
            state: AtomicU8::new(QUEUED),
            wake,
        }
    }

    /// Mark it cancelled; whether its result is decided now (it has not
    /// started, or runs concurrently).
    pub(super) fn cancel(&self) -> bool {
        let before = self.state.fetch_or(CANCELLED, Ordering::SeqCst);
        self.wake.notify_one();
        before & CANCELLED == 0 && before & STATE != RUNNING
    }

    /// Whether it had started (and was not queued again since).
    pub(super) fn started(&self) -> bool {
        self.state.load(Ordering::SeqCst) & STATE != QUEUED
    }

    /// It starts (alone, or `concurrent`ly with others); false if it was
    /// cancelled.
    pub(crate) fn start(&self, concurrent: bool) -> bool {
        let to = if concurrent { CONCURRENT } else { RUNNING };
        let mut state = self.state.load(Ordering::SeqCst);
        loop {
            if state & CANCELLED != 0 {
                return false;
            }
            match self
                .state
                .compare_exchange(state, to, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(s) => state = s,
            }
        }
    }

    /// It was running alone and now runs concurrently with others.
    pub(crate) fn go_concurrent(&self) {
        let _ = self
            .state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
                (s & STATE == RUNNING).then_some((s & !STATE) | CONCURRENT)
            });
    }

    /// It waits to run again (after a crash of its actor).
    pub(crate) fn requeue(&self) {
        let _ = self
            .state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| Some(s & CANCELLED));
    }

    /// Whether it was cancelled.
    pub(crate) fn cancelled(&self) -> bool {
        self.state.load(Ordering::SeqCst) & CANCELLED != 0
    }

    /// Whether the instance running it is to be told of its cancel now
    /// (true once).
    pub(crate) fn tell(&self) -> bool {
        self.state.fetch_or(TOLD, Ordering::SeqCst) & TOLD == 0
    }
}

impl<P: Pending> Core<P> {
    /// A pending object of `job`, one reference (its creator's), completed
    /// by [`Core::resolve`] rather than by a task.
    pub(crate) fn create_pending(&mut self, job: JobId) -> ObjectId {
        self.objects.create_pending_for(job)
    }

    /// A call of an actor's method for a guest of `job`: take references
    /// to its arguments, make its result object (one reference, the
    /// caller's), and count it as a task.
    pub(crate) fn new_call(
        &mut self,
        job: JobId,
        arg_refs: &[ObjectId],
        stop: Arc<CallStop>,
    ) -> Result<ObjectId, TaskError> {
        self.check_visible(arg_refs, job)?;
        self.objects.retain_all(arg_refs)?;
        self.submitted += 1;
        self.job(job).submitted += 1;
        let result = self.objects.create_pending_for(job);
        self.calls.insert(result, stop);
        Ok(result)
    }

    /// Complete a call made by [`Core::new_call`] (or any pending object
    /// not produced by a task) with `outcome`, whose references must be
    /// visible to `job`; release the call's argument references. Returns
    /// the tasks that can start now (those that waited for the result).
    pub(crate) fn complete_call(
        &mut self,
        job: JobId,
        name: &str,
        result: ObjectId,
        outcome: Result<(Vec<u8>, Vec<ObjectId>), TaskError>,
        arg_refs: &[ObjectId],
    ) -> Vec<Start<P>> {
        let outcome = self.checked_result(job, name, outcome);
        if outcome.is_ok() {
            self.finished += 1;
        } else {
            self.failed += 1;
        }
        self.job(job).done += 1;
        self.calls.remove(&result);
        self.complete(result, outcome);
        self.release_all(arg_refs);
        self.dispatch()
    }

    /// Complete a pending object that no task produces (an actor's
    /// handle), with nothing counted; the tasks that can start now.
    pub(crate) fn resolve(
        &mut self,
        id: ObjectId,
        outcome: Result<Vec<u8>, TaskError>,
    ) -> Vec<Start<P>> {
        self.complete(id, outcome.map(|bytes| (bytes, Vec::new())));
        self.dispatch()
    }

    /// A result may hold references only to objects its job can see.
    pub(super) fn checked_result(
        &self,
        job: JobId,
        name: &str,
        outcome: Result<(Vec<u8>, Vec<ObjectId>), TaskError>,
    ) -> Result<(Vec<u8>, Vec<ObjectId>), TaskError> {
        outcome.and_then(|(bytes, refs)| {
            match refs.iter().find(|id| {
                !matches!(self.objects.owner(**id), Some(j) if j == job || j == DETACHED_JOB)
            }) {
                Some(bad) => Err(TaskError::for_task(
                    ErrorKind::InvalidArgument,
                    name,
                    format!(
                        "returned a reference to object {bad}, which does not exist or belongs to another job"
                    ),
                )),
                None => Ok((bytes, refs)),
            }
        })
    }

    /// The values of `deps` once all are ready, for call `name`.
    pub(crate) fn values_of(
        &mut self,
        name: &str,
        deps: impl Iterator<Item = ObjectId>,
    ) -> Result<Vec<Arc<Vec<u8>>>, TaskError> {
        deps.map(|id| match self.objects.lookup(id) {
            Ok(Lookup::Ready(b)) => Ok(b),
            Ok(Lookup::Failed(e)) => Err(dependency_failed(name, &e)),
            Ok(Lookup::Pending) => Err(TaskError::new(ErrorKind::Internal, "dependency not ready")),
            Err(e) => Err(e),
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stop() -> CallStop {
        CallStop::new("A.m".into(), Arc::new(Notify::new()))
    }

    #[test]
    fn a_queued_call_is_cancelled_at_once_and_never_starts() {
        let s = stop();
        assert!(s.cancel(), "its result is decided now");
        assert!(!s.started(), "it is cancelled before it started");
        assert!(!s.cancel(), "once");
        assert!(!s.start(false) && !s.start(true), "it never runs");
        s.requeue();
        assert!(!s.start(false), "a requeued cancelled call stays cancelled");
    }

    #[test]
    fn a_call_running_alone_runs_on_but_a_concurrent_one_is_cancelled() {
        let alone = stop();
        assert!(alone.start(false));
        assert!(!alone.cancel(), "a plain method is not interrupted");
        assert!(alone.cancelled());

        let together = stop();
        assert!(together.start(false));
        together.go_concurrent();
        assert!(together.cancel(), "its result is decided now");
        assert!(together.started(), "it is cancelled while it ran");
        assert!(
            together.tell() && !together.tell(),
            "its instance is told once"
        );

        let pulled = stop();
        assert!(pulled.start(true));
        assert!(pulled.cancel());
    }

    #[test]
    fn cancel_wakes_the_actor() {
        let wake = Arc::new(Notify::new());
        let s = CallStop::new("A.m".into(), wake.clone());
        s.cancel();
        // The permit is stored: a later wait returns at once.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), wake.notified())
                .await
                .expect("woken");
        });
    }
}
