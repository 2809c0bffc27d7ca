//! The core layer: a node's bookkeeping, with no WebAssembly in it. The
//! control state (object store, scheduler, task and call bookkeeping under
//! one lock), resource amounts, spilling, the task table, jobs,
//! cancellation, the timeline and the worker pool's policy. Everything
//! here is unit-tested without an engine; the layers above (`wasm`,
//! `exec`) build on it and it imports none of them.

pub(crate) mod cancel;
pub(crate) mod control;
pub(crate) mod jobs;
pub(crate) mod object_store;
pub(crate) mod resources;
pub(crate) mod scheduler;
pub(crate) mod spill;
pub(crate) mod task_table;
pub(crate) mod timeline;
pub(crate) mod workers;
