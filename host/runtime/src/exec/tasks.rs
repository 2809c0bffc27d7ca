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
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::bindings::wit;
use crate::core::cancel::CancelFlag;
use crate::core::control::{Control, JobId, Pending};
use crate::core::object_store::ObjectId;
use crate::core::resources::Resources;
use crate::core::scheduler::{Start, TaskId};
use crate::core::task_table::{RowGuard, TaskFilter, TaskRow, TaskTable};
use crate::core::timeline::Timeline;
use crate::error::{ErrorKind, TaskError};
use crate::msgpack::ArgsLayout;
use crate::wasm::modules::{Isolation, Module, Modules};
use crate::wasm::sandbox::{Sandboxes, TaskCtx};

mod attempt;
mod groups;
mod lineage;
mod placement;
mod submit;

pub(crate) use placement::{
    ActorOp, HereFits, Placement, Recipe, Reservation, Strategy, WAIT_FOR_NODE,
};
// What the cluster implements `Placement` with.
#[cfg(feature = "cluster")]
pub(crate) use placement::{FetchFuture, Forward, ForwardFuture, Forwarded, is_group};

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

/// What a task is, from submission to completion.
pub(crate) struct TaskSpec {
    id: TaskId,
    job: JobId,
    module: Arc<Module>,
    function: Arc<str>,
    name: Arc<str>,
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
    remote: Option<Box<Elsewhere>>,
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

/// Where a task placed on another node goes and what it needs there: the
/// node, its options, its demand, and its count against that node.
type Elsewhere = (u16, wit::TaskOptions, Resources, Option<Reservation>);

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
    /// The worker threads of `handle` (fixed; asked once, not per task).
    workers: usize,
}

/// Tasks a worker runs one after the other before it yields (see
/// [`Tasks::start`]).
const INLINE_RUN: u32 = 16;

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
            workers: handle.metrics().num_workers(),
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
        if !caller.is_driver || caller.job != JobId::new(0) || self.cluster.get().is_some() {
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

    /// The node's control state.
    pub(crate) fn control(&self) -> &Arc<NodeControl> {
        &self.control
    }

    /// The worker pool.
    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Something a guest call made runnable (an actor's waiting life) may
    /// sit on this worker: make it stealable (see `workers`).
    pub(crate) fn kick(&self) {
        crate::core::workers::note_guest_spawn(&self.handle, self.sandboxes.preemption());
    }

    /// Start tasks on the worker pool; `from_guest` when called inside a
    /// guest call (see `workers`).
    ///
    /// Each started task gets a tokio task of its own, which then runs, one
    /// after the other, the tasks that each end makes startable (one of
    /// them: the rest get tokio tasks of their own). A stream of short
    /// tasks thus costs no spawn, no wake-up of another thread and no move
    /// of the (large) task future per task: measured, spawning a tokio task
    /// per task was ~6% of the CPU time of no-op warm tasks. Every
    /// [`INLINE_RUN`] tasks the chain yields to the worker, so a stream of
    /// tasks cannot hold a worker from whatever else is queued on it (a
    /// driver, an actor).
    pub(crate) fn start(self: &Arc<Self>, starts: Vec<Start<TaskSpec>>, from_guest: bool) {
        let any = !starts.is_empty();
        for start in starts {
            let tasks = self.clone();
            self.handle
                .spawn(async move { tasks.run_chain(start).await });
        }
        if any && from_guest {
            crate::core::workers::note_guest_spawn(&self.handle, self.sandboxes.preemption());
        }
    }

    /// Run `first`, then the tasks that each end hands on (see `start`).
    async fn run_chain(self: Arc<Self>, first: Start<TaskSpec>) {
        let mut next = Some(first);
        let mut ran = 0u32;
        while let Some(start) = next {
            next = self.run(start).await;
            ran += 1;
            if ran.is_multiple_of(INLINE_RUN) && next.is_some() {
                tokio::task::yield_now().await;
            }
        }
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
