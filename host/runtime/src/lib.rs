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
//! One concern per module; the arrows are the only imports between them
//! (no cycles):
//!
//! | module | owns | uses |
//! | --- | --- | --- |
//! | `node` | [`Runtime`]: builds and wires the parts, the public API; `node::remote` runs what other nodes send | everything below |
//! | `cluster` | a cluster over NATS: registry (ids, heartbeats, the view of the nodes), placement across nodes, the wire (tasks, chunked bytes, object reads, modules by SHA-256) | tasks, object_store, error (async-nats) |
//! | `guest_api` | the `raylab:runtime/runtime` host functions | actors, tasks, objects, sandbox |
//! | `actors` | actors: long-lived sandboxes, ordered (or, for async actors, concurrent) calls, restarts, handles | tasks, control, modules, sandbox |
//! | `objects` | put/get/wait for guests, lending the CPU while blocked | tasks, control |
//! | `tasks` | the task lifecycle: submit, dispatch, attempt, retry, finish, cancel; lineage of objects on other nodes | control, modules, sandbox, timeline, task_table |
//! | `driver` | running a module's `wasi:cli/run` | modules, sandbox |
//! | `modules` | loading a component, its exports, the registry | engine, sandbox |
//! | `clocks` | precise sleeps for guests (`subscribe-duration`) | sandbox |
//! | `sandbox` | per-instance host state: identity, capabilities, quotas, traps | jobs, gpu, control (releasing refs) |
//! | [`gpu`] | the wgpu broker and the `raylab:runtime/gpu` host functions | bindings |
//! | `jobs` | the head's jobs: status, log, stop flag | cancel |
//! | `control` | object store + scheduler + task (and actor call) bookkeeping under one lock | object_store, scheduler |
//! | `scheduler` | which task runs next, the resource ledger | resources |
//! | `object_store` | objects, reference counts, capacity, waiters, spilling | error, spill |
//! | `engine` | the wasmtime engine and the compile cache | error |
//! | `config`, `error`, `bindings`, `resources`, `msgpack`, `timeline`, `task_table`, `cancel`, `workers`, `spill` | leaves | |

#![deny(unsafe_code)]

mod actors;
mod bindings;
mod cancel;
mod clocks;
mod cluster;
mod config;
mod control;
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
