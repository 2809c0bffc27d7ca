//! The scheduler: which task runs next. It owns the resource ledger, the
//! tasks waiting for their arguments, the queue of tasks waiting for
//! resources, and the tasks that blocked in `get`/`wait` and want their CPU
//! back. It knows nothing of wasm: a task is an id, a demand and a payload,
//! so the policy is unit-tested on its own.
//!
//! Policy:
//! * a task enters the resource queue when its last dependency is ready;
//! * a demand the node can never meet is refused at submission
//!   ([`Scheduler::check_feasible`]), so nothing waits for ever;
//! * a task blocked in `get`/`wait` gives its CPU back
//!   ([`Scheduler::block`]); when it wakes it asks for it again
//!   ([`Scheduler::resume`]) and is served before new tasks, so nested
//!   remote calls cannot deadlock even with one CPU;
//! * GPUs are individual devices with ids: a demand below one GPU is
//!   placed on one device that has that much left (so two `num_gpus = 0.5`
//!   tasks share a device), a demand of n ≥ 1 (whole numbers only) takes n
//!   free devices; the ids go to the task (like `ray.get_gpu_ids()`);
//! * every started task holds one sandbox (instance) until it finishes,
//!   blocked or not; the node has a fixed number of them, and each job may
//!   hold at most its share ([`Scheduler::with_instance_limits`]), so a
//!   fork bomb in one job queues its own tasks instead of taking every
//!   sandbox: a task that finds no sandbox free waits in the queue, it
//!   never fails for it;
//! * dispatch is first-fit in submission order, so a small task is not
//!   starved behind a large one at the head. Queued tasks are grouped by
//!   job and demand ("scheduling classes", as in Ray): tasks of one class
//!   are interchangeable, so dispatch looks only at the head of each class
//!   and costs O(classes) per started task, not O(queue), even with a
//!   million tasks queued; a job at its sandbox share blocks only its own
//!   classes.

use std::collections::{BTreeMap, HashMap, VecDeque};

use tokio::sync::oneshot;

use crate::core::resources::{ONE, Resources};
use crate::ids::{JobId, ObjectId};

mod groups;
pub(crate) use groups::{Group, GroupState, GroupStrategy, check_bundles};

pub(crate) use crate::ids::TaskId;

struct Queued<P> {
    id: TaskId,
    job: JobId,
    /// Submission order across classes.
    seq: u64,
    demand: Resources,
    /// Whether it holds a sandbox here (a task run by another node of the
    /// cluster holds none: see [`Scheduler::add_forwarded`]).
    sandbox: bool,
    payload: P,
}

/// Tasks of one job and demand, in submission order.
struct Class<P> {
    job: JobId,
    demand: Resources,
    sandbox: bool,
    tasks: VecDeque<Queued<P>>,
}

/// A decision of the scheduler: start a task, with its resources already
/// taken from the ledger.
#[derive(Debug)]
pub(crate) struct Start<P> {
    /// The task.
    pub id: TaskId,
    /// What it holds.
    pub demand: Resources,
    /// The GPU devices it holds, with the share of each (fixed point).
    pub gpus: Vec<(u32, u64)>,
    /// What was submitted with it.
    pub payload: P,
}

/// The scheduler's state.
pub(crate) struct Scheduler<P> {
    total: Resources,
    available: Resources,
    waiting_args: crate::ids::IdMap<(usize, Queued<P>)>,
    classes: Vec<Class<P>>,
    queued: usize,
    /// CPU (fixed point) the queued tasks demand, summed.
    queued_cpu: u64,
    next_seq: u64,
    resuming: VecDeque<(Resources, oneshot::Sender<()>)>,
    /// Free share of each GPU device, by id (fixed point, `ONE` = whole).
    gpu_free: Vec<u64>,
    running: usize,
    blocked: usize,
    instances: Instances,
    /// Placement groups, by id (see `groups`).
    groups: BTreeMap<ObjectId, Group>,
    /// How many of them are pending.
    pending_groups: usize,
    /// Groups created since [`Scheduler::take_reserved`].
    reserved: Vec<ObjectId>,
    /// The GPU devices each created group holds, per bundle: `(device,
    /// share not held by a task now)` (see `groups`).
    group_gpus: HashMap<ObjectId, Vec<DeviceShares>>,
    /// The queue of the last class that emptied, kept for the next new
    /// class (see [`Scheduler::retire_class`]).
    spare: VecDeque<Queued<P>>,
}

