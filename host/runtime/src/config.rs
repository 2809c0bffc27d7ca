//! A node's settings: [`Config`] and its defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::gpu::{GpuBackend, SoftwareGpus};
use crate::wasm::engine::{self, EngineConfig, ModuleCompiler};
pub use crate::wasm::modules::Isolation;
use crate::wasm::sandbox::DirGrant;

/// A [`ModuleCompiler`] shared by a node.
#[derive(Clone)]
pub(crate) struct Compiler(pub(crate) std::sync::Arc<dyn ModuleCompiler>);

impl std::fmt::Debug for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compiler")
    }
}

/// Settings of a node, made by a [`ConfigBuilder`]:
///
/// ```
/// use raylab::Config;
/// use std::time::Duration;
///
/// let config = Config::builder()
///     .num_cpus(2.0)
///     .object_store_memory(512 << 20)
///     .task_timeout(Some(Duration::from_secs(60)))
///     .grant_dir("/srv/data", "/data", true)
///     .build();
/// assert_eq!(config.num_cpus(), 2.0);
/// ```
///
/// `Config::default()` is the builder's defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// CPU slots (default: the machine's cores).
    pub(crate) num_cpus: f64,
    /// Custom resources of the node.
    pub(crate) resources: Vec<(String, f64)>,
    /// Object store capacity in bytes.
    pub(crate) object_store_memory: usize,
    /// Compile cache directory; `None` disables the cache.
    pub(crate) cache_dir: Option<PathBuf>,
    /// Default sandbox policy of remote tasks.
    pub(crate) isolation: Isolation,
    /// Engine limits.
    pub(crate) engine: EngineConfig,
    /// GPUs of the node (ids 0..n); `None`: one per adapter wgpu finds
    /// (probed only when a loaded module imports `raylab:runtime/gpu`).
    /// More than the adapters declares logical GPUs sharing them.
    pub(crate) num_gpus: Option<u32>,
    /// wgpu backends to probe.
    pub(crate) gpu_backend: GpuBackend,
    /// Whether software adapters count as GPUs ([`SoftwareGpus`]).
    pub(crate) gpu_software: SoftwareGpus,
    /// GPU buffer bytes one dispatch of a task may use.
    pub(crate) gpu_memory: u64,
    /// Memory quota of a remote task that sets no `memory` option, bytes.
    pub(crate) task_memory: u64,
    /// Time limit of a task attempt that sets no `timeout`; `None`: none.
    pub(crate) task_timeout: Option<Duration>,
    /// Memory quota of a driver, bytes: a driver is sandboxed like a task.
    pub(crate) driver_memory: u64,
    /// Time limit of a whole driver run (`run --timeout`; a head job sets
    /// its own); `None`: none.
    pub(crate) driver_timeout: Option<Duration>,
    /// Sandboxes that one job's started tasks may hold at once (running or
    /// blocked); more wait in the queue. The node's total for tasks is the
    /// engine's `max_instances` less the 100 kept for drivers, loading and
    /// warm instances. `None`: half
    /// of that, so one job (a fork bomb, say) always leaves room for others.
    pub(crate) max_job_instances: Option<usize>,
    /// Preemption: an epoch tick every 10 ms lets running guests yield,
    /// enforces time limits and stops cancelled tasks. Off saves the
    /// epoch checks in compiled code (measured in BENCHMARKS.md) but
    /// leaves runaway tasks running for ever.
    pub(crate) preemption: bool,
    /// Most tasks alive at once per job (waiting, queued, running,
    /// blocked): a fork-bomb guard.
    pub(crate) max_pending_tasks: usize,
    /// Most object-store bytes one job may hold, in memory and spilled
    /// (`None`: the whole store): a memory-bomb guard between jobs.
    pub(crate) job_object_store_memory: Option<usize>,
    /// Where objects are spilled when the store's memory is full (a
    /// directory of the node's own is made inside it).
    pub(crate) spill_dir: PathBuf,
    /// Most bytes spilled to disk at once; 0 turns spilling off.
    pub(crate) spill_size: usize,
    /// Host directories granted to every guest.
    pub(crate) dirs: Vec<DirGrant>,
    /// Environment variables granted to every guest.
    pub(crate) envs: Vec<(String, String)>,
    /// Finished jobs a head remembers (status and log); the oldest are
    /// forgotten beyond this, so a long-running head stays bounded.
    pub(crate) keep_finished_jobs: usize,
    /// Where modules are compiled when they are not in the cache (`None`:
    /// in this process). Used only with a compile cache.
    pub(crate) compiler: Option<Compiler>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            num_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
            resources: Vec::new(),
            object_store_memory: default_object_store_memory(),
            cache_dir: engine::default_cache_dir(),
            isolation: Isolation::Fresh,
            engine: EngineConfig::default(),
            num_gpus: None,
            gpu_backend: GpuBackend::Auto,
            gpu_software: SoftwareGpus::Auto,
            gpu_memory: 256 << 20,
            task_memory: 1 << 30,
            task_timeout: Some(Duration::from_secs(300)),
            driver_memory: 2 << 30,
            driver_timeout: None,
            max_job_instances: None,
            preemption: true,
            max_pending_tasks: 1_000_000,
            job_object_store_memory: None,
            spill_dir: std::env::temp_dir(),
            spill_size: default_object_store_memory(),
            dirs: Vec::new(),
            envs: Vec::new(),
            keep_finished_jobs: 100,
            compiler: None,
        }
    }
}

