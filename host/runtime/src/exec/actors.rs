//! Actors: stateful workers, each a long-lived sandbox of its own (Ray's
//! `@ray.remote class`).
//!
//! An actor is one instance of its class's module. Its constructor (the
//! module's remote function `C.new`) builds the state inside the instance,
//! and each method call (`C.m`) runs in that same instance, in the order
//! the calls were submitted (one queue per actor, so every caller's calls
//! keep their order). The instance has the actor's memory quota for its
//! whole life and each call its time limit. An instance may also run many
//! calls at once, interleaved by its own event loop (Python's async
//! actors): it pulls them from its mailbox while one runs (`mailbox`).
//!
//! The actor's life is a task of the scheduler (see [`Tasks::submit_as`]
//! and its `Body`): it waits, like any task, for its constructor's
//! arguments and for its resources, then holds those resources and one
//! sandbox of its job's share until it dies. An idle actor is a parked
//! future waiting on its queue: no thread.
//!
//! The handle is an object of the store, so it is reference-counted,
//! passed and scoped like any object ref: it becomes ready when the
//! constructor has run, and when no reference to it is left the actor
//! dies (unless detached). A crash (a trap, a time limit, the memory
//! quota) restarts the actor in a fresh instance, constructor again, up to
//! `max_restarts`; the crashed call, and the calls queued behind it, fail
//! with `actor-died` unless `max_task_retries` lets them run again on the
//! restarted actor. Once dead, every call fails at once (its result holds
//! the error, as in Ray). `cancel` on a call's result cancels a queued
//! call, and a running one only where its instance runs calls
//! concurrently (see [`CallStop`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use crate::bindings::wit;
use crate::core::control::{CallStop, DETACHED_JOB, JobId};
use crate::core::object_store::ObjectId;
use crate::core::timeline::Timeline;
use crate::error::{ErrorKind, TaskError};
use crate::exec::tasks::{Body, Grant, NodeControl, Tasks};
use crate::msgpack::{self, ArgsLayout};
use crate::wasm::modules::Module;
use crate::wasm::sandbox::{Sandboxes, TaskCtx};

mod death;
mod elsewhere;
mod life;
mod mailbox;
mod placed;

use death::DeathGuard;

pub(crate) use mailbox::Mailbox;

/// Where an actor is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ActorState {
    /// Waiting for its resources or its constructor's arguments.
    Pending,
    /// Serving calls.
    Alive,
    /// Starting a fresh instance after a crash.
    Restarting,
    /// Gone, for the reason given.
    Dead,
}

/// What `status` and the dashboard show of an actor.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActorInfo {
    /// Its handle's object id.
    pub id: ObjectId,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// Its class.
    pub class: String,
    /// The job it belongs to (none for a detached actor).
    pub job: Option<JobId>,
    /// Where it is.
    pub state: ActorState,
    /// Why it died, once dead.
    pub death: Option<String>,
    /// Method calls it has run.
    pub calls_done: u64,
    /// Calls waiting in its queue.
    pub calls_queued: u64,
    /// Times it was restarted.
    pub restarts: u32,
    /// Its instance's linear memory, bytes.
    pub memory: u64,
}

/// A method call waiting in an actor's queue.
struct Call {
    id: u64,
    /// The caller's job (which owns the result).
    job: JobId,
    method: String,
    /// `C.method`, as the module exports it (shared with the context of
    /// the instance that runs it).
    function: Arc<str>,
    args: Vec<u8>,
    layout: ArgsLayout,
    deps: Vec<ObjectId>,
    arg_refs: Vec<ObjectId>,
    result: ObjectId,
    attempt: u32,
    /// How `cancel` reaches it.
    stop: Arc<CallStop>,
}

impl Call {
    /// `NAME.method`, as errors and the timeline show it.
    fn name(&self) -> &str {
        &self.stop.name
    }
}

/// One actor.
struct Actor {
    handle: ObjectId,
    job: JobId,
    class: String,
    /// How errors name it: its name, or its class.
    display: String,
    name: Option<String>,
    module: Arc<Module>,
    max_restarts: u32,
    max_task_retries: u32,
    timeout: Option<Duration>,
    memory_cap: u64,
    calls: mpsc::UnboundedSender<Call>,
    inbox: Mutex<Option<mpsc::UnboundedReceiver<Call>>>,
    /// Fires when the last reference to the handle is gone.
    freed: Arc<Notify>,
    /// Fires when one of its calls is cancelled (see [`CallStop`]).
    wake: Arc<Notify>,
    /// The task that is the actor's life (cancelling it kills the actor).
    life: Mutex<Option<ObjectId>>,
    killed: AtomicBool,
    state: Mutex<(ActorState, Option<String>)>,
    calls_done: AtomicU64,
    queued: AtomicU64,
    restarts: AtomicU32,
    memory: AtomicU64,
    lane: u32,
}

