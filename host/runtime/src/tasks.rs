//! The task lifecycle: submit, dispatch, attempt, finish, cancel, retry.
//!
//! A remote call becomes a [`TaskSpec`] in the control state (`control`),
//! waits there for its dependencies and its resources, and is started on
//! the worker pool by [`Tasks::start`]. Each attempt runs the module's
//! `call` export in a sandbox (a fresh instance, or a warm one when the
//! task asks for it) under the task's memory quota, time limit and cancel
//! flag. A crash is retried in a fresh sandbox up to `max_retries` times;
//! an error the function returns only with `retry_exceptions`; sandbox
//! limits and cancellation never (they would fail the same way again). The
//! outcome completes the task's result object, which wakes whoever waits
//! for it and starts the tasks that depended on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime::component::Instance;

use crate::bindings::wit;
use crate::cancel::CancelFlag;
use crate::config::Isolation;
use crate::control::{Control, JobId, NewTask, Pending};
use crate::error::{ErrorKind, TaskError};
use crate::modules::{Module, Modules};
use crate::msgpack::{self, ArgsLayout};
use crate::object_store::ObjectId;
use crate::resources::Resources;
use crate::sandbox::{HostState, Sandboxes, TaskCtx, classify_trap, interrupt, is_limit};
use crate::scheduler::{Start, TaskId};
use crate::task_table::{Figures, RowGuard, TaskFilter, TaskRow, TaskTable};
use crate::timeline::Timeline;

mod groups;
mod lineage;

/// What a started task runs instead of a call of its function: a body
/// given by a layer above (an actor's whole life). It gets the resolved
/// arguments and what the task holds, and runs until it returns.
pub(crate) type Body = Box<dyn FnOnce(Grant) -> BoxFuture + Send + Sync>;

/// A boxed future of a [`Body`].
pub(crate) type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// What a started [`Body`] task is given.
pub(crate) struct Grant {
    /// The argument list, dependencies replaced by their values.
    pub(crate) args: Vec<u8>,
    /// Resources held until the body returns.
    pub(crate) demand: Resources,
    /// GPU ids held.
    pub(crate) gpu_ids: Vec<u32>,
    /// The placement group it runs in.
    pub(crate) placement: Option<wit::Placement>,
    /// The task's cancel flag (its job ended, or it was cancelled).
    pub(crate) cancel: Arc<CancelFlag>,
}

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
    fn of(control: &NodeControl, demand: &Resources) -> HereFits {
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
    /// Take the references the node it goes to gets with its arguments
    /// (before each attempt: see `wire`'s "References across nodes").
    pub(crate) export: Arc<dyn Fn() -> BoxFuture + Send + Sync>,
}

/// How a forwarded task ended.
pub(crate) enum Forwarded {
    /// Its outcome.
    Done(Result<Vec<u8>, TaskError>),
    /// The node it ran on died and this node should run it now (the
    /// task given back).
    Here(Box<Forward>),
}

/// A future of bytes read from another node.
pub(crate) type FetchFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u8>, TaskError>> + Send>>;

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
    /// Run `task` on `node`; resolves to its result bytes.
    fn run(&self, node: u16, task: Forward) -> ForwardFuture;
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
}

/// What a task is, from submission to completion.
pub(crate) struct TaskSpec {
    id: TaskId,
    job: JobId,
    module: Arc<Module>,
    function: String,
    name: String,
    args: Vec<u8>,
    layout: ArgsLayout,
    /// References held by the argument list (dependencies and nested).
    arg_refs: Vec<ObjectId>,
    result: ObjectId,
    max_retries: u32,
    retry_exceptions: bool,
    isolation: Isolation,
    memory_cap: u64,
    timeout: Option<Duration>,
    cancelled: Arc<CancelFlag>,
    /// Run this instead of calling `function` (the task then only holds
    /// its resources and sandbox share for as long as the body runs).
    body: Option<Body>,
    /// Run by this node of the cluster instead (with what it needs).
    /// (Boxed: a rare case, and the spec moves through the scheduler's
    /// queues by value.)
    remote: Option<Box<(u16, wit::TaskOptions, Resources)>>,
    /// Its row in the task table (`NOT_RUN` if let go unfinished).
    row: RowGuard,
    /// The placement group it runs in.
    placement: Option<wit::Placement>,
}

