//! Tasks other nodes of the cluster send here. Each job of another node
//! gets a job of its own on this node (with this node's per-job quotas, a
//! log, and its objects freed when it ends); the job's modules come from
//! the cluster's module store by content hash and are loaded once (their
//! compiled form cached like any module's); each task is submitted here
//! with the options it was given there, pinned here, and its result (or
//! error) goes back. When the job ends on its driver's node, its part here
//! ends too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use super::Node;
use crate::bindings::wit;
use crate::cluster::protocol;
use crate::cluster::wire::{ActorRequest, Failure, Incoming, Outcome, Serve, Wire};
use crate::core::control::JobId;
use crate::core::object_store::{Lookup, ObjectId};
use crate::core::timeline::TraceEvent;
use crate::error::{ErrorKind, TaskError};
use crate::wasm::modules;

/// A job of another node, as it runs here.
struct Guest {
    /// Its id here.
    job: JobId,
    /// Its modules loaded here: digest -> name here.
    modules: HashMap<String, String>,
}

/// The references in `bytes` to objects of other nodes than `node` (one
/// per occurrence).
fn foreign(node: &Node, bytes: &[u8]) -> Vec<ObjectId> {
    let me = node.cluster.get().map_or(0, |c| c.id);
    crate::msgpack::find_refs(bytes)
        .unwrap_or_default()
        .into_iter()
        .filter(|id| crate::core::object_store::owner_node(*id) != me)
        .collect()
}

/// A module of a job of another node: the node, the job there, the
/// module's name there and its digest.
struct ModuleRef<'a> {
    origin: u16,
    job: JobId,
    module: &'a str,
    digest: &'a str,
}

/// A future of what this node answers, before fencing (see
/// [`Remote::fence`]).
type Answering =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u8>, TaskError>> + Send>>;

/// This node's service to the others.
pub(super) struct Remote {
    node: Weak<Node>,
    /// Jobs of other nodes, by (node, job there).
    /// Lock order: after `loading`; before `Cluster::guests`, `Jobs::jobs`
    /// and `Modules::by_name`.
    guests: Mutex<HashMap<(u16, JobId), Guest>>,
    /// Tasks running for other nodes: (node, key) -> (job here, result).
    /// Lock order: a leaf.
    running: Mutex<HashMap<(u16, u64), (JobId, ObjectId)>>,
    /// One module load at a time.
    /// Lock order: outermost, held across the module's fetch and compile.
    loading: tokio::sync::Mutex<()>,
    me: Weak<Remote>,
}

fn internal(m: impl Into<String>) -> TaskError {
    TaskError::new(ErrorKind::Internal, m)
}

impl Remote {
    pub(super) fn new(node: Weak<Node>) -> Arc<Remote> {
        Arc::new_cyclic(|me| Remote {
            node,
            guests: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            loading: tokio::sync::Mutex::new(()),
            me: me.clone(),
        })
    }

