//! The wire between nodes: running a task on another node and getting its
//! outcome back, moving bytes too big for one message in chunks, and the
//! cluster's store of modules by content hash.
//!
//! Subjects (core NATS, request/reply; `{id}` is a node id):
//!
//! * `raylab.node.{id}.run`: run a task (header + argument bytes); the
//!   reply is its outcome (NATS answers "no responders" at once when the
//!   node is gone);
//! * `raylab.node.{id}.cancel`: cancel a task it took;
//! * `raylab.node.{id}.holds`: whether it still holds a task it was sent
//!   (took it and has not answered yet): how a sender finds out that the
//!   request or its answer was lost in transit (a NATS server died with it
//!   in flight), so that it sends the task again instead of waiting for an
//!   answer that will never come;
//! * `raylab.node.{id}.blob`: a chunk of bytes this node offers (an
//!   argument list or a result too big for one message: they are never
//!   loaded whole into one message, whatever the server's size limit);
//! * `raylab.node.{id}.object`: bytes of an object it owns (a range of it),
//!   for a task it placed elsewhere, once the object is ready;
//! * `raylab.node.{id}.refs`: changes to the counts of references other
//!   nodes hold to objects it owns (see "References across nodes" below);
//! * `raylab.node.{id}.timeline`: the slices of the tasks it ran for the
//!   asking node's jobs, on the asker's clock;
//! * `raylab.node.{id}.actor`: call, kill or find an actor whose handle
//!   this node owns, or make one here (see `actors`); answered on
//!   `raylab.node.{asker}.actor-reply.{key}`;
//! * `raylab.jobs.ended`: a job ended on the node that runs its driver, so
//!   every node drops what it ran for that job.
//!
//! A message is a JSON header and raw bytes: `u32` header length (little
//! endian), the header, the bytes.
//!
//! References across nodes: an object id that travels in a message (an
//! argument list, a result, an object's bytes) is a reference the sender
//! gives the receiver, and its owner counts it. The sender, before the
//! message goes, takes one reference per occurrence for the receiver: on
//! its own objects directly, on another node's by publishing `+1` to that
//! owner's `refs` subject (a message published before the one that carries
//! the id, on the same connection, so the owner counts it before any
//! release the receiver can send). The receiver keeps a stub per foreign
//! id (see `object_store`), and when the stub's last reference goes it
//! publishes `-holds` to the owner. An id of the receiver's own objects in
//! a request (a task's arguments, an actor call's) is the exception: the
//! sender takes nothing for it and holds its own reference until the
//! answer is back, and the receiver releases nothing for it (its handling
//! of requests and of `refs` messages is not ordered, so a `+1` could come
//! after its task let the object go). Releases are batched by a pump (one
//! message per owner for what piled up meanwhile). A node that dies with
//! holds leaves them counted until the job ends, when every node drops
//! the job's objects.
//!
//! Modules live in the JetStream stream `RAYLAB_MODULES` (see `modules`), named by
//! the SHA-256 of their bytes: a node puts a job's module once when it
//! loads it, and a node asked to run one of its functions fetches it the
//! first time (and keeps its compiled form in its own cache).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use futures_util::StreamExt;

use super::ClusterError;
use super::protocol;
use crate::core::timeline::TraceEvent;
use crate::error::{ErrorKind, TaskError};
use crate::ids::{JobId, ObjectId};

mod actors;
mod chunks;
mod direct;
mod modules;
mod objects;

pub(crate) use actors::ActorRequest;

use modules::open_modules;

/// Bytes up to this size travel inside their message; bigger ones as a
/// blob fetched in chunks.
pub(crate) const INLINE: usize = 256 << 10;

/// The size of one chunk of a blob.
const CHUNK: u64 = 512 << 10;

/// Chunk requests in flight at once when fetching a blob.
const WINDOW: usize = 4;

/// A blob nobody fetched is dropped after this long.
const BLOB_TTL: Duration = Duration::from_secs(300);

/// The stream of modules.
const MODULES: &str = "RAYLAB_MODULES";