/// The most bytes of queue a [`Scheduler`] keeps for reuse once its class
/// empties.
///
/// A class's queue grows by doubling, each time into memory the process
/// has not touched: measured, growing the queue of a batch of 20,000
/// no-op tasks was half of the driver's time in `submit` (the kernel
/// zeroing fresh pages), and a class that empties and comes back (a
/// driver submitting batch after batch) paid it every time. Keeping one
/// queue makes the next batch's growth free, for at most this much idle
/// memory.
const SPARE_QUEUE_BYTES: usize = 8 << 20;

/// Sandboxes held by started tasks (running or blocked), in all and per
/// job, and the most of each.
struct Instances {
    live: usize,
    cap: usize,
    job_cap: usize,
    per_job: crate::ids::IdMap<usize, JobId>,
}

impl Instances {
    fn room_for(&self, job: JobId) -> bool {
        self.live < self.cap && self.per_job.get(&job).copied().unwrap_or(0) < self.job_cap
    }

    fn take(&mut self, job: JobId) {
        self.live += 1;
        *self.per_job.entry(job).or_insert(0) += 1;
    }

    fn give_back(&mut self, job: JobId) {
        self.live -= 1;
        if let Some(n) = self.per_job.get_mut(&job) {
            *n -= 1;
            if *n == 0 {
                self.per_job.remove(&job);
            }
        }
    }
}

/// Counts of tasks by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SchedulerCounts {
    /// Waiting for their arguments.
    pub waiting_for_args: usize,
    /// Waiting for resources.
    pub waiting_for_resources: usize,
    /// Running (holding resources).
    pub running: usize,
    /// Blocked in `get`/`wait` (CPU given back).
    pub blocked: usize,
    /// Sandboxes held by started tasks.
    pub instances: usize,
}

impl<P> Scheduler<P> {
    /// A scheduler for a node with `total` resources.
    pub(crate) fn new(total: Resources) -> Self {
        let devices = (total.gpu_fixed() / ONE) as usize;
        Scheduler {
            gpu_free: vec![ONE; devices],
            available: total.clone(),
            total,
            waiting_args: Default::default(),
            classes: Vec::new(),
            queued: 0,
            queued_cpu: 0,
            next_seq: 0,
            resuming: VecDeque::new(),
            spare: VecDeque::new(),
            running: 0,
            blocked: 0,
            instances: Instances {
                live: 0,
                cap: usize::MAX,
                job_cap: usize::MAX,
                per_job: Default::default(),
            },
            groups: BTreeMap::new(),
            pending_groups: 0,
            reserved: Vec::new(),
            group_gpus: HashMap::new(),
        }
    }

    /// At most `cap` started tasks hold a sandbox at once, and at most
    /// `job_cap` of one job (default: no limit).
    pub(crate) fn with_instance_limits(mut self, cap: usize, job_cap: usize) -> Self {
        self.instances.cap = cap;
        self.instances.job_cap = job_cap;
        self
    }

    /// Set the number of GPUs (before any task holds one).
    pub(crate) fn set_gpus(&mut self, n: u32) {
        self.total.set("GPU", n as f64).expect("whole number");
        self.available.set("GPU", n as f64).expect("whole number");
        self.gpu_free = vec![ONE; n as usize];
    }

    /// Set the node's total of resource `name` (Ray's `ray.init(num_cpus=..)`
    /// for the node a program owns): what is held stays held, and the
    /// change is refused when more is held than the new total. GPUs change
    /// only while none is held.
    pub(crate) fn set_total(&mut self, name: &str, amount: f64) -> Result<(), String> {
        if name == "GPU" {
            if self.available.gpu_fixed() != self.total.gpu_fixed() {
                return Err("GPUs are held by running tasks".into());
            }
            if amount.fract() != 0.0 || !(0.0..=1024.0).contains(&amount) {
                return Err(format!("GPU must be a whole number of GPUs, got {amount}"));
            }
            self.set_gpus(amount as u32);
            return Ok(());
        }
        let new = crate::core::resources::to_fixed(name, amount)?;
        let held = self
            .total
            .get_fixed(name)
            .saturating_sub(self.available.get_fixed(name));
        if new < held {
            return Err(format!("running tasks hold more `{name}` than {amount}"));
        }
        self.total.set_fixed(name, new);
        self.available.set_fixed(name, new - held);
        Ok(())
    }

