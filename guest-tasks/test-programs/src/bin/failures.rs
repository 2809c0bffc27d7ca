//! Errors of remote tasks reach the caller as values naming the task and
//! the guest's message; the driver keeps running.
use raylab_guest::{ErrorKind, TaskOptions, get_all, remote, submit, tasks};

#[remote]
fn divide(a: i64, b: i64) -> Result<i64, String> {
    if b == 0 {
        Err(format!("cannot divide {a} by zero"))
    } else {
        Ok(a / b)
    }
}
#[remote]
fn boom(msg: String) -> i64 {
    panic!("{msg}")
}
tasks!(divide, boom);

fn main() {
    let e = divide::remote(1, 0).get().unwrap_err();
    assert_eq!(e.kind, ErrorKind::TaskFailed);
    assert_eq!(e.task.as_deref(), Some("divide"));
    assert!(e.message.contains("cannot divide 1 by zero"), "{e}");
    println!("failed: {e}");

    let e = boom::options(TaskOptions::new().max_retries(0))
        .remote("kaboom".to_string())
        .get()
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::TaskCrashed, "{e}");
    assert!(e.message.contains("kaboom"), "{e}");
    println!("crashed: {e}");

    let e = submit::<_, i64>("nope", &(1,), &TaskOptions::new()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoSuchFunction);
    println!("missing: {e}");
    let e = submit::<_, i64>("ghost/fn", &(1,), &TaskOptions::new()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoSuchFunction);

    let e = submit::<_, i64>("divide", &(1, 2), &TaskOptions::new().num_cpus(64.0)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Infeasible);
    assert!(e.message.contains("CPU"), "{e}");
    println!("infeasible: {e}");

    // Bad arguments for the function: an error, not a crash of the host.
    let e = submit::<_, i64>("divide", &("x",), &TaskOptions::new())
        .unwrap()
        .get()
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::TaskFailed);
    println!("bad args: {e}");

    // `get_all` (one `get-many` call): values in the order given, a ref
    // given twice read twice; with failures, the error of the first failed
    // one in that order, after all are done.
    let ok = divide::remote(12, 4);
    let refs = vec![ok.clone(), divide::remote(10, 5), ok];
    assert_eq!(get_all(&refs).unwrap(), vec![3, 2, 3]);
    let refs = vec![
        divide::remote(6, 3),
        divide::remote(7, 0),
        divide::remote(8, 0),
    ];
    let e = get_all(&refs).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TaskFailed);
    assert!(e.message.contains("cannot divide 7 by zero"), "{e}");
    println!("get_all: {e}");

    // Still healthy afterwards.
    assert_eq!(divide::remote(10, 2).get().unwrap(), 5);
    println!("ok");
}
