//! The `raylab-host` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use raylab::gpu::{GpuBackend, GpuBroker, SoftwareGpus};
use raylab::{Config, Isolation, Runtime};
use raylab_host::client::{self, Client};
use raylab_host::size::{human_bytes, parse_size};
use raylab_host::{api, procfs};
use serde::Deserialize;

/// mimalloc keeps freed large blocks for reuse, where glibc returns each
/// one to the kernel: with glibc every 100 MB `put` paid ~25,000 page
/// faults again (1.2 GB/s); see BENCHMARKS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// raylab: Ray-style parallel tasks, each in its own WebAssembly sandbox.
#[derive(Parser)]
#[command(name = "raylab-host", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a driver module: its `wasi:cli/run` entry runs here, and every
    /// remote call it makes runs as a sandboxed task on this node.
    Run(Box<RunArgs>),
    /// Start a long-running head: a node with an HTTP API for jobs, status,
    /// metrics and a dashboard (foreground; stop it with `stop` or Ctrl-C).
    Start(Box<StartArgs>),
    /// Run a module as a job on a head, stream its output, exit with its
    /// status.
    Submit(SubmitArgs),
    /// Check the connection to a head and print its status.
    Status(StatusArgs),
    /// Build raylab's Python runtime component now (componentize-py; once
    /// per raylab version, cached) and print where it is; `run app.py` and
    /// `submit app.py` build it when they first need it.
    Build(BuildArgs),
    /// Stop a head (its running jobs are stopped and reported).
    Stop(StopArgs),
    /// List the head's jobs or tasks, its store's objects, the cluster's
    /// nodes or the actors (`ray list`).
    List(ListArgs),
    /// Print a job's log; --follow keeps printing until it ends (`ray job
    /// logs`).
    Logs(LogsArgs),
    /// Write the cluster's task timeline as Chrome trace events (`ray
    /// timeline`), for Perfetto or chrome://tracing.
    Timeline(TimelineArgs),
    /// Task attempts by function and state, with their mean duration (`ray
    /// summary tasks`).
    Summary(SummaryArgs),
    /// List the GPU adapters this node would use (name, backend, type).
    Gpus(GpusArgs),
    /// Show what the compile and build caches hold (`info`), or empty them
    /// (`clear`); they are kept under `RAYLAB_CACHE_LIMIT_MB` on their own.
    Cache(CacheArgs),
    /// Measure task throughput, latency, start-up, memory, object store
    /// bandwidth and the lab tasks against native Rust; prints a table.
    Bench(raylab_host::bench::BenchArgs),
    /// Run the lab's four tasks (as scripts/lab.sh does in a checkout),
    /// building their components once from the sources in this binary if
    /// they are not found.
    Lab(raylab_host::lab::LabArgs),
    /// Make a new project (Rust or Python) that builds and runs with the
    /// two commands its README gives, against this binary's SDK.
    New(raylab_host::scaffold::NewArgs),
    /// Run a module with its arguments as Cargo's runner passes them
    /// (`runner FILE ARGS...`, no `--`): what `.cargo/config.toml` of a
    /// project from `new` names, so that `cargo run` and `cargo test` run
    /// on raylab. Same as `run FILE -- ARGS...`.
    Runner(RunnerArgs),
    /// Compile one module from stdin to a file (what a head runs in a
    /// child process, bounded, for every uploaded module).
    #[command(hide = true)]
    CompileModule(CompileArgs),
}

