//! Unit tests of the control state, with a plain payload (no wasm).
//!
//! Longer than the ~600 lines a file should keep to, by choice: every test
//! here drives the same small harness (`T`, `core()`) through one
//! behaviour of the whole state, and reading them side by side is how a
//! change to the bookkeeping is checked.

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
            name: name.as_str().into(),
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
    let (a, starts) = submit(&mut c, 1, JobId::new(7), &[]);
    assert_eq!(starts.len(), 1);
    let (b, starts_b) = submit(&mut c, 2, JobId::new(7), &[a]);
    assert!(starts_b.is_empty(), "waits for a");
    assert_eq!(c.job_tasks(JobId::new(7)).alive, 2);
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
        c.job_tasks(JobId::new(7)),
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
    let (a, starts) = submit(&mut c, 1, JobId::new(1), &[]);
    let (b, _) = submit(&mut c, 2, JobId::new(1), &[a]);
    let (d, _) = submit(&mut c, 3, JobId::new(1), &[b]);
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
        match c.lookup(id, JobId::new(1)).unwrap() {
            Lookup::Failed(e) => {
                assert_eq!(e.kind, ErrorKind::DependencyFailed);
            }
            _ => panic!("{id} should have failed"),
        }
    }
    let s = c.stats();
    assert_eq!((s.submitted, s.finished, s.failed), (3, 0, 3));
    assert_eq!(c.job_tasks(JobId::new(1)).alive, 0);
    assert_eq!(c.end_job(JobId::new(1)).submitted, 3);
    assert_eq!(c.job_tasks(JobId::new(1)), JobTasks::default(), "forgotten");
}

#[test]
fn the_pending_task_cap_is_per_job() {
    let mut c = control(1.0);
    for id in 1..=3 {
        submit(&mut c, id, JobId::new(1), &[]);
    }
    let err = c
        .submit(
            NewTask {
                id: 4,
                job: JobId::new(1),
                name: "over".into(),
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
                job: JobId::new(1),
                result,
                refs: vec![],
                name: "over".into(),
            },
        )
        .err()
        .unwrap();
    assert_eq!(err.kind, ErrorKind::TooManyTasks);
    // Another job is not affected.
    submit(&mut c, 5, JobId::new(2), &[]);
}

#[test]
fn objects_of_another_job_look_as_if_they_never_existed() {
    let mut c = control(1.0);
    let mine = c.put(JobId::new(1), vec![1], vec![]).unwrap();
    let err = c.lookup(mine, JobId::new(2)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownObject);
    assert!(err.message.contains("never created"), "{err}");
    assert!(c.retain(mine, JobId::new(2)).is_err());
    assert!(
        c.put(JobId::new(2), vec![2], vec![mine]).is_err(),
        "cannot contain it either"
    );
    assert!(c.cancel(mine, JobId::new(2)).is_err());
    assert!(c.lookup(mine, JobId::new(1)).is_ok());
}

#[test]
fn cancel_fails_a_queued_task_at_once_and_a_running_one_by_flag() {
    let mut c = control(1.0);
    let flag = Arc::new(CancelFlag::default());
    let (running, _) = c
        .submit(
            NewTask {
                id: 1,
                job: JobId::new(0),
                name: "r".into(),
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
                job: JobId::new(0),
                result,
                refs: vec![],
                name: "r".into(),
            },
        )
        .unwrap();
    let (queued, starts) = submit(&mut c, 2, JobId::new(0), &[]);
    assert!(starts.is_empty(), "one CPU, taken");
    c.cancel(queued, JobId::new(0)).unwrap();
    assert!(
        matches!(c.lookup(queued, JobId::new(0)).unwrap(), Lookup::Failed(e) if e.kind == ErrorKind::Cancelled)
    );
    assert_eq!(c.counts().waiting_for_resources, 0);
    c.cancel(running, JobId::new(0)).unwrap();
    assert!(flag.is_set());
    assert!(
        matches!(c.lookup(running, JobId::new(0)).unwrap(), Lookup::Failed(e) if e.kind == ErrorKind::Cancelled)
    );
}