/// Bytes in a message: inside it, or offered as a blob by a node.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) enum Payload {
    /// The bytes follow the header.
    Inline,
    /// Node `node` offers them as blob `id` of `len` bytes: on its data
    /// port, if `direct` says where, and in chunks over NATS.
    Blob {
        node: u16,
        id: u64,
        len: u64,
        #[serde(default)]
        direct: Option<direct::DirectRef>,
    },
}

/// A task sent to another node.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct RunHeader {
    /// The submitting node and its key for the task.
    pub(crate) origin: u16,
    pub(crate) key: u64,
    /// The job, on the submitting node.
    pub(crate) job: JobId,
    /// The module's name on the submitting node, and its SHA-256.
    pub(crate) module: String,
    pub(crate) digest: String,
    pub(crate) function: String,
    pub(crate) name: String,
    pub(crate) options: protocol::TaskOptions,
    pub(crate) args: Payload,
}

/// A job that ended on its driver's node.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct JobEnded {
    origin: u16,
    job: JobId,
}

/// A request for one chunk of a blob.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ChunkRequest {
    id: u64,
    offset: u64,
    len: u64,
    /// The last chunk: the blob is dropped once it is sent.
    last: bool,
}

fn encode<H: serde::Serialize>(header: &H, body: &[u8]) -> Bytes {
    let h = serde_json::to_vec(header).expect("headers serialize");
    let mut out = Vec::with_capacity(4 + h.len() + body.len());
    out.extend_from_slice(&(h.len() as u32).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(body);
    out.into()
}

fn decode<H: serde::de::DeserializeOwned>(msg: &[u8]) -> Result<(H, &[u8]), String> {
    let len = msg
        .get(..4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
        .ok_or("a message shorter than its header length")?;
    let header = msg
        .get(4..4 + len)
        .ok_or("a message shorter than its header")?;
    let header = serde_json::from_slice(header).map_err(|e| format!("a bad header: {e}"))?;
    Ok((header, &msg[4 + len..]))
}

fn subject(node: u16, what: &str) -> String {
    format!("raylab.node.{node}.{what}")
}

/// A task another node sent here, as the node that runs it sees it.
pub(crate) struct Incoming {
    pub(crate) header: RunHeader,
    /// The argument list.
    pub(crate) args: Vec<u8>,
}

/// Why a node does not answer a request with bytes.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The task (or the read) failed.
    Task(TaskError),
    /// This node was counted dead and dropped the work (see
    /// [`protocol::Answer::Lost`]).
    Lost(String),
}

impl From<TaskError> for Failure {
    fn from(e: TaskError) -> Self {
        Failure::Task(e)
    }
}

/// A future of a task's outcome.
pub(crate) type Outcome =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u8>, Failure>> + Send>>;

/// The answer a node sent, as the asker reads it.
type Answer = protocol::Answer<Payload>;

/// What a node does for the others (implemented by the node).
pub(crate) trait Serve: Send + Sync {
    /// Run a task another node sent.
    fn run(&self, task: Incoming, wire: Arc<Wire>) -> Outcome;
    /// Cancel task `key` of `origin`, if it is still running.
    fn cancel(&self, origin: u16, key: u64);
    /// Job `job` of node `origin` ended: drop what was run for it.
    fn job_ended(&self, origin: u16, job: JobId);
    /// Bytes `offset .. offset + len` of object `id`, once ready, for a
    /// task of job `root.1` of node `root.0` (the job whose part here owns
    /// the object).
    fn object(&self, root: (u16, JobId), id: ObjectId, offset: u64, len: u64) -> Outcome;
    /// Other nodes took (`+n`) or gave back (`-n`) references to objects
    /// this node owns.
    fn refs(&self, changes: Vec<(ObjectId, i64)>);
    /// The timeline of what ran here for node `origin` (for its job `job`,
    /// or all), as Chrome trace events on a clock that started at
    /// `base_us` (µs since the Unix epoch).
    fn timeline(&self, origin: u16, job: Option<JobId>, base_us: u64) -> Vec<TraceEvent>;
    /// Do what another node asks of an actor (see `actors`): a call is
    /// queued on its actor before this returns; the future is the answer.
    fn actor(&self, request: ActorRequest, args: Vec<u8>, wire: Arc<Wire>) -> Outcome;
}

/// A request for bytes of an object.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ObjectRequest {
    /// The job it is read for: (node that runs its driver, its id there).
    root: (u16, JobId),
    id: ObjectId,
    offset: u64,
    len: u64,
}

