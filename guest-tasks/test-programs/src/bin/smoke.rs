//! Smallest driver: one remote call.
use raylab_guest::{remote, tasks};

#[remote]
fn add(a: i64, b: i64) -> i64 {
    a + b
}
tasks!(add);

fn main() {
    let r = add::remote(2, 3);
    println!("sum={}", r.get().unwrap());
}
