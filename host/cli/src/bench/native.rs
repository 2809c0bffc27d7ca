//! The baselines of `bench`, measured natively in this process: task2's
//! math over the same seeded data (the formula and generator are
//! `raylab-labkit`'s, shared with the guests), a plain memory copy, and
//! what machine this is.

use std::time::Instant;

use raylab_labkit::task2;

use super::median;

/// One native run of task2's math over the lab's data (the seeded
/// million elements, the formula of `raylab-labkit` with std's math).
pub(crate) struct Task2Run {
    /// Seconds on one thread.
    pub(crate) seq: f64,
    /// Seconds on every core (see [`task2()`]).
    pub(crate) par: f64,
    /// The sum of the results, to check the guest's against.
    pub(crate) checksum: f64,
    /// The threads of the parallel run.
    pub(crate) threads: usize,
}

/// The lab's task2 data.
pub(crate) fn task2_data() -> Vec<f64> {
    task2::data(1_000_000, 42)
}

/// Task2's math natively on one thread, then on every core as the guest's
/// parallel phase does it: the same data in two chunks per core, taken by
/// the threads as they come free, each chunk's results a vector of their
/// own (fresh memory, like a chunk task's), then joined into one. Measured
/// back to back in this process, `seq / par` is the speedup this machine
/// gives plain threads at this moment, the yardstick of the guest's (a VM
/// whose hypervisor runs its vCPUs on less than a core each shows it here
/// too).
pub(crate) fn task2(data: &[f64]) -> Task2Run {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = cores();
    let start = Instant::now();
    let seq: Vec<f64> = data.iter().map(|&x| task2::calc_std(x)).collect();
    let seq_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let step = data.len().div_ceil(2 * threads).max(1);
    let next = AtomicUsize::new(0);
    let mut parts: Vec<(usize, Vec<f64>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(chunk) = data.chunks(step).nth(i) else {
                            break mine;
                        };
                        mine.push((i, chunk.iter().map(|&x| task2::calc_std(x)).collect()));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a native task2 thread panicked"))
            .collect()
    });
    parts.sort_by_key(|(i, _)| *i);
    let mut par = Vec::with_capacity(data.len());
    for (_, part) in &parts {
        par.extend_from_slice(part);
    }
    let par_s = start.elapsed().as_secs_f64();
    assert!(
        std::hint::black_box(&par) == &seq,
        "native parallel task2 differs from sequential"
    );
    Task2Run {
        seq: seq_s,
        par: par_s,
        checksum: seq.iter().sum(),
        threads,
    }
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
    format!("{} cores, {cpu}", cores())
}

/// The cores this process may use.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
