//! The cluster: nodes that find each other over NATS, the engine raylab
//! builds its multi-node runtime on (as wasmCloud builds its lattice).
//!
//! A head owns the NATS server (with JetStream) and the cluster's token;
//! every node, the head included, connects with that token (a node without
//! it is refused by the server), asks the head for a node id on the
//! subject `raylab.join`, and from then on puts a record of itself (name,
//! HTTP address, resources total and available, a timestamp) into the
//! key-value bucket `raylab-nodes` every [`HEARTBEAT`]. Every node watches
//! that bucket: its view of the cluster is the records it has seen, and a
//! node whose last heartbeat is older than [`DEAD_AFTER`] is dead (the
//! bucket's age limit also drops the records of nodes long gone).
//!
//! Why this shape (the design guide suggested a work-queue stream for
//! tasks too): a task's owner is the node that submitted it, as in Ray, and
//! the owner tracks where its tasks run, so plain request/reply (tens of
//! microseconds on loopback) carries tasks and objects, and a node's death
//! is seen in the registry by the owners, who run its tasks again
//! elsewhere; JetStream holds what must outlive a node or be shared by
//! all: the registry, and (later) the job modules by content hash.

pub(crate) mod durable;
mod heads;
mod placement;
pub(crate) mod protocol;
mod registry;
pub(crate) mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

pub(crate) use heads::LEASE as HEAD_LEASE;
pub(crate) use heads::Tenure;
pub use heads::{ActiveHead, HeadRole};
pub use registry::NodeInfo;
pub(crate) use registry::{Registry, Usage};

use crate::core::resources::Resources;
use crate::error::{ErrorKind, TaskError};
use crate::exec::tasks::HereFits;
use crate::exec::tasks::{
    ActorOp, FetchFuture, Forward, ForwardFuture, Forwarded, Placement, Strategy,
};
use crate::ids::{JobId, ObjectId};
use placement::Candidate;
use wire::{Lost, Payload, RunHeader, Wire};

/// How often a node puts its record.
pub(crate) const HEARTBEAT: Duration = Duration::from_millis(500);

/// A node is dead once its last heartbeat is this old.
pub(crate) const DEAD_AFTER: Duration = Duration::from_secs(3);

/// How a node joins a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The NATS server (`nats://host:port`), or the servers of a NATS
    /// cluster, comma-separated: the node connects to any of them and moves
    /// to another when its server dies. With three or more, the cluster's
    /// JetStream state (the node registry, the modules) is kept in three
    /// replicas, so that one server's death loses nothing.
    pub nats: String,
    /// The cluster's token.
    pub token: String,
    /// This node's name (shown in `status`).
    pub name: String,
    /// This node's HTTP API, if it serves one (shown in `status`).
    pub http: Option<String>,
    /// Whether this node is the head: it hands out node ids.
    pub head: bool,
    /// A head: keep its jobs in the cluster (their table, modules,
    /// journals and logs in JetStream), so that another head carries them
    /// on when it dies, and carry on the jobs of a head that died (see
    /// `cluster::durable`). For a head whose NATS outlives it; pointless
    /// when the head runs the only NATS server (its death ends the
    /// cluster).
    pub durable_jobs: bool,
    /// The host (name or address) this node serves bulk bytes on, for the
    /// other nodes to read them straight from it (an argument list or a
    /// result too big for one message): the address they reach it at. With
    /// none, bulk bytes go through NATS in chunks, about a third as fast.
    pub data_host: Option<String>,
}

impl ClusterConfig {
    /// The servers `nats` names.
    pub(crate) fn servers(&self) -> Result<Vec<async_nats::ServerAddr>, ClusterError> {
        let servers: Vec<&str> = self
            .nats
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if servers.is_empty() {
            return Err(ClusterError::Connect {
                nats: self.nats.clone(),
                why: "no server named".into(),
            });
        }
        servers
            .into_iter()
            .map(|s| {
                s.parse().map_err(|e| ClusterError::Connect {
                    nats: self.nats.clone(),
                    why: format!("`{s}` is not a NATS address: {e}"),
                })
            })
            .collect()
    }

    /// Replicas of the cluster's JetStream state: three where three servers
    /// or more are named (one server's death then loses nothing), else one.
    pub(crate) fn replicas(&self) -> usize {
        let named = self
            .nats
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .count();
        if named >= 3 { 3 } else { 1 }
    }
}

