//! The registry of nodes: joining (an id from the head), the heartbeat that
//! keeps this node's record fresh in the `raylab-nodes` bucket, and the
//! watch that keeps this node's view of the others.
//!
//! Incarnations fence a node the cluster counted dead. A node that acts on
//! another's death (places its tasks again, makes its actors again) first
//! puts a fence for it into the bucket (`fence-{id}`: the incarnation it
//! counted dead). A node cut off for a while (a partition, a pause) sees
//! its own fence once it is back: it drops the work it held for other
//! nodes (it was done again elsewhere, or lost with it), answers what
//! still waits on it as lost rather than with a second outcome, and goes
//! on as its next incarnation, a node like a new one. A fence only for an
//! incarnation before this node's is stale and changes nothing; a node
//! counted dead for a moment that no one acted on is not fenced at all.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;

use super::{ClusterConfig, ClusterError, DEAD_AFTER, HEARTBEAT, protocol};

/// The bucket of node records.
const BUCKET: &str = "raylab-nodes";

/// How long the bucket keeps a record (a node's, a fence).
const RECORDS_KEPT: Duration = Duration::from_secs(60);

/// How long a joining node asks for a head that does not answer yet.
const JOIN_WAIT: Duration = Duration::from_secs(10);

/// The subject the active head hands out node ids on.
pub(crate) const JOIN: &str = "raylab.join";

/// What a node says of itself, every heartbeat.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Record {
    id: u16,
    name: String,
    http: Option<String>,
    total: BTreeMap<String, f64>,
    available: BTreeMap<String, f64>,
    started_ms: f64,
    heartbeat_ms: f64,
    /// Leaving: it takes no new tasks.
    #[serde(default)]
    draining: bool,
    /// CPU held and queued over CPU total.
    #[serde(default)]
    load: f64,
    /// The cluster protocol it speaks (0: a release before versions).
    #[serde(default)]
    protocol: u32,
    /// Its incarnation: 1 when it joins, one more each time it comes back
    /// after the cluster counted it dead (see the module docs).
    #[serde(default = "first_incarnation")]
    incarnation: u32,
}

fn first_incarnation() -> u32 {
    1
}

/// A fence: node `id` was counted dead as `incarnation` by a node that
/// acted on it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Fence {
    id: u16,
    incarnation: u32,
}

/// The key of node `id`'s fence.
fn fence_key(id: u16) -> String {
    format!("fence-{id}")
}

/// What `status` shows of a node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeInfo {
    /// Node id (the head is 1).
    pub id: u16,
    /// Its name.
    pub name: String,
    /// Its HTTP API, if it serves one.
    pub http: Option<String>,
    /// Its resources.
    pub total: BTreeMap<String, f64>,
    /// Of those, not held by its tasks at its last heartbeat.
    pub available: BTreeMap<String, f64>,
    /// Its last heartbeat, ms since the Unix epoch.
    pub heartbeat_ms: f64,
    /// Whether that heartbeat is recent enough.
    pub alive: bool,
    /// Whether it is leaving (it takes no new tasks).
    pub draining: bool,
    /// CPU held by its tasks and demanded by its queued ones, over its
    /// CPU total, at its last heartbeat.
    pub load: f64,
    /// Whether this is the node answering.
    pub this: bool,
    /// Its incarnation: 1 when it joined, one more each time it came back
    /// after the cluster counted it dead.
    pub incarnation: u32,
}

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// What a node says of its resources at each heartbeat.
pub(crate) struct Usage {
    /// Total, by name.
    pub(crate) total: Vec<(String, f64)>,
    /// Not held by its tasks, by name.
    pub(crate) available: Vec<(String, f64)>,
    /// CPU held and queued over CPU total.
    pub(crate) load: f64,
}

/// This node's usage, when asked.
pub(crate) type ResourcesFn = Box<dyn Fn() -> Usage + Send + Sync>;