    /// The job here of job `job` of node `origin`, and the name here of its
    /// module `digest` (fetched and loaded the first time).
    async fn module_for(
        &self,
        node: &Arc<Node>,
        h: &ModuleRef<'_>,
        wire: &Wire,
    ) -> Result<(JobId, String), TaskError> {
        let key = (h.origin, h.job);
        let known = |guests: &HashMap<(u16, JobId), Guest>| {
            guests
                .get(&key)
                .and_then(|g| g.modules.get(h.digest).map(|m| (g.job, m.clone())))
        };
        if let Some(found) = known(&self.guests.lock().unwrap_or_else(|p| p.into_inner())) {
            return Ok(found);
        }
        let _one = self.loading.lock().await;
        // A head that keeps its jobs in the cluster numbers its parts of
        // other nodes' jobs from the cluster's job ids too: it may carry
        // on any job of the cluster under that job's id.
        let fresh = match node.durable.get() {
            Some(d)
                if !self
                    .guests
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains_key(&key) =>
            {
                Some(d.store.next_job_id().await.map_err(internal)?)
            }
            _ => None,
        };
        let job = {
            let mut guests = self.guests.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(found) = known(&guests) {
                return Ok(found);
            }
            guests
                .entry(key)
                .or_insert_with(|| {
                    let id = fresh.unwrap_or_else(|| node.jobs.next_id());
                    if let Some(c) = node.cluster.get() {
                        c.note_guest(id, h.origin, h.job);
                    }
                    node.jobs.start_for(
                        id,
                        &format!("{} (job {} of node {})", h.module, h.job, h.origin),
                        Some((h.origin, h.job)),
                    );
                    Guest {
                        job: id,
                        modules: HashMap::new(),
                    }
                })
                .job
        };
        let bytes = wire.module_bytes(h.digest).await.map_err(internal)?;
        let name = format!("{}@node{}", h.module, h.origin);
        let module = modules::load(
            &node.engine,
            &node.linker,
            &node.sandboxes,
            job,
            &name,
            &bytes,
            node.config.cache_dir.as_deref(),
            node.config.compiler.as_ref().map(|c| c.0.clone()),
            node.config.task_memory,
        )
        .await
        .map_err(|e| internal(format!("cannot load its module here: {e}")))?;
        node.modules
            .insert(module)
            .map_err(|e| internal(format!("cannot load its module here: {e}")))?;
        let mut guests = self.guests.lock().unwrap_or_else(|p| p.into_inner());
        match guests.get_mut(&key) {
            Some(g) => {
                g.modules.insert(h.digest.to_string(), name.clone());
                Ok((job, name))
            }
            // The job ended while its module loaded.
            None => {
                node.modules.remove(&name);
                Err(TaskError::new(
                    ErrorKind::Cancelled,
                    "its job ended before it started",
                ))
            }
        }
    }

