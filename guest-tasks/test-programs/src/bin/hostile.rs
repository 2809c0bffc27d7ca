//! Hostile tasks, one scenario per run (`hostile <scenario>`): each bad
//! task must fail with its exact error class while well-behaved tasks
//! running at the same time return correct results, and every resource
//! must be back in the pool afterwards.
use std::time::{Duration, Instant};

use raylab_guest::{
    ByRef, ErrorKind, ObjectRef, TaskOptions, available_resources, cluster_resources, context,
    get_all, remote, submit, tasks, wait,
};

#[remote]
fn square(x: i64) -> i64 {
    x * x
}

#[remote]
fn slow_value(x: u64, ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    x
}

/// Blocks in `get` until `r` is ready.
#[remote]
fn wait_for(r: ByRef<u64>) -> u64 {
    r.get().unwrap_or(0)
}

#[remote]
fn spin() -> u64 {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

#[remote]
fn memory_bomb() -> u64 {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
    }
}

/// A 2 GiB result, built in 1 MiB pieces.
#[remote]
fn huge_result() -> Vec<raylab_guest::PackedVec<u8>> {
    (0..2048)
        .map(|_| raylab_guest::PackedVec(vec![7u8; 1 << 20]))
        .collect()
}

#[remote]
fn deep(n: u64) -> u64 {
    recurse(n)
}

#[remote]
fn fork() -> Result<u64, String> {
    let mut children: Vec<ObjectRef<u64>> = Vec::new();
    loop {
        match submit("fork", &(), &TaskOptions::new().num_cpus(0.0)) {
            Ok(r) => children.push(r),
            Err(e) if e.kind == ErrorKind::TooManyTasks => return Err(e.to_string()),
            Err(e) => return Err(format!("unexpected: {e}")),
        }
    }
}

#[remote]
fn flaky() -> u32 {
    let attempt = context().attempt;
    if attempt < 3 {
        panic!("attempt {attempt} fails");
    }
    attempt
}

#[remote]
fn fails_twice() -> Result<u32, String> {
    let attempt = context().attempt;
    if attempt < 3 {
        Err(format!("attempt {attempt} fails"))
    } else {
        Ok(attempt)
    }
}

#[remote]
fn gpu_ids() -> Vec<u32> {
    std::thread::sleep(Duration::from_millis(100));
    context().gpu_ids
}

/// A fork bomb whose tasks block: two children each, waiting for both.
#[remote]
fn bomb(depth: u32) -> u64 {
    let a = bomb::remote(depth + 1);
    let b = bomb::remote(depth + 1);
    a.get().unwrap_or(0) + b.get().unwrap_or(0) + 1
}

/// Starts a child that spins for ever, then sleeps for an hour.
#[remote]
fn abandon() -> u64 {
    let child = spin::remote();
    std::thread::sleep(Duration::from_millis(HOUR_MS));
    child.get().unwrap_or(0)
}

/// `mb` MiB of bytes, every one `x`.
#[remote]
fn big(mb: u64, x: u8) -> raylab_guest::PackedVec<u8> {
    raylab_guest::PackedVec(vec![x; (mb as usize) << 20])
}

/// Touches `mb` MiB of its memory, then returns its length.
#[remote]
fn touch(mb: u64) -> u64 {
    let v = vec![1u8; (mb as usize) << 20];
    std::hint::black_box(&v).len() as u64
}

/// Returns a reference to an object it was never given.
#[remote]
fn forge(id: u64) -> ObjectRef<u64> {
    ObjectRef::from_owned_id(id)
}

/// Declares its GPU like `@ray.remote(num_gpus=1)`.
#[remote(num_gpus = 1.0, name = "declared")]
fn declared_gpu() -> (String, Vec<u32>, f64) {
    let c = context();
    let gpus = c
        .resources
        .iter()
        .find(|(n, _)| n == "GPU")
        .map_or(0.0, |r| r.1);
    (c.function, c.gpu_ids, gpus)
}

fn recurse(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        1 + recurse(std::hint::black_box(n - 1))
    }
}

tasks!(
    square,
    slow_value,
    wait_for,
    spin,
    memory_bomb,
    huge_result,
    deep,
    fork,
    flaky,
    fails_twice,
    gpu_ids,
    declared_gpu,
    bomb,
    abandon,
    big,
    touch,
    forge
);

/// Squares computed while the bad task runs: all must be right.
fn healthy() -> Vec<ObjectRef<i64>> {
    (0..20i64).map(square::remote).collect()
}

fn check_healthy(refs: Vec<ObjectRef<i64>>) {
    let got = get_all(&refs).expect("well-behaved tasks succeed");
    assert_eq!(got, (0..20i64).map(|x| x * x).collect::<Vec<_>>());
    println!("healthy: ok");
}

