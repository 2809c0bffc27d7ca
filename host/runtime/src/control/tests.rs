//! Unit tests of the control state, with a plain payload (no wasm).
use super::*;

struct T {
    id: TaskId,
    job: JobId,
    result: ObjectId,
    refs: Vec<ObjectId>,
    name: String,
}

impl Pending for T {
    fn id(&self) -> TaskId {
        self.id
    }
    fn job(&self) -> JobId {
        self.job
    }
    fn result(&self) -> ObjectId {
        self.result
    }
    fn arg_refs(&self) -> &[ObjectId] {
        &self.refs
    }
    fn name(&self) -> &str {
        &self.name
    }
}

fn control(cpus: f64) -> Core<T> {
    let total = Resources::none().with("CPU", cpus);
    Control::new(total, 1 << 20, 1 << 20, usize::MAX, usize::MAX, None)
        .0
        .into_inner()
        .unwrap()
}

fn submit(c: &mut Core<T>, id: TaskId, job: JobId, deps: &[ObjectId]) -> (ObjectId, Vec<Start<T>>) {
    let name = format!("t{id}");
    c.submit(
        NewTask {
            id,
            job,
            name: &name,
            demand: Resources::none().with("CPU", 1.0),
            cancel: Arc::default(),
            deps,
            arg_refs: deps,
            max_alive: 3,
            parent: None,
            forwarded: false,
        },
        |result| T {
            id,
            job,
            result,
            refs: deps.to_vec(),
            name: name.clone(),
        },
    )
    .unwrap()
}

fn ok(bytes: &[u8]) -> Result<(Vec<u8>, Vec<ObjectId>), TaskError> {
    Ok((bytes.to_vec(), Vec::new()))
}

#[test]
fn a_task_starts_once_its_dependency_is_ready_and_counts_per_job() {
    let mut c = control(2.0);
    let (a, starts) = submit(&mut c, 1, 7, &[]);
    assert_eq!(starts.len(), 1);
    let (b, starts_b) = submit(&mut c, 2, 7, &[a]);
    assert!(starts_b.is_empty(), "waits for a");
    assert_eq!(c.job_tasks(7).alive, 2);
    let start = starts.into_iter().next().unwrap();
    let next = c.finish(
        &start.payload,
        &start.demand,
        &start.gpus,
        ok(b"x"),
        Default::default(),
    );
    assert_eq!(next.len(), 1, "b starts when a is ready");
    assert_eq!(next[0].payload.result, b);
    let vals = c
        .dependency_values(&next[0].payload, [a].into_iter())
        .unwrap();
    assert_eq!(vals[0].as_slice(), b"x");
    assert_eq!(
        c.job_tasks(7),
        JobTasks {
            submitted: 2,
            done: 1,
            alive: 1
        }
    );
}

#[test]
fn a_failed_dependency_fails_its_dependents_transitively_without_running_them() {
    let mut c = control(1.0);
    let (a, starts) = submit(&mut c, 1, 1, &[]);
    let (b, _) = submit(&mut c, 2, 1, &[a]);
    let (d, _) = submit(&mut c, 3, 1, &[b]);
    let start = starts.into_iter().next().unwrap();
    let err = TaskError::for_task(ErrorKind::TaskFailed, "t1", "boom");
    let next = c.finish(
        &start.payload,
        &start.demand,
        &start.gpus,
        Err(err),
        Default::default(),
    );
    assert!(next.is_empty(), "nothing left to run");
    for id in [b, d] {
        match c.lookup(id, 1).unwrap() {
            Lookup::Failed(e) => {
                assert_eq!(e.kind, ErrorKind::DependencyFailed);
            }
            _ => panic!("{id} should have failed"),
        }
    }
    let s = c.stats();
    assert_eq!((s.submitted, s.finished, s.failed), (3, 0, 3));
    assert_eq!(c.job_tasks(1).alive, 0);
    assert_eq!(c.end_job(1).submitted, 3);
    assert_eq!(c.job_tasks(1), JobTasks::default(), "forgotten");
}

#[test]
fn the_pending_task_cap_is_per_job() {
    let mut c = control(1.0);
    for id in 1..=3 {
        submit(&mut c, id, 1, &[]);
    }
    let err = c
        .submit(
            NewTask {
                id: 4,
                job: 1,
                name: "over",
                demand: Resources::none(),
                cancel: Arc::default(),
                deps: &[],
                arg_refs: &[],
                max_alive: 3,
                parent: None,
                forwarded: false,
            },
            |result| T {
                id: 4,
                job: 1,
                result,
                refs: vec![],
                name: "over".into(),
            },
        )
        .err()
        .unwrap();
    assert_eq!(err.kind, ErrorKind::TooManyTasks);
    // Another job is not affected.
    submit(&mut c, 5, 2, &[]);
}

#[test]
fn objects_of_another_job_look_as_if_they_never_existed() {
    let mut c = control(1.0);
    let mine = c.put(1, vec![1], vec![]).unwrap();
    let err = c.lookup(mine, 2).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownObject);
    assert!(err.message.contains("never created"), "{err}");
    assert!(c.retain(mine, 2).is_err());
    assert!(
        c.put(2, vec![2], vec![mine]).is_err(),
        "cannot contain it either"
    );
    assert!(c.cancel(mine, 2).is_err());
    assert!(c.lookup(mine, 1).is_ok());
}