/// Run `op` until it succeeds, for at most 15 s: a NATS cluster that has
/// just started elects its JetStream leader a few seconds after it accepts
/// clients, and makes no stream until then; one that lost a server moves
/// its streams' leaders to the others, and fails requests meanwhile.
pub(crate) async fn until_jetstream_ready<T, E, F>(mut op: impl FnMut() -> F) -> Result<T, E>
where
    E: std::fmt::Display,
    F: std::future::Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::debug!("JetStream not ready yet: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Why joining a cluster failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The NATS server could not be reached or refused the token.
    #[error("cannot join the cluster at {nats}: {why}")]
    Connect {
        /// The server.
        nats: String,
        /// What it said.
        why: String,
    },
    /// The head did not answer the join request.
    #[error("the cluster at {nats} has no head answering (is a head node running there?): {why}")]
    NoHead {
        /// The server.
        nats: String,
        /// What happened.
        why: String,
    },
    /// The head refused this node (it speaks another protocol version).
    #[error("the head refused this node: {0}")]
    Refused(String),
    /// A JetStream operation failed.
    #[error("cluster state: {0}")]
    State(String),
}

/// This node's membership of a cluster: the registry, the wire, and the
/// placement of tasks on the other nodes.
pub(crate) struct Cluster {
    /// Its node id.
    pub(crate) id: u16,
    /// Its name.
    pub(crate) name: String,
    pub(crate) registry: Arc<Registry>,
    pub(crate) wire: Arc<Wire>,
    /// What this node sent each other node and has not seen finish.
    /// Lock order: before `Registry::view`; after nothing.
    sent: Mutex<HashMap<u16, Resources>>,
    /// The next turn of the spread strategy.
    /// Lock order: a leaf.
    turn: Mutex<usize>,
    /// Tasks waiting for a node that can hold them: key -> (name, why).
    /// Lock order: a leaf.
    waiting: Mutex<std::collections::BTreeMap<u64, (String, String)>>,
    next_wait: std::sync::atomic::AtomicU64,
    /// Tasks placed again because the node running them died.
    pub(crate) moved: std::sync::atomic::AtomicU64,
    /// Jobs here that are parts of jobs of other nodes: job here ->
    /// (node, job there).
    /// Lock order: a leaf (after `Remote::guests`).
    guests: Mutex<HashMap<JobId, (u16, JobId)>>,
    me: Weak<Cluster>,
}

fn resources(map: &std::collections::BTreeMap<String, f64>) -> Resources {
    let mut r = Resources::none();
    for (name, amount) in map {
        let _ = r.set(name, *amount);
    }
    r
}

impl Cluster {
    pub(crate) fn new(name: String, registry: Arc<Registry>, wire: Arc<Wire>) -> Arc<Cluster> {
        Arc::new_cyclic(|me| Cluster {
            id: registry.id(),
            name,
            registry,
            wire,
            sent: Mutex::new(HashMap::new()),
            turn: Mutex::new(0),
            guests: Mutex::new(HashMap::new()),
            moved: std::sync::atomic::AtomicU64::new(0),
            waiting: Mutex::new(std::collections::BTreeMap::new()),
            next_wait: std::sync::atomic::AtomicU64::new(0),
            me: me.clone(),
        })
    }

