//! Calls that are not tasks of the scheduler (an actor's method calls) and
//! objects no task produces (an actor's handle): their bookkeeping in the
//! control state.

use std::sync::Arc;

use super::{Core, DETACHED_JOB, JobId, Pending, dependency_failed};
use crate::error::{ErrorKind, TaskError};
use crate::object_store::{Lookup, ObjectId};
use crate::scheduler::Start;

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
    ) -> Result<ObjectId, TaskError> {
        self.check_visible(arg_refs, job)?;
        self.objects.retain_all(arg_refs)?;
        self.submitted += 1;
        self.job(job).submitted += 1;
        Ok(self.objects.create_pending_for(job))
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
        self.complete(result, outcome);
        self.release_all(arg_refs);
        self.sched.dispatch()
    }

    /// Complete a pending object that no task produces (an actor's
    /// handle), with nothing counted; the tasks that can start now.
    pub(crate) fn resolve(
        &mut self,
        id: ObjectId,
        outcome: Result<Vec<u8>, TaskError>,
    ) -> Vec<Start<P>> {
        self.complete(id, outcome.map(|bytes| (bytes, Vec::new())));
        self.sched.dispatch()
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