#[derive(Args)]
struct RunnerArgs {
    /// The module (a test or program Cargo built for wasm32-wasip2).
    module: PathBuf,
    /// Its arguments, as they come.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Args)]
struct BuildArgs {
    /// Also copy the component here.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Directory of the build cache [default: as `run`'s --cache-dir].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

#[derive(Args)]
struct CacheArgs {
    #[command(subcommand)]
    action: CacheAction,
}

#[derive(Subcommand)]
enum CacheAction {
    /// Where the caches are, what they hold, and their limit.
    Info {
        /// Directory of the caches [default: as `run`'s --cache-dir].
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Remove every compiled component, compiled function and built Python
    /// program (the next run compiles again); other files are left alone.
    Clear {
        /// Directory of the caches [default: as `run`'s --cache-dir].
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
}

#[derive(Args)]
struct CompileArgs {
    /// The module's name, for errors.
    #[arg(long)]
    name: String,
    /// Where the compiled module goes.
    #[arg(long)]
    out: PathBuf,
    /// As the node runs: no epoch checks compiled in.
    #[arg(long)]
    no_preemption: bool,
    /// As the node runs.
    #[arg(long, value_parser = parse_size, default_value_t = raylab::KEEP_RESIDENT)]
    sandbox_keep_resident: usize,
}

/// Node settings shared by the commands that start a runtime.
#[derive(Args, Debug, Clone)]
struct NodeArgs {
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

/// Where the head is.
#[derive(Args, Debug, Clone)]
struct AddressArgs {
    /// The head's address.
    #[arg(long, env = "RAYLAB_ADDRESS", default_value = "http://127.0.0.1:8265")]
    address: String,
    /// Bearer token of a head that requires one.
    #[arg(long, env = "RAYLAB_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Args)]
struct StartArgs {
    /// Start a head (the default without --address): it founds a cluster,
    /// starting a local nats-server unless --nats names one.
    #[arg(long, conflicts_with = "address")]
    head: bool,
    /// Join the cluster whose NATS server is at this address
    /// (`nats://host:port`, as the head prints it) as a worker node.
    #[arg(long, value_name = "NATS_URL")]
    address: Option<String>,
    /// The cluster's token (the head prints it; a head makes one when none
    /// is given). A node without it is refused.
    #[arg(long, env = "RAYLAB_CLUSTER_TOKEN", hide_env_values = true)]
    cluster_token: Option<String>,
    /// Head: use this NATS server (or cluster) instead of starting one.
    #[arg(long, value_name = "NATS_URL", conflicts_with = "address")]
    nats: Option<String>,
    /// Head: port of the nats-server it starts (0: any free port).
    #[arg(long, default_value_t = 4222)]
    nats_port: u16,
    /// This node's name in the cluster [default: head, or node-PID].
    #[arg(long)]
    node_name: Option<String>,
    /// Port of the HTTP API and dashboard (0: any free port) [default:
    /// 8265 for a head, any free port for a node joining one].
    #[arg(long)]
    port: Option<u16>,
    /// Address to bind; anything but loopback requires --token.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// The host other nodes and `status` show for this node's API
    /// [default: --host, or where it binds every interface, the address
    /// this machine reaches the NATS server from].
    #[arg(long, value_name = "HOST")]
    advertise_address: Option<String>,
    /// Token every request must carry (`Authorization: Bearer ...`).
    #[arg(long, env = "RAYLAB_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Largest module a job may upload.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64M")]
    max_upload: usize,
    /// Start the head in the background and return once it answers (like
    /// `ray start --head`); its output goes to --log-file.
    #[arg(long)]
    detach: bool,
    /// With --detach: where the head writes its output [default:
    /// raylab-head-PORT.log in the temporary directory].
    #[arg(long, value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// Longest an uploaded module may take to compile (in a child
    /// process; past it the upload is refused), in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, default_value = "60")]
    compile_timeout: f64,
    /// Most memory compiling an uploaded module may use (in a child
    /// process; past it the upload is refused).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "2G")]
    compile_memory: usize,
    /// Finished jobs the head remembers (status and log); older ones are
    /// forgotten.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    keep_finished_jobs: u32,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args)]
struct SubmitArgs {
    /// The driver module to run as a job, or a Python program (sent as
    /// raylab's Python runtime with the program's files).
    module: PathBuf,
    /// No progress display (the job's tasks done / submitted) on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Time limit of the whole job, in seconds: past it the job is
    /// stopped and fails.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    timeout: Option<f64>,
    #[command(flatten)]
    address: AddressArgs,
    /// Arguments passed to the driver (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

#[derive(Args)]
struct StatusArgs {
    #[command(flatten)]
    address: AddressArgs,
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct StopArgs {
    #[command(flatten)]
    address: AddressArgs,
}

/// What `list` lists.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Listed {
    Jobs,
    /// The task table: state, node, peak memory of the quota, duration of
    /// the time limit, attempts and errors.
    Tasks,
    /// The objects in the node's store.
    Objects,
    Nodes,
    Actors,
}

/// A task state, as `list tasks --state` filters by it.
#[derive(Clone, Copy, clap::ValueEnum)]
enum StateFilter {
    Pending,
    Running,
    Finished,
    Failed,
    NotRun,
}

#[derive(Args)]
struct ListArgs {
    /// What to list.
    what: Listed,
    #[command(flatten)]
    address: AddressArgs,
    /// Print them as JSON.
    #[arg(long)]
    json: bool,
    /// Tasks and objects: only this job's.
    #[arg(long)]
    job: Option<u64>,
    /// Tasks: only those whose name contains this.
    #[arg(long)]
    name: Option<String>,
    /// Tasks: only those in this state.
    #[arg(long, value_enum)]
    state: Option<StateFilter>,
    /// Tasks and objects: at most this many, the newest first.
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

impl ListArgs {
    /// The query of `GET /api/tasks`.
    fn task_query(&self) -> api::TaskQuery {
        api::TaskQuery {
            job: self.job,
            name: self.name.clone(),
            state: self.state.map(|s| match s {
                StateFilter::Pending => api::TaskState::Pending,
                StateFilter::Running => api::TaskState::Running,
                StateFilter::Finished => api::TaskState::Finished,
                StateFilter::Failed => api::TaskState::Failed,
                StateFilter::NotRun => api::TaskState::NotRun,
            }),
            limit: Some(self.limit),
        }
    }

    /// The query of `GET /api/objects`.
    fn objects_query(&self) -> api::ObjectsQuery {
        api::ObjectsQuery {
            job: self.job,
            limit: Some(self.limit),
        }
    }
}

#[derive(Args)]
struct LogsArgs {
    /// The job's id (`list jobs` shows them).
    job: u64,
    /// Keep printing new output until the job ends; exit with its status.
    #[arg(long, short)]
    follow: bool,
    #[command(flatten)]
    address: AddressArgs,
}

#[derive(Args)]
struct TimelineArgs {
    /// Only this job's tasks.
    #[arg(long)]
    job: Option<u64>,
    /// Where the trace goes.
    #[arg(long, short, default_value = "timeline.json")]
    output: PathBuf,
    #[command(flatten)]
    address: AddressArgs,
}

/// What `summary` summarises.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Summarised {
    Tasks,
}

#[derive(Args)]
struct SummaryArgs {
    /// What to summarise.
    what: Summarised,
    /// Only this job's tasks.
    #[arg(long)]
    job: Option<u64>,
    #[command(flatten)]
    address: AddressArgs,
    /// Print it as JSON.
    #[arg(long)]
    json: bool,
}

/// `start --detach`: run `start` again as a background process of its own
/// (its own process group, stdin closed, output to the log file) and
/// return once it listens, or fail with its log if it exits first.
impl StartArgs {
    /// The HTTP port: as given, else 8265 for a head and any free port for
    /// a node joining one (several may share a machine).
    fn port(&self) -> u16 {
        self.port
            .unwrap_or(if self.address.is_some() { 0 } else { 8265 })
    }
}

fn start_detached(args: &StartArgs) -> anyhow::Result<i32> {
    use std::os::unix::process::CommandExt;
    let log_path = args.log_file.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(match &args.address {
            None => format!("raylab-head-{}.log", args.port()),
            Some(_) => format!("raylab-node-{}.log", std::process::id()),
        })
    });
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create the log file {}", log_path.display()))?;
    let child_args: Vec<std::ffi::OsString> = std::env::args_os()
        .skip(1)
        .filter(|a| a != "--detach")
        .collect();
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(&child_args)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("cannot start the head")?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let url = text.lines().find_map(|l| {
            l.strip_prefix("raylab head listening on ")
                .or_else(|| l.strip_prefix("raylab node listening on "))
        });
        // A node says how it stands in the cluster right after.
        let cluster: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.starts_with("cluster: ")
                    || l.starts_with("join with: ")
                    || l.starts_with("joined the cluster")
                    || l.starts_with("warning: nats-server")
            })
            .collect();
        let settled = cluster.iter().any(|l| !l.starts_with("cluster: "));
        if let Some(url) = url.filter(|_| settled) {
            let role = if args.address.is_some() {
                "node"
            } else {
                "head"
            };
            println!(
                "raylab {role} started in the background (pid {})",
                child.id()
            );
            println!("address:   {url}");
            println!("dashboard: {url}/");
            println!("log:       {}", log_path.display());
            for line in cluster {
                println!("{line}");
            }
            if args.port() == 8265 && args.host.is_loopback() {
                println!("stop it with: raylab-host stop");
            } else {
                println!("stop it with: raylab-host stop --address {url}");
            }
            return Ok(0);
        }
        if let Some(status) = child.try_wait()? {
            eprint!("{text}");
            bail!("the head exited before it was ready ({status})");
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            eprint!("{text}");
            bail!("the head did not start listening within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start(args: StartArgs) -> anyhow::Result<i32> {
    if !args.host.is_loopback() && args.token.is_none() {
        bail!(
            "binding {} (not loopback) requires --token or RAYLAB_TOKEN",
            args.host
        );
    }
    if args.detach {
        return start_detached(&args);
    }
    let mut config = args.node.config()?;
    config.keep_finished_jobs = args.keep_finished_jobs as usize;
    // Uploaded modules compile in a bounded child process.
    config.compiler = Some(raylab::Compiler(std::sync::Arc::new(
        raylab_host::compiler::ChildCompiler {
            exe: std::env::current_exe()?,
            engine: config.engine_config(),
            max_memory: args.compile_memory as u64,
            timeout: Duration::from_secs_f64(args.compile_timeout),
        },
    )));
    let runtime = std::sync::Arc::new(Runtime::new(config)?);
    // A node serves modules it has not seen yet: probe the GPUs now.
    runtime.probe_gpus();
    let head = args.address.is_none();
    // The cluster: a head starts its NATS server (or uses the one given);
    // a worker joins the one at --address.
    let mut nats = None;
    let cluster = if head {
        let token = match &args.cluster_token {
            Some(t) => t.clone(),
            None => raylab_host::nats::new_token()?,
        };
        match &args.nats {
            Some(url) => Some((url.clone(), token)),
            None if raylab_host::nats::available() => {
                let server =
                    raylab_host::nats::NatsServer::start(args.host, args.nats_port, &token)?;
                let url = server.url.clone();
                nats = Some(server);
                Some((url, token))
            }
            None => {
                eprintln!(
                    "warning: nats-server is not installed: this head runs alone (scripts/setup.sh installs it so that nodes can join)"
                );
                None
            }
        }
    } else {
        let token = args.cluster_token.clone().context(
            "joining a cluster needs its token: --cluster-token or RAYLAB_CLUSTER_TOKEN (the head printed it)",
        )?;
        Some((args.address.clone().expect("not a head"), token))
    };
    let cfg = raylab_host::head::HeadConfig {
        addr: std::net::SocketAddr::new(args.host, args.port()),
        role: if head { "raylab head" } else { "raylab node" },
        token: args.token,
        max_upload: args.max_upload,
    };
    let joined = runtime.clone();
    let advertise = args.advertise_address.clone();
    let bind_host = args.host;
    let name = args.node_name.clone().unwrap_or_else(|| {
        if head {
            "head".into()
        } else {
            format!("node-{}", std::process::id())
        }
    });
    raylab_host::head::serve(runtime.clone(), cfg, move |addr| {
        let Some((url, token)) = cluster else {
            return Ok(Vec::new());
        };
        let host = advertise.unwrap_or_else(|| advertised_host(bind_host, &url));
        let http = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => format!("http://{}", std::net::SocketAddr::new(ip, addr.port())),
            Err(_) => format!("http://{host}:{}", addr.port()),
        };
        let id = joined.join_cluster(raylab::ClusterConfig {
            nats: url.clone(),
            token: token.clone(),
            name,
            http: Some(http),
            head,
        })?;
        Ok(if head {
            vec![
                format!("cluster: {url} (this head is node {id})"),
                format!("join with: raylab-host start --address {url} --cluster-token {token}"),
            ]
        } else {
            vec![format!("joined the cluster at {url} as node {id}")]
        })
    })?;
    // Tasks run here for other nodes finish first (for a while).
    runtime.leave_cluster(Duration::from_secs(60));
    drop(nats);
    Ok(0)
}

fn cache(args: CacheArgs) -> anyhow::Result<i32> {
    use raylab::disk_cache;
    let dir_of = |given: Option<PathBuf>| {
        given
            .or(raylab::Config::default().cache_dir)
            .context("no cache directory: set RAYLAB_CACHE_DIR or HOME")
    };
    match args.action {
        CacheAction::Info { cache_dir, json } => {
            let dir = dir_of(cache_dir)?;
            let usage = disk_cache::usage(&dir);
            let limit = disk_cache::limit();
            if json {
                let v = serde_json::json!({
                    "dir": dir,
                    "bytes": usage.bytes(),
                    "limit_bytes": limit,
                    "components": {"files": usage.components.0, "bytes": usage.components.1},
                    "functions": {"files": usage.functions.0, "bytes": usage.functions.1},
                    "python": {"files": usage.python.0, "bytes": usage.python.1},
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(0);
            }
            let size = |b: u64| raylab_host::size::human_bytes(b as f64);
            println!("cache directory: {}", dir.display());
            for (what, (files, bytes)) in [
                ("compiled components", usage.components),
                ("compiled functions", usage.functions),
                ("Python runtimes", usage.python),
            ] {
                println!("  {what:<22} {files:>7} files  {:>10}", size(bytes));
            }
            let limit = limit.map_or_else(|| "none".to_string(), size);
            println!(
                "  {:<22} {:>7}        {:>10} (limit {limit}, RAYLAB_CACHE_LIMIT_MB)",
                "total",
                "",
                size(usage.bytes())
            );
            Ok(0)
        }
        CacheAction::Clear { cache_dir } => {
            let dir = dir_of(cache_dir)?;
            let cleared = disk_cache::clear(&dir);
            println!(
                "removed {} files ({}) from {}",
                cleared.files,
                raylab_host::size::human_bytes(cleared.bytes as f64),
                dir.display()
            );
            Ok(0)
        }
    }
}

fn submit(args: SubmitArgs) -> anyhow::Result<i32> {
    // A Python program is uploaded as raylab's Python runtime with the
    // program's bundle as the driver's first argument.
    let (module, driver_args) = if raylab_host::python::is_python(&args.module) {
        let cache = raylab::Config::default().cache_dir;
        let program =
            raylab_host::python::program(&args.module, &args.args, cache.as_deref(), !args.quiet)?;
        (program.component, program.args)
    } else {
        (args.module.clone(), args.args.clone())
    };
    let bytes =
        std::fs::read(&module).with_context(|| format!("cannot read {}", module.display()))?;
    let name = args
        .module
        .file_stem()
        .map_or_else(|| "job".into(), |s| s.to_string_lossy().into_owned());
    let client = Client::new(&args.address.address, args.address.token);
    client.submit_and_follow(&name, &bytes, &driver_args, args.timeout, !args.quiet)
}

fn status(args: StatusArgs) -> anyhow::Result<i32> {
    let client = Client::new(&args.address.address, args.address.token);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&client.raw(api::STATUS)?)?
        );
    } else {
        let v = client.status()?;
        print!("{}", client::format_status(&v, &args.address.address));
    }
    Ok(0)
}

/// `list`: a table, or with `--json` the head's answer as it came (nodes
/// and actors: the part of the status that lists them).
fn list(args: &ListArgs) -> anyhow::Result<i32> {
    let head = Client::new(&args.address.address, args.address.token.clone());
    let text = match (args.what, args.json) {
        (Listed::Jobs, false) => client::format_jobs(&head.jobs()?),
        (Listed::Tasks, false) => client::format_tasks(&head.tasks(&args.task_query())?),
        (Listed::Objects, false) => client::format_objects(&head.objects(&args.objects_query())?),
        (Listed::Nodes, false) => client::format_nodes(&head.status()?.nodes),
        (Listed::Actors, false) => client::format_actors(&head.status()?.actors),
        (Listed::Jobs, true) => json_line(&head.raw(api::JOBS)?)?,
        (Listed::Tasks, true) => {
            json_line(&head.raw(&api::with_query(api::TASKS, &args.task_query()))?)?
        }
        (Listed::Objects, true) => {
            json_line(&head.raw(&api::with_query(api::OBJECTS, &args.objects_query()))?)?
        }
        (Listed::Nodes, true) => client::to_json_text(&head.status()?.nodes)? + "\n",
        (Listed::Actors, true) => client::to_json_text(&head.status()?.actors)? + "\n",
    };
    print!("{text}");
    Ok(0)
}

/// `value`, pretty, and a newline.
fn json_line(value: &serde_json::Value) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

fn stop(args: StopArgs) -> anyhow::Result<i32> {
    let client = Client::new(&args.address.address, args.address.token);
    let stopped = client.shutdown()?.stopped_jobs.len();
    println!(
        "raylab head at {} stopping ({stopped} running jobs stopped)",
        args.address.address
    );
    Ok(0)
}

#[derive(Args)]
struct GpusArgs {
    /// wgpu backends to probe.
    #[arg(long, default_value = "auto",
          value_parser = PossibleValuesParser::new(GpuBackend::NAMES).map(|s| s.parse::<GpuBackend>().expect("listed")))]
    gpu_backend: GpuBackend,
    /// Whether software adapters count (as `run --software-gpus`).
    #[arg(long, default_value = "auto",
          value_parser = PossibleValuesParser::new(SoftwareGpus::NAMES).map(|s| s.parse::<SoftwareGpus>().expect("listed")))]
    software_gpus: SoftwareGpus,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The host a node advertises for its API: the address it binds, or where
/// it binds every interface, the local address of the route to the NATS
/// server (a UDP socket "connected" there sends nothing; it only picks the
/// route), so other nodes get an address of this machine they can reach.
fn advertised_host(bind: std::net::IpAddr, nats: &str) -> String {
    use std::net::{ToSocketAddrs, UdpSocket};
    if !bind.is_unspecified() {
        return bind.to_string();
    }
    let server = nats
        .split(',')
        .next()
        .unwrap_or(nats)
        .trim()
        .trim_start_matches("nats://")
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_string();
    let local = server
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .and_then(|to| {
            let any: std::net::SocketAddr = if to.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let s = UdpSocket::bind(any).ok()?;
            s.connect(to).ok()?;
            s.local_addr().ok()
        });
    match local {
        Some(a) => a.ip().to_string(),
        None => bind.to_string(),
    }
}

fn gpus(args: GpusArgs) -> anyhow::Result<i32> {
    let devices = GpuBroker::probe(args.gpu_backend, args.software_gpus).devices();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&devices)?);
    } else if devices.is_empty() {
        if args.software_gpus == SoftwareGpus::No {
            println!(
                "no hardware GPU adapter found (software ones are not used: --software-gpus no)"
            );
        } else {
            println!("no GPU adapter found (install mesa-vulkan-drivers for a software one)");
        }
    } else {
        for d in &devices {
            println!(
                "GPU {}: {} ({}, {}{})",
                d.id,
                d.name,
                d.backend,
                d.device_type,
                if d.software {
                    ", software: shaders run on the CPU"
                } else {
                    ""
                }
            );
        }
    }
    Ok(0)
}

