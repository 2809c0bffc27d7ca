//! Task options: [`TaskOptions`], [`Scheduling`], [`Isolation`], and the
//! builder methods tasks and actors share.

use std::time::Duration;

use crate::bindings::raylab::runtime::types as wit;
use crate::{ActorOptions, PlacementGroup};

/// Sandbox reuse policy of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// A fresh instance per task (default).
    Fresh,
    /// Reuse a warm instance: faster, but guest globals survive between tasks.
    Warm,
}

/// Options of a remote call (`@ray.remote(...)` / `.options(...)`). Unset
/// fields take the host's defaults.
#[derive(Debug, Clone, Default)]
pub struct TaskOptions {
    /// Display name (default: the function's name).
    pub name: Option<String>,
    /// CPU slots held while running (default 1).
    pub num_cpus: Option<f64>,
    /// GPUs held while running (default 0).
    pub num_gpus: Option<f64>,
    /// Memory in bytes reserved, and enforced as the sandbox cap.
    pub memory: Option<u64>,
    /// Custom resources held while running.
    pub resources: Vec<(String, f64)>,
    /// Retries after a crash (default 3).
    pub max_retries: Option<u32>,
    /// Also retry when the function returns an error.
    pub retry_exceptions: Option<bool>,
    /// Time limit of one attempt.
    pub timeout: Option<Duration>,
    /// Fresh or warm sandbox.
    pub isolation: Option<Isolation>,
    /// Where in a cluster it may run (default: where it was submitted when
    /// that node has the resources free, else a node that has them).
    pub scheduling: Option<Scheduling>,
}

/// Where in a cluster a task may run (Ray's scheduling strategies).
#[derive(Debug, Clone, PartialEq)]
pub enum Scheduling {
    /// Spread tasks over the nodes that can hold them, in turn
    /// (`scheduling_strategy="SPREAD"`).
    Spread,
    /// Run on one node, by name or id (`NodeAffinitySchedulingStrategy`):
    /// when it is gone, run where the default would (`soft`) or fail.
    NodeAffinity {
        /// The node's name (`--node-name`) or id.
        node: String,
        /// Fall back to the default strategy instead of failing.
        soft: bool,
    },
    /// In a placement group's bundles (`PlacementGroupSchedulingStrategy`):
    /// see [`TaskOptions::placement_group`].
    PlacementGroup {
        /// The group's id ([`PlacementGroup::id`]).
        group: u64,
        /// Its bundle, from 0 (`None`: any with room).
        bundle: Option<u32>,
        /// The tasks and actors it submits with no strategy of their own
        /// go in the group too.
        capture_child_tasks: bool,
    },
    /// Outside the caller's placement group even when the caller captures
    /// its children (`PlacementGroupSchedulingStrategy(placement_group=None)`).
    OutsideGroup,
}

impl Scheduling {
    pub(crate) fn to_wit(&self) -> wit::SchedulingStrategy {
        match self {
            Scheduling::Spread => wit::SchedulingStrategy::Spread,
            Scheduling::NodeAffinity { node, soft } => {
                wit::SchedulingStrategy::NodeAffinity(wit::NodeAffinity {
                    node: node.clone(),
                    soft: *soft,
                })
            }
            Scheduling::PlacementGroup {
                group,
                bundle,
                capture_child_tasks,
            } => wit::SchedulingStrategy::PlacementGroup(wit::Placement {
                group: *group,
                bundle: *bundle,
                capture_child_tasks: *capture_child_tasks,
            }),
            Scheduling::OutsideGroup => wit::SchedulingStrategy::OutsideGroup,
        }
    }
}

/// The builder methods that [`TaskOptions`] and [`ActorOptions`] share,
/// defined once for both: what they demand (CPUs, GPUs, memory, custom
/// resources), their time limit and their placement group. `$held` says
/// for how long the resources are held, `$limited` what the time limit
/// bounds.
macro_rules! shared_options {
    ($ty:ident, held $held:literal, limits $limited:literal) => {
        impl $ty {
            /// All defaults.
            pub fn new() -> Self {
                Self::default()
            }
            #[doc = concat!("Set the CPU slots held ", $held, ".")]
            pub fn num_cpus(mut self, n: f64) -> Self {
                self.num_cpus = Some(n);
                self
            }
            #[doc = concat!("Set the GPUs held ", $held, ".")]
            pub fn num_gpus(mut self, n: f64) -> Self {
                self.num_gpus = Some(n);
                self
            }
            #[doc = concat!("Set the memory reserved ", $held, ",")]
            /// and enforced as the instance's quota, in bytes.
            pub fn memory(mut self, bytes: u64) -> Self {
                self.memory = Some(bytes);
                self
            }
            #[doc = concat!("Add a custom resource held ", $held, ".")]
            pub fn resource(mut self, name: impl Into<String>, amount: f64) -> Self {
                self.resources.push((name.into(), amount));
                self
            }
            #[doc = concat!("Set the time limit of ", $limited, ".")]
            pub fn timeout(mut self, t: Duration) -> Self {
                self.timeout = Some(t);
                self
            }
            /// Run in a placement group's bundle `bundle` (`None`: any
            /// with room), holding its resources from the group's.
            pub fn placement_group(mut self, group: &PlacementGroup, bundle: Option<u32>) -> Self {
                self.scheduling = Some(Scheduling::PlacementGroup {
                    group: group.id(),
                    bundle,
                    capture_child_tasks: false,
                });
                self
            }
        }
    };
}