    /// The node's total resources.
    pub(crate) fn total(&self) -> &Resources {
        &self.total
    }

    /// Resources not held right now.
    pub(crate) fn available(&self) -> &Resources {
        &self.available
    }

    /// Task counts by state.
    pub(crate) fn counts(&self) -> SchedulerCounts {
        SchedulerCounts {
            waiting_for_args: self.waiting_args.len(),
            waiting_for_resources: self.queued,
            running: self.running,
            blocked: self.blocked,
            instances: self.instances.live,
        }
    }

    /// How loaded the node is: CPU held and queued over CPU total (`inf`
    /// with no CPU). O(1): placement asks at every submission.
    pub(crate) fn load(&self) -> f64 {
        let total = self.total.cpu_fixed();
        if total == 0 {
            return f64::INFINITY;
        }
        let held = total.saturating_sub(self.available.cpu_fixed());
        (held + self.queued_cpu) as f64 / total as f64
    }

    /// Refuse a demand the node can never meet, naming the resource.
    pub(crate) fn check_feasible(&self, demand: &Resources) -> Result<(), String> {
        let g = crate::core::resources::group_gpu_demand(demand)
            .map_or(demand.gpu_fixed(), |(_, _, g)| g);
        if g > ONE && !g.is_multiple_of(ONE) {
            return Err(format!(
                "num_gpus above 1 must be a whole number, got {}",
                demand.gpu()
            ));
        }
        match self.total.shortfall(demand) {
            None => Ok(()),
            Some((name, want, have)) => Err(format!(
                "demands {want} {name} but the node has {have} {name} in total; it can never run"
            )),
        }
    }

    /// Add a task of `job` that waits for `unresolved` dependencies (0:
    /// ready now).
    pub(crate) fn add(
        &mut self,
        id: TaskId,
        job: JobId,
        demand: Resources,
        unresolved: usize,
        payload: P,
    ) {
        self.add_queued(id, job, demand, true, unresolved, payload);
    }

    /// Add a task that another node of the cluster runs: here it holds no
    /// resources and no sandbox (it only waits for its dependencies, then
    /// starts at once and stands for the remote run until it ends).
    pub(crate) fn add_forwarded(&mut self, id: TaskId, job: JobId, unresolved: usize, payload: P) {
        self.add_queued(id, job, Resources::none(), false, unresolved, payload);
    }

    fn add_queued(
        &mut self,
        id: TaskId,
        job: JobId,
        demand: Resources,
        sandbox: bool,
        unresolved: usize,
        payload: P,
    ) {
        let q = Queued {
            id,
            job,
            seq: 0,
            demand,
            sandbox,
            payload,
        };
        if unresolved == 0 {
            self.enqueue(q);
        } else {
            self.waiting_args.insert(id, (unresolved, q));
        }
    }

    fn enqueue(&mut self, mut q: Queued<P>) {
        q.seq = self.next_seq;
        self.next_seq += 1;
        self.queued += 1;
        self.queued_cpu += q.demand.cpu_fixed();
        match self
            .classes
            .iter_mut()
            .find(|c| c.job == q.job && c.demand == q.demand && c.sandbox == q.sandbox)
        {
            Some(class) => class.tasks.push_back(q),
            None => {
                let demand = q.demand.clone();
                let mut tasks = std::mem::take(&mut self.spare);
                let job = q.job;
                let sandbox = q.sandbox;
                tasks.push_back(q);
                self.classes.push(Class {
                    job,
                    demand,
                    sandbox,
                    tasks,
                });
            }
        }
    }

    /// One dependency of `id` became ready.
    pub(crate) fn dependency_ready(&mut self, id: TaskId) {
        if let Some((left, _)) = self.waiting_args.get_mut(&id) {
            *left -= 1;
            if *left == 0 {
                let (_, q) = self.waiting_args.remove(&id).expect("present");
                self.enqueue(q);
            }
        }
    }

    /// Remove a task that waits for its arguments (a dependency failed).
    pub(crate) fn remove_waiting(&mut self, id: TaskId) -> Option<P> {
        self.waiting_args.remove(&id).map(|(_, q)| q.payload)
    }

