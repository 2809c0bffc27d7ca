//! Accuracy of `raylab_guest::math` against wasi-libc's `sin`, `cos` and
//! `ln`, and bit-identity of its SIMD form (`F64x2`) with its scalar form,
//! over random inputs in Task 2's range and over all magnitudes, arguments
//! next to multiples of π/2 (where range reduction cancels) and the special
//! values. Prints one line per function and exits non-zero on any failure.

use raylab_guest::math::{F64x2, ln, sin_cos};

/// Distance in units in the last place; NaN and NaN are 0 apart.
fn ulps(a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() {
            0
        } else {
            u64::MAX
        };
    }
    let ord = |x: f64| {
        let b = x.to_bits() as i64;
        if b < 0 { i64::MIN - b } else { b }
    };
    (ord(a) as i128 - ord(b) as i128).unsigned_abs() as u64
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn inputs() -> Vec<f64> {
    let mut state = 7u64;
    let mut unit = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut xs: Vec<f64> = (0..1_000_000).map(|_| unit() * 205.0 - 100.0).collect();
    xs.extend((0..1_000_000).map(|_| {
        let m = 10f64.powf(unit() * 620.0 - 310.0);
        if unit() < 0.5 { -m } else { m }
    }));
    for k in 1..100_000i64 {
        let v = k as f64 * std::f64::consts::FRAC_PI_2;
        xs.extend([
            v,
            f64::from_bits(v.to_bits() + 1),
            f64::from_bits(v.to_bits() - 1),
        ]);
    }
    xs.extend([
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        2.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        1_048_576.0,
        1_048_575.999_999_9,
        -1_048_576.0,
        1e300,
        5e-324,
        -5e-324,
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
    ]);
    if xs.len() % 2 == 1 {
        xs.push(3.0);
    }
    xs
}

fn main() {
    let xs = inputs();
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