/// This node's place in the cluster's registry.
pub(crate) struct Registry {
    id: u16,
    client: async_nats::Client,
    kv: kv::Store,
    /// The records of the nodes, by id.
    /// Lock order: after `last` and `Cluster::sent`; before `gone`.
    view: Mutex<HashMap<u16, Record>>,
    stopped: AtomicBool,
    draining: AtomicBool,
    /// Its last record, to put again at once when draining.
    /// Lock order: before `view`; after nothing.
    last: Mutex<Option<Record>>,
    /// Nodes whose record was deleted (they left).
    /// Lock order: a leaf (after `view`).
    gone: Mutex<std::collections::HashSet<u16>>,
    /// This node's incarnation.
    incarnation: std::sync::atomic::AtomicU32,
    /// What this node does when it finds itself fenced (given its new
    /// incarnation).
    on_fenced: std::sync::OnceLock<Box<dyn Fn(u32) + Send + Sync>>,
    /// A head's part in the lease (see `heads`); none on other nodes.
    heads: Option<Arc<super::heads::Heads>>,
}

impl Registry {
    /// Connect to the cluster's NATS server, get a node id (the head gives
    /// itself [`HEAD_ID`] and serves the others), and start the heartbeat
    /// and the watch on `handle`.
    pub(crate) async fn join(
        cfg: &ClusterConfig,
        resources: ResourcesFn,
        handle: &tokio::runtime::Handle,
    ) -> Result<Arc<Registry>, ClusterError> {
        let connect = |why: String| ClusterError::Connect {
            nats: cfg.nats.clone(),
            why,
        };
        let client = async_nats::ConnectOptions::with_token(cfg.token.clone())
            .name(format!("raylab node {}", cfg.name))
            .connection_timeout(Duration::from_secs(5))
            .connect(cfg.servers()?)
            .await
            .map_err(|e| {
                let why = e.to_string();
                if why.to_lowercase().contains("authorization") {
                    connect("the server refused this node's token".into())
                } else {
                    connect(why)
                }
            })?;
        // A refused token shows once the server answers: make sure it did.
        client
            .flush()
            .await
            .map_err(|e| connect(format!("the server refused this node: {e}")))?;
        let js = jetstream::new(client.clone());
        let kv = open_bucket(&js, cfg.replicas()).await?;
        let mut heads = None;
        let id = if cfg.head {
            // A head takes its id from the counter itself (the first is 1),
            // then the lease if it is free (see `heads`).
            let ids = super::heads::open_ids(&js, cfg.replicas()).await?;
            let id = super::heads::next_id(&ids).await?;
            let me = super::heads::ActiveHead {
                id,
                name: cfg.name.clone(),
                http: cfg.http.clone(),
            };
            let h = super::heads::Heads::start(&js, cfg.replicas(), ids, me, handle).await?;
            h.serve_joins(&client, handle).await?;
            heads = Some(h);
            id
        } else {
            let ask = serde_json::to_vec(&protocol::JoinRequest {
                name: cfg.name.clone(),
                protocol: protocol::PROTOCOL,
            })
            .expect("serializes");
            // A head started at the same moment may not serve joins yet
            // (NATS answers "no responders" at once): ask again for a while.
            let deadline = tokio::time::Instant::now() + JOIN_WAIT;
            let answer = loop {
                let asked = tokio::time::timeout(
                    Duration::from_secs(5),
                    client.request(JOIN, ask.clone().into()),
                )
                .await
                .map_err(|_| ClusterError::NoHead {
                    nats: cfg.nats.clone(),
                    why: "no answer within 5 s".into(),
                })?;
                match asked {
                    Ok(answer) => break answer,
                    Err(e)
                        if e.kind() == async_nats::RequestErrorKind::NoResponders
                            && tokio::time::Instant::now() < deadline =>
                    {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => {
                        return Err(ClusterError::NoHead {
                            nats: cfg.nats.clone(),
                            why: e.to_string(),
                        });
                    }
                }
            };
            protocol::read_answer(&answer.payload).map_err(ClusterError::Refused)?
        };
        let registry = Arc::new(Registry {
            id,
            client: client.clone(),
            kv: kv.clone(),
            view: Mutex::new(HashMap::new()),
            stopped: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            last: Mutex::new(None),
            gone: Mutex::new(std::collections::HashSet::new()),
            incarnation: std::sync::atomic::AtomicU32::new(1),
            on_fenced: std::sync::OnceLock::new(),
            heads,
        });
        let started_ms = unix_ms();
        let (name, http) = (cfg.name.clone(), cfg.http.clone());
        let beat = registry.clone();
        // The first record goes in before `join` returns: the node is in
        // the registry as soon as it has joined.
        beat.put(&name, &http, &resources, started_ms).await?;
        // This node knows itself at once, before the watch delivers it.
        if let Some(me) = beat.last.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            beat.view
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(me.id, me);
        }
        handle.spawn(async move {
            let mut last_ok = std::time::Instant::now();
            while !beat.stopped.load(Ordering::SeqCst) {
                tokio::time::sleep(HEARTBEAT).await;
                if beat.stopped.load(Ordering::SeqCst) {
                    break;
                }
                match beat.put(&name, &http, &resources, started_ms).await {
                    Ok(()) => {
                        let gap = last_ok.elapsed();
                        last_ok = std::time::Instant::now();
                        if gap >= RECORDS_KEPT {
                            // Cut off for longer than the bucket keeps
                            // fences: whoever acted on its death left no
                            // fence to see.
                            let was = beat.incarnation();
                            beat.next_incarnation(was, &beat.kv).await;
                        } else if gap >= DEAD_AFTER - HEARTBEAT {
                            // Silent long enough to be counted dead: a fence
                            // put meanwhile may not come through the watch
                            // (it only brings what is put while it runs).
                            beat.check_fence().await;
                        }
                    }
                    Err(e) => tracing::warn!("heartbeat: {e}"),
                }
            }
        });
        let first = kv
            .watch_all()
            .await
            .map_err(|e| ClusterError::State(e.to_string()))?;
        let viewer = Arc::downgrade(&registry);
        let watched = kv.clone();
        handle.spawn(async move {
            // Nodes of another protocol version, warned of once.
            let mut foreign = std::collections::HashSet::new();
            let mut watch = Some(first);
            loop {
                // The watch runs on a consumer of one NATS server: when that
                // server dies the watch ends, fails or goes quiet (every
                // node, this one included, puts its record every heartbeat,
                // so a quiet watch is a broken one). Watch again: the new
                // watch replays every key's latest value.
                let Some(mut entries) = watch.take() else {
                    tokio::time::sleep(HEARTBEAT).await;
                    if viewer.strong_count() == 0 {
                        break;
                    }
                    // With history: the latest of every key, then what
                    // comes (a fence put while it was broken included).
                    match watched.watch_with_history(">").await {
                        Ok(w) => watch = Some(w),
                        Err(e) => tracing::debug!("watching the node bucket again: {e}"),
                    }
                    continue;
                };
                loop {
                    let entry = match tokio::time::timeout(2 * HEARTBEAT, entries.next()).await {
                        Ok(Some(Ok(entry))) => entry,
                        Ok(Some(Err(e))) => {
                            tracing::debug!("the node bucket's watch failed: {e}");
                            break;
                        }
                        Ok(None) | Err(_) => break,
                    };
                    let Some(registry) = viewer.upgrade() else {
                        return;
                    };
                    if entry.key.starts_with("fence-") {
                        if entry.operation == kv::Operation::Put
                            && let Ok(fence) = serde_json::from_slice::<Fence>(&entry.value)
                        {
                            registry.fenced(fence, &watched).await;
                        }
                        continue;
                    }
                    let mut view = registry.view.lock().unwrap_or_else(|p| p.into_inner());
                    match entry.operation {
                        kv::Operation::Put => {
                            match serde_json::from_slice::<Record>(&entry.value) {
                                // A node of another protocol version is never
                                // placed on (it could not have joined through
                                // this head; see `protocol`).
                                Ok(record) if record.protocol != protocol::PROTOCOL => {
                                    if !foreign.insert(record.id) {
                                        continue;
                                    }
                                    tracing::warn!(
                                        "node {} ({}) is ignored: {}",
                                        record.id,
                                        record.name,
                                        protocol::mismatch(protocol::PROTOCOL, record.protocol)
                                    );
                                }
                                Ok(record) => {
                                    view.insert(record.id, record);
                                }
                                Err(_) => {}
                            }
                        }
                        kv::Operation::Delete | kv::Operation::Purge => {
                            if let Ok(id) = entry.key.parse::<u16>() {
                                view.remove(&id);
                                registry
                                    .gone
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .insert(id);
                            }
                        }
                    }
                }
                if viewer.strong_count() == 0 {
                    break;
                }
                tracing::debug!("watching the node bucket again");
            }
        });
        Ok(registry)
    }

