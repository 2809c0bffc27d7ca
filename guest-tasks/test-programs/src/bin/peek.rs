//! Jobs on a head, for isolation tests: `hold` puts an object and keeps it,
//! `peek ID` tries to read another job's object, `forever` runs until it is
//! stopped, `orphan` submits a task that never ends and exits at once,
//! `plant ID` has a task return a reference to another job's object,
//! `cycle MB` leaves an object of MB MiB that references itself, `put MB`
//! puts one, `call MODULE` calls another job's module by name, `flood MB`
//! prints MB MiB.
use std::time::Duration;

use raylab_guest::bindings::raylab::runtime::runtime as raw;
use raylab_guest::{ObjectRef, PackedVec, put, remote, tasks};

#[remote]
fn spin() -> u64 {
    let mut n = 0u64;
    loop {
        n = n.wrapping_add(1);
        std::hint::black_box(n);
    }
}

/// Returns a reference to object `id`, which it was never given.
#[remote]
fn plant(id: u64) -> ObjectRef<u64> {
    ObjectRef::from_owned_id(id)
}

/// Returns `mb` MiB and a reference to object `id` (its own result,
/// when the caller guessed right: ids are handed out in order).
#[remote]
fn selfish(id: u64, mb: u64) -> (ObjectRef<u8>, PackedVec<u8>) {
    (
        ObjectRef::from_owned_id(id),
        PackedVec(vec![5u8; (mb as usize) << 20]),
    )
}
tasks!(spin, plant, selfish);

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
        Some("plant") => {
            let id: u64 = args.next().unwrap().parse().unwrap();
            match plant::remote(id).get() {
                Ok(_) => println!("plant: a result holds another job's object"),
                Err(e) => println!("plant: {}: {e}", e.kind),
            }
        }
        Some("cycle") => {
            let mb: u64 = args.next().unwrap().parse().unwrap();
            // The next id is the task's own result.
            let marker = put(&0u8).unwrap();
            let r = selfish::remote(marker.id() + 1, mb);
            assert_eq!(r.id(), marker.id() + 1, "ids come in order");
            raylab_guest::wait(vec![r.clone()], 1, None).unwrap();
            println!("cycle: left {mb} MiB referencing itself");
        }
        Some("put") => {
            let mb: u64 = args.next().unwrap().parse().unwrap();
            match put(&PackedVec(vec![1u8; (mb as usize) << 20])) {
                Ok(_) => println!("put: {mb} MiB stored"),
                Err(e) => println!("put: {}: {e}", e.kind),
            }
        }
        Some("call") => {
            let module = args.next().unwrap();
            let args = raylab_guest::encode(&()).unwrap();
            let options = raylab_guest::TaskOptions::new();
            match raylab_guest::submit_raw::<u64>(&format!("{module}/spin"), &args, &options) {
                Ok(_) => println!("call: reached another job's module"),
                Err(e) => println!("call: {}: {e}", e.kind),
            }
        }
        Some("flood") => {
            let mb: usize = args.next().unwrap().parse().unwrap();
            use std::io::Write;
            let line = [b'x'; 1023];
            let mut out = std::io::stdout().lock();
            for _ in 0..mb * 1024 {
                out.write_all(&line).unwrap();
                out.write_all(b"\n").unwrap();
            }
            drop(out);
            println!("flood: done");
        }
        Some("forever") => loop {
            std::thread::sleep(Duration::from_millis(5));
        },
        _ => panic!("usage: peek hold | peek ID | forever | orphan"),
    }
}
