//! How an actor ends: its death (a crash past its restarts, a kill, its
//! last handle gone, its job's end), what its queued calls get, and the
//! registry forgetting it; [`DeathGuard`] marks an actor dead whose life
//! never ran.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use tokio::sync::mpsc;

use crate::core::control::DETACHED_JOB;
use crate::core::object_store::ObjectId;
use crate::error::TaskError;

use super::{Actor, ActorState, Actors, Call};

/// Marks an actor dead if its life never ran (its creation was cancelled
/// while it waited, or the node shut down).
pub(super) struct DeathGuard {
    pub(super) actors: Weak<Actors>,
    pub(super) actor: Arc<Actor>,
}

impl DeathGuard {
    pub(super) fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for DeathGuard {
    fn drop(&mut self) {
        // The body is dropped with its task, which may happen under the
        // control lock (a creation cancelled while it waited): do the
        // bookkeeping on a task of its own, after the lock is released.
        let (actors, actor) = (self.actors.clone(), self.actor.clone());
        let Some(handle) = actors.upgrade().map(|a| a.tasks.handle().clone()) else {
            return;
        };
        handle.spawn(async move {
            let Some(actors) = actors.upgrade() else {
                return;
            };
            let inbox = actor.inbox.lock().unwrap_or_else(|p| p.into_inner()).take();
            let Some(mut inbox) = inbox else { return };
            let why = Actors::why_stopped(&actor);
            actors.resolve(actor.handle, Err(actor.died("new", why)));
            actors.die(&actor, &mut inbox, VecDeque::new(), why);
        });
    }
}

impl Actors {
    /// Complete `call` with `actor-died`.
    pub(super) fn fail(&self, actor: &Actor, call: Call, why: &str) {
        let err = actor.died(&call.method, why);
        let name = format!("{}.{}", actor.class, call.method);
        let starts = self.control.lock().complete_call(
            call.job,
            &name,
            call.result,
            Err(err),
            &call.arg_refs,
        );
        self.tasks.start(starts, false);
    }

    /// Complete the handle object (the tasks waiting for it may start).
    pub(super) fn resolve(&self, handle: ObjectId, outcome: Result<Vec<u8>, TaskError>) {
        let starts = self.control.lock().resolve(handle, outcome);
        self.tasks.start(starts, false);
    }

    /// Forget dead actors whose handles are all gone.
    pub(super) fn sweep(&self) {
        let dead: Vec<ObjectId> = self
            .registry()
            .by_handle
            .values()
            .filter(|a| a.death().is_some())
            .map(|a| a.handle)
            .collect();
        let gone: Vec<ObjectId> = {
            let control = self.control.lock();
            dead.into_iter()
                .filter(|h| control.status(*h).is_err())
                .collect()
        };
        let mut registry = self.registry();
        for h in gone {
            registry.by_handle.remove(&h);
        }
    }

    /// The actor is dead: say why, fail what waits for it, forget its
    /// name, drop the references it held to itself.
    pub(super) fn die(
        &self,
        actor: &Actor,
        inbox: &mut mpsc::UnboundedReceiver<Call>,
        pending: VecDeque<Call>,
        why: &str,
    ) {
        {
            let mut s = actor.state();
            if s.0 != ActorState::Dead {
                *s = (ActorState::Dead, Some(why.to_string()));
            }
        }
        tracing::debug!(actor = %actor.display, "died: {why}");
        inbox.close();
        let mut failed = Vec::from(pending);
        while let Ok(call) = inbox.try_recv() {
            failed.push(call);
        }
        actor.queued.store(0, Ordering::Relaxed);
        for call in failed {
            self.fail(actor, call, why);
        }
        self.forget(actor);
    }

    /// Forget a dead actor's name, let go of its life task's result and,
    /// when detached, of its own handle.
    pub(super) fn forget(&self, actor: &Actor) {
        let mut registry = self.registry();
        if let Some(n) = &actor.name
            && registry.names.get(&(actor.job, n.clone())) == Some(&actor.handle)
        {
            registry.names.remove(&(actor.job, n.clone()));
        }
        drop(registry);
        let life = actor.life.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut control = self.control.lock();
        if let Some(life) = life {
            control.release_all(&[life]);
        }
        if actor.job == DETACHED_JOB {
            control.release_all(&[actor.handle]);
        }
    }

    /// The reason a cancelled life gives.
    pub(super) fn why_stopped(actor: &Actor) -> &'static str {
        if actor.killed.load(Ordering::SeqCst) {
            "killed"
        } else {
            "its job ended, or the task that created it failed"
        }
    }
}
