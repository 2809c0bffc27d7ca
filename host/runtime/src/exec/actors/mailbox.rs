//! An actor's mailbox: the calls waiting for it, and those its instance
//! runs at once.
//!
//! A plain actor runs its calls one at a time: its life takes the next
//! call from here, runs it through the instance's `task.call`, completes
//! it. An instance whose calls wait on each other (Python's async actors:
//! one method awaits an event that another call sets, as Ray allows) pulls
//! further calls from inside a running one with the `next-calls` import
//! and finishes each with `finish-call`, so that many calls are in flight
//! in one instance, interleaved by the guest's own event loop. The design
//! keeps the instance single-threaded and the host in charge: the guest
//! only ever receives calls whose arguments are ready, and every call it
//! holds is listed here, so that a crash, a kill or the actor's exit fails
//! or retries each of them exactly as it would a call run alone.
//!
//! Order: a plain actor runs its calls in the order they were submitted,
//! each waiting for the arguments of the one before (Ray's order for a
//! synchronous actor). An instance that serves calls concurrently (one
//! that ever used `next-calls`; Python's async actors call it from their
//! constructor to say so) gets, as in Ray, any queued call whose
//! arguments are ready: a call waits for its own arguments only, and the
//! ready ones come in submission order.
//!
//! Locks: the inbox is taken out of its slot by whoever waits for calls
//! (the life between calls, or `next-calls` during one: never both, as the
//! life waits for the instance meanwhile) and put back when done, also
//! when that wait is dropped ([`Inbox`]); the mutexes are leaves, never
//! held across an await or while taking another lock of this module, and
//! the control lock is taken only after they are released.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::life::EXIT_MARK;
use super::{Actor, Actors, Call};
use crate::bindings::wit;
use crate::core::cancel::Deadline;
use crate::core::object_store::{ObjectId, Signal, Status};
use crate::error::{ErrorKind, TaskError};
use crate::ids::IdMap;
use crate::msgpack;
use crate::wasm::sandbox::SandboxLimit;