    async fn put(
        &self,
        name: &str,
        http: &Option<String>,
        resources: &ResourcesFn,
        started_ms: f64,
    ) -> Result<(), ClusterError> {
        let usage = resources();
        let record = Record {
            id: self.id,
            name: name.to_string(),
            http: http.clone(),
            total: usage.total.into_iter().collect(),
            available: usage.available.into_iter().collect(),
            // A node with no CPU is infinitely loaded: JSON has no
            // infinity (it would write null, which no node could read).
            load: if usage.load.is_finite() {
                usage.load
            } else {
                f64::MAX
            },
            started_ms,
            heartbeat_ms: unix_ms(),
            draining: self.draining.load(Ordering::SeqCst),
            protocol: protocol::PROTOCOL,
            incarnation: self.incarnation(),
        };
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(record.clone());
        self.put_record(&record).await
    }

    async fn put_record(&self, record: &Record) -> Result<(), ClusterError> {
        let bytes = serde_json::to_vec(record).map_err(|e| ClusterError::State(e.to_string()))?;
        self.kv
            .put(self.id.to_string(), bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::State(e.to_string()))
    }

    /// This node's id.
    pub(crate) fn id(&self) -> u16 {
        self.id
    }

    /// This node's incarnation (see the module docs).
    pub(crate) fn incarnation(&self) -> u32 {
        self.incarnation.load(Ordering::SeqCst)
    }

