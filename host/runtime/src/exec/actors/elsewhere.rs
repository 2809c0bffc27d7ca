//! Actors on other nodes of the cluster: where a new actor goes, and what
//! a guest here does with an actor another node owns.
//!
//! An actor's handle is owned by the node the actor lives on: that node
//! counts its references (across nodes, as any object's: see `wire`), so
//! the actor dies there when the last reference anywhere goes, and a call
//! of a handle whose id names another node is sent to that node, which
//! queues it on the actor as it would its own guests' calls. A call's
//! result is an object here, completed when the answer comes; calls go
//! out in the order they were made and are queued there in that order,
//! so one caller's calls keep their order (see `wire::actors`).
//!
//! A new actor is placed as a task is (its resources, `spread`, node
//! affinity), except that an actor holding no CPU (the default) fits
//! anywhere, so it stays here unless told otherwise; one in a placement
//! group lives where its group is here. Placed elsewhere, it is made there
//! and its handle (that node's) comes back; the guest waits for that one
//! round trip, not for the constructor. A name is looked up here first,
//! then on every other live node.

use std::sync::Arc;

use tokio::sync::Notify;

use super::Actors;
use crate::bindings::wit;
use crate::core::control::{CallStop, JobId};
use crate::core::object_store::ObjectId;
use crate::core::resources::Resources;
use crate::error::{ErrorKind, TaskError};
use crate::exec::tasks::{ActorOp, HereFits, Placement, Strategy};
use crate::msgpack::{self, ArgsLayout};
use crate::wasm::sandbox::TaskCtx;

/// A future of an actor's handle.
pub(crate) type HandleFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<ObjectId, TaskError>> + Send>>;

/// Another node of the cluster (and the cluster, to reach it).
type Elsewhere = (Arc<dyn Placement>, u16);

fn ready(r: Result<ObjectId, TaskError>) -> HandleFuture {
    Box::pin(std::future::ready(r))
}

/// The handle id a node answered with.
pub(super) fn handle_in(bytes: &[u8]) -> Result<ObjectId, TaskError> {
    let id: [u8; 8] = bytes.try_into().map_err(|_| {
        TaskError::new(
            ErrorKind::Internal,
            format!("an actor's handle came back as {} bytes", bytes.len()),
        )
    })?;
    Ok(ObjectId::new(u64::from_le_bytes(id)))
}

/// What an actor of `options` holds for its life.
pub(super) fn demand_of(options: &wit::ActorOptions) -> Result<Resources, TaskError> {
    let invalid = |m: String| TaskError::new(ErrorKind::InvalidArgument, m);
    let mut demand = Resources::none();
    demand
        .set("CPU", options.num_cpus.unwrap_or(0.0))
        .map_err(invalid)?;
    demand
        .set("GPU", options.num_gpus.unwrap_or(0.0))
        .map_err(invalid)?;
    if let Some(m) = options.memory {
        demand.set("memory", m as f64).map_err(invalid)?;
    }
    for r in &options.resources {
        demand.set(&r.name, r.amount).map_err(invalid)?;
    }
    Ok(demand)
}

impl Actors {
    /// `create-actor` for the guest running `caller`: the handle, one
    /// reference of which the caller owns once it resolves (at once when
    /// the actor is made here).
    pub(crate) fn create(
        &self,
        caller: &TaskCtx,
        class: &str,
        args: Vec<u8>,
        options: wit::ActorOptions,
    ) -> HandleFuture {
        match self.placed_on(caller, class, &options) {
            Ok(None) => ready(self.create_here(caller, class, args, options)),
            // One that restarts needs a handle that outlives its node.
            Ok(Some((cluster, node))) if options.max_restarts.unwrap_or(0) > 0 => {
                ready(self.create_placed(caller, cluster, node, class, args, options))
            }
            Ok(Some((cluster, node))) => {
                self.create_there(caller, cluster, node, class, args, options)
            }
            Err(e) => ready(Err(e)),
        }
    }

    /// The node of the cluster an actor of `options` goes to (`None`:
    /// here).
    fn placed_on(
        &self,
        caller: &TaskCtx,
        class: &str,
        options: &wit::ActorOptions,
    ) -> Result<Option<Elsewhere>, TaskError> {
        let Some(cluster) = self.tasks.cluster() else {
            return Ok(None);
        };
        let strategy = match &options.scheduling {
            None => Strategy::Default,
            Some(wit::SchedulingStrategy::Spread) => Strategy::Spread,
            Some(wit::SchedulingStrategy::NodeAffinity(a)) => Strategy::Affinity {
                node: a.node.clone(),
                soft: a.soft,
            },
            // Its group's node is this one's business.
            Some(_) => return Ok(None),
        };
        let demand =
            demand_of(options).map_err(|e| TaskError::for_task(e.kind, class, e.message))?;
        let here = HereFits::of(&self.control, &demand);
        match cluster.place(&demand, &strategy, here) {
            Ok(None) => Ok(None),
            Ok(Some(node)) if node == cluster.id() => Ok(None),
            Ok(Some(node)) => {
                // Its module must be one the other node can fetch.
                let _ = self.tasks.resolve_module(caller, &format!("{class}.new"))?;
                Ok(Some((cluster.clone(), node)))
            }
            Err(m) if matches!(strategy, Strategy::Affinity { soft: false, .. }) => {
                Err(TaskError::for_task(ErrorKind::Infeasible, class, m))
            }
            // No node can hold it now: it waits here, as it would alone.
            Err(_) => Ok(None),
        }
    }