/// The calls of one actor's life (see the module docs).
pub(crate) struct Mailbox {
    pub(super) actor: Arc<Actor>,
    inbox: Mutex<Option<mpsc::UnboundedReceiver<Call>>>,
    /// Calls to run before the inbox's: retried after a crash, or taken
    /// from the inbox and put back (their arguments were not ready).
    again: Mutex<VecDeque<Call>>,
    /// The call the instance's `task.call` runs now, with when it started
    /// (on the timeline, and for its time limit); kept apart from the
    /// others (the common case: an actor that runs one call at a time).
    outer: Mutex<Option<(Call, u64, Option<Instant>)>>,
    /// The other calls the instance runs now (taken by `next-calls`), by
    /// call id.
    running: Mutex<IdMap<(Call, u64, Option<Instant>)>>,
    /// When the instance must next wait for calls (or stop): the actor's
    /// time limit counts from the start of a call run alone, and, for an
    /// instance serving calls concurrently, from its last wait for calls
    /// (so that code that never yields is stopped), while each of its
    /// calls has the limit on its own (see [`Actors::next_calls`]).
    pub(super) deadline: watch::Sender<Deadline>,
    /// The instance pulls calls (`next-calls`) during the call it runs now.
    pub(super) concurrent: AtomicBool,
    /// The actor serves calls concurrently (its instance used
    /// `next-calls`): a queued call whose arguments are ready runs before
    /// those ahead of it still waiting for theirs (see the module docs).
    pub(super) out_of_order: AtomicBool,
    /// Why the actor ended itself from a call finished by `finish-call`.
    exit: Mutex<Option<String>>,
    exited: AtomicBool,
    /// The actor's last handle is gone: no call will come but those queued.
    pub(super) handle_gone: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Mailbox {
    pub(super) fn new(actor: Arc<Actor>, inbox: mpsc::UnboundedReceiver<Call>) -> Self {
        Mailbox {
            actor,
            inbox: Mutex::new(Some(inbox)),
            again: Mutex::new(VecDeque::new()),
            outer: Mutex::new(None),
            running: Mutex::new(IdMap::default()),
            deadline: watch::Sender::new(None),
            concurrent: AtomicBool::new(false),
            out_of_order: AtomicBool::new(false),
            exit: Mutex::new(None),
            exited: AtomicBool::new(false),
            handle_gone: AtomicBool::new(false),
        }
    }

    /// The next call put back or retried, if any.
    pub(super) fn pop_again(&self) -> Option<Call> {
        lock(&self.again).pop_front()
    }

    /// Run `call` before any other waiting one.
    pub(super) fn push_front(&self, call: Call) {
        lock(&self.again).push_front(call);
    }

    /// Run `call` after the others put back.
    pub(super) fn push_back(&self, call: Call) {
        lock(&self.again).push_back(call);
    }

    /// Run `calls`, in their order, before any other waiting one.
    pub(super) fn put_back(&self, calls: VecDeque<Call>) {
        if calls.is_empty() {
            return;
        }
        let mut again = lock(&self.again);
        for call in calls.into_iter().rev() {
            again.push_front(call);
        }
    }

    /// Whether any call waits (put back, retried).
    fn has_again(&self) -> bool {
        !lock(&self.again).is_empty()
    }

    /// `call` runs in the instance, through `task.call`, from `started`
    /// (timeline microseconds).
    pub(super) fn run_outer(&self, call: Call, started: u64) {
        let at = self.actor.timeout.map(|_| Instant::now());
        *lock(&self.outer) = Some((call, started, at));
    }

    /// The call `task.call` ran, unless the instance finished it already
    /// (by `finish-call`).
    pub(super) fn take_outer(&self) -> Option<Call> {
        lock(&self.outer).take().map(|(c, ..)| c)
    }

    /// `call`, taken by `next-calls`, runs in the instance from `started`.
    fn running(&self, call: Call, started: u64) {
        let at = self.actor.timeout.map(|_| Instant::now());
        lock(&self.running).insert(call.id, (call, started, at));
    }

    /// Take running call `id` (either kind): none if it was finished.
    fn take_running(&self, id: u64) -> Option<(Call, u64)> {
        {
            let mut outer = lock(&self.outer);
            if outer.as_ref().is_some_and(|(c, ..)| c.id == id) {
                return outer.take().map(|(c, t, _)| (c, t));
            }
        }
        lock(&self.running).remove(&id).map(|(c, t, _)| (c, t))
    }

    /// Every running call (either kind), in the order they were made.
    pub(super) fn take_all_running(&self) -> Vec<Call> {
        let mut calls: Vec<Call> = lock(&self.running).drain().map(|(_, (c, ..))| c).collect();
        calls.extend(self.take_outer());
        calls.sort_by_key(|c| c.id);
        calls
    }

    /// Every call waiting (put back, retried), in order.
    pub(super) fn take_again(&self) -> VecDeque<Call> {
        std::mem::take(&mut *lock(&self.again))
    }

    /// The instance waits for calls from now (`waiting`), or runs guest
    /// code again: its deadline as the actor's time limit sets it.
    pub(crate) fn set_waiting(&self, waiting: bool) -> Deadline {
        let deadline = match self.actor.timeout {
            Some(t) if !waiting => Some((Instant::now() + t, t)),
            _ => None,
        };
        self.set_deadline(deadline);
        deadline
    }

    /// The instance's deadline from now (see the field).
    pub(super) fn set_deadline(&self, deadline: Deadline) {
        self.deadline.send_if_modified(|d| {
            let changed = *d != deadline;
            *d = deadline;
            changed
        });
    }

    /// Running calls past the actor's time limit, taken out; and when the
    /// next one will be.
    fn overdue(&self) -> (Vec<(Call, u64)>, Option<Instant>) {
        let Some(limit) = self.actor.timeout else {
            return (Vec::new(), None);
        };
        let now = Instant::now();
        let mut late = Vec::new();
        let late_at = |at: &Option<Instant>| at.is_some_and(|at| now >= at + limit);
        // One lock at a time: the mutexes of this module are leaves.
        let next_outer = {
            let mut outer = lock(&self.outer);
            if outer.as_ref().is_some_and(|(.., at)| late_at(at)) {
                late.extend(outer.take().map(|(c, t, _)| (c, t)));
            }
            outer.as_ref().and_then(|(.., at)| at.map(|at| at + limit))
        };
        let mut running = lock(&self.running);
        let ids: Vec<u64> = running
            .iter()
            .filter(|(_, (.., at))| late_at(at))
            .map(|(id, _)| *id)
            .collect();
        late.extend(
            ids.into_iter()
                .filter_map(|id| running.remove(&id).map(|(c, t, _)| (c, t))),
        );
        let next_running = running
            .values()
            .filter_map(|(.., at)| at.map(|at| at + limit))
            .min();
        let next = match (next_running, next_outer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (late, next)
    }

    /// Why a call finished by `finish-call` ended the actor, if one did.
    pub(super) fn exit(&self) -> Option<String> {
        if !self.exited.load(Ordering::SeqCst) {
            return None;
        }
        lock(&self.exit).clone()
    }

    /// The inbox, taken out of its slot until the guard goes. None only
    /// if it is taken already, which the life's order rules out (see the
    /// module docs).
    pub(super) fn inbox(&self) -> Option<Inbox<'_>> {
        let rx = lock(&self.inbox).take()?;
        Some(Inbox {
            slot: &self.inbox,
            rx: Some(rx),
        })
    }
}

/// The inbox taken out of its slot (see [`Mailbox::inbox`]): put back
/// when dropped.
pub(super) struct Inbox<'a> {
    slot: &'a Mutex<Option<mpsc::UnboundedReceiver<Call>>>,
    rx: Option<mpsc::UnboundedReceiver<Call>>,
}

