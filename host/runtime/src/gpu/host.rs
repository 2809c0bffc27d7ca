//! The GPU with its broker (the `gpu` feature): the node's devices,
//! replaceable, and the `raylab:runtime/gpu` host functions.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use wasmtime::StoreContextMut;
use wasmtime::component::Linker;

use super::{BufferKind, BufferSpec, DispatchSpec, GpuBroker, GpuError};
use crate::bindings::{GPU_INTERFACE, gpu_wit};

/// The node's broker, replaceable (probed when needed, released before the
/// process exits), with the GPU memory quota of one dispatch.
pub(crate) struct Gpus {
    /// Lock order: a leaf (the old broker is dropped after it is released).
    broker: RwLock<Arc<GpuBroker>>,
    quota: u64,
}

impl Gpus {
    /// No devices yet; each dispatch may use `quota` bytes of buffers.
    pub(crate) fn new(quota: u64) -> Self {
        Gpus {
            broker: RwLock::new(Arc::new(GpuBroker::none())),
            quota,
        }
    }

    /// The current broker.
    pub(crate) fn broker(&self) -> Arc<GpuBroker> {
        self.broker
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Put `broker` in place; the old one is released once no dispatch
    /// holds it.
    pub(crate) fn replace(&self, broker: GpuBroker) -> Arc<GpuBroker> {
        std::mem::replace(
            &mut *self.broker.write().unwrap_or_else(|p| p.into_inner()),
            Arc::new(broker),
        )
    }
}

/// What the GPU host functions need of the calling instance.
pub(crate) trait GpuView: Send + 'static {
    /// The node's GPUs.
    fn gpus(&self) -> &Arc<Gpus>;
    /// The GPU the task holds (its first, if several).
    fn gpu_id(&self) -> Option<u32>;
    /// The task's name, for errors.
    fn task_name(&self) -> &str;
    /// When the task's time is up.
    fn deadline(&self) -> Option<Instant>;
}

fn to_spec(work: gpu_wit::Dispatch) -> DispatchSpec {
    DispatchSpec {
        wgsl: work.wgsl,
        entry_point: work.entry_point,
        buffers: work
            .buffers
            .into_iter()
            .map(|b| BufferSpec {
                binding: b.binding,
                kind: match b.kind {
                    gpu_wit::BufferKind::Uniform => BufferKind::Uniform,
                    gpu_wit::BufferKind::Input => BufferKind::Input,
                    gpu_wit::BufferKind::Output => BufferKind::Output,
                    gpu_wit::BufferKind::InputOutput => BufferKind::InputOutput,
                },
                data: b.data,
                size: b.size,
            })
            .collect(),
        workgroups: work.workgroups,
    }
}

fn to_wit_error(e: GpuError) -> gpu_wit::GpuError {
    match e {
        GpuError::NoGpu(m) => gpu_wit::GpuError::NoGpu(m),
        GpuError::InvalidShader(m) => gpu_wit::GpuError::InvalidShader(m),
        GpuError::BindingMismatch(m) => gpu_wit::GpuError::BindingMismatch(m),
        GpuError::OverQuota(m) => gpu_wit::GpuError::OverQuota(m),
        GpuError::DeviceLost(m) => gpu_wit::GpuError::DeviceLost(m),
        GpuError::Timeout(m) => gpu_wit::GpuError::Timeout(m),
    }
}

/// Run `work` for the task `view` describes.
async fn run_for(
    gpus: Arc<Gpus>,
    gpu: Option<u32>,
    task: String,
    deadline: Option<Instant>,
    work: gpu_wit::Dispatch,
) -> Result<Vec<Vec<u8>>, GpuError> {
    let Some(id) = gpu else {
        return Err(GpuError::NoGpu(format!(
            "task `{task}` holds no GPU; declare one with the num_gpus option"
        )));
    };
    gpus.broker()
        .run(id, to_spec(work), gpus.quota, deadline)
        .await
}

