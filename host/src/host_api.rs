//! The `raylab:runtime/runtime` imports, as host functions.
//!
//! They are defined by hand on the linker (rather than through the
//! `bindgen!` host trait) for two reasons: `get` and `wait` are async and
//! need the whole store's data, and `get` returns the object's shared bytes
//! (`Arc<Vec<u8>>`) so that wasmtime copies them straight into guest memory
//! without an intermediate copy on the host. The record and enum types come
//! from `bindgen!`, so the signatures still follow `wit/runtime.wit`; a
//! mismatch fails at link time in every test that instantiates a guest.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::StoreContextMut;
use wasmtime::component::Linker;

use crate::error::{ErrorKind, TaskError};
use crate::resources::Resources;
use crate::runtime::{HostState, wit};

/// The versioned name of the interface.
pub(crate) const RUNTIME_INTERFACE: &str = "raylab:runtime/runtime@0.1.0";
/// The versioned name of the GPU interface.
pub(crate) const GPU_INTERFACE: &str = "raylab:runtime/gpu@0.1.0";

impl From<TaskError> for wit::Error {
    fn from(e: TaskError) -> Self {
        use wit::ErrorKind as K;
        let kind = match e.kind {
            ErrorKind::TaskFailed => K::TaskFailed,
            ErrorKind::TaskCrashed => K::TaskCrashed,
            ErrorKind::DependencyFailed => K::DependencyFailed,
            ErrorKind::NoSuchFunction => K::NoSuchFunction,
            ErrorKind::UnknownObject => K::UnknownObject,
            ErrorKind::ObjectStoreFull => K::ObjectStoreFull,
            ErrorKind::Timeout => K::Timeout,
            ErrorKind::InvalidArgument => K::InvalidArgument,
            ErrorKind::Infeasible => K::Infeasible,
            ErrorKind::Cancelled => K::Cancelled,
            ErrorKind::MemoryQuotaExceeded => K::MemoryQuotaExceeded,
            ErrorKind::TimeLimitExceeded => K::TimeLimitExceeded,
            ErrorKind::TooManyTasks => K::TooManyTasks,
            ErrorKind::Internal => K::Internal,
        };
        wit::Error {
            kind,
            task: e.task,
            message: e.message,
        }
    }
}

fn amounts(r: &Resources) -> Vec<wit::ResourceAmount> {
    r.entries()
        .into_iter()
        .map(|(name, amount)| wit::ResourceAmount { name, amount })
        .collect()
}

type WitResult<T> = Result<T, wit::Error>;

