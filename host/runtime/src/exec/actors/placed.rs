//! Restartable actors on other nodes: an actor with `max_restarts` that
//! was placed on another node is restarted on a live node when its node
//! dies, as Ray restarts an actor whose node failed.
//!
//! Its handle cannot be the other node's then (it would die with that
//! node), so the node that makes it owns it, as Ray's owner does: the
//! handle here stands for the actor wherever it runs now. Calls of it come
//! here (from this node's guests, or from other nodes, as any call of a
//! handle goes to its owner) and go on, in their order, to the node it
//! lives on; while it is being made again they wait here, in order, and go
//! once it is. When that node dies, the calls on their way there fail with
//! `actor-died` naming the node, and the actor is made again (its
//! constructor run with the arguments kept for this) on the node placement
//! picks now, this one included, up to `max_restarts` times; crashes
//! within a node are restarted by that node, under the same limit. When no
//! reference to the handle is left the actor dies wherever it is.
//!
//! An actor with no restarts placed elsewhere needs none of this: its
//! handle is its node's (see `elsewhere`), and calls from other nodes go
//! straight there.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::{Actors, rmp_serde_string};
use crate::bindings::wit;
use crate::core::control::{CallStop, JobId};
use crate::core::object_store::ObjectId;
use crate::error::{ErrorKind, TaskError};
use crate::exec::tasks::{ActorOp, HereFits, Placement, Strategy};
use crate::msgpack;
use crate::wasm::modules::Module;
use crate::wasm::sandbox::TaskCtx;

/// How often the actor's node and handle are looked at.
const WATCH: std::time::Duration = std::time::Duration::from_millis(250);

/// A call made while the actor is being made (again).
struct Waiting {
    job: JobId,
    method: String,
    args: Vec<u8>,
    /// Its result here, completed from the call's once it is made.
    result: ObjectId,
    refs: Vec<ObjectId>,
    name: String,
}

/// Where the actor is.
enum At {
    /// Being made; calls wait.
    Starting(VecDeque<Waiting>),
    /// On `node` (this one, or another), behind `handle` there.
    Node { node: u16, handle: ObjectId },
    /// Gone, for the reason given.
    Dead(String),
}

/// A restartable actor this node made on another node.
pub(super) struct Placed {
    handle: ObjectId,
    job: JobId,
    class: String,
    module: Arc<Module>,
    options: wit::ActorOptions,
    /// The constructor's argument list (its references pinned while the
    /// actor may be made again).
    args: Vec<u8>,
    arg_refs: Vec<ObjectId>,
    at: Mutex<At>,
    restarts: AtomicU32,
    killed: AtomicBool,
    /// Fires when the last reference to the handle is gone, or on kill.
    freed: Arc<Notify>,
}