/// Add the `raylab:runtime/gpu` imports to `linker`.
pub(crate) fn add_to_linker<T: GpuView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let mut i = linker.instance(GPU_INTERFACE)?;
    i.func_wrap_async(
        "run",
        |store: StoreContextMut<'_, T>, (work,): (gpu_wit::Dispatch,)| {
            let v = store.data();
            let call = run_for(
                v.gpus().clone(),
                v.gpu_id(),
                v.task_name().to_string(),
                v.deadline(),
                work,
            );
            Box::new(async move { Ok((call.await.map_err(to_wit_error),)) })
        },
    )?;
    i.func_wrap(
        "device",
        |store: StoreContextMut<'_, T>, (): ()| -> wasmtime::Result<(Option<gpu_wit::GpuInfo>,)> {
            let v = store.data();
            let info = v.gpu_id().and_then(|id| {
                v.gpus().broker().device_for(id).map(|d| gpu_wit::GpuInfo {
                    id,
                    name: d.name,
                    backend: d.backend,
                    device_type: d.device_type,
                })
            });
            Ok((info,))
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! These run on a real wgpu device: lavapipe (`mesa-vulkan-drivers`,
    //! installed by scripts/setup.sh) where there is no GPU.

    use super::*;
    use crate::gpu::{GpuBackend, SoftwareGpus};

    const DOUBLE: &str = "@group(0) @binding(0) var<storage, read> a: array<f32>;\n\
        @group(0) @binding(1) var<storage, read_write> b: array<f32>;\n\
        @compute @workgroup_size(4) fn main(@builtin(global_invocation_id) id: vec3<u32>) {\n\
            b[id.x] = a[id.x] * 2.0;\n\
        }\n";

    fn f32s(xs: &[f32]) -> Vec<u8> {
        xs.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn work(wgsl: &str, input: &[f32], out_bytes: u64) -> gpu_wit::Dispatch {
        gpu_wit::Dispatch {
            wgsl: wgsl.into(),
            entry_point: "main".into(),
            buffers: vec![
                gpu_wit::Buffer {
                    binding: 0,
                    kind: gpu_wit::BufferKind::Input,
                    data: f32s(input),
                    size: 0,
                },
                gpu_wit::Buffer {
                    binding: 1,
                    kind: gpu_wit::BufferKind::Output,
                    data: Vec::new(),
                    size: out_bytes,
                },
            ],
            workgroups: (1, 1, 1),
        }
    }

    /// The machine's GPUs (lavapipe at least), with `quota` per dispatch.
    fn gpus(quota: u64) -> Arc<Gpus> {
        let gpus = Arc::new(Gpus::new(quota));
        gpus.replace(GpuBroker::probe(GpuBackend::Auto, SoftwareGpus::Auto));
        assert!(
            !gpus.broker().devices().is_empty(),
            "no GPU adapter: install mesa-vulkan-drivers (scripts/setup.sh)"
        );
        gpus
    }

    fn run(
        gpus: &Arc<Gpus>,
        gpu: Option<u32>,
        w: gpu_wit::Dispatch,
    ) -> Result<Vec<Vec<u8>>, GpuError> {
        pollster::block_on(run_for(gpus.clone(), gpu, "t".into(), None, w))
    }

    #[test]
    fn a_dispatch_runs_on_the_device_and_errors_are_values() {
        let gpus = gpus(1 << 20);
        // The real computation.
        let out = run(&gpus, Some(0), work(DOUBLE, &[1.0, 2.0, 3.0, 4.5], 16)).unwrap();
        assert_eq!(out, vec![f32s(&[2.0, 4.0, 6.0, 9.0])]);
        // Logical GPU ids beyond the adapters share them.
        let adapters = gpus.broker().devices().len() as u32;
        assert!(run(&gpus, Some(adapters), work(DOUBLE, &[1.0; 4], 16)).is_ok());

        // A shader that does not compile: the validator's message, with line.
        let bad = DOUBLE.replace("a[id.x] * 2.0", "a[id.x] * nope");
        match run(&gpus, Some(0), work(&bad, &[1.0; 4], 16)) {
            Err(GpuError::InvalidShader(m)) => {
                assert!(m.contains("nope") && m.contains(":4:"), "{m}")
            }
            other => panic!("expected invalid-shader, got {other:?}"),
        }
        // Buffers that do not fit the shader.
        let mut w = work(DOUBLE, &[1.0; 4], 16);
        w.buffers.pop();
        assert!(matches!(
            run(&gpus, Some(0), w),
            Err(GpuError::BindingMismatch(_))
        ));
        let w = work(DOUBLE, &[1.0; 4], 6);
        assert!(
            matches!(run(&gpus, Some(0), w), Err(GpuError::BindingMismatch(m)) if m.contains("multiples of 4"))
        );
        // No GPU held by the task.
        assert!(
            matches!(run(&gpus, None, work(DOUBLE, &[1.0; 4], 16)), Err(GpuError::NoGpu(m)) if m.contains("num_gpus"))
        );
    }

    #[test]
    fn buffers_over_the_quota_are_refused_before_the_device_sees_them() {
        let gpus = Arc::new(Gpus::new(32));
        gpus.replace(GpuBroker::probe(GpuBackend::Auto, SoftwareGpus::Auto));
        let r = run(&gpus, Some(0), work(DOUBLE, &[1.0; 8], 32));
        assert!(
            matches!(&r, Err(GpuError::OverQuota(m)) if m.contains("GPU memory quota")),
            "{r:?}"
        );
    }

    #[test]
    fn no_adapter_means_no_gpu_and_the_broker_can_be_released() {
        let gpus = Arc::new(Gpus::new(1 << 20));
        let r = run(&gpus, Some(0), work(DOUBLE, &[1.0; 4], 16));
        assert!(matches!(r, Err(GpuError::NoGpu(_))));
        assert_eq!(gpus.broker().device_for(0), None);
        // Replacing the broker hands the old one back for release.
        let old = gpus.replace(GpuBroker::none());
        assert!(old.devices().is_empty());
    }

    #[test]
    fn backends_parse_by_name() {
        for name in GpuBackend::NAMES {
            assert!(name.parse::<GpuBackend>().is_ok());
        }
        assert!("metal".parse::<GpuBackend>().is_err());
        for name in SoftwareGpus::NAMES {
            assert!(name.parse::<SoftwareGpus>().is_ok());
        }
        assert!("maybe".parse::<SoftwareGpus>().is_err());
    }

    #[test]
    fn a_software_adapter_is_used_only_where_there_is_no_real_one() {
        // llvmpipe beside a real GPU: the real one only, unless asked.
        let mixed = [true, false];
        assert_eq!(SoftwareGpus::Auto.keep(&mixed), [false, true]);
        assert_eq!(SoftwareGpus::Yes.keep(&mixed), [true, true]);
        assert_eq!(SoftwareGpus::No.keep(&mixed), [false, true]);
        // Only llvmpipe (a machine without a GPU): used, unless refused.
        assert_eq!(SoftwareGpus::Auto.keep(&[true]), [true]);
        assert_eq!(SoftwareGpus::No.keep(&[true]), [false]);
        assert_eq!(SoftwareGpus::Auto.keep(&[false, false]), [true, true]);
    }
}
