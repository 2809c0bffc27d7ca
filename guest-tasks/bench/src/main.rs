//! The guest side of `raylab-host bench`: each mode prints one
//! `result: <number>` line that the host parses.
//!
//! * `throughput N`: submit N no-op tasks, then get them all; tasks/s.
//! * `throughput-steady N`: `throughput` measured on a second batch of N
//!   in the same process.
//! * `work-throughput N US`: the same with tasks that each spin for US
//!   microseconds; tasks/s.
//! * `latency N`: N times submit one no-op task and get it; µs per round trip.
//! * `put MB` / `get MB`: store / fetch an MB-megabyte object; GB/s
//!   (median of the warm rounds).
//! * `idle MS`: do nothing for MS milliseconds (the host samples RSS).
//! * `actor-latency N`: N times call an actor's no-op method and get the
//!   result; µs per round trip.
//! * `actor-throughput N`: N calls to one actor, then get them all; calls/s.
//! * `actor-many N`: 4 tasks each make N/4 calls to one actor, then get
//!   them; calls/s of the whole.
//! * `spill N`: put N objects of 100 MB, then get each back, in a store
//!   too small for them (the host runs it with a small store and reads
//!   its spill figures); prints N.
//! * `remote-latency N NODE` / `remote-throughput N NODE`: as `latency` and
//!   `throughput`, with every task pinned to the cluster node NODE.
//! * `remote-transfer MB NODE`: a task on NODE takes an MB-megabyte
//!   argument and returns one as big; GB/s moved (both ways, median of
//!   four warm rounds).
use std::time::{Duration, Instant};

use raylab_guest::bindings::raylab::runtime::runtime as raw;
use raylab_guest::{ActorHandle, PackedVec, TaskOptions, actor, get_all, put, remote, tasks};

remote! {
    fn noop() -> () {}

    /// Spin for `us` microseconds (work that holds a core).
    fn spin(us: u64) -> u64 {
        let start = Instant::now();
        let mut turns = 0u64;
        while start.elapsed() < Duration::from_micros(us) {
            turns = turns.wrapping_add(1);
        }
        turns
    }

    /// Returns the bytes it was given.
    fn echo(data: PackedVec<u8>) -> PackedVec<u8> { data }

    /// Make `n` calls to `sink` and wait for them all.
    fn caller(sink: ActorHandle<Sink>, n: u64) -> u64 {
        let refs: Vec<_> = (0..n).map(|_| sink.poke()).collect();
        get_all(&refs).unwrap().len() as u64
    }
}

actor! {
    /// An actor that does nothing, to measure calls.
    pub struct Sink { calls: u64 }
    impl Sink {
        pub fn new() -> Self { Sink { calls: 0 } }
        pub fn poke(&mut self) { self.calls += 1; }
    }
}
tasks!(noop, spin, echo, caller, Sink);

/// Tasks pinned to the cluster node `node`.
fn on(node: &str) -> TaskOptions {
    TaskOptions::new().node_affinity(node, false)
}