impl std::ops::Deref for Inbox<'_> {
    type Target = mpsc::UnboundedReceiver<Call>;
    fn deref(&self) -> &Self::Target {
        self.rx.as_ref().expect("held until dropped")
    }
}

impl std::ops::DerefMut for Inbox<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.rx.as_mut().expect("held until dropped")
    }
}

impl Drop for Inbox<'_> {
    fn drop(&mut self) {
        *lock(self.slot) = self.rx.take();
    }
}

impl Actors {
    /// The arguments of `call`, its dependencies' values in place; kept in
    /// the call when it may run again after a crash.
    pub(super) fn call_args(&self, actor: &Actor, call: &mut Call) -> Result<Vec<u8>, TaskError> {
        if !call.layout.top_refs.is_empty() {
            let values = self
                .control
                .lock()
                .values_of(&call.function, call.deps.iter().copied())?;
            let slices: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
            Ok(msgpack::substitute(&call.args, &call.layout, &slices))
        } else if call.attempt <= actor.max_task_retries {
            Ok(call.args.clone())
        } else {
            Ok(std::mem::take(&mut call.args))
        }
    }

    /// Complete `call` with `outcome`: its result, its counts, its span on
    /// the timeline (from `started`, when it ran).
    pub(super) fn complete(
        &self,
        actor: &Actor,
        call: Call,
        outcome: Result<(Vec<u8>, Vec<ObjectId>), TaskError>,
        started: Option<u64>,
    ) {
        actor.queued.fetch_sub(1, Ordering::Relaxed);
        if let Some(started) = started {
            actor.calls_done.fetch_add(1, Ordering::Relaxed);
            let state = if outcome.is_ok() {
                "finished"
            } else {
                "failed"
            };
            self.record(actor, &call, started, state);
        }
        let starts = self.control.lock().complete_call(
            call.job,
            &call.function,
            call.result,
            outcome,
            &call.arg_refs,
        );
        self.tasks.start(starts, false);
    }

    /// `call`'s span on the actor's timeline lane, from `started`.
    pub(super) fn record(&self, actor: &Actor, call: &Call, started: u64, state: &'static str) {
        self.timeline.record(
            call.stop.name.clone(),
            call.job,
            call.id,
            actor.lane,
            started,
            state,
            1,
        );
    }

