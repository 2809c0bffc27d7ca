//! `run` (and `runner`, Cargo's way to call it): a driver module on this
//! node, with its progress, statistics and timeline.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use raylab::Runtime;
use raylab_host::procfs;
use raylab_host::size::human_bytes;

use super::node::NodeArgs;
use super::parse_seconds;

#[derive(Args)]
pub(crate) struct RunnerArgs {
    /// The module (a test or program Cargo built for wasm32-wasip2).
    module: PathBuf,
    /// Its arguments, as they come.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Args)]
pub(crate) struct RunArgs {
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
    /// Durable execution: keep the results of the tasks the driver submits
    /// in FILE, and when FILE already holds some (a run that crashed or was
    /// stopped), give them back to the driver instead of running those
    /// tasks again. The driver must make the same calls in the same order
    /// (no clock or random numbers in what it submits): one that diverges
    /// fails at the first call that differs, running nothing for it.
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// Arguments passed to the driver (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<i32> {
    let config = args.node.config()?;
    // `run` compiles the user's own modules: keep Cranelift's output per
    // function too, so that an edited program (above all a Python one,
    // whose interpreter does not change) compiles only what changed. A
    // head never does this for uploads (their compiled form is cached only
    // once accepted).
    let functions = config.cache_dir_set().map(|d| d.join("functions"));
    let config = config
        .function_cache(functions)
        .driver_timeout(args.timeout.map(Duration::from_secs_f64))
        .build();
    let mut driver_args = args.args.clone();
    let name = if raylab_host::python::is_python(&args.module) {
        let program = raylab_host::python::program(
            &args.module,
            &args.args,
            config.cache_dir(),
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
    let journal: Option<std::sync::Arc<dyn raylab::Journal>> = match &args.journal {
        None => None,
        Some(path) => Some(std::sync::Arc::new(
            raylab::FileJournal::open(path)
                .with_context(|| format!("cannot open the journal {}", path.display()))?,
        )),
    };
    runtime.prepare_gpus();
    // Dropping `done` (or sending on it) stops the progress thread at once:
    // it waits on the channel, so the run's exit never waits for its tick.
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let code = std::thread::scope(|s| {
        if !args.quiet {
            s.spawn(|| raylab_host::progress::follow_run(&runtime, finished));
        }
        let code = match &journal {
            None => runtime.run_driver(&name, &driver_args),
            Some(journal) => {
                let (code, replay) =
                    runtime.run_driver_journaled(&name, &driver_args, journal.clone());
                if !args.quiet || replay.replayed > 0 {
                    eprintln!(
                        "raylab: journal {}: {} calls replayed, {} results recorded",
                        args.journal
                            .as_deref()
                            .unwrap_or_else(|| std::path::Path::new(""))
                            .display(),
                        replay.replayed,
                        replay.recorded
                    );
                }
                code
            }
        };
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
pub(crate) fn process_memory() -> (u64, u64) {
    let bytes = |key| procfs::status_field("self", key).map_or(0, |kb| kb * 1024);
    (bytes("VmRSS"), bytes("VmHWM"))
}

/// `runner FILE ARGS...`: `run FILE -- ARGS...`, parsed as such (so that
/// `run`'s options in the environment apply the same).
pub(crate) fn runner(args: RunnerArgs) -> anyhow::Result<i32> {
    let mut argv = vec![
        "raylab-host".into(),
        "run".into(),
        args.module.into_os_string(),
    ];
    argv.push("--".into());
    argv.extend(args.args.into_iter().map(Into::into));
    match <crate::Cli as clap::Parser>::try_parse_from(argv) {
        Ok(crate::Cli {
            command: crate::Command::Run(run_args),
        }) => run(*run_args),
        Ok(_) => unreachable!("parsed as `run`"),
        Err(e) => e.exit(),
    }
}