/// A MessagePack `bin 32` of `n` bytes.
fn bin(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + 5);
    v.push(0xc6);
    v.extend_from_slice(&(n as u32).to_be_bytes());
    v.resize(n + 5, 0xab);
    v
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().expect("mode");
    let n: u64 = args.next().expect("count").parse().expect("number");
    let node = args.next().unwrap_or_default();
    let result = match mode.as_str() {
        "throughput" | "throughput-steady" => {
            // Warm up the module's instance pool and the host's caches; for
            // the steady figure, a whole batch first: the process's memory
            // (the host's tables, the instance pool) grows to its steady
            // size, as in a long-running node.
            let warmup = if mode == "throughput" { 100 } else { n };
            get_all(&(0..warmup).map(|_| noop::remote()).collect::<Vec<_>>()).unwrap();
            let start = Instant::now();
            let refs: Vec<_> = (0..n).map(|_| noop::remote()).collect();
            get_all(&refs).unwrap();
            n as f64 / start.elapsed().as_secs_f64()
        }
        "work-throughput" => {
            let us: u64 = node.parse().expect("microseconds of work");
            get_all(&(0..10).map(|_| spin::remote(us)).collect::<Vec<_>>()).unwrap();
            let start = Instant::now();
            let refs: Vec<_> = (0..n).map(|_| spin::remote(us)).collect();
            get_all(&refs).unwrap();
            n as f64 / start.elapsed().as_secs_f64()
        }
        "latency" => {
            for _ in 0..100 {
                noop::remote().get().unwrap();
            }
            let start = Instant::now();
            for _ in 0..n {
                noop::remote().get().unwrap();
            }
            start.elapsed().as_secs_f64() * 1e6 / n as f64
        }
        "put" | "get" => {
            // Five rounds; the median of the last four (the first one pays
            // for growing this instance's memory).
            let blob = bin(n as usize * 1_000_000);
            let mut times = Vec::new();
            for _ in 0..5 {
                let start = Instant::now();
                let id = raw::put(&blob).unwrap();
                let t_put = start.elapsed().as_secs_f64();
                let start = Instant::now();
                let back = raw::get(id, None).unwrap();
                let t_get = start.elapsed().as_secs_f64();
                assert_eq!(back.len(), blob.len());
                drop(back);
                raw::release(id);
                times.push(if mode == "put" { t_put } else { t_get });
            }
            let mut rest = times[1..].to_vec();
            rest.sort_by(f64::total_cmp);
            let t = (rest[1] + rest[2]) / 2.0;
            n as f64 / 1000.0 / t
        }
        "actor-latency" => {
            let sink = Sink::remote();
            for _ in 0..100 {
                sink.poke().get().unwrap();
            }
            let start = Instant::now();
            for _ in 0..n {
                sink.poke().get().unwrap();
            }
            start.elapsed().as_secs_f64() * 1e6 / n as f64
        }
        "actor-throughput" => {
            let sink = Sink::remote();
            get_all(&(0..100).map(|_| sink.poke()).collect::<Vec<_>>()).unwrap();
            let start = Instant::now();
            let refs: Vec<_> = (0..n).map(|_| sink.poke()).collect();
            get_all(&refs).unwrap();
            n as f64 / start.elapsed().as_secs_f64()
        }
        "actor-many" => {
            let sink = Sink::remote();
            sink.poke().get().unwrap();
            let start = Instant::now();
            let callers: Vec<_> = (0..4).map(|_| caller::remote(&sink, n / 4)).collect();
            let done: u64 = get_all(&callers).unwrap().iter().sum();
            done as f64 / start.elapsed().as_secs_f64()
        }
        "spill" => {
            let ids: Vec<u64> = (0..n)
                .map(|i| {
                    let mut blob = bin(100_000_000);
                    blob[5] = i as u8;
                    raw::put(&blob).unwrap()
                })
                .collect();
            for (i, id) in ids.iter().enumerate() {
                let back = raw::get(*id, None).unwrap();
                assert!(back.len() == 100_000_005 && back[5] == i as u8);
            }
            n as f64
        }
        "remote-latency" => {
            for _ in 0..100 {
                noop::options(on(&node)).remote().get().unwrap();
            }
            let start = Instant::now();
            for _ in 0..n {
                noop::options(on(&node)).remote().get().unwrap();
            }
            start.elapsed().as_secs_f64() * 1e6 / n as f64
        }
        "remote-throughput" => {
            let warm: Vec<_> = (0..100)
                .map(|_| noop::options(on(&node)).remote())
                .collect();
            get_all(&warm).unwrap();
            let start = Instant::now();
            let refs: Vec<_> = (0..n).map(|_| noop::options(on(&node)).remote()).collect();
            get_all(&refs).unwrap();
            n as f64 / start.elapsed().as_secs_f64()
        }
        "remote-transfer" => {
            // Put once; each round sends it as `echo`'s argument and gets
            // it back as the result.
            let len = n as usize * 1_000_000;
            let data = put(&PackedVec(vec![0xabu8; len])).unwrap();
            let mut times = Vec::new();
            for _ in 0..5 {
                let start = Instant::now();
                let back = echo::options(on(&node)).remote(&data).get().unwrap();
                times.push(start.elapsed().as_secs_f64());
                assert_eq!(back.len(), len);
            }
            let mut rest = times[1..].to_vec();
            rest.sort_by(f64::total_cmp);
            let t = (rest[1] + rest[2]) / 2.0;
            2.0 * n as f64 / 1000.0 / t
        }
        "idle" => {
            std::thread::sleep(Duration::from_millis(n));
            0.0
        }
        other => panic!("unknown mode {other}"),
    };
    println!("result: {result}");
}