#[derive(Args)]
struct RunArgs {
    /// The driver module (a component built for wasm32-wasip2), or a
    /// Python program (`app.py`, run by raylab's Python runtime).
    module: PathBuf,
    /// Load another module whose remote functions the driver calls as
    /// `NAME/function` (NAME defaults to the file's stem). Repeatable.
    #[arg(long, value_name = "[NAME=]PATH")]
    plugin: Vec<String>,
    /// Time limit of the whole run, in seconds: past it the driver and its
    /// tasks are stopped and the run fails.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    timeout: Option<f64>,
    #[command(flatten)]
    node: NodeArgs,
    /// Print runtime statistics (tasks, objects) to stderr at the end.
    #[arg(long)]
    stats: bool,
    /// No progress display (tasks finished / submitted) on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Write the task timeline (Chrome trace events, for Perfetto or
    /// chrome://tracing) to FILE when the driver exits.
    #[arg(long, value_name = "FILE")]
    timeline: Option<PathBuf>,
    /// With --stats: print them as one JSON object.
    #[arg(long, requires = "stats")]
    json: bool,
    /// Arguments passed to the driver (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

impl NodeArgs {
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = Config::default();
        if let Some(n) = self.num_cpus {
            // 0 is Ray's way to keep tasks off a node (a head that only
            // runs drivers and serves the API); tasks needing a CPU then go
            // to other nodes, and under `run` they are infeasible.
            if !(n.is_finite() && n >= 0.0) {
                bail!("--num-cpus must be a number of CPUs, 0 or more, got {n}");
            }
            config.num_cpus = n;
        }
        if let Some(json) = &self.resources {
            let map: std::collections::BTreeMap<String, f64> = serde_json::from_str(json)
                .context("--resources must be a JSON object of name: amount")?;
            for name in map.keys() {
                if matches!(name.as_str(), "CPU" | "GPU" | "memory") {
                    bail!("--resources: set `{name}` with its own flag");
                }
            }
            config.resources = map.into_iter().collect();
        }
        if let Some(m) = self.object_store_memory {
            config.object_store_memory = m;
        }
        config.isolation = self.isolation;
        config.num_gpus = self.num_gpus;
        config.gpu_backend = self.gpu_backend;
        config.gpu_software = self.software_gpus;
        config.gpu_memory = self.gpu_memory as u64;
        config.task_memory = self.task_memory as u64;
        if !(self.task_timeout.is_finite() && self.task_timeout >= 0.0) {
            bail!(
                "--task-timeout must be a number of seconds, got {}",
                self.task_timeout
            );
        }
        config.task_timeout =
            (self.task_timeout > 0.0).then(|| Duration::from_secs_f64(self.task_timeout));
        config.preemption = !self.no_preemption;
        config.max_pending_tasks = self.max_pending_tasks;
        config.driver_memory = self.driver_memory as u64;
        if self.max_job_instances == Some(0) {
            bail!("--max-job-instances must be at least 1");
        }
        config.max_job_instances = self.max_job_instances;
        config.engine.keep_resident = self.sandbox_keep_resident;
        if let Some(dir) = &self.spill_dir {
            config.spill_dir = dir.clone();
        }
        config.spill_size = self.spill_size.unwrap_or(config.object_store_memory);
        config.job_object_store_memory = self.job_object_store_memory;
        for (specs, readonly) in [(&self.dir, false), (&self.dir_readonly, true)] {
            for spec in specs {
                let (host, guest) = match spec.split_once("::") {
                    Some((h, g)) => (h, g),
                    None => (spec.as_str(), spec.as_str()),
                };
                config
                    .dirs
                    .push((PathBuf::from(host), guest.to_string(), readonly));
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
            config.envs.push((name, value));
        }
        if self.no_cache {
            config.cache_dir = None;
        } else if let Some(dir) = &self.cache_dir {
            config.cache_dir = Some(dir.clone());
        }
        Ok(config)
    }
}

/// A time limit in seconds: positive and finite.
fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(t) if t.is_finite() && t > 0.0 && t < 1e9 => Ok(t),
        _ => Err(format!("`{s}` is not a positive number of seconds")),
    }
}

