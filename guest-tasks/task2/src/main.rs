//! The lab's Task 2: parallel processing of 1,000,000 random numbers.
//!
//! Each element gets the same non-trivial math as the Python lab:
//! `calc(x) = Σ_{k=0..4} sin(y)·cos(y) + sqrt(|y|) + ln(1 + y²)` with
//! `y = x + k`. The data (seeded, uniform in [-100, 100)) is put into the
//! object store once; each chunk task receives it as a dependency plus its
//! index range, exactly as the Ray lab passes `data_ref` to every chunk.
//! The data travels as a [`PackedVec`] (one MessagePack `bin`), the
//! counterpart of the numpy array the Ray lab ships: decoding it is a copy,
//! where an array of a million MessagePack floats costs milliseconds per
//! task.
//! Sequential and parallel results are checked equal, bit for bit.
//!
//! The math runs on [`raylab_guest::math`]: `sin_cos` and `ln` two elements
//! at a time with WebAssembly SIMD, within 1 ulp like wasi-libc's `sin`,
//! `cos` and `ln` but about 2.5× faster (one range reduction for both sin and
//! cos, two lanes per instruction). `--std-math` uses wasi-libc's functions
//! instead, element by element, for comparison.
//!
//! `--per-element N` also runs one task per element over the first N
//! elements, the pattern many lab students write, to show per-task cost.
//!
//! Usage: `raylab-host run task2.wasm -- [--n N] [--chunks C] [--seed S]
//! [--per-element N] [--no-sequential] [--std-math]`

use std::time::Instant;

use raylab_guest::math::{self, F64x2};
use raylab_guest::{ByRef, PackedVec, cluster_resources, get_all, put, remote, tasks, wait};
use raylab_labkit::{Flags, task2};

/// [`task2::calc_with`] on two elements at once, on [`raylab_guest::math`]: bit
/// for bit what the scalar form gives on each lane (the same formula, on
/// [`F64x2`]).
fn calc2(x: F64x2) -> F64x2 {
    let mut acc = F64x2::splat(0.0);
    for k in 0..5 {
        let y = x + k as f64;
        let (sin, cos) = y.sin_cos();
        acc = acc + (sin * cos + y.abs().sqrt() + (1.0 + y * y).ln());
    }
    acc
}

/// One element: on [`raylab_guest::math`], or with `std_math` on
/// wasi-libc's `sin`, `cos` and `ln`.
pub fn calc_one(x: f64, std_math: bool) -> f64 {
    if std_math {
        task2::calc_std(x)
    } else {
        task2::calc_with(x, math::sin_cos, math::ln)
    }
}

/// The work over a slice: two elements at a time, or with `std_math`
/// element by element on wasi-libc's functions.
pub fn calc_all(xs: &[f64], std_math: bool) -> Vec<f64> {
    if std_math {
        xs.iter().map(|&x| calc_one(x, true)).collect()
    } else {
        F64x2::map(xs, calc2)
    }
}

/// Process elements `start..end` of the shared data.
#[remote]
pub fn process_chunk(
    data: ByRef<PackedVec<f64>>,
    start: u64,
    end: u64,
    std_math: bool,
) -> Result<PackedVec<f64>, String> {
    let mut xs = data
        .get_range(start as usize..end as usize)
        .map_err(|e| e.to_string())?;
    // In place: no second vector (its fresh pages cost as much as the
    // math on this data).
    if std_math {
        for x in xs.iter_mut() {
            *x = calc_one(*x, true);
        }
    } else {
        F64x2::map_in_place(&mut xs, calc2);
    }
    Ok(PackedVec::from(xs))
}

/// Process one element.
#[remote]
pub fn process_one(x: f64, std_math: bool) -> f64 {
    calc_one(x, std_math)
}

tasks!(process_chunk, process_one);