/// Builds a [`Config`]: start from [`Config::builder`] (the defaults) and
/// set what differs. Every setter takes and returns the builder.
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder {
    config: Config,
    /// Spill size, when set (else the object store's capacity).
    spill_size: Option<usize>,
}

impl Config {
    /// A builder with every setting at its default.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// A builder starting from these settings.
    pub fn to_builder(&self) -> ConfigBuilder {
        ConfigBuilder {
            config: self.clone(),
            spill_size: Some(self.spill_size),
        }
    }

    /// CPU slots.
    pub fn num_cpus(&self) -> f64 {
        self.num_cpus
    }

    /// Object store capacity, bytes.
    pub fn object_store_memory(&self) -> usize {
        self.object_store_memory
    }

    /// The compile cache directory (`None`: no cache).
    pub fn cache_dir(&self) -> Option<&std::path::Path> {
        self.cache_dir.as_deref()
    }
}

impl ConfigBuilder {
    /// The settings.
    pub fn build(self) -> Config {
        let mut config = self.config;
        config.spill_size = self.spill_size.unwrap_or(config.object_store_memory);
        config
    }

    /// The engine's settings as the node will run it (what a
    /// [`ModuleCompiler`] for it must use): see [`Config::engine_config`].
    pub fn engine_config(&self) -> EngineConfig {
        self.config.engine_config()
    }

    /// The compile cache directory so far.
    pub fn cache_dir_set(&self) -> Option<&std::path::Path> {
        self.config.cache_dir.as_deref()
    }

    /// CPU slots (default: the machine's cores). 0 keeps tasks that need
    /// a CPU off the node (Ray's `--num-cpus 0` head).
    pub fn num_cpus(mut self, n: f64) -> Self {
        self.config.num_cpus = n;
        self
    }
    /// A custom resource of the node (`--resources`), replacing one of
    /// that name.
    pub fn resource(mut self, name: impl Into<String>, amount: f64) -> Self {
        let name = name.into();
        self.config.resources.retain(|(n, _)| *n != name);
        self.config.resources.push((name, amount));
        self
    }
    /// Object store capacity in bytes (default: 30% of the machine's
    /// memory, as Ray's).
    pub fn object_store_memory(mut self, bytes: usize) -> Self {
        self.config.object_store_memory = bytes;
        self
    }
    /// Compile cache directory; `None` disables the cache (default: the
    /// user's cache directory). The library refuses one that other users
    /// could write to.
    pub fn cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.config.cache_dir = dir;
        self
    }
    /// Default sandbox policy of remote tasks (default fresh).
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.config.isolation = isolation;
        self
    }
    /// Instances that can exist at once: running or blocked tasks, warm
    /// instances, drivers (default 1000).
    pub fn max_instances(mut self, n: u32) -> Self {
        self.config.engine.max_instances = n;
        self
    }
    /// Largest linear memory of any instance, bytes (default 4 GiB).
    pub fn max_instance_memory(mut self, bytes: usize) -> Self {
        self.config.engine.max_memory_bytes = bytes;
        self
    }
    /// Bytes of a finished sandbox's memory kept resident for the next
    /// one in its slot (default [`KEEP_RESIDENT`](crate::KEEP_RESIDENT)).
    pub fn keep_resident(mut self, bytes: usize) -> Self {
        self.config.engine.keep_resident = bytes;
        self
    }
    /// Keep Cranelift's output function by function in `dir`, so that a
    /// module differing from one compiled before in some functions
    /// compiles only those (default: off).
    pub fn function_cache(mut self, dir: Option<PathBuf>) -> Self {
        self.config.engine.function_cache = dir;
        self
    }
    /// GPUs of the node (ids 0..n); unset: one per adapter found. More
    /// than the adapters declares logical GPUs sharing them.
    pub fn num_gpus(mut self, n: Option<u32>) -> Self {
        self.config.num_gpus = n;
        self
    }
    /// wgpu backends to probe (default: all).
    pub fn gpu_backend(mut self, backend: GpuBackend) -> Self {
        self.config.gpu_backend = backend;
        self
    }
    /// Whether software adapters count as GPUs (default: only where no
    /// real one is found).
    pub fn software_gpus(mut self, software: SoftwareGpus) -> Self {
        self.config.gpu_software = software;
        self
    }
    /// GPU buffer bytes one dispatch of a task may use (default 256 MiB).
    pub fn gpu_memory(mut self, bytes: u64) -> Self {
        self.config.gpu_memory = bytes;
        self
    }
    /// Memory quota of a task that sets no `memory` option, bytes
    /// (default 1 GiB).
    pub fn task_memory(mut self, bytes: u64) -> Self {
        self.config.task_memory = bytes;
        self
    }
    /// Time limit of a task attempt that sets no `timeout` (default 300
    /// s; `None`: none).
    pub fn task_timeout(mut self, limit: Option<Duration>) -> Self {
        self.config.task_timeout = limit;
        self
    }
    /// Memory quota of a driver, bytes (default 2 GiB).
    pub fn driver_memory(mut self, bytes: u64) -> Self {
        self.config.driver_memory = bytes;
        self
    }
    /// Time limit of a whole driver run (default: none).
    pub fn driver_timeout(mut self, limit: Option<Duration>) -> Self {
        self.config.driver_timeout = limit;
        self
    }
    /// Sandboxes one job's started tasks may hold at once (default: half
    /// the node's, so that one job always leaves room for others).
    pub fn max_job_instances(mut self, n: Option<usize>) -> Self {
        self.config.max_job_instances = n;
        self
    }
    /// Preemption by an epoch tick every 10 ms (default on): running
    /// guests yield, time limits hold, cancel stops running tasks. Off
    /// saves the epoch checks in compiled code, and leaves runaway tasks
    /// running for ever.
    pub fn preemption(mut self, on: bool) -> Self {
        self.config.preemption = on;
        self
    }
    /// Most tasks alive at once per job (default 1,000,000): a fork-bomb
    /// guard.
    pub fn max_pending_tasks(mut self, n: usize) -> Self {
        self.config.max_pending_tasks = n;
        self
    }
    /// Most object-store bytes one job may hold, in memory and spilled
    /// (default: the whole store).
    pub fn job_object_store_memory(mut self, bytes: Option<usize>) -> Self {
        self.config.job_object_store_memory = bytes;
        self
    }
    /// Where objects are spilled when the store is full (default: the
    /// system's temporary directory; a directory of the node's own is made
    /// inside it).
    pub fn spill_dir(mut self, dir: PathBuf) -> Self {
        self.config.spill_dir = dir;
        self
    }
    /// Most bytes spilled at once; 0 turns spilling off (default: the
    /// object store's capacity).
    pub fn spill_size(mut self, bytes: usize) -> Self {
        self.spill_size = Some(bytes);
        self
    }
    /// Grant every guest the host directory `host`, seen at `guest`.
    pub fn grant_dir(
        mut self,
        host: impl Into<PathBuf>,
        guest: impl Into<String>,
        read_only: bool,
    ) -> Self {
        self.config.dirs.push(DirGrant {
            host: host.into(),
            guest: guest.into(),
            read_only,
        });
        self
    }
    /// Grant every guest the environment variable `name`.
    pub fn grant_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.envs.push((name.into(), value.into()));
        self
    }
    /// Finished jobs a head remembers, status and log (default 100).
    pub fn keep_finished_jobs(mut self, n: usize) -> Self {
        self.config.keep_finished_jobs = n;
        self
    }
    /// Compile modules that are not in the cache with `compiler` (default:
    /// in this process). Used only with a compile cache.
    pub fn compiler(mut self, compiler: std::sync::Arc<dyn ModuleCompiler>) -> Self {
        self.config.compiler = Some(Compiler(compiler));
        self
    }
}

