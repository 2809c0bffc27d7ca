//! Jobs on a head, for isolation tests: `hold` puts an object and keeps it,
//! `peek ID` tries to read another job's object, `forever` runs until it is
//! stopped, `orphan` submits a task that never ends and exits at once.
use std::time::Duration;

use raylab_guest::bindings::raylab::runtime::runtime as raw;
use raylab_guest::{put, remote, tasks};

remote! {
    fn spin() -> u64 {
        let mut n = 0u64;
        loop {
            n = n.wrapping_add(1);
            std::hint::black_box(n);
        }
    }
}
tasks!(spin);

fn main() {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("hold") => {
            let r = put(&42i64).unwrap();
            println!("id={}", r.id());
            std::thread::sleep(Duration::from_secs(3));
            println!("still mine: {}", r.get().unwrap());
        }
        Some("peek") => {
            let id: u64 = args.next().unwrap().parse().unwrap();
            match raw::get(id, Some(100)) {
                Ok(_) => println!("peek: read another job's object"),
                Err(e) => println!("peek: {}: refused", raylab_guest::Error::from(e).kind),
            }
        }
        Some("orphan") => {
            // Dropping the ref would not stop the task; the job's end must.
            std::mem::forget(spin::remote());
            println!("submitted");
        }
        Some("forever") => loop {
            std::thread::sleep(Duration::from_millis(5));
        },
        _ => panic!("usage: peek hold | peek ID | forever | orphan"),
    }
}
