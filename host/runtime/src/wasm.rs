//! The wasm layer: wasmtime and what one guest instance is. The engine and
//! its compile cache, loading a module and finding its exports, the
//! sandbox (an instance's host state, capabilities and quotas), a guest's
//! output and its clocks. It knows nothing of tasks or actors: what the
//! layer above attaches to an instance is type-erased
//! (`HostState::attach`).

pub(crate) mod clocks;
pub mod disk_cache;
pub(crate) mod engine;
pub(crate) mod modules;
pub(crate) mod output;
pub(crate) mod sandbox;
