//! The embedded runtime: loads modules, runs the driver, and executes
//! remote tasks on worker threads.
//!
//! One [`Runtime`] is one node. It owns
//! * the wasmtime [`Engine`] and a [`Linker`] with WASI 0.2 and the
//!   `raylab:runtime/runtime` imports ([`crate::host_api`]);
//! * the loaded modules, each pre-instantiated ([`InstancePre`]) so that a
//!   fresh sandbox per task costs microseconds;
//! * the [`Core`]: object store and scheduler under one mutex (critical
//!   sections are short; bytes are copied outside it);
//! * a multi-threaded tokio runtime whose worker threads (one per CPU) run
//!   the tasks. Each task is an async wasmtime call on a fiber: a task
//!   blocked in `get`/`wait` suspends its fiber, frees its thread and lends
//!   its CPU to the scheduler, so nested remote calls never deadlock.
//!
//! The driver runs on the worker pool too, outside the CPU ledger (as Ray's
//! driver holds no CPU); the pool has one thread more than CPU slots, so a
//! driver busy with its own sequential work never takes a thread from its
//! tasks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use wasmtime::component::{
    Component, ComponentExportIndex, Instance, InstancePre, Linker, ResourceTable,
};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::engine::{self, EngineConfig};
use crate::error::{ErrorKind, LoadError, TaskError};
use crate::msgpack::{self, ArgsLayout};
use crate::object_store::{Lookup, ObjectId, ObjectStore, Signal, StoreStats, Waiter, hit_signals};
use crate::resources::Resources;
use crate::scheduler::{Scheduler, SchedulerCounts, Start, TaskId};

/// Types generated from `wit/` for the host side.
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "task-module",
    });
}

pub(crate) use bindings::raylab::runtime::types as wit;

/// Fresh or warm sandboxes for remote tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Isolation {
    /// A fresh instance per task: nothing survives from one task to the next.
    #[default]
    Fresh,
    /// Reuse warm instances of a module: faster, but a guest's globals and
    /// heap survive between tasks of the same module. Trapped instances are
    /// never reused.
    Warm,
}

/// Settings of a node.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// CPU slots (default: the machine's cores).
    pub num_cpus: f64,
    /// Custom resources of the node.
    pub resources: Vec<(String, f64)>,
    /// Object store capacity in bytes.
    pub object_store_memory: usize,
    /// Compile cache directory; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Default sandbox policy of remote tasks.
    pub isolation: Isolation,
    /// Engine limits.
    pub engine: EngineConfig,
    /// GPUs of the node (ids 0..n); `None`: one per adapter wgpu finds
    /// (probed only when a loaded module imports `raylab:runtime/gpu`).
    /// More than the adapters declares logical GPUs sharing them.
    pub num_gpus: Option<u32>,
    /// wgpu backends to probe.
    pub gpu_backend: crate::gpu::GpuBackend,
    /// GPU buffer bytes one dispatch of a task may use.
    pub gpu_memory: u64,
    /// Memory quota of a remote task that sets no `memory` option, bytes.
    pub task_memory: u64,
    /// Time limit of a task attempt that sets no `timeout`; `None`: none.
    pub task_timeout: Option<Duration>,
    /// Preemption: an epoch tick every 10 ms lets running guests yield,
    /// enforces time limits and stops cancelled tasks. Off saves the
    /// epoch checks in compiled code (measured in BENCHMARKS.md) but
    /// leaves runaway tasks running for ever.
    pub preemption: bool,
    /// Most tasks alive at once per job (waiting, queued, running,
    /// blocked): a fork-bomb guard.
    pub max_pending_tasks: usize,
    /// Most object-store bytes one job may hold (`None`: the whole store):
    /// a memory-bomb guard between jobs.
    pub job_object_store_memory: Option<usize>,
    /// Host directories granted to every guest: (host, guest, read-only).
    pub dirs: Vec<(PathBuf, String, bool)>,
    /// Environment variables granted to every guest.
    pub envs: Vec<(String, String)>,
    /// Finished jobs a head remembers (status and log); the oldest are
    /// forgotten beyond this, so a long-running head stays bounded.
    pub keep_finished_jobs: usize,
}

/// Period of the epoch tick that drives preemption and time limits.
pub const TICK: Duration = Duration::from_millis(10);

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            num_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
            resources: Vec::new(),
            object_store_memory: default_object_store_memory(),
            cache_dir: engine::default_cache_dir(),
            isolation: Isolation::Fresh,
            engine: EngineConfig::default(),
            num_gpus: None,
            gpu_backend: crate::gpu::GpuBackend::Auto,
            gpu_memory: 256 << 20,
            task_memory: 1 << 30,
            task_timeout: Some(Duration::from_secs(300)),
            preemption: true,
            max_pending_tasks: 1_000_000,
            job_object_store_memory: None,
            dirs: Vec::new(),
            envs: Vec::new(),
            keep_finished_jobs: 100,
        }
    }
}

/// 30% of the machine's memory, as Ray's default object store.
pub fn default_object_store_memory() -> usize {
    machine_memory().map_or(2 << 30, |t| t / 10 * 3)
}

/// The machine's memory in bytes, from /proc/meminfo.
fn machine_memory() -> Option<usize> {
    std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<usize>().ok())
            .map(|kb| kb * 1024)
    })
}

/// Why a driver run ended badly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The module could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// No module of that name.
    #[error("no module named `{0}` is loaded")]
    NoModule(String),
    /// The driver trapped.
    #[error("driver `{module}` crashed: {message}")]
    Crashed {
        /// The driver's module.
        module: String,
        /// The trap and the guest's last error message.
        message: String,
    },
    /// The host failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Counts of the runtime since start.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct RuntimeStats {
    /// Object store usage.
    pub objects: StoreStats,
    /// Tasks by scheduler state.
    pub tasks: SchedulerCounts,
    /// Tasks submitted.
    pub submitted: u64,
    /// Tasks that finished with a result.
    pub finished: u64,
    /// Tasks that failed (after retries).
    pub failed: u64,
}

/// Export indices of `raylab:runtime/task`.
struct TaskExports {
    call: ComponentExportIndex,
    functions: ComponentExportIndex,
}

/// A loaded module.
pub(crate) struct LoadedModule {
    pub(crate) name: String,
    pre: InstancePre<HostState>,
    task: Option<TaskExports>,
    run: Option<ComponentExportIndex>,
    pub(crate) functions: Vec<String>,
    /// Whether it imports the GPU broker.
    uses_gpu: bool,
    warm: Mutex<Vec<(Store<HostState>, Instance)>>,
}

/// What a task is, from submission to completion.
pub(crate) struct TaskSpec {
    id: TaskId,
    job: JobId,
    module: Arc<LoadedModule>,
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

/// Object store and scheduler, under one lock.
pub(crate) struct Core {
    pub(crate) objects: ObjectStore,
    pub(crate) sched: Scheduler<TaskSpec>,
    /// Result object -> the task producing it, for tasks not finished.
    producers: HashMap<ObjectId, Producer>,
    /// Tasks not finished, per job (the pending-task cap is per job).
    alive: HashMap<JobId, usize>,
}

impl Core {
    fn add_producer(&mut self, result: ObjectId, p: Producer) {
        *self.alive.entry(p.3).or_insert(0) += 1;
        self.producers.insert(result, p);
    }

    fn remove_producer(&mut self, result: ObjectId) {
        if let Some(p) = self.producers.remove(&result)
            && let Some(n) = self.alive.get_mut(&p.3)
        {
            *n -= 1;
        }
    }

