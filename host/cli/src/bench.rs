//! `raylab-host bench`: the measurements behind BENCHMARKS.md.
//!
//! Every figure is the median of `--runs` repetitions, each in a fresh
//! `raylab-host run` process (so start-up, compile cache and RSS are real),
//! driven by the guest components of `guest-tasks/` (the lab's tasks and
//! the `bench` guest), built beforehand: the binary embeds no guest. Ratios are taken against a
//! baseline measured in the same run: native sequential Rust for the lab's
//! math, and the targets of the issue tracker; Ray's figures for this
//! machine are printed beside them for reference, never used as a baseline
//! in a test. Nothing here asserts a timing.
//!
//! This module runs the processes and prints the table; the figures are
//! measured by concern: `tasks` (throughput, round trips, actors, start-up,
//! idle memory), `data` (put/get, plain types, spilling), `lab` (the lab's
//! tasks against `native` Rust), `python`, `cluster` (scaling, the
//! dashboard, a cluster of nodes) and `gpu`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

mod cluster;
mod data;
mod gpu;
mod lab;
pub(crate) mod native;
mod python;
mod tasks;

/// The guest components `bench` runs.
const GUESTS: [&str; 5] = ["bench", "task1", "task2", "task3", "task4"];

/// Options of `raylab-host bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Repetitions of each measurement; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// No-op tasks per throughput run.
    #[arg(long, default_value_t = 20_000)]
    pub tasks: u64,
    /// Round trips per latency run.
    #[arg(long, default_value_t = 5_000)]
    pub round_trips: u64,
    /// Elements of the one-task-per-element run of task2.
    #[arg(long, default_value_t = 20_000)]
    pub per_element: u64,
    /// Only run the benchmarks whose name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Directory of the Python programs (bench/bench.py, lab/task1.py,
    /// lab/task2.py) for the Python rows [default: guest-tasks/python in a
    /// checkout, else the copies in this binary].
    #[arg(long, value_name = "DIR")]
    pub python: Option<PathBuf>,
    /// Directory of the guest components (bench.wasm, task1.wasm ...
    /// task4.wasm) [default: next to this binary, the data directory, or
    /// guest-tasks/target/wasm32-wasip2/release: see `raylab-host lab`].
    #[arg(long, value_name = "DIR", env = "RAYLAB_GUESTS")]
    pub guests: Option<PathBuf>,
    /// Build the guest components from the sources in this binary first
    /// if they are not found (as `raylab-host lab --build`).
    #[arg(long)]
    pub build_guests: bool,
}

/// Whether a larger or a smaller value is better.
#[derive(Debug, Clone, Copy, serde::Serialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Better {
    Higher,
    Lower,
}

/// One measured figure.
#[derive(Debug, serde::Serialize)]
struct Figure {
    name: &'static str,
    value: f64,
    unit: &'static str,
    better: Better,
    target: Option<f64>,
    ray: Option<&'static str>,
    note: String,
}

