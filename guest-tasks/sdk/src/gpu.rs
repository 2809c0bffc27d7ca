//! GPU compute through the host's broker: a task that holds a GPU
//! (`num_gpus` > 0) sends WGSL compute work and gets its output buffers.
//!
//! ```ignore
//! let out = gpu::Kernel::new(WGSL, "main")
//!     .input(0, gpu::f32_bytes(&a))
//!     .output(1, 4 * n as u64)
//!     .workgroups(n.div_ceil(64) as u32, 1, 1)
//!     .run()?;
//! let c = gpu::bytes_f32(&out[0]);
//! ```

use super::bindings::raylab::runtime::gpu as g;
use std::fmt;

/// The adapter behind the caller's GPU.
#[derive(Debug, Clone)]
pub struct GpuInfo {
    /// GPU id.
    pub id: u32,
    /// Adapter name.
    pub name: String,
    /// wgpu backend.
    pub backend: String,
    /// Device type (`Cpu` for a software GPU such as lavapipe).
    pub device_type: String,
}

/// The adapter behind this task's GPU, if it holds one.
pub fn device() -> Option<GpuInfo> {
    g::device().map(|d| GpuInfo {
        id: d.id,
        name: d.name,
        backend: d.backend,
        device_type: d.device_type,
    })
}

/// Why a dispatch failed.
#[derive(Debug, Clone, PartialEq)]
pub enum GpuError {
    /// No GPU held, or none on the node.
    NoGpu(String),
    /// The WGSL does not compile (the validator's message).
    InvalidShader(String),
    /// Buffers do not match the shader.
    BindingMismatch(String),
    /// Over the task's GPU memory quota.
    OverQuota(String),
    /// Device lost or out of memory.
    DeviceLost(String),
    /// Outlived the time limit.
    Timeout(String),
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::NoGpu(m) => write!(f, "no GPU: {m}"),
            GpuError::InvalidShader(m) => write!(f, "invalid shader: {m}"),
            GpuError::BindingMismatch(m) => write!(f, "binding mismatch: {m}"),
            GpuError::OverQuota(m) => write!(f, "over quota: {m}"),
            GpuError::DeviceLost(m) => write!(f, "device lost: {m}"),
            GpuError::Timeout(m) => write!(f, "timeout: {m}"),
        }
    }
}

impl std::error::Error for GpuError {}

/// One compute dispatch, built up and then run.
#[derive(Debug, Clone)]
pub struct Kernel {
    wgsl: String,
    entry_point: String,
    buffers: Vec<g::Buffer>,
    workgroups: (u32, u32, u32),
}

impl Kernel {
    /// A dispatch of `entry_point` in `wgsl`.
    pub fn new(wgsl: impl Into<String>, entry_point: impl Into<String>) -> Self {
        Kernel {
            wgsl: wgsl.into(),
            entry_point: entry_point.into(),
            buffers: Vec::new(),
            workgroups: (1, 1, 1),
        }
    }

    fn buffer(mut self, binding: u32, kind: g::BufferKind, data: Vec<u8>, size: u64) -> Self {
        self.buffers.push(g::Buffer {
            binding,
            kind,
            data,
            size,
        });
        self
    }

    /// A `var<uniform>` at `binding`.
    pub fn uniform(self, binding: u32, data: Vec<u8>) -> Self {
        let n = data.len() as u64;
        self.buffer(binding, g::BufferKind::Uniform, data, n)
    }

    /// A `var<storage, read>` at `binding`.
    pub fn input(self, binding: u32, data: Vec<u8>) -> Self {
        let n = data.len() as u64;
        self.buffer(binding, g::BufferKind::Input, data, n)
    }

    /// A zeroed `var<storage, read_write>` of `size` bytes, read back.
    pub fn output(self, binding: u32, size: u64) -> Self {
        self.buffer(binding, g::BufferKind::Output, Vec::new(), size)
    }

    /// An initialised `var<storage, read_write>`, read back.
    pub fn input_output(self, binding: u32, data: Vec<u8>) -> Self {
        let n = data.len() as u64;
        self.buffer(binding, g::BufferKind::InputOutput, data, n)
    }

    /// Workgroup counts.
    pub fn workgroups(mut self, x: u32, y: u32, z: u32) -> Self {
        self.workgroups = (x, y, z);
        self
    }

    /// Run on this task's GPU; the read-back buffers in binding order
    /// of declaration.
    pub fn run(self) -> Result<Vec<Vec<u8>>, GpuError> {
        let work = g::Dispatch {
            wgsl: self.wgsl,
            entry_point: self.entry_point,
            buffers: self.buffers,
            workgroups: self.workgroups,
        };
        g::run(&work).map_err(|e| match e {
            g::GpuError::NoGpu(m) => GpuError::NoGpu(m),
            g::GpuError::InvalidShader(m) => GpuError::InvalidShader(m),
            g::GpuError::BindingMismatch(m) => GpuError::BindingMismatch(m),
            g::GpuError::OverQuota(m) => GpuError::OverQuota(m),
            g::GpuError::DeviceLost(m) => GpuError::DeviceLost(m),
            g::GpuError::Timeout(m) => GpuError::Timeout(m),
        })
    }
}

/// Little-endian bytes of `f32`s (WGSL's `array<f32>`).
pub fn f32_bytes(xs: &[f32]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `f32`s from little-endian bytes.
pub fn bytes_f32(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Little-endian bytes of `u32`s.
pub fn u32_bytes(xs: &[u32]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}
