//! Reference counting: dropped refs free objects; forged and freed ids are
//! errors naming which; refs inside objects keep their targets alive.
use raylab_guest::bindings::raylab::runtime::runtime as raw;
use raylab_guest::{ErrorKind, ObjectRef, put, remote, tasks};

#[remote]
fn make_big(n: u64) -> Vec<u8> {
    vec![7; n as usize]
}
/// Returns a reference to a value it put: the ref outlives the task.
#[remote]
fn make_ref(x: i64) -> ObjectRef<i64> {
    put(&x).unwrap()
}
tasks!(make_big, make_ref);

fn main() {
    // Freed when dropped.
    let r = put(&vec![1u8; 1000]).unwrap();
    let id = r.id();
    assert!(raw::get(id, None).is_ok());
    drop(r);
    let e = raylab_guest::Error::from(raw::get(id, None).unwrap_err());
    assert_eq!(e.kind, ErrorKind::UnknownObject);
    assert!(e.message.contains("freed"), "{e}");
    println!("freed: {e}");

    // Forged.
    let e = raylab_guest::Error::from(raw::get(1 << 60, None).unwrap_err());
    assert!(e.message.contains("never created"), "{e}");
    println!("forged: {e}");

    // Task results are freed too once their refs go.
    for _ in 0..20 {
        let big = make_big::remote(100_000);
        assert_eq!(big.get().unwrap().len(), 100_000);
    }

    // A ref returned by a task stays valid after the task's sandbox is gone.
    let inner: ObjectRef<i64> = make_ref::remote(41).get().unwrap();
    assert_eq!(inner.get().unwrap(), 41);

    // Clones hold their own count.
    let a = put(&5i64).unwrap();
    let b = a.clone();
    drop(a);
    assert_eq!(b.get().unwrap(), 5);
    println!("ok");
}
