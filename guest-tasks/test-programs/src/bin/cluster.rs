//! Tasks across the nodes of a cluster: placement (node affinity by name
//! and id, custom resources, GPUs, spread, errors) and objects moving in
//! both directions. Prints `key=value` lines for the test to check.
use raylab_guest::{
    ActorHandle, ActorOptions, ByRef, ErrorKind, ObjectRef, PackedVec, TaskOptions, actor, context,
    get_actor, put, remote, submit_raw, tasks, wait,
};

/// `n` bytes of a pattern that a reader can check.
fn pattern(n: u64) -> String {
    (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect()
}

/// A checksum that notices a moved or missing byte.
fn checksum(s: &str) -> u64 {
    s.bytes().enumerate().fold(0u64, |h, (i, b)| {
        h.wrapping_mul(31).wrapping_add(b as u64 ^ i as u64)
    })
}

#[remote]
fn where_am_i() -> String {
    context().node
}
#[remote]
fn measure(s: String) -> (String, u64, u64) {
    (context().node, s.len() as u64, checksum(&s))
}
#[remote]
fn make(n: u64) -> (String, String) {
    (context().node, pattern(n))
}
/// Reads only its range of an object passed by reference (from the
/// node that owns it, when that is another one).
#[remote]
fn sum_range(data: ByRef<PackedVec<f64>>, start: u64, end: u64) -> Result<(String, f64), String> {
    let (ready, _) = wait(vec![data.0.clone()], 1, None).map_err(|e| e.to_string())?;
    assert_eq!(ready.len(), 1);
    let xs = data
        .get_range(start as usize..end as usize)
        .map_err(|e| e.to_string())?;
    Ok((context().node, xs.iter().sum()))
}
/// Makes the object it borrows (it lives on the driver's node) a
/// dependency of a task of its own.
#[remote]
fn relay(data: ByRef<PackedVec<f64>>) -> Result<(String, String, f64), String> {
    let (node, sum) = total_of::remote(&data.0).get().map_err(|e| e.to_string())?;
    Ok((context().node, node, sum))
}
#[remote]
fn total_of(xs: PackedVec<f64>) -> (String, f64) {
    (context().node, xs.iter().sum())
}
/// A ref to an object it put, on the node it runs on.
#[remote]
fn put_there(x: i64) -> ObjectRef<i64> {
    put(&x).unwrap()
}
#[remote]
fn double_on(x: i64) -> (String, i64) {
    (context().node, 2 * x)
}
/// Refs to objects made on the node it runs on: the result of a task it
/// submitted there, and an object it put.
#[remote]
fn make_refs(x: i64) -> (ObjectRef<String>, ObjectRef<i64>) {
    (where_am_i::remote(), put(&(2 * x)).unwrap())
}
/// A ref to `n` bytes it put, on the node it runs on.
#[remote]
fn put_big(n: u64) -> ObjectRef<String> {
    put(&pattern(n)).unwrap()
}
/// A ref to a list it put (on its node) holding refs it borrowed.
#[remote]
fn wrap(xs: Vec<ObjectRef<String>>) -> ObjectRef<Vec<ObjectRef<String>>> {
    put(&xs).unwrap()
}
/// Crashes until its `n`th attempt.
#[remote]
fn crash_until(n: u32) -> (String, u32) {
    let attempt = context().attempt;
    assert!(attempt >= n, "attempt {attempt} crashes");
    (context().node, attempt)
}
#[remote]
fn nap(ms: u64) -> String {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    context().node
}
/// Adds up what it is sent, remembering the order, on the node it lives
/// on.
pub struct Tally {
    sum: i64,
    order: Vec<i64>,
}

#[actor]
impl Tally {
    /// Start at `start`.
    pub fn new(start: i64) -> Self {
        Tally {
            sum: start,
            order: Vec::new(),
        }
    }
    /// Add `x`; the sum.
    pub fn add(&mut self, x: i64) -> i64 {
        self.sum += x;
        self.order.push(x);
        self.sum
    }
    /// Add the value of an object (a dependency, from whichever node owns
    /// it); the sum.
    pub fn add_ref(&mut self, x: i64) -> i64 {
        self.add(x)
    }
    /// Where it lives and its sum.
    pub fn whereabouts(&self) -> (String, i64) {
        (context().node, self.sum)
    }
    /// What it was sent, in order.
    pub fn order(&self) -> Vec<i64> {
        self.order.clone()
    }
}

/// Sends `n` numbers from `from` up to a tally in a row, without waiting,
/// then waits for the last: (its node, the sum then).
#[remote]
fn send_run(tally: ActorHandle<Tally>, from: i64, n: i64) -> Result<(String, i64), String> {
    let mut last = None;
    for x in from..from + n {
        last = Some(tally.add(x));
    }
    let sum = last.expect("n > 0").get().map_err(|e| e.to_string())?;
    Ok((context().node, sum))
}

/// Finds the actor named `name` (on whichever node) and asks where it is.
#[remote]
fn find_and_ask(name: String) -> Result<(String, String, i64), String> {
    let tally = get_actor::<Tally>(&name).map_err(|e| e.to_string())?;
    let (there, sum) = tally.whereabouts().get().map_err(|e| e.to_string())?;
    Ok((context().node, there, sum))
}

/// Makes a detached actor named `name` on its own node; that node.
#[remote]
fn make_detached(name: String) -> Result<String, String> {
    let options = ActorOptions::new().name(&name).detached(true);
    let tally = Tally::options(options).remote(1000);
    let (there, _) = tally.whereabouts().get().map_err(|e| e.to_string())?;
    Ok(there)
}

tasks!(
    Tally,
    send_run,
    find_and_ask,
    make_detached,
    where_am_i,
    measure,
    make,
    sum_range,
    relay,
    total_of,
    put_there,
    double_on,
    put_big,
    wrap,
    make_refs,
    crash_until,
    nap
);

fn on(node: &str) -> TaskOptions {
    TaskOptions::new().node_affinity(node, false)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("place");
    println!("driver={}", context().node);
    match mode {
        "place" => place(),
        "objects" => {
            let mb: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
            objects(mb << 20)
        }
        "spread" => {
            let (n, ms): (usize, u64) = (
                args.get(2).and_then(|a| a.parse().ok()).unwrap_or(8),
                args.get(3).and_then(|a| a.parse().ok()).unwrap_or(0),
            );
            let refs: Vec<_> = (0..n)
                .map(|_| nap::options(TaskOptions::new().spread()).remote(ms))
                .collect();
            let mut nodes: Vec<String> = refs.iter().map(|r| r.get().unwrap()).collect();
            nodes.sort();
            println!("spread={}", nodes.join(","));
        }
        // A burst under the default strategy: N naps of MS ms.
        "burst" => {
            let (n, ms): (usize, u64) = (
                args.get(2).and_then(|a| a.parse().ok()).unwrap_or(6),
                args.get(3).and_then(|a| a.parse().ok()).unwrap_or(500),
            );
            let refs: Vec<_> = (0..n).map(|_| nap::remote(ms)).collect();
            let mut nodes: Vec<String> = refs.iter().map(|r| r.get().unwrap()).collect();
            nodes.sort();
            println!("burst={}", nodes.join(","));
        }
        // N tasks named t0.. of MS ms each (the default strategy); how
        // many results came back.
        "count" => {
            let (n, ms): (usize, u64) = (
                args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10),
                args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1000),
            );
            let refs: Vec<_> = (0..n)
                .map(|i| nap::options(TaskOptions::new().name(format!("t{i}"))).remote(ms))
                .collect();
            let got = refs.iter().filter(|r| r.get().is_ok()).count();
            println!("count={got}");
        }
        "limits" => limits(),
        "actors" => actors(),
        // Actors on w2 (the test kills it): one that restarts, one that
        // does not.
        "restart" => {
            let soft = ActorOptions::new().node_affinity("w2", true);
            let again = Tally::options(soft.clone().max_restarts(1)).remote(3);
            let once = Tally::options(soft).remote(4);
            println!("sum={}", again.add(10).get().unwrap());
            let (a, _) = again.whereabouts().get().unwrap();
            let (b, _) = once.whereabouts().get().unwrap();
            println!("before={a},{b}");
            println!("step=ready");
            let start = std::time::Instant::now();
            loop {
                assert!(start.elapsed().as_secs() < 60, "never restarted");
                match again.whereabouts().get() {
                    Ok((node, sum)) if node != "w2" => {
                        println!("restarted={node} sum={sum}");
                        break;
                    }
                    // Before its node is known dead, and calls on their
                    // way there when it died.
                    Ok(_) | Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
                }
            }
            println!("after={}", again.add(1).get().unwrap());
            match once.add(1).get() {
                Ok(n) => println!("lost=no {n}"),
                Err(e) => {
                    println!("lost={:?}", e.kind);
                    println!("lost_why={e}");
                }
            }
        }
        // An object that lives on w2 only, read until w2 is gone.
        "lost" => {
            let inner: ObjectRef<i64> = put_there::options(on("w2")).remote(5).get().unwrap();
            println!("got={}", inner.get().unwrap());
            let start = std::time::Instant::now();
            loop {
                match inner.get() {
                    Ok(_) if start.elapsed().as_secs() < 60 => {
                        std::thread::sleep(std::time::Duration::from_millis(100))
                    }
                    Ok(_) => panic!("never lost"),
                    Err(e) => {
                        println!("lost={:?} {}", e.kind, e.message);
                        break;
                    }
                }
            }
        }
        // References across nodes: an object of w1, held by the driver
        // and by a list on w2, freed once neither holds it (the job still
        // running). Each step waits a while for the test to look.
        "refcount" => {
            let pause = || std::thread::sleep(std::time::Duration::from_secs(3));
            let a: ObjectRef<String> = put_big::options(on("w1")).remote(8 << 20).get().unwrap();
            let wrapped = wrap::options(on("w2"))
                .remote(vec![a.clone()])
                .get()
                .unwrap();
            let inner = wrapped.get().unwrap();
            let len = inner[0].get().unwrap().len();
            println!("nested={len}");
            drop(inner);
            println!("step=holding");
            pause();
            drop(a);
            println!("step=wrapped");
            pause();
            drop(wrapped);
            println!("step=dropped");
            std::thread::sleep(std::time::Duration::from_secs(10));
        }
        // Objects that die with their node are rebuilt by running again
        // the task whose result referred to them (the test kills w2).
        "rebuild" => {
            let soft = TaskOptions::new().node_affinity("w2", true);
            let (a, b) = make_refs::options(soft).remote(21).get().unwrap();
            println!("before={} {}", a.get().unwrap(), b.get().unwrap());
            println!("step=ready");
            let start = std::time::Instant::now();
            loop {
                let node = a.get().unwrap();
                if node != "w2" {
                    println!("after={node} {}", b.get().unwrap());
                    break;
                }
                assert!(start.elapsed().as_secs() < 60, "never rebuilt");
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        // A task no node can hold yet: it waits for one to join.
        "late" => {
            let late = TaskOptions::new().resource("late", 1.0);
            println!("late={}", where_am_i::options(late).remote().get().unwrap());
        }
        other => panic!("unknown mode {other}"),
    }
}

fn place() {
    println!("here={}", where_am_i::remote().get().unwrap());
    println!(
        "pinned-w1={}",
        where_am_i::options(on("w1")).remote().get().unwrap()
    );
    println!(
        "pinned-3={}",
        where_am_i::options(on("3")).remote().get().unwrap()
    );
    let accel = TaskOptions::new().resource("accel", 1.0);
    println!(
        "accel={}",
        where_am_i::options(accel).remote().get().unwrap()
    );
    let gpu = TaskOptions::new().num_gpus(1.0);
    println!("gpu={}", where_am_i::options(gpu).remote().get().unwrap());
    let soft = TaskOptions::new().node_affinity("nowhere", true);
    println!("soft={}", where_am_i::options(soft).remote().get().unwrap());
    // Refused at submission, as a value (`remote()` would panic).
    let submit = |options: TaskOptions| {
        submit_raw::<String>("where_am_i", &[0x90], &options).and_then(|r| r.get())
    };
    match submit(on("nowhere")) {
        Ok(n) => println!("hard=ran on {n}"),
        Err(e) => println!("hard={e}"),
    }
    // Pinned to a node that cannot hold it: refused at once.
    match submit(on("w1").num_gpus(1.0)) {
        Ok(n) => println!("pinned_infeasible=ran on {n}"),
        Err(e) => println!("pinned_infeasible={e}"),
    }
}

fn objects(n: u64) {
    // Here to w1: a put object as a dependency.
    let data = pattern(n);
    let sum = checksum(&data);
    let big = put(&data).unwrap();
    drop(data);
    let (node, len, got) = measure::options(on("w1")).remote(&big).get().unwrap();
    println!("to={node} len={len} ok={}", got == sum);
    drop(big);
    // w1 to here: a result.
    let (node, back) = make::options(on("w1")).remote(n).get().unwrap();
    println!(
        "from={node} len={} ok={}",
        back.len(),
        checksum(&back) == sum
    );
    // By reference: each node reads only its range from the owner.
    let n = 2_000_000u64;
    let data = put(&PackedVec((0..n).map(|i| i as f64).collect::<Vec<f64>>())).unwrap();
    let parts: Vec<_> = [("w1", 0, n / 2), ("w2", n / 2, n)]
        .into_iter()
        .map(|(node, a, b)| sum_range::options(on(node)).remote(&data, a, b))
        .collect();
    let mut total = 0.0;
    let mut nodes = Vec::new();
    for p in parts {
        let (node, sum) = p.get().unwrap();
        nodes.push(node);
        total += sum;
    }
    println!(
        "byref={} ok={}",
        nodes.join(","),
        total == (n * (n - 1) / 2) as f64
    );
    let (relay_node, _, sum) = relay::options(on("w1")).remote(&data).get().unwrap();
    println!("relay={relay_node} ok={}", sum == (n * (n - 1) / 2) as f64);
    // A result holding a ref to an object of w1: read here, and made a
    // dependency of a task on w2.
    let inner: ObjectRef<i64> = put_there::options(on("w1")).remote(7).get().unwrap();
    let direct = inner.get().unwrap();
    let (node, doubled) = double_on::options(on("w2")).remote(&inner).get().unwrap();
    println!("ref_back={direct} {node} {doubled}");
    // Small, both ways, through a chain of two nodes: w1's result is w2's
    // argument.
    let small = make::options(on("w1")).remote(1000);
    let (_, s) = small.get().unwrap();
    let (node, len, got) = measure::options(on("w2")).remote(s).get().unwrap();
    println!(
        "chain={node} len={len} ok={}",
        got == checksum(&pattern(1000))
    );
}

/// Retries, time limits and cancellation of tasks on another node.
fn limits() {
    let (node, attempt) = crash_until::options(on("w1").max_retries(2))
        .remote(3)
        .get()
        .unwrap();
    println!("retried={node} attempt={attempt}");
    let e = crash_until::options(on("w1").max_retries(1))
        .remote(3)
        .get()
        .unwrap_err();
    println!("crashed={:?}", e.kind);
    let limited = TaskOptions::new()
        .node_affinity("w1", false)
        .timeout(std::time::Duration::from_millis(300));
    let e = nap::options(limited).remote(60_000).get().unwrap_err();
    println!("limited={:?}", e.kind);
    let long = nap::options(on("w1")).remote(60_000);
    std::thread::sleep(std::time::Duration::from_millis(500));
    long.cancel().unwrap();
    let e = long.get().unwrap_err();
    println!("cancelled={:?}", e.kind);
}

/// Actors across the nodes: placed by affinity, resources and spread,
/// called from every node in order, found by name from any node, killed
/// from another node.
fn actors() {
    // Made here (no CPU asked for): tasks on both workers call it.
    let here = Tally::remote(0);
    let w1 = send_run::options(on("w1")).remote(&here, 1, 50);
    let w2 = send_run::options(on("w2")).remote(&here, 100, 50);
    let (n1, _) = w1.get().unwrap();
    let (n2, _) = w2.get().unwrap();
    let (there, sum) = here.whereabouts().get().unwrap();
    println!("here={there} callers={n1},{n2} sum={sum}");
    // Each caller's calls ran in the order it made them.
    let order = here.order().get().unwrap();
    let from_w1: Vec<i64> = order.iter().copied().filter(|x| *x < 100).collect();
    let from_w2: Vec<i64> = order.iter().copied().filter(|x| *x >= 100).collect();
    println!(
        "in_order={}",
        from_w1 == (1..51).collect::<Vec<_>>() && from_w2 == (100..150).collect::<Vec<_>>()
    );

    // Placed by affinity on w2, by a resource on w1: called from here and
    // from the other worker; an object made here is an argument there.
    let on_w2 = Tally::options(ActorOptions::new().node_affinity("w2", false)).remote(10);
    let by_accel = Tally::options(ActorOptions::new().resource("accel", 1.0)).remote(20);
    let x = put(&5i64).unwrap();
    println!("ref_arg={}", on_w2.add_ref(&x).get().unwrap());
    let (caller, sum) = send_run::options(on("w1"))
        .remote(&on_w2, 1, 3)
        .get()
        .unwrap();
    let (w2_node, _) = on_w2.whereabouts().get().unwrap();
    println!("affinity={w2_node} caller={caller} sum={sum}");
    let (accel_node, _) = by_accel.whereabouts().get().unwrap();
    println!("resource={accel_node}");
    let spread: Vec<_> = (0..3)
        .map(|_| Tally::options(ActorOptions::new().spread()).remote(0))
        .collect();
    let mut nodes: Vec<String> = spread
        .iter()
        .map(|t| t.whereabouts().get().unwrap().0)
        .collect();
    nodes.sort();
    println!("spread={}", nodes.join(","));

    // A named actor on w2, found from w1 and from here.
    let named =
        Tally::options(ActorOptions::new().name("board").node_affinity("w2", false)).remote(7);
    let (finder, there, sum) = find_and_ask::options(on("w1"))
        .remote("board".to_string())
        .get()
        .unwrap();
    println!("named={there} finder={finder} sum={sum}");
    let found = get_actor::<Tally>("board").unwrap();
    println!("found_here={}", found.add(1).get().unwrap());
    // The name is the cluster's: taken here too while w2's lives.
    match Tally::options(ActorOptions::new().name("board")).try_remote(0) {
        Ok(_) => println!("taken=no"),
        Err(e) => println!(
            "taken={:?} {}",
            e.kind,
            e.message.contains("already exists")
        ),
    }
    drop(named);
    match get_actor::<Tally>("nobody") {
        Ok(_) => println!("unknown=found"),
        Err(e) => println!("unknown={:?}", e.kind),
    }

    // A detached actor made by a task on w1 outlives that task; the
    // driver finds it, and kills it there.
    let made_on = make_detached::options(on("w1"))
        .remote("keeper".to_string())
        .get()
        .unwrap();
    let keeper = get_actor::<Tally>("keeper").unwrap();
    let (there, sum) = keeper.whereabouts().get().unwrap();
    println!("detached={made_on},{there} sum={sum}");
    keeper.kill().unwrap();
    let start = std::time::Instant::now();
    let after = loop {
        match keeper.add(1).get() {
            Err(e) => break e,
            Ok(_) if start.elapsed().as_secs() < 10 => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Ok(_) => panic!("never killed"),
        }
    };
    println!("killed={}", after.kind == ErrorKind::ActorDied);
}