/// Add the runtime interface to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let mut i = linker.instance(RUNTIME_INTERFACE)?;

    i.func_wrap(
        "submit",
        |mut store: StoreContextMut<'_, HostState>,
         (function, args, options): (String, Vec<u8>, wit::TaskOptions)|
         -> wasmtime::Result<(WitResult<u64>,)> {
            let state = store.data_mut();
            let inner = state.inner.clone();
            Ok((inner
                .submit(state, &function, args, options)
                .map_err(Into::into),))
        },
    )?;

    i.func_wrap(
        "put",
        |mut store: StoreContextMut<'_, HostState>,
         (data,): (Vec<u8>,)|
         -> wasmtime::Result<(WitResult<u64>,)> {
            let state = store.data_mut();
            let inner = state.inner.clone();
            Ok((inner.put(state, data).map_err(Into::into),))
        },
    )?;

    i.func_wrap_async(
        "get",
        |store: StoreContextMut<'_, HostState>, (id, timeout_ms): (u64, Option<u64>)| {
            Box::new(async move {
                let state = store.data();
                let (inner, caller) = (state.inner.clone(), state.caller());
                let r: WitResult<Arc<Vec<u8>>> = inner
                    .get(caller, id, timeout_ms.map(Duration::from_millis))
                    .await
                    .map_err(Into::into);
                Ok((r,))
            })
        },
    )?;

    i.func_wrap_async(
        "get-range",
        |store: StoreContextMut<'_, HostState>,
         (id, offset, len, timeout_ms): (u64, u64, u64, Option<u64>)| {
            Box::new(async move {
                let state = store.data();
                let (inner, caller) = (state.inner.clone(), state.caller());
                let r: WitResult<Vec<u8>> = inner
                    .get(caller, id, timeout_ms.map(Duration::from_millis))
                    .await
                    .map(|bytes| {
                        let start = usize::try_from(offset)
                            .unwrap_or(usize::MAX)
                            .min(bytes.len());
                        let end = start
                            .saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
                            .min(bytes.len());
                        bytes[start..end].to_vec()
                    })
                    .map_err(Into::into);
                Ok((r,))
            })
        },
    )?;

    i.func_wrap_async(
        "wait",
        |store: StoreContextMut<'_, HostState>,
         (ids, num_ready, timeout_ms): (Vec<u64>, u32, Option<u64>)| {
            Box::new(async move {
                let state = store.data();
                let (inner, caller) = (state.inner.clone(), state.caller());
                let r: WitResult<Vec<u64>> = inner
                    .wait(
                        caller,
                        &ids,
                        num_ready as usize,
                        timeout_ms.map(Duration::from_millis),
                    )
                    .await
                    .map_err(Into::into);
                Ok((r,))
            })
        },
    )?;

    i.func_wrap(
        "cancel",
        |store: StoreContextMut<'_, HostState>,
         (id,): (u64,)|
         -> wasmtime::Result<(WitResult<()>,)> {
            let (inner, job) = (store.data().inner.clone(), store.data().ctx.job);
            Ok((inner.cancel(id, job).map_err(Into::into),))
        },
    )?;

    i.func_wrap(
        "retain",
        |mut store: StoreContextMut<'_, HostState>,
         (id,): (u64,)|
         -> wasmtime::Result<(WitResult<()>,)> {
            let state = store.data_mut();
            let r = state.inner.retain(id, state.ctx.job);
            if r.is_ok() {
                state.own(id);
            }
            Ok((r.map_err(Into::into),))
        },
    )?;

    i.func_wrap(
        "release",
        |mut store: StoreContextMut<'_, HostState>, (id,): (u64,)| -> wasmtime::Result<()> {
            let state = store.data_mut();
            // Only references this instance owns can be released: a guest
            // cannot free objects that others hold.
            let owned = match state.owned.get_mut(&id) {
                Some(n) => {
                    *n -= 1;
                    if *n == 0 {
                        state.owned.remove(&id);
                    }
                    true
                }
                None => false,
            };
            if owned {
                let woken = state.inner.lock().objects.release(id);
                crate::object_store::hit_signals(woken);
            }
            Ok(())
        },
    )?;

    i.func_wrap(
        "context",
        |store: StoreContextMut<'_, HostState>, (): ()| -> wasmtime::Result<(wit::TaskContext,)> {
            let state = store.data();
            let c = &state.ctx;
            Ok((wit::TaskContext {
                task_id: c.id,
                module: c.module.clone(),
                function: c.function.clone(),
                attempt: c.attempt,
                gpu_ids: c.gpu_ids.clone(),
                resources: amounts(&c.demand),
            },))
        },
    )?;

    i.func_wrap(
        "cluster-resources",
        |store: StoreContextMut<'_, HostState>,
         (): ()|
         -> wasmtime::Result<(Vec<wit::ResourceAmount>,)> {
            Ok((amounts(&store.data().inner.total_resources()),))
        },
    )?;

    i.func_wrap(
        "available-resources",
        |store: StoreContextMut<'_, HostState>,
         (): ()|
         -> wasmtime::Result<(Vec<wit::ResourceAmount>,)> {
            Ok((amounts(&store.data().inner.available_resources()),))
        },
    )?;

    i.func_wrap(
        "log",
        |mut store: StoreContextMut<'_, HostState>,
         (level, message): (wit::LogLevel, String)|
         -> wasmtime::Result<()> {
            let state = store.data_mut();
            let task = state.ctx.name.as_str();
            let module = state.ctx.module.as_str();
            match level {
                wit::LogLevel::Trace => {
                    tracing::trace!(target: "raylab::guest", module, task, "{message}")
                }
                wit::LogLevel::Debug => {
                    tracing::debug!(target: "raylab::guest", module, task, "{message}")
                }
                wit::LogLevel::Info => {
                    tracing::info!(target: "raylab::guest", module, task, "{message}")
                }
                wit::LogLevel::Warn => {
                    tracing::warn!(target: "raylab::guest", module, task, "{message}")
                }
                wit::LogLevel::Error => {
                    tracing::debug!(target: "raylab::guest", module, task, "error: {message}");
                    // Kept to explain a crash that follows (a panic message).
                    let mut m = message;
                    m.truncate(4096);
                    state.last_error = Some(m);
                }
            }
            Ok(())
        },
    )?;

    add_gpu_to_linker(linker)?;
    Ok(())
}

