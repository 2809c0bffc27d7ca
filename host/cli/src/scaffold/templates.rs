//! The text of `new`'s templates: the Rust and Python programs, their
//! manifests, READMEs and editor settings, with `{{name}}`, `{{crate}}`,
//! `{{sdk}}` and `{{wasm}}` for `super::files` to fill.

pub(super) const CARGO_CONFIG: &str = r#"# Guests are WebAssembly components for WASI 0.2.
[build]
target = "wasm32-wasip2"

[target.wasm32-wasip2]
# WebAssembly SIMD: raylab_guest::math runs two lanes at once with it.
rustflags = ["-C", "target-feature=+simd128"]
# `cargo run` and `cargo test` run the component on raylab.
runner = ["raylab-host", "runner"]
"#;

pub(super) const RUST_MANIFEST: &str = r#"[package]
name = "{{name}}"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
# The SDK of the raylab-host that made this project (`raylab-host new`
# extracted it there).
raylab-guest = { path = "{{sdk}}" }

[profile.release]
strip = "debuginfo"
"#;

pub(super) const RUST_PLUGIN_MANIFEST: &str = r#"[package]
name = "{{name}}"
version = "0.1.0"
edition = "2024"
publish = false

# A plugin is a library component; `rlib` too, so that tests link it.
[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
# The SDK of the raylab-host that made this project (`raylab-host new`
# extracted it there).
raylab-guest = { path = "{{sdk}}" }

[profile.release]
strip = "debuginfo"
"#;

pub(super) const RUST_TASK: &str = r#"//! {{name}}: remote functions and the driver that calls them.
//!
//! Each `square::remote(x)` call runs in a sandbox of its own, in parallel
//! with the others; `get_all` waits for the results in order.

use raylab_guest::{Error, get_all, remote, tasks};

/// Square a number: a plain function, and a remote one.
#[remote]
pub fn square(x: i64) -> i64 {
    x * x
}

fn main() -> Result<(), Error> {
    let n: i64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let refs: Vec<_> = (0..n).map(square::remote).collect();
    let squares = get_all(&refs)?;
    println!("squares: {squares:?}");
    println!("sum of squares below {n}: {}", squares.iter().sum::<i64>());
    Ok(())
}

// Every remote function (and actor class) of the module, for the host.
tasks!(square);

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain call: natively too (`cargo test --target <host triple>`).
    #[test]
    fn square_squares() {
        assert_eq!(square(7), 49);
    }

    /// A remote call: `cargo test` runs on raylab (see .cargo/config.toml).
    #[cfg(target_family = "wasm")]
    #[test]
    fn square_runs_remotely() {
        assert_eq!(square::remote(-8).get().unwrap(), 64);
    }
}
"#;

pub(super) const RUST_ACTOR: &str = r#"//! {{name}}: an actor, state that lives between calls in a sandbox of
//! its own, and a driver that uses it.

use raylab_guest::{Error, actor, tasks};

/// A running total.
pub struct Counter {
    total: i64,
    calls: u64,
}

#[actor]
impl Counter {
    pub fn new(start: i64) -> Self {
        Counter { total: start, calls: 0 }
    }

    /// Add `x`; the new total.
    pub fn add(&mut self, x: i64) -> i64 {
        self.total += x;
        self.calls += 1;
        self.total
    }

    /// How many calls `add` had.
    pub fn calls(&self) -> u64 {
        self.calls
    }
}

fn main() -> Result<(), Error> {
    let counter = Counter::remote(100);
    // Calls from one caller run in order, one at a time.
    let last = (1..=10).map(|x| counter.add(x)).last().expect("ten calls");
    println!("total: {}", last.get()?);
    println!("calls: {}", counter.calls().get()?);
    Ok(())
}

tasks!(Counter);

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain methods: natively too (`cargo test --target <host triple>`).
    #[test]
    fn the_counter_adds() {
        let mut local = Counter::new(1);
        assert_eq!(local.add(2), 3);
        assert_eq!(local.calls(), 1);
    }

    /// A real actor: `cargo test` runs on raylab (see .cargo/config.toml).
    #[cfg(target_family = "wasm")]
    #[test]
    fn the_counter_keeps_its_total_between_calls() {
        let remote = Counter::remote(5);
        remote.add(1);
        assert_eq!(remote.add(4).get().unwrap(), 10);
        assert_eq!(remote.calls().get().unwrap(), 2);
    }
}
"#;

pub(super) const RUST_DRIVER: &str = r#"//! {{name}}: a driver that handles results as they finish (`ray.wait`),
//! with a deadline for the stragglers.

use std::time::{Duration, Instant};

use raylab_guest::{Error, remote, tasks, wait};

