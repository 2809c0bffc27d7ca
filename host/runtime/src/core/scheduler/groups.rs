//! Placement groups (Ray's `ray.util.placement_group`): bundles of
//! resources reserved on this node at once, for the tasks and actors that
//! ask for them.
//!
//! The scheme is Ray's own "renamed resources": once a group is created,
//! its bundles' amounts leave the node's pool and come back as resources
//! named after the group. Bundle `i` of group `g` holding `CPU: 1` adds
//! `CPU_group_i_<g>` (that bundle) and `CPU_group_<g>` (any bundle of the
//! group), and a task placed in the group asks for those names instead of
//! `CPU` (see [`Resources::in_group`]). So the rest of the scheduler needs
//! no notion of groups: a task of the group fits when its bundle has room,
//! and no other task can take what the group holds. The group's names are
//! in the node's total from the moment it is asked for (with nothing free
//! until it is created), so a task submitted to a group still pending is
//! feasible and waits for it.
//!
//! Decisions, where Ray leaves room or raylab differs:
//! * every bundle of a group is reserved on the node that creates it
//!   (issue 22 brings actors across nodes; groups would follow): `PACK`,
//!   `SPREAD` and `STRICT_PACK` are met on one node, `STRICT_SPREAD` with
//!   more than one bundle never is, and stays pending, as on a one-node
//!   Ray cluster;
//! * groups are created in the order they were asked for, before queued
//!   tasks take what is free;
//! * a bundle's GPUs are devices, as a task's are: when the group is
//!   created each bundle takes its devices (a fraction on one device, whole
//!   devices for whole numbers) and keeps their ids; a task or actor of
//!   the bundle is placed on those devices and gets their ids, and gives
//!   them back to the bundle when it ends. The renamed amounts say how
//!   much; the per-bundle device ledger says which device;
//! * removing a group fails its tasks that have not started; tasks and
//!   actors already running in it run on, and what they hold returns to
//!   the node's pool as they end (Ray kills them instead), so the node is
//!   never oversubscribed.

use super::Scheduler;
use crate::core::resources::{Resources, group_resource};
use crate::ids::{JobId, ObjectId};

/// How a group's bundles may be placed across nodes (Ray's strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupStrategy {
    Pack,
    Spread,
    StrictPack,
    StrictSpread,
}

impl GroupStrategy {
    /// Ray's name of the strategy.
    pub(crate) fn name(self) -> &'static str {
        match self {
            GroupStrategy::Pack => "PACK",
            GroupStrategy::Spread => "SPREAD",
            GroupStrategy::StrictPack => "STRICT_PACK",
            GroupStrategy::StrictSpread => "STRICT_SPREAD",
        }
    }
}

/// Where a group is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupState {
    /// Asked for; its bundles are not reserved yet.
    Pending,
    /// Its bundles are reserved.
    Created,
    /// Removed (by the program, or when its job ended).
    Removed,
}

/// A placement group of this node.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    /// Its id (the id of the object that is ready once it is created).
    pub(crate) id: ObjectId,
    /// The job that made it ([`crate::ids::DETACHED_JOB`] for a
    /// detached one).
    pub(crate) job: JobId,
    pub(crate) name: Option<String>,
    pub(crate) strategy: GroupStrategy,
    pub(crate) bundles: Vec<Resources>,
    pub(crate) state: GroupState,
}

impl Group {
    /// Every bundle's amounts, summed.
    fn sum(&self) -> Resources {
        let mut sum = Resources::none();
        for b in &self.bundles {
            sum.add(b);
        }
        sum
    }

    /// The resources named after the group, with their amounts.
    fn renamed(&self) -> Resources {
        let mut out = Resources::none();
        for (i, bundle) in self.bundles.iter().enumerate() {
            for (name, amount) in bundle.amounts().filter(|(_, v)| *v > 0) {
                for key in [
                    group_resource(name, self.id, Some(i)),
                    group_resource(name, self.id, None),
                ] {
                    let now = out.get_fixed(&key);
                    out.set_fixed(&key, now + amount);
                }
            }
        }
        out
    }

