//! The broker: the node's wgpu devices, one thread each, and the running
//! of one compute dispatch on a device inside error scopes.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::types::{
    BufferKind, BufferSpec, DispatchSpec, GpuBackend, GpuError, GpuInfo, SoftwareGpus,
};

struct Job {
    spec: DispatchSpec,
    deadline: Option<Instant>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Vec<u8>>, GpuError>>,
}

struct Device {
    info: GpuInfo,
    jobs: mpsc::Sender<Job>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The node's GPUs.
pub struct GpuBroker {
    devices: Vec<Device>,
}

impl Drop for GpuBroker {
    /// Close every device's queue and wait for its thread to finish the
    /// request in hand and release the device. Process exit must not race
    /// a live device: Mesa's teardown under a running lavapipe thread
    /// crashes.
    fn drop(&mut self) {
        for mut d in self.devices.drain(..) {
            drop(d.jobs);
            if let Some(t) = d.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl GpuBroker {
    /// A broker with no devices.
    pub fn none() -> Self {
        GpuBroker {
            devices: Vec::new(),
        }
    }

    /// Enumerate adapters and open one device (with its thread) on each
    /// that `software` keeps.
    pub fn probe(backend: GpuBackend, software: SoftwareGpus) -> Self {
        // Vulkan first; OpenGL only if there is no Vulkan adapter (the same
        // hardware usually shows up through both, and probing EGL on a
        // machine without a display is slow and noisy).
        let order: &[wgpu::Backends] = match backend {
            GpuBackend::Auto => &[wgpu::Backends::VULKAN, wgpu::Backends::GL],
            GpuBackend::Vulkan => &[wgpu::Backends::VULKAN],
            GpuBackend::Gl => &[wgpu::Backends::GL],
        };
        let mut adapters = Vec::new();
        for &backends in order {
            let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
            desc.backends = backends;
            let instance = wgpu::Instance::new(desc);
            adapters = pollster::block_on(instance.enumerate_adapters(backends));
            if !adapters.is_empty() {
                break;
            }
        }
        let is_software: Vec<bool> = adapters
            .iter()
            .map(|a| a.get_info().device_type == wgpu::DeviceType::Cpu)
            .collect();
        let kept = software.keep(&is_software);
        let mut devices = Vec::new();
        for (adapter, keep) in adapters.into_iter().zip(kept) {
            let info = adapter.get_info();
            if !keep {
                tracing::info!(adapter = %info.name, "a software GPU beside a real one: not used unless software GPUs are asked for");
                continue;
            }
            let id = devices.len() as u32;
            let gpu = GpuInfo {
                id,
                name: info.name.clone(),
                backend: format!("{:?}", info.backend),
                device_type: format!("{:?}", info.device_type),
                software: info.device_type == wgpu::DeviceType::Cpu,
            };
            let desc = wgpu::DeviceDescriptor {
                label: Some("raylab"),
                required_limits: adapter.limits(),
                ..Default::default()
            };
            let (device, queue) = match pollster::block_on(adapter.request_device(&desc)) {
                Ok(dq) => dq,
                Err(e) => {
                    tracing::warn!(adapter = %gpu.name, "cannot open the device: {e}");
                    continue;
                }
            };
            // Errors are captured by scopes; anything uncaptured is logged,
            // never a panic.
            device.on_uncaptured_error(std::sync::Arc::new(|e: wgpu::Error| {
                tracing::error!("uncaptured GPU error: {e}");
            }));
            let (tx, rx) = mpsc::channel::<Job>();
            let name = format!("raylab-gpu-{id}");
            let spawned = std::thread::Builder::new().name(name).spawn(move || {
                let mut worker = Worker {
                    device,
                    queue,
                    pipelines: HashMap::new(),
                };
                while let Ok(job) = rx.recv() {
                    let result = worker.run(&job.spec, job.deadline);
                    let _ = job.reply.send(result);
                }
            });
            if let Ok(handle) = spawned {
                tracing::debug!(id, adapter = %gpu.name, backend = %gpu.backend, "GPU ready");
                devices.push(Device {
                    info: gpu,
                    jobs: tx,
                    thread: Some(handle),
                });
            }
        }
        GpuBroker { devices }
    }

    /// The adapters, by id.
    pub fn devices(&self) -> Vec<GpuInfo> {
        self.devices.iter().map(|d| d.info.clone()).collect()
    }

    /// The device behind GPU id `id` (logical ids beyond the adapters wrap
    /// around, as several logical GPUs may share one adapter).
    pub fn device_for(&self, id: u32) -> Option<GpuInfo> {
        (!self.devices.is_empty())
            .then(|| self.devices[id as usize % self.devices.len()].info.clone())
    }

    /// Run `spec` on GPU `id`, within `quota` bytes of buffers.
    pub async fn run(
        &self,
        id: u32,
        spec: DispatchSpec,
        quota: u64,
        deadline: Option<Instant>,
    ) -> Result<Vec<Vec<u8>>, GpuError> {
        if self.devices.is_empty() {
            return Err(GpuError::NoGpu("this node has no GPU adapter".into()));
        }
        let total: u64 = spec.buffers.iter().map(buffer_size).sum();
        if total > quota {
            return Err(GpuError::OverQuota(format!(
                "buffers of {total} bytes exceed the task's GPU memory quota of {quota} bytes (the node's GPU memory per task)"
            )));
        }
        let device = &self.devices[id as usize % self.devices.len()];
        let (reply, rx) = tokio::sync::oneshot::channel();
        device
            .jobs
            .send(Job {
                spec,
                deadline,
                reply,
            })
            .map_err(|_| GpuError::DeviceLost("the device thread is gone".into()))?;
        rx.await
            .map_err(|_| GpuError::DeviceLost("the device thread stopped".into()))?
    }
}

fn buffer_size(b: &BufferSpec) -> u64 {
    match b.kind {
        BufferKind::Output => b.size,
        _ => b.data.len() as u64,
    }
}

struct Worker {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipelines: HashMap<(u64, String), wgpu::ComputePipeline>,
}

fn shader_key(wgsl: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    wgsl.hash(&mut h);
    h.finish()
}

impl Worker {
    /// Run one dispatch with every wgpu call inside error scopes.
    fn run(
        &mut self,
        spec: &DispatchSpec,
        deadline: Option<Instant>,
    ) -> Result<Vec<Vec<u8>>, GpuError> {
        let key = (shader_key(&spec.wgsl), spec.entry_point.clone());
        let pipeline = match self.pipelines.get(&key) {
            Some(p) => p.clone(),
            None => {
                let p = self.compile(spec)?;
                self.pipelines.insert(key, p.clone());
                p
            }
        };
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let result = self.dispatch(&pipeline, spec);
        let oom_err = pollster::block_on(oom.pop());
        let validation_err = pollster::block_on(validation.pop());
        if let Some(e) = oom_err {
            return Err(GpuError::DeviceLost(format!("out of GPU memory: {e}")));
        }
        if let Some(e) = validation_err {
            return Err(GpuError::BindingMismatch(error_text(&e)));
        }
        let (readback, outputs) = result?;
        self.read_back(readback, outputs, deadline)
    }

    fn compile(&self, spec: &DispatchSpec) -> Result<wgpu::ComputePipeline, GpuError> {
        // Validate with naga first: its message names the line.
        if let Err(e) = wgpu::naga::front::wgsl::parse_str(&spec.wgsl) {
            return Err(GpuError::InvalidShader(e.emit_to_string(&spec.wgsl)));
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("raylab task shader"),
                source: wgpu::ShaderSource::Wgsl(spec.wgsl.as_str().into()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("raylab task pipeline"),
                layout: None,
                module: &module,
                entry_point: Some(&spec.entry_point),
                compilation_options: Default::default(),
                cache: None,
            });
        match pollster::block_on(scope.pop()) {
            Some(e) => Err(GpuError::InvalidShader(error_text(&e))),
            None => Ok(pipeline),
        }
    }

    #[allow(clippy::type_complexity)]
    fn dispatch(
        &self,
        pipeline: &wgpu::ComputePipeline,
        spec: &DispatchSpec,
    ) -> Result<(Vec<wgpu::Buffer>, Vec<u64>), GpuError> {
        use wgpu::util::DeviceExt;
        let mut buffers = Vec::new();
        let mut readback = Vec::new();
        let mut sizes = Vec::new();
        let mut encoder = self.device.create_command_encoder(&Default::default());
        for b in &spec.buffers {
            let (usage, readable) = match b.kind {
                BufferKind::Uniform => (wgpu::BufferUsages::UNIFORM, false),
                BufferKind::Input => (wgpu::BufferUsages::STORAGE, false),
                BufferKind::Output | BufferKind::InputOutput => (
                    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                    true,
                ),
            };
            let size = buffer_size(b);
            if size == 0 || !size.is_multiple_of(4) {
                return Err(GpuError::BindingMismatch(format!(
                    "buffer at binding {} has {size} bytes; sizes must be non-zero multiples of 4",
                    b.binding
                )));
            }
            let buffer = if b.kind == BufferKind::Output {
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size,
                    usage,
                    mapped_at_creation: false,
                })
            } else {
                self.device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: None,
                        contents: &b.data,
                        usage,
                    })
            };
            if readable {
                let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                readback.push((buffers.len(), staging));
                sizes.push(size);
            }
            buffers.push((b.binding, buffer));
        }
        let entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
            .iter()
            .map(|(binding, buffer)| wgpu::BindGroupEntry {
                binding: *binding,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            let (x, y, z) = spec.workgroups;
            pass.dispatch_workgroups(x, y, z);
        }
        let mut staging_buffers = Vec::new();
        for ((index, staging), size) in readback.into_iter().zip(&sizes) {
            encoder.copy_buffer_to_buffer(&buffers[index].1, 0, &staging, 0, *size);
            staging_buffers.push(staging);
        }
        self.queue.submit([encoder.finish()]);
        Ok((staging_buffers, sizes))
    }

