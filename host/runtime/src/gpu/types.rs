//! The GPU's plain types: settings (backends, software adapters), what
//! a device is, a dispatch and its errors. Compiled with or without the
//! `gpu` feature (the settings are part of every node's `Config`).

/// Which wgpu backends to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GpuBackend {
    /// Vulkan adapters if there are any, else OpenGL ones.
    #[default]
    Auto,
    /// Vulkan only.
    Vulkan,
    /// OpenGL (EGL) only.
    Gl,
}

impl GpuBackend {
    /// Every value, as `FromStr` spells it.
    pub const NAMES: [&str; 3] = ["auto", "vulkan", "gl"];
}

impl std::str::FromStr for GpuBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(GpuBackend::Auto),
            "vulkan" => Ok(GpuBackend::Vulkan),
            "gl" => Ok(GpuBackend::Gl),
            other => Err(format!(
                "unknown GPU backend `{other}` (auto, vulkan or gl)"
            )),
        }
    }
}

/// Whether software adapters (Mesa's llvmpipe/lavapipe, which run shaders
/// on the CPU) count as GPUs. Ray counts only real devices; a node that
/// listed its CPU rasteriser beside a real GPU would place GPU work on the
/// emulated one, and a cluster with one real GPU node would place GPU work
/// on every node. So by default a software adapter is used only where
/// there is no real one (which keeps GPU tasks runnable, and tested, on
/// machines without a GPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SoftwareGpus {
    /// Only when the node has no hardware adapter.
    #[default]
    Auto,
    /// Always, beside hardware ones.
    Yes,
    /// Never.
    No,
}

impl SoftwareGpus {
    /// Every value, as `FromStr` spells it.
    pub const NAMES: [&str; 3] = ["auto", "yes", "no"];

    /// Which of these adapters to use, by whether each is software.
    pub fn keep(self, software: &[bool]) -> Vec<bool> {
        let any_hardware = software.iter().any(|s| !s);
        software
            .iter()
            .map(|&s| {
                !s || match self {
                    SoftwareGpus::Yes => true,
                    SoftwareGpus::No => false,
                    SoftwareGpus::Auto => !any_hardware,
                }
            })
            .collect()
    }
}

impl std::str::FromStr for SoftwareGpus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(SoftwareGpus::Auto),
            "yes" => Ok(SoftwareGpus::Yes),
            "no" => Ok(SoftwareGpus::No),
            other => Err(format!("`{other}`: auto, yes or no")),
        }
    }
}

/// An adapter of the node.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GpuInfo {
    /// GPU id.
    pub id: u32,
    /// Adapter name.
    pub name: String,
    /// wgpu backend.
    pub backend: String,
    /// Integrated, discrete, virtual or CPU (software).
    pub device_type: String,
    /// A software adapter (the CPU runs its shaders), not a GPU.
    pub software: bool,
}

/// How a buffer is bound (WIT `buffer-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferKind {
    /// `var<uniform>`.
    Uniform,
    /// `var<storage, read>`.
    Input,
    /// `var<storage, read_write>`, zeroed, read back.
    Output,
    /// `var<storage, read_write>`, initialised, read back.
    InputOutput,
}

/// One buffer binding.
#[derive(Debug, Clone)]
pub struct BufferSpec {
    /// `@binding(n)` of group 0.
    pub binding: u32,
    /// How it is bound.
    pub kind: BufferKind,
    /// Initial contents.
    pub data: Vec<u8>,
    /// Size of an output buffer.
    pub size: u64,
}

/// One compute dispatch.
#[derive(Debug, Clone)]
pub struct DispatchSpec {
    /// WGSL source.
    pub wgsl: String,
    /// Entry point.
    pub entry_point: String,
    /// Buffers.
    pub buffers: Vec<BufferSpec>,
    /// Workgroup counts.
    pub workgroups: (u32, u32, u32),
}

/// Why a dispatch failed (WIT `gpu-error`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// No GPU for this task.
    #[error("no GPU: {0}")]
    NoGpu(String),
    /// The WGSL does not compile.
    #[error("invalid shader: {0}")]
    InvalidShader(String),
    /// Buffers do not match the shader.
    #[error("binding mismatch: {0}")]
    BindingMismatch(String),
    /// Over the GPU memory quota.
    #[error("over quota: {0}")]
    OverQuota(String),
    /// Device lost or out of memory.
    #[error("device lost: {0}")]
    DeviceLost(String),
    /// Took too long.
    #[error("timeout: {0}")]
    Timeout(String),
}
