//! Example: data-parallel numeric work over one large vector.
//!
//! The driver puts a `PackedVec<f64>` into the object store once. Each
//! chunk task takes it as a `ByRef` parameter (the reference, not the
//! value) and copies only its own slice into its sandbox with `get_range`,
//! computes `f(x) = sin(x)·cos(x) + ln(1 + x²)` with
//! `raylab_guest::math::F64x2` (two lanes per WebAssembly SIMD
//! instruction) and returns its partial sum. The driver adds the partial
//! sums and checks them against a sequential pass over the same data.
//!
//! Run: `raylab-host run chunked_sum.wasm -- [N] [CHUNKS]`

use raylab_guest::math::F64x2;
use raylab_guest::{ByRef, PackedVec, get_all, put, remote, tasks};

/// `f` on two values at once.
fn f(x: F64x2) -> F64x2 {
    let (sin, cos) = x.sin_cos();
    sin * cos + (1.0 + x * x).ln()
}

/// The sum of `f` over `xs`.
fn sum_f(xs: &[f64]) -> f64 {
    F64x2::map(xs, f).iter().sum()
}

/// The sum of `f` over elements `start..end` of `data`.
#[remote]
fn chunk_sum(data: ByRef<PackedVec<f64>>, start: u64, end: u64) -> Result<f64, String> {
    let xs = data
        .get_range(start as usize..end as usize)
        .map_err(|e| e.to_string())?;
    Ok(sum_f(&xs))
}

tasks!(chunk_sum);

fn main() -> Result<(), raylab_guest::Error> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let chunks: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4).max(1);

    let data: PackedVec<f64> = (0..n)
        .map(|i| (i % 200_000) as f64 * 0.001 - 100.0)
        .collect();
    let data_ref = put(&data)?;
    let step = n.div_ceil(chunks).max(1);
    let parts: Vec<_> = (0..n)
        .step_by(step)
        .map(|s| chunk_sum::remote(&data_ref, s as u64, (s + step).min(n) as u64))
        .collect();
    let parallel: f64 = get_all(&parts)?.iter().sum();
    let sequential = sum_f(&data);

    println!("chunks: {}", parts.len());
    println!("sum: {parallel:.9e}");
    // The partial sums add up in another order: equal up to rounding.
    let equal = (parallel - sequential).abs() <= 1e-9 * sequential.abs().max(1.0);
    println!(
        "sequential: {sequential:.9e} (equal: {})",
        if equal { "yes" } else { "no" }
    );
    Ok(())
}