#[test]
fn a_blocked_task_lends_its_cpu_and_gets_it_back_first() {
    let mut c = control(1.0);
    let (_, starts) = submit(&mut c, 1, JobId::new(0), &[]);
    assert_eq!(starts.len(), 1);
    let (_, none) = submit(&mut c, 2, JobId::new(0), &[]);
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
            job: JobId::new(0),
            name: name.as_str().into(),
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
            job: JobId::new(0),
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
    let (_, starts) = submit(&mut c, 1, JobId::new(0), &[]);
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
        match c.lookup(id, JobId::new(0)).unwrap() {
            Lookup::Failed(e) => {
                assert_eq!(e.kind, ErrorKind::Cancelled);
                assert!(e.message.contains("`t1`, failed"), "{e}");
            }
            _ => panic!("child {id} should be cancelled"),
        }
    }
    // A parent that succeeds leaves its children running.
    let (_, starts) = submit(&mut c, 4, JobId::new(0), &[]);
    let ok_parent = starts.into_iter().next();
    let (kept, _) = child(&mut c, 5, 4);
    if let Some(p) = ok_parent {
        c.finish(&p.payload, &p.demand, &p.gpus, ok(b"1"), Default::default());
    }
    assert!(matches!(
        c.lookup(kept, JobId::new(0)).unwrap(),
        Lookup::Pending
    ));
}