    /// Make the actor on `node`: its handle (that node's), once it answers.
    fn create_there(
        &self,
        caller: &TaskCtx,
        cluster: Arc<dyn Placement>,
        node: u16,
        class: &str,
        args: Vec<u8>,
        options: wit::ActorOptions,
    ) -> HandleFuture {
        if options.detached && options.name.is_none() {
            return ready(Err(TaskError::for_task(
                ErrorKind::InvalidArgument,
                class,
                "a detached actor needs a name",
            )));
        }
        let module = match self.tasks.resolve_module(caller, &format!("{class}.new")) {
            Ok(m) => m,
            Err(e) => return ready(Err(e)),
        };
        if let Err(e) = msgpack::parse_args(&args) {
            return ready(Err(TaskError::for_task(
                ErrorKind::InvalidArgument,
                class,
                format!("bad argument list: {e}"),
            )));
        }
        let short = class.rsplit('/').next().unwrap_or(class).to_string();
        let job = caller.job;
        let (before, kept) = self.hand_over(msgpack::find_refs(&args).unwrap_or_default(), node);
        let answer = cluster.actor(
            node,
            job,
            ActorOp::Create {
                module,
                class: short,
                options,
            },
            args,
            before,
        );
        let control = self.control.clone();
        let class = class.to_string();
        Box::pin(async move {
            let answer = answer.await;
            control.lock().release_all(&kept);
            let handle = answer.and_then(|b| handle_in(&b)).map_err(|e| {
                TaskError::for_task(
                    e.kind,
                    format!("{class}.new"),
                    format!("on node {}: {}", cluster.name_of(node), e.message),
                )
            })?;
            // The reference it answered with is the caller's.
            control.lock().import(job, &[handle]);
            Ok(handle)
        })
    }

    /// Pin `refs` now (one per occurrence) for a message to node `to`,
    /// and hand them over when it goes: those of other nodes through
    /// their owners (see `Tasks::export`). Those `to` owns stay pinned
    /// here until its answer comes (returned, for the caller to release
    /// then): `to` counts them as this node's while it handles the
    /// message, so no count of its own has to reach it first (its
    /// handling of the message and of count changes are not ordered).
    pub(super) fn hand_over(
        &self,
        refs: Vec<ObjectId>,
        to: u16,
    ) -> (crate::exec::tasks::BoxFuture, Vec<ObjectId>) {
        self.control.lock().pin(&refs);
        let (kept, sent): (Vec<ObjectId>, Vec<ObjectId>) = refs
            .into_iter()
            .partition(|id| crate::core::object_store::owner_node(*id) == to);
        let tasks = self.tasks.clone();
        (Box::pin(async move { tasks.export(sent).await }), kept)
    }

    /// `call-actor` of a handle node `owner` owns: the result's object
    /// here, one reference of which the caller now owns.
    pub(super) fn call_there(
        &self,
        job: JobId,
        owner: u16,
        handle: ObjectId,
        method: &str,
        args: Vec<u8>,
    ) -> Result<ObjectId, TaskError> {
        let cluster = self
            .tasks
            .cluster()
            .expect("other nodes' objects exist in a cluster")
            .clone();
        let name = format!("actor {handle}.{method}");
        self.control.lock().check_visible(&[handle], job)?;
        let refs = msgpack::find_refs(&args).map_err(|e| {
            TaskError::for_task(
                ErrorKind::InvalidArgument,
                &name,
                format!("bad argument list: {e}"),
            )
        })?;
        let stop = Arc::new(CallStop::new(name.clone(), Arc::new(Notify::new())));
        let result = self.control.lock().new_call(job, &refs, stop)?;
        // The handle goes along too: the actor lives while a call is on
        // its way to it.
        let mut carried = refs.clone();
        carried.push(handle);
        let (before, kept) = self.hand_over(carried, owner);
        let answer = cluster.actor(
            owner,
            job,
            ActorOp::Call {
                handle,
                method: method.to_string(),
            },
            args,
            before,
        );
        let (control, tasks) = (self.control.clone(), self.tasks.clone());
        self.tasks.handle().spawn(async move {
            let outcome = answer.await.map_err(|e| match e.task {
                Some(_) => e,
                None => TaskError::for_task(
                    e.kind,
                    &name,
                    format!("on node {}: {}", cluster.name_of(owner), e.message),
                ),
            });
            let starts = {
                let mut c = control.lock();
                let got = outcome.as_ref().map_or_else(
                    |_| Vec::new(),
                    |b| msgpack::find_refs(b).unwrap_or_default(),
                );
                // The references in the answer came with it: the result
                // holds them, then the message's go.
                c.import(job, &got);
                let starts =
                    c.complete_call(job, &name, result, outcome.map(|b| (b, got.clone())), &refs);
                c.release_all(&got);
                c.release_all(&kept);
                starts
            };
            tasks.start(starts, false);
        });
        Ok(result)
    }