    /// Whether `demand` can start now, GPUs placed on devices included.
    fn fits(&self, demand: &Resources) -> bool {
        self.available.fits(demand) && self.place_gpus(demand).is_some()
    }

    /// Devices for a demand's GPUs: on the node's free devices, or, for a
    /// demand in a placement group, on the devices its bundle holds (any
    /// bundle with room, in order, when it names none). Returns the
    /// devices and the bundle `(group, index)` they come from.
    fn place_gpus(&self, demand: &Resources) -> Option<(DeviceShares, Option<(ObjectId, usize)>)> {
        let Some((group, bundle, g)) = crate::core::resources::group_gpu_demand(demand) else {
            let free = self
                .gpu_free
                .iter()
                .enumerate()
                .map(|(id, f)| (id as u32, *f));
            return place_on(free, demand.gpu_fixed()).map(|d| (d, None));
        };
        let bundles = self.group_gpus.get(&group)?;
        let mut tried = bundle.map_or(0..bundles.len(), |i| i..i + 1);
        tried.find_map(|i| {
            let devices = bundles.get(i)?;
            place_on(devices.iter().copied(), g).map(|d| (d, Some((group, i))))
        })
    }

    /// Start whatever fits now: blocked tasks resuming first, then queued
    /// tasks first-fit in submission order.
    pub(crate) fn dispatch(&mut self) -> Vec<Start<P>> {
        while let Some((demand, _)) = self.resuming.front() {
            if !self.available.fits(demand) {
                // Resuming tasks keep their order; nothing new may overtake
                // them while the first one waits.
                return Vec::new();
            }
            let (demand, tx) = self.resuming.pop_front().expect("front");
            self.blocked -= 1;
            if tx.send(()).is_ok() {
                self.available.subtract(&demand);
                self.running += 1;
            }
            // A closed channel means the task went away while blocked; it
            // held nothing, so there is nothing to undo.
        }
        self.reserve_groups();
        let mut started = Vec::new();
        loop {
            // The oldest head among the classes that fit.
            let pick = self
                .classes
                .iter()
                .enumerate()
                .filter(|(_, c)| {
                    (!c.sandbox || self.instances.room_for(c.job)) && self.fits(&c.demand)
                })
                .filter_map(|(i, c)| c.tasks.front().map(|q| (q.seq, i)))
                .min();
            let Some((_, i)) = pick else { break };
            let q = self.classes[i].tasks.pop_front().expect("non-empty");
            if self.classes[i].tasks.is_empty() {
                self.retire_class(i);
            }
            self.queued -= 1;
            self.queued_cpu -= q.demand.cpu_fixed();
            let (gpus, bundle) = self.place_gpus(&q.demand).expect("checked by fits");
            let mut demand = q.demand;
            match bundle {
                None => {
                    for (id, share) in &gpus {
                        self.gpu_free[*id as usize] -= share;
                    }
                }
                Some((group, i)) => {
                    let devices = &mut self.group_gpus.get_mut(&group).expect("placed")[i];
                    for (id, share) in &gpus {
                        let d = devices.iter_mut().find(|d| d.0 == *id).expect("placed");
                        d.1 -= share;
                    }
                    // It holds that bundle's GPUs, by name too, so that
                    // `finish` gives them back there.
                    let name = crate::core::resources::group_resource("GPU", group, Some(i));
                    if demand.get_fixed(&name) == 0 {
                        demand.set_fixed(
                            &name,
                            demand.get_fixed(&crate::core::resources::group_resource(
                                "GPU", group, None,
                            )),
                        );
                    }
                }
            }
            self.available.subtract(&demand);
            self.running += 1;
            if q.sandbox {
                self.instances.take(q.job);
            }
            started.push(Start {
                id: q.id,
                demand,
                gpus,
                payload: q.payload,
            });
        }
        started
    }

    /// A running task of `job` finished: its resources and its sandbox
    /// return to the pool.
    pub(crate) fn finish(&mut self, job: JobId, demand: &Resources, gpus: &[(u32, u64)]) {
        self.instances.give_back(job);
        self.available.add_within(demand, &self.total);
        self.give_back_gpus(demand, gpus);
        self.running -= 1;
    }

