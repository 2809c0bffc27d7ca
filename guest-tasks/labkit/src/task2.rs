//! Task 2's data and per-element math, the same for the guest (which passes
//! the SDK's fast `sin_cos` and `ln`, or wasi-libc's) and for native code
//! (the host's bench baseline, on the platform's libm).

use crate::rng::SplitMix64;

/// The data's range is [`LOW`, `HIGH`).
pub const LOW: f64 = -100.0;
/// See [`LOW`].
pub const HIGH: f64 = 100.0;

/// The lab's data: `n` numbers uniform in [-100, 100) drawn from
/// [`SplitMix64`] seeded with `seed`. The same bits on every target.
pub fn data(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| rng.uniform(LOW, HIGH)).collect()
}

/// The per-element work of the lab, the Python lab's math:
/// `Σ_{k=0..4} sin(y)·cos(y) + sqrt(|y|) + ln(1 + y²)` with `y = x + k`,
/// on the given `sin_cos` (returning `(sin y, cos y)`) and `ln`.
#[inline(always)]
pub fn calc_with(x: f64, sin_cos: impl Fn(f64) -> (f64, f64), ln: impl Fn(f64) -> f64) -> f64 {
    let mut acc = 0.0;
    for k in 0..5 {
        let y = x + k as f64;
        let (sin, cos) = sin_cos(y);
        acc += sin * cos + y.abs().sqrt() + ln(1.0 + y * y);
    }
    acc
}

/// [`calc_with`] on the standard library's `sin`, `cos` and `ln` (in a
/// guest, wasi-libc's; natively, the platform's libm).
#[inline]
pub fn calc_std(x: f64) -> f64 {
    calc_with(x, |y| (y.sin(), y.cos()), f64::ln)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_seeded_and_in_range() {
        let a = data(100_000, 42);
        assert_eq!(a.len(), 100_000);
        assert!(a.iter().all(|x| (LOW..HIGH).contains(x)));
        assert_eq!(a, data(100_000, 42), "same seed, same data");
        assert_ne!(a[..10], data(10, 7)[..], "another seed, other data");
        assert_eq!(data(3, 42), a[..3], "a shorter run is a prefix");
        // The lab's data with its default seed, element 0 and the sum of a
        // million (an exact fingerprint of the whole sequence).
        assert_eq!(a[0].to_bits(), 0x4048_280f_96ea_b7f4);
        let sum: f64 = data(1_000_000, 42).iter().sum();
        assert_eq!(sum.to_bits(), 0x40e3_8671_4671_9296, "{sum}");
    }

    #[test]
    fn calc_sums_the_five_terms() {
        // By hand for x = 0: y = 0..4.
        let by_hand: f64 = (0..5)
            .map(|k| {
                let y = k as f64;
                y.sin() * y.cos() + y.sqrt() + (1.0 + y * y).ln()
            })
            .sum();
        assert!((calc_std(0.0) - by_hand).abs() < 1e-12);
        // Fixed values (natively, on the platform's libm).
        for (x, expect) in [
            (0.0, 14.015866739957385),
            (1.5, 21.01092621293069),
            (-37.25, 65.86049559965201),
            (99.9, 96.48725346203),
        ] {
            let got = calc_std(x);
            assert!(
                (got - expect).abs() <= 1e-13 * expect,
                "calc({x}) = {got}, not {expect}"
            );
        }
    }

    #[test]
    fn calc_uses_the_functions_it_is_given() {
        // sin·cos = 0 and ln = 0: only the square roots remain.
        let roots = calc_with(2.0, |_| (0.0, 0.0), |_| 0.0);
        let expect: f64 = (2..7).map(|y| (y as f64).sqrt()).sum();
        assert_eq!(roots, expect);
        // ln is given 1 + y², sin_cos is given y.
        let seen = std::cell::RefCell::new(Vec::new());
        calc_with(
            -1.0,
            |y| {
                seen.borrow_mut().push(("sin_cos", y));
                (0.0, 0.0)
            },
            |z| {
                seen.borrow_mut().push(("ln", z));
                0.0
            },
        );
        let seen = seen.into_inner();
        let expect: Vec<(&str, f64)> = (0..5)
            .flat_map(|k| {
                let y = -1.0 + k as f64;
                [("sin_cos", y), ("ln", 1.0 + y * y)]
            })
            .collect();
        assert_eq!(seen, expect);
    }
}