    async fn run_task(&self, task: Incoming, wire: Arc<Wire>) -> Result<Vec<u8>, TaskError> {
        let node = self
            .node
            .upgrade()
            .ok_or_else(|| internal("the node is shutting down"))?;
        let h = &task.header;
        let (job, module) = self
            .module_for(
                &node,
                &ModuleRef {
                    origin: h.origin,
                    job: h.job,
                    module: &h.module,
                    digest: &h.digest,
                },
                &wire,
            )
            .await?;
        let Incoming { header: h, args } = task;
        let mut options: wit::TaskOptions = h.options.clone().into();
        options.scheduling = options.scheduling.filter(crate::exec::tasks::is_group);
        options.name = Some(h.name.clone());
        // The references in its arguments came with them (see `wire`): the
        // task holds them while it lives. (This node's own objects among
        // them the sender holds until the task's outcome is back.)
        let refs = foreign(&node, &args);
        node.control.lock().import(job, &refs);
        let submitted = node
            .tasks
            .submit_pinned(job, &module, &h.function, args, options);
        node.control.lock().release_all(&refs);
        let (result, _) = submitted?;
        let key = (h.origin, h.key);
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (job, result));
        let outcome = node.tasks.result_of(job, result).await;
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        // The references in the result go with it to the node that placed
        // the task here.
        if let Ok(bytes) = &outcome {
            node.tasks
                .export(crate::msgpack::find_refs(bytes).unwrap_or_default())
                .await;
        }
        outcome
    }

    /// The part here of job `root` (the node that runs its driver, its id
    /// there): the job itself on its driver's node. Without one, this
    /// node's id.
    fn part_of(&self, root: (u16, JobId)) -> Result<JobId, u16> {
        let me = self
            .node
            .upgrade()
            .and_then(|n| n.cluster.get().map(|c| c.id))
            .unwrap_or(0);
        let part = self
            .guests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&root)
            .map(|g| g.job);
        match part {
            Some(j) => Ok(j),
            None if root.0 == me => Ok(root.1),
            None => Err(me),
        }
    }

    /// Do what another node asks of an actor here (see `Serve::actor`).
    fn actor_op(&self, request: ActorRequest, args: Vec<u8>, wire: Arc<Wire>) -> Answering {
        let done = |r: Result<Vec<u8>, TaskError>| -> Answering { Box::pin(std::future::ready(r)) };
        let Some(node) = self.node.upgrade() else {
            return done(Err(internal("the node is shutting down")));
        };
        let ActorRequest {
            origin,
            key,
            root,
            op,
            ..
        } = request;
        let gone = |me: u16| {
            TaskError::new(
                ErrorKind::ActorDied,
                format!("its job has ended on node {me}"),
            )
        };
        match op {
            protocol::ActorOp::Call { handle, method } => {
                let job = match self.part_of(root) {
                    Ok(j) => j,
                    Err(me) => return done(Err(gone(me))),
                };
                // The references it carries came with it: held until it
                // is queued, then the call holds its own. (Those of this
                // node's objects, the handle among them, the sender holds
                // until it has the answer: see `Actors::hand_over`.)
                let refs = foreign(&node, &args);
                node.control.lock().import(job, &refs);
                let called = node.actors.call(job, handle, &method, args);
                node.control.lock().release_all(&refs);
                let result = match called {
                    Ok(r) => r,
                    Err(e) => return done(Err(e)),
                };
                self.running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert((origin, key), (job, result));
                let me = self.me.clone();
                Box::pin(async move {
                    let outcome = node.tasks.result_of(job, result).await;
                    if let Some(me) = me.upgrade() {
                        me.running
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&(origin, key));
                    }
                    if let Ok(bytes) = &outcome {
                        node.tasks
                            .export(crate::msgpack::find_refs(bytes).unwrap_or_default())
                            .await;
                    }
                    outcome
                })
            }
            protocol::ActorOp::Kill { handle } => {
                let job = match self.part_of(root) {
                    Ok(j) => j,
                    Err(me) => return done(Err(gone(me))),
                };
                done(node.actors.kill(job, handle).map(|()| Vec::new()))
            }
            protocol::ActorOp::Find { name } => {
                // A job with no part here may still see a detached actor.
                let job = self
                    .part_of(root)
                    .unwrap_or(crate::core::control::DETACHED_JOB);
                // The reference `get` takes is the asker's.
                done(
                    node.actors
                        .get_here(job, &name)
                        .map(|h| h.get().to_le_bytes().to_vec()),
                )
            }
            protocol::ActorOp::Create {
                module,
                digest,
                class,
                options,
            } => {
                let me = self.me.clone();
                Box::pin(async move {
                    let me = me
                        .upgrade()
                        .ok_or_else(|| internal("the node is shutting down"))?;
                    let (job, module) = me
                        .module_for(
                            &node,
                            &ModuleRef {
                                origin: root.0,
                                job: root.1,
                                module: &module,
                                digest: &digest,
                            },
                            &wire,
                        )
                        .await?;
                    let refs = foreign(&node, &args);
                    node.control.lock().import(job, &refs);
                    let caller = crate::wasm::sandbox::TaskCtx {
                        is_driver: true,
                        ..crate::wasm::sandbox::TaskCtx::new(
                            job,
                            module,
                            "main",
                            format!("{class}.new"),
                            Arc::default(),
                        )
                    };
                    let made = node
                        .actors
                        .create_here(&caller, &class, args, options.into());
                    node.control.lock().release_all(&refs);
                    // The creator's reference is the asker's; the handle
                    // is ready once the constructor ran, as here.
                    let handle = made?;
                    Ok(handle.get().to_le_bytes().to_vec())
                })
            }
        }
    }

    /// `work` for another node, answered as lost if this node is counted
    /// dead meanwhile (it took the work as one incarnation and would answer
    /// as another: the asker has placed the work again, or lost it with
    /// this node, and must not get two outcomes).
    fn fence(&self, work: Answering) -> Outcome {
        let node = self.node.clone();
        let taken = self.incarnation();
        Box::pin(async move {
            let outcome = work.await;
            let now = node
                .upgrade()
                .and_then(|n| n.cluster.get().map(|c| c.registry.incarnation()))
                .unwrap_or(taken);
            if now != taken {
                return Err(Failure::Lost(format!(
                    "was counted dead while doing it, and rejoined as incarnation {now}"
                )));
            }
            outcome.map_err(Failure::from)
        })
    }

    /// This node's incarnation in the cluster.
    fn incarnation(&self) -> u32 {
        self.node
            .upgrade()
            .and_then(|n| n.cluster.get().map(|c| c.registry.incarnation()))
            .unwrap_or(0)
    }

    /// This node was counted dead by the cluster (see `registry`): the
    /// work it holds for other nodes was placed again elsewhere (or lost
    /// with it), so all of it goes, as if each job had ended.
    pub(super) fn fenced(&self) {
        for (origin, job) in self.guest_jobs() {
            self.job_ended(origin, job);
        }
    }

    /// Tasks running here for other nodes.
    pub(super) fn running(&self) -> usize {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The jobs of other nodes that run here: (node, job there).
    pub(super) fn guest_jobs(&self) -> Vec<(u16, JobId)> {
        self.guests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect()
    }
}

