//! The worker pool's spawning policy: how a task started from inside a
//! guest call reaches a thread.
//!
//! Tasks run on a multi-threaded tokio runtime, one async wasmtime call
//! each. tokio puts a task spawned from a worker into that worker's LIFO
//! slot, which other workers cannot steal. That is what makes a sync round
//! trip cheap: the caller blocks in `get` and its thread runs the task
//! next, with no thread wake-up. But when the spawning guest goes on
//! computing, the task would wait for it. So a spawn from inside a guest
//! call leaves a note on this thread ([`note_guest_spawn`]): if the guest
//! blocks next ([`blocking`]), the note is dropped and the task runs right
//! here; if it is still running guest code at its next preemption tick
//! ([`on_tick`]), the tick spawns an empty task, which pushes the real one
//! into the stealable run queue and wakes an idle worker to take it.
//! (Spawning that empty task at once cost every fresh round trip a
//! cross-thread wake-up.) Without preemption there is no tick, so the
//! empty task is spawned at once.

use std::cell::Cell;

use tokio::runtime::Handle;

thread_local! {
    /// This worker's LIFO slot may hold a task a guest spawned and is not
    /// waiting for yet.
    static KICK_PENDING: Cell<bool> = const { Cell::new(false) };
}

/// Tasks were just spawned from inside a guest call on this thread.
pub(crate) fn note_guest_spawn(handle: &Handle, preemption: bool) {
    if preemption {
        KICK_PENDING.set(true);
    } else {
        handle.spawn(async {});
    }
}

/// The guest on this thread is about to block: the tasks it spawned run
/// here once it does.
pub(crate) fn blocking() {
    KICK_PENDING.set(false);
}

/// A preemption tick of a guest still running on this thread: make the
/// tasks it spawned stealable.
pub(crate) fn on_tick(handle: &Handle) {
    if KICK_PENDING.replace(false) {
        handle.spawn(async {});
    }
}
