//! A node's settings: [`Config`] and its defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::gpu::{GpuBackend, SoftwareGpus};
use crate::wasm::engine::{self, EngineConfig};
pub use crate::wasm::modules::Isolation;

/// A [`ModuleCompiler`](crate::ModuleCompiler) shared by a node.
#[derive(Clone)]
pub struct Compiler(pub std::sync::Arc<dyn crate::wasm::engine::ModuleCompiler>);

impl std::fmt::Debug for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compiler")
    }
}

/// Settings of a node.
#[derive(Debug, Clone)]
pub struct Config {
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
    pub gpu_backend: GpuBackend,
    /// Whether software adapters count as GPUs ([`SoftwareGpus`]).
    pub gpu_software: SoftwareGpus,
    /// GPU buffer bytes one dispatch of a task may use.
    pub gpu_memory: u64,
    /// Memory quota of a remote task that sets no `memory` option, bytes.
    pub task_memory: u64,
    /// Time limit of a task attempt that sets no `timeout`; `None`: none.
    pub task_timeout: Option<Duration>,
    /// Memory quota of a driver, bytes: a driver is sandboxed like a task.
    pub driver_memory: u64,
    /// Time limit of a whole driver run (`run --timeout`; a head job sets
    /// its own); `None`: none.
    pub driver_timeout: Option<Duration>,
    /// Sandboxes that one job's started tasks may hold at once (running or
    /// blocked); more wait in the queue. The node's total for tasks is the
    /// engine's `max_instances` less [`RESERVED_INSTANCES`]. `None`: half
    /// of that, so one job (a fork bomb, say) always leaves room for others.
    pub max_job_instances: Option<usize>,
    /// Preemption: an epoch tick every 10 ms lets running guests yield,
    /// enforces time limits and stops cancelled tasks. Off saves the
    /// epoch checks in compiled code (measured in BENCHMARKS.md) but
    /// leaves runaway tasks running for ever.
    pub preemption: bool,
    /// Most tasks alive at once per job (waiting, queued, running,
    /// blocked): a fork-bomb guard.
    pub max_pending_tasks: usize,
    /// Most object-store bytes one job may hold, in memory and spilled
    /// (`None`: the whole store): a memory-bomb guard between jobs.
    pub job_object_store_memory: Option<usize>,
    /// Where objects are spilled when the store's memory is full (a
    /// directory of the node's own is made inside it).
    pub spill_dir: PathBuf,
    /// Most bytes spilled to disk at once; 0 turns spilling off.
    pub spill_size: usize,
    /// Host directories granted to every guest: (host, guest, read-only).
    pub dirs: Vec<(PathBuf, String, bool)>,
    /// Environment variables granted to every guest.
    pub envs: Vec<(String, String)>,
    /// Finished jobs a head remembers (status and log); the oldest are
    /// forgotten beyond this, so a long-running head stays bounded.
    pub keep_finished_jobs: usize,
    /// Where modules are compiled when they are not in the cache (`None`:
    /// in this process). Used only with a compile cache.
    pub compiler: Option<Compiler>,
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

/// Sandboxes of the engine's pool kept for what is not a task: drivers
/// (one per running job), module loading and warm instances.
pub const RESERVED_INSTANCES: usize = 100;

impl Config {
    /// The engine's settings as the node runs it (preemption decides the
    /// epoch checks compiled into guests): what a [`Compiler`] must use.
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
pub fn default_object_store_memory() -> usize {
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
