//! The cluster as the task lifecycle sees it: where a task may run
//! ([`Strategy`]), what this node can do for it ([`HereFits`]), a task sent
//! to another node ([`Recipe`], [`Forward`]) and the [`Placement`] trait the
//! cluster implements; and the `Tasks` methods that forward tasks and read
//! objects of other nodes.

use std::sync::Arc;

use crate::bindings::wit;
use crate::core::cancel::CancelFlag;
use crate::core::control::JobId;
use crate::core::object_store::ObjectId;
use crate::core::resources::Resources;
use crate::error::{ErrorKind, TaskError};
use crate::msgpack;
use crate::wasm::modules::Module;

use super::{BoxFuture, NodeControl, Tasks, whole};

/// Where a task may run in a cluster (the `scheduling` option).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Strategy {
    /// Here when this node has the resources free, else a node that has
    /// them, else here (queued) when this node can ever hold it, else any
    /// node that can.
    Default,
    /// The nodes that can hold it, in turn.
    Spread,
    /// One node, by name or id; `soft`: the default when it cannot.
    Affinity { node: String, soft: bool },
    /// Here, whatever the cluster: a task another node placed here.
    Here,
}

impl Strategy {
    pub(crate) fn of(options: &wit::TaskOptions) -> Strategy {
        match &options.scheduling {
            None => Strategy::Default,
            Some(wit::SchedulingStrategy::Spread) => Strategy::Spread,
            Some(wit::SchedulingStrategy::NodeAffinity(a)) => Strategy::Affinity {
                node: a.node.clone(),
                soft: a.soft,
            },
            // A group's task is pinned to its group's node by
            // `place_in_group`.
            Some(
                wit::SchedulingStrategy::PlacementGroup(_) | wit::SchedulingStrategy::OutsideGroup,
            ) => Strategy::Default,
        }
    }
}

/// Whether a scheduling strategy is a placement group's (kept when a task
/// is pinned to a node: the group is on it).
pub(crate) fn is_group(s: &wit::SchedulingStrategy) -> bool {
    matches!(s, wit::SchedulingStrategy::PlacementGroup(_))
}

/// The node a task "runs on" while it waits for a node of the cluster that
/// can hold it (node ids start at 1).
pub(crate) const WAIT_FOR_NODE: u16 = 0;

/// What this node can do for a task right now, for placement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct HereFits {
    /// Its total resources can ever hold the task.
    pub(crate) ever: bool,
    /// Its free resources hold it now.
    pub(crate) now: bool,
    /// CPU held and queued over CPU total.
    pub(crate) load: f64,
}

impl HereFits {
    /// What this node's control state says of `demand` now.
    pub(crate) fn of(control: &NodeControl, demand: &Resources) -> HereFits {
        let c = control.lock();
        HereFits {
            ever: c.total().fits(demand),
            now: c.available().fits(demand),
            load: c.load(),
        }
    }
}

/// A task as it is sent to another node: enough to run it there, or to
/// run it again (see `lineage`).
#[derive(Clone)]
pub(crate) struct Recipe {
    pub(crate) job: JobId,
    pub(crate) module: Arc<Module>,
    pub(crate) function: String,
    pub(crate) name: String,
    /// The argument list, dependencies replaced by their values.
    pub(crate) args: Arc<Vec<u8>>,
    pub(crate) options: wit::TaskOptions,
    pub(crate) demand: Resources,
}

/// A task another node of the cluster runs on this node's behalf.
pub(crate) struct Forward {
    pub(crate) task: Recipe,
    pub(crate) cancel: Arc<CancelFlag>,
    /// What the submitting node can do for it now (to place it again).
    pub(crate) here: Arc<dyn Fn(&Resources) -> HereFits + Send + Sync>,
    /// Take the references node `to` gets with its arguments (before each
    /// attempt: see `wire`'s "References across nodes").
    pub(crate) export: Arc<dyn Fn(u16) -> BoxFuture + Send + Sync>,
}

/// How a forwarded task ended.
pub(crate) enum Forwarded {
    /// Its outcome.
    Done(Result<Vec<u8>, TaskError>),
    /// The node it ran on died and this node should run it now (the
    /// task given back).
    Here(Box<Forward>),
}

/// A task placed on another node counted against that node's resources
/// from its placement until it ends (dropped), so that a burst of tasks
/// placed before any is sent spreads over the nodes instead of all going
/// to the one that looked free (see [`Placement::reserve`]).
pub(crate) struct Reservation(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Reservation {
    /// A reservation that `release` gives back.
    pub(crate) fn new(release: impl FnOnce() + Send + Sync + 'static) -> Self {
        Reservation(Some(Box::new(release)))
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            release();
        }
    }
}

/// A future of bytes read from another node.
pub(crate) type FetchFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u8>, TaskError>> + Send>>;