/// A request for a node's part of a timeline.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct TimelineRequest {
    origin: u16,
    job: Option<JobId>,
    base_us: u64,
}

/// Why a task sent to another node did not come back.
#[derive(Debug)]
pub(crate) enum Lost {
    /// The task's own outcome: an error like any other.
    Task(TaskError),
    /// The node is gone (it did not answer, or died while running it).
    Node(String),
    /// The node is alive but does not hold the task: the request or its
    /// answer was lost on the way (see [`Wire::run`]). Sending it again is
    /// safe: the task is not running there.
    Message(String),
}

/// How long a sender waits for a task's answer before it starts asking
/// the node whether it still holds the task, and how often it asks.
const PROBE_EVERY: Duration = Duration::from_secs(2);

/// How many answers in a row of "I do not hold it" make a task lost in
/// transit (one could cross the request's arrival; two, a probe apart,
/// cannot).
const PROBES_TO_LOSE: u32 = 2;

/// Bytes offered, and since when.
type Offered = (Arc<Vec<u8>>, std::time::Instant);

/// One node's end of the wire.
pub(crate) struct Wire {
    id: u16,
    client: async_nats::Client,
    modules: stream::Stream,
    next_key: AtomicU64,
    /// Bytes this node offers, by id, with when they were offered.
    /// Lock order: a leaf.
    blobs: Mutex<HashMap<u64, Offered>>,
    next_blob: AtomicU64,
    /// Actor requests of this node waiting for their answers, by key.
    /// Lock order: a leaf.
    answers: Mutex<HashMap<u64, tokio::sync::oneshot::Sender<Option<Bytes>>>>,
    /// Where actor requests queue to go out in order (see `actors`).
    outbox: tokio::sync::mpsc::UnboundedSender<actors::Outgoing>,
    /// This node's data port, if it has one (see `direct`).
    direct: Option<direct::Direct>,
    /// Tasks other nodes sent here that are not answered yet, by (node,
    /// its key): what `holds` answers from. Recorded as a request is
    /// taken (see [`Wire::take`]).
    /// Lock order: a leaf.
    taken: Mutex<std::collections::HashSet<(u16, u64)>>,
}

