//! An actor's life: its instances, its constructor, its calls in order,
//! its restarts and its death.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime::component::{Instance, TypedFunc};

use super::{Actor, ActorState, Actors, Call, rmp_serde_string};
use crate::cancel::CancelFlag;
use crate::error::{ErrorKind, TaskError};
use crate::msgpack;
use crate::object_store::{ObjectId, Signal};
use crate::sandbox::{HostState, SandboxLimit, TaskCtx, classify_trap, interrupt};
use crate::tasks::Grant;

/// The typed `call` export of the `task` interface.
type CallFn = TypedFunc<(String, Vec<u8>), (Result<Vec<u8>, String>,)>;

/// How a method call ended.
enum Outcome {
    /// A result or the method's own error: the actor goes on.
    Done(Result<(Vec<u8>, Vec<ObjectId>), TaskError>),
    /// The instance is broken (a trap, a limit): restart or die.
    Crashed(TaskError),
    /// The actor ended itself (see [`EXIT_MARK`]): it dies, with no
    /// restart; this call fails with `actor-died` like those after it.
    Exited(String),
}

/// A method's error message that starts with this ends its actor (Ray's
/// `exit_actor()`; see `wit/runtime.wit`, `task.call`). The rest of the
/// message says why.
pub(crate) const EXIT_MARK: &str = "\u{1e}raylab-exit-actor:";

