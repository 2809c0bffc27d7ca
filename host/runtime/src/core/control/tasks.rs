//! The task side of the control state: submitting a task (its references,
//! its result object, its dependencies), cancelling it and its children,
//! and finishing it, which completes its object and starts or fails the
//! tasks that waited on it.

use std::sync::Arc;

use crate::core::object_store::{ObjectId, Status, Waiter};
use crate::core::resources::Resources;
use crate::core::scheduler::Start;
use crate::error::{ErrorKind, TaskError};

use super::{
    CANCELLED_QUEUED, CANCELLED_RUNNING, Core, JobId, NewTask, Pending, Producer, dependency_failed,
};

impl<P: Pending> Core<P> {
    /// Add a task: check that it can ever run and that its job is under its
    /// cap, take references to its arguments, create its result object
    /// (`make` builds the payload around it) and queue it once its
    /// dependencies are ready. A dependency that already failed fails the
    /// task at once. Returns the result object and the tasks that can start.
    pub(crate) fn submit(
        &mut self,
        t: NewTask<'_>,
        make: impl FnOnce(ObjectId) -> P,
    ) -> Result<(ObjectId, Vec<Start<P>>), TaskError> {
        if !t.forwarded {
            self.sched
                .check_feasible(&t.demand)
                .map_err(|m| TaskError::for_task(ErrorKind::Infeasible, &*t.name, m))?;
        }
        let alive = self.job_tasks(t.job).alive;
        if alive >= t.max_alive {
            return Err(TaskError::for_task(
                ErrorKind::TooManyTasks,
                &*t.name,
                format!(
                    "not submitted: {alive} tasks of this job are already pending (the node's limit of pending tasks per job)"
                ),
            ));
        }
        self.check_visible(t.arg_refs, t.job)?;
        self.objects.retain_all(t.arg_refs)?;
        let result = self.objects.create_pending_for(t.job);
        self.add_producer(
            result,
            Producer {
                task: t.id,
                name: t.name,
                cancel: t.cancel,
                job: t.job,
                parent: t.parent,
            },
        );
        self.submitted += 1;
        self.job(t.job).submitted += 1;
        let mut unresolved = 0;
        let mut failed = None;
        for dep in t.deps {
            match self.objects.status(*dep) {
                Ok(Status::Pending) => {
                    self.objects.add_waiter(*dep, Waiter::Task(t.id));
                    unresolved += 1;
                }
                Ok(Status::Failed(e)) => failed = Some(e),
                _ => {}
            }
        }
        let payload = make(result);
        match failed {
            Some(e) => {
                let err = dependency_failed(payload.name(), &e);
                self.drop_task(&payload, err);
            }
            None if t.forwarded => self.sched.add_forwarded(t.id, t.job, unresolved, payload),
            None => self.sched.add(t.id, t.job, t.demand, unresolved, payload),
        }
        Ok((result, self.dispatch()))
    }

    /// A task that never ran is done with `err`.
    pub(super) fn drop_task(&mut self, task: &P, err: TaskError) {
        self.remove_producer(task.result());
        self.failed += 1;
        self.release_all(task.arg_refs());
        self.complete(task.result(), Err(err));
    }

    /// Cancel the task producing `id` (visible to `job`): a task still
    /// waiting is failed at once and never runs; a running one has its
    /// flag set (it stops at its next preemption tick) and its result
    /// decided now. Cancelling a finished task does nothing.
    pub(crate) fn cancel(&mut self, id: ObjectId, job: JobId) -> Result<Vec<Start<P>>, TaskError> {
        self.check_visible(&[id], job)?;
        self.cancel_for(id, CANCELLED_QUEUED, CANCELLED_RUNNING)?;
        Ok(self.dispatch())
    }