/// Every resource returns to the pool (the next job runs at full capacity),
/// eventually: the bound is only there to fail rather than hang.
fn check_pool() {
    let deadline = Instant::now() + Duration::from_secs(120);
    while available_resources() != cluster_resources() {
        assert!(
            Instant::now() < deadline,
            "resources not returned: {:?}",
            available_resources()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("pool: full");
}

/// Milliseconds in an hour: a sleep nothing should wait out.
const HOUR_MS: u64 = 3_600_000;

/// How much of resource `name` is free now.
fn available(name: &str) -> f64 {
    available_resources()
        .into_iter()
        .find(|(n, _)| n == name)
        .map_or(0.0, |(_, v)| v)
}

/// Wait until `cond` holds (bounded only to fail rather than hang).
fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn expect_err<T: std::fmt::Debug>(what: &str, r: Result<T, raylab_guest::Error>, kind: ErrorKind) {
    let e = r.expect_err(what);
    assert_eq!(e.kind, kind, "{what}: {e}");
    println!("{what}: {}: {e}", e.kind);
}

fn main() {
    let scenario = std::env::args().nth(1).expect("scenario");
    let good = healthy();
    match scenario.as_str() {
        "loop" => {
            let r = spin::options(TaskOptions::new().timeout(Duration::from_millis(300))).remote();
            expect_err("loop", r.get(), ErrorKind::TimeLimitExceeded);
        }
        "sleep" => {
            // A guest asleep in a WASI call runs no guest code, so no
            // preemption tick reaches it: its time limit and a cancel must
            // still stop it (and give its CPU back: see check_pool).
            // The sleeps take an hour: if the limit or the cancel did not
            // reach them, the CPU would never come back and `check_pool`
            // would fail (no wall-clock window needed).
            let r = slow_value::options(TaskOptions::new().timeout(Duration::from_millis(300)))
                .remote(1, HOUR_MS);
            expect_err("sleep-timeout", r.get(), ErrorKind::TimeLimitExceeded);
            let r = slow_value::remote(2, HOUR_MS);
            std::thread::sleep(Duration::from_millis(100));
            r.cancel().unwrap();
            expect_err("sleep-cancel", r.get(), ErrorKind::Cancelled);
            // Blocked in `get` on an object that never comes: the same.
            let never = spin::remote();
            let w = wait_for::options(TaskOptions::new().timeout(Duration::from_millis(300)))
                .remote(&never);
            expect_err("blocked-timeout", w.get(), ErrorKind::TimeLimitExceeded);
            never.cancel().unwrap();
        }
        "memory" => {
            let r = memory_bomb::options(TaskOptions::new().memory(64 << 20)).remote();
            expect_err("memory", r.get(), ErrorKind::MemoryQuotaExceeded);
        }
        "huge-result" => expect_err(
            "huge-result",
            huge_result::remote().get(),
            ErrorKind::MemoryQuotaExceeded,
        ),
        "stack" => {
            let r = deep::options(TaskOptions::new().max_retries(0)).remote(100_000_000);
            expect_err("stack", r.get(), ErrorKind::TaskCrashed);
        }
        "fork" => expect_err("fork", fork::remote().get(), ErrorKind::TaskFailed),
        "retry" => {
            assert_eq!(flaky::remote().get().unwrap(), 3);
            println!("retry: succeeded on attempt 3");
            expect_err(
                "retry-exhausted",
                flaky::options(TaskOptions::new().max_retries(1))
                    .remote()
                    .get(),
                ErrorKind::TaskCrashed,
            );
            expect_err(
                "no-retry-on-error",
                fails_twice::remote().get(),
                ErrorKind::TaskFailed,
            );
            assert_eq!(
                fails_twice::options(TaskOptions::new().retry_exceptions(true))
                    .remote()
                    .get()
                    .unwrap(),
                3
            );
            println!("retry-exceptions: succeeded on attempt 3");
        }
        "cancel" => {
            let cpus = cluster_resources()
                .iter()
                .find(|(n, _)| n == "CPU")
                .map_or(1.0, |r| r.1);
            // Running: stopped within a tick or so.
            let running = spin::options(TaskOptions::new().num_cpus(cpus)).remote();
            let queued = square::options(TaskOptions::new().num_cpus(cpus)).remote(3);
            std::thread::sleep(Duration::from_millis(100));
            queued.cancel().unwrap();
            running.cancel().unwrap();
            expect_err("cancel-running", running.get(), ErrorKind::Cancelled);
            expect_err("cancel-queued", queued.get(), ErrorKind::Cancelled);
            // Blocked in `get`: the cancel ends the task at once, not when
            // the object it waits for arrives. The waiter holds the node's
            // one `token` (a custom resource, held until the task ends, even
            // while blocked), so the driver sees when it has ended, and
            // checks that its producer (blocked on a task that spins until
            // cancelled) had not finished by then: an order of events.
            let never = spin::remote();
            let producer = wait_for::remote(&never);
            let token = TaskOptions::new().num_cpus(0.0).resource("token", 1.0);
            let waiter = wait_for::options(token).remote(&producer);
            until("the waiter starts", || available("token") == 0.0);
            waiter.cancel().unwrap();
            expect_err("cancel-blocked", waiter.get(), ErrorKind::Cancelled);
            until("the waiter ends", || available("token") == 1.0);
            let (_, pending) = wait(vec![producer.clone()], 0, Some(Duration::ZERO)).unwrap();
            assert_eq!(pending.len(), 1, "the producer finished first");
            println!("cancel-blocked: the waiter ended while its producer was still blocked");
            // Its own `get` then fails, and it returns 0.
            never.cancel().unwrap();
            assert_eq!(producer.get().unwrap(), 0);
        }
        "gpus" => {
            let refs: Vec<_> = (0..4)
                .map(|_| gpu_ids::options(TaskOptions::new().num_gpus(1.0)).remote())
                .collect();
            let ids: Vec<Vec<u32>> = get_all(&refs).unwrap();
            for i in &ids {
                assert_eq!(i.len(), 1);
                assert!(i[0] < 2, "{ids:?}");
            }
            let halves: Vec<_> = (0..2)
                .map(|_| gpu_ids::options(TaskOptions::new().num_gpus(0.5)).remote())
                .collect();
            println!("gpus: whole {ids:?} halves {:?}", get_all(&halves).unwrap());
            let (function, ids, amount) = declared_gpu::remote().get().unwrap();
            assert_eq!(
                (function.as_str(), ids.len(), amount),
                ("declared_gpu", 1, 1.0)
            );
            // `.options()` overrides the declared amount, keeps the rest.
            let (_, _, amount) = declared_gpu::options(TaskOptions::new().num_gpus(0.5))
                .remote()
                .get()
                .unwrap();
            assert_eq!(amount, 0.5);
            println!("gpus: declared options ok");
            expect_err(
                "gpus-infeasible",
                submit::<_, Vec<u32>>("gpu_ids", &(), &TaskOptions::new().num_gpus(3.0)),
                ErrorKind::Infeasible,
            );
        }
        "bomb" => {
            // Each blocked task keeps its sandbox: the job's share runs
            // out and the rest queue (none fails for want of a sandbox);
            // the root's time limit then takes the whole tree down.
            let root = bomb::options(TaskOptions::new().timeout(Duration::from_secs(2))).remote(0);
            expect_err("bomb", root.get(), ErrorKind::TimeLimitExceeded);
        }
        "orphan" => {
            // A parent that dies takes the child it started with it: the
            // spinning child gives its CPU back (see check_pool).
            let r =
                abandon::options(TaskOptions::new().timeout(Duration::from_millis(300))).remote();
            expect_err("orphan", r.get(), ErrorKind::TimeLimitExceeded);
        }
        "big" => {
            // Objects past wasmtime's default 128 MiB per host call move,
            // up to the quotas: a put and a task result of MB MiB (200 by
            // default).
            let mb: u64 = std::env::args().nth(2).map_or(200, |a| a.parse().unwrap());
            let data = raylab_guest::PackedVec(vec![3u8; (mb as usize) << 20]);
            let r = raylab_guest::put(&data).unwrap();
            drop(data);
            assert_eq!(r.get().unwrap().0.len(), (mb as usize) << 20);
            drop(r);
            let result = big::remote(mb, 9).get().unwrap().0;
            assert!(result.len() == (mb as usize) << 20 && result.iter().all(|&b| b == 9));
            println!("big: {mb} MiB put and {mb} MiB result moved");
        }
        "burst" => {
            // One at a time, each touching 500 MiB within its 600 MiB quota:
            // what a finished sandbox keeps must not pile up (the test reads
            // the host's memory afterwards).
            for _ in 0..10 {
                let r = touch::options(TaskOptions::new().memory(600 << 20)).remote(500);
                assert_eq!(r.get().unwrap(), 500 << 20);
            }
            println!("burst: 10 tasks of 500 MiB done");
        }
        "forged-result" => expect_err(
            "forged-result",
            forge::remote(987_654_321).get(),
            ErrorKind::InvalidArgument,
        ),
        "long-name" => {
            let name = "n".repeat(100_000);
            let r = square::options(TaskOptions::new().name(name)).remote(5);
            assert_eq!(r.get().unwrap(), 25);
            println!("long-name: ran");
        }
        "spill" => {
            // Four objects of 40 MiB in a store of 64 MiB: the older ones go
            // to disk and come back when read.
            let refs: Vec<_> = (0..4u8)
                .map(|i| raylab_guest::put(&raylab_guest::PackedVec(vec![i; 40 << 20])))
                .collect::<Result<_, _>>()
                .unwrap();
            for (i, r) in refs.iter().enumerate() {
                let v = r.get().unwrap().0;
                assert!(v.len() == 40 << 20 && v.iter().all(|&b| b == i as u8));
            }
            println!("spill: 4 objects of 40 MiB read back intact");
        }
        "driver-memory" => {
            // The driver itself, not a task: its quota holds it.
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 16 << 20]);
            }
        }
        "driver-loop" => {
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        other => panic!("unknown scenario {other}"),
    }
    check_healthy(good);
    check_pool();
}