    fn read_back(
        &self,
        staging: Vec<wgpu::Buffer>,
        sizes: Vec<u64>,
        deadline: Option<Instant>,
    ) -> Result<Vec<Vec<u8>>, GpuError> {
        let (tx, rx) = mpsc::channel();
        for (i, b) in staging.iter().enumerate() {
            let tx = tx.clone();
            b.map_async(wgpu::MapMode::Read, .., move |r| {
                let _ = tx.send((i, r));
            });
        }
        let timeout = deadline.map(|d| {
            d.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        });
        match self.device.poll(wgpu::PollType::Wait {
            submission_index: None,
            timeout,
        }) {
            Ok(_) => {}
            Err(wgpu::PollError::Timeout) => {
                return Err(GpuError::Timeout(
                    "the dispatch outlived the task's time limit".into(),
                ));
            }
            Err(e) => return Err(GpuError::DeviceLost(e.to_string())),
        }
        drop(tx);
        let mut ok = 0;
        while let Ok((i, r)) = rx.try_recv() {
            r.map_err(|e| GpuError::DeviceLost(format!("read-back of output {i} failed: {e}")))?;
            ok += 1;
        }
        if ok != staging.len() {
            return Err(GpuError::DeviceLost("read-back did not complete".into()));
        }
        let mut out = Vec::with_capacity(staging.len());
        for (b, size) in staging.iter().zip(sizes) {
            let view = b
                .slice(..size)
                .get_mapped_range()
                .map_err(|e| GpuError::DeviceLost(format!("cannot read an output back: {e}")))?;
            out.push(view.to_vec());
            drop(view);
            b.unmap();
        }
        Ok(out)
    }
}

fn error_text(e: &wgpu::Error) -> String {
    let text = e.to_string();
    // wgpu's messages nest the cause; keep them whole but on one line.
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