    /// Devices for each bundle's GPUs among `free` (`(device, free
    /// share)`, taken from as bundles are placed), or `None` if they do not
    /// all fit.
    fn place_gpus(&self, free: &mut [(u32, u64)]) -> Option<Vec<Vec<(u32, u64)>>> {
        let mut out = Vec::with_capacity(self.bundles.len());
        for b in &self.bundles {
            let devices = super::place_on(free.iter().copied(), b.gpu_fixed())?;
            for (id, share) in &devices {
                let d = free.iter_mut().find(|d| d.0 == *id).expect("placed");
                d.1 -= share;
            }
            out.push(devices);
        }
        Some(out)
    }

    /// Why one node can never hold it (`node_total`: the node's own
    /// resources, groups aside), or `None` if it can.
    fn never_on(&self, node_total: &Resources) -> Option<String> {
        if self.strategy == GroupStrategy::StrictSpread && self.bundles.len() > 1 {
            return Some(format!(
                "{} puts each of its {} bundles on a node of its own, and raylab \
                 reserves a group on the one node that makes it",
                self.strategy.name(),
                self.bundles.len()
            ));
        }
        let sum = self.sum();
        if let Some((name, want, have)) = node_total.shortfall(&sum) {
            return Some(format!(
                "its bundles hold {want} {name} together; the node has {have} in total"
            ));
        }
        let devices = node_total.gpu_fixed() / crate::core::resources::ONE;
        let mut free: Vec<(u32, u64)> = (0..devices as u32)
            .map(|id| (id, crate::core::resources::ONE))
            .collect();
        if self.place_gpus(&mut free).is_none() {
            return Some(format!(
                "its bundles' GPUs do not fit on the node's {devices} GPU devices \
                 (a bundle's fraction of a GPU lies on one device)"
            ));
        }
        None
    }
}

/// Check a group's bundles: at least one, none empty, GPUs above one in
/// whole numbers.
pub(crate) fn check_bundles(bundles: &[Resources]) -> Result<(), String> {
    if bundles.is_empty() {
        return Err("a placement group needs at least one bundle".into());
    }
    for (i, b) in bundles.iter().enumerate() {
        if b.entries().is_empty() {
            return Err(format!(
                "bundle {i} is empty: each bundle holds some resource"
            ));
        }
        let g = b.gpu_fixed();
        if g > crate::core::resources::ONE && !g.is_multiple_of(crate::core::resources::ONE) {
            return Err(format!(
                "bundle {i} holds {} GPU: above 1, GPUs come in whole numbers",
                b.gpu()
            ));
        }
    }
    Ok(())
}

impl<P> Scheduler<P> {
    /// Ask for group `g` (pending): its names join the node's total, with
    /// nothing free until [`Scheduler::dispatch`] creates it. Returns why
    /// this node can never hold it (it stays pending), if so.
    pub(crate) fn add_group(&mut self, mut g: Group) -> Result<Option<String>, String> {
        check_bundles(&g.bundles)?;
        if self.groups.contains_key(&g.id) {
            return Err(format!("placement group {:x} exists", g.id));
        }
        let node_total = self.node_total();
        let never = g.never_on(&node_total);
        for (name, v) in g.renamed().amounts().filter(|(_, v)| *v > 0) {
            self.total.set_fixed(name, v);
        }
        g.state = GroupState::Pending;
        self.groups.insert(g.id, g);
        self.pending_groups += 1;
        Ok(never)
    }

    /// The node's total without the groups' own names.
    fn node_total(&self) -> Resources {
        let mut t = Resources::none();
        for (name, v) in self.total.amounts() {
            if crate::core::resources::parse_group_resource(name).is_none() {
                t.set_fixed(name, v);
            }
        }
        t
    }

    /// Reserve the pending groups that fit now, in the order they were
    /// asked for (each is all or nothing).
    pub(super) fn reserve_groups(&mut self) {
        if self.pending_groups == 0 {
            return;
        }
        let pending: Vec<ObjectId> = self
            .groups
            .values()
            .filter(|g| g.state == GroupState::Pending)
            .map(|g| g.id)
            .collect();
        for id in pending {
            let g = &self.groups[&id];
            if g.strategy == GroupStrategy::StrictSpread && g.bundles.len() > 1 {
                continue;
            }
            let sum = g.sum();
            if !self.available.fits(&sum) {
                continue;
            }
            let mut free: Vec<(u32, u64)> = self
                .gpu_free
                .iter()
                .enumerate()
                .map(|(id, f)| (id as u32, *f))
                .collect();
            let Some(devices) = g.place_gpus(&mut free) else {
                continue;
            };
            for (id, f) in free {
                self.gpu_free[id as usize] = f;
            }
            self.group_gpus.insert(id, devices);
            let renamed = g.renamed();
            self.available.subtract(&sum);
            self.available.add(&renamed);
            self.groups.get_mut(&id).expect("listed").state = GroupState::Created;
            self.pending_groups -= 1;
            self.reserved.push(id);
        }
    }