fn run(args: RunArgs) -> anyhow::Result<i32> {
    let mut config = args.node.config()?;
    // `run` compiles the user's own modules: keep Cranelift's output per
    // function too, so that an edited program (above all a Python one,
    // whose interpreter does not change) compiles only what changed. A
    // head never does this for uploads (their compiled form is cached only
    // once accepted).
    config.engine.function_cache = config.cache_dir.as_ref().map(|d| d.join("functions"));
    config.driver_timeout = args.timeout.map(Duration::from_secs_f64);
    let mut driver_args = args.args.clone();
    let name = if raylab_host::python::is_python(&args.module) {
        let program = raylab_host::python::program(
            &args.module,
            &args.args,
            config.cache_dir.as_deref(),
            !args.quiet,
        )?;
        let runtime = Runtime::new(config)?;
        // Named with its extension: `task4.py` beside a `task4` plugin.
        runtime.load_file_as(&program.name, &program.component)?;
        driver_args = program.args;
        (runtime, program.name)
    } else {
        let runtime = Runtime::new(config)?;
        let name = runtime.load_file(&args.module)?;
        (runtime, name)
    };
    let (runtime, name) = name;
    for spec in &args.plugin {
        match spec.split_once('=') {
            Some((plugin, path)) if !plugin.is_empty() && !plugin.contains('/') => {
                runtime.load_file_as(plugin, std::path::Path::new(path))?
            }
            Some(_) => {
                bail!("--plugin `{spec}`: the name before `=` must be non-empty and contain no `/`")
            }
            None => {
                runtime.load_file(std::path::Path::new(spec))?;
            }
        }
    }
    runtime.prepare_gpus();
    // Dropping `done` (or sending on it) stops the progress thread at once:
    // it waits on the channel, so the run's exit never waits for its tick.
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let code = std::thread::scope(|s| {
        if !args.quiet {
            s.spawn(|| raylab_host::progress::follow_run(&runtime, finished));
        }
        let code = runtime.run_driver(&name, &driver_args);
        drop(done);
        code
    });
    // Before the process exits, whatever the outcome: see GpuBroker's Drop.
    runtime.shutdown_gpus();
    let code = code?;
    if let Some(path) = &args.timeline {
        let trace = serde_json::to_vec(&runtime.timeline(None))?;
        std::fs::write(path, trace)
            .with_context(|| format!("cannot write the timeline to {}", path.display()))?;
    }
    if args.stats {
        let stats = runtime.stats();
        let (rss, peak) = process_memory();
        if args.json {
            let mut v = serde_json::to_value(stats)?;
            v["process"] = serde_json::json!({ "rss_bytes": rss, "peak_rss_bytes": peak });
            eprintln!("{v}");
        } else {
            eprintln!(
                "raylab: {} tasks submitted, {} finished, {} failed; {} objects ({}) left in the store; \
                 host memory {} now, {} at peak",
                stats.submitted,
                stats.finished,
                stats.failed,
                stats.objects.objects,
                human_bytes(stats.objects.bytes as f64),
                human_bytes(rss as f64),
                human_bytes(peak as f64)
            );
        }
    }
    Ok(code)
}

