//! Accuracy of `raylab_guest::math` against wasi-libc's `sin`, `cos` and
//! `ln`, and bit-identity of its SIMD form (`F64x2`) with its scalar form,
//! over random inputs in Task 2's range and over all magnitudes, arguments
//! next to multiples of π/2 (where range reduction cancels) and the special
//! values. Prints one line per function and exits non-zero on any failure.

use raylab_guest::math::{F64x2, ln, sin_cos};
use raylab_labkit::float::{probe_inputs, same, ulps};

fn main() {
    let xs = probe_inputs(1_000_000);
    let mut failures = Vec::new();
    let (mut worst_sin, mut worst_cos, mut worst_ln) = (0u64, 0u64, 0u64);
    let mut simd_mismatch = 0usize;
    for pair in xs.chunks_exact(2) {
        let v = F64x2::new(pair[0], pair[1]);
        let (vs, vc) = v.sin_cos();
        let vl = v.ln();
        let (vs, vc, vl) = (vs.to_array(), vc.to_array(), vl.to_array());
        for (lane, &x) in pair.iter().enumerate() {
            let (s, c) = sin_cos(x);
            let l = ln(x);
            worst_sin = worst_sin.max(ulps(s, x.sin()));
            worst_cos = worst_cos.max(ulps(c, x.cos()));
            worst_ln = worst_ln.max(ulps(l, x.ln()));
            if !(same(vs[lane], s) && same(vc[lane], c) && same(vl[lane], l)) {
                simd_mismatch += 1;
                if simd_mismatch <= 5 {
                    failures.push(format!("F64x2 differs from scalar at {x:e}"));
                }
            }
        }
    }
    // `ln` on Task 2's own arguments, 1 + y².
    for &x in &xs[..1_000_000] {
        let y = 1.0 + x * x;
        worst_ln = worst_ln.max(ulps(ln(y), y.ln()));
    }
    // map() handles an odd length and keeps the order.
    let odd = [0.25, 1.5, 3.0];
    let mapped = F64x2::map(&odd, |v| v.sin_cos().0 + v.ln());
    for (x, m) in odd.iter().zip(&mapped) {
        if !same(*m, sin_cos(*x).0 + ln(*x)) || mapped.len() != odd.len() {
            failures.push(format!("map differs at {x}"));
        }
    }
    println!("inputs: {}", xs.len());
    println!("simd: {}", cfg!(target_feature = "simd128"));
    println!("sin: max {worst_sin} ulp from wasi-libc");
    println!("cos: max {worst_cos} ulp from wasi-libc");
    println!("ln: max {worst_ln} ulp from wasi-libc");
    println!("F64x2 lanes differing from scalar: {simd_mismatch}");
    for (name, worst) in [("sin", worst_sin), ("cos", worst_cos), ("ln", worst_ln)] {
        if worst > 1 {
            failures.push(format!("{name} is {worst} ulp from wasi-libc"));
        }
    }
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("FAIL: {f}");
        }
        std::process::exit(1);
    }
}
