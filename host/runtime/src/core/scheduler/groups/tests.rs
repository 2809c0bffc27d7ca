use super::*;
use crate::core::resources::ONE;
use crate::core::scheduler::Start;

fn cpu(n: f64) -> Resources {
    Resources::none().with("CPU", n)
}

fn group(id: u64, bundles: Vec<Resources>, strategy: GroupStrategy) -> Group {
    Group {
        id: ObjectId::new(id),
        job: JobId::new(1),
        name: None,
        strategy,
        bundles,
        state: GroupState::Pending,
    }
}

fn started<P>(s: Vec<Start<P>>) -> Vec<crate::core::scheduler::TaskId> {
    s.into_iter().map(|s| s.id).collect()
}

#[test]
fn a_group_takes_its_bundles_out_of_the_pool_and_its_tasks_use_them() {
    let mut s: Scheduler<()> = Scheduler::new(cpu(2.0).with("slot", 4.0));
    let g = group(
        7,
        vec![cpu(1.0).with("slot", 2.0), cpu(1.0)],
        GroupStrategy::Pack,
    );
    assert_eq!(s.add_group(g), Ok(None));
    assert!(s.dispatch().is_empty());
    assert_eq!(s.take_reserved(), vec![ObjectId::new(7)]);
    assert_eq!(
        s.group(ObjectId::new(7)).unwrap().state,
        GroupState::Created
    );
    assert_eq!(s.available().cpu(), 0.0);
    assert_eq!(
        s.available().get_fixed("slot"),
        2 * crate::core::resources::ONE
    );
    // A plain task waits; two tasks of the group run, one per bundle.
    s.add(1, JobId::new(1), cpu(1.0), 0, ());
    s.add(
        2,
        JobId::new(1),
        cpu(1.0).in_group(ObjectId::new(7), Some(0)),
        0,
        (),
    );
    s.add(
        3,
        JobId::new(1),
        cpu(1.0).in_group(ObjectId::new(7), None),
        0,
        (),
    );
    s.add(
        4,
        JobId::new(1),
        cpu(1.0).in_group(ObjectId::new(7), None),
        0,
        (),
    );
    assert_eq!(started(s.dispatch()), vec![2, 3]);
    // Removing the group fails its queued task; the plain one starts
    // only as the group's running tasks give their CPU back.
    let (was, orphans) = s.remove_group(ObjectId::new(7)).expect("exists");
    assert_eq!((was, orphans.len()), (GroupState::Created, 1));
    assert!(s.dispatch().is_empty());
    s.finish(
        JobId::new(1),
        &cpu(1.0).in_group(ObjectId::new(7), Some(0)),
        &[],
    );
    assert_eq!(started(s.dispatch()), vec![1]);
    s.finish(
        JobId::new(1),
        &cpu(1.0).in_group(ObjectId::new(7), None),
        &[],
    );
    s.finish(JobId::new(1), &cpu(1.0), &[]);
    assert_eq!(s.available(), &cpu(2.0).with("slot", 4.0));
    assert_eq!(s.total(), &cpu(2.0).with("slot", 4.0));
}

#[test]
fn groups_wait_for_room_in_order_and_impossible_ones_say_so() {
    let mut s: Scheduler<()> = Scheduler::new(cpu(2.0));
    s.add(1, JobId::new(1), cpu(2.0), 0, ());
    assert_eq!(started(s.dispatch()), vec![1]);
    assert_eq!(
        s.add_group(group(5, vec![cpu(1.0)], GroupStrategy::Pack)),
        Ok(None)
    );
    // A task submitted to a pending group is feasible and waits.
    assert!(
        s.check_feasible(&cpu(1.0).in_group(ObjectId::new(5), None))
            .is_ok()
    );
    s.add(
        2,
        JobId::new(1),
        cpu(1.0).in_group(ObjectId::new(5), None),
        0,
        (),
    );
    assert!(s.dispatch().is_empty());
    let never = s
        .add_group(group(6, vec![cpu(4.0)], GroupStrategy::Pack))
        .unwrap()
        .expect("never fits");
    assert!(
        never.contains("4 CPU") && never.contains("2 in total"),
        "{never}"
    );
    let never = s
        .add_group(group(
            8,
            vec![cpu(1.0), cpu(1.0)],
            GroupStrategy::StrictSpread,
        ))
        .unwrap()
        .expect("never fits");
    assert!(never.contains("STRICT_SPREAD"), "{never}");
    s.finish(JobId::new(1), &cpu(2.0), &[]);
    assert_eq!(started(s.dispatch()), vec![2]);
    assert_eq!(s.take_reserved(), vec![ObjectId::new(5)]);
    assert_eq!(
        s.group(ObjectId::new(6)).unwrap().state,
        GroupState::Pending
    );
    assert_eq!(
        s.group(ObjectId::new(8)).unwrap().state,
        GroupState::Pending
    );
    assert!(check_bundles(&[Resources::none().with("GPU", 1.0)]).is_ok());
    assert!(
        check_bundles(&[Resources::none().with("GPU", 1.5)])
            .unwrap_err()
            .contains("whole numbers")
    );
    assert!(check_bundles(&[]).is_err());
    assert!(check_bundles(&[Resources::none()]).is_err());
}