#[test]
fn a_result_may_not_hold_refs_of_another_job_or_forged_ones() {
    let mut c = control(2.0);
    let foreign = c.put(JobId::new(2), vec![1], vec![]).unwrap();
    for bad in [foreign, ObjectId::new(999_999)] {
        let (result, starts) = submit(&mut c, 1, JobId::new(1), &[]);
        let t = starts.into_iter().next().unwrap();
        c.finish(
            &t.payload,
            &t.demand,
            &t.gpus,
            Ok((vec![0xc0], vec![bad])),
            Default::default(),
        );
        match c.lookup(result, JobId::new(1)).unwrap() {
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

mod stress {
    //! Many threads on one shared [`Control`], as the workers, the guests'
    //! host calls and the cluster's handlers use it: the interleaving
    //! varies from run to run; the counts at the end may not.
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

    use futures_util::FutureExt;

    use super::*;

    /// A task of the stress test: it depends on `deps` (results of
    /// other tasks), stops when `cancel` is set, and counts itself in
    /// `dropped` when the control state (or its runner) lets it go.
    struct Work {
        id: TaskId,
        job: JobId,
        result: ObjectId,
        deps: Vec<ObjectId>,
        cancel: Arc<CancelFlag>,
        dropped: Arc<AtomicU64>,
        name: String,
    }

    impl Pending for Work {
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
            &self.deps
        }
        fn name(&self) -> &str {
            &self.name
        }
    }

    impl Drop for Work {
        fn drop(&mut self) {
            self.dropped.fetch_add(1, SeqCst);
        }
    }

    const THREADS: usize = 8;
    const ROUNDS: usize = 2000;
    const JOBS: u64 = 3;
    const CPUS: f64 = 4.0;

    /// A reference a thread owns: (job, object, whether a task makes it).
    type Held = (JobId, ObjectId, bool);

    /// xorshift64*: each thread's choices, from its seed.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
        }
    }

    struct Shared {
        control: Control<Work>,
        /// Started tasks, for any thread to run (the worker pool).
        run: Mutex<VecDeque<Start<Work>>>,
        /// Results any thread may depend on: each entry owns a reference.
        pool: Mutex<Vec<Held>>,
        next_task: AtomicU64,
        /// Threads still in their rounds.
        busy: AtomicUsize,
        dropped: Arc<AtomicU64>,
        /// Tasks run, by id (each must run at most once).
        ran: Mutex<Vec<TaskId>>,
        ran_ok: AtomicU64,
        ran_err: AtomicU64,
        /// A thread failed: the others stop instead of waiting for it.
        abort: std::sync::atomic::AtomicBool,
        /// Past this, the test is stuck: it fails rather than hang.
        deadline: std::time::Instant,
    }

    /// Sets `abort` if its thread panics.
    struct AbortOnPanic<'a>(&'a std::sync::atomic::AtomicBool);

    impl Drop for AbortOnPanic<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.store(true, SeqCst);
            }
        }
    }

    /// What one thread did, for the checks at the end.
    #[derive(Default)]
    struct Log {
        submitted: [u64; JOBS as usize],
        /// References still owned at the end.
        held: Vec<Held>,
        /// Results kept until the end, to check that each completed.
        kept: Vec<Held>,
        /// Signals of objects that were pending when waited for.
        signals: Vec<Arc<Signal>>,
    }

    fn cpu() -> Resources {
        Resources::none().with("CPU", 1.0)
    }

    impl Shared {
        fn push(&self, starts: Vec<Start<Work>>) {
            self.run.lock().unwrap().extend(starts);
        }

        fn pop(&self) -> Option<Start<Work>> {
            self.run.lock().unwrap().pop_front()
        }

        /// Nothing to run now: wait a little, unless the test failed.
        fn idle(&self) {
            assert!(!self.abort.load(SeqCst), "another thread failed");
            assert!(std::time::Instant::now() < self.deadline, "stuck");
            std::thread::yield_now();
        }

        /// Submit a task of `job` depending on `deps` (which the caller
        /// owns references to), as a child of `parent`.
        fn submit(
            &self,
            log: &mut Log,
            job: JobId,
            deps: &[ObjectId],
            parent: Option<TaskId>,
        ) -> ObjectId {
            let id = self.next_task.fetch_add(1, SeqCst);
            let name = format!("t{id}");
            let cancel = Arc::new(CancelFlag::default());
            let submitted = self.control.lock().submit(
                NewTask {
                    id,
                    job,
                    name: name.as_str().into(),
                    demand: cpu(),
                    cancel: cancel.clone(),
                    deps,
                    arg_refs: deps,
                    max_alive: usize::MAX,
                    parent,
                    forwarded: false,
                },
                |result| Work {
                    id,
                    job,
                    result,
                    deps: deps.to_vec(),
                    cancel,
                    dropped: self.dropped.clone(),
                    name: name.clone(),
                },
            );
            let (result, starts) = submitted.expect("a visible, feasible task is submitted");
            self.push(starts);
            log.submitted[job.get() as usize - 1] += 1;
            result
        }

        /// Run a started task as a worker would: read its arguments, maybe
        /// block in `get` (lending its CPU, running other tasks meanwhile),
        /// maybe submit a child, then finish it.
        fn run_task(&self, start: Start<Work>, rng: &mut Rng, log: &mut Log, depth: u32) {
            let task = &start.payload;
            self.ran.lock().unwrap().push(task.id);
            let values = self
                .control
                .lock()
                .dependency_values(task, task.deps.iter().copied())
                .expect("a task starts once its dependencies are ready and did not fail");
            for (dep, value) in task.deps.iter().zip(&values) {
                assert_eq!(
                    value.as_slice(),
                    dep.get().to_le_bytes(),
                    "the value of {dep}"
                );
            }
            if depth == 0 && rng.below(4) == 0 {
                let starts = self.control.lock().lend(&cpu());
                self.push(starts);
                let (mut rx, starts) = self.control.lock().reclaim(cpu());
                self.push(starts);
                loop {
                    match rx.try_recv() {
                        Ok(()) => break,
                        Err(tokio::sync::oneshot::error::TryRecvError::Empty) => match self.pop() {
                            Some(s) => self.run_task(s, rng, log, depth + 1),
                            None => self.idle(),
                        },
                        Err(e) => panic!("a blocked task is never given its CPU back: {e}"),
                    }
                }
            }
            if depth == 0 && rng.below(4) == 0 {
                let child = self.submit(log, task.job, &[], Some(task.id));
                log.held.push((task.job, child, true));
            }
            let outcome = if task.cancel.is_set() {
                Err(TaskError::for_task(
                    ErrorKind::Cancelled,
                    &task.name,
                    "stopped",
                ))
            } else if rng.below(5) == 0 {
                Err(TaskError::for_task(
                    ErrorKind::TaskFailed,
                    &task.name,
                    "boom",
                ))
            } else {
                // Sometimes the result holds a reference to an argument.
                let inside = match task.deps.first() {
                    Some(d) if rng.below(2) == 0 => vec![*d],
                    _ => Vec::new(),
                };
                Ok((task.result.get().to_le_bytes().to_vec(), inside))
            };
            match outcome {
                Ok(_) => self.ran_ok.fetch_add(1, SeqCst),
                Err(_) => self.ran_err.fetch_add(1, SeqCst),
            };
            let starts = self.control.lock().finish(
                task,
                &start.demand,
                &start.gpus,
                outcome,
                Default::default(),
            );
            self.push(starts);
        }

        /// Tasks of any job not finished yet.
        fn alive(&self) -> usize {
            let c = self.control.lock();
            (1..=JOBS).map(|j| c.job_tasks(JobId::new(j)).alive).sum()
        }

        /// One thread: its rounds of random operations, then running
        /// tasks until none is left anywhere.
        fn thread(&self, seed: u64, go: &std::sync::Barrier) -> Log {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mut log = Log::default();
            let _abort = AbortOnPanic(&self.abort);
            go.wait();
            for _ in 0..ROUNDS {
                match rng.below(10) {
                    // Submit, depending on own results and on others'.
                    0..=2 => {
                        let job = JobId::new(1 + rng.below(JOBS));
                        let mut deps = Vec::new();
                        let mut borrowed = Vec::new();
                        for _ in 0..rng.below(3) {
                            if rng.below(2) == 0 {
                                let mine: Vec<ObjectId> = log
                                    .held
                                    .iter()
                                    .filter(|h| h.0 == job && h.2)
                                    .map(|h| h.1)
                                    .collect();
                                if !mine.is_empty() {
                                    deps.push(mine[rng.below(mine.len() as u64) as usize]);
                                }
                            } else {
                                let mut pool = self.pool.lock().unwrap();
                                if let Some(at) = pool.iter().position(|h| h.0 == job && h.2) {
                                    let h = pool.swap_remove(at);
                                    deps.push(h.1);
                                    borrowed.push(h);
                                }
                            }
                        }
                        let result = self.submit(&mut log, job, &deps, None);
                        // The task holds its own references to its
                        // arguments now: give back or keep the borrowed.
                        for h in borrowed {
                            if rng.below(2) == 0 {
                                self.control.lock().release_all(&[h.1]);
                            } else {
                                log.held.push(h);
                            }
                        }
                        if rng.below(4) == 0 {
                            self.control.lock().retain(result, job).unwrap();
                            log.kept.push((job, result, true));
                        }
                        log.held.push((job, result, true));
                    }
                    // Cancel something held (a finished task: nothing).
                    3 if !log.held.is_empty() => {
                        let (job, id, _) = log.held[rng.below(log.held.len() as u64) as usize];
                        let starts = self.control.lock().cancel(id, job).expect("held");
                        self.push(starts);
                    }
                    // Release a reference.
                    4 if !log.held.is_empty() => {
                        let (_, id, _) = log
                            .held
                            .swap_remove(rng.below(log.held.len() as u64) as usize);
                        self.control.lock().release_all(&[id]);
                    }
                    // Publish one for the other threads.
                    5 if !log.held.is_empty() => {
                        let h = log
                            .held
                            .swap_remove(rng.below(log.held.len() as u64) as usize);
                        self.pool.lock().unwrap().push(h);
                    }
                    // Put an object holding a reference.
                    6 if !log.held.is_empty() => {
                        let (job, id, _) = log.held[rng.below(log.held.len() as u64) as usize];
                        let put = self.control.lock().put(job, vec![0xc0], vec![id]);
                        log.held
                            .push((job, put.expect("room and a visible ref"), false));
                    }
                    // Wait for an object, as `get` does.
                    7 if !log.held.is_empty() => {
                        let (job, id, _) = log.held[rng.below(log.held.len() as u64) as usize];
                        let mut c = self.control.lock();
                        if c.ready(&[id], job).expect("held").is_empty() {
                            let signal = Signal::new(1);
                            c.notify_on(&[id], &signal);
                            log.signals.push(signal);
                        }
                    }
                    // Be a worker for a while.
                    _ => {
                        for _ in 0..2 {
                            if let Some(s) = self.pop() {
                                self.run_task(s, &mut rng, &mut log, 0);
                            }
                        }
                    }
                }
            }
            self.busy.fetch_sub(1, SeqCst);
            loop {
                if let Some(s) = self.pop() {
                    self.run_task(s, &mut rng, &mut log, 0);
                } else if self.busy.load(SeqCst) == 0 && self.alive() == 0 {
                    return log;
                } else {
                    self.idle();
                }
            }
        }
    }

    #[test]
    fn many_threads_on_one_control_state_end_every_task_once_and_free_every_object() {
        let total = Resources::none().with("CPU", CPUS);
        let shared = Shared {
            control: Control::new(
                total.clone(),
                1 << 30,
                1 << 30,
                usize::MAX,
                usize::MAX,
                None,
            ),
            run: Mutex::new(VecDeque::new()),
            pool: Mutex::new(Vec::new()),
            next_task: AtomicU64::new(1),
            busy: AtomicUsize::new(THREADS),
            dropped: Arc::new(AtomicU64::new(0)),
            ran: Mutex::new(Vec::new()),
            ran_ok: AtomicU64::new(0),
            ran_err: AtomicU64::new(0),
            abort: Default::default(),
            deadline: std::time::Instant::now() + std::time::Duration::from_secs(60),
        };
        let go = std::sync::Barrier::new(THREADS);
        let logs: Vec<Log> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..THREADS)
                .map(|i| {
                    let (shared, go) = (&shared, &go);
                    s.spawn(move || shared.thread(i as u64 + 1, go))
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });

        let submitted: u64 = logs.iter().flat_map(|l| l.submitted).sum();
        eprintln!(
            "DEBUG submitted {submitted} ran {} ok {} err {} signals {} kept {} held {}",
            shared.ran.lock().unwrap().len(),
            shared.ran_ok.load(SeqCst),
            shared.ran_err.load(SeqCst),
            logs.iter().map(|l| l.signals.len()).sum::<usize>(),
            logs.iter().map(|l| l.kept.len()).sum::<usize>(),
            logs.iter().map(|l| l.held.len()).sum::<usize>()
        );
        assert!(submitted > THREADS as u64 * 10, "the test did something");
        assert!(shared.run.lock().unwrap().is_empty());
        // Every task ended exactly once: run at most once, its payload let
        // go once, counted once as finished or failed.
        let mut ran = shared.ran.lock().unwrap().clone();
        let runs = ran.len();
        ran.sort_unstable();
        ran.dedup();
        assert_eq!(ran.len(), runs, "a task ran twice");
        let (ok, err) = (shared.ran_ok.load(SeqCst), shared.ran_err.load(SeqCst));
        assert_eq!(ok + err, runs as u64);
        assert_eq!(shared.dropped.load(SeqCst), submitted, "payloads let go");
        let mut c = shared.control.lock();
        let stats = c.stats();
        assert_eq!(stats.submitted, submitted);
        assert_eq!(
            stats.finished, ok,
            "finished: exactly the tasks run with a result"
        );
        assert_eq!(stats.finished + stats.failed, stats.submitted);
        let per_job = |job: JobId| {
            let n: u64 = logs
                .iter()
                .map(|l| l.submitted[job.get() as usize - 1])
                .sum();
            JobTasks {
                submitted: n,
                done: n,
                alive: 0,
            }
        };
        for job in (1..=JOBS).map(JobId::new) {
            assert_eq!(c.job_tasks(job), per_job(job), "job {job}");
            assert!(c.unfinished_of(job).is_empty(), "job {job}");
        }
        assert_eq!(
            c.counts(),
            SchedulerCounts::default(),
            "nothing queued or held"
        );
        assert_eq!(c.available(), &total, "every CPU given back");
        // Every result kept completed; every waiter was woken.
        for (job, id, _) in logs.iter().flat_map(|l| &l.kept) {
            assert!(
                !matches!(c.status(*id).unwrap(), Status::Pending),
                "object {id} of job {job} never completed"
            );
            let _ = c.lookup(*id, *job).unwrap();
        }
        for signal in logs.iter().flat_map(|l| &l.signals) {
            assert!(
                signal.fired().now_or_never().is_some(),
                "a waiter never woken"
            );
        }
        // Once every reference is given back, nothing is left.
        let pool = std::mem::take(&mut *shared.pool.lock().unwrap());
        for (_, id, _) in logs
            .iter()
            .flat_map(|l| l.held.iter().chain(&l.kept))
            .chain(&pool)
        {
            c.release_all(&[*id]);
        }
        let objects = c.stats().objects;
        assert_eq!(
            (objects.objects, objects.bytes),
            (0, 0),
            "objects left after every reference went"
        );
        assert_eq!(objects.created, objects.freed);
        for job in (1..=JOBS).map(JobId::new) {
            assert_eq!(c.end_job(job), per_job(job));
            assert_eq!(c.job_tasks(job), JobTasks::default(), "job {job} forgotten");
        }
    }
}
