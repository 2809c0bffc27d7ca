//! raylab: a Ray-style task runtime whose tasks are sandboxed WebAssembly
//! components. This crate is the runtime itself, embeddable in any Rust
//! program (the `raylab-host` binary is one such program); see
//! [`Runtime`] for a complete example.
//!
//! A *module* is a component built for `wasm32-wasip2` against
//! `wit/runtime.wit`. [`Runtime::run_driver`] runs its `wasi:cli/run` entry
//! (the driver) and executes every remote call the driver submits as a
//! task in a fresh sandbox on a worker thread, passing data through a
//! reference-counted object store.
//!
//! One concern per module; "uses" is every crate module its code imports,
//! and nothing else (`crate_map`'s test reads this table and the code and
//! fails when they differ):
//!
//! | module | owns | uses |
//! | --- | --- | --- |
//! | `node` | [`Runtime`]: builds and wires the parts, the public API; `node::remote` runs what other nodes send | everything below |
//! | `cluster` | a cluster over NATS: registry (ids, heartbeats, the view of the nodes), placement across nodes, the wire (tasks, chunked bytes, object reads, modules by SHA-256) | bindings, error, object_store, resources, sandbox, tasks |
//! | `guest_api` | the `raylab:runtime/runtime` host functions | actors, bindings, error, gpu, objects, resources, sandbox, tasks |
//! | `actors` | actors: long-lived sandboxes, ordered (or, for async actors, concurrent) calls, restarts, handles | bindings, cancel, control, error, ids, modules, msgpack, object_store, sandbox, tasks, timeline |
//! | `objects` | put/get/wait for guests, lending the CPU while blocked | cancel, control, error, msgpack, object_store, resources, sandbox, tasks, workers |
//! | `tasks` | the task lifecycle: submit, dispatch, attempt, retry, finish, cancel; lineage of objects on other nodes | bindings, cancel, config, control, error, ids, modules, msgpack, object_store, objects, resources, sandbox, scheduler, task_table, timeline, workers |
//! | `driver` | running a module's `wasi:cli/run` | cancel, control, error, modules, sandbox |
//! | `modules` | loading a component, its exports, the registry | control, engine, error, sandbox |
//! | `clocks` | precise sleeps for guests (`subscribe-duration`) | sandbox |
//! | `sandbox` | per-instance host state: identity, capabilities, quotas, traps | actors, bindings, cancel, clocks, control, error, gpu, ids, jobs, object_store, output, resources, scheduler, workers |
//! | `config` | the runtime's settings | engine, gpu |
//! | `output` | a guest's stdout and stderr, whole lines, to the terminal or the job's log | jobs |
//! | `jobs` | the head's jobs: status, log, stop flag | cancel, control, error |
//! | `control` | object store + scheduler + task (and actor call) bookkeeping under one lock | cancel, error, ids, object_store, resources, scheduler, spill |
//! | `scheduler` | which task runs next, the resource ledger, placement groups | ids, resources |
//! | `object_store` | objects, reference counts, capacity, waiters, spilling | error, ids, spill |
//! | `task_table` | the task table (`list tasks`, the dashboard) | ids |
//! | `engine` | the wasmtime engine and the compile cache | disk_cache, error |
//! | `error` | the library's errors; error kinds from the WIT | bindings |
//! | [`gpu`] | the wgpu broker and the `raylab:runtime/gpu` host functions | bindings |
//! | `bindings`, `cancel`, [`disk_cache`], `ids`, [`msgpack`], `resources`, `spill`, `timeline`, `workers` | leaves: generated bindings, cancellation signals, the caches' files, id types and maps, MessagePack, resource amounts, spill files, the timeline, worker threads | |
//!
//! Import cycles (the `exec`/`wasm` split of issue 23 is to break it; the
//! test fails if another appears or this one changes):
//!
//! - cycle: `actors`, `clocks`, `modules`, `objects`, `sandbox`, `tasks`
//!   (a sandbox's host state reaches the actor, clock and task machinery
//!   that run in it, and those create sandboxes; tasks and objects call
//!   each other for `get` inside tasks)
//!
//! ## Lock order
//!
//! A lock is taken only while holding locks of earlier lines, never of its
//! own line or later (the exception below aside). Outermost first:
//!
//! 1. `node::remote::Remote::loading`, `tasks::lineage::Made::rebuilt`:
//!    tokio mutexes, the only locks held across `.await` (a module's fetch
//!    and compile; a whole re-run of a lost object's task). Never nested.
//! 2. `actors::Actors::registry` (`create` reads an actor's `state` and the
//!    control state under it).
//! 3. `node::remote::Remote::guests` (registers a guest job in
//!    `Cluster::guests` and `Jobs::jobs`, unloads from `Modules::by_name`).
//! 4. The control state: `control::Control`'s mutex (`NodeControl`). Under
//!    it only `TaskTable::inner` (a `TaskSpec` dropped there ends its row).
//! 5. `cluster::Cluster::sent`, `cluster::registry::Registry::last`,
//!    `jobs::Jobs::jobs`, `output::Inner::pending`, `timeline::Timeline::events`,
//!    `tasks::lineage::Lineage::made`.
//! 6. `cluster::registry::Registry::view`.
//! 7. Leaves, which take no lock while held: `Actor::{inbox, life, state}`,
//!    `Mailbox::{inbox, again, outer, running, exit}`, `Registry::gone`,
//!    `Cluster::{turn, waiting, guests}`, `Remote::running`, `Modules::by_name`,
//!    `Module::{warm, spare}`, `TaskTable::inner`, a `JobLog`'s ring,
//!    `Timeline::{lanes, named}`, `Lineage::{moved, released}`, `Tasks::label`,
//!    `Gpus::broker`, `HostState::who`, `Wire::blobs`, `engine::COMPILING`.
//!
//! No `std` guard is held across an `.await` (clippy's `await_holding_lock`).
//! Known exceptions and costs:
//! - Under the control lock run: `Signal::hit` and `Notify` (tokio's own
//!   leaf locks), the foreign-stub sink (channel sends only), and
//!   `DeathGuard::drop` of a dropped actor body (it spawns its work).
//! - Dropping a `Store<HostState>` takes the control lock (`OwnedRefs` gives
//!   its references back): stores are dropped with no lock held, except the
//!   instances in `Module::{warm, spare}`, which own no references.
//! - Blocking work under a lock: the control lock writes, reads and deletes
//!   spill files; `COMPILING` is held through a compile (blocking pool only);
//!   `output::Inner::pending` through a write to the host's stdout/stderr.