    /// Job `job` here is part of job `there` of node `origin`.
    pub(crate) fn note_guest(&self, job: JobId, origin: u16, there: JobId) {
        self.guests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job, (origin, there));
    }

    /// Job `job` here ended.
    pub(crate) fn forget_guest(&self, job: JobId) {
        self.guests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&job);
    }

    /// The job `job` here is a part of: (the node that runs its driver,
    /// its id there).
    fn root_of(&self, job: JobId) -> (u16, JobId) {
        self.guests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&job)
            .copied()
            .unwrap_or((self.id, job))
    }

    fn candidates(&self) -> Vec<Candidate> {
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        self.registry
            .nodes()
            .into_iter()
            .map(|n| {
                let total = resources(&n.total);
                let mut free = resources(&n.available);
                let mut load = n.load;
                if let Some(s) = sent.get(&n.id) {
                    free.subtract_saturating(s);
                    if total.cpu() > 0.0 {
                        load += s.cpu() / total.cpu();
                    }
                }
                Candidate {
                    id: n.id,
                    name: n.name,
                    // A node leaving takes no new tasks.
                    alive: n.alive && !n.draining,
                    total,
                    free,
                    load,
                }
            })
            .collect()
    }

    fn choose(
        &self,
        demand: &Resources,
        strategy: &Strategy,
        here: HereFits,
    ) -> Result<Option<u16>, String> {
        let nodes = self.candidates();
        let mut turn = self.turn.lock().unwrap_or_else(|p| p.into_inner());
        placement::choose(self.id, &nodes, demand, strategy, here, &mut turn)
    }

    fn note_sent(&self, node: u16, demand: &Resources, add: bool) {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let s = sent.entry(node).or_insert_with(Resources::none);
        if add {
            s.add(demand);
        } else {
            s.subtract_saturating(demand);
        }
    }

    /// Hold `task` until a node that can hold it is alive (checked every
    /// heartbeat; listed in [`Cluster::waiting`] meanwhile); where it goes
    /// (`None`: here), or its cancellation.
    async fn wait_for_node(&self, task: &Forward) -> Result<Option<u16>, TaskError> {
        let key = self
            .next_wait
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let outcome = loop {
            let here = (task.here)(&task.task.demand);
            match self.choose(&task.task.demand, &Strategy::Default, here) {
                Ok(to) => break Ok(to),
                Err(why) => {
                    self.waiting
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key, (task.task.name.clone(), why));
                }
            }
            tokio::select! {
                () = task.cancel.wait() => {
                    break Err(crate::wasm::sandbox::SandboxLimit::Cancelled.error(&task.task.name));
                }
                () = tokio::time::sleep(HEARTBEAT) => {}
            }
        };
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        outcome
    }

    /// Tasks waiting for a node that can hold them: (name, why).
    pub(crate) fn waiting(&self) -> Vec<(String, String)> {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Run `task` on `node`; when that node dies first, place it again
    /// (counted against its `max_retries`, as a crash is): on another
    /// node, or back here.
    async fn run_on(self: Arc<Self>, mut node: u16, task: Forward, reserved: bool) -> Forwarded {
        let header = RunHeader {
            origin: self.id,
            key: 0,
            job: task.task.job,
            module: task.task.module.name.clone(),
            digest: task.task.module.digest.clone(),
            function: task.task.function.clone(),
            name: task.task.name.clone(),
            options: (&task.task.options).into(),
            args: Payload::Inline,
        };
        if node == crate::exec::tasks::WAIT_FOR_NODE {
            match self.wait_for_node(&task).await {
                Ok(Some(n)) => node = n,
                Ok(None) => return Forwarded::Here(Box::new(task)),
                Err(e) => return Forwarded::Done(Err(e)),
            }
        }
        let max_retries = task.task.options.max_retries.unwrap_or(3);
        let mut attempt = 0;
        // Sent again to the same node (see `Lost::Message`): the
        // references of its arguments went there already.
        let mut again = false;
        loop {
            attempt += 1;
            // The first node's count is the task's reservation (see
            // `Reservation`); a node it moves to is counted here.
            let counted = !(reserved && attempt == 1);
            if counted {
                self.note_sent(node, &task.task.demand, true);
            }
            if !again {
                (task.export)(node).await;
            }
            let registry = self.registry.clone();
            let cancel = task.cancel.clone();
            let outcome = self
                .wire
                .run(
                    node,
                    header.clone(),
                    task.task.args.clone(),
                    move || !registry.dead(node),
                    async move { cancel.wait().await },
                )
                .await;
            if counted {
                self.note_sent(node, &task.task.demand, false);
            }
            let why = match outcome {
                Ok(bytes) => return Forwarded::Done(Ok(bytes)),
                Err(Lost::Task(e)) => return Forwarded::Done(Err(e)),
                Err(Lost::Message(why)) if attempt <= max_retries => {
                    // The node is alive and does not hold it: the same
                    // node takes it again.
                    tracing::warn!(task = %task.task.name, attempt, "{why}; sending it again");
                    again = true;
                    continue;
                }
                Err(Lost::Node(why) | Lost::Message(why)) => why,
            };
            again = false;
            tracing::warn!(task = %task.task.name, attempt, "{why}");
            let lost = |more: String| {
                TaskError::for_task(
                    ErrorKind::TaskCrashed,
                    &task.task.name,
                    format!("{why}{more}"),
                )
            };
            if attempt > max_retries {
                return Forwarded::Done(Err(lost(format!(" (after {attempt} attempts)"))));
            }
            self.moved
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // Wait until the registry says so too, so that placement does
            // not pick the same node again.
            let deadline = tokio::time::Instant::now() + DEAD_AFTER + HEARTBEAT;
            while !self.registry.dead(node) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(HEARTBEAT / 2).await;
            }
            // The task goes elsewhere: if that node comes back, it must
            // drop its attempt (see `registry`'s incarnations).
            self.registry.fence(node).await;
            // A task pinned to the node that died runs nowhere else; any
            // other goes where it can now.
            let strategy = match Strategy::of(&task.task.options) {
                pinned @ Strategy::Affinity { soft: false, .. } => pinned,
                _ => Strategy::Default,
            };
            let here: HereFits = (task.here)(&task.task.demand);
            node = match self.choose(&task.task.demand, &strategy, here) {
                Ok(Some(n)) => n,
                Ok(None) => return Forwarded::Here(Box::new(task)),
                Err(e) => {
                    return Forwarded::Done(Err(lost(format!("; no other node can run it: {e}"))));
                }
            };
        }
    }
}

