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

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

mod gpu;
mod native;

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
    let tasks = args.tasks.to_string();
    let trips = args.round_trips.to_string();

    if wanted("throughput") {
        for (name, iso, target) in [
            ("throughput, fresh sandbox", "fresh", 100_000.0),
            ("throughput, warm instance", "warm", 500_000.0),
        ] {
            let v = b.guest(&["--isolation", iso], &["throughput", &tasks])?;
            add(Figure {
                name,
                value: v,
                unit: "tasks/s",
                better: Better::Higher,
                target: Some(target),
                ray: Some("1.5-2.1 k/s"),
                note: format!("{:.0}x Ray's 2.1 k/s", v / 2_100.0),
            });
        }
        // The same batch run a second time in one process: what a
        // long-running node sees once its tables and memory have grown
        // (the first batch of a new process also pays for first touches of
        // that memory; see BENCHMARKS.md).
        let v = b.guest(&["--isolation", "warm"], &["throughput-steady", &tasks])?;
        add(Figure {
            name: "throughput, warm instance, second batch",
            value: v,
            unit: "tasks/s",
            better: Better::Higher,
            target: None,
            ray: Some("1.5-2.1 k/s"),
            note: "a batch run after one of the same size, same process".into(),
        });
    }
    if wanted("round trip") {
        for (name, iso, target) in [
            ("sync round trip, fresh sandbox", "fresh", 30.0),
            ("sync round trip, warm instance", "warm", 10.0),
        ] {
            let v = b.guest(&["--isolation", iso], &["latency", &trips])?;
            add(Figure {
                name,
                value: v,
                unit: "us",
                better: Better::Lower,
                target: Some(target),
                ray: Some("1460 us"),
                note: format!("{:.0}x faster than Ray", 1460.0 / v),
            });
        }
    }
    if wanted("actor") {
        let calls = args.round_trips.to_string();
        let v = b.guest(&[], &["actor-latency", &calls])?;
        add(Figure {
            name: "actor method sync round trip",
            value: v,
            unit: "us",
            better: Better::Lower,
            target: Some(10.0),
            ray: Some("742 us"),
            note: format!("{:.0}x faster than Ray", 742.0 / v),
        });
        let n = args.tasks.to_string();
        for (name, mode, ray, ray_rate) in [
            (
                "actor calls/s, one caller",
                "actor-throughput",
                "3.5 k/s",
                3_517.0,
            ),
            (
                "actor calls/s, 4 callers to one actor",
                "actor-many",
                "3.0 k/s (n:n)",
                3_009.0,
            ),
        ] {
            let v = b.guest(&[], &[mode, &n])?;
            add(Figure {
                name,
                value: v,
                unit: "calls/s",
                better: Better::Higher,
                target: Some(300_000.0),
                ray: Some(ray),
                note: format!("{:.0}x Ray", v / ray_rate),
            });
        }
    }
    if wanted("start") {
        let quick = ["--n", "1", "--work-ms", "0"];
        let cold = b.wall_ms("task1", &["--no-cache"], &quick)?;
        let warm = b.wall_ms("task1", &[], &quick)?;
        add(Figure {
            name: "run task1.wasm to result, no compile cache",
            value: cold,
            unit: "ms",
            better: Better::Lower,
            target: None,
            ray: Some("2600-2900 ms (ray.init)"),
            note: "Cranelift compiles the module".into(),
        });
        add(Figure {
            name: "run task1.wasm to result, warm cache",
            value: warm,
            unit: "ms",
            better: Better::Lower,
            target: Some(50.0),
            ray: Some("2600-2900 ms (ray.init)"),
            note: format!("{:.1}x faster than without the cache", cold / warm),
        });
    }
    if wanted("rss") {
        let v = b.idle_rss()?;
        add(Figure {
            name: "idle RSS of a node",
            value: v,
            unit: "MiB",
            better: Better::Lower,
            target: Some(40.0),
            ray: Some("580 MiB"),
            note: format!("{:.0}x less than Ray", 580.0 / v),
        });
    }
    if wanted("put") {
        let copy = native::memcpy_gbps(args.runs);
        add(Figure {
            name: "memcpy of 100 MB (baseline)",
            value: copy,
            unit: "GB/s",
            better: Better::Higher,
            target: None,
            ray: None,
            note: "warm buffers, this process".into(),
        });
        for (name, mode) in [("put of 100 MB", "put"), ("get of 100 MB", "get")] {
            let v = b.guest(&[], &[mode, "100"])?;
            add(Figure {
                name,
                value: v,
                unit: "GB/s",
                better: Better::Higher,
                target: Some(10.0),
                ray: Some("1.4 GB/s (ray.put)"),
                note: format!("{:.1}x Ray, {:.2}x memcpy", v / 1.4, v / copy),
            });
        }
    }
    if wanted("plain") {
        // Plain Rust types with no wrapper, 100 MB, as a task's argument and
        // result (a fresh sandbox each round) and as a put and get: what
        // `Vec<u8>` cost before the SDK packed it was 0.04 GB/s (serde
        // element by element).
        const STRUCT: &str = "a struct of String, Vec<u8>, Vec<f32> (packed fields)";
        for (ty, how, name) in [
            ("bytes", "call", "100 MB Vec<u8>, argument + result"),
            ("bytes", "put", "100 MB Vec<u8>, put + get"),
            ("string", "call", "100 MB String, argument + result"),
            ("string", "put", "100 MB String, put + get"),
            ("f64", "call", "100 MB Vec<f64>, argument + result"),
            ("f64", "put", "100 MB Vec<f64>, put + get"),
            ("f32", "call", "100 MB Vec<f32>, argument + result"),
            ("f32", "put", "100 MB Vec<f32>, put + get"),
            ("i64", "call", "100 MB Vec<i64>, argument + result"),
            ("i64", "put", "100 MB Vec<i64>, put + get"),
            ("struct", "call", "100 MB struct, argument + result"),
            ("struct", "put", "100 MB struct, put + get"),
        ] {
            let v = b.guest(&[], &["plain", "100", ty, how])?;
            add(Figure {
                name,
                value: v,
                unit: "GB/s",
                better: Better::Higher,
                target: Some(1.0),
                ray: None,
                note: if ty == "struct" {
                    format!("{STRUCT}; both ways, median of 4 warm rounds")
                } else {
                    "both ways, median of 4 warm rounds".into()
                },
            });
        }
    }
    if wanted("spill") {
        // 8 objects of 100 MB through a store of 256 MiB: most go to disk
        // and come back (the page cache helps: a figure of this machine's
        // disk path, not of a cold disk).
        let (mut out, mut back) = (Vec::new(), Vec::new());
        for _ in 0..args.runs {
            let s = b.run_stats(
                "bench",
                &["--object-store-memory", "256M", "--spill-size", "2G"],
                &["spill", "8"],
            )?;
            let spill = &s["objects"]["spill"];
            let gbps = |bytes: &str, secs: &str| {
                spill[bytes].as_f64().unwrap_or(0.0)
                    / 1e9
                    / spill[secs].as_f64().unwrap_or(1.0).max(1e-9)
            };
            out.push(gbps("spilled_total", "spill_seconds"));
            back.push(gbps("restored_total", "restore_seconds"));
        }
        for (name, v) in [
            ("spill to disk", median(out)),
            ("restore from disk", median(back)),
        ] {
            add(Figure {
                name,
                value: v,
                unit: "GB/s",
                better: Better::Higher,
                target: None,
                ray: None,
                note: "8 x 100 MB through a 256 MiB store".into(),
            });
        }
    }
    if wanted("task2") {
        let (native, native_sum) = native::native_task2_seconds(args.runs);
        let per = args.per_element.to_string();
        let mut seq = Vec::new();
        let mut par = Vec::new();
        let mut each = Vec::new();
        let mut guest_sum = 0.0;
        for _ in 0..args.runs {
            let out = b.output("task2", &[], &["--per-element", &per])?;
            seq.push(parse_after(&out, "sequential time:")?);
            par.push(parse_after(&out, "parallel time:")?);
            each.push(parse_after(&out, "per-task time:")?);
            guest_sum = parse_after(&out, "checksum:")?;
        }
        let (seq, par, each) = (median(seq), median(par), median(each));
        if ((guest_sum - native_sum) / native_sum).abs() > 1e-9 {
            bail!("task2 checksum {guest_sum} differs from the native {native_sum}");
        }
        add(Figure {
            name: "task2 native sequential (baseline)",
            value: native * 1e3,
            unit: "ms",
            better: Better::Lower,
            target: None,
            ray: None,
            note: "1M elements, this process".into(),
        });
        add(Figure {
            name: "task2 sequential inside the guest",
            value: seq * 1e3,
            unit: "ms",
            better: Better::Lower,
            target: None,
            ray: None,
            note: format!("{:.2}x native", seq / native),
        });
        // The cost of preemption (epoch checks compiled into guest code,
        // which time limits and cancel rely on): the same guest run without.
        // And the same math on wasi-libc's sin, cos and ln instead of the
        // SDK's (`raylab_guest::math`).
        let (mut unchecked, mut libc) = (Vec::new(), Vec::new());
        for _ in 0..args.runs {
            let guest = ["--n", "1000000", "--chunks", "1"];
            let out = b.output("task2", &["--no-preemption"], &guest)?;
            unchecked.push(parse_after(&out, "sequential time:")?);
            let out = b.output("task2", &[], &[&guest[..], &["--std-math"]].concat())?;
            libc.push(parse_after(&out, "sequential time:")?);
        }
        let (unchecked, libc) = (median(unchecked), median(libc));
        add(Figure {
            name: "task2 sequential in guest, wasi-libc math",
            value: libc * 1e3,
            unit: "ms",
            better: Better::Lower,
            target: None,
            ray: None,
            note: format!(
                "{:.2}x native; the SDK's math is {:.1}x faster",
                libc / native,
                libc / seq
            ),
        });
        add(Figure {
            name: "task2 sequential in guest, no preemption",
            value: unchecked * 1e3,
            unit: "ms",
            better: Better::Lower,
            target: None,
            ray: None,
            note: format!("preemption costs {:+.1}%", (seq / unchecked - 1.0) * 100.0),
        });
        add(Figure {
            name: "task2 parallel / native sequential",
            value: par / native,
            unit: "x",
            better: Better::Lower,
            target: Some(0.7),
            ray: None,
            note: format!(
                "{:.1} ms parallel vs {:.1} ms native",
                par * 1e3,
                native * 1e3
            ),
        });
        add(Figure {
            name: "task2 one task per element",
            value: each,
            unit: "us/task",
            better: Better::Lower,
            target: Some(20.0),
            ray: Some("550 us/task"),
            note: format!("{:.0}x less than Ray", 550.0 / each),
        });
    }

    if wanted("python") {
        match crate::python::componentize_py() {
            Ok(_) => python_figures(&b, &args, &mut add)?,
            Err(_) if !args.json => {
                eprintln!("  skipped python: componentize-py is not installed (scripts/setup.sh)")
            }
            Err(_) => {}
        }
    }

    if wanted("cluster") {
        if crate::nats::available() {
            cluster_figures(&b, &args, &mut add)?;
        } else if !args.json {
            eprintln!("  skipped cluster: nats-server is not installed (scripts/setup.sh)");
        }
    }

    if wanted("scaling") {
        scaling_figures(&b, &args, &mut add)?;
    }

    if wanted("dashboard") {
        dashboard_figures(&b, &mut add)?;
    }

    if wanted("lab") {
        // The lab as a user runs it: each task's whole process, from start
        // to exit (warm compile cache), with the lab's own arguments.
        for (module, args, name, note) in [
            (
                "task1",
                &["--work-ms", "0"][..],
                "lab: task1 --work-ms 0, whole process",
                "4 tasks, sequential and parallel, no sleep",
            ),
            (
                "task2",
                &[][..],
                "lab: task2, whole process",
                "1M elements, sequential and parallel",
            ),
            (
                "task4",
                &[][..],
                "lab: task4, whole process",
                "5-fold CV, sequential and parallel",
            ),
        ] {
            let v = b.wall_ms(module, &[], args)?;
            add(Figure {
                name,
                value: v,
                unit: "ms",
                better: Better::Lower,
                target: None,
                ray: Some(">= 2600 ms (ray.init alone)"),
                note: note.into(),
            });
        }
    }
    if wanted("task4") {
        let e2e = b.wall_ms("task4", &[], &["--no-sequential"])?;
        let mut par = Vec::new();
        let mut seq = Vec::new();
        for _ in 0..args.runs {
            let out = b.output("task4", &[], &[])?;
            par.push(parse_after(&out, "parallel time:")?);
            seq.push(parse_after(&out, "sequential time:")?);
        }
        let (par, seq) = (median(par), median(seq));
        add(Figure {
            name: "task4 end to end (process start to result)",
            value: e2e,
            unit: "ms",
            better: Better::Lower,
            target: Some(100.0),
            ray: Some("850-1700 ms first, ~100 ms warm"),
            note: "5-fold CV, warm compile cache".into(),
        });
        add(Figure {
            name: "task4 5 fold tasks / same work in-guest",
            value: par / seq,
            unit: "x",
            better: Better::Lower,
            target: None,
            ray: Some("sklearn sequential 50 ms"),
            note: format!("{par:.1} ms parallel vs {seq:.1} ms sequential in the guest"),
        });
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

/// A node process of the benchmark's cluster, killed when dropped.
struct BenchNode {
    child: std::process::Child,
    /// Its HTTP API.
    http: String,
    /// What it printed after its address.
    lines: Vec<String>,
}

impl BenchNode {
    fn start(b: &Bench, args: &[&str], lines: usize) -> anyhow::Result<BenchNode> {
        use std::io::BufRead;
        let mut child = Command::new(&b.exe)
            .args(["start", "--port", "0", "--nats-port", "0"])
            .args(args)
            .env("RAYLAB_CACHE_DIR", &b.cache)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut out = std::io::BufReader::new(child.stdout.take().context("stdout")?);
        let mut read = Vec::new();
        for _ in 0..lines {
            let mut line = String::new();
            out.read_line(&mut line)?;
            read.push(line.trim().to_string());
        }
        // Keep reading what it prints, so that it never blocks on a pipe.
        std::thread::spawn(move || for _ in out.lines() {});
        let http = read
            .first()
            .and_then(|l| l.rsplit(' ').next())
            .filter(|a| a.starts_with("http://"))
            .with_context(|| format!("a node did not start: {read:?}"))?
            .to_string();
        Ok(BenchNode {
            child,
            http,
            lines: read,
        })
    }
}

impl Drop for BenchNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A head and one worker node on this machine (over loopback NATS): the
/// bench guest's tasks pinned to the worker, against the same tasks pinned
/// to the head (where the driver runs) in the same cluster.
/// A figure's name made at run time (bench is a short-lived process: the
/// few names it makes live as long as it does).
fn label(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

/// How throughput, round trip and task2 change with the worker threads
/// (`--num-cpus` 1 and 2) and with the work in each task (none, 1 ms,
/// 10 ms), each with the per-task overhead it implies: the core time a
/// task costs beyond its own work (`cpus / rate - work`).
fn scaling_figures(
    b: &Bench,
    args: &BenchArgs,
    add: &mut impl FnMut(Figure),
) -> anyhow::Result<()> {
    for cpus in [1u32, 2] {
        let flags = ["--num-cpus", if cpus == 1 { "1" } else { "2" }];
        for (work_us, what) in [(0u64, "empty"), (1_000, "1 ms"), (10_000, "10 ms")] {
            // About half a second of work per run.
            let n = match work_us {
                0 => args.tasks,
                us => (500_000 * u64::from(cpus) / us).max(20),
            };
            let rate = b.guest(
                &flags,
                &["work-throughput", &n.to_string(), &work_us.to_string()],
            )?;
            let overhead = f64::from(cpus) * 1e6 / rate - work_us as f64;
            add(Figure {
                name: label(format!("scaling: {what} tasks, {cpus} cpu")),
                value: rate,
                unit: "tasks/s",
                better: Better::Higher,
                target: None,
                ray: None,
                note: if work_us == 0 {
                    format!("{overhead:.1} us of overhead per task")
                } else {
                    format!(
                        "{overhead:.1} us of overhead per task; {:.1}% of the ideal {:.0}/s",
                        100.0 * rate * work_us as f64 / (1e6 * f64::from(cpus)),
                        1e6 * f64::from(cpus) / work_us as f64
                    )
                },
            });
        }
        let trips = args.round_trips.to_string();
        let rt = b.guest(&flags, &["latency", &trips])?;
        add(Figure {
            name: label(format!("scaling: sync round trip, {cpus} cpu")),
            value: rt,
            unit: "us",
            better: Better::Lower,
            target: None,
            ray: None,
            note: "fresh sandbox per task".into(),
        });
        let mut par = Vec::new();
        let mut seq = Vec::new();
        for _ in 0..args.runs {
            let out = b.output("task2", &flags, &["--per-element", "0"])?;
            par.push(parse_after(&out, "parallel time:")?);
            seq.push(parse_after(&out, "sequential time:")?);
        }
        let (par, seq) = (median(par), median(seq));
        add(Figure {
            name: label(format!("scaling: task2 parallel, {cpus} cpu")),
            value: par * 1e3,
            unit: "ms",
            better: Better::Lower,
            target: None,
            ray: None,
            note: format!(
                "{:.2}x its sequential run in the guest ({:.1} ms); overhead {:.1} ms",
                seq / par,
                seq * 1e3,
                (par - seq / f64::from(cpus)) * 1e3
            ),
        });
    }
    Ok(())
}

/// CPU seconds a process has used (user + system), from /proc.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(") ").context("a /proc stat line")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// The dashboard's weight (the page and the charting library it loads)
/// and the head's CPU while 10 dashboards refresh their overview every
/// second (each: `/api/status` and `/api/history`, as the page does),
/// against the same head idle.
fn dashboard_figures(b: &Bench, add: &mut impl FnMut(Figure)) -> anyhow::Result<()> {
    let head = BenchNode::start(b, &["--num-cpus", "2"], 2)?;
    let pid = head.child.id();
    let get = |path: &str| -> anyhow::Result<usize> {
        let body = ureq::get(&format!("{}{path}", head.http))
            .call()?
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_vec()?;
        Ok(body.len())
    };
    let page = get("/")? + get("/uplot.js")? + get("/uplot.css")?;
    add(Figure {
        name: "dashboard page weight (HTML + uPlot)",
        value: page as f64 / 1024.0,
        unit: "KiB",
        better: Better::Lower,
        target: Some(150.0),
        ray: None,
        note: "served from the binary, no CDN".into(),
    });
    // Let the history fill a little, then measure idle and loaded.
    std::thread::sleep(Duration::from_secs(3));
    let window = Duration::from_secs(10);
    let cpu_over = |load: bool| -> anyhow::Result<(f64, f64)> {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let latencies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let clients: Vec<_> = (0..if load { 10 } else { 0 })
            .map(|_| {
                let (http, stop, lat) = (head.http.clone(), stop.clone(), latencies.clone());
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let t = Instant::now();
                        for path in ["/api/status", "/api/history"] {
                            if let Ok(mut r) = ureq::get(&format!("{http}{path}")).call() {
                                let _ = r.body_mut().read_to_vec();
                            }
                        }
                        lat.lock().unwrap().push(t.elapsed().as_secs_f64() * 1e3);
                        std::thread::sleep(Duration::from_secs(1).saturating_sub(t.elapsed()));
                    }
                })
            })
            .collect();
        let before = cpu_seconds(pid)?;
        std::thread::sleep(window);
        let used = cpu_seconds(pid)? - before;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for c in clients {
            let _ = c.join();
        }
        let lat = latencies.lock().unwrap().clone();
        Ok((
            100.0 * used / window.as_secs_f64(),
            if lat.is_empty() { 0.0 } else { median(lat) },
        ))
    };
    let (idle, _) = cpu_over(false)?;
    let (loaded, refresh_ms) = cpu_over(true)?;
    add(Figure {
        name: "head CPU while 10 dashboards refresh each second",
        value: loaded,
        unit: "% of a core",
        better: Better::Lower,
        target: Some(5.0),
        ray: None,
        note: format!("{idle:.1}% idle; a refresh (status + history) takes {refresh_ms:.1} ms"),
    });
    Ok(())
}

