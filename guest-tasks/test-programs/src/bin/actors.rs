//! Actors, one scenario per run (`actors <scenario> [name]`): ordering,
//! state, handles passed around, names, restarts and retries after
//! crashes, kill, time and memory limits, the handle's scope, and
//! detached actors. Each check prints one line (`scenario: what: ...`,
//! errors as `Kind: message`) for the host's tests to assert on; a check
//! that fails panics the driver.
use std::fmt::Debug;
use std::time::{Duration, Instant};

use raylab_guest::{
    ActorHandle, ActorOptions, Error, ErrorKind, ObjectRef, actor, get_actor, get_all, put, remote,
    tasks,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A counter.
pub struct Counter {
    n: i64,
}

#[actor]
impl Counter {
    /// Start at `start`.
    pub fn new(start: i64) -> Self {
        Counter { n: start }
    }
    /// Add `by`; the new count.
    pub fn incr(&mut self, by: i64) -> i64 {
        self.n += by;
        self.n
    }
    /// The count.
    pub fn get(&self) -> i64 {
        self.n
    }
    /// Divide the count, failing on zero (the actor lives on).
    pub fn divide(&mut self, by: i64) -> Result<i64, String> {
        if by == 0 {
            return Err(format!("cannot divide {} by zero", self.n));
        }
        self.n /= by;
        Ok(self.n)
    }
    /// Sleep `ms`, then the count.
    pub fn slow(&self, ms: u64) -> i64 {
        std::thread::sleep(Duration::from_millis(ms));
        self.n
    }
    /// Add `by` to `other` through its handle; its new count.
    pub fn poke(&self, other: ActorHandle<Counter>, by: i64) -> Result<i64, String> {
        other.incr(by).get().map_err(|e| e.to_string())
    }
}

/// Refuses an empty name.
pub struct Named {
    name: String,
}

#[actor]
impl Named {
    /// Fails on an empty name.
    pub fn new(name: String) -> Result<Self, String> {
        if name.is_empty() {
            return Err("a name is required".into());
        }
        Ok(Named { name })
    }
    /// The name.
    pub fn name(&self) -> String {
        self.name.clone()
    }
}

/// Crashes on the second `hit` after each (re)start.
pub struct Fragile {
    calls: u32,
}

#[actor]
impl Fragile {
    /// No calls yet.
    pub fn new() -> Self {
        Fragile { calls: 0 }
    }
    /// The number of calls since the (re)start; panics on the second.
    pub fn hit(&mut self) -> u32 {
        self.calls += 1;
        if self.calls == 2 {
            panic!("crash on call 2");
        }
        self.calls
    }
}

/// Counts pings since its (re)start; can spin or hog memory.
pub struct Probe {
    pings: u32,
}

#[actor]
impl Probe {
    /// No pings yet.
    pub fn new() -> Self {
        Probe { pings: 0 }
    }
    /// Pings since the (re)start.
    pub fn ping(&mut self) -> u32 {
        self.pings += 1;
        self.pings
    }
    /// Never returns.
    pub fn spin(&self) -> u64 {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
    /// Allocates without bound.
    pub fn hog(&self) -> u64 {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
        }
    }
}

/// A handle stored inside an object.
#[derive(Serialize, Deserialize)]
pub struct Holder {
    /// The counter.
    pub counter: ActorHandle<Counter>,
    /// Something beside it.
    pub note: String,
}

/// Add `by` through the handle; the new count.
#[remote]
fn bump(c: ActorHandle<Counter>, by: i64) -> Result<i64, String> {
    c.incr(by).get().map_err(|e| e.to_string())
}

/// Add `by` through the handle the holder stores.
#[remote]
fn bump_held(h: Holder, by: i64) -> Result<i64, String> {
    h.counter
        .incr(by)
        .get()
        .map_err(|e| format!("{}: {e}", h.note))
}

/// One more than `x`.
#[remote]
fn plus_one(x: i64) -> i64 {
    x + 1
}

/// Create a counter and return its handle.
#[remote]
fn make_counter(start: i64) -> ActorHandle<Counter> {
    Counter::remote(start)
}

tasks!(
    Counter,
    Named,
    Fragile,
    Probe,
    bump,
    bump_held,
    plus_one,
    make_counter
);

/// Expect an error of one of `kinds` (any kind if none is given); print
/// `what: Kind: message` on one line.
fn expect_err<T: Debug>(what: &str, r: Result<T, Error>, kinds: &[ErrorKind]) -> Error {
    let e = r.expect_err(what);
    assert!(
        kinds.is_empty() || kinds.contains(&e.kind),
        "{what}: {}: {e}",
        e.kind
    );
    // One line, even where the message quotes a multi-line panic.
    println!("{what}: {}: {}", e.kind, e.to_string().replace('\n', " "));
    e
}

/// The value of a call that the host may refuse at once (an error value)
/// or accept and fail later: both read the same.
fn outcome<R: DeserializeOwned + 'static>(r: Result<ObjectRef<R>, Error>) -> Result<R, Error> {
    r.and_then(|r| r.get())
}