impl Actor {
    fn state(&self) -> MutexGuard<'_, (ActorState, Option<String>)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, state: ActorState) {
        let mut s = self.state();
        if s.0 != ActorState::Dead {
            s.0 = state;
        }
    }

    /// Why it is dead, if it is.
    fn death(&self) -> Option<String> {
        let s = self.state();
        (s.0 == ActorState::Dead).then(|| s.1.clone().unwrap_or_default())
    }

    fn died(&self, method: &str, why: &str) -> TaskError {
        TaskError::for_task(
            ErrorKind::ActorDied,
            format!("{}.{method}", self.class),
            format!("actor `{}` ({}) died: {why}", self.display, self.class),
        )
    }
}

/// The actors of a node.
#[derive(Default)]
struct Registry {
    by_handle: HashMap<ObjectId, Arc<Actor>>,
    /// (job, name) of live named actors; detached ones under
    /// [`DETACHED_JOB`].
    names: HashMap<(JobId, String), ObjectId>,
    /// Restartable actors this node made on other nodes (see `placed`).
    placed: HashMap<ObjectId, Arc<placed::Placed>>,
}

/// Defaults of actors (from the node's configuration).
#[derive(Debug, Clone)]
pub(crate) struct ActorDefaults {
    pub(crate) memory: u64,
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_queued: usize,
}

/// Creates actors and routes calls to them.
pub(crate) struct Actors {
    me: Weak<Actors>,
    control: Arc<NodeControl>,
    sandboxes: Arc<Sandboxes>,
    tasks: Arc<Tasks>,
    timeline: Arc<Timeline>,
    defaults: ActorDefaults,
    registry: Mutex<Registry>,
    next_call: AtomicU64,
}

impl Actors {
    pub(crate) fn new(
        control: Arc<NodeControl>,
        sandboxes: Arc<Sandboxes>,
        tasks: Arc<Tasks>,
        timeline: Arc<Timeline>,
        defaults: ActorDefaults,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Actors {
            me: me.clone(),
            control,
            sandboxes,
            tasks,
            timeline,
            defaults,
            registry: Mutex::new(Registry::default()),
            next_call: AtomicU64::new(1 << 62),
        })
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The restartable actor placed elsewhere behind `handle`, if it is
    /// one, as the caller's `job` may see it.
    fn placed(
        &self,
        handle: ObjectId,
        job: JobId,
    ) -> Result<Option<Arc<placed::Placed>>, TaskError> {
        let Some(placed) = self.registry().placed.get(&handle).cloned() else {
            return Ok(None);
        };
        self.control.lock().check_visible(&[handle], job)?;
        Ok(Some(placed))
    }

    /// The live actor behind `handle`, as the caller's `job` may see it.
    fn find(&self, handle: ObjectId, job: JobId) -> Result<Arc<Actor>, TaskError> {
        self.control.lock().check_visible(&[handle], job)?;
        self.registry()
            .by_handle
            .get(&handle)
            .cloned()
            .ok_or_else(|| {
                TaskError::new(
                    ErrorKind::InvalidArgument,
                    format!("object {handle} is not an actor handle"),
                )
            })
    }

