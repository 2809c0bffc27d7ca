//! Placement groups from Rust: bundles reserved out of the node's pool,
//! tasks and actors placed in a bundle, a captured child, a group that can
//! never fit, removal (queued tasks of the group fail, the node's CPUs come
//! back), each checked by what the host reports (no timing). Run on a node
//! of 2 CPUs and one `slot`; prints one line per check and `ok`.
use std::time::Duration;

use raylab_guest::{
    ActorOptions, ErrorKind, PlacementGroup, PlacementGroupState, PlacementStrategy, TaskOptions,
    actor, available_resources, context, current_placement_group, placement_group, remote,
    submit_raw, tasks, wait,
};

/// Where it runs: its group, if any, and the names of what it holds.
#[remote]
fn probe() -> (Option<u64>, Vec<String>) {
    let c = context();
    (
        current_placement_group(),
        c.resources.into_iter().map(|(n, _)| n).collect(),
    )
}

/// Submit `probe` with no strategy of its own; its group.
#[remote]
fn parent() -> Option<u64> {
    probe::remote().get().expect("child ran").0
}

/// The GPU devices it was given.
#[remote]
fn gpus() -> Vec<u32> {
    context().gpu_ids
}

/// Sleep an hour (cancelled by the test when it is done with it).
#[remote]
fn hold() -> u64 {
    std::thread::sleep(Duration::from_secs(3600));
    0
}

/// Counts, from inside a bundle.
pub struct Tally {
    n: u64,
}

#[actor]
impl Tally {
    pub fn new() -> Self {
        Tally { n: 0 }
    }
    pub fn add(&mut self, k: u64) -> u64 {
        self.n += k;
        self.n
    }
    pub fn group(&self) -> Option<u64> {
        current_placement_group()
    }
}

tasks!(probe, parent, gpus, hold, Tally);

fn free(name: &str) -> f64 {
    available_resources()
        .into_iter()
        .find(|(n, _)| n == name)
        .map_or(0.0, |(_, v)| v)
}

fn main() {
    let pg = placement_group(
        &[&[("CPU", 1.0)], &[("CPU", 1.0), ("slot", 1.0)]],
        PlacementStrategy::Pack,
    )
    .expect("asked for");
    pg.ready().expect("created");
    assert_eq!(pg.state(), Some(PlacementGroupState::Created));
    assert_eq!(pg.bundles().len(), 2);
    assert_eq!((free("CPU"), free("slot")), (0.0, 0.0));
    println!("reserved: CPU and slot left the pool");

    let (group, held) = probe::options(
        TaskOptions::new()
            .resource("slot", 1.0)
            .placement_group(&pg, Some(1)),
    )
    .remote()
    .get()
    .expect("ran in bundle 1");
    assert_eq!(group, Some(pg.id()));
    assert!(
        held.iter().any(|n| n.starts_with("slot_group_1_")),
        "{held:?}"
    );
    println!("bundle 1: the task held the group's slot");

    let captured = parent::options(TaskOptions::new().placement_group_capturing(&pg, None))
        .remote()
        .get()
        .expect("parent ran");
    assert_eq!(captured, Some(pg.id()));
    println!("captured: the child ran in the parent's group");

    let tally = Tally::options(
        ActorOptions::new()
            .num_cpus(1.0)
            .placement_group(&pg, Some(0)),
    )
    .remote();
    let sums: Vec<u64> = (1..=4).map(|k| tally.add(k).get().unwrap()).collect();
    assert_eq!(sums, [1, 3, 6, 10]);
    assert_eq!(tally.group().get().unwrap(), Some(pg.id()));
    println!("actor: lives in bundle 0");
    tally.kill().unwrap();

    // Nothing is free outside the group: a plain task waits.
    let outside = probe::remote();
    let (ready, _) = wait(vec![outside.clone()], 1, Some(Duration::from_millis(200))).unwrap();
    assert!(ready.is_empty());
    // A group's task queued behind one that holds its only slot.
    let holding = hold::options(
        TaskOptions::new()
            .resource("slot", 1.0)
            .placement_group(&pg, Some(1)),
    )
    .remote();
    let queued = probe::options(
        TaskOptions::new()
            .resource("slot", 1.0)
            .placement_group(&pg, Some(1)),
    )
    .remote();
    pg.remove().unwrap();
    assert_eq!(pg.state(), Some(PlacementGroupState::Removed));
    let e = queued.get().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Infeasible, "{e}");
    assert!(e.message.contains("placement group was removed"), "{e}");
    println!("removed: its queued task failed: {e}");
    assert_eq!(outside.get().unwrap().0, None);
    println!("removed: the plain task ran on the CPU given back");
    holding.cancel().unwrap();
    let e = submit_raw::<u64>(
        "probe",
        &[0x90],
        &TaskOptions::new().placement_group(&pg, None),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
    println!("removed: a new task is refused: {e}");

    let big = placement_group(&[&[("CPU", 8.0)]], PlacementStrategy::StrictPack).unwrap();
    assert!(!big.wait(Duration::from_millis(100)).unwrap());
    assert_eq!(big.state(), Some(PlacementGroupState::Pending));
    big.remove().unwrap();
    let e = big.ready().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Infeasible, "{e}");
    println!("too big: pending, then removed: {e}");

    // A bundle's GPUs are devices: each bundle's task gets its own.
    let gpu_pg = placement_group(
        &[&[("CPU", 1.0), ("GPU", 1.0)], &[("CPU", 1.0), ("GPU", 1.0)]],
        PlacementStrategy::Pack,
    )
    .expect("asked for");
    gpu_pg.ready().expect("created");
    assert_eq!(free("GPU"), 0.0);
    let in_bundle = |i: u32| {
        gpus::options(
            TaskOptions::new()
                .num_gpus(1.0)
                .placement_group(&gpu_pg, Some(i)),
        )
        .remote()
        .get()
        .expect("ran in its bundle")
    };
    let (a, b) = (in_bundle(0), in_bundle(1));
    assert_eq!((a.len(), b.len()), (1, 1), "{a:?} {b:?}");
    assert_ne!(a, b);
    assert_eq!(in_bundle(0), a, "bundle 0 keeps its device");
    gpu_pg.remove().unwrap();
    println!("gpu bundles: each bundle's task got the bundle's own device");
    let e = placement_group(&[&[("GPU", 1.5)]], PlacementStrategy::Pack).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
    println!("gpu bundle: {e}");
    assert!(PlacementGroup::named("nobody").is_none());
    println!("ok");
}