/// What a node asks of an actor that another node owns (see
/// [`Placement::actor`]).
pub(crate) enum ActorOp {
    /// Call `method` of the actor behind `handle` with the argument list.
    Call { handle: ObjectId, method: String },
    /// Kill the actor behind `handle`.
    Kill { handle: ObjectId },
    /// A reference to the handle of the live actor named `name` (of the
    /// job, or detached), if that node has one: answered with its id.
    Find { name: String },
    /// Make an actor of `class` (of `module`) there, with the constructor's
    /// argument list: answered with its handle's id once its constructor
    /// has run (that node owns the handle; the asker holds one reference).
    Create {
        module: Arc<Module>,
        class: String,
        options: wit::ActorOptions,
    },
}

/// A future of a forwarded task's outcome.
pub(crate) type ForwardFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Forwarded> + Send>>;

/// The cluster as the task lifecycle sees it (implemented over NATS by
/// `cluster`): where a task goes, and running it there.
pub(crate) trait Placement: Send + Sync {
    /// This node's name in the cluster.
    fn node_name(&self) -> String;
    /// The node a task with `demand` runs on under `strategy` (`None`:
    /// this one), or why none can hold it.
    fn place(
        &self,
        demand: &Resources,
        strategy: &Strategy,
        here: HereFits,
    ) -> Result<Option<u16>, String>;
    /// Count a task with `demand` placed on `node` against it until the
    /// reservation is dropped (its first attempt there runs under it).
    fn reserve(&self, node: u16, demand: &Resources) -> Reservation;
    /// Run `task` on `node` (placed there under a reservation when
    /// `reserved`); resolves to its result bytes.
    fn run(&self, node: u16, task: Forward, reserved: bool) -> ForwardFuture;
    /// This node's id.
    fn id(&self) -> u16;
    /// Bytes `offset .. offset + len` of object `id` of another node, read
    /// for a guest of `job` (once the object is ready).
    fn fetch(&self, job: JobId, id: ObjectId, offset: u64, len: u64) -> FetchFuture;
    /// The resources of the cluster's live nodes, summed.
    fn total(&self) -> Resources;
    /// The name of node `id` (its id, if unknown).
    fn name_of(&self, id: u16) -> String;
    /// Take one reference to each of `ids` (objects of other nodes) for
    /// another node, published to their owners (see `wire`).
    fn add_refs(&self, ids: Vec<ObjectId>) -> BoxFuture;
    /// Send `op` (with argument list `args`) to node `node` for a guest of
    /// `job`; resolves to the answer's bytes. Operations are sent in the
    /// order of these calls (one caller's calls of an actor keep their
    /// order), each once `before` has run (it hands over the references
    /// the message carries). A node that dies first fails it with
    /// `actor-died`.
    fn actor(
        &self,
        node: u16,
        job: JobId,
        op: ActorOp,
        args: Vec<u8>,
        before: BoxFuture,
    ) -> FetchFuture;
    /// Whether node `id` is alive.
    fn alive(&self, id: u16) -> bool;
    /// This node acts on node `id`'s death: if it comes back, it is to
    /// drop what it held (see `cluster`'s incarnations).
    fn fence(&self, id: u16) -> BoxFuture;
    /// The live nodes other than this one.
    fn others(&self) -> Vec<u16>;
}

impl Tasks {
    /// This node joined a cluster: tasks may run on its other nodes.
    pub(crate) fn set_cluster(&self, cluster: Arc<dyn Placement>) {
        *self.label.write().unwrap_or_else(|p| p.into_inner()) = Arc::from(cluster.node_name());
        let _ = self.cluster.set(cluster);
    }

    /// The cluster, once this node joined one.
    pub(crate) fn cluster(&self) -> Option<&Arc<dyn Placement>> {
        self.cluster.get()
    }

    /// The node that owns object `id`, when it is another node of the
    /// cluster (the top bits of an id name its owner).
    pub(crate) fn owner_of(&self, id: ObjectId) -> Option<u16> {
        let cluster = self.cluster.get()?;
        let owner = crate::core::object_store::owner_node(id);
        (owner != 0 && owner != cluster.id()).then_some(owner)
    }

    /// A local object of `job` that will hold the bytes of object `id` of
    /// another node, fetched now.
    pub(crate) fn mirror(self: &Arc<Self>, job: JobId, id: ObjectId) -> ObjectId {
        let mirror = {
            let mut c = self.control.lock();
            // The stub stays while its bytes are on the way.
            c.pin(&[id]);
            c.create_mirror(job)
        };
        let tasks = self.clone();
        self.handle.spawn(async move {
            let outcome = tasks.fetch(job, id, 0, u64::MAX).await;
            let starts = {
                let mut c = tasks.control.lock();
                let starts = c.complete_mirror(mirror, outcome);
                c.release_all(&[id]);
                starts
            };
            tasks.start(starts, false);
        });
        mirror
    }

