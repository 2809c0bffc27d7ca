//! The node: [`Runtime`], the public face of the runtime. It builds the
//! parts (engine and linker, worker pool, control state, modules, jobs,
//! sandboxes, tasks, objects, GPUs, the epoch ticker), wires them
//! together, and offers what a program embedding raylab needs: load
//! modules, run a driver, submit jobs, read status, shut down.
//!
//! The driver runs on the worker pool too, outside the CPU ledger (as Ray's
//! driver holds no CPU); the pool has one thread more than CPU slots, so a
//! driver busy with its own sequential work never takes a thread from its
//! tasks.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::Linker;

#[cfg(feature = "cluster")]
use crate::cluster::Cluster;
use crate::config::{Config, machine_memory};
use crate::core::cancel::CancelFlag;
use crate::core::control::{JobId, ReleaseRefs};
use crate::core::jobs::Jobs;
use crate::core::resources::Resources;
use crate::core::timeline::Timeline;
use crate::error::{LoadError, RunError, StartError};
use crate::exec::actors::{ActorDefaults, Actors};
use crate::exec::guest_api::{self, Services};
use crate::exec::objects::Objects;
use crate::exec::tasks::{NodeControl, TaskDefaults, Tasks};
use crate::gpu::Gpus;
use crate::wasm::engine;
use crate::wasm::modules::{self, Modules};
use crate::wasm::sandbox::{Grants, HostState, Sandboxes, TICK};

#[cfg(feature = "cluster")]
mod durable;
mod gpus;
#[cfg(feature = "cluster")]
mod join;
mod observe;
#[cfg(feature = "cluster")]
mod remote;

/// Resource amounts by name.
pub type ResourceList = Vec<(String, f64)>;

/// How long shutting a node down waits for guest code still running.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The parts of a node, shared with the job threads and the ticker.
struct Node {
    engine: Engine,
    linker: Linker<HostState>,
    config: Config,
    control: Arc<NodeControl>,
    modules: Arc<Modules>,
    jobs: Arc<Jobs>,
    sandboxes: Arc<Sandboxes>,
    tasks: Arc<Tasks>,
    /// Held here so the guests' weak handles stay valid.
    _objects: Arc<Objects>,
    actors: Arc<Actors>,
    timeline: Arc<Timeline>,
    gpus: Arc<Gpus>,
    handle: tokio::runtime::Handle,
    /// Set once the workers are gone: the epoch ticker ends.
    ticker_done: AtomicBool,
    /// This node's membership of a cluster, once it joined one.
    #[cfg(feature = "cluster")]
    cluster: std::sync::OnceLock<Arc<Cluster>>,
    /// What it runs for the other nodes of its cluster.
    #[cfg(feature = "cluster")]
    remote: std::sync::OnceLock<Arc<remote::Remote>>,
    /// A head's jobs kept in the cluster (see `node::durable`).
    #[cfg(feature = "cluster")]
    durable: std::sync::OnceLock<Arc<durable::DurableJobs>>,
}

