//! Object refs passed as arguments are dependencies resolved by the
//! scheduler: the callee receives values, and a failed input fails its
//! dependents without running them. A `ByRef` parameter receives the ref
//! itself, unresolved, and reads slices of a packed vector with
//! `get_range`.
use std::time::Duration;

use raylab_guest::{ByRef, ErrorKind, PackedVec, put, remote, tasks};

remote! {
    fn slow_value(x: i64, ms: u64) -> i64 {
        std::thread::sleep(Duration::from_millis(ms));
        x
    }
    fn add(a: i64, b: i64) -> i64 { a + b }
    fn sum(xs: Vec<i64>) -> i64 { xs.iter().sum() }
    fn fail(msg: String) -> Result<i64, String> { Err(msg) }
    fn slow_vec(n: u64, ms: u64) -> PackedVec<f64> {
        std::thread::sleep(Duration::from_millis(ms));
        (0..n).map(|i| i as f64).collect()
    }
    fn slice(data: ByRef<PackedVec<f64>>, start: u64, end: u64) -> Result<Vec<f64>, String> {
        data.get_range(start as usize..end as usize).map_err(|e| format!("{}: {}", e.kind, e.message))
    }
}
tasks!(slow_value, add, sum, fail, slow_vec, slice);

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

    // ByRef: the callee gets the ref, unresolved, and reads a slice. Sizes
    // cover the three MessagePack bin headers (bin8, bin16, bin32).
    for n in [10u64, 1000, 100_000] {
        let data = put(&(0..n).map(|i| i as f64).collect::<PackedVec<f64>>()).unwrap();
        let part = slice::remote(&data, 3, 7).get().unwrap();
        let empty = slice::remote(&data, n, n).get().unwrap();
        let tail = slice::remote(&data, n - 2, n).get().unwrap();
        println!("slice{n}={part:?} empty={} tail={tail:?}", empty.len());
        let e = slice::remote(&data, n - 1, n + 1).get().unwrap_err();
        println!("slice{n} outside: {}", e.message);
    }
    // A ByRef to an object that is not ready yet: the task starts anyway
    // and waits inside get_range.
    let later = slow_vec::remote(8, 100);
    println!("waited={:?}", slice::remote(&later, 6, 8).get().unwrap());
    println!("ok");
}
