//! Rust types generated from `wit/runtime.wit`, the contract between host
//! and guests: records, enums and the GPU interface's types. The host
//! functions themselves are defined by hand (`guest_api`, `gpu`); a
//! signature that drifts from the WIT fails at link time in every test
//! that instantiates a guest.

mod generated {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "task-module",
        // Task options and errors travel between the nodes of a cluster.
        additional_derives: [serde::Serialize, serde::Deserialize],
    });
}

/// `raylab:runtime/types`.
pub(crate) use generated::raylab::runtime::types as wit;

/// `error-kind`, public as [`crate::ErrorKind`].
pub use generated::raylab::runtime::types::ErrorKind;

/// `raylab:runtime/gpu`.
pub(crate) use generated::raylab::runtime::gpu as gpu_wit;

/// Versioned name of the `raylab:runtime/runtime` interface.
pub(crate) const RUNTIME_INTERFACE: &str = "raylab:runtime/runtime@0.1.0";
/// Versioned name of the `raylab:runtime/gpu` interface.
pub(crate) const GPU_INTERFACE: &str = "raylab:runtime/gpu@0.1.0";