    /// Make an actor on this node for the guest running `caller` (see
    /// [`Actors::create`]): the handle, one reference of which the caller
    /// now owns.
    pub(crate) fn create_here(
        &self,
        caller: &TaskCtx,
        class: &str,
        args: Vec<u8>,
        options: wit::ActorOptions,
    ) -> Result<ObjectId, TaskError> {
        self.sweep();
        let invalid = |m: String| TaskError::for_task(ErrorKind::InvalidArgument, class, m);
        if options.detached && options.name.is_none() {
            return Err(invalid("a detached actor needs a name".into()));
        }
        let constructor = format!("{class}.new");
        let short = class.rsplit('/').next().unwrap_or(class).to_string();
        let job = if options.detached {
            DETACHED_JOB
        } else {
            caller.job
        };
        let name = options.name.clone();
        let handle = self.control.lock().create_pending(job);
        if let Some(n) = &name {
            // The name is checked and taken in one critical section: two
            // creations of one name at once cannot both succeed.
            let mut registry = self.registry();
            if let Some(h) = registry.names.get(&(job, n.clone())).copied() {
                // A name is taken while its actor is being made, or lives
                // and has a handle; one dying (its last handle just went)
                // frees it at once.
                let taken = match registry.by_handle.get(&h) {
                    None => true,
                    Some(a) => a.death().is_none() && self.control.lock().status(h).is_ok(),
                };
                if taken {
                    drop(registry);
                    self.control.lock().release_all(&[handle]);
                    return Err(invalid(format!("an actor named `{n}` already exists")));
                }
            }
            registry.names.insert((job, n.clone()), handle);
        }
        let freed = self.control.lock().watch(handle);
        let (calls, inbox) = mpsc::unbounded_channel();
        let display = name.clone().unwrap_or_else(|| short.clone());
        let lane = self
            .timeline
            .named_lane(format!("actor {display} ({short})"));
        // The module is checked (and the constructor found) by the submit
        // below; the actor needs it first, for its calls.
        let module = match self.tasks.resolve_module(caller, &constructor) {
            Ok(m) => m,
            Err(e) => {
                // Give the name and the handle back.
                if let Some(n) = &name {
                    let mut registry = self.registry();
                    if registry.names.get(&(job, n.clone())) == Some(&handle) {
                        registry.names.remove(&(job, n.clone()));
                    }
                }
                self.control.lock().release_all(&[handle]);
                return Err(e);
            }
        };
        let actor = Arc::new(Actor {
            handle,
            job,
            class: short,
            display,
            name: name.clone(),
            module,
            max_restarts: options.max_restarts.unwrap_or(0),
            max_task_retries: options.max_task_retries.unwrap_or(0),
            timeout: match options.timeout_ms {
                Some(0) => None,
                Some(ms) => Some(Duration::from_millis(ms)),
                None => self.defaults.timeout,
            },
            memory_cap: options.memory.unwrap_or(self.defaults.memory),
            calls,
            inbox: Mutex::new(Some(inbox)),
            freed,
            wake: Arc::new(Notify::new()),
            life: Mutex::new(None),
            killed: AtomicBool::new(false),
            state: Mutex::new((ActorState::Pending, None)),
            calls_done: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            restarts: AtomicU32::new(0),
            memory: AtomicU64::new(0),
            lane,
        });
        let task_options = wit::TaskOptions {
            name: Some(format!("{} (actor)", actor.display)),
            num_cpus: Some(options.num_cpus.unwrap_or(0.0)),
            num_gpus: options.num_gpus,
            memory: options.memory,
            resources: options.resources,
            max_retries: Some(0),
            retry_exceptions: Some(false),
            timeout_ms: Some(0),
            isolation: Some(wit::Isolation::Fresh),
            // Only a placement group's strategy (or the refusal of one) is
            // an actor's: it lives where it is made (see the WIT).
            scheduling: options.scheduling.filter(|s| {
                matches!(
                    s,
                    wit::SchedulingStrategy::PlacementGroup(_)
                        | wit::SchedulingStrategy::OutsideGroup
                )
            }),
        };
        let guard = DeathGuard {
            actors: self.me.clone(),
            actor: actor.clone(),
        };
        let body: Body = Box::new(move |grant: Grant| {
            Box::pin(async move {
                if let Some(actors) = guard.actors.upgrade() {
                    let actor = guard.actor.clone();
                    actors.life(&actor, grant).await;
                }
                guard.disarm();
            })
        });
        self.registry().by_handle.insert(handle, actor.clone());
        match self
            .tasks
            .submit_as(job, caller, &constructor, args, task_options, Some(body))
        {
            Ok(life) => {
                *actor.life.lock().unwrap_or_else(|p| p.into_inner()) = Some(life);
                if options.detached {
                    // A detached actor holds its own handle: it lives
                    // until killed (released when it dies).
                    let _ = self.control.lock().retain(handle, job);
                }
                Ok(handle)
            }
            Err(e) => {
                // The body was dropped unrun: the guard marked it dead.
                self.control.lock().release_all(&[handle]);
                Err(e)
            }
        }
    }