impl Figure {
    fn met(&self) -> Option<bool> {
        self.target.map(|t| match self.better {
            Better::Higher => self.value >= t,
            Better::Lower => self.value <= t,
        })
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

struct Bench {
    exe: PathBuf,
    dir: PathBuf,
    cache: PathBuf,
    runs: usize,
}

impl Bench {
    fn wasm(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.wasm"))
    }

    fn command(&self, module: &str, flags: &[&str], args: &[&str]) -> Command {
        self.command_of(&self.wasm(module), flags, args)
    }

    fn command_of(&self, path: &std::path::Path, flags: &[&str], args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("run").arg(path).args(flags);
        if !flags.contains(&"--no-cache") {
            cmd.arg("--cache-dir").arg(&self.cache);
        }
        cmd.arg("--").args(args).stdin(Stdio::null());
        cmd
    }

    /// Run a module to completion and return its stdout.
    fn output(&self, module: &str, flags: &[&str], args: &[&str]) -> anyhow::Result<String> {
        self.output_of(&self.wasm(module), flags, args)
    }

    /// Run the component at `path` to completion and return its stdout.
    fn output_of(
        &self,
        path: &std::path::Path,
        flags: &[&str],
        args: &[&str],
    ) -> anyhow::Result<String> {
        let out = self.command_of(path, flags, args).output()?;
        if !out.status.success() {
            bail!(
                "{} {args:?} failed: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// The `--stats --json` figures a run prints at its end.
    fn run_stats(
        &self,
        module: &str,
        flags: &[&str],
        args: &[&str],
    ) -> anyhow::Result<serde_json::Value> {
        let mut all = flags.to_vec();
        all.extend_from_slice(&["--stats", "--json"]);
        let out = self.command(module, &all, args).output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!("{module} {args:?} failed: {stderr}");
        }
        let line = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .context("no statistics printed")?;
        Ok(serde_json::from_str(line)?)
    }

    /// Median of the `result:` line of the bench guest.
    fn guest(&self, flags: &[&str], args: &[&str]) -> anyhow::Result<f64> {
        self.result_of(&self.wasm("bench"), flags, args)
    }

    /// Median of the `result:` line of a component at `path`.
    fn result_of(
        &self,
        path: &std::path::Path,
        flags: &[&str],
        args: &[&str],
    ) -> anyhow::Result<f64> {
        let mut xs = Vec::new();
        for _ in 0..self.runs {
            xs.push(parse_after(&self.output_of(path, flags, args)?, "result:")?);
        }
        Ok(median(xs))
    }

    /// Median wall time of a whole process, in ms.
    fn wall_ms(&self, module: &str, flags: &[&str], args: &[&str]) -> anyhow::Result<f64> {
        let mut xs = Vec::new();
        for _ in 0..self.runs {
            let start = Instant::now();
            self.output(module, flags, args)?;
            xs.push(start.elapsed().as_secs_f64() * 1e3);
        }
        Ok(median(xs))
    }

    /// RSS of an idle node with the bench module loaded, in MiB.
    fn idle_rss(&self) -> anyhow::Result<f64> {
        let mut xs = Vec::new();
        for _ in 0..self.runs {
            let mut child = self
                .command("bench", &[], &["idle", "600"])
                .stdout(Stdio::null())
                .spawn()?;
            std::thread::sleep(Duration::from_millis(400));
            let rss = crate::procfs::rss(&child.id().to_string());
            child.wait()?;
            anyhow::ensure!(rss > 0, "no VmRSS for the idle node");
            xs.push(rss as f64 / (1024.0 * 1024.0));
        }
        Ok(median(xs))
    }
}

fn parse_after(text: &str, key: &str) -> anyhow::Result<f64> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .with_context(|| format!("no `{key}` in:\n{text}"))?;
    let number: String = line
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | '+'))
        .collect();
    number
        .parse()
        .with_context(|| format!("`{key}{line}` is not a number"))
}

/// Run the benchmarks and print the table.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let guests = match (&args.guests, crate::lab::find()) {
        (Some(dir), _) => dir.clone(),
        (None, Some(found)) => found,
        (None, None) if args.build_guests => crate::lab::build()?,
        (None, None) => bail!(
            "bench runs the guest components: {} (or bench --build-guests)",
            crate::lab::missing()
        ),
    };
    for name in GUESTS {
        let path = guests.join(format!("{name}.wasm"));
        if !path.is_file() {
            bail!(
                "bench runs the guest components, and {} is missing: build them with \
                 `cargo build --release --target wasm32-wasip2 --manifest-path guest-tasks/Cargo.toml` \
                 from the repository root, or `raylab-host lab --build-only`",
                path.display()
            );
        }
    }
    let cache = tempfile::tempdir()?;
    let b = Bench {
        exe: std::env::current_exe()?,
        dir: guests,
        cache: cache.path().to_path_buf(),
        runs: args.runs,
    };
    // Fill the compile cache once.
    for m in GUESTS {
        let mut cmd = b.command(m, &[], &["--help"]);
        cmd.stdout(Stdio::null()).stderr(Stdio::null()).status()?;
    }
    let wanted = |name: &str| args.filter.as_deref().is_none_or(|f| name.contains(f));
    let mut figures = Vec::new();
    let mut add = |f: Figure| {
        if !args.json {
            eprintln!("  measured {}: {:.3} {}", f.name, f.value, f.unit);
        }
        figures.push(f);
    };

    if wanted("throughput") {
        tasks::throughput(&b, &args, &mut add)?;
    }
    if wanted("round trip") {
        tasks::round_trip(&b, &args, &mut add)?;
    }
    if wanted("actor") {
        tasks::actor(&b, &args, &mut add)?;
    }
    if wanted("start") {
        tasks::start(&b, &mut add)?;
    }
    if wanted("rss") {
        tasks::rss(&b, &mut add)?;
    }
    if wanted("put") {
        data::put(&b, &args, &mut add)?;
    }
    if wanted("plain") {
        data::plain(&b, &mut add)?;
    }
    if wanted("spill") {
        data::spill(&b, &args, &mut add)?;
    }
    if wanted("task2") {
        lab::task2(&b, &args, &mut add)?;
    }

    if wanted("python") {
        match crate::python::componentize_py() {
            Ok(_) => python::python_figures(&b, &args, &mut add)?,
            Err(_) if !args.json => {
                eprintln!("  skipped python: componentize-py is not installed (scripts/setup.sh)")
            }
            Err(_) => {}
        }
    }

    if wanted("cluster") {
        if crate::nats::available() {
            cluster::cluster_figures(&b, &args, &mut add)?;
        } else if !args.json {
            eprintln!("  skipped cluster: nats-server is not installed (scripts/setup.sh)");
        }
    }

    if wanted("scaling") {
        cluster::scaling_figures(&b, &args, &mut add)?;
    }

    if wanted("dashboard") {
        cluster::dashboard_figures(&b, &mut add)?;
    }

    if wanted("lab") {
        lab::lab(&b, &mut add)?;
    }
    if wanted("task4") {
        lab::task4(&b, &args, &mut add)?;
    }

    if wanted("gpu") {
        gpu::gpu_figures(&b, args.runs, &mut add)?;
    }

    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "machine": native::machine(),
                "runs": args.runs,
                "figures": figures,
            }))?
        );
        return Ok(());
    }
    println!(
        "raylab bench: {} (median of {} runs)",
        native::machine(),
        args.runs
    );
    println!(
        "{:<46} {:>14} {:>12} {:>6}  {:<22} note",
        "metric", "value", "target", "met", "Ray 2.47 here"
    );
    for f in &figures {
        let op = if f.better == Better::Higher {
            ">="
        } else {
            "<="
        };
        let target = f.target.map_or("-".into(), |t| format!("{op} {t}"));
        let met = match f.met() {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        println!(
            "{:<46} {:>14} {:>12} {:>6}  {:<22} {}",
            f.name,
            format!("{:.2} {}", f.value, f.unit),
            target,
            met,
            f.ray.unwrap_or("-"),
            f.note
        );
    }
    Ok(())
}