fn cluster_figures(
    b: &Bench,
    args: &BenchArgs,
    add: &mut impl FnMut(Figure),
) -> anyhow::Result<()> {
    let head = BenchNode::start(b, &["--node-name", "head", "--num-cpus", "2"], 4)?;
    let join = head
        .lines
        .iter()
        .find_map(|l| l.strip_prefix("join with: raylab-host start --address "))
        .context("the head printed no way to join it")?;
    let (url, token) = join
        .split_once(" --cluster-token ")
        .context("url and token")?;
    let _worker = BenchNode::start(
        b,
        &[
            "--address",
            url,
            "--cluster-token",
            token,
            "--node-name",
            "w",
            "--num-cpus",
            "2",
        ],
        3,
    )?;
    let submit = |mode: &str, n: &str, node: &str| -> anyhow::Result<f64> {
        let mut xs = Vec::new();
        for _ in 0..b.runs {
            let out = Command::new(&b.exe)
                .args(["submit", "--quiet", "--address", &head.http])
                .arg(b.wasm("bench"))
                .args(["--", mode, n, node])
                .stdin(Stdio::null())
                .output()?;
            if !out.status.success() {
                bail!(
                    "bench {mode} on {node} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            xs.push(parse_after(
                &String::from_utf8_lossy(&out.stdout),
                "result:",
            )?);
        }
        Ok(median(xs))
    };
    let trips = (args.round_trips / 5).max(100).to_string();
    let (remote, local) = (
        submit("remote-latency", &trips, "w")?,
        submit("remote-latency", &trips, "head")?,
    );
    add(Figure {
        name: "cluster: sync round trip to another node",
        value: remote,
        unit: "us",
        better: Better::Lower,
        target: None,
        ray: Some("1460 us (one node)"),
        note: format!(
            "{:.1}x the same call kept on the head ({local:.0} us)",
            remote / local
        ),
    });
    let n = (args.tasks / 4).max(100).to_string();
    let (remote, local) = (
        submit("remote-throughput", &n, "w")?,
        submit("remote-throughput", &n, "head")?,
    );
    add(Figure {
        name: "cluster: throughput to another node",
        value: remote,
        unit: "tasks/s",
        better: Better::Higher,
        target: None,
        ray: Some("1.5-2.1 k/s (one node)"),
        note: format!(
            "{:.2}x the same tasks kept on the head ({local:.0}/s)",
            remote / local
        ),
    });
    let (remote, local) = (
        submit("remote-transfer", "100", "w")?,
        submit("remote-transfer", "100", "head")?,
    );
    add(Figure {
        name: "cluster: 100 MB argument and result via another node",
        value: remote,
        unit: "GB/s",
        better: Better::Higher,
        target: None,
        ray: None,
        note: format!("both ways, 512 KiB chunks; {local:.2} GB/s kept on the head"),
    });
    Ok(())
}

