//! Fast elementary functions for guests: [`sin_cos`] and [`ln`] on `f64`,
//! one value at a time or two at a time ([`F64x2`], WebAssembly SIMD).
//!
//! Why this exists: a `wasm32-wasip2` guest's `f64::sin`, `cos` and `ln`
//! are wasi-libc's, i.e. musl's fdlibm code, which natively runs 1.7× slower
//! than glibc's, and calling `sin` and `cos` of the same value reduces the
//! argument twice. Math-heavy guests (the lab's Task 2 is one) spend most of
//! their time there (see BENCHMARKS.md).
//!
//! What it is: the fdlibm algorithms themselves (the same range reduction,
//! polynomials and constants as musl's `__rem_pio2`, `__sin`, `__cos` and
//! `log`), arranged so that
//! - [`sin_cos`] reduces its argument once for both results;
//! - [`F64x2`] runs them on two lanes at once with `simd128` instructions
//!   when the guest is built with `-C target-feature=+simd128` (this repo's
//!   `.cargo/config.toml` does that for `wasm32-wasip2`); without it, the
//!   same type works lane by lane.
//!
//! Accuracy: within 1 ulp of the correctly rounded result for the fast path,
//! like musl (tested against wasi-libc over millions of inputs: at most
//! 1 ulp apart, and bit-identical between the scalar and the SIMD form, so
//! a computation gives the same bits whichever form a task uses). Inputs off
//! the fast path — `|x| ≥ 2^20` or an argument within 2^-27 of a multiple of
//! π/2 for [`sin_cos`]; zero, negative, subnormal, infinite or NaN for
//! [`ln`] — are handed to the standard library, so every input gets a
//! correct answer.
//!
//! Longer than ~600 lines by its unit tests (the code is under 600): they
//! check each function against `std` over its whole range.

use std::ops::{Add, Div, Mul, Neg, Sub};

// fdlibm's constants, as their exact bits (the decimal each was given as
// follows it).
const FRAC_2_PI: f64 = std::f64::consts::FRAC_2_PI;
/// Adding this rounds a value below 2^51 to an integer held in the low bits.
const TOINT: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
/// π/2 in three parts: the first 33 bits, the next 33, and the rest.
const PIO2_1: f64 = f64::from_bits(0x3ff9_21fb_5440_0000); // 1.57079632673412561417
const PIO2_2: f64 = f64::from_bits(0x3dd0_b461_1a60_0000); // 6.0771005063039659766e-11
const PIO2_2T: f64 = f64::from_bits(0x3ba3_198a_2e03_7073); // 2.02226624879595063154e-21
/// Beyond this, `n · PIO2_1` is no longer exact: the standard library takes over.
const REDUCE_LIMIT: f64 = 1_048_576.0; // 2^20
/// A reduced argument this small lost too many bits to cancellation.
const TINY: f64 = 7.450_580_596_923_828e-9; // 2^-27

const S1: f64 = f64::from_bits(0xbfc5_5555_5555_5549); // -1.66666666666666324348e-1
const S2: f64 = f64::from_bits(0x3f81_1111_1110_f8a6); // 8.33333333332248946124e-3
const S3: f64 = f64::from_bits(0xbf2a_01a0_19c1_61d5); // -1.98412698298579493134e-4
const S4: f64 = f64::from_bits(0x3ec7_1de3_57b1_fe7d); // 2.75573137070700676789e-6
const S5: f64 = f64::from_bits(0xbe5a_e5e6_8a2b_9ceb); // -2.50507602534068634195e-8
const S6: f64 = f64::from_bits(0x3de5_d93a_5acf_d57c); // 1.58969099521155010221e-10