    /// `kill-actor` of a handle node `owner` owns: asked of that node (the
    /// actor dies there; calls made after this fail).
    pub(super) fn kill_there(
        &self,
        job: JobId,
        owner: u16,
        handle: ObjectId,
    ) -> Result<(), TaskError> {
        let cluster = self
            .tasks
            .cluster()
            .expect("other nodes' objects exist in a cluster")
            .clone();
        self.control.lock().check_visible(&[handle], job)?;
        let answer = cluster.actor(
            owner,
            job,
            ActorOp::Kill { handle },
            Vec::new(),
            Box::pin(async {}),
        );
        self.tasks.handle().spawn(async move {
            if let Err(e) = answer.await {
                tracing::warn!(%handle, "kill of an actor on node {owner}: {e}");
            }
        });
        Ok(())
    }

    /// `get-actor` for a guest of `job`: a new reference to the handle of
    /// the live actor named `name` (of the job, or detached), here or on
    /// any other live node.
    pub(crate) fn get(&self, job: JobId, name: &str) -> HandleFuture {
        let unknown = match self.get_here(job, name) {
            Ok(h) => return ready(Ok(h)),
            Err(e) => e,
        };
        let Some(found) = self.find_elsewhere(job, name) else {
            return ready(Err(unknown));
        };
        let control = self.control.clone();
        Box::pin(async move {
            let found = found.await;
            match found.split_first() {
                Some((first, rest)) => {
                    control.lock().release_all(rest);
                    Ok(*first)
                }
                None => Err(unknown),
            }
        })
    }

    /// Refuse a name another live node has an actor of (in a cluster;
    /// this node checks its own when the actor is made): names are unique
    /// in the cluster, as in Ray. (Two nodes making one name at the same
    /// moment may both succeed: the check and the making are not one
    /// step across nodes.)
    pub(crate) async fn name_free_elsewhere(
        &self,
        job: JobId,
        name: &str,
    ) -> Result<(), TaskError> {
        let Some(found) = self.find_elsewhere(job, name) else {
            return Ok(());
        };
        let found = found.await;
        if found.is_empty() {
            return Ok(());
        }
        self.control.lock().release_all(&found);
        let node = self
            .tasks
            .cluster()
            .map(|c| c.name_of(crate::core::object_store::owner_node(found[0])))
            .unwrap_or_default();
        Err(TaskError::new(
            ErrorKind::InvalidArgument,
            format!("an actor named `{name}` already exists (on node {node})"),
        ))
    }

    /// Ask every other live node for its actor named `name`: a reference
    /// to each handle found (this node's to release); `None` outside a
    /// cluster or alone in one.
    fn find_elsewhere(
        &self,
        job: JobId,
        name: &str,
    ) -> Option<impl std::future::Future<Output = Vec<ObjectId>> + Send + use<>> {
        let cluster = self.tasks.cluster()?.clone();
        let others = cluster.others();
        if others.is_empty() {
            return None;
        }
        let asks: Vec<_> = others
            .into_iter()
            .map(|node| {
                cluster.actor(
                    node,
                    job,
                    ActorOp::Find {
                        name: name.to_string(),
                    },
                    Vec::new(),
                    Box::pin(async {}),
                )
            })
            .collect();
        let control = self.control.clone();
        Some(async move {
            let found: Vec<ObjectId> = futures_util::future::join_all(asks)
                .await
                .into_iter()
                .filter_map(|answer| answer.ok().and_then(|b| handle_in(&b).ok()))
                .collect();
            control.lock().import(job, &found);
            found
        })
    }

    /// A call's argument list with each dependency on another node's
    /// object replaced by a local mirror of it (see `Tasks::mirror`); the
    /// mirrors' references are the caller's to release once the call
    /// holds them.
    pub(super) fn mirrored(
        &self,
        job: JobId,
        mut args: Vec<u8>,
        mut layout: ArgsLayout,
    ) -> (Vec<u8>, ArgsLayout, Vec<ObjectId>) {
        let mut mirrors = Vec::new();
        for (index, id) in layout.top_refs.iter_mut() {
            if self.tasks.owner_of(*id).is_none() {
                continue;
            }
            let mirror = self.tasks.mirror(job, *id);
            // The argument is exactly `d7 52 <8-byte id>`.
            let at = layout.items[*index].start + 2;
            args[at..at + 8].copy_from_slice(&mirror.get().to_be_bytes());
            *id = mirror;
            mirrors.push(mirror);
        }
        (args, layout, mirrors)
    }
}