#[test]
fn a_blocked_task_of_a_removed_group_resumes_on_the_nodes_cpu() {
    let mut s: Scheduler<()> = Scheduler::new(cpu(1.0));
    s.add_group(group(9, vec![cpu(1.0)], GroupStrategy::StrictPack))
        .unwrap();
    let demand = cpu(1.0).in_group(ObjectId::new(9), None);
    s.add(1, JobId::new(1), demand.clone(), 0, ());
    assert_eq!(started(s.dispatch()), vec![1]);
    let part = demand.lendable().unwrap();
    s.block(&part);
    let mut rx = s.resume(part);
    s.remove_group(ObjectId::new(9)).unwrap();
    s.dispatch();
    assert!(rx.try_recv().is_ok(), "resumed on the node's CPU");
    assert_eq!(s.available().cpu(), 0.0);
    s.finish(JobId::new(1), &demand, &[]);
    assert_eq!(s.available(), &cpu(1.0));
}

#[test]
fn a_bundles_gpus_are_devices_its_tasks_get_the_ids_of() {
    let gpu = |n: f64| cpu(1.0).with("GPU", n);
    let mut s: Scheduler<()> = Scheduler::new(cpu(8.0).with("GPU", 3.0));
    // Bundle 0: half of a device; bundle 1: two whole devices.
    s.add_group(group(4, vec![gpu(0.5), gpu(2.0)], GroupStrategy::Pack))
        .unwrap();
    assert!(s.dispatch().is_empty());
    assert_eq!(s.take_reserved(), vec![ObjectId::new(4)]);
    let held: Vec<Vec<u32>> = s.group_gpus[&ObjectId::new(4)]
        .iter()
        .map(|b| b.iter().map(|d| d.0).collect())
        .collect();
    assert_eq!(held[1].len(), 2);
    assert!(
        !held[1].contains(&held[0][0]),
        "whole devices are wholly the bundle's"
    );
    // The node keeps half of bundle 0's device; a plain whole-GPU task
    // finds no device left wholly free.
    s.add(1, JobId::new(1), gpu(1.0), 0, ());
    assert!(s.dispatch().is_empty());
    // Bundle 1's task gets bundle 1's devices; an any-bundle half lands
    // on bundle 0's device (the only one with a half free).
    s.add(
        2,
        JobId::new(1),
        gpu(2.0).in_group(ObjectId::new(4), Some(1)),
        0,
        (),
    );
    s.add(
        3,
        JobId::new(1),
        gpu(0.5).in_group(ObjectId::new(4), None),
        0,
        (),
    );
    s.add(
        5,
        JobId::new(1),
        gpu(0.5).in_group(ObjectId::new(4), None),
        0,
        (),
    );
    let run = s.dispatch();
    assert_eq!(started_ids(&run), vec![2, 3]);
    let mut two: Vec<u32> = run[0].gpus.iter().map(|g| g.0).collect();
    two.sort();
    let mut want = held[1].clone();
    want.sort();
    assert_eq!(two, want);
    assert_eq!(run[1].gpus, vec![(held[0][0], ONE / 2)]);
    // The any-bundle task holds bundle 0 by name too, and gives the
    // device back there: the queued half then starts on it.
    let name = group_resource("GPU", ObjectId::new(4), Some(0));
    assert_eq!(run[1].demand.get_fixed(&name), ONE / 2);
    s.finish(JobId::new(1), &run[1].demand, &run[1].gpus);
    let next = s.dispatch();
    assert_eq!(started_ids(&next), vec![5]);
    assert_eq!(next[0].gpus, vec![(held[0][0], ONE / 2)]);
    // Removing the group gives its devices back as their holders end.
    s.remove_group(ObjectId::new(4)).unwrap();
    s.finish(JobId::new(1), &run[0].demand, &run[0].gpus);
    s.finish(JobId::new(1), &next[0].demand, &next[0].gpus);
    let plain = s.dispatch();
    assert_eq!(started_ids(&plain), vec![1]);
    s.finish(JobId::new(1), &plain[0].demand, &plain[0].gpus);
    assert_eq!(s.gpu_free, vec![ONE; 3]);
    assert_eq!(s.available(), &cpu(8.0).with("GPU", 3.0));
    // Bundles that fit the GPU count but not the devices say so.
    let never = s
        .add_group(group(
            6,
            vec![gpu(0.6), gpu(0.6), gpu(0.6), gpu(0.6)],
            GroupStrategy::Pack,
        ))
        .unwrap()
        .expect("never fits");
    assert!(never.contains("3 GPU devices"), "{never}");
}

fn started_ids(s: &[Start<()>]) -> Vec<crate::core::scheduler::TaskId> {
    s.iter().map(|s| s.id).collect()
}
