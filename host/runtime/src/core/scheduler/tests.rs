use super::*;

fn cpu(n: f64) -> Resources {
    Resources::none().with("CPU", n)
}

fn ids<P>(starts: &[Start<P>]) -> Vec<TaskId> {
    starts.iter().map(|s| s.id).collect()
}

#[test]
fn runs_no_more_than_the_cpus() {
    let mut s = Scheduler::new(cpu(2.0));
    for id in 1..=3 {
        s.add(id, JobId::new(0), cpu(1.0), 0, ());
    }
    let first = s.dispatch();
    assert_eq!(ids(&first), vec![1, 2]);
    assert!(s.dispatch().is_empty());
    s.finish(JobId::new(0), &first[0].demand, &first[0].gpus);
    assert_eq!(ids(&s.dispatch()), vec![3]);
    assert_eq!(s.counts().running, 2);
}

#[test]
fn waits_for_dependencies() {
    let mut s = Scheduler::new(cpu(1.0));
    s.add(1, JobId::new(0), cpu(1.0), 2, "t");
    assert!(s.dispatch().is_empty());
    assert_eq!(s.counts().waiting_for_args, 1);
    s.dependency_ready(1);
    assert!(s.dispatch().is_empty());
    s.dependency_ready(1);
    assert_eq!(ids(&s.dispatch()), vec![1]);
}

#[test]
fn failed_dependency_removes_the_task() {
    let mut s = Scheduler::new(cpu(1.0));
    s.add(1, JobId::new(0), cpu(1.0), 1, "payload");
    assert_eq!(s.remove_waiting(1), Some("payload"));
    s.dependency_ready(1); // late notification is harmless
    assert!(s.dispatch().is_empty());
}

#[test]
fn small_tasks_are_not_starved_behind_a_large_one() {
    let mut s = Scheduler::new(cpu(2.0));
    s.add(1, JobId::new(0), cpu(1.0), 0, ());
    assert_eq!(ids(&s.dispatch()), vec![1]);
    s.add(2, JobId::new(0), cpu(2.0), 0, ()); // does not fit while 1 runs
    s.add(3, JobId::new(0), cpu(1.0), 0, ());
    assert_eq!(ids(&s.dispatch()), vec![3]);
}

#[test]
fn gpus_are_devices_with_ids() {
    let total = cpu(8.0).with("GPU", 2.0);
    let mut s = Scheduler::new(total);
    let gpu = |n: f64| cpu(1.0).with("GPU", n);
    for id in 1..=3 {
        s.add(id, JobId::new(0), gpu(1.0), 0, ());
    }
    let first = s.dispatch();
    assert_eq!(ids(&first), vec![1, 2], "two devices, two tasks");
    let devices: Vec<u32> = first
        .iter()
        .flat_map(|t| t.gpus.iter().map(|g| g.0))
        .collect();
    assert_eq!(devices, vec![0, 1]);
    s.finish(JobId::new(0), &first[1].demand, &first[1].gpus);
    let third = s.dispatch();
    assert_eq!(third[0].gpus, vec![(1, ONE)], "gets the freed device");
    s.finish(JobId::new(0), &first[0].demand, &first[0].gpus);
    s.finish(JobId::new(0), &third[0].demand, &third[0].gpus);
    // Halves share a device; a whole GPU still finds a free one.
    for id in 10..=12 {
        s.add(
            id,
            JobId::new(0),
            gpu(if id == 12 { 1.0 } else { 0.5 }),
            0,
            (),
        );
    }
    let mixed = s.dispatch();
    assert_eq!(ids(&mixed), vec![10, 11, 12]);
    assert_eq!(
        mixed[0].gpus[0].0, mixed[1].gpus[0].0,
        "the two halves share one device"
    );
    assert_ne!(mixed[2].gpus[0].0, mixed[0].gpus[0].0);
    assert!(
        s.check_feasible(&gpu(1.5)).is_err(),
        "fractions above 1 are refused"
    );
    assert!(s.check_feasible(&gpu(3.0)).is_err());
}

#[test]
fn queued_and_waiting_tasks_can_be_removed() {
    let mut s = Scheduler::new(cpu(1.0));
    s.add(1, JobId::new(0), cpu(1.0), 0, "running");
    s.add(2, JobId::new(0), cpu(1.0), 0, "queued");
    s.add(3, JobId::new(0), cpu(1.0), 1, "waiting");
    assert_eq!(ids(&s.dispatch()), vec![1]);
    assert_eq!(s.counts().waiting_for_resources, 1);
    assert_eq!(s.counts().waiting_for_args, 1);
    assert_eq!(s.remove(2), Some("queued"));
    assert_eq!(s.remove(3), Some("waiting"));
    assert_eq!(s.remove(1), None, "running tasks are not in the queues");
    let c = s.counts();
    assert_eq!(
        (c.running, c.waiting_for_resources, c.waiting_for_args),
        (1, 0, 0)
    );
}