impl Wire {
    /// This node's end, serving `serve` on `handle`; the module store is
    /// kept in `replicas` replicas; bulk bytes are served on a data port on
    /// `data_host`, if given (see `direct`).
    pub(crate) async fn open(
        id: u16,
        client: async_nats::Client,
        serve: Arc<dyn Serve>,
        handle: &tokio::runtime::Handle,
        replicas: usize,
        data_host: Option<&str>,
    ) -> Result<Arc<Wire>, ClusterError> {
        let modules = open_modules(&jetstream::new(client.clone()), replicas).await?;
        let wire = Arc::new_cyclic(|me| Wire {
            direct: data_host.and_then(|host| direct::Direct::serve(host, me.clone(), handle)),
            id,
            client: client.clone(),
            modules,
            next_key: AtomicU64::new(1),
            blobs: Mutex::new(HashMap::new()),
            next_blob: AtomicU64::new(1),
            answers: Mutex::new(HashMap::new()),
            taken: Mutex::new(std::collections::HashSet::new()),
            outbox: Wire::outbox(client.clone(), id, handle),
        });
        let sub = |s: String| {
            let client = client.clone();
            async move {
                client
                    .subscribe(s)
                    .await
                    .map_err(|e| ClusterError::State(e.to_string()))
            }
        };
        let mut runs = sub(subject(id, "run")).await?;
        let mut cancels = sub(subject(id, "cancel")).await?;
        let mut holds = sub(subject(id, "holds")).await?;
        let mut chunks = sub(subject(id, "blob")).await?;
        let mut ended = sub("raylab.jobs.ended".into()).await?;
        let mut timelines = sub(subject(id, "timeline")).await?;
        let mut objects = sub(subject(id, "object")).await?;
        let mut refs = sub(subject(id, "refs")).await?;
        let actor_requests = sub(subject(id, "actor")).await?;
        let mut actor_replies = sub(subject(id, "actor-reply.*")).await?;
        handle.spawn(
            wire.clone()
                .serve_actors(actor_requests, serve.clone(), handle.clone()),
        );
        let w = Arc::downgrade(&wire);
        handle.spawn(async move {
            while let Some(msg) = actor_replies.next().await {
                let Some(w) = w.upgrade() else { break };
                if let Some(key) = msg
                    .subject
                    .rsplit('.')
                    .next()
                    .and_then(|k| k.parse::<u64>().ok())
                {
                    let nobody = msg.status == Some(async_nats::StatusCode::NO_RESPONDERS);
                    w.answered(key, (!nobody).then_some(msg.payload));
                }
            }
        });
        let w = wire.clone();
        let s = serve.clone();
        let h = handle.clone();
        // Fault injection for tests: `RAYLAB_FAULT_DROP_RUNS=N` drops the
        // first N task requests this node gets, as a NATS server that dies
        // with them in flight does.
        let mut drop_runs: u32 = std::env::var("RAYLAB_FAULT_DROP_RUNS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        handle.spawn(async move {
            while let Some(msg) = runs.next().await {
                if drop_runs > 0 {
                    drop_runs -= 1;
                    tracing::warn!("dropped a task request (RAYLAB_FAULT_DROP_RUNS)");
                    continue;
                }
                let (w, s) = (w.clone(), s.clone());
                h.spawn(async move { w.take(msg, s).await });
            }
        });
        let (w, c) = (wire.clone(), client.clone());
        handle.spawn(async move {
            while let Some(msg) = holds.next().await {
                let (Some(reply), Ok(key)) = (
                    msg.reply,
                    serde_json::from_slice::<(u16, u64)>(&msg.payload),
                ) else {
                    continue;
                };
                let held = w
                    .taken
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains(&key);
                let _ = c.publish(reply, vec![u8::from(held)].into()).await;
            }
        });
        let s = serve.clone();
        handle.spawn(async move {
            while let Some(msg) = cancels.next().await {
                if let Ok((origin, key)) = serde_json::from_slice::<(u16, u64)>(&msg.payload) {
                    s.cancel(origin, key);
                }
            }
        });
        let w = wire.clone();
        handle.spawn(async move {
            while let Some(msg) = chunks.next().await {
                w.serve_chunk(msg).await;
            }
        });
        let (w, s, h) = (wire.clone(), serve.clone(), handle.clone());
        handle.spawn(async move {
            while let Some(msg) = objects.next().await {
                let (w, s) = (w.clone(), s.clone());
                h.spawn(async move { w.serve_object(msg, s).await });
            }
        });
        // In the order they were published: a `+1` before the `-1` that
        // may follow it.
        let s = serve.clone();
        handle.spawn(async move {
            while let Some(msg) = refs.next().await {
                if let Ok(changes) = serde_json::from_slice::<Vec<(ObjectId, i64)>>(&msg.payload) {
                    s.refs(changes);
                }
            }
        });
        let (s, c) = (serve.clone(), client.clone());
        handle.spawn(async move {
            while let Some(msg) = timelines.next().await {
                let (Some(reply), Ok(req)) = (
                    msg.reply,
                    serde_json::from_slice::<TimelineRequest>(&msg.payload),
                ) else {
                    continue;
                };
                let events = s.timeline(req.origin, req.job, req.base_us);
                let body = serde_json::to_vec(&events).expect("serializes");
                let _ = c.publish(reply, body.into()).await;
            }
        });
        handle.spawn(async move {
            while let Some(msg) = ended.next().await {
                if let Ok(e) = serde_json::from_slice::<JobEnded>(&msg.payload) {
                    serve.job_ended(e.origin, e.job);
                }
            }
        });
        // Blobs never fetched (their reader died) go after a while.
        let w = Arc::downgrade(&wire);
        handle.spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(30)).await;
                let Some(w) = w.upgrade() else { break };
                let mut blobs = w.blobs.lock().unwrap_or_else(|p| p.into_inner());
                blobs.retain(|_, (_, at)| at.elapsed() < BLOB_TTL);
            }
        });
        Ok(wire)
    }

    /// Record that task `key` (of node, key there) is held here (`true`)
    /// or answered (`false`).
    fn taken_now(&self, key: (u16, u64), held: bool) {
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        if held {
            taken.insert(key);
        } else {
            taken.remove(&key);
        }
    }

    /// Whether `node` says it holds task `key` of this node: `None` when it
    /// does not answer within a second (slow, or dead: `alive` decides).
    async fn holds(&self, node: u16, key: u64) -> Option<bool> {
        let body = serde_json::to_vec(&(self.id, key)).expect("serializes");
        let asked = tokio::time::timeout(
            Duration::from_secs(1),
            self.client.request(subject(node, "holds"), body.into()),
        )
        .await;
        match asked {
            Ok(Ok(msg)) => msg.payload.first().map(|b| *b == 1),
            _ => None,
        }
    }

    /// Run a task on `node` for `job`; resolves to its result bytes. One
    /// request, whose reply is the outcome (NATS answers at once when no
    /// node listens there). `alive` says whether that node is still alive
    /// (checked while waiting); `cancel` resolves when the task is
    /// cancelled here.
    ///
    /// Core NATS delivers at most once: a request, or its answer, that was
    /// on a server when it died is gone, and the node it was for is still
    /// alive. So while it waits, the sender asks the node every
    /// [`PROBE_EVERY`] whether it still holds the task; [`PROBES_TO_LOSE`]
    /// "no"s in a row make it [`Lost::Message`] (the caller sends it again).
    /// Measured before this: a job whose tasks were in flight when one of
    /// three servers was killed waited for them forever, in about one run
    /// of the failover test in ten.
    pub(crate) async fn run(
        &self,
        node: u16,
        mut header: RunHeader,
        args: Arc<Vec<u8>>,
        alive: impl Fn() -> bool,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Result<Vec<u8>, Lost> {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let (payload, inline) = self.offer_shared(args);
        header.origin = self.id;
        header.key = key;
        header.args = payload.clone();
        let name = header.name.clone();
        let request = self.client.send_request(
            subject(node, "run"),
            async_nats::Request::new()
                .payload(encode(&header, &inline))
                .timeout(None),
        );
        tokio::pin!(request, cancel);
        let sent = tokio::time::Instant::now();
        let mut last_probe = sent;
        let mut misses = 0;
        let answer = loop {
            tokio::select! {
                answer = &mut request => break answer,
                () = &mut cancel => {
                    self.withdraw(&payload);
                    let body = serde_json::to_vec(&(self.id, key)).expect("serializes");
                    let _ = self.client.publish(subject(node, "cancel"), body.into()).await;
                    // The task here is decided as cancelled by the caller
                    // already; the other node stops it.
                    return Err(Lost::Task(crate::wasm::sandbox::SandboxLimit::Cancelled.error(&name)));
                }
                () = tokio::time::sleep(Duration::from_millis(250)) => {
                    if !alive() {
                        self.withdraw(&payload);
                        return Err(Lost::Node(format!("node {node} died while running it")));
                    }
                    if last_probe.elapsed() >= PROBE_EVERY {
                        last_probe = tokio::time::Instant::now();
                        match self.holds(node, key).await {
                            Some(false) => misses += 1,
                            Some(true) => misses = 0,
                            None => {}
                        }
                        if misses >= PROBES_TO_LOSE {
                            self.withdraw(&payload);
                            return Err(Lost::Message(format!(
                                "node {node} lost the task on the way (neither it nor its answer got through in {:.0} s)",
                                sent.elapsed().as_secs_f64()
                            )));
                        }
                    }
                }
            }
        };
        self.withdraw(&payload);
        let msg =
            answer.map_err(|e| Lost::Node(format!("node {node} did not take the task: {e}")))?;
        let (outcome, inline) = decode::<Answer>(&msg.payload).map_err(|e| {
            Lost::Task(TaskError::for_task(
                ErrorKind::Internal,
                &name,
                format!("node {node} answered {e}"),
            ))
        })?;
        let payload = match outcome {
            Answer::Ok(p) => p,
            Answer::Err(e) => return Err(Lost::Task(e.into())),
            Answer::Lost(why) => return Err(Lost::Node(format!("node {node} {why}"))),
        };
        self.receive(&payload, inline).await.map_err(|e| {
            Lost::Task(TaskError::for_task(
                ErrorKind::Internal,
                &name,
                format!("cannot receive its result: {e}"),
            ))
        })
    }

    /// Take a task another node sent: run it and answer with its outcome.
    async fn take(self: Arc<Self>, msg: async_nats::Message, serve: Arc<dyn Serve>) {
        let Some(reply) = msg.reply.clone() else {
            return;
        };
        let mut held = None;
        let outcome = match decode::<RunHeader>(&msg.payload) {
            Err(e) => {
                Err(TaskError::new(ErrorKind::Internal, format!("a bad request: {e}")).into())
            }
            Ok((header, inline)) => {
                // Held from now until answered (see `holds`).
                let key = (header.origin, header.key);
                self.taken_now(key, true);
                held = Some(key);
                match self.receive(&header.args, inline).await {
                    Ok(args) => serve.run(Incoming { header, args }, self.clone()).await,
                    Err(e) => Err(TaskError::new(
                        ErrorKind::Internal,
                        format!("cannot receive its arguments: {e}"),
                    )
                    .into()),
                }
            }
        };
        self.answer(reply, outcome).await;
        if let Some(key) = held {
            self.taken_now(key, false);
        }
    }

    /// The parts of this node's timeline that `nodes` ran (of job `job`,
    /// or all), on a clock that started at `base_us`; a node that does not
    /// answer within a second is left out.
    pub(crate) async fn timelines(
        &self,
        nodes: &[u16],
        job: Option<JobId>,
        base_us: u64,
    ) -> Vec<TraceEvent> {
        let req = serde_json::to_vec(&TimelineRequest {
            origin: self.id,
            job,
            base_us,
        })
        .expect("serializes");
        let asks = nodes.iter().map(|&node| {
            let (client, body) = (self.client.clone(), req.clone());
            async move {
                let answer = tokio::time::timeout(
                    Duration::from_secs(1),
                    client.request(subject(node, "timeline"), body.into()),
                )
                .await;
                match answer {
                    Ok(Ok(msg)) => {
                        serde_json::from_slice::<Vec<TraceEvent>>(&msg.payload).unwrap_or_default()
                    }
                    _ => Vec::new(),
                }
            }
        });
        futures_util::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Reply with an outcome: its bytes inline when small, else offered as
    /// a blob the asker fetches in chunks.
    async fn answer(&self, reply: async_nats::Subject, outcome: Result<Vec<u8>, Failure>) {
        let (outcome, body) = match outcome {
            Ok(bytes) => {
                let (payload, inline) = self.offer(bytes);
                (Answer::Ok(payload), inline)
            }
            Err(Failure::Task(e)) => (Answer::Err(e.into()), Vec::new()),
            Err(Failure::Lost(why)) => (Answer::Lost(why), Vec::new()),
        };
        let _ = self.client.publish(reply, encode(&outcome, &body)).await;
    }

    /// Tell every node that `job` of this node ended.
    pub(crate) async fn job_ended(&self, job: JobId) {
        let body = serde_json::to_vec(&JobEnded {
            origin: self.id,
            job,
        })
        .expect("serializes");
        let _ = self.client.publish("raylab.jobs.ended", body.into()).await;
        let _ = self.client.flush().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_its_header_and_its_bytes() {
        let msg = encode(
            &JobEnded {
                origin: 2,
                job: JobId::new(7),
            },
            b"tail",
        );
        let (h, body) = decode::<JobEnded>(&msg).unwrap();
        assert_eq!((h.origin, h.job), (2, JobId::new(7)));
        assert_eq!(body, b"tail");
        assert!(decode::<JobEnded>(&msg[..3]).is_err());
        assert!(decode::<JobEnded>(&msg[..6]).is_err());
    }
}