    fn alive(&self, job: JobId) -> usize {
        self.alive.get(&job).copied().unwrap_or(0)
    }
}

/// Who an instance is running for.
pub(crate) struct TaskCtx {
    pub(crate) id: TaskId,
    pub(crate) job: JobId,
    pub(crate) module: String,
    pub(crate) function: String,
    pub(crate) name: String,
    pub(crate) attempt: u32,
    pub(crate) demand: Resources,
    pub(crate) gpu_ids: Vec<u32>,
    pub(crate) is_driver: bool,
    /// Memory quota of the instance, bytes (`None`: the engine's maximum).
    pub(crate) memory_cap: Option<u64>,
    /// When this attempt must stop, and its limit.
    pub(crate) deadline: Option<(Instant, Duration)>,
    /// Set by `cancel`.
    pub(crate) cancelled: Arc<CancelFlag>,
    /// True while the task is inside a `get`/`wait` that lent its CPU: it
    /// must come out through that call (which gives the CPU back), so a
    /// time limit or cancel lets the call return rather than dropping it.
    pub(crate) lent: Arc<AtomicBool>,
}

/// A sandbox limit a guest ran into; the trap's error value.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SandboxLimit {
    #[error("exceeded its memory quota of {} MiB", .0 / (1 << 20))]
    Memory(u64),
    #[error("exceeded its time limit of {} s", .0.as_secs_f64())]
    Time(Duration),
    #[error("was cancelled")]
    Cancelled,
}

impl SandboxLimit {
    fn kind(&self) -> ErrorKind {
        match self {
            SandboxLimit::Memory(_) => ErrorKind::MemoryQuotaExceeded,
            SandboxLimit::Time(_) => ErrorKind::TimeLimitExceeded,
            SandboxLimit::Cancelled => ErrorKind::Cancelled,
        }
    }
}

/// Enforces the memory quota of one instance.
pub(crate) struct Limiter {
    cap: Option<u64>,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match self.cap {
            Some(cap) if desired as u64 > cap => {
                Err(wasmtime::Error::new(SandboxLimit::Memory(cap)))
            }
            _ => Ok(true),
        }
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Resource amounts by name.
pub type ResourceList = Vec<(String, f64)>;

/// Most bytes of output kept per job.
pub const JOB_LOG_BYTES: usize = 16 << 20;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum JobStatus {
    /// Its driver is running.
    Running,
    /// The driver exited with status 0.
    Succeeded,
    /// The driver exited non-zero or crashed.
    Failed,
    /// Stopped on request.
    Stopped,
}

/// What the head reports of a job.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobInfo {
    /// Job id.
    pub id: JobId,
    /// Name (the module's file stem).
    pub name: String,
    /// Status.
    pub status: JobStatus,
    /// The driver's exit status, once it exited.
    pub exit_code: Option<i32>,
    /// Why it failed, when the driver crashed.
    pub error: Option<String>,
    /// Submission time, ms since the Unix epoch.
    pub submitted_at: f64,
    /// End time, ms since the Unix epoch.
    pub ended_at: Option<f64>,
    /// Tasks the job submitted.
    pub tasks_submitted: u64,
    /// Of those, finished or failed.
    pub tasks_done: u64,
}

struct Job {
    info: JobInfo,
    output: wasmtime_wasi::p2::pipe::MemoryOutputPipe,
    stop: Arc<CancelFlag>,
}

/// Forget the oldest finished jobs so that, with the one about to finish,
/// at most `keep` finished jobs remain.
fn forget_old_jobs(jobs: &mut HashMap<JobId, Job>, keep: usize) {
    let mut finished: Vec<JobId> = jobs
        .values()
        .filter(|j| j.info.status != JobStatus::Running)
        .map(|j| j.info.id)
        .collect();
    let excess = (finished.len() + 1)
        .saturating_sub(keep)
        .min(finished.len());
    finished.sort_unstable();
    for id in &finished[..excess] {
        jobs.remove(id);
    }
}

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// A task's (or a job driver's) cancellation: a flag that the preemption
/// tick checks while guest code runs, and a notification that wakes the
/// task at once where it is blocked in the host (`get`, `wait`).
#[derive(Debug, Default)]
pub(crate) struct CancelFlag {
    set: AtomicBool,
    notify: tokio::sync::Notify,
}

