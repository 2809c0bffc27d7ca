//! The node settings `run` and `start` share ([`NodeArgs`]) and the
//! runtime configuration they make.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use raylab::gpu::{GpuBackend, SoftwareGpus};
use raylab::{Config, ConfigBuilder, Isolation};
use raylab_host::size::parse_size;

/// Node settings shared by the commands that start a runtime.
#[derive(Args, Debug, Clone)]
pub(crate) struct NodeArgs {
    /// CPU slots: how many tasks run at once [default: number of cores].
    #[arg(long, value_name = "N")]
    num_cpus: Option<f64>,
    /// Custom resources of the node as JSON, e.g. '{"accel": 2}'.
    #[arg(long, value_name = "JSON")]
    resources: Option<String>,
    /// Object store capacity, in bytes or with a suffix (K, M, G)
    /// [default: 30% of memory].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    object_store_memory: Option<usize>,
    /// Sandbox policy of remote tasks: a fresh instance per task, or reuse
    /// warm instances (faster; guest globals survive between tasks).
    #[arg(long, default_value = "fresh",
          value_parser = PossibleValuesParser::new(Isolation::NAMES).map(|s| s.parse::<Isolation>().expect("listed")))]
    isolation: Isolation,
    /// Directory of the compiled-module cache [default: $RAYLAB_CACHE_DIR,
    /// $XDG_CACHE_HOME/raylab or ~/.cache/raylab].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile modules every time instead of using the cache.
    #[arg(long)]
    no_cache: bool,
    /// GPUs of the node (ids 0..N) [default: one per GPU adapter wgpu
    /// finds, probed when a loaded module imports the GPU interface, else
    /// 0]. More than the adapters declares logical GPUs sharing them, as
    /// Ray allows.
    #[arg(long, value_name = "N")]
    num_gpus: Option<u32>,
    /// wgpu backends to use for GPUs.
    #[arg(long, default_value = "auto",
          value_parser = PossibleValuesParser::new(GpuBackend::NAMES).map(|s| s.parse::<GpuBackend>().expect("listed")))]
    gpu_backend: GpuBackend,
    /// Whether software GPU adapters (Mesa's llvmpipe, shaders on the CPU)
    /// count as GPUs: `auto` uses one only where there is no real GPU.
    #[arg(long, default_value = "auto",
          value_parser = PossibleValuesParser::new(SoftwareGpus::NAMES).map(|s| s.parse::<SoftwareGpus>().expect("listed")))]
    software_gpus: SoftwareGpus,
    /// GPU buffer memory one dispatch of a task may use.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "256M")]
    gpu_memory: usize,
    /// Memory quota of a remote task that sets no `memory` option; a task
    /// growing past it fails with `memory-quota-exceeded`.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1G")]
    task_memory: usize,
    /// Time limit of one attempt of a remote task that sets no `timeout`,
    /// in seconds (fractions allowed); 0 for none.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    task_timeout: f64,
    /// Compile guests without preemption checks: slightly faster guest
    /// code, but no time limits, no stopping of running tasks by `cancel`,
    /// and no time slicing between tasks on a worker.
    #[arg(long)]
    no_preemption: bool,
    /// Where objects are spilled to disk when the object store's memory is
    /// full [default: the system's temporary directory].
    #[arg(long, value_name = "DIR")]
    spill_dir: Option<PathBuf>,
    /// Most bytes spilled to disk at once; 0 turns spilling off (a full
    /// store then fails with `object-store-full`) [default: as
    /// --object-store-memory].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    spill_size: Option<usize>,
    /// Memory quota of a driver (it is sandboxed like a task); past it the
    /// driver stops with an error naming the quota.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "2G")]
    driver_memory: usize,
    /// Sandboxes one job's started tasks may hold at once (running or
    /// blocked); more wait in the queue [default: half of the node's].
    #[arg(long, value_name = "N")]
    max_job_instances: Option<usize>,
    /// Memory a finished sandbox keeps resident for the next one in its
    /// slot (the rest goes back to the kernel at once); the node's idle
    /// memory is at most this times the sandboxes ever alive at once.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value_t = raylab::KEEP_RESIDENT)]
    sandbox_keep_resident: usize,
    /// Most tasks alive at once per job (waiting, queued, running or
    /// blocked); a `submit` beyond fails with `too-many-tasks`.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    max_pending_tasks: usize,
    /// Most object-store bytes one job may hold [default: the whole
    /// store]; over it, `put` and results fail with `object-store-full`.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    job_object_store_memory: Option<usize>,
    /// Grant every guest a host directory, read-write, as GUEST (default:
    /// the same path). Guests see no filesystem otherwise. Repeatable.
    #[arg(long, value_name = "HOST[::GUEST]")]
    dir: Vec<String>,
    /// Grant every guest a host directory, read-only. Repeatable.
    #[arg(long, value_name = "HOST[::GUEST]")]
    dir_readonly: Vec<String>,
    /// Give every guest an environment variable (NAME alone copies the
    /// host's value). Guests see no environment otherwise. Repeatable.
    #[arg(long, value_name = "NAME[=VALUE]")]
    env: Vec<String>,
}