impl Placement for Cluster {
    fn node_name(&self) -> String {
        self.name.clone()
    }

    fn place(
        &self,
        demand: &Resources,
        strategy: &Strategy,
        here: HereFits,
    ) -> Result<Option<u16>, String> {
        self.choose(demand, strategy, here)
    }

    fn reserve(&self, node: u16, demand: &Resources) -> crate::exec::tasks::Reservation {
        self.note_sent(node, demand, true);
        let (me, demand) = (self.me.clone(), demand.clone());
        crate::exec::tasks::Reservation::new(move || {
            if let Some(me) = me.upgrade() {
                me.note_sent(node, &demand, false);
            }
        })
    }

    fn run(&self, node: u16, task: Forward, reserved: bool) -> ForwardFuture {
        let me = self
            .me
            .upgrade()
            .expect("a cluster lives while its node does");
        Box::pin(me.run_on(node, task, reserved))
    }

    fn id(&self) -> u16 {
        self.id
    }

    fn fetch(&self, job: JobId, id: ObjectId, offset: u64, len: u64) -> FetchFuture {
        let owner = crate::core::object_store::owner_node(id);
        let me = self
            .me
            .upgrade()
            .expect("a cluster lives while its node does");
        let root = self.root_of(job);
        Box::pin(async move {
            // Every node that runs a part of the job maps its root (the
            // driver's node and job) to that part: the owner finds the
            // object there, whichever node asks.
            let registry = me.registry.clone();
            me.wire
                .read_object(owner, root, id, offset, len, move || !registry.dead(owner))
                .await
        })
    }

    fn name_of(&self, id: u16) -> String {
        self.registry
            .nodes()
            .into_iter()
            .find(|n| n.id == id)
            .map_or_else(|| format!("node {id}"), |n| n.name)
    }

    fn add_refs(&self, ids: Vec<ObjectId>) -> crate::exec::tasks::BoxFuture {
        let wire = self.wire.clone();
        Box::pin(async move { wire.add_refs(&ids).await })
    }

    fn actor(
        &self,
        node: u16,
        job: JobId,
        op: ActorOp,
        args: Vec<u8>,
        before: crate::exec::tasks::BoxFuture,
    ) -> FetchFuture {
        let root = self.root_of(job);
        let op = match op {
            ActorOp::Call { handle, method } => protocol::ActorOp::Call { handle, method },
            ActorOp::Kill { handle } => protocol::ActorOp::Kill { handle },
            ActorOp::Find { name } => protocol::ActorOp::Find { name },
            ActorOp::Create {
                module,
                class,
                options,
            } => protocol::ActorOp::Create {
                module: module.name.clone(),
                digest: module.digest.clone(),
                class,
                options: (&options).into(),
            },
        };
        let registry = self.registry.clone();
        let answer = self
            .wire
            .actor(node, root, op, args, before, move || !registry.dead(node));
        Box::pin(async move {
            answer.await.map_err(|lost| match lost {
                Lost::Task(e) => e,
                Lost::Node(why) | Lost::Message(why) => TaskError::new(ErrorKind::ActorDied, why),
            })
        })
    }

    fn alive(&self, id: u16) -> bool {
        !self.registry.dead(id)
    }

    fn fence(&self, id: u16) -> crate::exec::tasks::BoxFuture {
        let registry = self.registry.clone();
        Box::pin(async move { registry.fence(id).await })
    }

    fn others(&self) -> Vec<u16> {
        self.registry
            .nodes()
            .into_iter()
            .filter(|n| n.alive && n.id != self.id)
            .map(|n| n.id)
            .collect()
    }

    fn total(&self) -> Resources {
        let mut total = Resources::none();
        for n in self.registry.nodes().into_iter().filter(|n| n.alive) {
            total.add(&resources(&n.total));
        }
        total
    }
}