/// This process's resident memory now and at its peak (VmRSS, VmHWM), in
/// bytes; zeros where /proc is missing.
fn process_memory() -> (u64, u64) {
    let bytes = |key| procfs::status_field("self", key).map_or(0, |kb| kb * 1024);
    (bytes("VmRSS"), bytes("VmHWM"))
}

/// The user's id, from /proc (no libc needed).
fn uid() -> Option<u32> {
    u32::try_from(procfs::status_field("self", "Uid")?).ok()
}

/// Whether `dir` is a runtime directory Mesa accepts: ours, mode 0700.
fn private_dir(dir: &std::path::Path, uid: u32) -> bool {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::fs::metadata(dir)
        .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.permissions().mode() & 0o777 == 0o700)
}

/// Mesa (the GPU drivers, lavapipe included) prints "XDG_RUNTIME_DIR is
/// invalid or not set" on every GPU probe when the variable is missing or
/// wrong, as it is under many service managers and containers. Point it at
/// a private directory of ours instead, so users of `start`, `run` and
/// `bench` see no such lines: `/tmp/raylab-runtime-UID`, made once, mode 0700.
fn ensure_runtime_dir() {
    let Some(uid) = uid() else { return };
    if std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| private_dir(d.as_ref(), uid)) {
        return;
    }
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!("raylab-runtime-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    if private_dir(&dir, uid) {
        // SAFETY: this runs first thing in `main`, before any other thread
        // exists (no logger, runtime or GPU thread has started), so nothing
        // can read the environment concurrently.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("XDG_RUNTIME_DIR", &dir);
        }
    }
}