    /// Run `hook` (given the new incarnation) when this node finds itself
    /// fenced.
    pub(crate) fn on_fenced(&self, hook: Box<dyn Fn(u32) + Send + Sync>) {
        let _ = self.on_fenced.set(hook);
    }

    /// This node acts on node `id`'s death: fence the incarnation it counted
    /// dead, so that if that node comes back it drops what it held and
    /// rejoins as its next incarnation.
    pub(crate) async fn fence(&self, id: u16) {
        let incarnation = self
            .view
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .map_or(1, |r| r.incarnation);
        let fence = serde_json::to_vec(&Fence { id, incarnation }).expect("serializes");
        match self.kv.put(fence_key(id), fence.into()).await {
            Ok(_) => tracing::info!("node {id} fenced as incarnation {incarnation}"),
            Err(e) => tracing::warn!("cannot fence node {id}: {e}"),
        }
    }

    /// Read this node's fence, and go to the next incarnation if it is for
    /// this one.
    async fn check_fence(&self) {
        if let Ok(Some(bytes)) = self.kv.get(fence_key(self.id)).await
            && let Ok(fence) = serde_json::from_slice::<Fence>(&bytes)
        {
            self.fenced(fence, &self.kv).await;
        }
    }

    /// A fence came through the watch: this node's own, for its current
    /// incarnation, fences it (see the module docs).
    async fn fenced(&self, fence: Fence, kv: &kv::Store) {
        if fence.id == self.id {
            self.next_incarnation(fence.incarnation, kv).await;
        }
    }