/// `ratio` (Ray's time over raylab's) as words: "N x faster", "N x slower",
/// or "even with Ray" within 5% (where one decimal would print "1.0x").
fn versus_ray(ratio: f64) -> String {
    if (0.95..=1.05).contains(&ratio) {
        format!("even with Ray ({:.0}% of its time)", 100.0 / ratio)
    } else if ratio >= 1.0 {
        format!("{ratio:.1}x faster than Ray")
    } else {
        format!("{:.1}x slower than Ray", 1.0 / ratio)
    }
}

/// The Python rows: the same measurements as the Rust guests' where they
/// exist, on components built from `args.python` (built once, cached).
fn python_figures(b: &Bench, args: &BenchArgs, add: &mut impl FnMut(Figure)) -> anyhow::Result<()> {
    // Programs are data: `run` takes the source; the runtime is built once.
    crate::python::runtime(Some(&b.cache), true)?;
    let python = match &args.python {
        Some(dir) => dir.clone(),
        None => crate::lab::python_dir()?,
    };
    let bench = python.join("bench/bench.py");
    let task1 = python.join("lab/task1.py");
    let task2 = python.join("lab/task2.py");
    let trips = (args.round_trips / 5).max(100).to_string();
    for (name, iso, target) in [
        ("python: sync round trip, fresh sandbox", "fresh", 300.0),
        ("python: sync round trip, warm instance", "warm", 50.0),
    ] {
        let v = b.result_of(&bench, &["--isolation", iso], &["latency", &trips])?;
        add(Figure {
            name,
            value: v,
            unit: "us",
            better: Better::Lower,
            target: Some(target),
            ray: Some("1460 us"),
            note: versus_ray(1460.0 / v),
        });
    }
    // What shipping a function by value adds to a fresh call: the same
    // round trip through a call dispatched by name alone.
    let v = b.result_of(
        &bench,
        &["--isolation", "fresh"],
        &["latency-by-name", &trips],
    )?;
    add(Figure {
        name: "python: sync round trip, fresh, by name (no function to rebuild)",
        value: v,
        unit: "us",
        better: Better::Lower,
        target: None,
        ray: None,
        note: "the by-value row above less this is the function's rebuild".into(),
    });
    let v = b.result_of(&bench, &["--isolation", "fresh"], &["throughput", "10000"])?;
    add(Figure {
        name: "python: 10,000 tiny tasks, fresh sandboxes",
        value: 10_000.0 / v,
        unit: "s",
        better: Better::Lower,
        target: None,
        ray: None,
        note: format!("{v:.0} tasks/s, each in a fresh instance"),
    });
    let n = (args.tasks / 10).max(100).to_string();
    let v = b.result_of(&bench, &["--isolation", "warm"], &["throughput", &n])?;
    add(Figure {
        name: "python: throughput, warm instance",
        value: v,
        unit: "tasks/s",
        better: Better::Higher,
        target: None,
        ray: Some("1.5-2.1 k/s"),
        note: format!("{:.0}x Ray's 2.1 k/s", v / 2_100.0),
    });
    let mut xs = Vec::new();
    for _ in 0..b.runs {
        let start = Instant::now();
        b.output_of(&task1, &["-q"], &["--n", "1", "--work-ms", "0"])?;
        xs.push(start.elapsed().as_secs_f64() * 1e3);
    }
    add(Figure {
        name: "python: run task1.py to result, cached",
        value: median(xs),
        unit: "ms",
        better: Better::Lower,
        target: None,
        ray: Some("2600-2900 ms (ray.init)"),
        note: "component and compiled code from the caches".into(),
    });
    // Edit and rerun: a program is data, so an edited one runs at once.
    let dir = tempfile::tempdir()?;
    let app = dir.path().join("app.py");
    let mut xs = Vec::new();
    for i in 0..=b.runs {
        std::fs::write(
            &app,
            format!(
                "import raylab as ray\n\n@ray.remote\ndef f(x):\n    return x + {i}\n\n\
                 print(ray.get([f.remote(k) for k in range(4)]))\n"
            ),
        )?;
        let start = Instant::now();
        b.output_of(&app, &["-q"], &[])?;
        if i > 0 {
            xs.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    add(Figure {
        name: "python: edit a program and rerun it",
        value: median(xs),
        unit: "ms",
        better: Better::Lower,
        target: Some(1000.0),
        ray: None,
        note: "the whole process: start, run 4 tasks, exit; no build".into(),
    });
    // The first run on a fresh machine: the runtime built and compiled.
    let empty = tempfile::tempdir()?;
    let start = Instant::now();
    let out = Command::new(&b.exe)
        .arg("run")
        .arg("-q")
        .arg(&app)
        .arg("--cache-dir")
        .arg(empty.path())
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!(
            "a first run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    add(Figure {
        name: "python: first run with an empty cache",
        value: start.elapsed().as_secs_f64(),
        unit: "s",
        better: Better::Lower,
        target: None,
        ray: None,
        note: "componentize-py builds the runtime, Cranelift compiles it (once per version)".into(),
    });
    let (mut seq, mut par) = (Vec::new(), Vec::new());
    for _ in 0..b.runs {
        let text = b.output_of(&task2, &["-q"], &["--n", "200000"])?;
        if !text.contains("results equal: yes") {
            bail!("task2.py gave other results: {text}");
        }
        seq.push(parse_after(&text, "sequential time:")?);
        par.push(parse_after(&text, "parallel time:")?);
    }
    let (seq, par) = (median(seq), median(par));
    add(Figure {
        name: "python: task2.py (200k) parallel",
        value: par * 1e3,
        unit: "ms",
        better: Better::Lower,
        target: None,
        ray: None,
        note: format!(
            "{:.2}x its sequential {:.0} ms, pure Python math",
            seq / par,
            seq * 1e3
        ),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::versus_ray;

    #[test]
    fn ratios_against_ray_read_as_words() {
        assert_eq!(versus_ray(32.6), "32.6x faster than Ray");
        assert_eq!(versus_ray(0.5), "2.0x slower than Ray");
        // 1460 us against 1491 us: one decimal would print "1.0x slower".
        assert_eq!(
            versus_ray(1460.0 / 1491.0),
            "even with Ray (102% of its time)"
        );
    }
}
