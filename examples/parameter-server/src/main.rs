//! Example: Ray's parameter server, with an actor.
//!
//! Logistic regression by synchronous gradient descent on seeded synthetic
//! data. An actor, the parameter server, holds the weights
//! (`get_weights`, `apply_gradients`); the data is split into shards put
//! into the object store once, and every iteration one remote task per
//! shard computes that shard's gradient at the current weights. The
//! gradients are summed by a tree of remote tasks and the sum goes to the
//! actor, which takes a step and answers with the new weights.
//!
//! Every argument that is a reference is a dependency, so the driver
//! submits all the iterations at once without waiting for any: each
//! gradient task starts when the weights it needs exist, and the actor
//! applies the sums in the order they were submitted. The driver waits
//! only for the final weights, then runs the same algorithm sequentially
//! and checks that it reaches the same weights and loss.
//!
//! Run: `raylab-host run parameter_server.wasm -- [iterations] [shards]`

use std::time::Instant;

use raylab_guest::{ObjectRef, PackedVec, actor, put, remote, tasks};
use serde::{Deserialize, Serialize};

/// Features per sample.
const DIM: usize = 16;
/// Samples in all.
const SAMPLES: usize = 8000;
/// Step size.
const LEARNING_RATE: f64 = 0.5;

/// A part of the data set, as it travels through the object store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Shard {
    /// `n * DIM` features, row-major.
    pub x: PackedVec<f64>,
    /// One label (0 or 1) per sample.
    pub y: PackedVec<f64>,
}

/// The gradient of the log loss over some samples, with the loss itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gradient {
    /// Sum over the samples of `(σ(w·x) - y) x`.
    pub sum: Vec<f64>,
    /// Sum of the samples' log losses.
    pub loss: f64,
    /// Number of samples.
    pub n: u64,
}

/// Holds the weights and applies the workers' gradients.
pub struct ParameterServer {
    weights: Vec<f64>,
    losses: Vec<f64>,
}

#[actor]
impl ParameterServer {
    /// Zero weights.
    pub fn new(dim: u32) -> Self {
        ParameterServer {
            weights: vec![0.0; dim as usize],
            losses: Vec::new(),
        }
    }
    /// The current weights.
    pub fn get_weights(&self) -> Vec<f64> {
        self.weights.clone()
    }
    /// Take one step with the summed gradient of every shard; the new
    /// weights.
    pub fn apply_gradients(&mut self, total: Gradient) -> Vec<f64> {
        self.losses.push(total.loss / total.n as f64);
        step(&mut self.weights, &total);
        self.weights.clone()
    }
    /// The mean loss before each step so far.
    pub fn losses(&self) -> Vec<f64> {
        self.losses.clone()
    }
}

/// The gradient of one shard at `weights` (a worker's job).
#[remote]
fn gradient(weights: Vec<f64>, shard: Shard) -> Gradient {
    shard_gradient(&weights, &shard)
}

/// The sum of two gradients.
#[remote]
fn add_gradients(a: Gradient, b: Gradient) -> Gradient {
    add(a, b)
}

tasks!(ParameterServer, gradient, add_gradients);

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn shard_gradient(w: &[f64], shard: &Shard) -> Gradient {
    let mut sum = vec![0.0; w.len()];
    let mut loss = 0.0;
    for (row, &y) in shard.x.chunks_exact(w.len()).zip(shard.y.iter()) {
        let z: f64 = row.iter().zip(w).map(|(a, b)| a * b).sum();
        let p = sigmoid(z);
        // log(1 + e^z) - y z, stable for large |z|.
        loss += z.max(0.0) + (-z.abs()).exp().ln_1p() - y * z;
        for (s, x) in sum.iter_mut().zip(row) {
            *s += (p - y) * x;
        }
    }
    Gradient {
        sum,
        loss,
        n: shard.y.len() as u64,
    }
}

fn add(mut a: Gradient, b: Gradient) -> Gradient {
    for (s, t) in a.sum.iter_mut().zip(&b.sum) {
        *s += t;
    }
    a.loss += b.loss;
    a.n += b.n;
    a
}

fn step(w: &mut [f64], total: &Gradient) {
    for (wi, g) in w.iter_mut().zip(&total.sum) {
        *wi -= LEARNING_RATE * g / total.n as f64;
    }
}

