//! An actor's life: its instances, its constructor, its calls in order,
//! its restarts and its death.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime::component::{Instance, TypedFunc};

use tokio::sync::mpsc;

use super::{Actor, ActorState, Actors, Call, Mailbox, rmp_serde_string};
use crate::core::cancel::CancelFlag;
use crate::core::object_store::{ObjectId, Signal};
use crate::error::{ErrorKind, TaskError};
use crate::exec::tasks::Grant;
use crate::msgpack;
use crate::wasm::sandbox::{
    HostState, SandboxLimit, TaskCtx, classify_trap, interrupt, interrupt_moving,
};

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

/// What the life does next.
// One per call, moved once: boxing the call would allocate per call.
#[allow(clippy::large_enum_variant)]
enum Next {
    Run(Call),
    /// No handle is left and nothing is queued.
    Orphaned,
    /// Killed, or its job ended.
    Stopped,
    /// The node shuts down.
    ShutDown,
}

impl Actors {
    /// The actor's life: instances, constructor, calls, restarts.
    pub(super) async fn life(&self, actor: &Arc<Actor>, grant: Grant) {
        let Some(inbox) = actor.inbox.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let mailbox = Arc::new(Mailbox::new(actor.clone(), inbox));
        let mut first = true;
        'life: loop {
            let (mut store, call_fn) = match self.start(actor, &grant, &mailbox).await {
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
                    self.die_with(&mailbox, &why);
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
                let call = match self.next(&mailbox, &grant).await {
                    Next::Run(call) => call,
                    Next::Orphaned => {
                        self.die_with(&mailbox, "no handle to it is left");
                        return;
                    }
                    Next::Stopped => {
                        self.die_with(&mailbox, Self::why_stopped(actor));
                        return;
                    }
                    Next::ShutDown => break 'life,
                };
                // A call cancelled while queued is completed at its start
                // (`begin`), without its arguments.
                let waited = if call.stop.cancelled() {
                    Ok(())
                } else {
                    self.wait_for_arguments(&call, &grant.cancel).await
                };
                if let Err(e) = waited {
                    if grant.cancel.is_set() {
                        mailbox.push_front(call);
                        self.die_with(&mailbox, Self::why_stopped(actor));
                        return;
                    }
                    self.complete(actor, call, Err(e), None);
                    continue;
                }
                let Some((call, args)) = self.begin(actor, call, false) else {
                    continue;
                };
                let (call, outcome, started) = self
                    .run_call(&mailbox, &mut store, &call_fn, call, args)
                    .await;
                mailbox.concurrent.store(false, Ordering::SeqCst);
                match outcome {
                    Outcome::Done(outcome) => {
                        if let Some(call) = call {
                            self.complete(actor, call, outcome, Some(started));
                        }
                        if let Some(why) = mailbox.exit() {
                            // A call finished by the instance ended it.
                            self.die_with(&mailbox, &why);
                            return;
                        }
                    }
                    Outcome::Exited(why) => {
                        if let Some(call) = call {
                            let err = actor.died(&call.method, &why);
                            self.complete(actor, call, Err(err), Some(started));
                        }
                        actor.killed.store(true, Ordering::SeqCst);
                        self.die_with(&mailbox, &why);
                        return;
                    }
                    Outcome::Crashed(e) => {
                        if let Some(call) = &call {
                            self.record(actor, call, started, "failed");
                        }
                        // The call and any others the instance ran with it.
                        let crashed: Vec<Call> =
                            call.into_iter().chain(mailbox.take_all_running()).collect();
                        let cause = e.to_string();
                        if grant.cancel.is_set() {
                            for c in crashed.into_iter().rev() {
                                mailbox.push_front(c);
                            }
                            self.die_with(&mailbox, Self::why_stopped(actor));
                            return;
                        }
                        let restarts = actor.restarts.load(Ordering::Relaxed);
                        if restarts >= actor.max_restarts {
                            for c in crashed.into_iter().rev() {
                                mailbox.push_front(c);
                            }
                            self.die_with(
                                &mailbox,
                                &format!("it crashed and has no restarts left: {cause}"),
                            );
                            return;
                        }
                        actor.restarts.fetch_add(1, Ordering::Relaxed);
                        actor.set(ActorState::Restarting);
                        tracing::debug!(actor = %actor.display, "restarting after: {cause}");
                        // The crashed calls and those queued behind them
                        // run again on the restarted actor if retries
                        // allow, else fail.
                        let mut behind = crashed;
                        behind.extend(mailbox.take_again());
                        if let Some(mut inbox) = mailbox.inbox() {
                            while let Ok(c) = inbox.try_recv() {
                                behind.push(c);
                            }
                        }
                        let why = format!("it crashed and was restarted: {cause}");
                        for mut c in behind {
                            if c.attempt <= actor.max_task_retries {
                                c.attempt += 1;
                                c.stop.requeue();
                                mailbox.push_back(c);
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
        self.die_with(&mailbox, "its node is shutting down");
    }

    /// The next call to run, or why there is none.
    async fn next(&self, mailbox: &Mailbox, grant: &Grant) -> Next {
        if mailbox.out_of_order.load(Ordering::SeqCst) {
            return self.next_ready(mailbox, grant).await;
        }
        if let Some(call) = mailbox.pop_again() {
            return Next::Run(call);
        }
        let actor = &mailbox.actor;
        let Some(mut inbox) = mailbox.inbox() else {
            return Next::ShutDown;
        };
        loop {
            if mailbox.handle_gone.load(Ordering::SeqCst) {
                // Its last handle is gone: the calls already made still
                // run (as in Ray), then it dies.
                return match inbox.try_recv() {
                    Ok(call) => Next::Run(call),
                    Err(_) => Next::Orphaned,
                };
            }
            tokio::select! {
                call = inbox.recv() => return match call {
                    Some(call) => Next::Run(call),
                    None => Next::ShutDown,
                },
                () = grant.cancel.wait() => return Next::Stopped,
                () = actor.freed.notified() => mailbox.handle_gone.store(true, Ordering::SeqCst),
            }
        }
    }

    /// The next call to run for an actor that serves calls concurrently:
    /// the first queued one whose arguments are ready (see the mailbox's
    /// docs), or why there is none.
    async fn next_ready(&self, mailbox: &Mailbox, grant: &Grant) -> Next {
        let actor = &mailbox.actor;
        let Some(mut inbox) = mailbox.inbox() else {
            return Next::ShutDown;
        };
        loop {
            let mut waiting = VecDeque::new();
            let ready = self.pop_ready(mailbox, &mut inbox, &mut waiting);
            let signal = match ready {
                Some(_) => None,
                None => self.any_arguments_signal(&waiting),
            };
            let queued = !waiting.is_empty();
            mailbox.put_back(waiting);
            if let Some(call) = ready {
                return Next::Run(call);
            }
            if queued && signal.is_none() {
                // Their arguments became ready meanwhile.
                continue;
            }
            if !queued && mailbox.handle_gone.load(Ordering::SeqCst) {
                // Its last handle is gone and the calls already made ran
                // (as in Ray): it dies.
                return Next::Orphaned;
            }
            tokio::select! {
                () = async { signal.as_ref().expect("checked").fired().await }, if signal.is_some() => {}
                call = inbox.recv() => match call {
                    Some(call) => mailbox.push_back(call),
                    None => return Next::ShutDown,
                },
                () = grant.cancel.wait() => return Next::Stopped,
                () = actor.freed.notified() => mailbox.handle_gone.store(true, Ordering::SeqCst),
            }
        }
    }

    /// The actor is dead (see [`Actors::die`]), with every call its
    /// mailbox holds.
    fn die_with(&self, mailbox: &Mailbox, why: &str) {
        let mut pending = mailbox.take_again();
        pending.extend(mailbox.take_all_running());
        match mailbox.inbox() {
            Some(mut inbox) => self.die(&mailbox.actor, &mut inbox, pending, why),
            // Not reached: nothing else waits for calls once the instance
            // stopped. The calls are failed all the same.
            None => {
                let (_, mut inbox) = mpsc::unbounded_channel();
                self.die(&mailbox.actor, &mut inbox, pending, why)
            }
        }
    }

    /// A fresh instance of the actor's module with its constructor run.
    async fn start(
        &self,
        actor: &Actor,
        grant: &Grant,
        mailbox: &Arc<Mailbox>,
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
        store.data_mut().attach(mailbox.clone());
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
            placement: grant.placement,
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

    /// Run one method call in the actor's instance, with `args`; the call
    /// is the mailbox's outer one meanwhile (the instance may finish it,
    /// and take others, through `next-calls`). Returns the call (none if
    /// the instance finished it), how the instance's `task.call` ended and
    /// when it started.
    async fn run_call(
        &self,
        mailbox: &Mailbox,
        store: &mut Store<HostState>,
        call_fn: &CallFn,
        call: Call,
        args: Vec<u8>,
    ) -> (Option<Call>, Outcome, u64) {
        let actor = &mailbox.actor;
        // The instance's identity for this call, updated in place (this is
        // the hot path of every call).
        {
            let ctx = &mut store.data_mut().ctx;
            ctx.id = call.id;
            ctx.function = call.function.clone();
            ctx.name = call.stop.name.clone();
            ctx.attempt = actor.restarts.load(Ordering::Relaxed) + 1;
            if actor.timeout.is_some() {
                ctx.deadline = actor.timeout.map(|t| (Instant::now() + t, t));
                mailbox.set_deadline(ctx.deadline);
            }
        }
        self.sandboxes.renew(store);
        let function = call.function.to_string();
        let started = self.timeline.now_us();
        mailbox.run_outer(call, started);
        // The deadline moves only for an actor with a time limit.
        let moving = actor.timeout.map(|_| mailbox.deadline.subscribe());
        let stop = interrupt_moving(&store.data().ctx, moving);
        let result = tokio::select! {
            biased;
            r = call_fn.call_async(&mut *store, (function, args)) => r,
            limit = stop => Err(wasmtime::Error::new(limit)),
        };
        store.data().flush_output();
        let call = mailbox.take_outer();
        let name: &str = call.as_ref().map_or(&store.data().ctx.name, |c| c.name());
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
        (call, outcome, started)
    }
}