impl Pending for TaskSpec {
    fn id(&self) -> TaskId {
        self.id
    }
    fn job(&self) -> JobId {
        self.job
    }
    fn result(&self) -> ObjectId {
        self.result
    }
    fn arg_refs(&self) -> &[ObjectId] {
        &self.arg_refs
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn forwarded(&self) -> bool {
        self.remote.is_some()
    }
}

/// The control state of a node whose tasks are [`TaskSpec`]s.
pub(crate) type NodeControl = Control<TaskSpec>;

/// Defaults and limits of tasks (from the node's configuration).
#[derive(Debug, Clone)]
pub(crate) struct TaskDefaults {
    pub(crate) isolation: Isolation,
    pub(crate) memory: u64,
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_pending: usize,
}

/// The result of one attempt of a task.
struct Attempt {
    outcome: Result<(Vec<u8>, Vec<ObjectId>), TaskError>,
    /// The instance's store, dropped (releasing what it owns) only after
    /// the outcome is recorded.
    store: Option<Store<HostState>>,
    /// The instance, when it may serve another task (warm isolation).
    reusable: Option<Instance>,
}

impl Attempt {
    fn failed(e: TaskError, store: Option<Store<HostState>>) -> Self {
        Attempt {
            outcome: Err(e),
            store,
            reusable: None,
        }
    }
}

/// Longest task name kept, in bytes: names appear in every error, log line
/// and timeline slice of the task, so a guest must not make them huge.
pub(crate) const MAX_NAME: usize = 256;

/// `name`, cut to [`MAX_NAME`] bytes (at a character boundary, marked).
/// Whether a read of `len` bytes from `offset` is of a whole object (the
/// references inside come with it).
pub(crate) fn whole(offset: u64, len: u64) -> bool {
    offset == 0 && len == u64::MAX
}

fn bounded_name(name: &str) -> String {
    if name.len() <= MAX_NAME {
        return name.to_string();
    }
    let mut end = MAX_NAME - 3;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &name[..end])
}

/// Runs a node's tasks.
pub(crate) struct Tasks {
    control: Arc<NodeControl>,
    modules: Arc<Modules>,
    sandboxes: Arc<Sandboxes>,
    timeline: Arc<Timeline>,
    handle: tokio::runtime::Handle,
    defaults: TaskDefaults,
    next_task: AtomicU64,
    /// The cluster, once this node joined one.
    cluster: std::sync::OnceLock<Arc<dyn Placement>>,
    /// What made the objects of other nodes this node's tasks got refs to.
    lineage: lineage::Lineage,
    /// The tasks, for `list tasks`.
    table: Arc<TaskTable>,
    /// This node's name, as the task table shows it.
    /// Lock order: a leaf.
    label: std::sync::RwLock<Arc<str>>,
    /// Spare instances alive (see [`Tasks::make_spare`]).
    spares: Arc<std::sync::atomic::AtomicUsize>,
}

/// Most spare instances a node keeps at once.
const MAX_SPARES: usize = 16;

impl Tasks {
    pub(crate) fn new(
        control: Arc<NodeControl>,
        modules: Arc<Modules>,
        sandboxes: Arc<Sandboxes>,
        timeline: Arc<Timeline>,
        handle: tokio::runtime::Handle,
        defaults: TaskDefaults,
    ) -> Self {
        Tasks {
            control,
            modules,
            sandboxes,
            timeline,
            handle,
            defaults,
            next_task: AtomicU64::new(1),
            cluster: std::sync::OnceLock::new(),
            lineage: lineage::Lineage::default(),
            table: Arc::new(TaskTable::default()),
            spares: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            label: std::sync::RwLock::new(Arc::from("local")),
        }
    }

    /// This node joined a cluster: tasks may run on its other nodes.
    pub(crate) fn set_cluster(&self, cluster: Arc<dyn Placement>) {
        *self.label.write().unwrap_or_else(|p| p.into_inner()) = Arc::from(cluster.node_name());
        let _ = self.cluster.set(cluster);
    }

    /// The node that owns object `id`, when it is another node of the
    /// cluster (the top bits of an id name its owner).
    pub(crate) fn owner_of(&self, id: ObjectId) -> Option<u16> {
        let cluster = self.cluster.get()?;
        let owner = crate::object_store::owner_node(id);
        (owner != 0 && owner != cluster.id()).then_some(owner)
    }

