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
//! * `remote-get MB NODE`: an MB-megabyte object put on NODE, read here
//!   whole; GB/s (median of four warm rounds).
//! * `remote-transfer MB NODE`: a task on NODE takes an MB-megabyte
//!   argument and returns one as big; GB/s moved (both ways, median of
//!   four warm rounds).
//! * `plain MB TYPE HOW`: an MB-megabyte value of a plain Rust type
//!   (`bytes` = `Vec<u8>`, `string`, `f64`, `f32`, `i64` vectors, `struct`:
//!   a struct with a `String`, a `Vec<u8>` and a `Vec<f32>` field marked
//!   `raylab_guest::packed`), with no wrapper type: HOW `call` sends it as a
//!   task's argument and gets it back as its result, `put` puts it and gets
//!   it back; GB/s moved (both ways, median of four warm rounds).
use std::time::{Duration, Instant};

use raylab_guest::bindings::raylab::runtime::runtime as raw;
use raylab_guest::{ActorHandle, PackedVec, TaskOptions, actor, get_all, put, remote, tasks};

#[remote]
fn noop() {}

/// Spin for `us` microseconds (work that holds a core).
#[remote]
fn spin(us: u64) -> u64 {
    let start = Instant::now();
    let mut turns = 0u64;
    while start.elapsed() < Duration::from_micros(us) {
        turns = turns.wrapping_add(1);
    }
    turns
}

/// Returns the bytes it was given.
#[remote]
fn echo(data: PackedVec<u8>) -> PackedVec<u8> {
    data
}

/// Plain types, sent and returned as they are.
#[remote]
fn echo_bytes(v: Vec<u8>) -> Vec<u8> {
    v
}
#[remote]
fn echo_string(v: String) -> String {
    v
}
#[remote]
fn echo_f64(v: Vec<f64>) -> Vec<f64> {
    v
}
#[remote]
fn echo_f32(v: Vec<f32>) -> Vec<f32> {
    v
}
#[remote]
fn echo_i64(v: Vec<i64>) -> Vec<i64> {
    v
}
#[remote]
fn echo_frame(v: Frame) -> Frame {
    v
}

/// Make `n` calls to `sink` and wait for them all.
#[remote]
fn caller(sink: ActorHandle<Sink>, n: u64) -> u64 {
    let refs: Vec<_> = (0..n).map(|_| sink.poke()).collect();
    get_all(&refs).unwrap().len() as u64
}

/// An actor that does nothing, to measure calls.
pub struct Sink {
    calls: u64,
}

#[actor]
impl Sink {
    pub fn new() -> Self {
        Sink { calls: 0 }
    }
    pub fn poke(&mut self) {
        self.calls += 1;
    }
}
/// A ref to `len` bytes it put, on the node it runs on.
#[remote]
fn put_bytes(len: u64) -> raylab_guest::ObjectRef<PackedVec<u8>> {
    put(&PackedVec(vec![0x5au8; len as usize])).unwrap()
}

tasks!(
    put_bytes,
    noop,
    spin,
    echo,
    echo_bytes,
    echo_string,
    echo_f64,
    echo_f32,
    echo_i64,
    echo_frame,
    caller,
    Sink
);

/// A struct holding bulk fields, as users write them.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Frame {
    name: String,
    #[serde(with = "raylab_guest::packed")]
    pixels: Vec<u8>,
    #[serde(with = "raylab_guest::packed")]
    depth: Vec<f32>,
}

/// Median of the rounds after the first (which grows this instance's
/// memory) of `round`, each timed; the value is cloned outside the timing.
fn warm_median<T: Clone>(value: &T, mut round: impl FnMut(T)) -> f64 {
    let mut times = Vec::new();
    for _ in 0..5 {
        let v = value.clone();
        let start = Instant::now();
        round(v);
        times.push(start.elapsed().as_secs_f64());
    }
    let mut rest = times[1..].to_vec();
    rest.sort_by(f64::total_cmp);
    (rest[1] + rest[2]) / 2.0
}

/// GB/s of sending `value` both ways, as an argument and result (`call`)
/// or a put and get (`put`).
fn plain<T>(how: &str, value: T, echo: impl Fn(T) -> raylab_guest::ObjectRef<T>) -> f64
where
    T: Clone + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    match how {
        "call" => warm_median(&value, |v| drop(echo(v).get().unwrap())),
        "put" => warm_median(&value, |v| drop(put(&v).unwrap().get().unwrap())),
        other => panic!("unknown way {other}"),
    }
}

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
        "remote-get" => {
            let len = n as usize * 1_000_000;
            let mut times = Vec::new();
            for _ in 0..5 {
                let there = put_bytes::options(on(&node))
                    .remote(len as u64)
                    .get()
                    .unwrap();
                let start = Instant::now();
                let bytes = there.get().unwrap();
                times.push(start.elapsed().as_secs_f64());
                assert_eq!(bytes.len(), len);
            }
            let mut rest = times[1..].to_vec();
            rest.sort_by(f64::total_cmp);
            let t = (rest[1] + rest[2]) / 2.0;
            n as f64 / 1000.0 / t
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
        "plain" => {
            let len = n as usize * 1_000_000;
            let how = args.next().expect("call or put");
            let t = match node.as_str() {
                "bytes" => plain(&how, vec![0xabu8; len], echo_bytes::remote),
                "string" => plain(&how, "a".repeat(len), echo_string::remote),
                "f64" => plain(&how, vec![1.5f64; len / 8], echo_f64::remote),
                "f32" => plain(&how, vec![1.5f32; len / 4], echo_f32::remote),
                "i64" => plain(&how, vec![-7i64; len / 8], echo_i64::remote),
                "struct" => {
                    let frame = Frame {
                        name: "frame".into(),
                        pixels: vec![7u8; len / 2],
                        depth: vec![0.25f32; len / 8],
                    };
                    plain(&how, frame, echo_frame::remote)
                }
                other => panic!("unknown type {other}"),
            };
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