    /// Cancel the task producing `id`, saying `queued` if it had not
    /// started and `running` if it had (SDKs tell the two apart: Ray
    /// raises the second as the task's own error).
    pub(super) fn cancel_for(
        &mut self,
        id: ObjectId,
        queued: &str,
        running: &str,
    ) -> Result<(), TaskError> {
        if let Some(stop) = self.calls.get(&id) {
            if stop.cancel() {
                let why = if stop.started() { running } else { queued };
                let err = TaskError::for_task(ErrorKind::Cancelled, &*stop.name, why);
                self.complete(id, Err(err));
            }
            return Ok(());
        }
        let Some(p) = self.producers.get(&id).cloned() else {
            // Finished (nothing to do) or never a task result.
            return self.objects.lookup(id).map(|_| ());
        };
        p.cancel.set();
        let err = |name: &str, why: &str| TaskError::for_task(ErrorKind::Cancelled, name, why);
        match self.sched.remove(p.task) {
            Some(task) => {
                let e = err(task.name(), queued);
                self.drop_task(&task, e);
            }
            // Running or blocked: its late outcome is ignored.
            None => self.complete(id, Err(err(&p.name, running))),
        }
        Ok(())
    }

    /// Cancel the unfinished children of task `parent`, which failed (as
    /// Ray cancels a failed task's children): each stops at its next
    /// preemption tick, and when it ends its own children go the same way.
    /// Returns what can start now.
    pub(crate) fn cancel_children(&mut self, parent: &P) -> Vec<Start<P>> {
        self.cancel_children_of(parent);
        self.dispatch()
    }

    pub(super) fn cancel_children_of(&mut self, parent: &P) {
        if let Some(children) = self.children.remove(&parent.id()) {
            let why = format!(
                "cancelled: the task that submitted it, `{}`, failed",
                parent.name()
            );
            for child in children {
                let _ = self.cancel_for(child, &why, &why);
            }
        }
    }

    /// The values of a task's dependencies, in order, once all are ready.
    pub(crate) fn dependency_values(
        &mut self,
        task: &P,
        deps: impl Iterator<Item = ObjectId>,
    ) -> Result<Vec<Arc<Vec<u8>>>, TaskError> {
        let name = task.name().to_string();
        self.values_of(&name, deps)
    }

    /// Record a started task's outcome: its resources go back, its result
    /// completes (with the references inside it), its argument references
    /// and the references its sandbox still owned are released. Returns
    /// the tasks that can start now.
    pub(crate) fn finish(
        &mut self,
        task: &P,
        demand: &Resources,
        gpus: &[(u32, u64)],
        outcome: Result<(Vec<u8>, Vec<ObjectId>), TaskError>,
        owned: crate::ids::ObjectMap<u32>,
    ) -> Vec<Start<P>> {
        let outcome = self.checked_result(task.job(), task.name(), outcome);
        if outcome.is_ok() {
            self.finished += 1;
            // Its children go on: the result may hold their refs.
            self.children.remove(&task.id());
        } else {
            self.failed += 1;
            self.cancel_children_of(task);
        }
        if task.forwarded() {
            self.sched.finish_forwarded();
        } else {
            self.sched.finish(task.job(), demand, gpus);
        }
        self.remove_producer(task.result());
        self.complete(task.result(), outcome);
        self.release_all(task.arg_refs());
        self.release_owned(owned);
        self.dispatch()
    }

    /// Complete an object, wake its waiters, and fail (without running
    /// them) the tasks that depended on it if it failed, transitively.
    pub(super) fn complete(
        &mut self,
        id: ObjectId,
        outcome: Result<(Vec<u8>, Vec<ObjectId>), TaskError>,
    ) {
        let mut work = vec![(id, outcome)];
        while let Some((id, outcome)) = work.pop() {
            let waiters = self.objects.complete(id, outcome);
            let failure = match self.objects.status(id) {
                Ok(Status::Failed(e)) => Some(e),
                _ => None,
            };
            for w in waiters {
                match w {
                    Waiter::Signal(s) => s.hit(),
                    Waiter::Task(t) => match &failure {
                        None => self.sched.dependency_ready(t),
                        Some(e) => {
                            if let Some(task) = self.sched.remove_waiting(t) {
                                self.remove_producer(task.result());
                                self.failed += 1;
                                self.release_all(task.arg_refs());
                                work.push((task.result(), Err(dependency_failed(task.name(), e))));
                            }
                        }
                    },
                }
            }
        }
    }
}