/// A node: the embedded raylab runtime, as `ray.init()` starts one.
///
/// Its methods are synchronous and may be called from any thread. Those
/// that run work (loading modules, running a driver, joining or leaving a
/// cluster) block the calling thread on the node's own tokio runtime, and
/// so does dropping it; from async code, call them (and drop the last
/// handle) inside `tokio::task::spawn_blocking`, as the `raylab-host` head
/// does. Their docs say so under "Panics". The reading methods (`jobs`,
/// `stats`, `list_tasks`, ...) take short locks and never block.
///
/// ```no_run
/// use raylab::{Config, Runtime};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A node with two CPU slots and the default quotas.
/// let runtime = Runtime::new(Config::builder().num_cpus(2.0).build())?;
/// // A module built for wasm32-wasip2 against wit/runtime.wit.
/// let module = runtime.load_file("task1.wasm".as_ref())?;
/// // Run its driver (its `main`); every remote call it makes runs as a
/// // sandboxed task on this node.
/// let code = runtime.run_driver(&module, &["--n".into(), "10".into()])?;
/// println!("driver exited with {code}; {} tasks finished", runtime.stats().finished);
/// # Ok(())
/// # }
/// ```
pub struct Runtime {
    node: Arc<Node>,
    /// Always `Some` until dropped.
    workers: Option<tokio::runtime::Runtime>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Tasks still running guest code (a driver may exit, or crash, with
        // tasks in flight) are stopped by the epoch ticker, which keeps
        // ticking until the workers are gone. Without preemption nothing
        // can stop them: the grace period bounds the wait, and the process
        // exit ends them.
        self.node
            .sandboxes
            .shared()
            .stopped
            .store(true, Ordering::SeqCst);
        if let Some(workers) = self.workers.take() {
            workers.shutdown_timeout(SHUTDOWN_GRACE);
        }
        self.node.ticker_done.store(true, Ordering::SeqCst);
    }
}

fn total_resources(config: &Config) -> Result<Resources, StartError> {
    let mut total = Resources::none();
    total
        .set("CPU", config.num_cpus)
        .map_err(StartError::Config)?;
    for (name, amount) in &config.resources {
        total.set(name, *amount).map_err(StartError::Config)?;
    }
    total
        .set("GPU", config.num_gpus.unwrap_or(0) as f64)
        .map_err(StartError::Config)?;
    // Memory tasks may reserve: the machine's, less the object store.
    let memory = machine_memory()
        .unwrap_or(8 << 30)
        .saturating_sub(config.object_store_memory);
    total
        .set("memory", memory as f64)
        .map_err(StartError::Config)?;
    Ok(total)
}

