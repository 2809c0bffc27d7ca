//! Figures of a head and its nodes: scaling with the CPUs given, the
//! dashboard's weight and the head's CPU under it, and tasks placed across
//! a cluster of nodes on this machine.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{Bench, BenchArgs, Better, Figure, median, parse_after};
use crate::api;

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
pub(super) fn scaling_figures(
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
pub(super) fn dashboard_figures(b: &Bench, add: &mut impl FnMut(Figure)) -> anyhow::Result<()> {
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
                        for path in [api::STATUS, api::HISTORY] {
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

pub(super) fn cluster_figures(
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
    // One that serves bulk bytes through NATS only (the fallback).
    let _chunks = BenchNode::start(
        b,
        &[
            "--address",
            url,
            "--cluster-token",
            token,
            "--node-name",
            "w-nats",
            "--num-cpus",
            "1",
            "--no-data-port",
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
        note: format!("both ways, data port; {local:.2} GB/s kept on the head"),
    });
    let (remote, chunks, local) = (
        submit("remote-get", "100", "w")?,
        submit("remote-get", "100", "w-nats")?,
        submit("remote-get", "100", "head")?,
    );
    add(Figure {
        name: "cluster: 100 MB object read from another node",
        value: remote,
        unit: "GB/s",
        better: Better::Higher,
        target: Some(1.0),
        ray: None,
        note: format!(
            "from its owner's data port; {chunks:.2} GB/s in chunks through NATS \
             (--no-data-port), {local:.2} GB/s read on its own node"
        ),
    });
    Ok(())
}
