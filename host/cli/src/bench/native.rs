//! The baselines of `bench`, measured natively in this process: task2's
//! math over the same seeded data (the formula and generator are
//! `raylab-labkit`'s, shared with the guests), a plain memory copy, and
//! what machine this is.

use std::time::Instant;

use raylab_labkit::task2;

use super::median;

pub(super) fn native_task2_seconds(runs: usize) -> (f64, f64) {
    // The same seeded data and formula as task2 (labkit), with std's math.
    let data = task2::data(1_000_000, 42);
    let mut xs = Vec::new();
    let mut checksum = 0.0;
    for _ in 0..runs {
        let start = Instant::now();
        let out: Vec<f64> = data.iter().map(|&x| task2::calc_std(x)).collect();
        xs.push(start.elapsed().as_secs_f64());
        checksum = std::hint::black_box(out).iter().sum();
    }
    (median(xs), checksum)
}

/// Bandwidth of a plain copy of 100 MB between warm buffers.
pub(super) fn memcpy_gbps(runs: usize) -> f64 {
    let src = vec![0xabu8; 100_000_000];
    let mut dst = vec![0u8; src.len()];
    let mut xs = Vec::new();
    for _ in 0..runs.max(3) {
        let start = Instant::now();
        dst.copy_from_slice(std::hint::black_box(&src));
        xs.push(0.1 / start.elapsed().as_secs_f64());
        std::hint::black_box(&dst);
    }
    median(xs)
}

pub(super) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cores} cores, {cpu}")
}