const C1: f64 = f64::from_bits(0x3fa5_5555_5555_554c); // 4.16666666666666019037e-2
const C2: f64 = f64::from_bits(0xbf56_c16c_16c1_5177); // -1.38888888888741095749e-3
const C3: f64 = f64::from_bits(0x3efa_01a0_19cb_1590); // 2.48015872894767294178e-5
const C4: f64 = f64::from_bits(0xbe92_7e4f_809c_52ad); // -2.75573143513906633035e-7
const C5: f64 = f64::from_bits(0x3e21_ee9e_bdb4_b1c4); // 2.08757232129817482790e-9
const C6: f64 = f64::from_bits(0xbda8_fae9_be88_38d4); // -1.13596475577881948265e-11

const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // 6.93147180369123816490e-1
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76); // 1.90821492927058770002e-10
const LG1: f64 = f64::from_bits(0x3fe5_5555_5555_5593); // 6.666666666666735130e-1
const LG2: f64 = f64::from_bits(0x3fd9_9999_9997_fa04); // 3.999999999940941908e-1
const LG3: f64 = f64::from_bits(0x3fd2_4924_9422_9359); // 2.857142874366239149e-1
const LG4: f64 = f64::from_bits(0x3fcc_71c5_1d8e_78af); // 2.222219843214978396e-1
const LG5: f64 = f64::from_bits(0x3fc7_4664_96cb_03de); // 1.818357216161805012e-1
const LG6: f64 = f64::from_bits(0x3fc3_9a09_d078_c69f); // 1.531383769920937332e-1
const LG7: f64 = f64::from_bits(0x3fc2_f112_df3e_5244); // 1.479819860511658591e-1
/// Moves the mantissa of a normal number into [√2/2, √2) (added to the bits).
const LN_SHIFT: u64 = (0x3ff0_0000 - 0x3fe6_a09e) << 32;
const LN_BASE: u64 = 0x3fe6_a09e << 32;
const MANTISSA: u64 = 0x000f_ffff_ffff_ffff;
const MIN_NORMAL_BITS: u64 = 0x0010_0000_0000_0000;
const INF_BITS: u64 = 0x7ff0_0000_0000_0000;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
const TWO52: f64 = (1u64 << 52) as f64;