impl Actors {
    /// The actor's life: instances, constructor, calls, restarts.
    pub(super) async fn life(&self, actor: &Arc<Actor>, grant: Grant) {
        let Some(mut inbox) = actor.inbox.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let mut first = true;
        let mut again: VecDeque<Call> = VecDeque::new();
        // Its last handle is gone: the calls already made still run (as in
        // Ray), then it dies.
        let mut handle_gone = false;
        'life: loop {
            let (mut store, call_fn) = match self.start(actor, &grant).await {
                Ok(x) => x,
                Err(e) => {
                    if first {
                        self.resolve(actor.handle, Err(e.clone()));
                    }
                    let why = if grant.cancel.is_set() {
                        Self::why_stopped(actor).to_string()
                    } else {
                        format!("its constructor failed: {e}")
                    };
                    self.die(actor, &mut inbox, again, &why);
                    return;
                }
            };
            if first {
                let name = rmp_serde_string(&actor.class);
                self.resolve(actor.handle, Ok(name));
                first = false;
            }
            actor.set(ActorState::Alive);
            loop {
                let mut call = match again.pop_front() {
                    Some(call) => call,
                    None if handle_gone => match inbox.try_recv() {
                        Ok(call) => call,
                        Err(_) => {
                            self.die(actor, &mut inbox, again, "no handle to it is left");
                            return;
                        }
                    },
                    None => tokio::select! {
                        call = inbox.recv() => match call {
                            Some(call) => call,
                            None => break 'life,
                        },
                        () = grant.cancel.wait() => {
                            self.die(actor, &mut inbox, again, Self::why_stopped(actor));
                            return;
                        }
                        () = actor.freed.notified() => {
                            handle_gone = true;
                            continue;
                        }
                    },
                };
                if let Err(e) = self.wait_for_arguments(&call, &grant.cancel).await {
                    if grant.cancel.is_set() {
                        again.push_front(call);
                        self.die(actor, &mut inbox, again, Self::why_stopped(actor));
                        return;
                    }
                    actor.queued.fetch_sub(1, Ordering::Relaxed);
                    let starts = self.control.lock().complete_call(
                        call.job,
                        &call.function,
                        call.result,
                        Err(e),
                        &call.arg_refs,
                    );
                    self.tasks.start(starts, false);
                    continue;
                }
                match self.run_call(actor, &mut store, &call_fn, &mut call).await {
                    Outcome::Done(outcome) => {
                        actor.queued.fetch_sub(1, Ordering::Relaxed);
                        actor.calls_done.fetch_add(1, Ordering::Relaxed);
                        let starts = self.control.lock().complete_call(
                            call.job,
                            &call.function,
                            call.result,
                            outcome,
                            &call.arg_refs,
                        );
                        self.tasks.start(starts, false);
                    }
                    Outcome::Exited(why) => {
                        actor.queued.fetch_sub(1, Ordering::Relaxed);
                        actor.calls_done.fetch_add(1, Ordering::Relaxed);
                        let err = actor.died(&call.method, &why);
                        let starts = self.control.lock().complete_call(
                            call.job,
                            &call.function,
                            call.result,
                            Err(err),
                            &call.arg_refs,
                        );
                        self.tasks.start(starts, false);
                        actor.killed.store(true, Ordering::SeqCst);
                        self.die(actor, &mut inbox, again, &why);
                        return;
                    }
                    Outcome::Crashed(e) => {
                        let cause = e.to_string();
                        if grant.cancel.is_set() {
                            again.push_front(call);
                            self.die(actor, &mut inbox, again, Self::why_stopped(actor));
                            return;
                        }
                        let restarts = actor.restarts.load(Ordering::Relaxed);
                        if restarts >= actor.max_restarts {
                            again.push_front(call);
                            self.die(
                                actor,
                                &mut inbox,
                                again,
                                &format!("it crashed and has no restarts left: {cause}"),
                            );
                            return;
                        }
                        actor.restarts.fetch_add(1, Ordering::Relaxed);
                        actor.set(ActorState::Restarting);
                        tracing::debug!(actor = %actor.display, "restarting after: {cause}");
                        // The crashed call and those queued behind it run
                        // again on the restarted actor if retries allow,
                        // else fail.
                        let mut behind: Vec<Call> = vec![call];
                        behind.extend(again.drain(..));
                        while let Ok(c) = inbox.try_recv() {
                            behind.push(c);
                        }
                        let why = format!("it crashed and was restarted: {cause}");
                        for mut c in behind {
                            if c.attempt <= actor.max_task_retries {
                                c.attempt += 1;
                                again.push_back(c);
                            } else {
                                actor.queued.fetch_sub(1, Ordering::Relaxed);
                                self.fail(actor, c, &why);
                            }
                        }
                        continue 'life;
                    }
                }
            }
        }
        self.die(actor, &mut inbox, again, "its node is shutting down");
    }

    /// A fresh instance of the actor's module with its constructor run.
    async fn start(
        &self,
        actor: &Actor,
        grant: &Grant,
    ) -> Result<(Store<HostState>, CallFn), TaskError> {
        let crashed = |m: String| {
            TaskError::for_task(ErrorKind::TaskCrashed, format!("{}.new", actor.class), m)
        };
        let exports = actor
            .module
            .task
            .as_ref()
            .ok_or_else(|| crashed("the module exports no remote functions".into()))?;
        let ctx = self.ctx(actor, grant, "new", 0, None);
        let mut store = self.sandboxes.store(ctx, &[]);
        let instance: Instance = actor
            .module
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| match e.downcast_ref::<SandboxLimit>() {
                Some(limit) => limit.error(&format!("{}.new", actor.class)),
                None => crashed(format!("cannot instantiate: {e:#}")),
            })?;
        let call_fn: CallFn = instance
            .get_typed_func(&mut store, exports.call)
            .map_err(|e| crashed(format!("bad `call` export: {e:#}")))?;
        let name = format!("{}.new", actor.class);
        let stop = interrupt(&store.data().ctx);
        let result = tokio::select! {
            biased;
            r = call_fn.call_async(&mut store, (name.clone(), grant.args.clone())) => r,
            limit = stop => Err(wasmtime::Error::new(limit)),
        };
        store.data().flush_output();
        match result {
            Ok((Ok(_),)) => Ok((store, call_fn)),
            Ok((Err(message),)) => Err(TaskError::for_task(ErrorKind::TaskFailed, name, message)),
            Err(trap) => Err(classify_trap(&name, &trap, &store.data().last_error)),
        }
    }

    /// Who the instance runs for during `method`'s call.
    fn ctx(
        &self,
        actor: &Actor,
        grant: &Grant,
        method: &str,
        id: u64,
        timeout: Option<Duration>,
    ) -> TaskCtx {
        TaskCtx {
            id,
            attempt: actor.restarts.load(Ordering::Relaxed) + 1,
            demand: grant.demand.clone(),
            gpu_ids: grant.gpu_ids.clone(),
            memory_cap: Some(actor.memory_cap),
            deadline: timeout.map(|t| (Instant::now() + t, t)),
            ..TaskCtx::new(
                actor.job,
                actor.module.name.clone(),
                format!("{}.{method}", actor.class),
                format!("{}.{method}", actor.display),
                grant.cancel.clone(),
            )
        }
    }

    /// Wait until the call's dependencies are ready (or the actor is
    /// stopped).
    async fn wait_for_arguments(&self, call: &Call, cancel: &CancelFlag) -> Result<(), TaskError> {
        if call.deps.is_empty() {
            return Ok(());
        }
        let signal = {
            let mut control = self.control.lock();
            let ready = control.ready(&call.deps, call.job)?;
            if ready.len() == call.deps.len() {
                return Ok(());
            }
            let signal = Signal::new(call.deps.len() - ready.len());
            control.notify_on(&call.deps, &signal);
            signal
        };
        tokio::select! {
            () = signal.fired() => Ok(()),
            () = cancel.wait() => Err(TaskError::new(ErrorKind::Cancelled, "stopped while waiting for its arguments")),
        }
    }

    /// Run one method call in the actor's instance.
    async fn run_call(
        &self,
        actor: &Actor,
        store: &mut Store<HostState>,
        call_fn: &CallFn,
        call: &mut Call,
    ) -> Outcome {
        let args = if !call.layout.top_refs.is_empty() {
            let values = match self
                .control
                .lock()
                .values_of(&call.function, call.deps.iter().copied())
            {
                Ok(v) => v,
                Err(e) => return Outcome::Done(Err(e)),
            };
            let slices: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
            msgpack::substitute(&call.args, &call.layout, &slices)
        } else if call.attempt <= actor.max_task_retries {
            // It may run again after a crash: keep the arguments.
            call.args.clone()
        } else {
            std::mem::take(&mut call.args)
        };
        // The instance's identity for this call, updated in place (this is
        // the hot path of every call).
        {
            let ctx = &mut store.data_mut().ctx;
            ctx.id = call.id;
            ctx.function.clone_from(&call.function);
            ctx.name.clone_from(&call.name);
            ctx.attempt = actor.restarts.load(Ordering::Relaxed) + 1;
            ctx.deadline = actor.timeout.map(|t| (Instant::now() + t, t));
        }
        self.sandboxes.renew(store);
        let name = call.name.as_str();
        let started = self.timeline.now_us();
        let stop = interrupt(&store.data().ctx);
        let result = tokio::select! {
            biased;
            r = call_fn.call_async(&mut *store, (call.function.clone(), args)) => r,
            limit = stop => Err(wasmtime::Error::new(limit)),
        };
        store.data().flush_output();
        let outcome = match result {
            Ok((Ok(bytes),)) => match msgpack::find_refs(&bytes) {
                Ok(refs) => Outcome::Done(Ok((bytes, refs))),
                Err(e) => Outcome::Crashed(TaskError::for_task(
                    ErrorKind::TaskCrashed,
                    name,
                    format!("returned a malformed result: {e}"),
                )),
            },
            Ok((Err(message),)) => match message.strip_prefix(EXIT_MARK) {
                Some(why) => Outcome::Exited(why.trim().to_string()),
                None => Outcome::Done(Err(TaskError::for_task(
                    ErrorKind::TaskFailed,
                    name,
                    message,
                ))),
            },
            Err(trap) => Outcome::Crashed(classify_trap(name, &trap, &store.data().last_error)),
        };
        // A time limit is a wall here too.
        let outcome = match (outcome, store.data().ctx.deadline) {
            (Outcome::Done(_), Some((at, limit))) if Instant::now() >= at => {
                Outcome::Crashed(SandboxLimit::Time(limit).error(name))
            }
            (o, _) => o,
        };
        actor
            .memory
            .store(store.data().memory_size() as u64, Ordering::Relaxed);
        let state = match &outcome {
            Outcome::Done(Ok(_)) => "finished",
            _ => "failed",
        };
        self.timeline
            .record(name, call.job, call.id, actor.lane, started, state, 1);
        outcome
    }
}
