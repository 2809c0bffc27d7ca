//! Task 3's matrices and the CPU product the GPU's is checked against (the
//! host's bench times the same product natively).

use crate::rng::Lcg;

/// A seeded `n`×`n` row-major matrix of values uniform in [-0.5, 0.5),
/// drawn from [`Lcg`] (the same bits on every target).
pub fn matrix(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Lcg::new(seed);
    (0..n * n).map(|_| rng.centered_f32()).collect()
}

/// `a · b` for row-major `n`×`n` matrices, the naive i-k-j loop in `f32`.
///
/// # Panics
///
/// If `a` or `b` holds fewer than `n * n` elements.
pub fn cpu_matmul(a: &[f32], b: &[f32], n: usize) -> Vec<f32> {
    let mut c = vec![0.0f32; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                c[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_is_seeded_and_in_range() {
        let m = matrix(2, 1);
        let bits: Vec<u32> = m.iter().map(|x| x.to_bits()).collect();
        assert_eq!(bits, [0xbd9d_4488, 0x3c1a_2180, 0x3e17_eb84, 0xbdef_e558]);
        let big = matrix(64, 3);
        assert_eq!(big.len(), 64 * 64);
        assert!(big.iter().all(|x| (-0.5..0.5).contains(x)));
        assert_eq!(big, matrix(64, 3));
        assert_ne!(big, matrix(64, 4));
    }

    #[test]
    fn matmul_multiplies() {
        // [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50]
        assert_eq!(
            cpu_matmul(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0], 2),
            [19.0, 22.0, 43.0, 50.0]
        );
        // The identity changes nothing (an odd size, n = 3).
        let a = matrix(3, 9);
        let id = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        assert_eq!(cpu_matmul(&a, &id, 3), a);
        assert_eq!(cpu_matmul(&id, &a, 3), a);
        assert!(cpu_matmul(&[], &[], 0).is_empty());
    }
}