/// `(sin x, cos x)`, reducing `x` once for both.
#[inline]
pub fn sin_cos(x: f64) -> (f64, f64) {
    // (NaN fails the comparison too.)
    if x.is_nan() || x.abs() >= REDUCE_LIMIT {
        return (x.sin(), x.cos());
    }
    let t = x * FRAC_2_PI + TOINT;
    let n = t - TOINT;
    let (y0, y1) = reduce(x, n);
    if y0.abs() < TINY && x.abs() > 0.5 {
        return (x.sin(), x.cos());
    }
    let (s, c) = (kernel_sin(y0, y1), kernel_cos(y0, y1));
    // The low bits of `t` hold n mod 4: the quadrant.
    match t.to_bits() & 3 {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

/// The natural logarithm of `x`.
#[inline]
pub fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    if bits.wrapping_sub(MIN_NORMAL_BITS) >= INF_BITS - MIN_NORMAL_BITS {
        return x.ln();
    }
    let ix = bits + LN_SHIFT;
    let k = ((ix >> 52) as i64 - 0x3ff) as f64;
    let f = f64::from_bits((ix & MANTISSA) + LN_BASE) - 1.0;
    ln_kernel(f, k)
}

/// `x - n·π/2` as a double-double `y0 + y1` (fdlibm's second iteration).
#[inline(always)]
fn reduce(x: f64, n: f64) -> (f64, f64) {
    let t = x - n * PIO2_1; // exact for |n| < 2^20
    let w = n * PIO2_2; // exact: PIO2_2 has 33 bits
    let r = t - w;
    let w = n * PIO2_2T - ((t - r) - w);
    let y0 = r - w;
    (y0, (r - y0) - w)
}

#[inline(always)]
fn kernel_sin(x: f64, y: f64) -> f64 {
    let z = x * x;
    let w = z * z;
    let r = S2 + z * (S3 + z * S4) + z * w * (S5 + z * S6);
    let v = z * x;
    x - ((z * (0.5 * y - v * r) - y) - v * S1)
}

#[inline(always)]
fn kernel_cos(x: f64, y: f64) -> f64 {
    let z = x * x;
    let w = z * z;
    let r = z * (C1 + z * (C2 + z * C3)) + w * w * (C4 + z * (C5 + z * C6));
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    w + (((1.0 - w) - hz) + (z * r - x * y))
}

#[inline(always)]
fn ln_kernel(f: f64, k: f64) -> f64 {
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    s * (hfsq + r) + k * LN2_LO - hfsq + f + k * LN2_HI
}

/// Two `f64` lanes, computed together: WebAssembly `simd128` when the guest
/// is built with it, lane by lane otherwise. Arithmetic, [`sqrt`](Self::sqrt),
/// [`abs`](Self::abs), [`sin_cos`](Self::sin_cos) and [`ln`](Self::ln) give
/// bit for bit what the scalar functions give on each lane.
///
/// ```ignore
/// use raylab_guest::math::F64x2;
/// let out = F64x2::map(&[0.5, 1.0, 2.0], |x| {
///     let (s, c) = x.sin_cos();
///     s * c + x.ln()
/// });
/// ```
#[derive(Clone, Copy, Debug)]
pub struct F64x2(imp::Repr);

impl F64x2 {
    /// Both lanes `x`.
    #[inline]
    pub fn splat(x: f64) -> Self {
        Self::new(x, x)
    }

    /// Lanes `a` and `b`.
    #[inline]
    pub fn new(a: f64, b: f64) -> Self {
        F64x2(imp::new(a, b))
    }

    /// The two lanes.
    #[inline]
    pub fn to_array(self) -> [f64; 2] {
        imp::to_array(self.0)
    }

    /// Square root of each lane.
    #[inline]
    pub fn sqrt(self) -> Self {
        F64x2(imp::sqrt(self.0))
    }

    /// Absolute value of each lane.
    #[inline]
    pub fn abs(self) -> Self {
        F64x2(imp::abs(self.0))
    }

    /// `(sin, cos)` of each lane; see [`sin_cos`].
    #[inline]
    pub fn sin_cos(self) -> (Self, Self) {
        let (s, c) = imp::sin_cos(self.0);
        (F64x2(s), F64x2(c))
    }

    /// Natural logarithm of each lane; see [`ln`].
    #[inline]
    pub fn ln(self) -> Self {
        F64x2(imp::ln(self.0))
    }

    /// `f` over `values` in place, two elements at a time (an odd last
    /// element is computed in a pair with itself): no new vector, so no
    /// fresh pages to fault in.
    pub fn map_in_place(values: &mut [f64], f: impl Fn(F64x2) -> F64x2) {
        let mut pairs = values.chunks_exact_mut(2);
        for p in &mut pairs {
            let [a, b] = f(F64x2::new(p[0], p[1])).to_array();
            p[0] = a;
            p[1] = b;
        }
        if let [last] = pairs.into_remainder() {
            *last = f(F64x2::splat(*last)).to_array()[0];
        }
    }

    /// `f` over `input`, two elements at a time (an odd last element is
    /// computed in a pair with itself).
    pub fn map(input: &[f64], f: impl Fn(F64x2) -> F64x2) -> Vec<f64> {
        let mut out = Vec::with_capacity(input.len());
        let mut pairs = input.chunks_exact(2);
        for p in &mut pairs {
            out.extend_from_slice(&f(F64x2::new(p[0], p[1])).to_array());
        }
        if let [last] = pairs.remainder() {
            out.push(f(F64x2::splat(*last)).to_array()[0]);
        }
        out
    }
}

macro_rules! binary_op {
    ($trait:ident, $method:ident) => {
        impl $trait for F64x2 {
            type Output = F64x2;
            #[inline]
            fn $method(self, rhs: F64x2) -> F64x2 {
                F64x2(imp::$method(self.0, rhs.0))
            }
        }
        impl $trait<f64> for F64x2 {
            type Output = F64x2;
            #[inline]
            fn $method(self, rhs: f64) -> F64x2 {
                F64x2(imp::$method(self.0, F64x2::splat(rhs).0))
            }
        }
        impl $trait<F64x2> for f64 {
            type Output = F64x2;
            #[inline]
            fn $method(self, rhs: F64x2) -> F64x2 {
                F64x2(imp::$method(F64x2::splat(self).0, rhs.0))
            }
        }
    };
}
binary_op!(Add, add);
binary_op!(Sub, sub);
binary_op!(Mul, mul);
binary_op!(Div, div);

impl Neg for F64x2 {
    type Output = F64x2;
    #[inline]
    fn neg(self) -> F64x2 {
        F64x2(imp::neg(self.0))
    }
}

/// The `simd128` form: the scalar algorithms above, instruction for
/// instruction, on both lanes; lanes off the fast path go to the scalar code.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use super::*;
    use core::arch::wasm32::*;

    pub(super) type Repr = v128;

    #[inline(always)]
    pub(super) fn new(a: f64, b: f64) -> v128 {
        f64x2(a, b)
    }
    #[inline(always)]
    pub(super) fn to_array(v: v128) -> [f64; 2] {
        [f64x2_extract_lane::<0>(v), f64x2_extract_lane::<1>(v)]
    }
    #[inline(always)]
    pub(super) fn add(a: v128, b: v128) -> v128 {
        f64x2_add(a, b)
    }
    #[inline(always)]
    pub(super) fn sub(a: v128, b: v128) -> v128 {
        f64x2_sub(a, b)
    }
    #[inline(always)]
    pub(super) fn mul(a: v128, b: v128) -> v128 {
        f64x2_mul(a, b)
    }
    #[inline(always)]
    pub(super) fn div(a: v128, b: v128) -> v128 {
        f64x2_div(a, b)
    }
    #[inline(always)]
    pub(super) fn neg(a: v128) -> v128 {
        f64x2_neg(a)
    }
    #[inline(always)]
    pub(super) fn sqrt(a: v128) -> v128 {
        f64x2_sqrt(a)
    }
    #[inline(always)]
    pub(super) fn abs(a: v128) -> v128 {
        f64x2_abs(a)
    }
    #[inline(always)]
    fn splat(x: f64) -> v128 {
        f64x2_splat(x)
    }
    /// `(a, b)` with each lane where `mask` is set replaced by `f` of that
    /// lane of `x`.
    #[cold]
    #[inline(never)]
    fn patch2(x: v128, a: v128, b: v128, mask: v128, f: fn(f64) -> (f64, f64)) -> (v128, v128) {
        let (mut a, mut b) = (a, b);
        let x = to_array(x);
        if i64x2_extract_lane::<0>(mask) != 0 {
            let (s, c) = f(x[0]);
            a = f64x2_replace_lane::<0>(a, s);
            b = f64x2_replace_lane::<0>(b, c);
        }
        if i64x2_extract_lane::<1>(mask) != 0 {
            let (s, c) = f(x[1]);
            a = f64x2_replace_lane::<1>(a, s);
            b = f64x2_replace_lane::<1>(b, c);
        }
        (a, b)
    }

    #[inline(always)]
    pub(super) fn sin_cos(x: v128) -> (v128, v128) {
        let t = f64x2_add(f64x2_mul(x, splat(FRAC_2_PI)), splat(TOINT));
        let n = f64x2_sub(t, splat(TOINT));
        // reduce()
        let tt = f64x2_sub(x, f64x2_mul(n, splat(PIO2_1)));
        let w = f64x2_mul(n, splat(PIO2_2));
        let r = f64x2_sub(tt, w);
        let w = f64x2_sub(f64x2_mul(n, splat(PIO2_2T)), f64x2_sub(f64x2_sub(tt, r), w));
        let y0 = f64x2_sub(r, w);
        let y1 = f64x2_sub(f64x2_sub(r, y0), w);
        let s = kernel_sin(y0, y1);
        let c = kernel_cos(y0, y1);
        // Quadrant: bit 0 of n swaps sin and cos; bit 1 negates sin, and
        // bit 1 of n + 1 negates cos.
        let q = t;
        let swap = i64x2_ne(v128_and(q, i64x2_splat(1)), i64x2_splat(0));
        let sin = v128_bitselect(c, s, swap);
        let cos = v128_bitselect(s, c, swap);
        let sin_sign = i64x2_shl(v128_and(q, i64x2_splat(2)), 62);
        let cos_sign = i64x2_shl(v128_and(i64x2_add(q, i64x2_splat(1)), i64x2_splat(2)), 62);
        let sin = v128_xor(sin, sin_sign);
        let cos = v128_xor(cos, cos_sign);
        // Lanes off the fast path: |x| ≥ 2^20 (or NaN), or cancellation.
        let ax = f64x2_abs(x);
        let off = v128_or(
            v128_not(f64x2_lt(ax, splat(REDUCE_LIMIT))),
            v128_and(
                f64x2_lt(f64x2_abs(y0), splat(TINY)),
                f64x2_gt(ax, splat(0.5)),
            ),
        );
        if v128_any_true(off) {
            return patch2(x, sin, cos, off, |x| (x.sin(), x.cos()));
        }
        (sin, cos)
    }

    #[inline(always)]
    fn kernel_sin(x: v128, y: v128) -> v128 {
        let z = f64x2_mul(x, x);
        let w = f64x2_mul(z, z);
        let r = f64x2_add(
            f64x2_add(
                splat(S2),
                f64x2_mul(z, f64x2_add(splat(S3), f64x2_mul(z, splat(S4)))),
            ),
            f64x2_mul(
                f64x2_mul(z, w),
                f64x2_add(splat(S5), f64x2_mul(z, splat(S6))),
            ),
        );
        let v = f64x2_mul(z, x);
        let inner = f64x2_sub(
            f64x2_mul(z, f64x2_sub(f64x2_mul(splat(0.5), y), f64x2_mul(v, r))),
            y,
        );
        f64x2_sub(x, f64x2_sub(inner, f64x2_mul(v, splat(S1))))
    }

    #[inline(always)]
    fn kernel_cos(x: v128, y: v128) -> v128 {
        let z = f64x2_mul(x, x);
        let w = f64x2_mul(z, z);
        let p1 = f64x2_mul(
            z,
            f64x2_add(
                splat(C1),
                f64x2_mul(z, f64x2_add(splat(C2), f64x2_mul(z, splat(C3)))),
            ),
        );
        let p2 = f64x2_mul(
            f64x2_mul(w, w),
            f64x2_add(
                splat(C4),
                f64x2_mul(z, f64x2_add(splat(C5), f64x2_mul(z, splat(C6)))),
            ),
        );
        let r = f64x2_add(p1, p2);
        let hz = f64x2_mul(splat(0.5), z);
        let w = f64x2_sub(splat(1.0), hz);
        let corr = f64x2_add(
            f64x2_sub(f64x2_sub(splat(1.0), w), hz),
            f64x2_sub(f64x2_mul(z, r), f64x2_mul(x, y)),
        );
        f64x2_add(w, corr)
    }

    #[inline(always)]
    pub(super) fn ln(x: v128) -> v128 {
        let ix = i64x2_add(x, i64x2_splat(LN_SHIFT as i64));
        // k = biased exponent - 1023, converted through 2^52 + k.
        let two52 = i64x2_splat(0x4330_0000_0000_0000);
        let e = v128_or(u64x2_shr(ix, 52), two52);
        let k = f64x2_sub(e, splat(TWO52 + 1023.0));
        let m = i64x2_add(
            v128_and(ix, i64x2_splat(MANTISSA as i64)),
            i64x2_splat(LN_BASE as i64),
        );
        let f = f64x2_sub(m, splat(1.0));

        let hfsq = f64x2_mul(f64x2_mul(splat(0.5), f), f);
        let s = f64x2_div(f, f64x2_add(splat(2.0), f));
        let z = f64x2_mul(s, s);
        let w = f64x2_mul(z, z);
        let t1 = f64x2_mul(
            w,
            f64x2_add(
                splat(LG2),
                f64x2_mul(w, f64x2_add(splat(LG4), f64x2_mul(w, splat(LG6)))),
            ),
        );
        let t2 = f64x2_mul(
            z,
            f64x2_add(
                splat(LG1),
                f64x2_mul(
                    w,
                    f64x2_add(
                        splat(LG3),
                        f64x2_mul(w, f64x2_add(splat(LG5), f64x2_mul(w, splat(LG7)))),
                    ),
                ),
            ),
        );
        let r = f64x2_add(t2, t1);
        let out = f64x2_add(
            f64x2_add(
                f64x2_sub(
                    f64x2_add(
                        f64x2_mul(s, f64x2_add(hfsq, r)),
                        f64x2_mul(k, splat(LN2_LO)),
                    ),
                    hfsq,
                ),
                f,
            ),
            f64x2_mul(k, splat(LN2_HI)),
        );
        // Lanes that are not positive normal finite numbers.
        // (As signed integers, negative numbers are below MIN_NORMAL_BITS.)
        let off = v128_not(v128_and(
            i64x2_ge(x, i64x2_splat(MIN_NORMAL_BITS as i64)),
            i64x2_lt(x, i64x2_splat(INF_BITS as i64)),
        ));
        if v128_any_true(off) {
            return patch2(x, out, out, off, |x| (x.ln(), 0.0)).0;
        }
        out
    }
}

