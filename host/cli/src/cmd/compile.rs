//! `compile-module` (hidden): what a head runs in a bounded child process
//! to compile an uploaded module.

use std::path::PathBuf;

use clap::Args;
use raylab_host::size::parse_size;

#[derive(Args)]
pub(crate) struct CompileArgs {
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

/// Compile the module on stdin to `--out`.
pub(crate) fn compile(args: &CompileArgs) -> anyhow::Result<i32> {
    let engine = raylab::EngineConfig {
        epoch_interruption: !args.no_preemption,
        keep_resident: args.sandbox_keep_resident,
        ..Default::default()
    };
    raylab_host::compiler::compile_module(&engine, &args.name, &args.out).map(|()| 0)
}
