//! The `raylab-host` command line: its shape (clap's [`Cli`] and
//! [`Command`]), the process set-up every command shares, and the dispatch
//! to the commands, each implemented in a module of `cmd`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use raylab_host::procfs;

use cmd::cache::{BuildArgs, CacheArgs};
use cmd::compile::CompileArgs;
use cmd::gpus::GpusArgs;
use cmd::jobs::{LogsArgs, StatusArgs, StopArgs, SubmitArgs};
use cmd::run::{RunArgs, RunnerArgs};
use cmd::start::StartArgs;
use cmd::state::{ListArgs, SummaryArgs, TimelineArgs};

mod cmd;

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
    /// Run one server of a NATS cluster for raylab nodes (three of them,
    /// naming each other, make a cluster whose messaging survives a
    /// server's death; give nodes the list of their addresses).
    Nats(cmd::nats::NatsArgs),
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

/// Transparent huge pages off for this process (and what it starts),
/// unless `MIMALLOC_ALLOW_THP` says otherwise (mimalloc's own switch:
/// `=1` keeps them).
///
/// mimalloc asks for huge pages for its heap (`MADV_HUGEPAGE`), and most
/// distributions honour that. A huge page is zeroed whole on its first
/// touch, and on a VM whose balloon hands free memory back to the
/// hypervisor (free page reporting, common on cloud VMs) that first touch
/// also faults in the hypervisor, 2 MB at a time. Measured on such a VM
/// (BENCHMARKS.md, "Huge pages off"): with huge pages, Task 2's put of
/// 8 MB took 1.3 ms when the memory had just been used and up to 77 ms
/// when not, and its printed speedup was 0.34-0.96x (median 0.55x after a
/// pause); without, 0.92-1.43x (median 1.24x). Warm no-op tasks ran 2-3x
/// faster after a pause, and 6-15% slower in back-to-back runs whose memory
/// had just been used; idle RSS drops from 34 to 20 MiB.
fn no_transparent_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    // SAFETY: `prctl(PR_SET_THP_DISABLE)` takes integers only and sets a
    // flag of this process's memory map; no memory of ours is touched.
    #[allow(unsafe_code)]
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> ExitCode {
    no_transparent_huge_pages();
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
        Command::Run(args) => cmd::run::run(*args),
        Command::Runner(args) => cmd::run::runner(args),
        Command::New(args) => raylab_host::scaffold::new(&args).map(|()| 0),
        Command::Lab(args) => raylab_host::lab::lab(&args),
        Command::Bench(args) => raylab_host::bench::run(args).map(|()| 0),
        Command::Gpus(args) => cmd::gpus::gpus(args),
        Command::Cache(args) => cmd::cache::cache(args),
        Command::Build(args) => cmd::cache::build(&args),
        Command::Start(args) => cmd::start::start(*args),
        Command::Nats(args) => cmd::nats::nats(args),
        Command::Submit(args) => cmd::jobs::submit(args),
        Command::Logs(args) => cmd::jobs::logs(args),
        Command::Status(args) => cmd::jobs::status(args),
        Command::Stop(args) => cmd::jobs::stop(args),
        Command::List(args) => cmd::state::list(&args),
        Command::Timeline(args) => cmd::state::timeline(args),
        Command::Summary(args) => cmd::state::summary(args),
        Command::CompileModule(args) => cmd::compile::compile(&args),
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