/// Pairwise sums, in the same order for refs and for values.
fn tree_sum<T>(mut items: Vec<T>, add: impl Fn(T, T) -> T) -> T {
    while items.len() > 1 {
        let mut next = Vec::with_capacity(items.len().div_ceil(2));
        let mut it = items.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => add(a, b),
                None => a,
            });
        }
        items = next;
    }
    items.pop().expect("at least one item")
}

/// SplitMix64: a small seeded generator.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
}

/// Seeded data: labels drawn from a logistic model with random true
/// weights, split into `shards` parts.
fn make_data(shards: usize, seed: u64) -> Vec<Shard> {
    let mut rng = Rng(seed);
    let truth: Vec<f64> = (0..DIM).map(|_| rng.normal()).collect();
    let per = SAMPLES.div_ceil(shards);
    (0..shards)
        .map(|s| {
            let n = per.min(SAMPLES.saturating_sub(s * per));
            let mut x = Vec::with_capacity(n * DIM);
            let mut y = Vec::with_capacity(n);
            for _ in 0..n {
                let row: Vec<f64> = (0..DIM).map(|_| rng.normal()).collect();
                let z: f64 = row.iter().zip(&truth).map(|(a, b)| a * b).sum();
                y.push(f64::from(rng.uniform() < sigmoid(z)));
                x.extend(row);
            }
            Shard {
                x: PackedVec(x),
                y: PackedVec(y),
            }
        })
        .collect()
}

fn accuracy(w: &[f64], data: &[Shard]) -> f64 {
    let (mut right, mut n) = (0usize, 0usize);
    for shard in data {
        for (row, &y) in shard.x.chunks_exact(DIM).zip(shard.y.iter()) {
            let z: f64 = row.iter().zip(w).map(|(a, b)| a * b).sum();
            right += usize::from((z > 0.0) == (y > 0.5));
            n += 1;
        }
    }
    right as f64 / n as f64
}

fn main() -> Result<(), raylab_guest::Error> {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (iterations, n_shards) = (arg(1, 50), arg(2, 4).clamp(1, 64));
    let data = make_data(n_shards, 42);
    println!(
        "logistic regression: {SAMPLES} samples, {DIM} features, {n_shards} shards, {iterations} iterations"
    );

    let start = Instant::now();
    let ps = ParameterServer::remote(DIM as u32);
    let shards: Vec<ObjectRef<Shard>> = data.iter().map(put).collect::<Result<_, _>>()?;
    // Every iteration at once: each call's refs are the next one's
    // dependencies.
    let mut weights = ps.get_weights();
    for _ in 0..iterations {
        let grads: Vec<ObjectRef<Gradient>> = shards
            .iter()
            .map(|s| gradient::remote(&weights, s))
            .collect();
        let total = tree_sum(grads, add_gradients::remote);
        weights = ps.apply_gradients(total);
    }
    // The loss at the final weights.
    let last: Vec<_> = shards
        .iter()
        .map(|s| gradient::remote(&weights, s))
        .collect();
    let last = tree_sum(last, add_gradients::remote).get()?;
    let final_weights = weights.get()?;
    let losses = ps.losses().get()?;
    let t_par = start.elapsed();
    for (i, loss) in losses.iter().enumerate() {
        if i % 10 == 0 {
            println!("iteration {i:>3}: loss {loss:.6}");
        }
    }
    let final_loss = last.loss / last.n as f64;
    println!("final loss: {final_loss:.6}");
    println!("accuracy: {:.4}", accuracy(&final_weights, &data));
    println!(
        "parallel: {:.1} ms ({} tasks, {} actor calls)",
        t_par.as_secs_f64() * 1e3,
        (iterations + 1) * (2 * n_shards - 1),
        iterations + 2
    );

    // The same algorithm, in the driver.
    let start = Instant::now();
    let mut w = vec![0.0; DIM];
    for _ in 0..iterations {
        let total = tree_sum(data.iter().map(|s| shard_gradient(&w, s)).collect(), add);
        step(&mut w, &total);
    }
    let last = tree_sum(data.iter().map(|s| shard_gradient(&w, s)).collect(), add);
    let seq_loss = last.loss / last.n as f64;
    println!(
        "sequential: final loss {seq_loss:.6} ({:.1} ms)",
        start.elapsed().as_secs_f64() * 1e3
    );
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()));
    let same =
        close(final_loss, seq_loss) && w.iter().zip(&final_weights).all(|(&a, &b)| close(a, b));
    println!("matches sequential: {}", if same { "yes" } else { "no" });
    if !same {
        std::process::exit(1);
    }
    Ok(())
}
