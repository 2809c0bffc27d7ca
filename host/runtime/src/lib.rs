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
//! Cargo features, both on by default: `gpu` (the GPU broker on wgpu and
//! the `raylab:runtime/gpu` host functions; without it GPUs are a plain
//! resource and a module importing that interface is refused) and
//! `cluster` (a cluster over NATS: [`Runtime::join_cluster`]).
//!
//! The modules sit in layers, each in a folder of its own, and a module
//! imports only from its own layer or the layers above it in this table:
//!
//! - **base** (`src/`): generated bindings, errors, MessagePack, the GPU
//!   broker (it knows nothing of tasks);
//! - **core** (`src/core/`): the node's bookkeeping, no WebAssembly;
//! - **wasm** (`src/wasm/`): wasmtime, modules and one instance's sandbox,
//!   no tasks or actors;
//! - **exec** (`src/exec/`): tasks, actors, objects, the driver and the
//!   host functions that join a guest to them;
//! - **cluster** (`src/cluster*`): the same, across nodes over NATS;
//! - **node** (`src/node*`, `src/config.rs`): [`Runtime`], which builds and
//!   wires the parts, and its settings.
//!
//! One concern per module; "uses" is every crate module its code imports,
//! and nothing else. `crate_map`'s test reads this table and the code, and
//! fails when a row is missing, a "uses" column differs from the imports,
//! a module imports from a later layer, a module is not in its layer's
//! folder, or any import cycle appears:
//!
//! | layer | module | owns | uses |
//! | --- | --- | --- | --- |
//! | base | `ids` | id types (jobs, objects, tasks) and maps keyed by them | |
//! | base | `bindings` | the Rust bindings generated from `wit/` | |
//! | base | `error` | the library's errors; error kinds from the WIT | bindings, ids |
//! | base | `msgpack` | MessagePack: the encoding of arguments and objects | ids |
//! | base | [`gpu`] | the wgpu broker and the `raylab:runtime/gpu` host functions | bindings |
//! | core | `cancel` | cancellation signals and deadlines | |
//! | core | `resources` | resource amounts in fixed point | ids |
//! | core | `spill` | spill files | ids |
//! | core | `timeline` | the timeline of finished tasks | ids |
//! | core | `workers` | the worker pool's spawning policy | |
//! | core | `scheduler` | which task runs next, the resource ledger, placement groups | ids, resources |
//! | core | `object_store` | objects, reference counts, capacity, waiters, spilling | error, ids, spill |
//! | core | `task_table` | the task table (`list tasks`, the dashboard) | ids |
//! | core | `control` | object store + scheduler + task (and actor call) bookkeeping under one lock | cancel, error, ids, object_store, resources, scheduler, spill |
//! | core | `jobs` | the head's jobs: status, log, stop flag | cancel, control, error |
//! | wasm | [`disk_cache`] | the caches' files, least recently used first | |
//! | wasm | `clocks` | precise sleeps for guests (`subscribe-duration`) | |
//! | wasm | `engine` | the wasmtime engine and the compile cache | disk_cache, error |
//! | wasm | `output` | a guest's stdout and stderr, whole lines, to the terminal or the job's log | jobs |
//! | wasm | `sandbox` | per-instance host state: identity, capabilities, quotas, traps | bindings, cancel, clocks, control, error, gpu, ids, jobs, object_store, output, resources, scheduler, workers |
//! | wasm | `modules` | loading a component, its exports, the registry, fresh or warm instances | control, engine, error, sandbox |
//! | exec | `tasks` | the task lifecycle: submit, dispatch, attempt, retry, finish, cancel; lineage of objects on other nodes | bindings, cancel, control, error, ids, modules, msgpack, object_store, resources, sandbox, scheduler, task_table, timeline, workers |
//! | exec | `objects` | put/get/wait for guests, lending the CPU while blocked | cancel, control, error, msgpack, object_store, resources, sandbox, tasks, workers |
//! | exec | `actors` | actors: long-lived sandboxes, ordered (or, for async actors, concurrent) calls, restarts, handles; placed on and called from any node of a cluster | bindings, cancel, control, error, ids, modules, msgpack, object_store, resources, sandbox, tasks, timeline |
//! | exec | `driver` | running a module's `wasi:cli/run` | cancel, control, error, journal, modules, sandbox |
//! | exec | `journal` | durable execution: a driver's call results kept by call number and given back to a replayed driver | bindings, error, ids, msgpack, object_store, sandbox, tasks |
//! | exec | `guest_api` | the `raylab:runtime/runtime` host functions | actors, bindings, error, gpu, ids, journal, objects, resources, sandbox, tasks |
//! | cluster | `cluster` | a cluster over NATS: registry (ids, heartbeats, the view of the nodes, incarnations), the heads' lease, durable jobs (the job table, journals and logs in JetStream), placement across nodes, the wire (tasks, chunked bytes, object reads, modules by SHA-256) | bindings, engine, error, ids, jobs, journal, object_store, resources, sandbox, tasks, timeline |
//! | node | `config` | the runtime's settings and their builder | engine, gpu, modules, sandbox |
//! | node | `node` | [`Runtime`]: builds and wires the parts, the public API; `node::remote` runs what other nodes send; `node::durable` carries a head's jobs on across heads | everything |
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
// A build without a feature leaves some of the shared machinery unused
// (cluster-only bookkeeping in `core`, say): only the full build is held
// to dead-code lints.
#![cfg_attr(
    not(all(feature = "cluster", feature = "gpu")),
    allow(dead_code, unused_imports)
)]

mod bindings;
#[cfg(feature = "cluster")]
mod cluster;
mod config;
mod core;
#[cfg(test)]
mod crate_map;
mod error;
mod exec;
pub mod gpu;
mod ids;
mod msgpack;
mod node;
mod wasm;

pub use crate::core::control::{JobId, JobTasks, RuntimeStats};
pub use crate::core::jobs::{JOB_LOG_BYTES, JobInfo, JobStatus, LogChunk};
pub use crate::core::object_store::{ObjectId, ObjectRow, StoreStats};
pub use crate::core::scheduler::SchedulerCounts;
pub use crate::core::spill::SpillStats;
pub use crate::core::task_table::{TaskFilter, TaskRow, TaskState};
pub use crate::core::timeline::{Meta, MetaArgs, Slice, SliceArgs, Trace, TraceEvent};
#[cfg(feature = "cluster")]
pub use cluster::{ActiveHead, ClusterConfig, ClusterError, HeadRole, NodeInfo};
/// How long a head's lease lasts unwritten: a standby takes over about
/// this long after the active head stops.
#[cfg(feature = "cluster")]
pub const HEAD_LEASE: std::time::Duration = cluster::HEAD_LEASE;
pub use config::{Config, ConfigBuilder, Isolation};
pub use error::{ErrorKind, LoadError, RunError, StartError, TaskError};
pub use exec::actors::{ActorInfo, ActorState};
pub use exec::journal::{FileJournal, Journal, MAX_RECORDED, Recorded, Recording, Replay};
pub use node::{ResourceList, Runtime};
pub use wasm::disk_cache;
pub use wasm::engine::{
    EngineConfig, KEEP_RESIDENT, ModuleCompiler, compile_to_file, default_cache_dir,
};
