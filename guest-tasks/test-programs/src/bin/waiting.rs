//! `wait` with partial readiness and timeouts, `get` with a timeout, and a
//! task submitted by a driver that keeps computing runs meanwhile. Every
//! check is an order of events (no wall-clock window): the slow task sleeps
//! for an hour and is cancelled, and the driver learns that a task started
//! from the node's free resources.
use std::time::{Duration, Instant};

use raylab_guest::{ErrorKind, TaskOptions, available_resources, remote, tasks, wait};

#[remote]
fn sleepy(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}
tasks!(sleepy);

/// How much of resource `name` is free now (a host call that never blocks).
fn available(name: &str) -> f64 {
    available_resources()
        .into_iter()
        .find(|(n, _)| n == name)
        .map_or(0.0, |(_, v)| v)
}

fn main() {
    let fast = sleepy::remote(0);
    // An hour: nothing below may see it ready until it is cancelled.
    let slow = sleepy::remote(3_600_000);
    let (ready, not_ready) = wait(vec![fast.clone(), slow.clone()], 1, None).unwrap();
    assert_eq!(ready, vec![fast.clone()]);
    assert_eq!(not_ready, vec![slow.clone()]);
    println!(
        "wait(1): ready={} not_ready={}",
        ready.len(),
        not_ready.len()
    );

    let start = Instant::now();
    let (ready, not_ready) = wait(
        vec![fast.clone(), slow.clone()],
        2,
        Some(Duration::from_millis(100)),
    )
    .unwrap();
    let waited = start.elapsed();
    assert_eq!((ready.len(), not_ready.len()), (1, 1));
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
    println!(
        "wait(2, 100ms): ready={} not_ready={}",
        ready.len(),
        not_ready.len()
    );

    let e = slow.get_timeout(Duration::from_millis(50)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    println!("get timeout: {e}");

    // A cancelled task counts as ready (it failed).
    slow.cancel().unwrap();
    let (ready, _) = wait(vec![fast, slow], 2, None).unwrap();
    assert_eq!(ready.len(), 2);
    println!("wait(2): ready=2");

    let e = wait(vec![sleepy::remote(0)], 2, None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);

    // Submit, then compute without blocking: the task must start
    // meanwhile (at the driver's next preemption tick, on another worker),
    // not only when the driver blocks. It holds the node's one `token` while
    // it sleeps, so the driver sees it start by polling the free resources
    // (a host call that does not block); the bound is only there to fail
    // rather than hang.
    let token = TaskOptions::new().resource("token", 1.0);
    let r = sleepy::options(token).remote(200);
    let give_up = Instant::now() + Duration::from_secs(120);
    let mut x = 0u64;
    while available("token") > 0.0 {
        assert!(
            Instant::now() < give_up,
            "the task never started while the driver computed"
        );
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
    println!("submit then compute: the task started before the driver blocked");
    assert_eq!(r.get().unwrap(), 200);
    println!("ok");
}
