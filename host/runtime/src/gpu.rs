//! The GPU: the broker that owns the node's wgpu devices, the
//! `raylab:runtime/gpu` host functions guests call, and the per-task state
//! they read (which GPU the task holds, its deadline, the quota).
//!
//! At start-up (only when a loaded module imports `raylab:runtime/gpu`, or
//! for `raylab-host gpus`, since a Vulkan instance costs tens of
//! milliseconds) the broker enumerates adapters; each becomes one GPU id.
//! Each device gets a thread of its own that takes requests from a queue,
//! one at a time, so a device never sees two tasks' work interleaved and a
//! slow dispatch never blocks a tokio worker. A request is: WGSL source, an
//! entry point, storage/uniform buffers of bind group 0, workgroup counts.
//! Shader modules and pipelines are compiled once per (shader, entry point)
//! on each device and cached. Every wgpu call of a request runs inside
//! error scopes, so invalid WGSL, a binding mismatch or an out-of-memory
//! comes back as a value, never as wgpu's default panic.
//!
//! Machines without a GPU get Mesa's lavapipe (software Vulkan) from the
//! `mesa-vulkan-drivers` package; with no adapter at all the node has no
//! GPUs and GPU tasks are infeasible.
//!
//! The host functions need nothing of the node but a `GpuView` of the
//! calling instance (as wasmtime-wasi's `WasiView`), so this module and
//! its tests stand on their own.

//!
//! Without the `gpu` cargo feature there is no broker (and no wgpu): the
//! node still counts GPUs as a resource (`num_gpus`), and a module that
//! imports `raylab:runtime/gpu` is refused when it is loaded.

#[cfg(feature = "gpu")]
mod broker;
mod types;

#[cfg(feature = "gpu")]
pub use broker::GpuBroker;
pub use types::{
    BufferKind, BufferSpec, DispatchSpec, GpuBackend, GpuError, GpuInfo, SoftwareGpus,
};

#[cfg(feature = "gpu")]
mod host;
#[cfg(feature = "gpu")]
pub(crate) use host::{GpuView, Gpus, add_to_linker};

/// The node's GPU devices: none in a build without the `gpu` feature.
#[cfg(not(feature = "gpu"))]
pub(crate) struct Gpus;

#[cfg(not(feature = "gpu"))]
impl Gpus {
    /// No devices (`quota` has nothing to bound).
    pub(crate) fn new(_quota: u64) -> Self {
        Gpus
    }
}