    /// Read bytes of object `id` of another node for a guest of `job`.
    /// When the read is of all its bytes, the references inside come with
    /// them, kept by the object's stub here.
    /// An object lost with its node is rebuilt from its lineage when it
    /// has one (see `lineage`).
    pub(crate) async fn fetch(
        self: &Arc<Self>,
        job: JobId,
        id: ObjectId,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, TaskError> {
        let id = self.lineage.current(id);
        if self.owner_of(id).is_none() {
            // Rebuilt here.
            return self.read_here(job, id, offset, len).await;
        }
        let bytes = match self.cluster.get() {
            Some(c) => match c.fetch(job, id, offset, len).await {
                Err(lost) if lost.kind == ErrorKind::ObjectLost => {
                    self.rebuild(id, lost).await?;
                    return Box::pin(self.fetch(job, id, offset, len)).await;
                }
                read => read?,
            },
            None => return Err(TaskError::unknown_object(id, false)),
        };
        if whole(offset, len) {
            let refs = msgpack::find_refs(&bytes).unwrap_or_default();
            if !refs.is_empty() {
                let mut c = self.control.lock();
                c.import(job, &refs);
                c.fill_stub(id, refs);
            }
        }
        Ok(bytes)
    }

    /// Bytes `offset .. offset + len` of object `id` of this node, once
    /// ready.
    pub(super) async fn read_here(
        &self,
        job: JobId,
        id: ObjectId,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, TaskError> {
        self.until_ready(job, id).await?;
        match self.control.lock().lookup(id, job)? {
            crate::core::object_store::Lookup::Ready(b) => {
                Ok(b[crate::core::object_store::byte_range(b.len(), offset, len)].to_vec())
            }
            crate::core::object_store::Lookup::Failed(e) => Err((*e).clone()),
            crate::core::object_store::Lookup::Pending => Err(TaskError::new(
                ErrorKind::Internal,
                format!("object {id} pending after it was ready"),
            )),
        }
    }

    /// Give the node a message goes to the references in it, which the
    /// caller pinned here (one per occurrence): this node's objects keep
    /// the pin for that node; for other nodes' objects their owners take
    /// one (published before this returns) and the pin goes.
    pub(crate) async fn export(&self, pinned: Vec<ObjectId>) {
        let Some(cluster) = self.cluster.get() else {
            return;
        };
        let foreign: Vec<ObjectId> = pinned
            .into_iter()
            .filter(|id| self.owner_of(*id).is_some())
            .collect();
        if foreign.is_empty() {
            return;
        }
        cluster.add_refs(foreign.clone()).await;
        self.control.lock().release_all(&foreign);
    }

    /// Run the task `recipe` says on `node` of the cluster (or here, when
    /// that node died and this one can run it), counted against `node`
    /// by a reservation of its own when `reserved`; its result's bytes, each
    /// reference in them held once for the caller (imported as a stub, or
    /// pinned by `result_of`).
    pub(super) async fn forward(
        self: &Arc<Self>,
        node: u16,
        recipe: &Recipe,
        cancel: Arc<CancelFlag>,
        reserved: bool,
    ) -> Result<Vec<u8>, TaskError> {
        let cluster = self.cluster.get().expect("forwarded in a cluster").clone();
        let control = self.control.clone();
        // The references in its arguments (held here meanwhile) go with
        // them to each node that takes it.
        // (Not those of the node it goes to: this node holds them while the
        // task is out, through its arguments, and that node counts them as
        // this node's; a count of its own could reach it after its task
        // let them go, as its handling of counts and of tasks is not
        // ordered.)
        let refs = msgpack::find_refs(&recipe.args).unwrap_or_default();
        let tasks = self.clone();
        let export: Arc<dyn Fn(u16) -> BoxFuture + Send + Sync> = Arc::new(move |to| {
            let tasks = tasks.clone();
            let refs: Vec<ObjectId> = refs
                .iter()
                .copied()
                .filter(|id| crate::core::object_store::owner_node(*id) != to)
                .collect();
            Box::pin(async move {
                tasks.control.lock().pin(&refs);
                tasks.export(refs).await;
            })
        });
        let forward = Forward {
            task: recipe.clone(),
            cancel,
            here: Arc::new(move |demand: &Resources| HereFits::of(&control, demand)),
            export,
        };
        match cluster.run(node, forward, reserved).await {
            Forwarded::Done(outcome) => {
                if let Ok(bytes) = &outcome {
                    let refs = msgpack::find_refs(bytes).unwrap_or_default();
                    self.control.lock().import(recipe.job, &refs);
                }
                outcome
            }
            Forwarded::Here(f) => {
                // The node it went to died, and this one can run it: as a
                // task of its own here (the arguments are values now).
                let Recipe {
                    job,
                    module,
                    function,
                    args,
                    mut options,
                    ..
                } = f.task;
                options.scheduling = options.scheduling.filter(is_group);
                let args = Arc::try_unwrap(args).unwrap_or_else(|a| (*a).clone());
                self.run_pinned(job, &module.name, &function, args, options)
                    .await
            }
        }
    }
}
