//! `wait` with partial readiness and timeouts, `get` with a timeout, and a
//! task submitted by a driver that keeps computing runs meanwhile.
use std::time::{Duration, Instant};

use raylab_guest::{ErrorKind, remote, tasks, wait};

remote! {
    fn sleepy(ms: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    }

    /// The wall-clock time it started, in ms since the Unix epoch.
    fn started_at() -> f64 {
        unix_ms()
    }
}
tasks!(sleepy, started_at);

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e3
}

fn main() {
    let fast = sleepy::remote(0);
    let slow = sleepy::remote(1500);
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
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_millis(1400),
        "{waited:?}"
    );
    println!(
        "wait(2, 100ms): ready={} not_ready={}",
        ready.len(),
        not_ready.len()
    );

    let e = slow.get_timeout(Duration::from_millis(50)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    println!("get timeout: {e}");

    let (ready, _) = wait(vec![fast, slow], 2, None).unwrap();
    assert_eq!(ready.len(), 2);
    println!("wait(2): ready=2");

    let e = wait(vec![sleepy::remote(0)], 2, None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);

    // Submit, then compute without calling the host for 1 s: the task
    // must start meanwhile, on another worker, not when the driver blocks.
    let submitted = unix_ms();
    let r = started_at::remote();
    let mut x = 0u64;
    while unix_ms() - submitted < 1000.0 {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
    let blocked = unix_ms();
    let started = r.get().unwrap();
    println!(
        "submit then compute: started {:.0} ms after submit, {:.0} ms before the driver blocked",
        started - submitted,
        blocked - started
    );
    println!("ok");
}
