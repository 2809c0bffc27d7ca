//! The guest task shown in the README (kept compiling and tested).

use raylab_guest::{TaskOptions, get_all, put, remote, tasks};

/// A remote function: a plain Rust function that can also run remotely.
#[remote]
fn square(x: i64) -> i64 {
    x * x
}

/// Returning `Result<T, E>` (written literally so) fails the task with E's message.
#[remote]
fn checked_div(a: i64, b: i64) -> Result<i64, String> {
    if b == 0 {
        Err("division by zero".into())
    } else {
        Ok(a / b)
    }
}

// Every module lists its remote functions once (so the host can call them).
tasks!(square, checked_div);

// The driver: an ordinary `main`, run by `raylab-host run module.wasm`.
fn main() -> Result<(), raylab_guest::Error> {
    let refs: Vec<_> = (0..10i64).map(square::remote).collect(); // f.remote(x)
    println!("{:?}", get_all(&refs)?); // ray.get(refs)

    let seven = put(&7i64)?; // ray.put
    // A ref as an argument is a dependency: the task starts when it is
    // ready and receives the value, without blocking anybody.
    let r = checked_div::options(TaskOptions::new().num_cpus(1.0)).remote(&seven, 2);
    println!("{}", r.get()?);
    Ok(())
}
