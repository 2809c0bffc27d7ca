//! Placement groups (Ray's `ray.util.placement_group`): bundles of
//! resources reserved together on the node that makes the group, for the
//! tasks and actors placed in it with
//! [`TaskOptions::placement_group`](crate::TaskOptions::placement_group) or
//! [`ActorOptions::placement_group`](crate::ActorOptions::placement_group).
//!
//! ```no_run
//! use raylab_guest::{PlacementStrategy, TaskOptions, placement_group};
//! # fn main() -> raylab_guest::Result<()> {
//! let pg = placement_group(&[&[("CPU", 1.0)], &[("CPU", 1.0)]], PlacementStrategy::Pack)?;
//! pg.ready()?; // every bundle reserved
//! let in_bundle_0 = TaskOptions::new().placement_group(&pg, Some(0));
//! # let _ = in_bundle_0;
//! pg.remove()?;
//! # Ok(())
//! # }
//! ```
//!
//! As in Ray: a group that can never fit stays pending (`ready` waits, and
//! the host logs why), a task in a group holds the group's resources
//! instead of the node's, and removing a group gives them back. Where
//! raylab differs: every bundle is reserved on one node (so
//! [`PlacementStrategy::StrictSpread`] with two bundles or more stays
//! pending), and a removed group's running tasks and
//! actors run on (their resources return to the node as they end).

use std::time::Duration;

use crate::{ObjectRef, Result, rt, wit};

/// How a group's bundles may be spread over nodes (Ray's strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacementStrategy {
    /// As few nodes as possible (`"PACK"`).
    Pack,
    /// Across nodes, as evenly as possible (`"SPREAD"`).
    Spread,
    /// All on one node (`"STRICT_PACK"`).
    StrictPack,
    /// Each bundle on a node of its own (`"STRICT_SPREAD"`).
    StrictSpread,
}

/// Where a group is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacementGroupState {
    /// Waiting for its bundles to fit.
    Pending,
    /// Its bundles are reserved.
    Created,
    /// Removed.
    Removed,
}

/// A placement group this task made (or was given by id). Dropping it does
/// not remove the group: [`PlacementGroup::remove`] does, and so does the
/// end of the job.
#[derive(Debug)]
pub struct PlacementGroup {
    ready: ObjectRef<()>,
}

/// Ask for a group of `bundles` (each a list of `(resource, amount)`); it is
/// created as soon as they fit.
pub fn placement_group(
    bundles: &[&[(&str, f64)]],
    strategy: PlacementStrategy,
) -> Result<PlacementGroup> {
    create(bundles, strategy, None)
}

/// [`placement_group`] with a name, to find it again with
/// [`PlacementGroup::named`].
pub fn named_placement_group(
    name: &str,
    bundles: &[&[(&str, f64)]],
    strategy: PlacementStrategy,
) -> Result<PlacementGroup> {
    create(bundles, strategy, Some(name.to_string()))
}

fn create(
    bundles: &[&[(&str, f64)]],
    strategy: PlacementStrategy,
    name: Option<String>,
) -> Result<PlacementGroup> {
    let bundles: Vec<Vec<wit::ResourceAmount>> = bundles
        .iter()
        .map(|b| {
            b.iter()
                .map(|(name, amount)| wit::ResourceAmount {
                    name: name.to_string(),
                    amount: *amount,
                })
                .collect()
        })
        .collect();
    let strategy = match strategy {
        PlacementStrategy::Pack => wit::PlacementStrategy::Pack,
        PlacementStrategy::Spread => wit::PlacementStrategy::Spread,
        PlacementStrategy::StrictPack => wit::PlacementStrategy::StrictPack,
        PlacementStrategy::StrictSpread => wit::PlacementStrategy::StrictSpread,
    };
    let id = rt::create_placement_group(&bundles, strategy, name.as_deref(), false)?;
    Ok(PlacementGroup {
        ready: ObjectRef::from_owned_id(id),
    })
}

impl PlacementGroup {
    /// The live group named `name` of this job, if any.
    pub fn named(name: &str) -> Option<PlacementGroup> {
        Self::by_id(rt::find_placement_group(name)?)
    }

    /// The group with id `id` (for instance [`current_placement_group`]'s),
    /// if this job has it.
    pub fn by_id(id: u64) -> Option<PlacementGroup> {
        rt::retain(id).ok()?;
        Some(PlacementGroup {
            ready: ObjectRef::from_owned_id(id),
        })
    }

    /// The group's id.
    pub fn id(&self) -> u64 {
        self.ready.id()
    }

    /// Wait until every bundle is reserved (an `Err` of kind `infeasible`
    /// if the group was removed first).
    pub fn ready(&self) -> Result<()> {
        self.ready.get()
    }

    /// Whether the group is created within `timeout`.
    pub fn wait(&self, timeout: Duration) -> Result<bool> {
        match self.ready.get_timeout(timeout) {
            Ok(()) => Ok(self.state() == Some(PlacementGroupState::Created)),
            Err(e) if e.kind == crate::ErrorKind::Timeout => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Give the group's resources back; its tasks that have not started
    /// fail.
    pub fn remove(&self) -> Result<()> {
        Ok(rt::remove_placement_group(self.id())?)
    }

    /// Where the group is in its life (`None`: this node does not know it).
    pub fn state(&self) -> Option<PlacementGroupState> {
        rt::describe_placement_group(self.id()).map(|i| match i.state {
            wit::PlacementGroupState::Pending => PlacementGroupState::Pending,
            wit::PlacementGroupState::Created => PlacementGroupState::Created,
            wit::PlacementGroupState::Removed => PlacementGroupState::Removed,
        })
    }

    /// Each bundle's resources.
    pub fn bundles(&self) -> Vec<Vec<(String, f64)>> {
        rt::describe_placement_group(self.id())
            .map(|i| {
                i.bundles
                    .into_iter()
                    .map(|b| b.into_iter().map(|r| (r.name, r.amount)).collect())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The id of the group the calling task or actor runs in (`None` in the
/// driver and outside any group).
pub fn current_placement_group() -> Option<u64> {
    rt::context().placement.map(|p| p.group)
}
