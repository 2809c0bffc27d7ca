//! Checking floating-point functions: how far apart two `f64`s are, in
//! units in the last place, and the inputs on which the SDK's math is
//! checked (by its unit tests natively, by the `math` test program in a
//! guest).

use crate::rng::Lcg;

/// The distance between `a` and `b` in units in the last place: the
/// number of representable `f64`s from one to the other (0 for equal
/// values, including `0.0` and `-0.0`; 1 for neighbours). Two NaNs are 0
/// apart; a NaN and a number `u64::MAX`.
pub fn ulps(a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() {
            0
        } else {
            u64::MAX
        };
    }
    // Map the bits onto a line on which adjacent floats are adjacent
    // integers: negative floats count down from zero.
    let ord = |x: f64| {
        let b = x.to_bits() as i64;
        if b < 0 { i64::MIN - b } else { b }
    };
    (ord(a) as i128 - ord(b) as i128).unsigned_abs() as u64
}

/// `a` and `b` are the same bits, or both NaN.
pub fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Inputs that probe `sin`, `cos` and `ln` implementations, seeded, in
/// this order: `n` uniform in [-100, 105) (Task 2's arguments: the first
/// `n` elements), `n` of every magnitude from 1e-310 to 1e310 with either
/// sign, the multiples `k·π/2` for `k` in `1..n/10` with both neighbours
/// (where a range reduction cancels), and the special values (zeros,
/// infinities, NaN, subnormals, the extremes, and both sides of 2^20). The
/// length is even, so the inputs split into pairs.
pub fn probe_inputs(n: usize) -> Vec<f64> {
    let mut rng = Lcg::new(7);
    let mut xs: Vec<f64> = (0..n).map(|_| rng.unit() * 205.0 - 100.0).collect();
    xs.extend((0..n).map(|_| {
        let m = 10f64.powf(rng.unit() * 620.0 - 310.0);
        if rng.unit() < 0.5 { -m } else { m }
    }));
    for k in 1..(n / 10) as i64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulps_counts_representable_steps() {
        assert_eq!(ulps(1.0, 1.0), 0);
        assert_eq!(ulps(0.0, -0.0), 0);
        assert_eq!(ulps(1.0, 1.0 + f64::EPSILON), 1);
        assert_eq!(ulps(1.0 + f64::EPSILON, 1.0), 1);
        assert_eq!(ulps(1.0, 1.0 - f64::EPSILON / 2.0), 1);
        assert_eq!(ulps(5e-324, -5e-324), 2, "across zero");
        assert_eq!(ulps(f64::MAX, f64::INFINITY), 1);
        assert_eq!(ulps(f64::NAN, f64::NAN), 0);
        assert_eq!(ulps(f64::NAN, 1.0), u64::MAX);
        assert_eq!(ulps(1.0, 2.0), 1 << 52);
    }

    #[test]
    fn same_is_bitwise() {
        assert!(same(1.5, 1.5));
        assert!(same(f64::NAN, -f64::NAN));
        assert!(!same(0.0, -0.0));
        assert!(!same(1.0, 1.0 + f64::EPSILON));
    }

    #[test]
    fn probe_inputs_cover_what_they_promise() {
        let xs = probe_inputs(1000);
        assert_eq!(xs.len() % 2, 0);
        assert_eq!(xs.len(), 2 * 1000 + 3 * 99 + 18 + 1);
        assert!(xs[..1000].iter().all(|x| (-100.0..105.0).contains(x)));
        let magnitudes = &xs[1000..2000];
        assert!(magnitudes.iter().any(|x| x.abs() < 1e-300));
        assert!(magnitudes.iter().any(|x| x.abs() > 1e300));
        assert!(magnitudes.iter().any(|x| *x < 0.0) && magnitudes.iter().any(|x| *x > 0.0));
        assert!(xs.iter().any(|x| x.is_nan()));
        assert!(xs.contains(&f64::NEG_INFINITY) && xs.contains(&5e-324));
        assert!(xs.contains(&std::f64::consts::FRAC_PI_2));
        assert_eq!(probe_inputs(1000)[..2000], xs[..2000], "seeded");
    }
}
