//! Object refs passed as arguments are dependencies resolved by the
//! scheduler: the callee receives values, and a failed input fails its
//! dependents without running them.
use std::time::Duration;

use raylab_guest::{ErrorKind, put, remote, tasks};

remote! {
    fn slow_value(x: i64, ms: u64) -> i64 {
        std::thread::sleep(Duration::from_millis(ms));
        x
    }
    fn add(a: i64, b: i64) -> i64 { a + b }
    fn sum(xs: Vec<i64>) -> i64 { xs.iter().sum() }
    fn fail(msg: String) -> Result<i64, String> { Err(msg) }
}
tasks!(slow_value, add, sum, fail);

fn main() {
    // A chain: each add waits for the previous one.
    let mut acc = slow_value::remote(1, 50);
    for i in 0..10 {
        acc = add::remote(acc, i);
    }
    println!("chain={}", acc.get().unwrap());

    // Two dependencies, one put and one task result.
    let xs = put(&vec![1i64, 2, 3]).unwrap();
    let s = sum::remote(&xs);
    let both = add::remote(&s, slow_value::remote(100, 20));
    println!("both={}", both.get().unwrap());

    // A failed input fails the dependents, transitively.
    let bad = fail::remote("broken input".to_string());
    let dependent = add::remote(&bad, 1);
    let second = add::remote(&dependent, 1);
    let e = second.get().unwrap_err();
    assert_eq!(e.kind, ErrorKind::DependencyFailed, "{e}");
    assert!(e.message.contains("broken input"), "{e}");
    println!("dependency error: {e}");
    let e = dependent.get().unwrap_err();
    assert_eq!(e.kind, ErrorKind::DependencyFailed);
    let e = bad.get().unwrap_err();
    assert_eq!(e.kind, ErrorKind::TaskFailed);
    println!("ok");
}