/// Some work that takes `ms` milliseconds; returns what it was given.
#[remote]
pub fn work(id: u64, ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    id
}

fn main() -> Result<(), Error> {
    let start = Instant::now();
    // Five jobs of different lengths, and one that would take too long.
    let mut pending: Vec<_> = [(1, 300), (2, 100), (3, 200), (4, 50), (5, 150), (6, 60_000)]
        .into_iter()
        .map(|(id, ms)| work::remote(id, ms))
        .collect();
    let deadline = Duration::from_secs(2);
    while !pending.is_empty() {
        let left = deadline.saturating_sub(start.elapsed());
        let (ready, rest) = wait(pending, 1, Some(left))?;
        if ready.is_empty() {
            println!("{} still running after {deadline:?}: cancelled", rest.len());
            for r in &rest {
                r.cancel()?;
            }
            break;
        }
        for r in ready {
            println!("finished: job {}", r.get()?);
        }
        pending = rest;
    }
    Ok(())
}

tasks!(work);

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain call: natively too (`cargo test --target <host triple>`).
    #[test]
    fn work_returns_its_id() {
        assert_eq!(work(3, 0), 3);
    }

    /// Real tasks: `cargo test` runs on raylab (see .cargo/config.toml).
    #[cfg(target_family = "wasm")]
    #[test]
    fn wait_hands_back_the_first_to_finish() {
        let slow = work::remote(1, 500);
        let quick = work::remote(2, 10);
        let (ready, rest) = wait(vec![slow, quick], 1, None).unwrap();
        assert_eq!(ready[0].get().unwrap(), 2);
        assert_eq!(rest.len(), 1);
    }
}
"#;

pub(super) const RUST_PLUGIN: &str = r#"//! {{name}}: a plugin, remote functions that any driver calls by name
//! (`{{crate}}/mean`), in any language, once it is loaded with
//! `--plugin {{crate}}=target/wasm32-wasip2/release/{{wasm}}`.

use raylab_guest::{remote, tasks};

/// The mean of some numbers; an error for none.
#[remote]
pub fn mean(xs: Vec<f64>) -> Result<f64, String> {
    if xs.is_empty() {
        return Err("the mean of no numbers".into());
    }
    Ok(xs.iter().sum::<f64>() / xs.len() as f64)
}

/// The largest of some numbers, if any.
#[remote]
pub fn largest(xs: Vec<f64>) -> Option<f64> {
    xs.into_iter().reduce(f64::max)
}

tasks!(mean, largest);

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain calls: natively too (`cargo test --target <host triple>`).
    #[test]
    fn mean_and_largest() {
        assert_eq!(mean(vec![1.0, 2.0, 6.0]), Ok(3.0));
        assert!(mean(vec![]).is_err());
        assert_eq!(largest(vec![3.0, 9.5, -1.0]), Some(9.5));
    }

    /// A real task: `cargo test` runs on raylab (see .cargo/config.toml).
    #[cfg(target_family = "wasm")]
    #[test]
    fn largest_runs_remotely() {
        assert_eq!(largest::remote(vec![3.0, 9.5, -1.0]).get().unwrap(), Some(9.5));
    }
}
"#;

pub(super) const RUST_PLUGIN_CALL: &str = r#"//! A driver calling the plugin by name, as a driver compiled elsewhere
//! (or written in Python) would:
//!
//!     cargo build --release --lib --examples
//!     raylab-host run target/wasm32-wasip2/release/examples/call.wasm \
//!         --plugin {{crate}}=target/wasm32-wasip2/release/{{wasm}}

use raylab_guest::{Error, ObjectRef, TaskOptions, submit, tasks};

fn main() -> Result<(), Error> {
    let xs = vec![2.0, 4.0, 9.0];
    let mean: ObjectRef<f64> = submit("{{crate}}/mean", &(&xs,), &TaskOptions::new())?;
    let largest: ObjectRef<Option<f64>> = submit("{{crate}}/largest", &(&xs,), &TaskOptions::new())?;
    println!("mean: {}", mean.get()?);
    println!("largest: {:?}", largest.get()?);
    Ok(())
}

tasks!();
"#;

pub(super) const RUST_README_TASK: &str = r#"# {{name}}

Remote functions and a driver, on raylab: each
`square::remote(x)` runs in a WebAssembly sandbox of its own.

    cargo build --release
    raylab-host run target/wasm32-wasip2/release/{{wasm}} -- 5