    /// Groups created since the last call.
    pub(crate) fn take_reserved(&mut self) -> Vec<ObjectId> {
        std::mem::take(&mut self.reserved)
    }

    /// A group by id.
    pub(crate) fn group(&self, id: ObjectId) -> Option<&Group> {
        self.groups.get(&id)
    }

    /// The live group named `name` that `job` can see (its own, or a
    /// detached one).
    pub(crate) fn group_named(&self, name: &str, job: JobId) -> Option<&Group> {
        self.groups.values().find(|g| {
            g.state != GroupState::Removed
                && g.name.as_deref() == Some(name)
                && (g.job == job || g.job == crate::ids::DETACHED_JOB)
        })
    }

    /// Groups of `job`, live or not.
    pub(crate) fn groups_of(&self, job: JobId) -> Vec<ObjectId> {
        self.groups
            .values()
            .filter(|g| g.job == job)
            .map(|g| g.id)
            .collect()
    }

    /// Forget a removed group's record.
    pub(crate) fn forget_group(&mut self, id: ObjectId) {
        if self
            .groups
            .get(&id)
            .is_some_and(|g| g.state == GroupState::Removed)
        {
            self.groups.remove(&id);
        }
    }

    /// Remove group `id`: what it reserved and nobody holds goes back to
    /// the pool now, the rest as its holders end (see
    /// [`Resources::add_within`]). Returns the tasks that can never start
    /// now (they asked for the group), taken out of the queues, and the
    /// state the group was in.
    pub(crate) fn remove_group(&mut self, id: ObjectId) -> Option<(GroupState, Vec<P>)> {
        let g = self.groups.get_mut(&id)?;
        let was = g.state;
        if was == GroupState::Removed {
            return Some((was, Vec::new()));
        }
        g.state = GroupState::Removed;
        let g = g.clone();
        match was {
            GroupState::Pending => self.pending_groups -= 1,
            GroupState::Created => {
                // Per base resource: the part of the group's reservation
                // no task holds now goes back at once.
                for (name, amount) in g.sum().amounts().filter(|(_, v)| *v > 0) {
                    let any = group_resource(name, id, None);
                    let held = self
                        .total
                        .get_fixed(&any)
                        .saturating_sub(self.available.get_fixed(&any));
                    let free = amount.saturating_sub(held);
                    let now = self.available.get_fixed(name);
                    self.available.set_fixed(name, now + free);
                }
                // Its devices' shares no task holds go back now; the rest
                // as their holders end (`give_back_gpus`).
                for (device, free) in self.group_gpus.remove(&id).into_iter().flatten().flatten() {
                    self.gpu_free[device as usize] += free;
                }
            }
            GroupState::Removed => {}
        }
        for (name, _) in g.renamed().amounts().filter(|(_, v)| *v > 0) {
            self.total.set_fixed(name, 0);
            self.available.set_fixed(name, 0);
        }
        // Blocked tasks of the group ask for the node's own CPU back.
        let total = self.total.clone();
        for (part, _) in self.resuming.iter_mut() {
            *part = part.rebased(&total);
        }
        Some((was, self.take_orphans()))
    }

    /// Take out the waiting tasks whose demand names a resource the node
    /// no longer has (a removed group's).
    fn take_orphans(&mut self) -> Vec<P> {
        let total = &self.total;
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.classes.len() {
            if self.classes[i].demand.custom_outside(total) {
                let class = self.classes.swap_remove(i);
                for q in class.tasks {
                    self.queued -= 1;
                    self.queued_cpu -= q.demand.cpu_fixed();
                    out.push(q.payload);
                }
            } else {
                i += 1;
            }
        }
        let orphans: Vec<_> = self
            .waiting_args
            .iter()
            .filter(|(_, (_, q))| q.demand.custom_outside(total))
            .map(|(id, _)| *id)
            .collect();
        for id in orphans {
            if let Some(p) = self.remove_waiting(id) {
                out.push(p);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
