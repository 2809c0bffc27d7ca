//! A driver run under a journal (`raylab-host run --journal`):
//! `durable N CRASH_AFTER SALT` calls `work(i, SALT)` for i in 0..N, one
//! after another (each result got before the next call), and crashes
//! (panics) once it has CRASH_AFTER results, unless that is N or more.
//! Each task prints `ran i`, so the test sees which calls ran and which
//! came from the journal; the driver prints `sum=...` at the end.
use raylab_guest::{remote, tasks};

#[remote]
fn work(i: u64, salt: u64) -> u64 {
    println!("ran {i}");
    i * i + salt
}

tasks!(work);

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let (n, crash_after, salt) = (args[0], args[1], args[2]);
    let mut sum = 0;
    for i in 0..n {
        if i == crash_after {
            panic!("a crash after {i} results");
        }
        sum += work::remote(i, salt).get().unwrap();
    }
    println!("sum={sum}");
}