`cargo test` runs the tests on raylab (`.cargo/config.toml` makes
`raylab-host runner` Cargo's runner), so they can call `.remote()`;
`cargo test --target x86_64-unknown-linux-gnu` (your machine's triple: `rustc
-vV`) runs the plain-function tests natively.
"#;

pub(super) const RUST_README_ACTOR: &str = r#"# {{name}}

An actor on raylab: a `Counter` whose state lives between calls in a
sandbox of its own.

    cargo build --release
    raylab-host run target/wasm32-wasip2/release/{{wasm}}

`cargo test` runs the tests on raylab (`.cargo/config.toml` makes
`raylab-host runner` Cargo's runner), so they can create actors;
`cargo test --target x86_64-unknown-linux-gnu` (your machine's triple: `rustc
-vV`) runs the plain-method tests natively.
"#;

pub(super) const RUST_README_DRIVER: &str = r#"# {{name}}

A raylab driver that handles results as they finish (`wait`) and cancels
what is still running at its deadline.

    cargo build --release
    raylab-host run target/wasm32-wasip2/release/{{wasm}}

`cargo test` runs the tests on raylab (`.cargo/config.toml` makes
`raylab-host runner` Cargo's runner); `cargo test --target
x86_64-unknown-linux-gnu` (your machine's triple: `rustc -vV`) runs the
plain-function test natively.
"#;

pub(super) const RUST_README_PLUGIN: &str = r#"# {{name}}

A raylab plugin: remote functions any driver calls by name
(`{{crate}}/mean`, `{{crate}}/largest`), in Rust or Python. `examples/call.rs`
is such a driver.

    cargo build --release --lib --examples
    raylab-host run target/wasm32-wasip2/release/examples/call.wasm --plugin {{crate}}=target/wasm32-wasip2/release/{{wasm}}

From Python: `ray.remote_function("{{crate}}/mean").remote([1.0, 2.0])`,
with the same `--plugin`. `cargo test` runs the tests on raylab; `cargo
test --lib --target x86_64-unknown-linux-gnu` (your machine's triple) runs
the plain-function ones natively (`--lib`: the plugin's own library
component does not link natively).
"#;

pub(super) const PY_TASK: &str = r#"""" {{name}}: a Ray program on raylab. Run it with

    raylab-host run app.py

With `import ray` instead of the line below, it runs on Ray unchanged.
"""

import raylab as ray


@ray.remote
def square(x):
    return x * x


refs = [square.remote(i) for i in range(10)]
squares = ray.get(refs)
print("squares:", squares)
print("sum of squares below 10:", sum(squares))
"#;

pub(super) const PY_ACTOR: &str = r#"""" {{name}}: an actor on raylab. Run it with

    raylab-host run app.py

With `import ray` instead of the line below, it runs on Ray unchanged.
"""

import raylab as ray


@ray.remote
class Counter:
    def __init__(self, start):
        self.total = start
        self.calls = 0

    def add(self, x):
        self.total += x
        self.calls += 1
        return self.total


counter = Counter.remote(100)
last = [counter.add.remote(x) for x in range(1, 11)][-1]
print("total:", ray.get(last))
"#;

pub(super) const PY_DRIVER: &str = r#"""" {{name}}: a driver that handles results as they finish. Run it with

    raylab-host run app.py

With `import ray` instead of the line below, it runs on Ray unchanged.
"""

import time

import raylab as ray


@ray.remote
def work(job, seconds):
    time.sleep(seconds)
    return job


pending = [work.remote(job, s) for job, s in [(1, 0.3), (2, 0.1), (3, 0.2), (4, 60)]]
deadline = time.monotonic() + 2
while pending:
    ready, pending = ray.wait(pending, num_returns=1, timeout=max(0, deadline - time.monotonic()))
    if not ready:
        print(len(pending), "still running at the deadline: cancelled")
        for ref in pending:
            ray.cancel(ref)
        break
    print("finished: job", ray.get(ready[0]))
"#;

pub(super) const PY_README_TASK: &str = r#"# {{name}}

A Ray program on raylab: `@ray.remote` functions, each call in a sandbox.

    raylab-host run app.py

An edit reruns at once (no build). `.raylab/python` holds the `raylab`
package for your editor's completion; the runtime has its own copy.
"#;

pub(super) const PY_README_ACTOR: &str = r#"# {{name}}

A Ray actor on raylab: a `Counter` whose state lives between calls.

    raylab-host run app.py

`.raylab/python` holds the `raylab` package for your editor's completion.
"#;

pub(super) const PY_README_DRIVER: &str = r#"# {{name}}

A raylab driver that handles results as they finish (`ray.wait`) and
cancels what is left at its deadline.

    raylab-host run app.py

`.raylab/python` holds the `raylab` package for your editor's completion.
"#;

pub(super) const PYRIGHT: &str = r#"{
  "extraPaths": [".raylab/python"]
}
"#;

pub(super) const VSCODE: &str = r#"{
  "python.analysis.extraPaths": [".raylab/python"]
}
"#;