/// The portable form: each lane through the scalar functions.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    pub(super) type Repr = [f64; 2];

    #[inline(always)]
    pub(super) fn new(a: f64, b: f64) -> Repr {
        [a, b]
    }
    #[inline(always)]
    pub(super) fn to_array(v: Repr) -> [f64; 2] {
        v
    }
    #[inline(always)]
    fn lanes(a: Repr, f: impl Fn(f64) -> f64) -> Repr {
        [f(a[0]), f(a[1])]
    }
    #[inline(always)]
    fn lanes2(a: Repr, b: Repr, f: impl Fn(f64, f64) -> f64) -> Repr {
        [f(a[0], b[0]), f(a[1], b[1])]
    }
    #[inline(always)]
    pub(super) fn add(a: Repr, b: Repr) -> Repr {
        lanes2(a, b, |x, y| x + y)
    }
    #[inline(always)]
    pub(super) fn sub(a: Repr, b: Repr) -> Repr {
        lanes2(a, b, |x, y| x - y)
    }
    #[inline(always)]
    pub(super) fn mul(a: Repr, b: Repr) -> Repr {
        lanes2(a, b, |x, y| x * y)
    }
    #[inline(always)]
    pub(super) fn div(a: Repr, b: Repr) -> Repr {
        lanes2(a, b, |x, y| x / y)
    }
    #[inline(always)]
    pub(super) fn neg(a: Repr) -> Repr {
        lanes(a, |x| -x)
    }
    #[inline(always)]
    pub(super) fn sqrt(a: Repr) -> Repr {
        lanes(a, f64::sqrt)
    }
    #[inline(always)]
    pub(super) fn abs(a: Repr) -> Repr {
        lanes(a, f64::abs)
    }
    #[inline(always)]
    pub(super) fn sin_cos(a: Repr) -> (Repr, Repr) {
        let (s0, c0) = super::sin_cos(a[0]);
        let (s1, c1) = super::sin_cos(a[1]);
        ([s0, s1], [c0, c1])
    }
    #[inline(always)]
    pub(super) fn ln(a: Repr) -> Repr {
        lanes(a, super::ln)
    }
}