use crate::runtime::bindings::raylab::runtime::gpu as gpu_api;

fn to_spec(work: gpu_api::Dispatch) -> crate::gpu::DispatchSpec {
    use crate::gpu::{BufferKind, BufferSpec};
    crate::gpu::DispatchSpec {
        wgsl: work.wgsl,
        entry_point: work.entry_point,
        buffers: work
            .buffers
            .into_iter()
            .map(|b| BufferSpec {
                binding: b.binding,
                kind: match b.kind {
                    gpu_api::BufferKind::Uniform => BufferKind::Uniform,
                    gpu_api::BufferKind::Input => BufferKind::Input,
                    gpu_api::BufferKind::Output => BufferKind::Output,
                    gpu_api::BufferKind::InputOutput => BufferKind::InputOutput,
                },
                data: b.data,
                size: b.size,
            })
            .collect(),
        workgroups: work.workgroups,
    }
}

fn from_gpu_error(e: crate::gpu::GpuError) -> gpu_api::GpuError {
    use crate::gpu::GpuError as E;
    match e {
        E::NoGpu(m) => gpu_api::GpuError::NoGpu(m),
        E::InvalidShader(m) => gpu_api::GpuError::InvalidShader(m),
        E::BindingMismatch(m) => gpu_api::GpuError::BindingMismatch(m),
        E::OverQuota(m) => gpu_api::GpuError::OverQuota(m),
        E::DeviceLost(m) => gpu_api::GpuError::DeviceLost(m),
        E::Timeout(m) => gpu_api::GpuError::Timeout(m),
    }
}

/// The `raylab:runtime/gpu` imports.
fn add_gpu_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let mut i = linker.instance(GPU_INTERFACE)?;
    i.func_wrap_async(
        "run",
        |store: StoreContextMut<'_, HostState>, (work,): (gpu_api::Dispatch,)| {
            let state = store.data();
            let inner = state.inner.clone();
            let gpu = state.ctx.gpu_ids.first().copied();
            let task = state.ctx.name.clone();
            let deadline = state.ctx.deadline.map(|(d, _)| d);
            Box::new(async move {
                let Some(id) = gpu else {
                    let e = gpu_api::GpuError::NoGpu(format!(
                        "task `{task}` holds no GPU; declare one with the num_gpus option"
                    ));
                    return Ok((Err(e),));
                };
                let quota = inner.gpu_memory_quota();
                let r = inner
                    .gpu()
                    .run(id, to_spec(work), quota, deadline)
                    .await
                    .map_err(from_gpu_error);
                Ok((r,))
            })
        },
    )?;
    i.func_wrap(
        "device",
        |store: StoreContextMut<'_, HostState>,
         (): ()|
         -> wasmtime::Result<(Option<gpu_api::GpuInfo>,)> {
            let state = store.data();
            let info = state.ctx.gpu_ids.first().and_then(|id| {
                state.inner.gpu().device_for(*id).map(|d| gpu_api::GpuInfo {
                    id: *id,
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