#[test]
fn cancel_fails_a_queued_task_at_once_and_a_running_one_by_flag() {
    let mut c = control(1.0);
    let flag = Arc::new(CancelFlag::default());
    let (running, _) = c
        .submit(
            NewTask {
                id: 1,
                job: 0,
                name: "r",
                demand: Resources::none().with("CPU", 1.0),
                cancel: flag.clone(),
                deps: &[],
                arg_refs: &[],
                max_alive: 10,
                parent: None,
                forwarded: false,
            },
            |result| T {
                id: 1,
                job: 0,
                result,
                refs: vec![],
                name: "r".into(),
            },
        )
        .unwrap();
    let (queued, starts) = submit(&mut c, 2, 0, &[]);
    assert!(starts.is_empty(), "one CPU, taken");
    c.cancel(queued, 0).unwrap();
    assert!(
        matches!(c.lookup(queued, 0).unwrap(), Lookup::Failed(e) if e.kind == ErrorKind::Cancelled)
    );
    assert_eq!(c.counts().waiting_for_resources, 0);
    c.cancel(running, 0).unwrap();
    assert!(flag.is_set());
    assert!(
        matches!(c.lookup(running, 0).unwrap(), Lookup::Failed(e) if e.kind == ErrorKind::Cancelled)
    );
}

#[test]
fn a_blocked_task_lends_its_cpu_and_gets_it_back_first() {
    let mut c = control(1.0);
    let (_, starts) = submit(&mut c, 1, 0, &[]);
    assert_eq!(starts.len(), 1);
    let (_, none) = submit(&mut c, 2, 0, &[]);
    assert!(none.is_empty());
    let cpu = Resources::none().with("CPU", 1.0);
    let lent = c.lend(&cpu);
    assert_eq!(lent.len(), 1, "the queued task takes the lent CPU");
    let (mut rx, starts) = c.reclaim(cpu);
    assert!(starts.is_empty());
    assert!(rx.try_recv().is_err(), "waits until the CPU is free");
    let t2 = lent.into_iter().next().unwrap();
    c.finish(
        &t2.payload,
        &t2.demand,
        &t2.gpus,
        ok(b""),
        Default::default(),
    );
    assert!(rx.try_recv().is_ok(), "granted back before anything new");
}

/// Submit task `id` of job 0 as a child of `parent`.
fn child(c: &mut Core<T>, id: TaskId, parent: TaskId) -> (ObjectId, Vec<Start<T>>) {
    let name = format!("t{id}");
    c.submit(
        NewTask {
            id,
            job: 0,
            name: &name,
            demand: Resources::none().with("CPU", 1.0),
            cancel: Arc::default(),
            deps: &[],
            arg_refs: &[],
            max_alive: 100,
            parent: Some(parent),
            forwarded: false,
        },
        |result| T {
            id,
            job: 0,
            result,
            refs: vec![],
            name: name.clone(),
        },
    )
    .unwrap()
}

#[test]
fn a_failed_task_takes_its_unfinished_children_with_it() {
    let mut c = control(2.0);
    let (_, starts) = submit(&mut c, 1, 0, &[]);
    let parent = starts.into_iter().next().unwrap();
    let (running, started) = child(&mut c, 2, 1);
    assert_eq!(started.len(), 1);
    let (queued, _) = child(&mut c, 3, 1);
    let err = TaskError::for_task(ErrorKind::TimeLimitExceeded, "t1", "too slow");
    let next = c.finish(
        &parent.payload,
        &parent.demand,
        &parent.gpus,
        Err(err),
        Default::default(),
    );
    assert!(next.is_empty(), "the queued child never runs");
    for id in [running, queued] {
        match c.lookup(id, 0).unwrap() {
            Lookup::Failed(e) => {
                assert_eq!(e.kind, ErrorKind::Cancelled);
                assert!(e.message.contains("`t1`, failed"), "{e}");
            }
            _ => panic!("child {id} should be cancelled"),
        }
    }
    // A parent that succeeds leaves its children running.
    let (_, starts) = submit(&mut c, 4, 0, &[]);
    let ok_parent = starts.into_iter().next();
    let (kept, _) = child(&mut c, 5, 4);
    if let Some(p) = ok_parent {
        c.finish(&p.payload, &p.demand, &p.gpus, ok(b"1"), Default::default());
    }
    assert!(matches!(c.lookup(kept, 0).unwrap(), Lookup::Pending));
}

#[test]
fn a_result_may_not_hold_refs_of_another_job_or_forged_ones() {
    let mut c = control(2.0);
    let foreign = c.put(2, vec![1], vec![]).unwrap();
    for bad in [foreign, 999_999] {
        let (result, starts) = submit(&mut c, 1, 1, &[]);
        let t = starts.into_iter().next().unwrap();
        c.finish(
            &t.payload,
            &t.demand,
            &t.gpus,
            Ok((vec![0xc0], vec![bad])),
            Default::default(),
        );
        match c.lookup(result, 1).unwrap() {
            Lookup::Failed(e) => assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}"),
            _ => panic!("a result holding {bad} must fail"),
        }
    }
    let s = c.stats();
    assert_eq!(
        (s.finished, s.failed),
        (0, 2),
        "counted as failed, not finished"
    );
}