impl Runtime {
    /// Start a node.
    pub fn new(config: Config) -> Result<Runtime, StartError> {
        let total = total_resources(&config)?;
        for grant in &config.dirs {
            if !grant.host.is_dir() {
                return Err(StartError::NotADirectory(grant.host.clone()));
            }
        }
        let setup = |e: &dyn std::fmt::Display| StartError::Setup(format!("{e:#}"));
        let engine_config = config.engine_config();
        // One worker per CPU slot, plus one for the driver, which runs on
        // the pool too but holds no CPU slot.
        let threads = (config.num_cpus.ceil() as usize).max(1) + 1;
        let workers = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("raylab-worker")
            .enable_all()
            .build()
            .map_err(|e| setup(&e))?;
        let handle = workers.handle().clone();
        let engine = engine::new_engine(&engine_config).map_err(|e| setup(&e))?;
        let (instances, job_instances) = config.task_instances();
        let control = Arc::new(NodeControl::new(
            total,
            config.object_store_memory,
            config.job_object_store_memory.unwrap_or(usize::MAX),
            instances,
            job_instances,
            (config.spill_size > 0).then(|| {
                crate::core::spill::Spill::new(config.spill_dir.clone(), config.spill_size)
            }),
        ));
        let jobs = Arc::new(Jobs::new(config.keep_finished_jobs));
        let gpus = Arc::new(Gpus::new(config.gpu_memory));
        let grants = Grants {
            dirs: config.dirs.clone(),
            envs: config.envs.clone(),
        };
        let sandboxes = Arc::new(Sandboxes::new(
            engine.clone(),
            grants,
            config.preemption,
            jobs.clone(),
            gpus.clone(),
            handle.clone(),
            control.clone() as Arc<dyn ReleaseRefs>,
        ));
        let modules = Arc::new(Modules::default());
        let timeline = Arc::new(Timeline::default());
        let tasks = Arc::new(Tasks::new(
            control.clone(),
            modules.clone(),
            sandboxes.clone(),
            timeline.clone(),
            handle.clone(),
            TaskDefaults {
                isolation: config.isolation,
                memory: config.task_memory,
                timeout: config.task_timeout,
                max_pending: config.max_pending_tasks,
            },
        ));
        let objects = Arc::new(Objects::new(control.clone(), tasks.clone()));
        let actors = Actors::new(
            control.clone(),
            sandboxes.clone(),
            tasks.clone(),
            timeline.clone(),
            ActorDefaults {
                memory: config.task_memory,
                timeout: config.task_timeout,
                max_queued: config.max_pending_tasks,
            },
        );
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| setup(&e))?;
        crate::wasm::clocks::add_to_linker(&mut linker).map_err(|e| setup(&e))?;
        let services = Services {
            tasks: Arc::downgrade(&tasks),
            objects: Arc::downgrade(&objects),
            actors: Arc::downgrade(&actors),
        };
        guest_api::add_to_linker(&mut linker, &services).map_err(|e| setup(&e))?;
        let node = Arc::new(Node {
            engine,
            linker,
            config,
            control,
            modules,
            jobs,
            sandboxes,
            tasks,
            _objects: objects,
            actors,
            timeline,
            gpus,
            handle,
            ticker_done: AtomicBool::new(false),
            #[cfg(feature = "cluster")]
            cluster: std::sync::OnceLock::new(),
            #[cfg(feature = "cluster")]
            remote: std::sync::OnceLock::new(),
            #[cfg(feature = "cluster")]
            durable: std::sync::OnceLock::new(),
        });
        if node.config.preemption {
            // The epoch ticker: it holds only a weak reference, and stops
            // once the runtime and its workers are gone.
            let weak = Arc::downgrade(&node);
            std::thread::Builder::new()
                .name("raylab-ticker".into())
                .spawn(move || {
                    while let Some(node) = weak.upgrade() {
                        if node.ticker_done.load(Ordering::SeqCst) {
                            break;
                        }
                        node.engine.increment_epoch();
                        drop(node);
                        std::thread::sleep(TICK);
                    }
                })
                .map_err(|e| setup(&e))?;
        }
        Ok(Runtime {
            node,
            workers: Some(workers),
        })
    }

    fn workers(&self) -> &tokio::runtime::Runtime {
        self.workers.as_ref().expect("workers live until drop")
    }

    /// Load a module from a file, named after the file's stem.
    ///
    /// # Panics
    ///
    /// It blocks the calling thread on the node's own workers: called from
    /// a thread that runs a tokio runtime's async tasks it panics (call it
    /// inside `tokio::task::spawn_blocking` there).
    pub fn load_file(&self, path: &Path) -> Result<String, LoadError> {
        let name = path
            .file_stem()
            .map_or_else(|| "module".into(), |s| s.to_string_lossy().into_owned());
        self.load_file_as(&name, path)?;
        Ok(name)
    }

    /// Load a module from a file under `name`.
    ///
    /// # Panics
    ///
    /// It blocks the calling thread on the node's own workers: called from
    /// a thread that runs a tokio runtime's async tasks it panics (call it
    /// inside `tokio::task::spawn_blocking` there).
    pub fn load_file_as(&self, name: &str, path: &Path) -> Result<(), LoadError> {
        let bytes = std::fs::read(path).map_err(|cause| LoadError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        self.load_bytes(name, &bytes)
    }

    /// Load a module from its bytes under `name`.
    ///
    /// # Panics
    ///
    /// It blocks the calling thread on the node's own workers: called from
    /// a thread that runs a tokio runtime's async tasks it panics (call it
    /// inside `tokio::task::spawn_blocking` there).
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<(), LoadError> {
        self.load_for(JobId::new(0), name, bytes)
    }

    /// Load a module for `job` (only its guests can call it).
    fn load_for(&self, job: JobId, name: &str, bytes: &[u8]) -> Result<(), LoadError> {
        let node = &self.node;
        if node.modules.contains(name) {
            return Err(LoadError::Duplicate {
                name: name.to_string(),
            });
        }
        let module = self.workers().block_on(modules::load(
            &node.engine,
            &node.linker,
            &node.sandboxes,
            job,
            name,
            bytes,
            node.config.cache_dir.as_deref(),
            node.config.compiler.as_ref().map(|c| c.0.clone()),
            node.config.task_memory,
        ))?;
        // In a cluster, other nodes may run its functions: they fetch it
        // from the cluster's store.
        #[cfg(feature = "cluster")]
        if let Some(cluster) = node.cluster.get() {
            let digest = module.digest.clone();
            self.workers()
                .block_on(cluster.wire.publish_module(&digest, bytes))
                .map_err(|message| LoadError::Link {
                    name: name.to_string(),
                    message,
                })?;
        }
        node.modules.insert(module)
    }

    /// The remote functions of a loaded module.
    pub fn functions(&self, module: &str) -> Option<Vec<String>> {
        self.node
            .modules
            .get(module)
            .map(|m| m.functions.iter().map(|f| f.to_string()).collect())
    }

    /// Whether a module of that name is loaded (a job's is `NAME-ID`
    /// while the job runs).
    pub fn is_loaded(&self, module: &str) -> bool {
        self.node.modules.contains(module)
    }

    /// Run module `name`'s driver (`wasi:cli/run`) with `args` (the guest
    /// sees them after its own name). Returns the driver's exit code. Blocks
    /// the calling thread, which runs the driver.
    /// The driver has the node's `driver_memory` quota and `driver_timeout`.
    ///
    /// # Panics
    ///
    /// It blocks the calling thread on the node's own workers: called from
    /// a thread that runs a tokio runtime's async tasks it panics (call it
    /// inside `tokio::task::spawn_blocking` there).
    pub fn run_driver(&self, name: &str, args: &[String]) -> Result<i32, RunError> {
        let timeout = self.node.config.driver_timeout;
        self.run_driver_in(
            name,
            args,
            JobId::new(0),
            Arc::new(CancelFlag::default()),
            timeout,
        )
    }

    /// [`Runtime::run_driver`] with a [`Journal`](crate::Journal): the
    /// results of the tasks the driver submits are kept there, and a run
    /// with a journal that already holds some gets them back instead of
    /// running those tasks again (see `exec::journal` for what is replayed
    /// and what runs again; a driver that makes other calls than the
    /// recorded run fails at the first). Returns the run's outcome and what
    /// it replayed and recorded; every result the driver saw is in the
    /// journal when it returns.
    ///
    /// # Panics
    ///
    /// As [`Runtime::run_driver`].
    pub fn run_driver_journaled(
        &self,
        name: &str,
        args: &[String],
        journal: Arc<dyn crate::Journal>,
    ) -> (Result<i32, RunError>, crate::Replay) {
        let node = self.node.clone();
        let Some(module) = node.modules.get(name) else {
            return (
                Err(RunError::NoModule(name.to_string())),
                crate::Replay::default(),
            );
        };
        let args = args.to_vec();
        let limits = crate::exec::driver::Limits {
            memory: node.config.driver_memory,
            timeout: node.config.driver_timeout,
        };
        let journal = Arc::new(crate::exec::journal::DriverJournal::new(journal));
        let job = JobId::new(0);
        let driver = self.node.handle.spawn(async move {
            let stop = Arc::new(CancelFlag::default());
            let result = crate::exec::driver::run(
                &node.sandboxes,
                module,
                &args,
                job,
                stop,
                limits,
                Some(journal.clone()),
            )
            .await;
            // Tasks still running end with the run; the results already
            // there are recorded first.
            node.tasks.cancel_job(job);
            (result, journal.settle().await)
        });
        self.workers().block_on(driver).unwrap_or_else(|e| {
            (
                Err(RunError::Internal(format!(
                    "the driver's thread failed: {e}"
                ))),
                crate::Replay::default(),
            )
        })
    }

    fn run_driver_in(
        &self,
        name: &str,
        args: &[String],
        job: JobId,
        stop: Arc<CancelFlag>,
        timeout: Option<Duration>,
    ) -> Result<i32, RunError> {
        let node = self.node.clone();
        let module = node
            .modules
            .get(name)
            .ok_or_else(|| RunError::NoModule(name.to_string()))?;
        let args = args.to_vec();
        let limits = crate::exec::driver::Limits {
            memory: node.config.driver_memory,
            timeout,
        };
        let driver = self.node.handle.spawn(async move {
            crate::exec::driver::run(&node.sandboxes, module, &args, job, stop, limits, None).await
        });
        self.workers().block_on(driver).unwrap_or_else(|e| {
            Err(RunError::Internal(format!(
                "the driver's thread failed: {e}"
            )))
        })
    }

    /// Submit a job: load `bytes` as a module and run its driver on the
    /// node's workers, for at most `timeout`; its output goes to the job's
    /// log (the last [`crate::JOB_LOG_BYTES`] are kept). Returns once the
    /// module is loaded, while the driver runs.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use raylab::{Config, JobStatus, Runtime};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let runtime = Arc::new(Runtime::new(Config::default())?);
    /// let bytes = std::fs::read("task1.wasm")?;
    /// let job = runtime.submit_job("task1", &bytes, vec!["--n".into(), "10".into()], None)?;
    /// while runtime.job(job).is_some_and(|j| j.status == JobStatus::Running) {
    ///     std::thread::sleep(std::time::Duration::from_millis(50));
    /// }
    /// let log = runtime.job_log(job, 0, usize::MAX).expect("a job's log");
    /// print!("{}", String::from_utf8_lossy(&log.bytes));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// Loading blocks the calling thread on the node's own workers: called
    /// from a thread that runs a tokio runtime's async tasks it panics
    /// (call it inside `tokio::task::spawn_blocking` there).
    pub fn submit_job(
        self: &Arc<Self>,
        name: &str,
        bytes: &[u8],
        args: Vec<String>,
        timeout: Option<Duration>,
    ) -> Result<JobId, LoadError> {
        #[cfg(feature = "cluster")]
        if let Some(durable) = self.node.durable.get() {
            return self.submit_durable(&durable.clone(), name, bytes, args, timeout);
        }
        let id = self.node.jobs.next_id();
        let module = format!("{name}-{id}");
        self.load_for(id, &module, bytes)?;
        let stop = self.node.jobs.start(id, name);
        self.node.jobs.describe(id, &args, bytes.len());
        let node = self.node.clone();
        let loaded = node.modules.get(&module).expect("just loaded");
        let limits = crate::exec::driver::Limits {
            memory: node.config.driver_memory,
            timeout,
        };
        // The whole job is one task on the workers (no thread of its own):
        // its driver, then the clean-up.
        self.node.handle.spawn(async move {
            let result =
                crate::exec::driver::run(&node.sandboxes, loaded, &args, id, stop, limits, None)
                    .await;
            // As in Ray, a job's tasks end with its driver: cancel what is
            // left, then unload the job's module (tasks still winding down
            // hold their own reference to it) and free its objects.
            node.tasks.cancel_job(id);
            node.modules.remove(&module);
            #[cfg(feature = "cluster")]
            if let Some(cluster) = node.cluster.get() {
                cluster.wire.job_ended(id).await;
            }
            node.tasks.forget_lineage(id);
            node.tasks.remove_groups_of(id);
            let tasks = node.control.lock().end_job(id);
            node.jobs.end(id, &result, tasks);
        });
        Ok(id)
    }

    /// Stop a job: its driver and every task of it stop at their next
    /// preemption tick; tasks not started never run. Other jobs' results
    /// are untouched. False if there is no such job.
    pub fn stop_job(&self, id: JobId) -> bool {
        if !self.node.jobs.stop(id) {
            return false;
        }
        self.node.tasks.cancel_job(id);
        true
    }
}