shared_options!(TaskOptions, held "while it runs", limits "one attempt");
shared_options!(ActorOptions, held "for the actor's life", limits "one method call");

/// Custom resources `own`, with those of `base` it does not name (the
/// `or` of both kinds of options).
pub(crate) fn merge_resources(
    own: Vec<(String, f64)>,
    base: Vec<(String, f64)>,
) -> Vec<(String, f64)> {
    let mut resources = base;
    for (name, amount) in own {
        resources.retain(|(n, _)| *n != name);
        resources.push((name, amount));
    }
    resources
}

impl TaskOptions {
    /// Set the display name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Set the number of retries after a crash.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = Some(n);
        self
    }
    /// Retry when the function returns an error, too.
    pub fn retry_exceptions(mut self, yes: bool) -> Self {
        self.retry_exceptions = Some(yes);
        self
    }
    /// Choose fresh or warm sandboxes.
    pub fn isolation(mut self, i: Isolation) -> Self {
        self.isolation = Some(i);
        self
    }
    /// Spread tasks over the cluster's nodes.
    pub fn spread(mut self) -> Self {
        self.scheduling = Some(Scheduling::Spread);
        self
    }
    /// Like [`TaskOptions::placement_group`], and the tasks and actors it
    /// submits go in the group too (`placement_group_capture_child_tasks`).
    pub fn placement_group_capturing(
        mut self,
        group: &PlacementGroup,
        bundle: Option<u32>,
    ) -> Self {
        self.scheduling = Some(Scheduling::PlacementGroup {
            group: group.id(),
            bundle,
            capture_child_tasks: true,
        });
        self
    }
    /// Run outside a placement group that the caller captures its children
    /// into.
    pub fn outside_group(mut self) -> Self {
        self.scheduling = Some(Scheduling::OutsideGroup);
        self
    }
    /// Run on one node, by name or id; `soft`: where the default would when
    /// it cannot.
    pub fn node_affinity(mut self, node: impl Into<String>, soft: bool) -> Self {
        self.scheduling = Some(Scheduling::NodeAffinity {
            node: node.into(),
            soft,
        });
        self
    }

    /// These options, with every unset field taken from `base`.
    pub fn or(self, base: TaskOptions) -> TaskOptions {
        let resources = merge_resources(self.resources, base.resources);
        TaskOptions {
            name: self.name.or(base.name),
            num_cpus: self.num_cpus.or(base.num_cpus),
            num_gpus: self.num_gpus.or(base.num_gpus),
            memory: self.memory.or(base.memory),
            resources,
            max_retries: self.max_retries.or(base.max_retries),
            retry_exceptions: self.retry_exceptions.or(base.retry_exceptions),
            timeout: self.timeout.or(base.timeout),
            isolation: self.isolation.or(base.isolation),
            scheduling: self.scheduling.or(base.scheduling),
        }
    }

    pub(crate) fn to_wit(&self) -> wit::TaskOptions {
        wit::TaskOptions {
            name: self.name.clone(),
            num_cpus: self.num_cpus,
            num_gpus: self.num_gpus,
            memory: self.memory,
            resources: self
                .resources
                .iter()
                .map(|(name, amount)| wit::ResourceAmount {
                    name: name.clone(),
                    amount: *amount,
                })
                .collect(),
            max_retries: self.max_retries,
            retry_exceptions: self.retry_exceptions,
            timeout_ms: self.timeout.map(|t| t.as_millis() as u64),
            isolation: self.isolation.map(|i| match i {
                Isolation::Fresh => wit::Isolation::Fresh,
                Isolation::Warm => wit::Isolation::Warm,
            }),
            scheduling: self.scheduling.as_ref().map(Scheduling::to_wit),
        }
    }
}