    /// `call-actor` for a guest of `job`: the result's object id, one
    /// reference of which the caller now owns.
    pub(crate) fn call(
        &self,
        job: JobId,
        handle: ObjectId,
        method: &str,
        args: Vec<u8>,
    ) -> Result<ObjectId, TaskError> {
        if let Some(owner) = self.tasks.owner_of(handle) {
            return self.call_there(job, owner, handle, method, args);
        }
        if let Some(placed) = self.placed(handle, job)? {
            return self.call_placed(&placed, job, method, args);
        }
        let actor = self.find(handle, job)?;
        // A dead actor's call is made, and fails (as in Ray, where the
        // error comes from `get`, not from the call). One killed but not
        // dead yet (its life is winding down) must not run a call made
        // after `kill` returned.
        let death = actor.death().or_else(|| {
            actor
                .killed
                .load(Ordering::SeqCst)
                .then(|| "killed".to_string())
        });
        if let Some(why) = death {
            let name = format!("{}.{method}", actor.display);
            let stop = Arc::new(CallStop::new(name.clone(), actor.wake.clone()));
            let mut control = self.control.lock();
            let result = control.new_call(job, &[], stop)?;
            let starts =
                control.complete_call(job, &name, result, Err(actor.died(method, &why)), &[]);
            drop(control);
            self.tasks.start(starts, false);
            return Ok(result);
        }
        let function = format!("{}.{method}", actor.class);
        if method == "new" || !actor.module.exports(&function) {
            return Err(TaskError::for_task(
                ErrorKind::NoSuchFunction,
                function,
                format!("actor class `{}` has no method `{method}`", actor.class),
            ));
        }
        if actor.queued.load(Ordering::Relaxed) as usize >= self.defaults.max_queued {
            return Err(TaskError::for_task(
                ErrorKind::TooManyTasks,
                function,
                format!(
                    "not submitted: {} calls already wait for actor `{}` (the node's limit of pending tasks per job)",
                    self.defaults.max_queued, actor.display
                ),
            ));
        }
        let layout = msgpack::parse_args(&args).map_err(|e| {
            TaskError::for_task(
                ErrorKind::InvalidArgument,
                &function,
                format!("bad argument list: {e}"),
            )
        })?;
        // A dependency on an object of another node (the call came from
        // there, or a task here borrowed it): a local mirror stands for it.
        let (args, layout, mirrors) = self.mirrored(job, args, layout);
        let deps: Vec<ObjectId> = layout.top_refs.iter().map(|(_, id)| *id).collect();
        let mut arg_refs = deps.clone();
        arg_refs.extend_from_slice(&layout.nested_refs);
        // The call's name (`NAME.method`, as errors and the timeline show
        // it) is kept by its stop.
        let stop = Arc::new(CallStop::new(
            format!("{}.{method}", actor.display),
            actor.wake.clone(),
        ));
        let result = {
            let mut control = self.control.lock();
            let result = control.new_call(job, &arg_refs, stop.clone());
            // The call holds its mirrors now (or never will).
            control.release_all(&mirrors);
            result?
        };
        let call = Call {
            id: self.next_call.fetch_add(1, Ordering::Relaxed),
            job,
            method: method.to_string(),
            function: Arc::from(function),
            args,
            layout,
            deps,
            arg_refs,
            result,
            attempt: 1,
            stop,
        };
        actor.queued.fetch_add(1, Ordering::Relaxed);
        match actor.calls.send(call) {
            // The actor's life may now be runnable on this worker.
            Ok(()) => self.tasks.kick(),
            Err(mpsc::error::SendError(call)) => {
                // It died meanwhile.
                actor.queued.fetch_sub(1, Ordering::Relaxed);
                let why = actor.death().unwrap_or_default();
                self.fail(&actor, call, &why);
            }
        }
        Ok(result)
    }

    /// `kill-actor` for a guest of `job`.
    pub(crate) fn kill(&self, job: JobId, handle: ObjectId) -> Result<(), TaskError> {
        if let Some(owner) = self.tasks.owner_of(handle) {
            return self.kill_there(job, owner, handle);
        }
        if let Some(placed) = self.placed(handle, job)? {
            return self.kill_placed(&placed, job);
        }
        let actor = self.find(handle, job)?;
        actor.killed.store(true, Ordering::SeqCst);
        let life = *actor.life.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(life) = life {
            let _ = self.tasks.cancel(life, actor.job);
        }
        Ok(())
    }

    /// A new reference to the handle of the live actor named `name` (of
    /// `job`, or detached) of this node.
    pub(crate) fn get_here(&self, job: JobId, name: &str) -> Result<ObjectId, TaskError> {
        let handle = {
            let registry = self.registry();
            registry
                .names
                .get(&(job, name.to_string()))
                .or_else(|| registry.names.get(&(DETACHED_JOB, name.to_string())))
                .copied()
        };
        let unknown = || {
            TaskError::new(
                ErrorKind::InvalidArgument,
                format!("no live actor is named `{name}`"),
            )
        };
        let handle = handle.ok_or_else(unknown)?;
        self.control
            .lock()
            .retain(handle, job)
            .map_err(|_| unknown())?;
        Ok(handle)
    }

    /// Every actor not yet forgotten.
    pub(crate) fn list(&self) -> Vec<ActorInfo> {
        self.sweep();
        let mut list: Vec<ActorInfo> = self
            .registry()
            .by_handle
            .values()
            .map(|a| {
                let (state, death) = a.state().clone();
                ActorInfo {
                    id: a.handle,
                    name: a.name.clone(),
                    class: a.class.clone(),
                    job: (a.job != DETACHED_JOB).then_some(a.job),
                    state,
                    death,
                    calls_done: a.calls_done.load(Ordering::Relaxed),
                    calls_queued: a.queued.load(Ordering::Relaxed),
                    restarts: a.restarts.load(Ordering::Relaxed),
                    memory: a.memory.load(Ordering::Relaxed),
                }
            })
            .collect();
        list.sort_by_key(|a| a.id);
        list
    }
}

/// `s` as a MessagePack string.
fn rmp_serde_string(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 5);
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n < 256 {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
    out
}