/// Sandboxes of the engine's pool kept for what is not a task: drivers
/// (one per running job), module loading and warm instances.
pub(crate) const RESERVED_INSTANCES: usize = 100;

impl Config {
    /// The engine's settings as the node runs it (preemption decides the
    /// epoch checks compiled into guests): what a [`ModuleCompiler`] given to it must use.
    pub fn engine_config(&self) -> EngineConfig {
        let mut engine = self.engine.clone();
        engine.epoch_interruption = self.preemption;
        engine
    }

    /// Sandboxes started tasks may hold at once, and one job's share.
    pub(crate) fn task_instances(&self) -> (usize, usize) {
        let total = (self.engine.max_instances as usize)
            .saturating_sub(RESERVED_INSTANCES)
            .max(1);
        let per_job = self.max_job_instances.unwrap_or(total / 2).clamp(1, total);
        (total, per_job)
    }
}

/// 30% of the machine's memory, as Ray's default object store.
pub(crate) fn default_object_store_memory() -> usize {
    machine_memory().map_or(2 << 30, |t| t / 10 * 3)
}

/// The machine's memory in bytes, from /proc/meminfo.
pub(crate) fn machine_memory() -> Option<usize> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| meminfo_total(&s))
}

/// `MemTotal` of a /proc/meminfo text, in bytes.
fn meminfo_total(meminfo: &str) -> Option<usize> {
    meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<usize>().ok())
        .map(|kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_in_bytes() {
        let text = "MemFree:  100 kB\nMemTotal:       24576000 kB\nBuffers: 1 kB\n";
        assert_eq!(meminfo_total(text), Some(24_576_000 * 1024));
        assert_eq!(meminfo_total("nothing here"), None);
    }

    #[test]
    fn isolation_parses_its_names_only() {
        for name in Isolation::NAMES {
            assert!(name.parse::<Isolation>().is_ok());
        }
        assert_eq!("warm".parse(), Ok(Isolation::Warm));
        assert!(
            "tepid"
                .parse::<Isolation>()
                .unwrap_err()
                .contains("fresh or warm")
        );
    }
}
