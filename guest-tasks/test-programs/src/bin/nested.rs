//! Nested remote calls: each task blocks in `get` on its children. Must
//! finish even with `--num-cpus 1` (a blocked task lends its CPU).
use raylab_guest::{remote, tasks};

#[remote]
fn fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let a = fib::remote(n - 1);
    let b = fib::remote(n - 2);
    a.get().unwrap() + b.get().unwrap()
}
tasks!(fib);

fn main() {
    let n: u64 = std::env::args().nth(1).map_or(10, |s| s.parse().unwrap());
    println!("fib({n})={}", fib::remote(n).get().unwrap());
}