    /// Start `call` (alone, or `concurrent`ly with others): its arguments,
    /// or none when it was cancelled while queued or its arguments failed
    /// (it is completed then).
    pub(super) fn begin(
        &self,
        actor: &Actor,
        mut call: Call,
        concurrent: bool,
    ) -> Option<(Call, Vec<u8>)> {
        if !call.stop.start(concurrent) {
            self.complete_cancelled(actor, call);
            return None;
        }
        match self.call_args(actor, &mut call) {
            Ok(args) => Some((call, args)),
            Err(e) => {
                self.complete(actor, call, Err(e), None);
                None
            }
        }
    }

    /// Complete `call`, which was cancelled before it ran.
    pub(super) fn complete_cancelled(&self, actor: &Actor, call: Call) {
        let err = TaskError::for_task(
            ErrorKind::Cancelled,
            call.name(),
            crate::core::control::CANCELLED_QUEUED,
        );
        self.complete(actor, call, Err(err), None);
    }

    /// Whether `call`'s dependencies are all ready (a failed one counts:
    /// its error is the call's).
    fn arguments_ready(&self, call: &Call) -> bool {
        call.deps.is_empty()
            || self
                .control
                .lock()
                .ready(&call.deps, call.job)
                .map_or(true, |r| r.len() == call.deps.len())
    }

    /// The first call waiting in `mailbox` (put back, then `inbox`'s)
    /// whose arguments are ready, or that was cancelled (its start
    /// completes it); the calls before it, which wait for their arguments,
    /// are moved to `waiting`, in order.
    pub(super) fn pop_ready(
        &self,
        mailbox: &Mailbox,
        inbox: &mut mpsc::UnboundedReceiver<Call>,
        waiting: &mut VecDeque<Call>,
    ) -> Option<Call> {
        loop {
            let call = match mailbox.pop_again() {
                Some(c) => c,
                None => inbox.try_recv().ok()?,
            };
            if call.stop.cancelled() || self.arguments_ready(&call) {
                return Some(call);
            }
            waiting.push_back(call);
        }
    }

    /// A signal that fires when any dependency of `calls` still pending is
    /// ready (or fails); none if none is pending.
    pub(super) fn any_arguments_signal(&self, calls: &VecDeque<Call>) -> Option<Arc<Signal>> {
        let mut control = self.control.lock();
        let mut pending: Vec<ObjectId> = calls
            .iter()
            .flat_map(|c| c.deps.iter().copied())
            .filter(|&id| matches!(control.status(id), Ok(Status::Pending)))
            .collect();
        if pending.is_empty() {
            return None;
        }
        pending.sort_unstable();
        pending.dedup();
        let signal = Signal::new(1);
        control.notify_on(&pending, &signal);
        Some(signal)
    }