    /// Give back the GPU devices a finished holder of `demand` held: to its
    /// placement group's bundle while the group lives, else to the node.
    fn give_back_gpus(&mut self, demand: &Resources, gpus: &[(u32, u64)]) {
        let bundle = match crate::core::resources::group_gpu_demand(demand) {
            Some((group, Some(i), _)) => self.group_gpus.get_mut(&group).and_then(|b| b.get_mut(i)),
            _ => None,
        };
        match bundle {
            Some(devices) => {
                for (id, share) in gpus {
                    if let Some(d) = devices.iter_mut().find(|d| d.0 == *id) {
                        d.1 += share;
                    }
                }
            }
            None => {
                for (id, share) in gpus {
                    self.gpu_free[*id as usize] += share;
                }
            }
        }
    }

    /// A forwarded task (see [`Scheduler::add_forwarded`]) ended.
    pub(crate) fn finish_forwarded(&mut self) {
        self.running -= 1;
    }

    /// Drop the empty class `i`, keeping its queue's memory for the next
    /// new class when it is the largest yet within [`SPARE_QUEUE_BYTES`].
    fn retire_class(&mut self, i: usize) {
        let tasks = self.classes.swap_remove(i).tasks;
        let bytes = tasks.capacity() * std::mem::size_of::<Queued<P>>();
        if tasks.capacity() > self.spare.capacity() && bytes <= SPARE_QUEUE_BYTES {
            self.spare = tasks;
        }
    }

    /// Take a task that has not started out of the scheduler (cancel).
    pub(crate) fn remove(&mut self, id: TaskId) -> Option<P> {
        if let Some(p) = self.remove_waiting(id) {
            return Some(p);
        }
        let (ci, ti) = self
            .classes
            .iter()
            .enumerate()
            .find_map(|(ci, c)| c.tasks.iter().position(|q| q.id == id).map(|ti| (ci, ti)))?;
        let q = self.classes[ci].tasks.remove(ti).expect("found");
        if self.classes[ci].tasks.is_empty() {
            self.retire_class(ci);
        }
        self.queued -= 1;
        self.queued_cpu -= q.demand.cpu_fixed();
        Some(q.payload)
    }

    /// What waiting tasks (for arguments or for resources) will demand,
    /// summed.
    pub(crate) fn pending_demand(&self) -> Resources {
        let mut sum = Resources::none();
        for class in &self.classes {
            for _ in 0..class.tasks.len() {
                sum.add(&class.demand);
            }
        }
        for (_, q) in self.waiting_args.values() {
            sum.add(&q.demand);
        }
        sum
    }

    /// A running task blocked in `get`/`wait`: it gives `part` (its CPU)
    /// back until it resumes.
    pub(crate) fn block(&mut self, part: &Resources) {
        self.available.add_within(part, &self.total);
        self.running -= 1;
        self.blocked += 1;
    }

    /// A blocked task wants `part` back. The receiver fires once it is
    /// granted (by a later [`Scheduler::dispatch`]).
    pub(crate) fn resume(&mut self, part: Resources) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        // Its placement group may have gone while it was blocked.
        let part = part.rebased(&self.total);
        self.resuming.push_back((part, tx));
        rx
    }
}

/// GPU devices by id, each with a share of it in fixed point (`ONE` is a
/// whole device).
pub(crate) type DeviceShares = Vec<(u32, u64)>;

/// Devices for a GPU demand `g` (fixed point) among `free` (`(device,
/// free share)`): one device with room for a fraction, or `g / ONE` devices
/// wholly free.
fn place_on(free: impl Iterator<Item = (u32, u64)> + Clone, g: u64) -> Option<DeviceShares> {
    if g == 0 {
        return Some(Vec::new());
    }
    if g < ONE {
        // Best fit: the fullest device that still has room, so that
        // fractions pack together and whole devices stay free.
        return free
            .filter(|(_, f)| *f >= g)
            .min_by_key(|(_, f)| *f)
            .map(|(id, _)| vec![(id, g)]);
    }
    let want = (g / ONE) as usize;
    let whole: Vec<(u32, u64)> = free
        .filter(|(_, f)| *f == ONE)
        .map(|(id, _)| (id, ONE))
        .take(want)
        .collect();
    (whole.len() == want).then_some(whole)
}

#[cfg(test)]
mod tests;