    /// Go from incarnation `was` (if this node still is it) to the next:
    /// drop what it held for others and say so.
    async fn next_incarnation(&self, was: u32, kv: &kv::Store) {
        if self
            .incarnation
            .compare_exchange(was, was + 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        let now = was + 1;
        tracing::warn!(
            "the cluster counted this node dead while it was cut off, and placed its work \
             elsewhere: dropping what it held for other nodes, rejoining as incarnation {now}"
        );
        if let Some(hook) = self.on_fenced.get() {
            hook(now);
        }
        // Say so at once, rather than at the next heartbeat.
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(mut record) = last {
            record.incarnation = now;
            record.heartbeat_ms = unix_ms();
            if let Ok(bytes) = serde_json::to_vec(&record) {
                let _ = kv.put(self.id.to_string(), bytes.into()).await;
            }
        }
    }

    /// The time the view is current to: now, or, when this node's own
    /// heartbeats have stopped coming back through the watch (its NATS
    /// server died and it is moving to another, or it is cut off), the
    /// last one it saw. Other nodes' silence is judged against that, so a
    /// node whose own view is behind declares no one else dead for it.
    fn view_now(&self, view: &HashMap<u16, Record>) -> f64 {
        let now = unix_ms();
        match view.get(&self.id) {
            Some(me) => now.min(me.heartbeat_ms + 2.0 * HEARTBEAT.as_secs_f64() * 1e3),
            None => now,
        }
    }

    /// The nodes this node knows of, by id.
    pub(crate) fn nodes(&self) -> Vec<NodeInfo> {
        let view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.view_now(&view);
        let mut nodes: Vec<NodeInfo> = view
            .values()
            .map(|r| NodeInfo {
                id: r.id,
                name: r.name.clone(),
                http: r.http.clone(),
                total: r.total.clone(),
                available: r.available.clone(),
                heartbeat_ms: r.heartbeat_ms,
                alive: now - r.heartbeat_ms < DEAD_AFTER.as_secs_f64() * 1e3,
                draining: r.draining,
                load: r.load,
                this: r.id == self.id,
                incarnation: r.incarnation,
            })
            .collect();
        nodes.sort_by_key(|n| n.id);
        nodes
    }

    /// Whether node `id` is known to be gone: its heartbeats stopped, or it
    /// left. A node not heard of yet is not (a task can arrive from a node
    /// before this node's watch has delivered that node's first record).
    pub(crate) fn dead(&self, id: u16) -> bool {
        let view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        match view.get(&id) {
            Some(r) => self.view_now(&view) - r.heartbeat_ms >= DEAD_AFTER.as_secs_f64() * 1e3,
            None => self
                .gone
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&id),
        }
    }

    /// The NATS client this node joined with.
    pub(crate) fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Take no new tasks: say so in this node's record now.
    pub(crate) async fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(mut record) = last {
            record.draining = true;
            record.heartbeat_ms = unix_ms();
            let _ = self.put_record(&record).await;
        }
    }

    /// Where this head's tenure stands (`None`: it is no head).
    pub(crate) fn head_tenure(&self) -> Option<super::heads::Tenure> {
        self.heads.as_ref().map(|h| h.tenure())
    }

    /// Whether this node is the active head (`None`: it is no head).
    pub(crate) fn head_role(&self) -> Option<super::heads::HeadRole> {
        self.heads.as_ref().map(|h| h.role())
    }

    /// Leave the cluster: stop the heartbeat and take this node's record
    /// out, so that the others see it gone at once.
    pub(crate) async fn leave(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(heads) = &self.heads {
            heads.stop();
        }
        let _ = self.kv.delete(self.id.to_string()).await;
    }
}

/// Opens the node bucket, making its backing stream first when this is the
/// first node.
///
/// `create_key_value` would be the obvious call, but async-nats 0.51 asks the
/// server for account info first and cannot parse that answer from the
/// nats-server Debian ships (2.9.10), so the bucket's
/// stream is made directly with the same settings a KV bucket has (one value
/// per subject, rollups allowed, direct gets) and then opened as a bucket.
/// Liveness records are small and rewritten every heartbeat, so they live in
/// memory: a restarted server starts with an empty view, which heartbeats
/// refill within one period.
async fn open_bucket(js: &jetstream::Context, replicas: usize) -> Result<kv::Store, ClusterError> {
    if let Ok(kv) = js.get_key_value(BUCKET).await {
        return Ok(kv);
    }
    // Records of nodes long gone expire by themselves.
    let max_age = RECORDS_KEPT;
    let config = jetstream::stream::Config {
        name: format!("KV_{BUCKET}"),
        subjects: vec![format!("$KV.{BUCKET}.>")],
        max_messages_per_subject: 1,
        max_age,
        duplicate_window: max_age,
        discard: jetstream::stream::DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        storage: jetstream::stream::StorageType::Memory,
        num_replicas: replicas,
        ..Default::default()
    };
    super::until_jetstream_ready(|| js.get_or_create_stream(config.clone()))
        .await
        .map_err(|e| ClusterError::State(format!("cannot make the node bucket: {e}")))?;
    js.get_key_value(BUCKET)
        .await
        .map_err(|e| ClusterError::State(format!("cannot open the node bucket: {e}")))
}
