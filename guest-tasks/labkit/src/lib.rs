//! What the lab's tasks share, written once: the guest tasks (task1 ...
//! task4, the test programs) use it, and so can native code (the host's
//! `bench` computes its native baselines with the very same functions).
//!
//! - [`flags`]: the tasks' command-line flags ([`Flags`]): `--name VALUE`,
//!   switches, repeated `--param NAME=VALUE`, `-h`/`--help`, and the same
//!   error messages in every task.
//! - [`rng`]: the seeded generators, [`SplitMix64`] (task2's data, task4's
//!   folds and synthetic data) and [`Lcg`] (task3's matrices), bit for bit
//!   the same on every target (but for `SplitMix64::normal`, which uses the
//!   platform's `ln` and `cos`).
//! - [`task2`]: task2's data and per-element math.
//! - [`task3`]: task3's matrices and the CPU matrix product it checks the
//!   GPU against.
//! - [`float`]: distances in ulps and the inputs of the math accuracy
//!   checks.
//!
//! Pure Rust, no dependencies, nothing target-specific.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod flags;
pub mod float;
pub mod rng;
pub mod task2;
pub mod task3;

pub use flags::{Flags, Parsed};
pub use rng::{Lcg, SplitMix64};