/// A client command whose reader went away (`raylab-host list tasks |
/// head`) ends quietly, as Unix tools do, rather than panicking in
/// `println!`. Not the head: it must outlive whoever started it.
fn die_on_closed_pipe() {
    // SAFETY: restoring the default action of a signal touches no memory;
    // it runs before this command starts any thread.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    ensure_runtime_dir();
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAYLAB_LOG")
        // wgpu-hal reports probing failures (no EGL display, say) as errors;
        // they are not the user's. RAYLAB_LOG=wgpu_hal=warn shows them.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,wgpu_hal=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let cli = Cli::parse();
    if !matches!(cli.command, Command::Start(_)) {
        die_on_closed_pipe();
    }
    let result = match cli.command {
        Command::Run(args) => run(*args),
        Command::New(args) => raylab_host::scaffold::new(&args).map(|()| 0),
        Command::Lab(args) => raylab_host::lab::lab(&args),
        Command::Runner(args) => {
            let mut argv = vec![
                "raylab-host".into(),
                "run".into(),
                args.module.into_os_string(),
            ];
            argv.push("--".into());
            argv.extend(args.args.into_iter().map(Into::into));
            match Cli::try_parse_from(argv) {
                Ok(Cli {
                    command: Command::Run(run_args),
                }) => run(*run_args),
                Ok(_) => unreachable!("parsed as `run`"),
                Err(e) => e.exit(),
            }
        }
        Command::Bench(args) => raylab_host::bench::run(args).map(|()| 0),
        Command::Gpus(args) => gpus(args),
        Command::Cache(args) => cache(args),
        Command::Start(args) => start(*args),
        Command::Submit(args) => submit(args),
        Command::Status(args) => status(args),
        Command::Stop(args) => stop(args),
        Command::List(args) => list(&args),
        Command::Logs(args) => {
            Client::new(&args.address.address, args.address.token).logs(args.job, args.follow)
        }
        Command::Timeline(args) => Client::new(&args.address.address, args.address.token)
            .timeline(args.job)
            .and_then(|t| {
                let slices = api::Trace::deserialize(&t)?
                    .trace_events
                    .iter()
                    .filter(|e| matches!(e, api::TraceEvent::Slice { .. }))
                    .count();
                std::fs::write(&args.output, serde_json::to_vec(&t)?)
                    .with_context(|| format!("cannot write {}", args.output.display()))?;
                println!(
                    "wrote {} task slices to {} (open it in Perfetto or chrome://tracing)",
                    slices,
                    args.output.display()
                );
                Ok(0)
            }),
        Command::Summary(args) => {
            let Summarised::Tasks = args.what;
            Client::new(&args.address.address, args.address.token)
                .timeline(args.job)
                .and_then(|t| {
                    let summary = client::summarize_tasks(&api::Trace::deserialize(&t)?);
                    if args.json {
                        println!("{}", client::to_json_text(&summary)?);
                    } else {
                        print!("{}", client::format_summary(&summary));
                    }
                    Ok(0)
                })
        }
        Command::Build(args) => {
            let cache = args
                .cache_dir
                .clone()
                .or(raylab::Config::default().cache_dir);
            raylab_host::python::runtime(cache.as_deref(), true).and_then(|built| {
                match &args.output {
                    Some(out) => {
                        std::fs::copy(&built, out)
                            .with_context(|| format!("cannot write {}", out.display()))?;
                        println!("{}", out.display());
                    }
                    None => println!("{}", built.display()),
                }
                Ok(0)
            })
        }
        Command::CompileModule(args) => {
            let engine = raylab::EngineConfig {
                epoch_interruption: !args.no_preemption,
                keep_resident: args.sandbox_keep_resident,
                ..Default::default()
            };
            raylab_host::compiler::compile_module(&engine, &args.name, &args.out).map(|()| 0)
        }
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    // Exit without waiting for tasks the driver left running (as Ray ends
    // a job's tasks when its driver exits).
    std::process::exit(code)
}