impl Serve for Remote {
    fn run(&self, task: Incoming, wire: Arc<Wire>) -> Outcome {
        let me = self.me.upgrade().expect("lives with its node");
        let work = {
            let me = me.clone();
            Box::pin(async move { me.run_task(task, wire).await })
        };
        me.fence(work)
    }

    fn cancel(&self, origin: u16, key: u64) {
        let found = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(origin, key))
            .copied();
        if let (Some((job, result)), Some(node)) = (found, self.node.upgrade()) {
            let _ = node.tasks.cancel(result, job);
        }
    }

    fn object(&self, root: (u16, JobId), id: ObjectId, offset: u64, len: u64) -> Outcome {
        let node = self.node.clone();
        let fence = self.me.upgrade().expect("lives with its node");
        let part = self.part_of(root);
        let read: Answering = Box::pin(async move {
            let node = node
                .upgrade()
                .ok_or_else(|| internal("the node is shutting down"))?;
            let job = part.map_err(|me| {
                TaskError::new(
                    ErrorKind::ObjectLost,
                    format!("object {id}: its job ended on node {me}"),
                )
            })?;
            node.tasks.until_ready(job, id).await?;
            let whole = crate::exec::tasks::whole(offset, len);
            let (bytes, refs) = {
                let mut c = node.control.lock();
                let bytes = match c.lookup(id, job)? {
                    Lookup::Ready(b) => b,
                    Lookup::Failed(e) => return Err((*e).clone()),
                    Lookup::Pending => return Err(internal("pending after it was ready")),
                };
                // A whole object takes the references inside it along.
                let refs = if whole {
                    crate::msgpack::find_refs(&bytes).unwrap_or_default()
                } else {
                    Vec::new()
                };
                c.pin(&refs);
                (bytes, refs)
            };
            node.tasks.export(refs).await;
            Ok(bytes[crate::core::object_store::byte_range(bytes.len(), offset, len)].to_vec())
        });
        fence.fence(read)
    }

    fn refs(&self, changes: Vec<(ObjectId, i64)>) {
        if let Some(node) = self.node.upgrade() {
            node.control.lock().apply_remote_refs(&changes);
        }
    }

    fn actor(&self, request: ActorRequest, args: Vec<u8>, wire: Arc<Wire>) -> Outcome {
        let work = self.actor_op(request, args, wire);
        self.fence(work)
    }

    fn timeline(&self, origin: u16, job: Option<JobId>, base_us: u64) -> Vec<TraceEvent> {
        let Some(node) = self.node.upgrade() else {
            return Vec::new();
        };
        // This node's jobs that are parts of `origin`'s (finished ones too,
        // while the node remembers them), by their id there.
        let parts: HashMap<JobId, JobId> = node
            .jobs
            .list()
            .into_iter()
            .filter(|j| j.origin == Some(origin))
            .filter_map(|j| Some((j.id, j.origin_job?)))
            .filter(|(_, there)| job.is_none_or(|want| want == *there))
            .collect();
        let pid = node.cluster.get().map_or(0, |c| c.id);
        // On the asking node's clock.
        let shift = node.timeline.unix_origin_us() as i64 - base_us as i64;
        node.timeline
            .chrome_events(pid, shift, |local| parts.get(&local).copied())
    }

    fn job_ended(&self, origin: u16, job: JobId) {
        let guest = self
            .guests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(origin, job));
        let (Some(guest), Some(node)) = (guest, self.node.upgrade()) else {
            return;
        };
        node.tasks.cancel_job(guest.job);
        if let Some(c) = node.cluster.get() {
            c.forget_guest(guest.job);
        }
        for name in guest.modules.values() {
            node.modules.remove(name);
        }
        node.tasks.forget_lineage(guest.job);
        node.tasks.remove_groups_of(guest.job);
        let tasks = node.control.lock().end_job(guest.job);
        node.jobs.end(guest.job, &Ok(0), tasks);
    }
}
