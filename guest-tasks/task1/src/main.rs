//! The lab's Task 1: a plain function that squares a number, called
//! sequentially and then as parallel remote tasks (`@ray.remote`), with both
//! results checked equal and both timings printed. A second round gives each
//! call ~100 ms of simulated work (a sleep, as in the Ray lab) so that the
//! parallel speedup is visible.
//!
//! Usage: `raylab-host run task1.wasm -- [--n N] [--work-ms MS]`

use std::time::{Duration, Instant};

use raylab_guest::{cluster_resources, get_all, remote, tasks};
use raylab_labkit::Flags;

/// Square a number.
#[remote]
pub fn square(x: i64) -> i64 {
    x * x
}

/// Square a number after `work_ms` milliseconds of simulated work.
#[remote]
pub fn slow_square(x: i64, work_ms: u64) -> i64 {
    std::thread::sleep(Duration::from_millis(work_ms));
    x * x
}

tasks!(square, slow_square);

struct Options {
    n: i64,
    work_ms: u64,
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        n: 10,
        work_ms: 100,
    };
    Flags::new("task1 [--n N] [--work-ms MS]")
        .value("--n", &mut opts.n)
        .value("--work-ms", &mut opts.work_ms)
        .parse_env()?;
    Ok(opts)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let opts = parse_args()?;
    let cpus = cluster_resources()
        .into_iter()
        .find(|(name, _)| name == "CPU")
        .map_or(0.0, |(_, n)| n);
    println!("Task 1: square numbers sequentially and as parallel remote tasks ({cpus} CPUs)");

    // Round 1: the bare function.
    let numbers: Vec<i64> = (0..opts.n).collect();
    let start = Instant::now();
    let sequential: Vec<i64> = numbers.iter().map(|&x| square(x)).collect();
    let seq_time = start.elapsed();

    let start = Instant::now();
    let refs: Vec<_> = numbers.iter().map(|&x| square::remote(x)).collect();
    let parallel = get_all(&refs)?;
    let par_time = start.elapsed();

    println!("sequential results: {sequential:?}");
    println!("parallel results:   {parallel:?}");
    if sequential != parallel {
        return Err("parallel results differ from sequential results".into());
    }
    println!("results equal: yes");
    println!("sequential time: {:.3} ms", ms(seq_time));
    println!("parallel time:   {:.3} ms", ms(par_time));

    // Round 2: the same with simulated work per call.
    if opts.work_ms > 0 {
        println!();
        println!("With {} ms of simulated work per call:", opts.work_ms);
        let start = Instant::now();
        let sequential: Vec<i64> = numbers
            .iter()
            .map(|&x| slow_square(x, opts.work_ms))
            .collect();
        let seq_time = start.elapsed();

        let start = Instant::now();
        let refs: Vec<_> = numbers
            .iter()
            .map(|&x| slow_square::remote(x, opts.work_ms))
            .collect();
        let parallel = get_all(&refs)?;
        let par_time = start.elapsed();
        if sequential != parallel {
            return Err("parallel results differ from sequential results".into());
        }
        println!("results equal: yes");
        println!("sequential time: {:.1} ms", ms(seq_time));
        println!("parallel time:   {:.1} ms", ms(par_time));
        println!(
            "speedup: {:.2}x",
            seq_time.as_secs_f64() / par_time.as_secs_f64()
        );
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
