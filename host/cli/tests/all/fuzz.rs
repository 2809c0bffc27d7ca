//! Fuzzing module loading: real guest components, mutated (bits flipped,
//! bytes replaced, ranges cut or repeated, tails dropped) and loaded into a
//! node. Each one loads or is refused with an error; the host never panics
//! or hangs. A bounded number of iterations runs in CI; set
//! `RAYLAB_FUZZ_MODULES=N` for a longer run (figures in BENCHMARKS.md).
//! MessagePack argument decoding is fuzzed in the runtime's unit tests
//! (`msgpack::tests::fuzz_*`, `RAYLAB_FUZZ_ITERATIONS`).

use std::time::{Duration, Instant};

use raylab::{Config, Runtime};

use crate::{budget, guests};

/// The lab helpers' SplitMix64, with the bounded draw these tests use.
struct Rng(raylab_labkit::rng::SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four random mutations of `bytes`.
fn mutate(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(4) {
        let len = bytes.len();
        match rng.below(5) {
            0 => {
                let i = rng.below(len);
                bytes[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len);
                bytes[i] = rng.next() as u8;
            }
            2 => {
                let at = rng.below(len);
                let n = rng.below(64).min(len - at);
                bytes.drain(at..at + n);
            }
            3 => {
                let at = rng.below(len);
                let n = rng.below(64).min(len - at);
                let piece: Vec<u8> = bytes[at..at + n].to_vec();
                let to = rng.below(len);
                bytes.splice(to..to, piece);
            }
            _ => bytes.truncate(8 + rng.below(len.saturating_sub(8))),
        }
        if bytes.len() < 16 {
            break;
        }
    }
    bytes
}

#[test]
fn fuzz_mutated_modules_load_or_are_refused_without_a_panic() {
    let runtime = Runtime::new(Config::builder().num_cpus(1.0).cache_dir(None).build()).unwrap();
    let seeds: Vec<Vec<u8>> = [guests::SMOKE, guests::NESTED, guests::STATS_PLUGIN]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let mut rng = Rng(raylab_labkit::rng::SplitMix64::new(0xf022));
    let (mut loaded, mut refused) = (0u64, 0u64);
    let mut slowest = Duration::ZERO;
    let iterations = budget("FUZZ_MODULES", 60);
    for i in 0..iterations {
        let seed = &seeds[rng.below(seeds.len())];
        let bytes = mutate(&mut rng, seed.clone());
        let start = Instant::now();
        match runtime.load_bytes(&format!("m{i}"), &bytes) {
            Ok(()) => loaded += 1,
            Err(e) => {
                refused += 1;
                let message = e.to_string();
                assert!(
                    message.starts_with(&format!("m{i}")),
                    "the error names the module: {message}"
                );
            }
        }
        slowest = slowest.max(start.elapsed());
    }
    eprintln!(
        "fuzz: {iterations} mutated modules, {loaded} loaded, {refused} refused, slowest {:.0} ms",
        slowest.as_secs_f64() * 1e3
    );
    assert_eq!(loaded + refused, iterations);
    assert!(refused > 0, "the mutations reached the checks");
}