impl CancelFlag {
    pub(crate) fn set(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub(crate) fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Completes once the flag is set.
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a `set` in between still wakes us.
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

/// A guest calling the runtime, as far as blocking calls need to know.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) lendable: Option<Resources>,
    pub(crate) job: JobId,
    /// Ends a blocking call early when the caller is cancelled.
    pub(crate) cancel: Arc<CancelFlag>,
    /// Ends a blocking call early when the caller's time is up.
    pub(crate) deadline: Option<(Instant, Duration)>,
    /// Set while the call has lent the caller's CPU.
    pub(crate) lent: Arc<AtomicBool>,
}

/// Identifies a job: a driver run and the tasks it submits. Job 0 is the
/// driver of `raylab-host run`; the head numbers submitted jobs from 1.
pub type JobId = u64;

/// Objects of other jobs are invisible: they look as if they never existed.
fn check_visible(core: &Core, ids: &[ObjectId], job: JobId) -> Result<(), TaskError> {
    match ids
        .iter()
        .find(|id| core.objects.owner(**id).is_some_and(|j| j != job))
    {
        Some(&id) => Err(TaskError::unknown_object(id, false)),
        None => Ok(()),
    }
}

/// The data of one wasmtime store: one guest instance.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) inner: Arc<Inner>,
    pub(crate) ctx: TaskCtx,
    /// References this instance owns, with counts.
    pub(crate) owned: HashMap<ObjectId, u32>,
    /// The last error-level log record (a panic message, usually).
    pub(crate) last_error: Option<String>,
    limiter: Limiter,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl HostState {
    /// Who is calling: its job, and what it gives back while blocked in
    /// `get`/`wait` (its CPU, if it is a task holding one; the driver holds
    /// none).
    pub(crate) fn caller(&self) -> Caller {
        Caller {
            lendable: (!self.ctx.is_driver && self.ctx.demand.cpu() > 0.0)
                .then(|| self.ctx.demand.cpu_only()),
            job: self.ctx.job,
            cancel: self.ctx.cancelled.clone(),
            deadline: self.ctx.deadline,
            lent: self.ctx.lent.clone(),
        }
    }

    pub(crate) fn own(&mut self, id: ObjectId) {
        *self.owned.entry(id).or_insert(0) += 1;
    }

    /// Give back every reference this instance still owns.
    fn release_owned(&mut self) {
        if self.owned.is_empty() {
            return;
        }
        let owned = std::mem::take(&mut self.owned);
        release_owned_refs(&mut self.inner.lock(), owned);
    }
}

impl Drop for HostState {
    fn drop(&mut self) {
        self.release_owned();
    }
}

/// The task producing an object, for `cancel`: (task, name, cancel flag).
type Producer = (TaskId, String, Arc<CancelFlag>, JobId);

/// Shared state of a node.
pub(crate) struct Inner {
    engine: Engine,
    linker: Linker<HostState>,
    modules: RwLock<HashMap<String, Arc<LoadedModule>>>,
    core: Mutex<Core>,
    handle: tokio::runtime::Handle,
    config: RuntimeConfig,
    next_task: AtomicU64,
    submitted: AtomicU64,
    finished: AtomicU64,
    failed: AtomicU64,
    /// Result object -> (task, cancel flag) of tasks not finished.
    timeline: crate::timeline::Timeline,
    jobs: Mutex<HashMap<JobId, Job>>,
    next_job: AtomicU64,
    /// Set when the node shuts down: every guest still running traps at
    /// its next preemption tick.
    stopped: AtomicBool,
    /// Set once the workers are gone: the epoch ticker ends.
    ticker_done: AtomicBool,
    gpu: RwLock<Arc<crate::gpu::GpuBroker>>,
}

/// A node: the embedded raylab runtime.
pub struct Runtime {
    inner: Arc<Inner>,
    /// Always `Some` until dropped.
    workers: Option<tokio::runtime::Runtime>,
}

thread_local! {
    /// This worker's LIFO slot may hold a task a guest spawned and is not
    /// waiting for yet (see `Inner::spawn_all`).
    static KICK_PENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the outcome is already a sandbox-limit failure.
fn is_limit<T>(outcome: &Result<T, TaskError>) -> bool {
    matches!(outcome, Err(e) if matches!(
        e.kind,
        ErrorKind::TimeLimitExceeded | ErrorKind::MemoryQuotaExceeded | ErrorKind::Cancelled
    ))
}

/// Completes at `deadline` (never, without one) with its limit.
async fn until(deadline: Option<(Instant, Duration)>) -> Duration {
    match deadline {
        Some((at, limit)) => {
            tokio::time::sleep_until(at.into()).await;
            limit
        }
        None => std::future::pending().await,
    }
}

/// Completes when a running guest must be stopped from outside: it was
/// cancelled, or its time is up, while it is not inside a `get`/`wait`
/// that lent its CPU (that call returns by itself, see `Inner::wait`).
/// This is what stops a guest blocked in a WASI call (a long
/// `thread::sleep`, say), where no preemption tick can reach it.
async fn interrupt(
    cancel: Arc<CancelFlag>,
    deadline: Option<(Instant, Duration)>,
    lent: Arc<AtomicBool>,
) -> SandboxLimit {
    let why = tokio::select! {
        () = cancel.wait() => SandboxLimit::Cancelled,
        limit = until(deadline) => SandboxLimit::Time(limit),
    };
    while lent.load(Ordering::SeqCst) {
        tokio::time::sleep(TICK).await;
    }
    why
}

/// How long shutting a node down waits for guest code still running.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

impl Drop for Runtime {
    fn drop(&mut self) {
        // Tasks still running guest code (a driver may exit, or crash, with
        // tasks in flight) are stopped by the epoch ticker, which keeps
        // ticking until the workers are gone. Without preemption nothing
        // can stop them: the grace period bounds the wait, and the process
        // exit ends them.
        self.inner.stopped.store(true, Ordering::SeqCst);
        if let Some(workers) = self.workers.take() {
            workers.shutdown_timeout(SHUTDOWN_GRACE);
        }
        self.inner.ticker_done.store(true, Ordering::SeqCst);
    }
}

impl Runtime {
    /// Start a node.
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Runtime> {
        let mut total = Resources::none();
        total
            .set("CPU", config.num_cpus)
            .map_err(anyhow::Error::msg)?;
        for (name, amount) in &config.resources {
            total.set(name, *amount).map_err(anyhow::Error::msg)?;
        }
        total
            .set("GPU", config.num_gpus.unwrap_or(0) as f64)
            .map_err(anyhow::Error::msg)?;
        // Memory tasks may reserve: the machine's, less the object store.
        let memory = machine_memory()
            .unwrap_or(8 << 30)
            .saturating_sub(config.object_store_memory);
        total
            .set("memory", memory as f64)
            .map_err(anyhow::Error::msg)?;
        for (host, _, _) in &config.dirs {
            if !host.is_dir() {
                anyhow::bail!("--dir {}: not a directory", host.display());
            }
        }
        let mut engine_config = config.engine.clone();
        engine_config.epoch_interruption = config.preemption;
        // One worker per CPU slot, plus one for the driver, which runs on
        // the pool too (see `spawn_all`) but holds no CPU slot.
        let threads = (config.num_cpus.ceil() as usize).max(1) + 1;
        let workers = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("raylab-worker")
            .enable_all()
            .build()?;
        let engine = engine::new_engine(&engine_config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        crate::host_api::add_to_linker(&mut linker).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let inner = Arc::new(Inner {
            engine,
            linker,
            modules: RwLock::new(HashMap::new()),
            core: Mutex::new(Core {
                objects: ObjectStore::new(config.object_store_memory).with_job_capacity(
                    config
                        .job_object_store_memory
                        .unwrap_or(config.object_store_memory),
                ),
                sched: Scheduler::new(total),
                producers: HashMap::new(),
                alive: HashMap::new(),
            }),
            handle: workers.handle().clone(),
            config,
            next_task: AtomicU64::new(1),
            submitted: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            timeline: crate::timeline::Timeline::default(),
            jobs: Mutex::new(HashMap::new()),
            next_job: AtomicU64::new(1),
            stopped: AtomicBool::new(false),
            ticker_done: AtomicBool::new(false),
            gpu: RwLock::new(Arc::new(crate::gpu::GpuBroker::none())),
        });
        if inner.config.preemption {
            // The epoch ticker: it holds only a weak reference, and stops
            // once the runtime and its workers are gone.
            let weak = Arc::downgrade(&inner);
            std::thread::Builder::new()
                .name("raylab-ticker".into())
                .spawn(move || {
                    while let Some(inner) = weak.upgrade() {
                        if inner.ticker_done.load(Ordering::SeqCst) {
                            break;
                        }
                        inner.engine.increment_epoch();
                        drop(inner);
                        std::thread::sleep(TICK);
                    }
                })?;
        }
        Ok(Runtime {
            inner,
            workers: Some(workers),
        })
    }

    fn workers(&self) -> &tokio::runtime::Runtime {
        self.workers.as_ref().expect("workers live until drop")
    }

    /// Load a module from a file, named after the file's stem.
    pub fn load_file(&self, path: &std::path::Path) -> Result<String, LoadError> {
        let name = path
            .file_stem()
            .map_or_else(|| "module".into(), |s| s.to_string_lossy().into_owned());
        self.load_file_as(&name, path)?;
        Ok(name)
    }

    /// Load a module from a file under `name`.
    pub fn load_file_as(&self, name: &str, path: &std::path::Path) -> Result<(), LoadError> {
        let bytes = std::fs::read(path).map_err(|cause| LoadError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        self.load_bytes(name, &bytes)
    }

    /// Load a module from its bytes under `name`.
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<(), LoadError> {
        if self.inner.modules.read().expect("lock").contains_key(name) {
            return Err(LoadError::Duplicate {
                name: name.to_string(),
            });
        }
        let inner = self.inner.clone();
        let module = self.workers().block_on(inner.load(name, bytes))?;
        self.inner
            .modules
            .write()
            .expect("lock")
            .insert(name.to_string(), Arc::new(module));
        Ok(())
    }

    /// Give the node its GPUs: probe the adapters if a loaded module
    /// imports `raylab:runtime/gpu`, and size the GPU resource (`num_gpus`,
    /// else one per adapter). Call after loading modules, before running.
    pub fn prepare_gpus(&self) -> Vec<crate::gpu::GpuInfo> {
        let needed = self
            .inner
            .modules
            .read()
            .expect("lock")
            .values()
            .any(|m| m.uses_gpu);
        self.set_up_gpus(needed)
    }

    /// Release the GPU devices (waiting for requests in flight). Call
    /// before the process exits.
    pub fn shutdown_gpus(&self) {
        let none = Arc::new(crate::gpu::GpuBroker::none());
        let old = std::mem::replace(&mut *self.inner.gpu.write().expect("lock"), none);
        drop(old);
    }

    /// Probe the GPU adapters now, whatever the modules (the head).
    pub fn probe_gpus(&self) -> Vec<crate::gpu::GpuInfo> {
        self.set_up_gpus(true)
    }

    fn set_up_gpus(&self, needed: bool) -> Vec<crate::gpu::GpuInfo> {
        let broker = if needed {
            crate::gpu::GpuBroker::probe(self.inner.config.gpu_backend)
        } else {
            crate::gpu::GpuBroker::none()
        };
        let devices = broker.devices();
        let n = self.inner.config.num_gpus.unwrap_or(devices.len() as u32);
        self.inner.lock().sched.set_gpus(n);
        *self.inner.gpu.write().expect("lock") = Arc::new(broker);
        devices
    }

    /// The remote functions of a loaded module.
    pub fn functions(&self, module: &str) -> Option<Vec<String>> {
        self.inner
            .modules
            .read()
            .expect("lock")
            .get(module)
            .map(|m| m.functions.clone())
    }

    /// Run module `name`'s driver (`wasi:cli/run`) with `args` (the guest
    /// sees them after its own name). Returns the driver's exit code. Blocks
    /// the calling thread, which runs the driver.
    pub fn run_driver(&self, name: &str, args: &[String]) -> Result<i32, RunError> {
        self.run_driver_in(name, args, 0, Arc::new(CancelFlag::default()))
    }

    fn run_driver_in(
        &self,
        name: &str,
        args: &[String],
        job: JobId,
        stop: Arc<CancelFlag>,
    ) -> Result<i32, RunError> {
        let inner = self.inner.clone();
        let (name, args) = (name.to_string(), args.to_vec());
        let driver = self
            .inner
            .handle
            .spawn(async move { inner.run_driver(&name, &args, job, stop).await });
        self.workers().block_on(driver).unwrap_or_else(|e| {
            Err(RunError::Internal(format!(
                "the driver's thread failed: {e}"
            )))
        })
    }

    /// Submit a job: load `bytes` as a module and run its driver on a
    /// thread of its own; its output goes to the job's log (at most
    /// `JOB_LOG_BYTES`). Returns at once.
    pub fn submit_job(
        self: &Arc<Self>,
        name: &str,
        bytes: &[u8],
        args: Vec<String>,
    ) -> Result<JobId, LoadError> {
        let id = self.inner.next_job.fetch_add(1, Ordering::Relaxed);
        let module = format!("{name}-{id}");
        self.load_bytes(&module, bytes)?;
        let stop = Arc::new(CancelFlag::default());
        let info = JobInfo {
            id,
            name: name.to_string(),
            status: JobStatus::Running,
            exit_code: None,
            error: None,
            submitted_at: unix_ms(),
            ended_at: None,
            tasks_submitted: 0,
            tasks_done: 0,
        };
        let output = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(JOB_LOG_BYTES);
        self.inner.jobs.lock().expect("lock").insert(
            id,
            Job {
                info,
                output,
                stop: stop.clone(),
            },
        );
        let rt = self.clone();
        std::thread::Builder::new()
            .name(format!("raylab-job-{id}"))
            .spawn(move || {
                let result = rt.run_driver_in(&module, &args, id, stop.clone());
                // As in Ray, a job's tasks end with its driver: cancel what
                // is left, then unload the job's module (tasks still winding
                // down hold their own reference to it).
                rt.cancel_job_tasks(id);
                rt.inner.modules.write().expect("lock").remove(&module);
                let mut jobs = rt.inner.jobs.lock().expect("lock");
                forget_old_jobs(&mut jobs, rt.inner.config.keep_finished_jobs);
                if let Some(job) = jobs.get_mut(&id) {
                    job.info.ended_at = Some(unix_ms());
                    match result {
                        _ if stop.is_set() => job.info.status = JobStatus::Stopped,
                        Ok(0) => {
                            job.info.status = JobStatus::Succeeded;
                            job.info.exit_code = Some(0);
                        }
                        Ok(code) => {
                            job.info.status = JobStatus::Failed;
                            job.info.exit_code = Some(code);
                        }
                        Err(e) => {
                            job.info.status = JobStatus::Failed;
                            job.info.error = Some(e.to_string());
                        }
                    }
                }
            })
            .map_err(|e| LoadError::Link {
                name: name.to_string(),
                message: format!("cannot start the job: {e}"),
            })?;
        Ok(id)
    }

    /// What waiting tasks will demand, by name.
    pub fn pending_demand(&self) -> ResourceList {
        self.inner.lock().sched.pending_demand().entries()
    }

    /// Total and available resources of the node, by name.
    pub fn resources(&self) -> (ResourceList, ResourceList) {
        let core = self.inner.lock();
        let total = core.sched.total().entries();
        let available = core.sched.available();
        let avail = total
            .iter()
            .map(|(k, _)| {
                (
                    k.clone(),
                    available
                        .entries()
                        .into_iter()
                        .find(|(n, _)| n == k)
                        .map_or(0.0, |(_, v)| v),
                )
            })
            .collect();
        (total, avail)
    }

    /// The task timeline as Chrome trace events (of one job, or all).
    pub fn timeline(&self, job: Option<JobId>) -> serde_json::Value {
        self.inner.timeline.chrome_trace(job)
    }

    /// Every job, oldest first.
    pub fn jobs(&self) -> Vec<JobInfo> {
        let mut v: Vec<JobInfo> = self
            .inner
            .jobs
            .lock()
            .expect("lock")
            .values()
            .map(|j| j.info.clone())
            .collect();
        v.sort_by_key(|j| j.id);
        v
    }

    /// One job.
    pub fn job(&self, id: JobId) -> Option<JobInfo> {
        self.inner
            .jobs
            .lock()
            .expect("lock")
            .get(&id)
            .map(|j| j.info.clone())
    }

    /// A job's log from byte `offset` on.
    pub fn job_log(&self, id: JobId, offset: usize) -> Option<Vec<u8>> {
        let jobs = self.inner.jobs.lock().expect("lock");
        let all = jobs.get(&id)?.output.contents();
        Some(
            all.get(offset.min(all.len())..)
                .unwrap_or_default()
                .to_vec(),
        )
    }

    /// Stop a job: its driver and every task of it stop at their next
    /// preemption tick; tasks not started never run. Other jobs' results
    /// are untouched. False if there is no such job.
    pub fn stop_job(&self, id: JobId) -> bool {
        let Some(stop) = self
            .inner
            .jobs
            .lock()
            .expect("lock")
            .get(&id)
            .map(|j| j.stop.clone())
        else {
            return false;
        };
        stop.set();
        self.cancel_job_tasks(id);
        true
    }

    /// Cancel every task of job `id` that has not finished.
    fn cancel_job_tasks(&self, id: JobId) {
        let results: Vec<ObjectId> = self
            .inner
            .lock()
            .producers
            .iter()
            .filter(|(_, p)| p.3 == id)
            .map(|(r, _)| *r)
            .collect();
        for r in results {
            let _ = self.inner.cancel(r, id);
        }
    }

    /// Whether a module of that name is loaded (a job's is `NAME-ID`
    /// while the job runs).
    pub fn is_loaded(&self, module: &str) -> bool {
        self.inner
            .modules
            .read()
            .expect("lock")
            .contains_key(module)
    }

    /// Usage and task counts.
    pub fn stats(&self) -> RuntimeStats {
        let core = self.inner.lock();
        RuntimeStats {
            objects: core.objects.stats(),
            tasks: core.sched.counts(),
            submitted: self.inner.submitted.load(Ordering::Relaxed),
            finished: self.inner.finished.load(Ordering::Relaxed),
            failed: self.inner.failed.load(Ordering::Relaxed),
        }
    }

    /// Wait until no task is queued, running or blocked (tasks a driver
    /// submitted but never waited for), at most `timeout`.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.inner.lock().sched.counts();
            if c.running + c.blocked + c.waiting_for_resources + c.waiting_for_args == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn is_export(name: &str, prefix: &str) -> bool {
    name.starts_with(prefix)
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        // A panic while holding the lock is a host bug; the state is still
        // consistent enough to report errors, so keep going.
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn gpu_memory_quota(&self) -> u64 {
        self.config.gpu_memory
    }

    pub(crate) fn gpu(&self) -> Arc<crate::gpu::GpuBroker> {
        self.gpu.read().expect("lock").clone()
    }

    pub(crate) fn total_resources(&self) -> Resources {
        self.lock().sched.total().clone()
    }

    pub(crate) fn available_resources(&self) -> Resources {
        self.lock().sched.available().clone()
    }

    async fn load(self: Arc<Self>, name: &str, bytes: &[u8]) -> Result<LoadedModule, LoadError> {
        let component: Component =
            engine::compile(&self.engine, name, bytes, self.config.cache_dir.as_deref())?;
        let ty = component.component_type();
        let mut task_name = None;
        let mut run_name = None;
        let mut exports = Vec::new();
        for (export, _) in ty.exports(&self.engine) {
            if is_export(export, "raylab:runtime/task@0.1.") {
                task_name = Some(export.to_string());
            } else if is_export(export, "wasi:cli/run@0.2.") {
                run_name = Some(export.to_string());
            }
            exports.push(export.to_string());
        }
        if task_name.is_none() && run_name.is_none() {
            return Err(LoadError::NotRaylab {
                name: name.to_string(),
                exports: if exports.is_empty() {
                    "none".into()
                } else {
                    exports.join(", ")
                },
            });
        }
        // Deny by default: no network. wasmtime-wasi could link sockets
        // (and refuse every address at run time); refusing the module at
        // load says so up front, naming the import.
        if let Some((import, _)) = ty
            .imports(&self.engine)
            .find(|(i, _)| i.starts_with("wasi:sockets/"))
        {
            return Err(LoadError::Forbidden {
                name: name.to_string(),
                import: import.to_string(),
                why: "raylab grants guests no network access".into(),
            });
        }
        let link_err = |message: String| LoadError::Link {
            name: name.to_string(),
            message,
        };
        let func_index = |iface: &str, func: &str| -> Result<ComponentExportIndex, LoadError> {
            let (_, inst) = component
                .get_export(None, iface)
                .ok_or_else(|| link_err(format!("export `{iface}` not found")))?;
            let (_, f) = component
                .get_export(Some(&inst), func)
                .ok_or_else(|| link_err(format!("`{iface}` does not export `{func}`")))?;
            Ok(f)
        };
        let task = match &task_name {
            Some(iface) => Some(TaskExports {
                call: func_index(iface, "call")?,
                functions: func_index(iface, "functions")?,
            }),
            None => None,
        };
        let run = match &run_name {
            Some(iface) => Some(func_index(iface, "run")?),
            None => None,
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| link_err(format!("{e:#}")))?;
        let mut module = LoadedModule {
            name: name.to_string(),
            pre,
            task,
            run,
            functions: Vec::new(),
            uses_gpu: ty
                .imports(&self.engine)
                .any(|(i, _)| i.starts_with("raylab:runtime/gpu@")),
            warm: Mutex::new(Vec::new()),
        };
        if let Some(task) = &module.task {
            // Ask the module for its function list, in a throwaway instance.
            let functions = task.functions;
            let mut store = self.new_store(self.loader_ctx(name), &[]);
            let instance = module
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| link_err(format!("{e:#}")))?;
            let f = instance
                .get_typed_func::<(), (Vec<String>,)>(&mut store, &functions)
                .map_err(|e| link_err(format!("`functions` has the wrong type: {e:#}")))?;
            let (names,) = f
                .call_async(&mut store, ())
                .await
                .map_err(|e| LoadError::Link {
                    name: name.to_string(),
                    message: format!(
                        "listing its remote functions trapped: {}",
                        trap_message(&e, &store.data().last_error)
                    ),
                })?;
            module.functions = names;
        }
        tracing::debug!(module = name, functions = ?module.functions, driver = module.run.is_some(), "loaded");
        Ok(module)
    }

    fn loader_ctx(&self, module: &str) -> TaskCtx {
        TaskCtx {
            id: 0,
            job: 0,
            module: module.to_string(),
            function: "functions".into(),
            name: "load".into(),
            attempt: 1,
            demand: Resources::none(),
            gpu_ids: Vec::new(),
            is_driver: true,
            memory_cap: Some(self.config.task_memory),
            deadline: Some((
                Instant::now() + Duration::from_secs(10),
                Duration::from_secs(10),
            )),
            cancelled: Arc::new(CancelFlag::default()),
            lent: Arc::new(AtomicBool::new(false)),
        }
    }

    fn new_store(self: &Arc<Self>, ctx: TaskCtx, args: &[String]) -> Store<HostState> {
        let mut b = WasiCtxBuilder::new();
        // A job submitted to the head writes to its own log; `run` (job 0)
        // writes to the terminal.
        match self.jobs.lock().expect("lock").get(&ctx.job) {
            Some(job) => {
                b.stdout(job.output.clone()).stderr(job.output.clone());
            }
            None => {
                b.inherit_stdout().inherit_stderr();
            }
        }
        if ctx.is_driver {
            b.arg(&ctx.module);
            b.args(args);
        }
        for (name, value) in &self.config.envs {
            b.env(name, value);
        }
        for (host, guest, readonly) in &self.config.dirs {
            let perms = if *readonly {
                wasmtime_wasi::FsPerms::ReadOnly
            } else {
                wasmtime_wasi::FsPerms::ReadWrite
            };
            // Checked when the runtime started; a directory that vanished
            // since is simply not granted.
            if let Err(e) = b.preopened_dir(host, guest, perms) {
                tracing::warn!("cannot grant {}: {e:#}", host.display());
            }
        }
        let limiter = Limiter {
            cap: ctx.memory_cap,
        };
        let state = HostState {
            wasi: b.build(),
            table: ResourceTable::new(),
            inner: self.clone(),
            ctx,
            owned: HashMap::new(),
            last_error: None,
            limiter,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        if self.config.preemption {
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(|ctx| {
                let task = &ctx.data().ctx;
                if task.cancelled.is_set() || ctx.data().inner.stopped.load(Ordering::Relaxed) {
                    return Err(wasmtime::Error::new(SandboxLimit::Cancelled));
                }
                if let Some((deadline, limit)) = task.deadline
                    && Instant::now() >= deadline
                {
                    return Err(wasmtime::Error::new(SandboxLimit::Time(limit)));
                }
                // A task this guest spawned still sits in this thread's
                // LIFO slot: make it stealable (see `spawn_all`).
                if KICK_PENDING.replace(false) {
                    ctx.data().inner.handle.spawn(async {});
                }
                // Let other tasks on this worker run, then carry on.
                Ok(wasmtime::UpdateDeadline::Yield(1))
            });
        }
        store
    }

    fn module(&self, name: &str) -> Option<Arc<LoadedModule>> {
        self.modules.read().expect("lock").get(name).cloned()
    }

    async fn run_driver(
        self: Arc<Self>,
        name: &str,
        args: &[String],
        job: JobId,
        stop: Arc<CancelFlag>,
    ) -> Result<i32, RunError> {
        let module = self
            .module(name)
            .ok_or_else(|| RunError::NoModule(name.to_string()))?;
        let run = module.run.ok_or_else(|| LoadError::NotADriver {
            name: name.to_string(),
        })?;
        let ctx = TaskCtx {
            id: 0,
            job,
            module: name.to_string(),
            function: "main".into(),
            name: name.to_string(),
            attempt: 1,
            demand: Resources::none(),
            gpu_ids: Vec::new(),
            is_driver: true,
            // The driver is the user's own program: no quota beyond the
            // engine's, and no time limit (Ctrl-C stops it).
            memory_cap: None,
            deadline: None,
            cancelled: stop,
            lent: Arc::new(AtomicBool::new(false)),
        };
        let mut store = self.new_store(ctx, args);
        let crashed = |message: String| RunError::Crashed {
            module: name.to_string(),
            message,
        };
        let instance = module
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| crashed(format!("{e:#}")))?;
        let func = instance
            .get_typed_func::<(), (Result<(), ()>,)>(&mut store, &run)
            .map_err(|e| RunError::Internal(format!("{e:#}")))?;
        let stop = interrupt(
            store.data().ctx.cancelled.clone(),
            None,
            store.data().ctx.lent.clone(),
        );
        let result = tokio::select! {
            biased;
            r = func.call_async(&mut store, ()) => r,
            limit = stop => Err(wasmtime::Error::new(limit)),
        };
        match result {
            Ok((Ok(()),)) => Ok(0),
            Ok((Err(()),)) => Ok(1),
            Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(exit) => Ok(exit.0),
                None => Err(crashed(trap_message(&e, &store.data().last_error))),
            },
        }
    }

    /// Start tasks on the worker pool.
    ///
    /// tokio puts a task spawned from a worker into that worker's LIFO
    /// slot, which other workers cannot steal. That is what makes a sync
    /// round trip cheap: the caller blocks in `get` and its thread runs the
    /// task next, with no thread wake-up. But when the spawning guest goes
    /// on computing, the task would wait for it. So a spawn from inside a
    /// guest call leaves a note on this thread ([`KICK_PENDING`]): if the
    /// guest blocks next (`get`, `wait`), the note is dropped and the task
    /// runs right here; if it is still running guest code at its next
    /// preemption tick, the tick spawns an empty task, which pushes the
    /// real one into the stealable run queue and wakes an idle worker to
    /// take it. (Spawning that empty task at once, as before, cost every
    /// fresh round trip a cross-thread wake-up.) Without preemption there
    /// is no tick, so the empty task is spawned at once.
    fn spawn_all(self: &Arc<Self>, starts: Vec<Start<TaskSpec>>, from_guest: bool) {
        let any = !starts.is_empty();
        for start in starts {
            let inner = self.clone();
            self.handle
                .spawn(async move { inner.run_task(start).await });
        }
        if any && from_guest {
            if self.config.preemption {
                KICK_PENDING.set(true);
            } else {
                self.handle.spawn(async {});
            }
        }
    }

    /// Resolve `function` as seen from module `caller`.
    fn resolve(
        &self,
        caller: &str,
        function: &str,
    ) -> Result<(Arc<LoadedModule>, String), TaskError> {
        let (module, fname) = match function.split_once('/') {
            Some((m, f)) => (
                self.module(m).ok_or_else(|| {
                    let loaded: Vec<String> =
                        self.modules.read().expect("lock").keys().cloned().collect();
                    TaskError::new(
                        ErrorKind::NoSuchFunction,
                        format!(
                            "no module named `{m}` is loaded (loaded: {})",
                            loaded.join(", ")
                        ),
                    )
                })?,
                f,
            ),
            None => (
                self.module(caller).ok_or_else(|| {
                    TaskError::new(
                        ErrorKind::NoSuchFunction,
                        format!("module `{caller}` is still loading"),
                    )
                })?,
                function,
            ),
        };
        if !module.functions.iter().any(|f| f == fname) {
            return Err(TaskError::new(
                ErrorKind::NoSuchFunction,
                format!(
                    "module `{}` has no remote function `{fname}` (it has: {})",
                    module.name,
                    if module.functions.is_empty() {
                        "none".into()
                    } else {
                        module.functions.join(", ")
                    }
                ),
            ));
        }
        Ok((module, fname.to_string()))
    }

    /// `submit` on behalf of `caller`.
    pub(crate) fn submit(
        self: &Arc<Self>,
        caller: &mut HostState,
        function: &str,
        args: Vec<u8>,
        options: wit::TaskOptions,
    ) -> Result<ObjectId, TaskError> {
        let (module, fname) = self.resolve(&caller.ctx.module, function)?;
        let name = options.name.clone().unwrap_or_else(|| fname.clone());
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
        let layout =
            msgpack::parse_args(&args).map_err(|e| invalid(format!("bad argument list: {e}")))?;
        let mut arg_refs: Vec<ObjectId> = layout.top_refs.iter().map(|(_, id)| *id).collect();
        arg_refs.extend_from_slice(&layout.nested_refs);
        let isolation = match options.isolation {
            Some(wit::Isolation::Fresh) => Isolation::Fresh,
            Some(wit::Isolation::Warm) => Isolation::Warm,
            None => self.config.isolation,
        };
        let id = self.next_task.fetch_add(1, Ordering::Relaxed);
        let cancelled = Arc::new(CancelFlag::default());
        let starts;
        let result;
        {
            let mut core = self.lock();
            core.sched
                .check_feasible(&demand)
                .map_err(|m| TaskError::for_task(ErrorKind::Infeasible, name.clone(), m))?;
            let alive = core.alive(caller.ctx.job);
            if alive >= self.config.max_pending_tasks {
                return Err(TaskError::for_task(
                    ErrorKind::TooManyTasks,
                    name.clone(),
                    format!(
                        "not submitted: {alive} tasks of this job are already pending (the limit; raise --max-pending-tasks)"
                    ),
                ));
            }
            check_visible(&core, &arg_refs, caller.ctx.job)?;
            core.objects.retain_all(&arg_refs)?;
            result = core.objects.create_pending_for(caller.ctx.job);
            core.add_producer(
                result,
                (id, name.clone(), cancelled.clone(), caller.ctx.job),
            );
            let mut unresolved = 0;
            let mut failed = None;
            for (_, dep) in &layout.top_refs {
                match core.objects.lookup(*dep) {
                    Ok(Lookup::Pending) => {
                        core.objects.add_waiter(*dep, Waiter::Task(id));
                        unresolved += 1;
                    }
                    Ok(Lookup::Failed(e)) => failed = Some(e),
                    _ => {}
                }
            }
            let spec = TaskSpec {
                id,
                job: caller.ctx.job,
                module,
                function: fname,
                name,
                args,
                layout,
                arg_refs,
                result,
                max_retries: options.max_retries.unwrap_or(3),
                retry_exceptions: options.retry_exceptions.unwrap_or(false),
                isolation,
                memory_cap: options.memory.unwrap_or(self.config.task_memory),
                timeout: match options.timeout_ms {
                    Some(0) => None,
                    Some(ms) => Some(Duration::from_millis(ms)),
                    None => self.config.task_timeout,
                },
                cancelled: cancelled.clone(),
            };
            self.submitted.fetch_add(1, Ordering::Relaxed);
            if let Some(job) = self.jobs.lock().expect("lock").get_mut(&caller.ctx.job) {
                job.info.tasks_submitted += 1;
            }
            match failed {
                Some(e) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    let err = dependency_failed(&spec.name, &e);
                    core.remove_producer(spec.result);
                    release_refs(&mut core, &spec.arg_refs);
                    complete_object(&mut core, spec.result, Err(err), &self.failed);
                    starts = core.sched.dispatch();
                }
                None => {
                    core.sched.add(id, demand, unresolved, spec);
                    starts = core.sched.dispatch();
                }
            }
        }
        caller.own(result);
        self.spawn_all(starts, true);
        Ok(result)
    }

    /// `cancel` of the task producing object `id`.
    pub(crate) fn cancel(self: &Arc<Self>, id: ObjectId, job: JobId) -> Result<(), TaskError> {
        let starts = {
            let mut core = self.lock();
            check_visible(&core, &[id], job)?;
            let Some((task, name, flag, _)) = core.producers.get(&id).cloned() else {
                // Finished (nothing to do) or never a task result.
                return core.objects.lookup(id).map(|_| ());
            };
            flag.set();
            let err = |name: &str| {
                TaskError::for_task(ErrorKind::Cancelled, name, "cancelled before it finished")
            };
            match core.sched.remove(task) {
                Some(spec) => {
                    // Never started: it is done now.
                    core.remove_producer(id);
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    release_refs(&mut core, &spec.arg_refs);
                    complete_object(&mut core, spec.result, Err(err(&spec.name)), &self.failed);
                }
                None => {
                    // Running or blocked: its result is decided now; the
                    // instance traps at its next preemption tick, and its
                    // late outcome is ignored.
                    complete_object(&mut core, id, Err(err(&name)), &self.failed);
                }
            }
            core.sched.dispatch()
        };
        self.spawn_all(starts, true);
        Ok(())
    }

    /// `retain` on behalf of a guest of `job`.
    pub(crate) fn retain(&self, id: ObjectId, job: JobId) -> Result<(), TaskError> {
        let mut core = self.lock();
        check_visible(&core, &[id], job)?;
        core.objects.retain(id)
    }

    /// `put` on behalf of `caller`.
    pub(crate) fn put(
        &self,
        caller: &mut HostState,
        bytes: Vec<u8>,
    ) -> Result<ObjectId, TaskError> {
        let refs = msgpack::find_refs(&bytes)
            .map_err(|e| TaskError::new(ErrorKind::InvalidArgument, format!("put: {e}")))?;
        let id = {
            let mut core = self.lock();
            check_visible(&core, &refs, caller.ctx.job)?;
            core.objects.put_for(bytes, refs, caller.ctx.job)?
        };
        caller.own(id);
        Ok(id)
    }

    /// Lend `part` (the caller's CPU) to the scheduler while it blocks.
    fn lend(self: &Arc<Self>, part: Option<Resources>) -> Option<Resources> {
        let part = part?;
        let starts = {
            let mut core = self.lock();
            core.sched.block(&part);
            core.sched.dispatch()
        };
        self.spawn_all(starts, true);
        Some(part)
    }

    /// Take the lent CPU back, after the tasks that resumed before.
    async fn reclaim(self: &Arc<Self>, lent: Option<Resources>) {
        let Some(part) = lent else { return };
        let (rx, starts) = {
            let mut core = self.lock();
            let rx = core.sched.resume(part);
            (rx, core.sched.dispatch())
        };
        self.spawn_all(starts, true);
        // The sender lives in the scheduler until granted.
        let _ = rx.await;
    }

    /// `get` on behalf of `caller`: the bytes of one object.
    pub(crate) async fn get(
        self: &Arc<Self>,
        caller: Caller,
        id: ObjectId,
        timeout: Option<Duration>,
    ) -> Result<Arc<Vec<u8>>, TaskError> {
        let ready = self.wait(caller, &[id], 1, timeout).await?;
        if ready.is_empty() {
            return Err(TaskError::new(
                ErrorKind::Timeout,
                format!(
                    "get: object {id} not ready after {:?}",
                    timeout.unwrap_or_default()
                ),
            ));
        }
        match self.lock().objects.lookup(id)? {
            Lookup::Ready(b) => Ok(b),
            Lookup::Failed(e) => Err((*e).clone()),
            Lookup::Pending => Err(TaskError::new(
                ErrorKind::Internal,
                format!("object {id} pending after wait"),
            )),
        }
    }

    /// `wait` on behalf of `caller`: block until `num_ready` of `ids` are
    /// ready (finished or failed) or the timeout passes; the ready ids, in
    /// order. While blocked, the caller's CPU is lent to the scheduler.
    pub(crate) async fn wait(
        self: &Arc<Self>,
        caller: Caller,
        ids: &[ObjectId],
        num_ready: usize,
        timeout: Option<Duration>,
    ) -> Result<Vec<ObjectId>, TaskError> {
        if num_ready > ids.len() {
            return Err(TaskError::new(
                ErrorKind::InvalidArgument,
                format!(
                    "wait: num_ready ({num_ready}) is more than the {} objects given",
                    ids.len()
                ),
            ));
        }
        let Caller {
            lendable,
            job,
            cancel,
            deadline,
            lent: lent_flag,
        } = caller;
        let ready_now = |core: &Core| -> Result<Vec<ObjectId>, TaskError> {
            let mut ready = Vec::new();
            for &id in ids {
                check_visible(core, &[id], job)?;
                if !matches!(core.objects.lookup(id)?, Lookup::Pending) {
                    ready.push(id);
                }
            }
            Ok(ready)
        };
        let signal = {
            let mut core = self.lock();
            let ready = ready_now(&core)?;
            if ready.len() >= num_ready {
                return Ok(ready);
            }
            // Fire once enough of the pending ones complete. A duplicate id
            // registers twice and completes twice, so the count holds.
            let signal = Signal::new(num_ready - ready.len());
            for &id in ids {
                core.objects.add_waiter(id, Waiter::Signal(signal.clone()));
            }
            signal
        };
        let lent = self.lend(lendable);
        lent_flag.store(lent.is_some(), Ordering::SeqCst);
        // This thread runs the tasks the caller spawned once it blocks.
        KICK_PENDING.set(false);
        let ready = async {
            match timeout {
                Some(t) => {
                    let _ = tokio::time::timeout(t, signal.fired()).await;
                }
                None => signal.fired().await,
            }
        };
        // A cancelled caller, or one out of time, stops waiting at once (and
        // traps at its next preemption tick if it carries on running guest
        // code).
        let interrupted = tokio::select! {
            () = ready => None,
            () = cancel.wait() => Some(TaskError::new(
                ErrorKind::Cancelled,
                "cancelled while waiting for objects",
            )),
            limit = until(deadline) => Some(TaskError::new(
                ErrorKind::TimeLimitExceeded,
                format!("{} while waiting for objects", SandboxLimit::Time(limit)),
            )),
        };
        self.reclaim(lent).await;
        lent_flag.store(false, Ordering::SeqCst);
        if let Some(e) = interrupted {
            return Err(e);
        }
        ready_now(&self.lock())
    }

    /// Run one task to completion, with retries.
    async fn run_task(self: Arc<Self>, start: Start<TaskSpec>) {
        let Start {
            demand,
            gpus,
            payload: mut spec,
            ..
        } = start;
        tracing::debug!(task = %spec.name, id = spec.id, "started");
        let (lane, started_us) = (self.timeline.lane(), self.timeline.now_us());
        let (name, job, id) = (spec.name.clone(), spec.job, spec.id);
        let record = |state: &'static str| {
            self.timeline
                .record(&name, job, id, lane, started_us, state)
        };
        let args = match self.resolve_args(&mut spec) {
            Ok(a) => a,
            Err(e) => {
                record("failed");
                return self.finish(&spec, &demand, &gpus, Err(e), HashMap::new());
            }
        };
        let mut attempt = 1;
        loop {
            let ctx = TaskCtx {
                id: spec.id,
                job: spec.job,
                module: spec.module.name.clone(),
                function: spec.function.clone(),
                name: spec.name.clone(),
                attempt,
                demand: demand.clone(),
                gpu_ids: gpus.iter().map(|(id, _)| *id).collect(),
                is_driver: false,
                memory_cap: Some(spec.memory_cap),
                deadline: spec.timeout.map(|t| (Instant::now() + t, t)),
                cancelled: spec.cancelled.clone(),
                lent: Arc::new(AtomicBool::new(false)),
            };
            let Attempt {
                outcome,
                mut store,
                reusable,
            } = self.attempt(&spec, ctx, &args).await;
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
                drop(store);
                attempt += 1;
                continue;
            }
            // The references the instance still owns are given back in the
            // same step that completes the result object, after the object
            // took the references inside it.
            let owned = store
                .as_mut()
                .map(|s| std::mem::take(&mut s.data_mut().owned))
                .unwrap_or_default();
            record(if outcome.is_ok() {
                "finished"
            } else {
                "failed"
            });
            self.finish(&spec, &demand, &gpus, outcome, owned);
            if let (Some(store), Some(instance)) = (store, reusable) {
                let mut warm = spec.module.warm.lock().expect("lock");
                if warm.len() < 2 * self.handle.metrics().num_workers() {
                    warm.push((store, instance));
                }
            }
            return;
        }
    }