impl Placed {
    fn at(&self) -> MutexGuard<'_, At> {
        self.at.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Actors {
    /// Make a restartable actor on `node` of `cluster`: a handle of this
    /// node standing for it, ready once it is first made.
    pub(super) fn create_placed(
        &self,
        caller: &TaskCtx,
        cluster: Arc<dyn Placement>,
        node: u16,
        class: &str,
        args: Vec<u8>,
        options: wit::ActorOptions,
    ) -> Result<ObjectId, TaskError> {
        let module = self.tasks.resolve_module(caller, &format!("{class}.new"))?;
        let arg_refs = msgpack::find_refs(&args).map_err(|e| {
            TaskError::for_task(
                ErrorKind::InvalidArgument,
                class,
                format!("bad argument list: {e}"),
            )
        })?;
        let job = caller.job;
        let handle = {
            let mut control = self.control.lock();
            control.check_visible(&arg_refs, job)?;
            control.pin(&arg_refs);
            control.create_pending(job)
        };
        let freed = self.control.lock().watch(handle);
        let placed = Arc::new(Placed {
            handle,
            job,
            class: class.rsplit('/').next().unwrap_or(class).to_string(),
            module,
            options,
            args,
            arg_refs,
            at: Mutex::new(At::Starting(VecDeque::new())),
            restarts: AtomicU32::new(0),
            killed: AtomicBool::new(false),
            freed,
        });
        self.registry().placed.insert(handle, placed.clone());
        let actors = self.me.clone();
        self.tasks.handle().spawn(async move {
            if let Some(actors) = actors.upgrade() {
                actors.placed_life(&placed, cluster, node).await;
                actors.registry().placed.remove(&placed.handle);
                actors.control.lock().release_all(&placed.arg_refs);
            }
        });
        Ok(handle)
    }

    /// The actor's life: made on `node`, watched, made again when that
    /// node dies (while restarts are left), until its handle goes.
    async fn placed_life(&self, placed: &Arc<Placed>, cluster: Arc<dyn Placement>, mut node: u16) {
        let me = cluster.id();
        let mut first = true;
        loop {
            let made = self.make_placed(placed, &cluster, node).await;
            let handle = match made {
                Ok(h) => h,
                Err(e) => {
                    if first {
                        self.resolve(placed.handle, Err(e.clone()));
                    }
                    self.placed_dies(placed, &format!("it could not be made: {e}"));
                    return;
                }
            };
            if first {
                self.resolve(placed.handle, Ok(rmp_serde_string(&placed.class)));
                first = false;
            }
            let waiting = match std::mem::replace(&mut *placed.at(), At::Node { node, handle }) {
                At::Starting(w) => w,
                _ => VecDeque::new(),
            };
            for w in waiting {
                self.send_waiting(placed, w);
            }
            // Watch its node, and its handle.
            loop {
                tokio::select! {
                    () = placed.freed.notified() => {
                        let why = if placed.killed.load(Ordering::SeqCst) {
                            "killed"
                        } else {
                            "no handle to it is left"
                        };
                        self.placed_dies(placed, why);
                        return;
                    }
                    () = tokio::time::sleep(WATCH) => {
                        if node != me && !cluster.alive(node) {
                            break;
                        }
                        if self.control.lock().status(placed.handle).is_err() {
                            self.placed_dies(placed, "no handle to it is left");
                            return;
                        }
                        if placed.killed.load(Ordering::SeqCst) {
                            self.placed_dies(placed, "killed");
                            return;
                        }
                    }
                }
            }
            let why = format!("its node {} died", cluster.name_of(node));
            // Made again elsewhere: if that node comes back, its instance
            // must go.
            cluster.fence(node).await;
            // The reference to the lost instance goes.
            self.control.lock().release_all(&[handle]);
            let n = placed.restarts.fetch_add(1, Ordering::SeqCst);
            if placed.killed.load(Ordering::SeqCst) || n >= placed.options.max_restarts.unwrap_or(0)
            {
                self.placed_dies(placed, &why);
                return;
            }
            tracing::warn!(actor = %placed.class, "{why}: made again (restart {})", n + 1);
            *placed.at() = At::Starting(VecDeque::new());
            node = match self.place_again(placed, &cluster) {
                Ok(n) => n,
                Err(e) => {
                    self.placed_dies(placed, &format!("{why}, and no node can hold it: {e}"));
                    return;
                }
            };
        }
    }

    /// Where the actor goes after its node died (this node: `me`).
    fn place_again(&self, placed: &Placed, cluster: &Arc<dyn Placement>) -> Result<u16, String> {
        let strategy = match &placed.options.scheduling {
            Some(wit::SchedulingStrategy::Spread) => Strategy::Spread,
            // A soft affinity falls back to the default; a hard one to a
            // dead node has nowhere to go.
            Some(wit::SchedulingStrategy::NodeAffinity(a)) if !a.soft => Strategy::Affinity {
                node: a.node.clone(),
                soft: false,
            },
            _ => Strategy::Default,
        };
        let demand = super::elsewhere::demand_of(&placed.options).map_err(|e| e.message)?;
        let here = HereFits::of(&self.control, &demand);
        Ok(cluster
            .place(&demand, &strategy, here)?
            .unwrap_or(cluster.id()))
    }

    /// Make the actor on `node` (maybe this one): its handle there.
    async fn make_placed(
        &self,
        placed: &Placed,
        cluster: &Arc<dyn Placement>,
        node: u16,
    ) -> Result<ObjectId, TaskError> {
        let options = wit::ActorOptions {
            scheduling: None,
            ..placed.options.clone()
        };
        if node == cluster.id() {
            let caller = TaskCtx {
                is_driver: true,
                ..TaskCtx::new(
                    placed.job,
                    placed.module.name.clone(),
                    "main",
                    format!("{}.new", placed.class),
                    Arc::default(),
                )
            };
            return self.create_here(&caller, &placed.class, placed.args.clone(), options);
        }
        let (before, kept) = self.hand_over(placed.arg_refs.clone(), node);
        let answer = cluster.actor(
            node,
            placed.job,
            ActorOp::Create {
                module: placed.module.clone(),
                class: placed.class.clone(),
                options,
            },
            placed.args.clone(),
            before,
        );
        let answer = answer.await;
        self.control.lock().release_all(&kept);
        let handle = super::elsewhere::handle_in(&answer?)?;
        self.control.lock().import(placed.job, &[handle]);
        Ok(handle)
    }

    /// The actor is gone: calls waiting fail, later ones too.
    fn placed_dies(&self, placed: &Placed, why: &str) {
        let before = std::mem::replace(&mut *placed.at(), At::Dead(why.to_string()));
        let waiting = match before {
            At::Starting(w) => w,
            At::Node { handle, .. } => {
                // Its instance goes with the reference this node held.
                self.control.lock().release_all(&[handle]);
                VecDeque::new()
            }
            At::Dead(_) => VecDeque::new(),
        };
        for w in waiting {
            let err = placed_died(placed, &w.method, why);
            let starts =
                self.control
                    .lock()
                    .complete_call(w.job, &w.name, w.result, Err(err), &w.refs);
            self.tasks.start(starts, false);
        }
    }

    /// `call-actor` of a restartable actor placed elsewhere.
    pub(super) fn call_placed(
        &self,
        placed: &Arc<Placed>,
        job: JobId,
        method: &str,
        args: Vec<u8>,
    ) -> Result<ObjectId, TaskError> {
        let name = format!("{}.{method}", placed.class);
        let mut at = placed.at();
        match &mut *at {
            At::Node { node, handle } => {
                let (node, handle) = (*node, *handle);
                drop(at);
                if Some(node) == self.tasks.cluster().map(|c| c.id()) {
                    self.call(job, handle, method, args)
                } else {
                    self.call_there(job, node, handle, method, args)
                }
            }
            At::Starting(queue) => {
                let refs = msgpack::find_refs(&args).map_err(|e| {
                    TaskError::for_task(
                        ErrorKind::InvalidArgument,
                        &name,
                        format!("bad argument list: {e}"),
                    )
                })?;
                let stop = Arc::new(CallStop::new(name.clone(), Arc::new(Notify::new())));
                let result = self.control.lock().new_call(job, &refs, stop)?;
                queue.push_back(Waiting {
                    job,
                    method: method.to_string(),
                    args,
                    result,
                    refs,
                    name,
                });
                Ok(result)
            }
            At::Dead(why) => {
                let err = placed_died(placed, method, why);
                drop(at);
                let stop = Arc::new(CallStop::new(name.clone(), Arc::new(Notify::new())));
                let mut control = self.control.lock();
                let result = control.new_call(job, &[], stop)?;
                let starts = control.complete_call(job, &name, result, Err(err), &[]);
                drop(control);
                self.tasks.start(starts, false);
                Ok(result)
            }
        }
    }

    /// Send a call that waited while the actor was made; its result here
    /// is completed from the call's.
    fn send_waiting(&self, placed: &Arc<Placed>, w: Waiting) {
        let sent = self.call_placed(placed, w.job, &w.method, w.args);
        let (control, tasks) = (self.control.clone(), self.tasks.clone());
        self.tasks.handle().spawn(async move {
            let outcome = match sent {
                Ok(inner) => tasks.result_of(w.job, inner).await,
                Err(e) => Err(e),
            };
            let starts = {
                let mut c = control.lock();
                // `result_of` pinned the references inside for us: the
                // result holds them now, and the pins go.
                let got = outcome.as_ref().map_or_else(
                    |_| Vec::new(),
                    |b| msgpack::find_refs(b).unwrap_or_default(),
                );
                let starts = c.complete_call(
                    w.job,
                    &w.name,
                    w.result,
                    outcome.map(|b| (b, got.clone())),
                    &w.refs,
                );
                c.release_all(&got);
                starts
            };
            tasks.start(starts, false);
        });
    }

    /// `kill-actor` of a restartable actor placed elsewhere: no restart.
    pub(super) fn kill_placed(&self, placed: &Arc<Placed>, job: JobId) -> Result<(), TaskError> {
        placed.killed.store(true, Ordering::SeqCst);
        let at = match &*placed.at() {
            At::Node { node, handle } => Some((*node, *handle)),
            _ => None,
        };
        if let Some((node, handle)) = at {
            if Some(node) == self.tasks.cluster().map(|c| c.id()) {
                self.kill(job, handle)?;
            } else {
                self.kill_there(job, node, handle)?;
            }
        }
        placed.freed.notify_one();
        Ok(())
    }
}

fn placed_died(placed: &Placed, method: &str, why: &str) -> TaskError {
    TaskError::for_task(
        ErrorKind::ActorDied,
        format!("{}.{method}", placed.class),
        format!("actor `{}` died: {why}", placed.class),
    )
}