#[test]
fn infeasible_demand_names_the_resource() {
    let s: Scheduler<()> = Scheduler::new(cpu(2.0));
    let err = s
        .check_feasible(&Resources::none().with("GPU", 1.0))
        .unwrap_err();
    assert!(err.contains("GPU"), "{err}");
    assert!(s.check_feasible(&cpu(2.0)).is_ok());
}

#[test]
fn blocked_task_lends_its_cpu_and_resumes_first() {
    let mut s = Scheduler::new(cpu(1.0));
    s.add(1, JobId::new(0), cpu(1.0), 0, ());
    let started = s.dispatch();
    assert_eq!(ids(&started), vec![1]);
    // Task 1 blocks in get; its child 2 can run on the lent CPU.
    s.block(&cpu(1.0));
    s.add(2, JobId::new(0), cpu(1.0), 0, ());
    let child = s.dispatch();
    assert_eq!(ids(&child), vec![2]);
    // Task 1 wants to resume while 3 is queued: 1 goes first.
    let mut rx = s.resume(cpu(1.0));
    s.add(3, JobId::new(0), cpu(1.0), 0, ());
    assert!(s.dispatch().is_empty());
    assert!(rx.try_recv().is_err());
    s.finish(JobId::new(0), &child[0].demand, &[]);
    assert!(
        s.dispatch().is_empty(),
        "the freed CPU goes to the resuming task"
    );
    assert!(rx.try_recv().is_ok());
    s.finish(JobId::new(0), &cpu(1.0), &[]);
    assert_eq!(ids(&s.dispatch()), vec![3]);
}

#[test]
fn a_job_at_its_sandbox_share_waits_and_leaves_room_for_others() {
    let mut s = Scheduler::new(cpu(10.0)).with_instance_limits(3, 2);
    for id in 1..=4 {
        s.add(id, JobId::new(1), cpu(1.0), 0, ());
    }
    s.add(10, JobId::new(2), cpu(1.0), 0, ());
    // Job 1 gets its share of two sandboxes, job 2 still gets one.
    assert_eq!(ids(&s.dispatch()), vec![1, 2, 10]);
    // A blocked task keeps its sandbox (it gives back only its CPU).
    s.block(&cpu(1.0));
    s.add(11, JobId::new(2), cpu(1.0), 0, ());
    assert!(s.dispatch().is_empty(), "every sandbox is taken");
    s.finish(JobId::new(2), &cpu(1.0), &[]);
    assert_eq!(ids(&s.dispatch()), vec![11]);
    let c = s.counts();
    assert_eq!(c.instances, 3);
    assert_eq!(
        c.waiting_for_resources, 2,
        "job 1's others wait; nothing fails"
    );
}

#[test]
fn a_new_class_reuses_the_queue_of_one_that_emptied() {
    // A driver's second batch queues into the memory its first batch's
    // queue grew (no growth by doubling into fresh pages again).
    let mut s = Scheduler::new(cpu(1.0));
    for id in 1..=1000 {
        s.add(id, JobId::new(0), cpu(1.0), 0, ());
    }
    let mut started = s.dispatch();
    while let Some(t) = started.pop() {
        s.finish(JobId::new(0), &t.demand, &t.gpus);
        started = s.dispatch();
    }
    assert_eq!(s.counts().waiting_for_resources, 0);
    assert!(s.spare.capacity() >= 999, "kept: {}", s.spare.capacity());
    // Another job's class takes it.
    s.add(1001, JobId::new(1), cpu(1.0), 0, ());
    assert_eq!(s.spare.capacity(), 0);
    assert!(s.classes[0].tasks.capacity() >= 999);
    // A queue past the bound is not kept.
    let big = SPARE_QUEUE_BYTES / std::mem::size_of::<Queued<()>>() + 1;
    let mut s = Scheduler::new(cpu(1.0));
    for id in 1..=big as u64 {
        s.add(id, JobId::new(0), cpu(1.0), 0, ());
    }
    while s
        .remove(s.classes.first().map_or(0, |c| c.tasks[0].id))
        .is_some()
    {}
    assert_eq!(s.spare.capacity(), 0);
}
