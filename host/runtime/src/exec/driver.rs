//! The driver: a module's `wasi:cli/run` entry, run in a sandbox of its
//! own as the program that submits tasks (Ray's driver script). It holds no
//! CPU slot, but it is sandboxed like a task: a memory quota, and a time
//! limit for the whole run when one is set; it is stopped by its cancel
//! flag (stopping its job) and by the node shutting down.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::core::cancel::CancelFlag;
use crate::core::control::JobId;
use crate::error::{LoadError, RunError};
use crate::wasm::modules::Module;
use crate::wasm::sandbox::{SandboxLimit, Sandboxes, TaskCtx, interrupt, trap_message};

/// A driver's quotas.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Memory quota, bytes.
    pub(crate) memory: u64,
    /// Time limit of the whole run.
    pub(crate) timeout: Option<Duration>,
}

/// Run `module`'s driver for `job` with `args`; its exit code.
pub(crate) async fn run(
    sandboxes: &Sandboxes,
    module: Arc<Module>,
    args: &[String],
    job: JobId,
    stop: Arc<CancelFlag>,
    limits: Limits,
    journal: Option<Arc<crate::exec::journal::DriverJournal>>,
) -> Result<i32, RunError> {
    let name = module.name.as_str();
    let run = module.run.ok_or_else(|| LoadError::NotADriver {
        name: name.to_string(),
    })?;
    let ctx = TaskCtx {
        is_driver: true,
        memory_cap: Some(limits.memory),
        deadline: limits.timeout.map(|t| (Instant::now() + t, t)),
        ..TaskCtx::new(job, name, "main", name, stop)
    };
    let mut store = sandboxes.store(ctx, args);
    if let Some(journal) = journal {
        store.data_mut().attach(journal);
    }
    let crashed = |message: String| RunError::Crashed {
        module: name.to_string(),
        message,
    };
    let instance = module
        .pre
        .instantiate_async(&mut store)
        .await
        .map_err(|e| crashed(format!("{e:#}")))?;
    let func = instance
        .get_typed_func::<(), (Result<(), ()>,)>(&mut store, &run)
        .map_err(|e| RunError::Internal(format!("{e:#}")))?;
    let stop = interrupt(&store.data().ctx);
    let result = tokio::select! {
        biased;
        r = func.call_async(&mut store, ()) => r,
        limit = stop => Err(wasmtime::Error::new(limit)),
    };
    match result {
        Ok((Ok(()),)) => Ok(0),
        Ok((Err(()),)) => Ok(1),
        Err(e) => {
            if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                return Ok(exit.0);
            }
            match e.downcast_ref::<SandboxLimit>() {
                Some(limit @ (SandboxLimit::Memory(_) | SandboxLimit::Time(_))) => {
                    Err(RunError::Limit {
                        module: name.to_string(),
                        limit: limit.to_string(),
                    })
                }
                _ => Err(crashed(trap_message(&e, &store.data().last_error))),
            }
        }
    }
}
