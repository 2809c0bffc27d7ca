//! Placement groups in the control state: the object that is ready once a
//! group is created, and the tasks that fail when it is removed. The
//! reservation itself is the scheduler's (`scheduler::groups`).

use super::{Core, DETACHED_JOB, JobId, Pending};
use crate::core::object_store::ObjectId;
use crate::core::resources::Resources;
use crate::core::scheduler::{Group, GroupState, GroupStrategy, Start};
use crate::error::{ErrorKind, TaskError};

/// MessagePack nil: what a created group's object holds.
const NIL: u8 = 0xc0;

/// What [`Core::create_group`] gives: the group's id, why this node can
/// never hold it (if so), and what can start now.
pub(crate) type Created<P> = (ObjectId, Option<String>, Vec<Start<P>>);

impl<P: Pending> Core<P> {
    /// Ask for a placement group of `job` (`detached`: of no job). Its id
    /// is an object of which the caller owns one reference, ready once the
    /// group is created (see [`Created`]).
    pub(crate) fn create_group(
        &mut self,
        job: JobId,
        bundles: Vec<Resources>,
        strategy: GroupStrategy,
        name: Option<String>,
        detached: bool,
    ) -> Result<Created<P>, TaskError> {
        let invalid = |m: String| TaskError::new(ErrorKind::InvalidArgument, m);
        crate::core::scheduler::check_bundles(&bundles).map_err(invalid)?;
        let owner = if detached { DETACHED_JOB } else { job };
        if let Some(n) = &name
            && self.sched.group_named(n, owner).is_some()
        {
            return Err(invalid(format!(
                "a placement group named `{n}` already exists"
            )));
        }
        let id = self.objects.create_pending_for(owner);
        // The group holds a reference of its own until it is removed; the
        // caller owns the other.
        self.objects.retain(id)?;
        let group = Group {
            id,
            job: owner,
            name,
            strategy,
            bundles,
            state: GroupState::Pending,
        };
        let never = match self.sched.add_group(group) {
            Ok(never) => never,
            Err(m) => {
                self.release_all(&[id, id]);
                return Err(invalid(m));
            }
        };
        Ok((id, never, self.dispatch()))
    }

    /// Remove group `id`, which `job` must see. Its tasks that have not
    /// started fail; a group still pending fails its object.
    pub(crate) fn remove_group(
        &mut self,
        id: ObjectId,
        job: JobId,
    ) -> Result<Vec<Start<P>>, TaskError> {
        let group = self.group_for(id, job)?;
        let Some((was, orphans)) = self.sched.remove_group(group.id) else {
            return Ok(Vec::new());
        };
        for task in orphans {
            let err = TaskError::for_task(
                ErrorKind::Infeasible,
                task.name(),
                "its placement group was removed before it started",
            );
            self.drop_task(&task, err);
        }
        match was {
            GroupState::Pending => {
                self.complete(
                    id,
                    Err(TaskError::new(
                        ErrorKind::Infeasible,
                        "the placement group was removed before it was created",
                    )),
                );
                self.release_all(&[id]);
            }
            GroupState::Created => self.release_all(&[id]),
            GroupState::Removed => {}
        }
        Ok(self.dispatch())
    }

    /// Remove every group of `job` and forget them (its driver ended).
    pub(crate) fn remove_groups_of(&mut self, job: JobId) -> Vec<Start<P>> {
        let mut starts = Vec::new();
        for id in self.sched.groups_of(job) {
            if let Ok(s) = self.remove_group(id, job) {
                starts.extend(s);
            }
            self.sched.forget_group(id);
        }
        starts
    }

    /// Group `id` as `job` sees it.
    pub(crate) fn group_for(&self, id: ObjectId, job: JobId) -> Result<Group, TaskError> {
        match self.sched.group(id) {
            Some(g) if g.job == job || g.job == DETACHED_JOB => Ok(g.clone()),
            _ => Err(TaskError::new(
                ErrorKind::InvalidArgument,
                format!("no placement group {id:x} on this node for this job"),
            )),
        }
    }

    /// The live group named `name` that `job` sees.
    pub(crate) fn group_named(&self, name: &str, job: JobId) -> Option<ObjectId> {
        self.sched.group_named(name, job).map(|g| g.id)
    }

    /// Start what fits now; complete the objects of groups just created.
    pub(super) fn dispatch(&mut self) -> Vec<Start<P>> {
        let mut starts = self.sched.dispatch();
        loop {
            let created = self.sched.take_reserved();
            if created.is_empty() {
                return starts;
            }
            for id in created {
                self.complete(id, Ok((vec![NIL], Vec::new())));
            }
            // Tasks waiting for those objects may start.
            starts.extend(self.sched.dispatch());
        }
    }
}
