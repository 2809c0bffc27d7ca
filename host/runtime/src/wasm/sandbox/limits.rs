//! Why an instance stopped and how it is held to its limits: a
//! [`SandboxLimit`] when the host stopped it, the memory quota
//! ([`Limiter`]), [`interrupt`] for an instance blocked in a WASI call, and
//! [`classify_trap`] turning any trap into the error the caller sees.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::core::cancel::{Deadline, until};
use crate::error::{ErrorKind, TaskError};

use super::{TICK, TaskCtx};

/// A sandbox limit a guest ran into; the trap's error value.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SandboxLimit {
    #[error("exceeded its memory quota of {} MiB", .0 / (1 << 20))]
    Memory(u64),
    #[error("exceeded its time limit of {} s", .0.as_secs_f64())]
    Time(Duration),
    #[error("was cancelled")]
    Cancelled,
}

impl SandboxLimit {
    /// The error kind a caller sees.
    pub(crate) fn kind(&self) -> ErrorKind {
        match self {
            SandboxLimit::Memory(_) => ErrorKind::MemoryQuotaExceeded,
            SandboxLimit::Time(_) => ErrorKind::TimeLimitExceeded,
            SandboxLimit::Cancelled => ErrorKind::Cancelled,
        }
    }

    /// As the error of task `task`.
    pub(crate) fn error(&self, task: &str) -> TaskError {
        TaskError::for_task(self.kind(), task, self.to_string())
    }
}

/// Enforces the memory quota of one instance, and notes its size.
pub(crate) struct Limiter {
    pub(super) cap: Option<u64>,
    /// Linear memory granted so far, bytes.
    pub(super) size: usize,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match self.cap {
            Some(cap) if desired as u64 > cap => {
                Err(wasmtime::Error::new(SandboxLimit::Memory(cap)))
            }
            _ => {
                self.size = self.size.max(desired);
                Ok(true)
            }
        }
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Completes when a running guest must be stopped from outside: it was
/// cancelled, or its time is up, while it is not inside a `get`/`wait`
/// that lent its CPU (that call returns by itself, see `objects`). This is
/// what stops a guest blocked in a WASI call (a long `thread::sleep`, say),
/// where no preemption tick can reach it.
pub(crate) fn interrupt(ctx: &TaskCtx) -> impl Future<Output = SandboxLimit> + use<> {
    let (cancel, deadline, lent) = (ctx.cancelled.clone(), ctx.deadline, ctx.lent.clone());
    async move {
        let why = tokio::select! {
            () = cancel.wait() => SandboxLimit::Cancelled,
            limit = until(deadline) => SandboxLimit::Time(limit),
        };
        while lent.load(Ordering::SeqCst) {
            tokio::time::sleep(TICK).await;
        }
        why
    }
}

/// [`interrupt`] for an instance whose deadline moves while it runs (an
/// actor serving concurrent calls: its limit counts from its last wait for
/// calls, see `actors::mailbox`): `deadline` says the current one.
/// `None` is [`interrupt`] itself.
pub(crate) fn interrupt_moving(
    ctx: &TaskCtx,
    deadline: Option<tokio::sync::watch::Receiver<Deadline>>,
) -> impl Future<Output = SandboxLimit> + use<> {
    use futures_util::future::Either;
    let Some(mut deadline) = deadline else {
        return Either::Left(interrupt(ctx));
    };
    let (cancel, lent) = (ctx.cancelled.clone(), ctx.lent.clone());
    Either::Right(async move {
        let why = loop {
            let at = *deadline.borrow_and_update();
            tokio::select! {
                () = cancel.wait() => break SandboxLimit::Cancelled,
                limit = until(at) => break SandboxLimit::Time(limit),
                changed = deadline.changed() => if changed.is_err() {
                    // Nobody moves it any more: the last one stands.
                    let limit = until(at).await;
                    break SandboxLimit::Time(limit);
                },
            }
        };
        while lent.load(Ordering::SeqCst) {
            tokio::time::sleep(TICK).await;
        }
        why
    })
}

/// Whether the outcome is already a sandbox-limit failure.
pub(crate) fn is_limit<T>(outcome: &Result<T, TaskError>) -> bool {
    matches!(outcome, Err(e) if matches!(
        e.kind,
        ErrorKind::TimeLimitExceeded | ErrorKind::MemoryQuotaExceeded | ErrorKind::Cancelled
    ))
}

/// The error of an attempt that trapped: a sandbox limit, or a crash with
/// the trap's message and the guest's own last words.
pub(crate) fn classify_trap(
    task: &str,
    trap: &wasmtime::Error,
    last_error: &Option<String>,
) -> TaskError {
    match trap.downcast_ref::<SandboxLimit>() {
        Some(limit) => limit.error(task),
        None => TaskError::for_task(
            ErrorKind::TaskCrashed,
            task,
            format!("crashed: {}", trap_message(trap, last_error)),
        ),
    }
}

/// The trap's own message plus the guest's last error record.
pub(crate) fn trap_message(e: &wasmtime::Error, last_error: &Option<String>) -> String {
    let trap = match e.downcast_ref::<wasmtime::Trap>() {
        Some(t) => t.to_string(),
        None => format!("{}", e.root_cause()),
    };
    match last_error {
        Some(guest) => format!("{trap}; the guest reported: {guest}"),
        None => trap,
    }
}
