//! raylab-host: a Ray-style task runtime whose tasks are sandboxed
//! WebAssembly components.
//!
//! A *module* is a component built for `wasm32-wasip2` against
//! `wit/runtime.wit`. `raylab-host run driver.wasm` loads it, runs its
//! `wasi:cli/run` entry (the driver), and executes every remote call the
//! driver submits as a task in a fresh sandbox on a worker thread, passing
//! data through a reference-counted object store.
//!
//! Crate layout, one job per module:
//! * [`runtime`]: the node: modules, driver, task execution;
//! * [`scheduler`]: which task runs next, under the resource ledger;
//! * [`object_store`]: objects, reference counts, capacity, waiters;
//! * [`resources`]: fixed-point resource amounts;
//! * [`msgpack`]: finding object references in MessagePack without decoding;
//! * [`engine`]: wasmtime configuration and the compile cache;
//! * [`gpu`]: the wgpu broker that runs guests' compute shaders;
//! * [`head`]: the long-running head's HTTP API, dashboard and client;
//! * `host_api`: the `raylab:runtime/runtime` host functions;
//! * [`bench`]: the `raylab-host bench` measurements;
//! * [`timeline`]: task slices as Chrome trace events;
//! * [`error`]: error types.

#![deny(unsafe_code)]

pub mod bench;
pub mod engine;
pub mod error;
pub mod gpu;
pub mod head;
mod host_api;
pub mod msgpack;
pub mod object_store;
pub mod resources;
pub mod runtime;
pub mod scheduler;
pub mod timeline;

pub use error::{ErrorKind, LoadError, TaskError};
pub use runtime::{Isolation, RunError, Runtime, RuntimeConfig, RuntimeStats};
