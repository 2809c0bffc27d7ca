//! A job for the dashboard's tests: for `secs` seconds (the first
//! argument, 5 by default) it runs small tasks in waves and prints a line
//! per wave, so that the charts, the task table and the streamed log have
//! something to show while it runs; one task fails on each of its two
//! attempts (the task table lists both errors).
use std::time::{Duration, Instant};

use raylab_guest::{TaskOptions, remote, tasks};

#[remote]
fn busy(ms: u64) -> u64 {
    let start = Instant::now();
    let mut spins = 0u64;
    while start.elapsed() < Duration::from_millis(ms) {
        spins = spins.wrapping_add(1);
    }
    spins
}
#[remote]
fn flaky() -> u64 {
    panic!("flaky fails on every attempt")
}
tasks!(busy, flaky);

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let failed = flaky::options(TaskOptions::new().max_retries(1))
        .remote()
        .get()
        .unwrap_err();
    println!("flaky: {:?}", failed.kind);
    let start = Instant::now();
    let mut wave = 0;
    while start.elapsed() < Duration::from_secs(secs) {
        wave += 1;
        let refs: Vec<_> = (0..4).map(|_| busy::remote(20)).collect();
        for r in refs {
            r.get().unwrap();
        }
        println!("wave {wave}: 4 tasks done");
        std::thread::sleep(Duration::from_millis(150));
    }
    println!("done after {wave} waves");
}