#![deny(unsafe_code)]

mod actors;
mod bindings;
mod cancel;
mod clocks;
mod cluster;
mod config;
mod control;
#[cfg(test)]
mod crate_map;
pub mod disk_cache;
mod driver;
mod engine;
mod error;
pub mod gpu;
mod guest_api;
mod ids;
mod jobs;
mod modules;
pub mod msgpack;
mod node;
mod object_store;
mod objects;
mod output;
mod resources;
mod sandbox;
mod scheduler;
mod spill;
mod task_table;
mod tasks;
mod timeline;
mod workers;

pub use actors::{ActorInfo, ActorState};
pub use cluster::{ClusterConfig, ClusterError, DEAD_AFTER, HEARTBEAT, NodeInfo};
pub use config::{Compiler, Config, Isolation, RESERVED_INSTANCES, default_object_store_memory};
pub use control::{JobId, JobTasks, RuntimeStats};
pub use engine::{EngineConfig, KEEP_RESIDENT, ModuleCompiler, compile_to_file, default_cache_dir};
pub use error::{ErrorKind, LoadError, RunError, StartError, TaskError, kind_name};
pub use jobs::{JOB_LOG_BYTES, JobInfo, JobStatus, LogChunk};
pub use node::{ResourceList, Runtime};
pub use object_store::{ObjectId, ObjectRow, StoreStats};
pub use sandbox::TICK;
pub use scheduler::SchedulerCounts;
pub use spill::SpillStats;
pub use task_table::{TaskFilter, TaskRow, TaskState};
