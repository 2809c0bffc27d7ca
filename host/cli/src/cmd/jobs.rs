//! The commands of a head's jobs and life: `submit`, `logs`, `status`
//! and `stop`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use raylab_host::api;
use raylab_host::client::{self, Client};

use super::AddressArgs;
use super::parse_seconds;

#[derive(Args)]
pub(crate) struct SubmitArgs {
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
pub(crate) struct LogsArgs {
    /// The job's id (`list jobs` shows them).
    job: raylab::JobId,
    /// Keep printing new output until the job ends; exit with its status.
    #[arg(long, short)]
    follow: bool,
    #[command(flatten)]
    address: AddressArgs,
}

#[derive(Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    address: AddressArgs,
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct StopArgs {
    #[command(flatten)]
    address: AddressArgs,
}

pub(crate) fn submit(args: SubmitArgs) -> anyhow::Result<i32> {
    // A Python program is uploaded as raylab's Python runtime with the
    // program's bundle as the driver's first argument.
    let (module, driver_args) = if raylab_host::python::is_python(&args.module) {
        let cache = raylab::default_cache_dir();
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

pub(crate) fn status(args: StatusArgs) -> anyhow::Result<i32> {
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

pub(crate) fn stop(args: StopArgs) -> anyhow::Result<i32> {
    let client = Client::new(&args.address.address, args.address.token);
    let stopped = client.shutdown()?.stopped_jobs.len();
    println!(
        "raylab head at {} stopping ({stopped} running jobs stopped)",
        args.address.address
    );
    Ok(0)
}

/// `logs`: a job's log so far, or followed to its end.
pub(crate) fn logs(args: LogsArgs) -> anyhow::Result<i32> {
    Client::new(&args.address.address, args.address.token).logs(args.job, args.follow)
}
