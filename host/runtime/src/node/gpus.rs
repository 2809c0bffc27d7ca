//! The node's GPUs as an embedder sees them: probing, preparing and
//! releasing the adapters the broker uses.

#[cfg(feature = "gpu")]
use crate::gpu::GpuBroker;
use crate::gpu::GpuInfo;

use super::Runtime;

impl Runtime {
    /// Give the node its GPUs: probe the adapters if a loaded module
    /// imports `raylab:runtime/gpu`, and size the GPU resource (`num_gpus`,
    /// else one per adapter). Call after loading modules, before running.
    pub fn prepare_gpus(&self) -> Vec<GpuInfo> {
        self.set_up_gpus(self.node.modules.any_uses_gpu())
    }

    /// Release the GPU devices (waiting for requests in flight). Call
    /// before the process exits.
    pub fn shutdown_gpus(&self) {
        #[cfg(feature = "gpu")]
        drop(self.node.gpus.replace(GpuBroker::none()));
    }

    /// The GPU adapters this node uses (none until they are probed: a
    /// head probes at start, a `run` when a module imports the GPU
    /// interface).
    pub fn gpu_devices(&self) -> Vec<GpuInfo> {
        #[cfg(feature = "gpu")]
        return self.node.gpus.broker().devices();
        #[cfg(not(feature = "gpu"))]
        Vec::new()
    }

    /// Probe the GPU adapters now, whatever the modules (the head).
    pub fn probe_gpus(&self) -> Vec<GpuInfo> {
        self.set_up_gpus(true)
    }

    /// Probe the adapters when `needed` (without the `gpu` feature there
    /// are none) and size the GPU resource.
    #[cfg(feature = "gpu")]
    pub(super) fn set_up_gpus(&self, needed: bool) -> Vec<GpuInfo> {
        let broker = if needed {
            GpuBroker::probe(self.node.config.gpu_backend, self.node.config.gpu_software)
        } else {
            GpuBroker::none()
        };
        let devices = broker.devices();
        let n = self.node.config.num_gpus.unwrap_or(devices.len() as u32);
        self.node.control.lock().set_gpus(n);
        drop(self.node.gpus.replace(broker));
        devices
    }

    /// Size the GPU resource: `num_gpus` logical GPUs, with no devices in a
    /// build without the `gpu` feature.
    #[cfg(not(feature = "gpu"))]
    pub(super) fn set_up_gpus(&self, _needed: bool) -> Vec<GpuInfo> {
        let n = self.node.config.num_gpus.unwrap_or(0);
        self.node.control.lock().set_gpus(n);
        Vec::new()
    }
}