    /// The argument list with dependencies replaced by their values.
    fn resolve_args(&self, spec: &mut TaskSpec) -> Result<Vec<u8>, TaskError> {
        if spec.layout.top_refs.is_empty() {
            return Ok(std::mem::take(&mut spec.args));
        }
        let values: Vec<Arc<Vec<u8>>> = {
            let core = self.lock();
            spec.layout
                .top_refs
                .iter()
                .map(|(_, id)| match core.objects.lookup(*id) {
                    Ok(Lookup::Ready(b)) => Ok(b),
                    Ok(Lookup::Failed(e)) => Err(dependency_failed(&spec.name, &e)),
                    Ok(Lookup::Pending) => {
                        Err(TaskError::new(ErrorKind::Internal, "dependency not ready"))
                    }
                    Err(e) => Err(e),
                })
                .collect::<Result<_, _>>()?
        };
        let slices: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
        Ok(msgpack::substitute(&spec.args, &spec.layout, &slices))
    }

    /// One attempt. Returns the outcome (result bytes and the references
    /// they contain) and the instance used. The instance must outlive the
    /// completion of the result object, because references in the result
    /// are owned by the instance until the object takes them.
    async fn attempt(self: &Arc<Self>, spec: &TaskSpec, ctx: TaskCtx, args: &[u8]) -> Attempt {
        let crashed = |m: String| TaskError::for_task(ErrorKind::TaskCrashed, &spec.name, m);
        let Some(exports) = &spec.module.task else {
            let e = TaskError::for_task(
                ErrorKind::NoSuchFunction,
                &spec.name,
                "module exports no remote functions",
            );
            return Attempt {
                outcome: Err(e),
                store: None,
                reusable: None,
            };
        };
        let warm = spec.isolation == Isolation::Warm;
        let reused = if warm {
            spec.module.warm.lock().expect("lock").pop()
        } else {
            None
        };
        let (mut store, instance) = match reused {
            Some((mut store, instance)) => {
                store.data_mut().limiter = Limiter {
                    cap: ctx.memory_cap,
                };
                store.data_mut().ctx = ctx;
                store.data_mut().last_error = None;
                if self.config.preemption {
                    store.set_epoch_deadline(1);
                }
                (store, instance)
            }
            None => {
                let mut store = self.new_store(ctx, &[]);
                match spec.module.pre.instantiate_async(&mut store).await {
                    Ok(i) => (store, i),
                    Err(e) => {
                        let outcome = Err(match e.downcast_ref::<SandboxLimit>() {
                            Some(limit) => {
                                TaskError::for_task(limit.kind(), &spec.name, limit.to_string())
                            }
                            None => crashed(format!("cannot instantiate: {e:#}")),
                        });
                        return Attempt {
                            outcome,
                            store: Some(store),
                            reusable: None,
                        };
                    }
                }
            }
        };
        let call = instance
            .get_typed_func::<(&str, &[u8]), (Result<Vec<u8>, String>,)>(&mut store, &exports.call);
        let call = match call {
            Ok(f) => f,
            Err(e) => {
                let outcome = Err(crashed(format!("bad `call` export: {e:#}")));
                return Attempt {
                    outcome,
                    store: Some(store),
                    reusable: None,
                };
            }
        };
        let stop = interrupt(
            store.data().ctx.cancelled.clone(),
            store.data().ctx.deadline,
            store.data().ctx.lent.clone(),
        );
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
        let (outcome, healthy) = match store.data().ctx.deadline {
            Some((at, limit)) if Instant::now() >= at && !is_limit(&outcome) => {
                let limit = SandboxLimit::Time(limit);
                (
                    Err(TaskError::for_task(
                        limit.kind(),
                        &spec.name,
                        limit.to_string(),
                    )),
                    false,
                )
            }
            _ => (outcome, healthy),
        };
        let reusable = (warm && healthy).then_some(instance);
        Attempt {
            outcome,
            store: Some(store),
            reusable,
        }
    }