/// Retry `f` until it returns `Err` (bounded, to fail rather than hang).
fn until_err<T>(what: &str, f: impl Fn() -> Result<T, Error>) -> Error {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match f() {
            Err(e) => return e,
            Ok(_) => {
                assert!(Instant::now() < deadline, "never happened: {what}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn main() {
    let scenario = std::env::args().nth(1).expect("scenario");
    let name = std::env::args().nth(2).unwrap_or_else(|| "keeper".into());
    match scenario.as_str() {
        "order" => {
            // One caller, 100 calls without waiting: run in order.
            let c = Counter::remote(0);
            let refs: Vec<ObjectRef<i64>> = (0..100).map(|_| c.incr(1)).collect();
            let got = get_all(&refs).unwrap();
            assert_eq!(got, (1..=100).collect::<Vec<i64>>());
            println!("order: 100 calls ran in order (1..=100)");
            assert_eq!(c.get().get().unwrap(), 100);
            println!("order: final count 100");
        }
        "state" => {
            let c = Counter::remote(5);
            c.ready().unwrap();
            println!("state: ready");
            assert_eq!(c.incr(2).get().unwrap(), 7);
            assert_eq!(c.incr(3).get().unwrap(), 10);
            assert_eq!(c.get().get().unwrap(), 10);
            println!("state: 5 + 2 + 3 = 10");
            // Another actor of the same class has its own state.
            let d = Counter::remote(100);
            assert_eq!(d.incr(1).get().unwrap(), 101);
            assert_eq!(c.get().get().unwrap(), 10);
            println!("state: separate actors: 101 and 10");
            // A method's own error fails the call, not the actor.
            expect_err(
                "state: divide by zero",
                c.divide(0).get(),
                &[ErrorKind::TaskFailed],
            );
            assert_eq!(c.divide(2).get().unwrap(), 5);
            println!("state: after the error: 5");
            // Arguments may be refs (dependencies), as for remote functions.
            let three = put(&3i64).unwrap();
            assert_eq!(c.incr(&three).get().unwrap(), 8);
            println!("state: ref argument: 8");
            // Results as dependencies: of a method for another actor's
            // method and for a task, of a task for a method.
            assert_eq!(d.incr(c.get()).get().unwrap(), 109);
            println!("state: method on a method's result: 109");
            let nine = plus_one::remote(c.get());
            assert_eq!(nine.get().unwrap(), 9);
            println!("state: task on a method's result: 9");
            assert_eq!(c.incr(nine).get().unwrap(), 17);
            println!("state: method on a task's result: 17");
            // A constructor's error fails the handle.
            let bad = Named::remote(String::new());
            let e = expect_err(
                "state: failed constructor",
                bad.ready(),
                &[ErrorKind::TaskFailed],
            );
            assert!(e.message.contains("a name is required"), "{e}");
            expect_err(
                "state: call after a failed constructor",
                outcome(bad.fallible().name()),
                &[ErrorKind::ActorDied, ErrorKind::TaskFailed],
            );
            let good = Named::remote("n".to_string());
            assert_eq!(good.name().get().unwrap(), "n");
            println!("state: constructor ok");
        }
        "handles" => {
            let c = Counter::remote(0);
            // To a remote task.
            assert_eq!(bump::remote(&c, 5).get().unwrap(), 5);
            println!("handles: task: 5");
            // To another actor's method.
            let d = Counter::remote(1000);
            assert_eq!(d.poke(&c, 7).get().unwrap(), 12);
            println!("handles: actor: 12");
            // Stored inside an object that a task receives.
            let held = put(&Holder {
                counter: c.clone(),
                note: "held".into(),
            })
            .unwrap();
            assert_eq!(bump_held::remote(&held, 10).get().unwrap(), 22);
            println!("handles: stored: 22");
            // The driver reads the object back: a handle again.
            let h = held.get().unwrap();
            assert_eq!(h.counter, c);
            assert_eq!(h.counter.incr(1).get().unwrap(), 23);
            println!("handles: read back: 23");
            drop((h, held));
            // Returned from a task that created it.
            let made = make_counter::remote(40).get().unwrap();
            assert_eq!(made.incr(2).get().unwrap(), 42);
            println!("handles: returned: 42");
            // Every call reached the same actor.
            assert_eq!(c.get().get().unwrap(), 23);
            println!("handles: count 23");
        }
        "named" => {
            let c = Counter::options(ActorOptions::new().name("counter-a")).remote(1);
            let found = get_actor::<Counter>("counter-a").unwrap();
            assert_eq!(found.incr(1).get().unwrap(), 2);
            assert_eq!(c.get().get().unwrap(), 2);
            println!("named: found: 2");
            expect_err("named: unknown", get_actor::<Counter>("nobody"), &[]);
            // The name is taken while the first one lives.
            expect_err(
                "named: taken",
                Counter::options(ActorOptions::new().name("counter-a"))
                    .try_remote(0)
                    .and_then(|h| h.ready()),
                &[],
            );
            assert_eq!(found.get().get().unwrap(), 2);
            println!("named: first one unharmed: 2");
        }
        "restart" => {
            let f = Fragile::options(ActorOptions::new().max_restarts(1)).remote();
            assert_eq!(f.hit().get().unwrap(), 1);
            let e = expect_err("restart: crash", f.hit().get(), &[ErrorKind::ActorDied]);
            assert!(e.message.contains("crash on call 2"), "{e}");
            // Back, its constructor run again: the state starts over.
            assert_eq!(f.hit().get().unwrap(), 1);
            println!("restart: restarted: 1");
            let e = expect_err(
                "restart: second crash",
                f.hit().get(),
                &[ErrorKind::ActorDied],
            );
            assert!(e.message.contains("crash on call 2"), "{e}");
            // No restart left: every call fails, at once.
            for _ in 0..3 {
                let start = Instant::now();
                let e = outcome(f.fallible().hit()).expect_err("dead");
                assert_eq!(e.kind, ErrorKind::ActorDied, "{e}");
                assert!(start.elapsed() < Duration::from_secs(2), "{e}");
            }
            expect_err(
                "restart: dead",
                outcome(f.fallible().hit()),
                &[ErrorKind::ActorDied],
            );
        }
        "retry" => {
            let f =
                Fragile::options(ActorOptions::new().max_restarts(1).max_task_retries(1)).remote();
            assert_eq!(f.hit().get().unwrap(), 1);
            // The crashing call runs again on the restarted actor.
            assert_eq!(f.hit().get().unwrap(), 1);
            println!("retry: crashing call retried on the restarted actor: 1");
        }
        "kill" => {
            let c = Counter::remote(0);
            c.ready().unwrap();
            let running = c.slow(60_000);
            let queued: Vec<ObjectRef<i64>> = (0..5).map(|_| c.incr(1)).collect();
            std::thread::sleep(Duration::from_millis(200));
            let start = Instant::now();
            c.kill().unwrap();
            expect_err(
                "kill: running",
                running.get(),
                &[ErrorKind::ActorDied, ErrorKind::Cancelled],
            );
            for (i, q) in queued.iter().enumerate() {
                let e = q.get().expect_err("queued call after kill");
                assert_eq!(e.kind, ErrorKind::ActorDied, "queued {i}: {e}");
                assert!(e.message.contains("kill"), "queued {i}: {e}");
            }
            println!("kill: 5 queued calls: actor-died (killed)");
            assert!(start.elapsed() < Duration::from_secs(5));
            expect_err(
                "kill: later call",
                outcome(c.fallible().incr(1)),
                &[ErrorKind::ActorDied],
            );
            // Killing again does nothing.
            c.kill().unwrap();
            println!("kill: again: ok");
        }
        "loop" => {
            let p = Probe::options(
                ActorOptions::new()
                    .timeout(Duration::from_millis(300))
                    .max_restarts(1),
            )
            .remote();
            assert_eq!(p.ping().get().unwrap(), 1);
            expect_err(
                "loop: spin",
                p.spin().get(),
                &[ErrorKind::TimeLimitExceeded, ErrorKind::ActorDied],
            );
            assert_eq!(p.ping().get().unwrap(), 1);
            println!("loop: restarted: 1");
        }
        "memory" => {
            let p = Probe::options(ActorOptions::new().memory(64 << 20).max_restarts(1)).remote();
            assert_eq!(p.ping().get().unwrap(), 1);
            expect_err(
                "memory: hog",
                p.hog().get(),
                &[ErrorKind::MemoryQuotaExceeded, ErrorKind::ActorDied],
            );
            assert_eq!(p.ping().get().unwrap(), 1);
            println!("memory: restarted: 1");
        }
        "scoped" => {
            {
                let c = Counter::options(ActorOptions::new().name("scoped")).remote(1);
                assert_eq!(c.incr(1).get().unwrap(), 2);
                let again = get_actor::<Counter>("scoped").unwrap();
                assert_eq!(again.get().get().unwrap(), 2);
                println!("scoped: alive while referenced");
            }
            // No reference left: the actor is killed, its name freed.
            let e = until_err("the actor is gone", || get_actor::<Counter>("scoped"));
            println!("scoped: gone after drop: {}: {e}", e.kind);
            // The name can be taken again.
            let c = Counter::options(ActorOptions::new().name("scoped")).remote(7);
            assert_eq!(c.get().get().unwrap(), 7);
            println!("scoped: name reused");
        }
        "detached" => {
            // Outlives this job; `detached-find` finds it from another.
            let c = Counter::options(ActorOptions::new().name(&name).detached(true)).remote(41);
            assert_eq!(c.incr(1).get().unwrap(), 42);
            println!("detached: created {name}: 42");
        }
        "detached-find" => {
            let c = get_actor::<Counter>(&name).unwrap();
            let n = c.incr(1).get().unwrap();
            println!("detached: found {name}: {n}");
        }
        "detached-kill" => {
            let c = get_actor::<Counter>(&name).unwrap();
            c.kill().unwrap();
            drop(c);
            let e = until_err("the actor is gone", || get_actor::<Counter>(&name));
            println!("detached: killed {name}: {}: {e}", e.kind);
        }
        other => panic!("unknown scenario `{other}`"),
    }
}