#[cfg(test)]
mod tests {
    //! Natively, against the platform's libm (the guest-side check against
    //! wasi-libc, and of the `simd128` form, is the `math` test program);
    //! natively `F64x2` is the portable form.
    use super::*;
    use raylab_labkit::float::{probe_inputs, same, ulps};

    /// The inputs checked (see `probe_inputs`), fewer than the guest's
    /// check takes: this runs in debug builds too.
    const N: usize = 200_000;

    #[test]
    fn sin_cos_is_within_one_ulp_of_std() {
        for x in probe_inputs(N) {
            let (s, c) = sin_cos(x);
            let (ds, dc) = (ulps(s, x.sin()), ulps(c, x.cos()));
            assert!(
                ds <= 1 && dc <= 1,
                "sin_cos({x:e}) = ({s:e}, {c:e}): {ds}, {dc} ulp"
            );
        }
        assert_eq!(sin_cos(0.0), (0.0, 1.0));
        assert!(same(sin_cos(-0.0).0, -0.0));
        let (s, c) = sin_cos(f64::INFINITY);
        assert!(s.is_nan() && c.is_nan());
    }

    #[test]
    fn ln_is_within_one_ulp_of_std() {
        let mut xs = probe_inputs(N);
        // Task 2's own arguments, 1 + y².
        xs.extend((0..100_000).map(|i| {
            let y = i as f64 * 0.002 - 100.0;
            1.0 + y * y
        }));
        for x in xs {
            let l = ln(x);
            assert!(ulps(l, x.ln()) <= 1, "ln({x:e}) = {l:e}, std {:e}", x.ln());
        }
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert!(ln(-1.0).is_nan());
        assert_eq!(ln(f64::INFINITY), f64::INFINITY);
        assert!(ln(f64::NAN).is_nan());
    }