    /// Record the outcome of a task and start what can run now.
    fn finish(
        self: &Arc<Self>,
        spec: &TaskSpec,
        demand: &Resources,
        gpus: &[(u32, u64)],
        outcome: Result<(Vec<u8>, Vec<ObjectId>), TaskError>,
        owned: HashMap<ObjectId, u32>,
    ) {
        if let Some(job) = self.jobs.lock().expect("lock").get_mut(&spec.job) {
            job.info.tasks_done += 1;
        }
        let ok = outcome.is_ok();
        match &outcome {
            Ok((bytes, _)) => {
                tracing::debug!(task = %spec.name, id = spec.id, bytes = bytes.len(), "finished")
            }
            Err(e) => tracing::debug!(task = %spec.name, id = spec.id, "failed: {e}"),
        }
        let starts = {
            let mut core = self.lock();
            core.sched.finish(demand, gpus);
            core.remove_producer(spec.result);
            complete_object(&mut core, spec.result, outcome, &self.failed);
            release_refs(&mut core, &spec.arg_refs);
            release_owned_refs(&mut core, owned);
            core.sched.dispatch()
        };
        if ok {
            self.finished.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.spawn_all(starts, false);
    }
}

fn dependency_failed(task: &str, cause: &TaskError) -> TaskError {
    TaskError::for_task(
        ErrorKind::DependencyFailed,
        task,
        format!("not run because an argument failed: {cause}"),
    )
}

/// Give back the references an instance owned, `n` of each id.
fn release_owned_refs(core: &mut Core, owned: HashMap<ObjectId, u32>) {
    for (id, n) in owned {
        for _ in 0..n {
            hit_signals(core.objects.release(id));
        }
    }
}

fn release_refs(core: &mut Core, ids: &[ObjectId]) {
    for id in ids {
        let woken = core.objects.release(*id);
        hit_signals(woken);
    }
}

/// Complete an object, wake its waiters, and fail (without running them)
/// the tasks that depended on it if it failed, transitively.
fn complete_object(
    core: &mut Core,
    id: ObjectId,
    outcome: Result<(Vec<u8>, Vec<ObjectId>), TaskError>,
    failed_count: &AtomicU64,
) {
    let mut work = vec![(id, outcome)];
    while let Some((id, outcome)) = work.pop() {
        let waiters = core.objects.complete(id, outcome);
        let failure = match core.objects.lookup(id) {
            Ok(Lookup::Failed(e)) => Some(e),
            _ => None,
        };
        for w in waiters {
            match w {
                Waiter::Signal(s) => s.hit(),
                Waiter::Task(t) => match &failure {
                    None => core.sched.dependency_ready(t),
                    Some(e) => {
                        if let Some(spec) = core.sched.remove_waiting(t) {
                            core.remove_producer(spec.result);
                            failed_count.fetch_add(1, Ordering::Relaxed);
                            release_refs(core, &spec.arg_refs);
                            work.push((spec.result, Err(dependency_failed(&spec.name, e))));
                        }
                    }
                },
            }
        }
    }
}

/// The error of an attempt that trapped: a sandbox limit, or a crash with
/// the trap's message and the guest's own last words.
fn classify_trap(task: &str, trap: &wasmtime::Error, last_error: &Option<String>) -> TaskError {
    match trap.downcast_ref::<SandboxLimit>() {
        Some(limit) => TaskError::for_task(limit.kind(), task, limit.to_string()),
        None => TaskError::for_task(
            ErrorKind::TaskCrashed,
            task,
            format!("crashed: {}", trap_message(trap, last_error)),
        ),
    }
}

/// The trap's own message plus the guest's last error record.
fn trap_message(e: &wasmtime::Error, last_error: &Option<String>) -> String {
    let trap = match e.downcast_ref::<wasmtime::Trap>() {
        Some(t) => t.to_string(),
        None => format!("{}", e.root_cause()),
    };
    match last_error {
        Some(guest) => format!("{trap}; the guest reported: {guest}"),
        None => trap,
    }
}