    /// A local object of `job` that will hold the bytes of object `id` of
    /// another node, fetched now.
    fn mirror(self: &Arc<Self>, job: JobId, id: ObjectId) -> ObjectId {
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
    async fn read_here(
        &self,
        job: JobId,
        id: ObjectId,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, TaskError> {
        self.until_ready(job, id).await?;
        match self.control.lock().lookup(id, job)? {
            crate::object_store::Lookup::Ready(b) => {
                Ok(b[crate::objects::byte_range(b.len(), offset, len)].to_vec())
            }
            crate::object_store::Lookup::Failed(e) => Err((*e).clone()),
            crate::object_store::Lookup::Pending => Err(TaskError::new(
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

    /// This node's name (`local` in no cluster).
    pub(crate) fn node_name(&self) -> String {
        self.label().to_string()
    }

    /// This node's name, shared (set once it joins a cluster).
    fn label(&self) -> Arc<str> {
        self.label.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Total resources of the cluster (of the node, in no cluster).
    pub(crate) fn total_resources(&self) -> Resources {
        match self.cluster.get() {
            Some(c) => c.total(),
            None => self.control.lock().total().clone(),
        }
    }

    /// Set this node's resources for the driver of `caller` (Ray's
    /// `ray.init(num_cpus=...)`): only a driver that owns its node may, the
    /// driver of `raylab-host run` outside a cluster; others share theirs.
    pub(crate) fn set_node_resources(
        self: &Arc<Self>,
        caller: &TaskCtx,
        amounts: &[(String, f64)],
    ) -> Result<(), TaskError> {
        let refuse = |m: String| TaskError::new(ErrorKind::InvalidArgument, m);
        if !caller.is_driver || caller.job != 0 || self.cluster.get().is_some() {
            return Err(refuse(
                "only a program that owns its node (`raylab-host run`) sets the node's resources; \
                 this one shares its node, whose resources are set where it was started \
                 (`raylab-host start --num-cpus ...`)"
                    .into(),
            ));
        }
        for (name, amount) in amounts {
            if name == "memory" {
                return Err(refuse(
                    "`memory` is the machine's, not set by a program".into(),
                ));
            }
            let starts = self
                .control
                .lock()
                .set_total(name, *amount)
                .map_err(refuse)?;
            self.start(starts, true);
        }
        Ok(())
    }

    /// Resources not held by running tasks.
    pub(crate) fn available_resources(&self) -> Resources {
        self.control.lock().available().clone()
    }

    /// The worker pool.
    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Something a guest call made runnable (an actor's waiting life) may
    /// sit on this worker: make it stealable (see `workers`).
    pub(crate) fn kick(&self) {
        crate::workers::note_guest_spawn(&self.handle, self.sandboxes.preemption());
    }

    /// Start tasks on the worker pool; `from_guest` when called inside a
    /// guest call (see `workers`).
    pub(crate) fn start(self: &Arc<Self>, starts: Vec<Start<TaskSpec>>, from_guest: bool) {
        let any = !starts.is_empty();
        for start in starts {
            let tasks = self.clone();
            self.handle.spawn(async move { tasks.run(start).await });
        }
        if any && from_guest {
            crate::workers::note_guest_spawn(&self.handle, self.sandboxes.preemption());
        }
    }

    /// `submit` on behalf of the guest running `caller`: the id of the
    /// result object, one reference of which the caller now owns.
    pub(crate) fn submit(
        self: &Arc<Self>,
        caller: &TaskCtx,
        function: &str,
        args: Vec<u8>,
        options: wit::TaskOptions,
    ) -> Result<ObjectId, TaskError> {
        self.submit_as(caller.job, caller, function, args, options, None)
    }

    /// `submit` for `job` (the caller's, or another it acts for), with the
    /// task's own `body` when it is not a plain call. Returns the task's
    /// result object and its cancel flag.
    pub(crate) fn submit_as(
        self: &Arc<Self>,
        job: JobId,
        caller: &TaskCtx,
        function: &str,
        args: Vec<u8>,
        options: wit::TaskOptions,
        body: Option<Body>,
    ) -> Result<ObjectId, TaskError> {
        let strategy = if body.is_some() {
            // An actor lives where it was made (for now).
            Strategy::Here
        } else {
            Strategy::of(&options)
        };
        self.submit_placed(job, caller, function, args, options, body, strategy)
    }

    /// `submit_as` under a placement `strategy`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn submit_placed(
        self: &Arc<Self>,
        job: JobId,
        caller: &TaskCtx,
        function: &str,
        args: Vec<u8>,
        mut options: wit::TaskOptions,
        body: Option<Body>,
        mut strategy: Strategy,
    ) -> Result<ObjectId, TaskError> {
        let (module, fname) = self.modules.resolve(caller.job, &caller.module, function)?;
        let name = bounded_name(options.name.as_deref().unwrap_or(&fname));
        let invalid = |m: String| TaskError::for_task(ErrorKind::InvalidArgument, name.clone(), m);
        let mut demand = Resources::none();
        demand
            .set("CPU", options.num_cpus.unwrap_or(1.0))
            .map_err(invalid)?;
        demand
            .set("GPU", options.num_gpus.unwrap_or(0.0))
            .map_err(invalid)?;
        if let Some(m) = options.memory {
            demand.set("memory", m as f64).map_err(invalid)?;
        }
        for r in &options.resources {
            if matches!(r.name.as_str(), "CPU" | "GPU" | "memory") {
                return Err(invalid(format!(
                    "set `{}` with its own option, not as a custom resource",
                    r.name
                )));
            }
            demand.set(&r.name, r.amount).map_err(invalid)?;
        }
        let placement = self
            .place_in_group(caller, job, &mut options, &mut demand, &mut strategy)
            .map_err(invalid)?;
        let layout =
            msgpack::parse_args(&args).map_err(|e| invalid(format!("bad argument list: {e}")))?;
        // A dependency on an object of another node (one a task placed here
        // borrows): a local mirror stands for it, filled from its owner.
        let mut args = args;
        let mut layout = layout;
        let mut mirrors = Vec::new();
        for (index, id) in layout.top_refs.iter_mut() {
            if self.owner_of(*id).is_none() {
                continue;
            }
            let mirror = self.mirror(job, *id);
            // The argument is exactly `d7 52 <8-byte id>`.
            let at = layout.items[*index].start + 2;
            args[at..at + 8].copy_from_slice(&mirror.to_be_bytes());
            *id = mirror;
            mirrors.push(mirror);
        }
        let deps: Vec<ObjectId> = layout.top_refs.iter().map(|(_, id)| *id).collect();
        let mut arg_refs = deps.clone();
        // Refs to objects of other nodes are held through their stubs.
        arg_refs.extend(layout.nested_refs.iter());
        let isolation = match options.isolation {
            Some(wit::Isolation::Fresh) => Isolation::Fresh,
            Some(wit::Isolation::Warm) => Isolation::Warm,
            None => self.defaults.isolation,
        };
        let remote = match (self.cluster.get(), &strategy) {
            (None, _) | (_, Strategy::Here) => None,
            (Some(cluster), _) => {
                let here = HereFits::of(&self.control, &demand);
                match cluster.place(&demand, &strategy, here) {
                    Ok(r) => r,
                    // No live node can hold it: it waits for one to join
                    // (as in Ray; `status` says so), unless pinned.
                    Err(m) if matches!(strategy, Strategy::Affinity { soft: false, .. }) => {
                        return Err(TaskError::for_task(ErrorKind::Infeasible, name, m));
                    }
                    Err(m) => {
                        tracing::warn!(task = %name, "waits for a node that can hold it: {m}");
                        Some(WAIT_FOR_NODE)
                    }
                }
            }
        };
        // Nested references are read from their owner by the node that
        // runs the task, through the id's owner bits; objects made before
        // this node joined its cluster have none: such a task runs here if
        // it can.
        let remote = match remote {
            Some(_)
                if layout
                    .nested_refs
                    .iter()
                    .any(|id| crate::object_store::owner_node(*id) == 0) =>
            {
                let ever = self.control.lock().total().fits(&demand);
                if !ever || matches!(strategy, Strategy::Affinity { soft: false, .. }) {
                    return Err(invalid(
                        "its arguments hold refs to objects made before this node joined its cluster, which cannot go to another node".into(),
                    ));
                }
                None
            }
            r => r.map(|node| Box::new((node, options.clone(), demand.clone()))),
        };
        let id = self.next_task.fetch_add(1, Ordering::Relaxed);
        let cancelled = Arc::new(CancelFlag::default());
        let new = NewTask {
            id,
            job,
            name: &name,
            demand,
            cancel: cancelled.clone(),
            deps: &deps,
            arg_refs: &arg_refs,
            max_alive: self.defaults.max_pending,
            // A task started for another job (a detached actor) shares
            // nobody's fate.
            parent: (!caller.is_driver && job == caller.job).then_some(caller.id),
            forwarded: remote.is_some(),
        };
        let timeout = match options.timeout_ms {
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
            None => self.defaults.timeout,
        };
        let memory_cap = options.memory.unwrap_or(self.defaults.memory);
        let row = self.table.submitted(
            id,
            job,
            &name,
            memory_cap,
            timeout.map(|t| t.as_millis() as u64),
        );
        let submitted = self.control.lock().submit(new, |result| TaskSpec {
            id,
            job,
            module,
            function: fname,
            name: name.clone(),
            args,
            layout,
            arg_refs: arg_refs.clone(),
            result,
            max_retries: options.max_retries.unwrap_or(3),
            retry_exceptions: options.retry_exceptions.unwrap_or(false),
            isolation,
            memory_cap,
            timeout,
            cancelled,
            body,
            remote,
            row,
            placement,
        });
        // The task holds its mirrors now (or never will).
        self.control.lock().release_all(&mirrors);
        let (result, starts) = submitted?;
        self.start(starts, true);
        Ok(result)
    }

    /// Run `function` of module `module` of `job` here, as a task of its
    /// own (with `options`, its argument list made of values), and wait
    /// for its result: how a node runs a task that another node placed on
    /// it. The references in the result are pinned for the caller (see
    /// [`Tasks::result_of`]).
    pub(crate) async fn run_pinned(
        self: &Arc<Self>,
        job: JobId,
        module: &str,
        function: &str,
        args: Vec<u8>,
        options: wit::TaskOptions,
    ) -> Result<Vec<u8>, TaskError> {
        let (result, _) = self.submit_pinned(job, module, function, args, options)?;
        self.result_of(job, result).await
    }

    /// Submit what [`Tasks::run_pinned`] runs; returns its result object
    /// (owned by the caller) and its name.
    pub(crate) fn submit_pinned(
        self: &Arc<Self>,
        job: JobId,
        module: &str,
        function: &str,
        args: Vec<u8>,
        options: wit::TaskOptions,
    ) -> Result<(ObjectId, String), TaskError> {
        let name = options.name.clone().unwrap_or_else(|| function.to_string());
        let caller = TaskCtx {
            is_driver: true,
            ..TaskCtx::new(job, module, "main", name.clone(), Arc::default())
        };
        let result =
            self.submit_placed(job, &caller, function, args, options, None, Strategy::Here)?;
        Ok((result, name))
    }

    /// Wait until object `id` of `job` is ready (holds its bytes or its
    /// error).
    pub(crate) async fn until_ready(&self, job: JobId, id: ObjectId) -> Result<(), TaskError> {
        let pending = {
            let mut c = self.control.lock();
            if c.ready(&[id], job)?.is_empty() {
                let signal = crate::object_store::Signal::new(1);
                c.notify_on(&[id], &signal);
                Some(signal)
            } else {
                None
            }
        };
        if let Some(signal) = pending {
            signal.fired().await;
        }
        Ok(())
    }

    /// Wait for object `result` of `job` (a task's result, whose reference
    /// the caller owns and gives up here) and take its bytes. The
    /// references inside are pinned first, one per occurrence: the caller
    /// owns those pins (to give them to the node it sends the bytes to,
    /// with [`Tasks::export`], or to release once the bytes are stored).
    pub(crate) async fn result_of(
        &self,
        job: JobId,
        result: ObjectId,
    ) -> Result<Vec<u8>, TaskError> {
        // An error here (an object it may not see) is the lookup's too.
        let _ = self.until_ready(job, result).await;
        let bytes = {
            let mut c = self.control.lock();
            let outcome = match c.lookup(result, job) {
                Ok(crate::object_store::Lookup::Ready(bytes)) => Ok(bytes),
                Ok(crate::object_store::Lookup::Failed(e)) => Err((*e).clone()),
                Ok(crate::object_store::Lookup::Pending) => Err(TaskError::new(
                    ErrorKind::Internal,
                    "a result pending after its task finished",
                )),
                Err(e) => Err(e),
            };
            if let Ok(bytes) = &outcome {
                c.pin(&msgpack::find_refs(bytes).unwrap_or_default());
            }
            c.release_all(&[result]);
            outcome
        }?;
        Ok(Arc::try_unwrap(bytes).unwrap_or_else(|b| (*b).clone()))
    }

    /// The module whose remote function `function` the guest running
    /// `caller` would call.
    pub(crate) fn resolve_module(
        &self,
        caller: &TaskCtx,
        function: &str,
    ) -> Result<Arc<Module>, TaskError> {
        self.modules
            .resolve(caller.job, &caller.module, function)
            .map(|(module, _)| module)
    }

    /// `cancel` of the task producing object `id`, for a guest of `job`.
    pub(crate) fn cancel(self: &Arc<Self>, id: ObjectId, job: JobId) -> Result<(), TaskError> {
        let starts = self.control.lock().cancel(id, job)?;
        self.start(starts, true);
        Ok(())
    }

    /// Cancel every task of `job` that has not finished.
    pub(crate) fn cancel_job(self: &Arc<Self>, job: JobId) {
        let results = self.control.lock().unfinished_of(job);
        for r in results {
            let _ = self.cancel(r, job);
        }
    }

    /// Run one task to completion, with retries.
    async fn run(self: Arc<Self>, start: Start<TaskSpec>) {
        let Start {
            id,
            demand,
            gpus,
            payload: mut spec,
            ..
        } = start;
        tracing::debug!(task = %spec.name, id, "started");
        let (lane, started_us) = (self.timeline.lane(), self.timeline.now_us());
        let ran_on = match spec.remote.as_deref() {
            // Placed once a node that can hold it joins.
            Some((WAIT_FOR_NODE, ..)) => Some(Arc::from("another node")),
            Some((node, ..)) => self.cluster.get().map(|c| Arc::from(c.name_of(*node))),
            None => None,
        };
        self.table
            .started(spec.id, ran_on.unwrap_or_else(|| self.label()));
        let (name, job) = (spec.name.clone(), spec.job);
        let record = |state: &'static str, attempts: u32| {
            self.timeline
                .record(&name, job, id, lane, started_us, state, attempts)
        };
        let args = match self.resolve_args(&mut spec) {
            Ok(a) => a,
            Err(e) => {
                record("failed", 0);
                return self.finish(&spec, &demand, &gpus, Err(e), Default::default(), None);
            }
        };
        if let Some((node, options, wanted)) = spec.remote.as_deref().cloned() {
            let recipe = Recipe {
                job: spec.job,
                module: spec.module.clone(),
                function: spec.function.clone(),
                name: spec.name.clone(),
                args: Arc::new(args),
                options,
                demand: wanted,
            };
            let outcome = self.forward(node, &recipe, spec.cancelled.clone()).await;
            let last = Some((None, outcome.as_ref().err().map(|e| e.to_string())));
            let outcome = outcome.map(|bytes| {
                let refs = msgpack::find_refs(&bytes).unwrap_or_default();
                // What made the objects of other nodes it refers to.
                self.remember(&recipe, &refs);
                (bytes, refs)
            });
            // The references it carried are given up once the result object
            // holds them. Its slice is in the timeline of the node that ran
            // it.
            let mut carried = crate::ids::IdMap::default();
            if let Ok((_, refs)) = &outcome {
                for id in refs {
                    *carried.entry(*id).or_insert(0) += 1;
                }
            }
            return self.finish(&spec, &demand, &gpus, outcome, carried, last);
        }
        if let Some(body) = spec.body.take() {
            let grant = Grant {
                args,
                demand: demand.clone(),
                gpu_ids: gpus.iter().map(|(id, _)| *id).collect(),
                placement: spec.placement,
                cancel: spec.cancelled.clone(),
            };
            body(grant).await;
            return self.finish(
                &spec,
                &demand,
                &gpus,
                Ok((vec![0xc0], Vec::new())),
                Default::default(),
                None,
            );
        }
        let mut attempt = 1;
        loop {
            let ctx = TaskCtx {
                id: spec.id,
                attempt,
                demand: demand.clone(),
                gpu_ids: gpus.iter().map(|(id, _)| *id).collect(),
                memory_cap: Some(spec.memory_cap),
                deadline: spec.timeout.map(|t| (Instant::now() + t, t)),
                placement: spec.placement,
                ..TaskCtx::new(
                    spec.job,
                    spec.module.name.clone(),
                    spec.function.clone(),
                    spec.name.clone(),
                    spec.cancelled.clone(),
                )
            };
            let Attempt {
                outcome,
                mut store,
                reusable,
            } = self.attempt(&spec, ctx, &args).await;
            if let Some(store) = &store {
                store.data().flush_output();
            }
            let figures = (
                store.as_ref().map(|s| s.data().memory_size() as u64),
                outcome.as_ref().err().map(|e| e.to_string()),
            );
            let retry = match &outcome {
                Ok(_) => false,
                Err(e) if e.kind == ErrorKind::TaskCrashed => attempt <= spec.max_retries,
                Err(e) if e.kind == ErrorKind::TaskFailed => {
                    spec.retry_exceptions && attempt <= spec.max_retries
                }
                Err(_) => false,
            };
            if let (true, Err(e)) = (retry, &outcome) {
                tracing::debug!(task = %spec.name, attempt, "retrying: {e}");
                self.table.attempt(spec.id, figures.0, figures.1);
                drop(store);
                // What the failed attempt started goes with it; the next
                // attempt submits its own.
                let starts = self.control.lock().cancel_children(&spec);
                self.start(starts, false);
                attempt += 1;
                continue;
            }
            // The references the instance still owns are given back in the
            // same step that completes the result object, after the object
            // took the references inside it.
            let owned = store
                .as_mut()
                .map(|s| s.data_mut().refs.take())
                .unwrap_or_default();
            record(
                if outcome.is_ok() {
                    "finished"
                } else {
                    "failed"
                },
                attempt,
            );
            self.finish(&spec, &demand, &gpus, outcome, owned, Some(figures));
            if let (Some(store), Some(instance)) = (store, reusable) {
                let limit = 2 * self.handle.metrics().num_workers();
                spec.module.keep_warm(store, instance, limit);
            }
            return;
        }
    }

    /// Keep `recipe` as what made the objects of other nodes among `refs`
    /// (see `lineage`), its arguments' references pinned meanwhile.
    fn remember(&self, recipe: &Recipe, refs: &[ObjectId]) {
        let recorded = self.lineage.record(recipe, refs, |id| self.owner_of(id));
        let released = self.lineage.take_released();
        let mut c = self.control.lock();
        if recorded {
            c.pin(&msgpack::find_refs(&recipe.args).unwrap_or_default());
        }
        c.release_all(&released);
    }

    /// The tasks of this node that `filter` selects, the newest first.
    pub(crate) fn list_tasks(&self, filter: &TaskFilter) -> Vec<TaskRow> {
        self.table.list(filter)
    }

    /// Objects rebuilt from their lineage so far.
    pub(crate) fn objects_rebuilt(&self) -> u64 {
        self.lineage.rebuilt()
    }

    /// The stub of object `id` of another node was freed here: the
    /// lineage it kept goes (see `lineage`).
    pub(crate) fn stub_freed(&self, id: ObjectId) {
        let release = self.lineage.freed(id);
        if !release.is_empty() {
            self.control.lock().release_all(&release);
        }
    }

    /// `job` ended here: its lineage goes (its objects went with it).
    pub(crate) fn forget_lineage(&self, job: JobId) {
        self.lineage.forget_job(job);
    }

    /// Run the task `recipe` says on `node` of the cluster (or here, when
    /// that node died and this one can run it); its result's bytes, each
    /// reference in them held once for the caller (imported as a stub, or
    /// pinned by `result_of`).
    async fn forward(
        self: &Arc<Self>,
        node: u16,
        recipe: &Recipe,
        cancel: Arc<CancelFlag>,
    ) -> Result<Vec<u8>, TaskError> {
        let cluster = self.cluster.get().expect("forwarded in a cluster").clone();
        let control = self.control.clone();
        // The references in its arguments (held here meanwhile) go with
        // them to each node that takes it.
        let refs = msgpack::find_refs(&recipe.args).unwrap_or_default();
        let tasks = self.clone();
        let export: Arc<dyn Fn() -> BoxFuture + Send + Sync> = Arc::new(move || {
            let (tasks, refs) = (tasks.clone(), refs.clone());
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
        match cluster.run(node, forward).await {
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

    /// Make a spare fresh instance of `module` for its next task, on the
    /// worker pool (on a worker with nothing else to do, while this task
    /// runs): a task that finds one skips instantiation, the largest part
    /// of a fresh sandbox's cost (a few microseconds for a Rust guest, a
    /// millisecond for CPython). It is as fresh as one made at the task's
    /// start: no task has run in it. One per module, [`MAX_SPARES`] per
    /// node (each holds a sandbox of the engine's pool, from the part kept
    /// for what is not a task).
    fn make_spare(&self, module: &Arc<Module>) {
        if self.spares.load(Ordering::Acquire) >= MAX_SPARES || !module.claim_spare() {
            return;
        }
        self.spares.fetch_add(1, Ordering::AcqRel);
        let (module, sandboxes, count) =
            (module.clone(), self.sandboxes.clone(), self.spares.clone());
        let ctx = TaskCtx {
            memory_cap: Some(self.defaults.memory),
            ..TaskCtx::new(
                module.job,
                module.name.clone(),
                "",
                module.name.clone(),
                Arc::default(),
            )
        };
        self.handle.spawn(async move {
            let mut store = sandboxes.store(ctx, &[]);
            let made = match module.pre.instantiate_async(&mut store).await {
                Ok(instance) => Some(crate::modules::Spare::new(store, instance, count)),
                Err(_) => {
                    count.fetch_sub(1, Ordering::AcqRel);
                    None
                }
            };
            module.put_spare(made);
        });
    }

    /// The argument list with dependencies replaced by their values.
    fn resolve_args(&self, spec: &mut TaskSpec) -> Result<Vec<u8>, TaskError> {
        if spec.layout.top_refs.is_empty() {
            return Ok(std::mem::take(&mut spec.args));
        }
        let values = self
            .control
            .lock()
            .dependency_values(spec, spec.layout.top_refs.iter().map(|(_, id)| *id))?;
        let slices: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
        Ok(msgpack::substitute(&spec.args, &spec.layout, &slices))
    }

    /// One attempt. Returns the outcome (result bytes and the references
    /// they contain) and the instance used. The instance must outlive the
    /// completion of the result object, because references in the result
    /// are owned by the instance until the object takes them.
    async fn attempt(&self, spec: &TaskSpec, ctx: TaskCtx, args: &[u8]) -> Attempt {
        let crashed = |m: String| TaskError::for_task(ErrorKind::TaskCrashed, &spec.name, m);
        let Some(exports) = &spec.module.task else {
            let e = TaskError::for_task(
                ErrorKind::NoSuchFunction,
                &spec.name,
                "module exports no remote functions",
            );
            return Attempt::failed(e, None);
        };
        let warm = spec.isolation == Isolation::Warm;
        let reused = if warm {
            spec.module.take_warm()
        } else {
            // A fresh instance made ahead of time, if it fits the task's
            // quota; and another for the next task, made meanwhile (unless
            // this module's tasks have quotas its spares do not fit).
            let mut fits = true;
            let spare = spec.module.take_spare().and_then(|s| {
                fits = ctx
                    .memory_cap
                    .is_none_or(|cap| s.memory_size() as u64 <= cap);
                fits.then(|| s.into_parts())
            });
            if fits {
                self.make_spare(&spec.module);
            }
            spare
        };
        let (mut store, instance) = match reused {
            Some((mut store, instance)) => {
                self.sandboxes.reuse(&mut store, ctx);
                (store, instance)
            }
            None => {
                let mut store = self.sandboxes.store(ctx, &[]);
                match spec.module.pre.instantiate_async(&mut store).await {
                    Ok(i) => (store, i),
                    Err(e) => {
                        let e = match e.downcast_ref::<crate::sandbox::SandboxLimit>() {
                            Some(limit) => limit.error(&spec.name),
                            None => crashed(format!("cannot instantiate: {e:#}")),
                        };
                        return Attempt::failed(e, Some(store));
                    }
                }
            }
        };
        let call = instance
            .get_typed_func::<(&str, &[u8]), (Result<Vec<u8>, String>,)>(&mut store, &exports.call);
        let call = match call {
            Ok(f) => f,
            Err(e) => {
                return Attempt::failed(crashed(format!("bad `call` export: {e:#}")), Some(store));
            }
        };
        let stop = interrupt(&store.data().ctx);
        let result = tokio::select! {
            biased;
            r = call.call_async(&mut store, (&spec.function, args)) => r,
            // Dropping the call abandons the guest where it is blocked;
            // the sandbox is thrown away.
            limit = stop => Err(wasmtime::Error::new(limit)),
        };
        let (outcome, healthy) = match result {
            Ok((Ok(bytes),)) => match msgpack::find_refs(&bytes) {
                Ok(refs) => (Ok((bytes, refs)), true),
                Err(e) => (
                    Err(crashed(format!("returned a malformed result: {e}"))),
                    false,
                ),
            },
            Ok((Err(message),)) => (
                Err(TaskError::for_task(
                    ErrorKind::TaskFailed,
                    &spec.name,
                    message,
                )),
                true,
            ),
            Err(trap) => (
                Err(classify_trap(&spec.name, &trap, &store.data().last_error)),
                false,
            ),
        };
        // A time limit is a wall: whatever came back after it (say, from a
        // guest that caught the time-limit error of a `get`) is a
        // time-limit failure.
        // So is a cancel: a cancelled task that carries on and returns
        // (its `get` failed, and it coped) has still been cancelled, so what
        // it started goes too.
        let ctx = &store.data().ctx;
        let (outcome, healthy) = match ctx.deadline {
            _ if is_limit(&outcome) => (outcome, healthy),
            _ if ctx.cancelled.is_set() => (
                Err(crate::sandbox::SandboxLimit::Cancelled.error(&spec.name)),
                false,
            ),
            Some((at, limit)) if Instant::now() >= at => (
                Err(crate::sandbox::SandboxLimit::Time(limit).error(&spec.name)),
                false,
            ),
            _ => (outcome, healthy),
        };
        Attempt {
            outcome,
            store: Some(store),
            reusable: (warm && healthy).then_some(instance),
        }
    }

    /// Record the outcome of a task and start what can run now.
    fn finish(
        self: &Arc<Self>,
        spec: &TaskSpec,
        demand: &Resources,
        gpus: &[(u32, u64)],
        outcome: Result<(Vec<u8>, Vec<ObjectId>), TaskError>,
        owned: crate::ids::IdMap<u32>,
        last: Option<Figures>,
    ) {
        match &outcome {
            Ok((bytes, _)) => {
                tracing::debug!(task = %spec.name, id = spec.id, bytes = bytes.len(), "finished")
            }
            Err(e) => tracing::debug!(task = %spec.name, id = spec.id, "failed: {e}"),
        }
        self.table.finished(&spec.row, outcome.is_ok(), last);
        let starts = self
            .control
            .lock()
            .finish(spec, demand, gpus, outcome, owned);
        self.start(starts, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_names_are_bounded_at_a_character_boundary() {
        assert_eq!(bounded_name("square"), "square");
        let long = "é".repeat(1000);
        let cut = bounded_name(&long);
        assert!(cut.len() <= MAX_NAME, "{}", cut.len());
        assert!(cut.ends_with("..."));
        assert!(cut.starts_with("éé"));
    }
}