    /// `next-calls` from the instance of `mailbox`'s actor: up to `max`
    /// calls to start (those queued whose arguments are ready, in queue
    /// order: see the module docs), the running calls cancelled since last
    /// asked, and whether no call can come any more; waiting up to
    /// `timeout` (none: for ever) for any of these.
    pub(crate) async fn next_calls(
        &self,
        mailbox: &Mailbox,
        max: u32,
        timeout: Option<Duration>,
    ) -> wit::ActorMail {
        let actor = &mailbox.actor;
        mailbox.out_of_order.store(true, Ordering::SeqCst);
        if !mailbox.concurrent.load(Ordering::SeqCst)
            && let Some((call, ..)) = &*lock(&mailbox.outer)
        {
            // The call running now runs concurrently from here on. (Asked
            // from the constructor, there is none yet.)
            call.stop.go_concurrent();
            mailbox.concurrent.store(true, Ordering::SeqCst);
        }
        let until = timeout.map(|t| Instant::now() + t);
        let Some(mut inbox) = mailbox.inbox() else {
            return wit::ActorMail {
                calls: Vec::new(),
                cancelled: Vec::new(),
                closed: true,
            };
        };
        let mut mail = wit::ActorMail {
            calls: Vec::new(),
            cancelled: Vec::new(),
            closed: false,
        };
        loop {
            // Calls whose arguments are ready, in order; those waiting for
            // theirs stay queued, in order.
            let mut waiting = VecDeque::new();
            while mail.calls.len() < max as usize {
                let Some(call) = self.pop_ready(mailbox, &mut inbox, &mut waiting) else {
                    break;
                };
                let Some((call, args)) = self.begin(actor, call, true) else {
                    continue;
                };
                mail.calls.push(wit::ActorCall {
                    id: call.id,
                    function: call.function.to_string(),
                    args,
                });
                mailbox.running(call, self.timeline.now_us());
            }
            let signal = if mail.calls.is_empty() {
                self.any_arguments_signal(&waiting)
            } else {
                None
            };
            // Their arguments became ready meanwhile: look again.
            let again = mail.calls.is_empty() && !waiting.is_empty() && signal.is_none();
            mailbox.put_back(waiting);
            // Running calls cancelled since last asked, and those past
            // their time limit (failed now; the guest stops them).
            for (call, ..) in lock(&mailbox.running).values() {
                if call.stop.cancelled() && call.stop.tell() {
                    mail.cancelled.push(call.id);
                }
            }
            if let Some((call, ..)) = &*lock(&mailbox.outer)
                && call.stop.cancelled()
                && call.stop.tell()
            {
                mail.cancelled.push(call.id);
            }
            let (late, next_late) = mailbox.overdue();
            for (call, started) in late {
                mail.cancelled.push(call.id);
                let limit = actor.timeout.unwrap_or_default();
                let err = SandboxLimit::Time(limit).error(call.name());
                self.complete(actor, call, Err(err), Some(started));
            }
            if !mail.calls.is_empty() || !mail.cancelled.is_empty() {
                return mail;
            }
            if again {
                continue;
            }
            if !mailbox.has_again()
                && (mailbox.handle_gone.load(Ordering::SeqCst) || inbox.is_closed())
                && inbox.is_empty()
            {
                mail.closed = true;
                return mail;
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return mail;
            }
            // Wait for: the arguments of a queued call, or a new call; a
            // cancel; the last handle going; the time.
            let wake = match (until, next_late) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleep = async {
                match wake {
                    Some(u) => tokio::time::sleep_until(u.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = async { signal.as_ref().expect("checked").fired().await }, if signal.is_some() => {}
                call = inbox.recv() => match call {
                    Some(call) => mailbox.push_back(call),
                    None => mailbox.handle_gone.store(true, Ordering::SeqCst),
                },
                () = actor.wake.notified() => {}
                () = actor.freed.notified() => mailbox.handle_gone.store(true, Ordering::SeqCst),
                () = sleep => {}
            }
        }
    }

    /// `finish-call` from the instance of `mailbox`'s actor: complete
    /// running call `id` with what the guest's `task.call` would return.
    pub(crate) fn finish_call(&self, mailbox: &Mailbox, id: u64, result: Result<Vec<u8>, String>) {
        let actor = &mailbox.actor;
        let Some((call, started)) = mailbox.take_running(id) else {
            return;
        };
        let outcome = match result {
            Ok(bytes) => match msgpack::find_refs(&bytes) {
                Ok(refs) => Ok((bytes, refs)),
                Err(e) => Err(TaskError::for_task(
                    ErrorKind::TaskCrashed,
                    call.name(),
                    format!("returned a malformed result: {e}"),
                )),
            },
            Err(message) => match message.strip_prefix(EXIT_MARK) {
                Some(why) => {
                    let why = why.trim().to_string();
                    actor.killed.store(true, Ordering::SeqCst);
                    let err = actor.died(&call.method, &why);
                    lock(&mailbox.exit).get_or_insert(why);
                    mailbox.exited.store(true, Ordering::SeqCst);
                    Err(err)
                }
                None => Err(TaskError::for_task(
                    ErrorKind::TaskFailed,
                    call.name(),
                    message,
                )),
            },
        };
        self.complete(actor, call, outcome, Some(started));
    }
}
