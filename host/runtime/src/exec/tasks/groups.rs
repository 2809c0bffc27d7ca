//! Placement groups as guests see them: creating and removing them for a
//! caller, and where a task of a group goes (its group's bundles, on its
//! group's node). The reservation is the scheduler's
//! (`scheduler::groups`), its object the control state's.

use std::sync::Arc;

use super::{Strategy, Tasks};
use crate::bindings::wit;
use crate::core::object_store::ObjectId;
use crate::core::resources::Resources;
use crate::core::scheduler::{GroupState, GroupStrategy};
use crate::error::{ErrorKind, TaskError};
use crate::ids::JobId;
use crate::wasm::sandbox::TaskCtx;

impl Tasks {
    /// `create-placement-group` for `caller`: the group's id, an object the
    /// caller owns one reference to.
    pub(crate) fn create_placement_group(
        self: &Arc<Self>,
        caller: &TaskCtx,
        bundles: Vec<Vec<wit::ResourceAmount>>,
        strategy: wit::PlacementStrategy,
        name: Option<String>,
        detached: bool,
    ) -> Result<ObjectId, TaskError> {
        let invalid = |m: String| TaskError::new(ErrorKind::InvalidArgument, m);
        let mut specs = Vec::with_capacity(bundles.len());
        for (i, bundle) in bundles.iter().enumerate() {
            let mut r = Resources::none();
            for a in bundle {
                r.set(&a.name, a.amount)
                    .map_err(|m| invalid(format!("bundle {i}: {m}")))?;
            }
            specs.push(r);
        }
        let strategy = match strategy {
            wit::PlacementStrategy::Pack => GroupStrategy::Pack,
            wit::PlacementStrategy::Spread => GroupStrategy::Spread,
            wit::PlacementStrategy::StrictPack => GroupStrategy::StrictPack,
            wit::PlacementStrategy::StrictSpread => GroupStrategy::StrictSpread,
        };
        let (id, never, starts) = self.control.lock().create_group(
            caller.job,
            specs,
            strategy,
            name.clone(),
            detached,
        )?;
        if let Some(why) = never {
            tracing::warn!(
                group = %format!("{id:x}"),
                name = name.as_deref().unwrap_or(""),
                "placement group stays pending: this node can never hold it: {why}"
            );
        }
        self.start(starts, true);
        Ok(id)
    }

    /// `remove-placement-group` for `caller`.
    pub(crate) fn remove_placement_group(
        self: &Arc<Self>,
        caller: &TaskCtx,
        group: ObjectId,
    ) -> Result<(), TaskError> {
        let starts = self.control.lock().remove_group(group, caller.job)?;
        self.start(starts, true);
        Ok(())
    }

    /// Remove the placement groups of `job`, whose driver ended.
    pub(crate) fn remove_groups_of(self: &Arc<Self>, job: JobId) {
        let starts = self.control.lock().remove_groups_of(job);
        self.start(starts, false);
    }

    /// `describe-placement-group` for `caller`.
    pub(crate) fn placement_group_info(
        &self,
        caller: &TaskCtx,
        group: ObjectId,
    ) -> Option<wit::PlacementGroupInfo> {
        let g = self.control.lock().group_for(group, caller.job).ok()?;
        Some(wit::PlacementGroupInfo {
            id: g.id.get(),
            name: g.name,
            strategy: match g.strategy {
                GroupStrategy::Pack => wit::PlacementStrategy::Pack,
                GroupStrategy::Spread => wit::PlacementStrategy::Spread,
                GroupStrategy::StrictPack => wit::PlacementStrategy::StrictPack,
                GroupStrategy::StrictSpread => wit::PlacementStrategy::StrictSpread,
            },
            state: match g.state {
                GroupState::Pending => wit::PlacementGroupState::Pending,
                GroupState::Created => wit::PlacementGroupState::Created,
                GroupState::Removed => wit::PlacementGroupState::Removed,
            },
            bundles: g
                .bundles
                .iter()
                .map(|b| {
                    b.entries()
                        .into_iter()
                        .map(|(name, amount)| wit::ResourceAmount { name, amount })
                        .collect()
                })
                .collect(),
            node: self.node_name(),
        })
    }

    /// `find-placement-group` for `caller`.
    pub(crate) fn find_placement_group(&self, caller: &TaskCtx, name: &str) -> Option<ObjectId> {
        self.control.lock().group_named(name, caller.job)
    }

    /// Where a task submitted by `caller` with `options` goes in a
    /// placement group: its own `placement-group` strategy, or its caller's
    /// group when the caller captures its children and the task names no
    /// strategy (then written into `options`, so that the task's own
    /// children and another node see it too). `demand` is renamed to the
    /// group's resources, checked against its bundles, and the task is
    /// pinned to the group's node.
    pub(crate) fn place_in_group(
        &self,
        caller: &TaskCtx,
        job: JobId,
        options: &mut wit::TaskOptions,
        demand: &mut Resources,
        strategy: &mut Strategy,
    ) -> Result<Option<wit::Placement>, String> {
        let placement = match &options.scheduling {
            Some(wit::SchedulingStrategy::PlacementGroup(p)) => *p,
            Some(_) => return Ok(None),
            None => match &caller.placement {
                Some(p) if p.capture_child_tasks => {
                    let p = wit::Placement { bundle: None, ..*p };
                    options.scheduling = Some(wit::SchedulingStrategy::PlacementGroup(p));
                    p
                }
                _ => return Ok(None),
            },
        };
        if let Some(node) = self.owner_of(ObjectId::new(placement.group)) {
            return Err(format!(
                "placement group {:x} is reserved on node {node}: submit its tasks from that node \
                 (raylab's placement groups live on the node that made them)",
                placement.group
            ));
        }
        let group = self
            .control
            .lock()
            .group_for(ObjectId::new(placement.group), job)
            .map_err(|e| e.message)?;
        if group.state == GroupState::Removed {
            return Err(format!("placement group {:x} was removed", placement.group));
        }
        let bundle = placement.bundle.map(|b| b as usize);
        if let Some(b) = bundle
            && b >= group.bundles.len()
        {
            return Err(format!(
                "placement group bundle index {b} is invalid: the group has {} bundles",
                group.bundles.len()
            ));
        }
        let candidates: Vec<&Resources> = match bundle {
            Some(b) => vec![&group.bundles[b]],
            None => group.bundles.iter().collect(),
        };
        if !candidates.iter().any(|b| b.fits(demand)) {
            return Err(format!(
                "it asks for {demand}, more than any bundle of placement group {:x} holds",
                placement.group
            ));
        }
        *demand = demand.in_group(ObjectId::new(placement.group), bundle);
        *strategy = Strategy::Here;
        Ok(Some(placement))
    }
}