impl NodeArgs {
    pub(crate) fn config(&self) -> anyhow::Result<ConfigBuilder> {
        let mut config = Config::builder();
        if let Some(n) = self.num_cpus {
            // 0 is Ray's way to keep tasks off a node (a head that only
            // runs drivers and serves the API); tasks needing a CPU then go
            // to other nodes, and under `run` they are infeasible.
            if !(n.is_finite() && n >= 0.0) {
                bail!("--num-cpus must be a number of CPUs, 0 or more, got {n}");
            }
            config = config.num_cpus(n);
        }
        if let Some(json) = &self.resources {
            let map: std::collections::BTreeMap<String, f64> = serde_json::from_str(json)
                .context("--resources must be a JSON object of name: amount")?;
            for name in map.keys() {
                if matches!(name.as_str(), "CPU" | "GPU" | "memory") {
                    bail!("--resources: set `{name}` with its own flag");
                }
            }
            for (name, amount) in map {
                config = config.resource(name, amount);
            }
        }
        if let Some(m) = self.object_store_memory {
            config = config.object_store_memory(m);
        }
        config = config
            .isolation(self.isolation)
            .num_gpus(self.num_gpus)
            .gpu_backend(self.gpu_backend)
            .software_gpus(self.software_gpus)
            .gpu_memory(self.gpu_memory as u64)
            .task_memory(self.task_memory as u64);
        if !(self.task_timeout.is_finite() && self.task_timeout >= 0.0) {
            bail!(
                "--task-timeout must be a number of seconds, got {}",
                self.task_timeout
            );
        }
        config = config
            .task_timeout(
                (self.task_timeout > 0.0).then(|| Duration::from_secs_f64(self.task_timeout)),
            )
            .preemption(!self.no_preemption)
            .max_pending_tasks(self.max_pending_tasks)
            .driver_memory(self.driver_memory as u64);
        if self.max_job_instances == Some(0) {
            bail!("--max-job-instances must be at least 1");
        }
        config = config
            .max_job_instances(self.max_job_instances)
            .keep_resident(self.sandbox_keep_resident)
            .job_object_store_memory(self.job_object_store_memory);
        if let Some(dir) = &self.spill_dir {
            config = config.spill_dir(dir.clone());
        }
        if let Some(bytes) = self.spill_size {
            config = config.spill_size(bytes);
        }
        for (specs, readonly) in [(&self.dir, false), (&self.dir_readonly, true)] {
            for spec in specs {
                let (host, guest) = match spec.split_once("::") {
                    Some((h, g)) => (h, g),
                    None => (spec.as_str(), spec.as_str()),
                };
                config = config.grant_dir(host, guest, readonly);
            }
        }
        for spec in &self.env {
            let (name, value) = match spec.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => (
                    spec.clone(),
                    std::env::var(spec)
                        .with_context(|| format!("--env {spec}: not set on the host"))?,
                ),
            };
            config = config.grant_env(name, value);
        }
        if self.no_cache {
            config = config.cache_dir(None);
        } else if let Some(dir) = &self.cache_dir {
            config = config.cache_dir(Some(dir.clone()));
        }
        Ok(config)
    }
}
