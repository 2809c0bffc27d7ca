//! The lab's Task 3: GPU resource scheduling, with real GPU compute.
//!
//! The Ray lab's tasks sleep while holding a logical GPU; here each task
//! declares `num_gpus = 1` (like `@ray.remote(num_gpus=1)`), and more tasks
//! are submitted than the node has GPUs, so they queue and run one at a
//! time per GPU. Each multiplies two seeded matrices on its GPU through the
//! host's wgpu broker (lavapipe, a software Vulkan device, on machines
//! without a GPU) and checks the product against the same multiplication on
//! the CPU inside the guest. The driver prints, per task, the GPU id, start
//! and end times (showing the queueing) and the total; then the same with
//! `num_gpus = 0.5`, where two tasks share a GPU.
//!
//! Usage: `raylab-host run task3.wasm -- [--tasks N] [--size N] [--repeat R]`

use std::time::{SystemTime, UNIX_EPOCH};

use raylab_guest::gpu::{Kernel, bytes_f32, f32_bytes, u32_bytes};
use raylab_guest::{TaskOptions, cluster_resources, context, get_all, remote, tasks};
use raylab_labkit::Flags;
use raylab_labkit::task3::{cpu_matmul, matrix};
use serde::{Deserialize, Serialize};

/// The shader (shared with `raylab-host bench`, which times it natively).
const MATMUL: &str = include_str!("matmul.wgsl");

/// What one task reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Task number.
    pub task: u32,
    /// The node it ran on.
    pub node: String,
    /// GPU ids it held (on that node).
    pub gpu_ids: Vec<u32>,
    /// Adapter name.
    pub device: String,
    /// Wall-clock start and end, in ms since the Unix epoch.
    pub start_ms: f64,
    /// See `start_ms`.
    pub end_ms: f64,
    /// Largest difference between the GPU and CPU products.
    pub max_error: f32,
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// Multiply two seeded n×n matrices on this task's GPU, `repeat` times,
/// and check the product on the CPU.
#[remote(num_gpus = 1.0)]
pub fn gpu_matmul(task: u32, n: u32, repeat: u32) -> Result<Report, String> {
    let start_ms = now_ms();
    let size = n as usize;
    let a = matrix(size, 2 * task as u64 + 1);
    let b = matrix(size, 2 * task as u64 + 2);
    let groups = n.div_ceil(8);
    let mut c = Vec::new();
    for _ in 0..repeat.max(1) {
        let out = Kernel::new(MATMUL, "main")
            .uniform(0, u32_bytes(&[n, 0, 0, 0]))
            .input(1, f32_bytes(&a))
            .input(2, f32_bytes(&b))
            .output(3, 4 * (size * size) as u64)
            .workgroups(groups, groups, 1)
            .run()
            .map_err(|e| e.to_string())?;
        c = bytes_f32(&out[0]);
    }
    let reference = cpu_matmul(&a, &b, size);
    let max_error = c
        .iter()
        .zip(&reference)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    if max_error > 1e-3 * n as f32 {
        return Err(format!("GPU product differs from the CPU's by {max_error}"));
    }
    let device =
        raylab_guest::gpu::device().map_or("?".into(), |d| format!("{} ({})", d.name, d.backend));
    let ctx = context();
    Ok(Report {
        task,
        node: ctx.node,
        gpu_ids: ctx.gpu_ids,
        device,
        start_ms,
        end_ms: now_ms(),
        max_error,
    })
}

tasks!(gpu_matmul);

struct Options {
    tasks: u32,
    size: u32,
    repeat: u32,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        tasks: 0,
        size: 128,
        repeat: 4,
    };
    Flags::new("task3 [--tasks N] [--size N] [--repeat R]")
        .value("--tasks", &mut o.tasks)
        .value("--size", &mut o.size)
        .value("--repeat", &mut o.repeat)
        .parse_env()?;
    o.size = o.size.max(1);
    Ok(o)
}

/// The most tasks that ran at the same time on one GPU.
fn max_overlap(reports: &[Report]) -> usize {
    let mut best = 0;
    for r in reports {
        let same_time = reports
            .iter()
            .filter(|o| {
                o.node == r.node
                    && o.gpu_ids == r.gpu_ids
                    && o.start_ms < r.end_ms
                    && r.start_ms < o.end_ms
            })
            .count();
        best = best.max(same_time);
    }
    best
}

fn round(
    label: &str,
    gpus: f64,
    o: &Options,
    n_tasks: u32,
) -> Result<(), Box<dyn std::error::Error>> {
    println!();
    println!(
        "{label}: {n_tasks} tasks, num_gpus = {gpus} each, {0}x{0} matmul x{1}",
        o.size, o.repeat
    );
    let t0 = now_ms();
    let refs: Vec<_> = (0..n_tasks)
        .map(|t| gpu_matmul::options(TaskOptions::new().num_gpus(gpus)).remote(t, o.size, o.repeat))
        .collect();
    let reports = get_all(&refs)?;
    let total = now_ms() - t0;
    println!(
        "{:<5} {:<8} {:<6} {:>10} {:>10} {:>10}  {:<10}",
        "task", "node", "gpu", "start ms", "end ms", "took ms", "max error"
    );
    for r in &reports {
        println!(
            "{:<5} {:<8} {:<6} {:>10.1} {:>10.1} {:>10.1}  {:<10.2e}",
            r.task,
            r.node,
            format!("{:?}", r.gpu_ids),
            r.start_ms - t0,
            r.end_ms - t0,
            r.end_ms - r.start_ms,
            r.max_error
        );
    }
    println!(
        "device: {}",
        reports.first().map_or("-", |r| r.device.as_str())
    );
    println!("results checked against the CPU: yes");
    println!("most tasks at once on one GPU: {}", max_overlap(&reports));
    println!("total: {total:.1} ms");
    Ok(())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let o = parse_args()?;
    let gpus = cluster_resources()
        .into_iter()
        .find(|(n, _)| n == "GPU")
        .map_or(0.0, |r| r.1);
    println!("Task 3: GPU resource scheduling ({gpus} GPUs in the cluster)");
    if gpus < 1.0 {
        return Err("no node has a GPU (install mesa-vulkan-drivers for a software one, or pass --num-gpus)".into());
    }
    let n_tasks = if o.tasks > 0 {
        o.tasks
    } else {
        2 * gpus as u32 + 1
    };
    round("num_gpus = 1", 1.0, &o, n_tasks)?;
    round("num_gpus = 0.5", 0.5, &o, 2 * gpus as u32)?;
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
