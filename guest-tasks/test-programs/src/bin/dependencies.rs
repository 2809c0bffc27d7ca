//! Object refs passed as arguments are dependencies resolved by the
//! scheduler: the callee receives values, and a failed input fails its
//! dependents without running them. A `ByRef` parameter receives the ref
//! itself, unresolved, and reads slices of a packed vector with
//! `get_range`. Plain bulk types (`Vec<u8>`, `String`, vectors of numbers)
//! go through tasks, put and get whole and unchanged, large or small, in
//! any argument position; a Python driver calls the `plain_*` functions by
//! name (`guest-tasks/python/tests/rust_values.py`).
use std::time::Duration;

use raylab_guest::{ByRef, ErrorKind, PackedVec, put, remote, tasks};

#[remote]
fn slow_value(x: i64, ms: u64) -> i64 {
    std::thread::sleep(Duration::from_millis(ms));
    x
}
#[remote]
fn add(a: i64, b: i64) -> i64 {
    a + b
}
#[remote]
fn sum(xs: Vec<i64>) -> i64 {
    xs.iter().sum()
}
#[remote]
fn fail(msg: String) -> Result<i64, String> {
    Err(msg)
}
#[remote]
fn slow_vec(n: u64, ms: u64) -> PackedVec<f64> {
    std::thread::sleep(Duration::from_millis(ms));
    (0..n).map(|i| i as f64).collect()
}
#[remote]
fn slice(data: ByRef<PackedVec<f64>>, start: u64, end: u64) -> Result<Vec<f64>, String> {
    data.get_range(start as usize..end as usize)
        .map_err(|e| format!("{}: {}", e.kind, e.message))
}
/// The three arguments back, in another order (bulk ones first, last
/// and in the middle).
#[remote]
fn shuffle(a: Vec<u8>, n: u64, s: String) -> (String, u64, Vec<u8>) {
    (s, n, a)
}
#[remote]
fn echo_bytes(b: Vec<u8>) -> Vec<u8> {
    b
}
#[remote]
fn echo_text(s: String) -> String {
    s
}
#[remote]
fn plain_floats(n: u64) -> Vec<f64> {
    (0..n).map(|i| i as f64 / 4.0).collect()
}
#[remote]
fn plain_ints(n: u64) -> Vec<i64> {
    (0..n as i64).map(|i| -i).collect()
}
#[remote]
fn plain_bytes(n: u64) -> Vec<u8> {
    (0..n).map(|i| i as u8).collect()
}
#[remote]
fn plain_text(n: u64) -> String {
    "ab".repeat(n as usize)
}
/// What it was given, summed up (from Python: a list, bytes, a list).
#[remote]
fn plain_sums(xs: Vec<f64>, b: Vec<u8>, ys: Vec<i32>) -> (f64, u64, i64) {
    (
        xs.iter().sum(),
        b.iter().map(|&x| x as u64).sum(),
        ys.iter().map(|&y| y as i64).sum(),
    )
}
tasks!(
    slow_value,
    add,
    sum,
    fail,
    slow_vec,
    slice,
    shuffle,
    echo_bytes,
    echo_text,
    plain_floats,
    plain_ints,
    plain_bytes,
    plain_text,
    plain_sums
);

/// Plain bulk values through tasks and the store, small and over the size
/// where the SDK hands buffers over in place.
fn plain_values() {
    for n in [0usize, 5, 300, 70_000, 3_000_000] {
        let bytes: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
        let text: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        assert_eq!(
            echo_bytes::remote(bytes.clone()).get().unwrap(),
            bytes,
            "bytes {n}"
        );
        assert_eq!(
            echo_text::remote(text.clone()).get().unwrap(),
            text,
            "text {n}"
        );
        let (s, k, b) = shuffle::remote(bytes.clone(), n as u64, text.clone())
            .get()
            .unwrap();
        assert!(s == text && k == n as u64 && b == bytes, "shuffle {n}");
        // Through the store, and as a dependency.
        let r = put(&bytes).unwrap();
        assert_eq!(r.get().unwrap(), bytes);
        assert_eq!(echo_bytes::remote(&r).get().unwrap(), bytes);
        let floats = plain_floats::remote(n as u64).get().unwrap();
        assert!(floats.len() == n && floats.iter().enumerate().all(|(i, &x)| x == i as f64 / 4.0));
        let ints = put(&plain_ints::remote(n as u64).get().unwrap())
            .unwrap()
            .get()
            .unwrap();
        assert!(ints.len() == n && ints.iter().enumerate().all(|(i, &x)| x == -(i as i64)));
        assert_eq!(plain_bytes::remote(n as u64).get().unwrap().len(), n);
        assert_eq!(plain_text::remote(n as u64).get().unwrap().len(), 2 * n);
    }
    println!("plain values: ok");
}

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
        // All but the ends (800 KB when n is 100,000): every element where
        // it belongs.
        let inner = slice::remote(&data, 1, n - 1).get().unwrap();
        assert_eq!(inner.len() as u64, n - 2, "slice{n} inner length");
        assert!(
            inner.iter().enumerate().all(|(i, &x)| x == (i + 1) as f64),
            "slice{n} inner elements"
        );
    }
    // A ByRef to an object that is not ready yet: the task starts anyway
    // and waits inside get_range.
    let later = slow_vec::remote(8, 100);
    println!("waited={:?}", slice::remote(&later, 6, 8).get().unwrap());
    plain_values();
    println!("ok");
}
