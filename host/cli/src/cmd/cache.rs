//! `cache` (what the compile and build caches hold, or emptying them) and
//! `build` (raylab's Python runtime, built into the cache now).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

#[derive(Args)]
pub(crate) struct CacheArgs {
    #[command(subcommand)]
    action: CacheAction,
}

#[derive(Subcommand)]
pub(crate) enum CacheAction {
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

pub(crate) fn cache(args: CacheArgs) -> anyhow::Result<i32> {
    use raylab::disk_cache;
    let dir_of = |given: Option<PathBuf>| {
        given
            .or(raylab::default_cache_dir())
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

#[derive(Args)]
pub(crate) struct BuildArgs {
    /// Also copy the component here.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Directory of the build cache [default: as `run`'s --cache-dir].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

/// `build`: raylab's Python runtime, built (or found) in the cache, and
/// where it is.
pub(crate) fn build(args: &BuildArgs) -> anyhow::Result<i32> {
    let cache = args.cache_dir.clone().or(raylab::default_cache_dir());
    let built = raylab_host::python::runtime(cache.as_deref(), true)?;
    match &args.output {
        Some(out) => {
            std::fs::copy(&built, out)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!("{}", out.display());
        }
        None => println!("{}", built.display()),
    }
    Ok(0)
}