struct Options {
    n: usize,
    chunks: Option<usize>,
    seed: u64,
    per_element: usize,
    sequential: bool,
    std_math: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        n: 1_000_000,
        chunks: None,
        seed: 42,
        per_element: 0,
        sequential: true,
        std_math: false,
    };
    Flags::new(
        "task2 [--n N] [--chunks C] [--seed S] [--per-element N] [--no-sequential] [--std-math]",
    )
    .value("--n", &mut o.n)
    .optional("--chunks", &mut o.chunks)
    .value("--seed", &mut o.seed)
    .value("--per-element", &mut o.per_element)
    .set("--no-sequential", &mut o.sequential, false)
    .set("--std-math", &mut o.std_math, true)
    .parse_env()?;
    o.chunks = o.chunks.map(|c| c.max(1));
    Ok(o)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let o = parse_args()?;
    let cpus = cluster_resources()
        .into_iter()
        .find(|(n, _)| n == "CPU")
        .map_or(1.0, |(_, v)| v);
    // Two chunks per CPU: each chunk task reads only its range of the data
    // (`get_range`), and a CPU that runs slower for a while (another
    // tenant of the machine, a neighbour's page faults) then takes fewer
    // of them instead of holding up the last one. On this 2-CPU VM one of
    // two equal chunks often took 13-19 ms longer than the other;
    // interleaved runs gave a median speedup of 1.43x with 4 chunks
    // against 1.38x with 2, and a slowest run of 1.01x against 0.69x
    // (BENCHMARKS.md, Task 2).
    let chunks = o
        .chunks
        .unwrap_or((2 * cpus.ceil() as usize).max(1))
        .min(o.n.max(1));
    println!(
        "Task 2: {} random numbers in [-100, 100), seed {}, {cpus} CPUs, math: {}",
        o.n,
        o.seed,
        if o.std_math {
            "wasi-libc"
        } else if cfg!(target_feature = "simd128") {
            "raylab_guest::math (SIMD, 2 lanes)"
        } else {
            "raylab_guest::math (scalar)"
        }
    );

    let data = PackedVec(task2::data(o.n, o.seed));

    let sequential = if o.sequential {
        let start = Instant::now();
        let out = calc_all(&data, o.std_math);
        let t = start.elapsed().as_secs_f64();
        println!("sequential time: {:.3} s", t);
        Some((out, t))
    } else {
        None
    };

    let start = Instant::now();
    let data_ref = put(&data)?;
    let t_put = start.elapsed();
    let step = o.n.div_ceil(chunks);
    let refs: Vec<_> = (0..o.n)
        .step_by(step.max(1))
        .map(|s| process_chunk::remote(&data_ref, s as u64, (s + step).min(o.n) as u64, o.std_math))
        .collect();
    wait(refs.clone(), refs.len(), None)?;
    let t_tasks = start.elapsed();
    // Gather: each result decoded straight into the output (a vector per
    // result, then a concatenation, cost 8 MB more of fresh pages).
    let mut parallel: Vec<f64> = Vec::with_capacity(o.n);
    for part in &refs {
        part.get_into(&mut parallel)?;
    }
    let t_par = start.elapsed().as_secs_f64();
    println!(
        "parallel time:   {:.3} s ({} chunk tasks)",
        t_par,
        refs.len()
    );
    // Where the parallel time goes: moving the data in and out of the
    // object store and the sandboxes is the price of isolation.
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!(
        "  put the data {:.1} ms, chunk tasks {:.1} ms, gather results {:.1} ms",
        ms(t_put),
        ms(t_tasks - t_put),
        t_par * 1e3 - ms(t_tasks)
    );

    let checksum: f64 = parallel.iter().sum();
    println!("checksum: {checksum:.6}");
    if let Some((seq, t_seq)) = &sequential {
        let equal = seq.len() == parallel.len()
            && seq
                .iter()
                .zip(&parallel)
                .all(|(a, b)| a.to_bits() == b.to_bits());
        if !equal {
            return Err("parallel results differ from sequential results".into());
        }
        println!("results equal: yes");
        println!("speedup: {:.2}x", t_seq / t_par);
    }

    if o.per_element > 0 {
        let m = o.per_element.min(o.n);
        let start = Instant::now();
        let refs: Vec<_> = data[..m]
            .iter()
            .map(|&x| process_one::remote(x, o.std_math))
            .collect();
        let one_by_one = get_all(&refs)?;
        let t = start.elapsed().as_secs_f64();
        let equal = one_by_one
            .iter()
            .zip(&data[..m])
            .all(|(r, &x)| r.to_bits() == calc_one(x, o.std_math).to_bits());
        if !equal {
            return Err("one-task-per-element results differ".into());
        }
        println!("one task per element: {m} tasks in {t:.3} s, results equal: yes");
        println!("per-task time: {:.1} us", t * 1e6 / m as f64);
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