    #[test]
    fn f64x2_lanes_are_the_scalar_results() {
        let xs = probe_inputs(N);
        for pair in xs.chunks_exact(2) {
            let v = F64x2::new(pair[0], pair[1]);
            let (s, c) = v.sin_cos();
            let (s, c, l) = (s.to_array(), c.to_array(), v.ln().to_array());
            for (lane, &x) in pair.iter().enumerate() {
                let (es, ec) = sin_cos(x);
                assert!(
                    same(s[lane], es) && same(c[lane], ec),
                    "sin_cos lane {lane} at {x:e}"
                );
                assert!(same(l[lane], ln(x)), "ln lane {lane} at {x:e}");
            }
        }
        let (a, b) = (F64x2::new(3.0, -4.0), F64x2::splat(2.0));
        assert_eq!((a + b).to_array(), [5.0, -2.0]);
        assert_eq!((a - b).to_array(), [1.0, -6.0]);
        assert_eq!((a * b).to_array(), [6.0, -8.0]);
        assert_eq!((a / b).to_array(), [1.5, -2.0]);
        assert_eq!((-a).to_array(), [-3.0, 4.0]);
        assert_eq!((1.0 + a * 2.0 - 0.5).to_array(), [6.5, -7.5]);
        assert_eq!(a.abs().to_array(), [3.0, 4.0]);
        assert_eq!((a * a).sqrt().to_array(), [3.0, 4.0]);
    }

    #[test]
    fn f64x2_map_keeps_order_and_handles_an_odd_length() {
        let f = |v: F64x2| v.sin_cos().0 + v.ln();
        for xs in [
            vec![],
            vec![0.25],
            vec![0.25, 1.5, 3.0],
            vec![0.5, 2.0, 4.0, 8.0],
        ] {
            let mapped = F64x2::map(&xs, f);
            let expect: Vec<f64> = xs.iter().map(|&x| sin_cos(x).0 + ln(x)).collect();
            assert_eq!(mapped, expect, "{xs:?}");
            let mut in_place = xs.clone();
            F64x2::map_in_place(&mut in_place, f);
            assert_eq!(in_place, expect, "in place: {xs:?}");
        }
    }
}
