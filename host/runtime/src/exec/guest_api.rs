//! The `raylab:runtime/runtime` imports, as host functions: what a guest
//! calls to submit tasks, move objects and learn about its node.
//!
//! They are defined by hand on the linker (rather than through the
//! `bindgen!` host trait) for two reasons: `get` and `wait` are async and
//! need the whole store's data, and `get` returns the object's shared bytes
//! (`Arc<Vec<u8>>`) so that wasmtime copies them straight into guest memory
//! without an intermediate copy on the host. The record and enum types come
//! from `bindgen!` (`bindings`), so the signatures still follow
//! `wit/runtime.wit`; a mismatch fails at link time in every test that
//! instantiates a guest.
//!
//! Each function is a thin translation: it reads who is calling from the
//! instance's [`HostState`] and asks the task service ([`Tasks`]) or the
//! object service ([`Objects`]) through their methods. The functions hold
//! those services weakly: the node owns them, and a module (which holds
//! the linker's functions through its pre-instantiation) must not keep the
//! node alive.

use std::sync::{Arc, Weak};
use std::time::Duration;

use wasmtime::StoreContextMut;
use wasmtime::component::Linker;

use crate::bindings::{RUNTIME_INTERFACE, wit};
use crate::core::resources::Resources;
use crate::error::{ErrorKind, TaskError};
use crate::exec::actors::{Actors, Mailbox};
use crate::exec::objects::Objects;
use crate::exec::tasks::Tasks;
use crate::ids::ObjectId;
use crate::wasm::sandbox::HostState;

/// The services guests reach, held weakly.
#[derive(Clone)]
pub(crate) struct Services {
    pub(crate) tasks: Weak<Tasks>,
    pub(crate) objects: Weak<Objects>,
    pub(crate) actors: Weak<Actors>,
}

fn gone() -> TaskError {
    TaskError::new(ErrorKind::Internal, "the node is shutting down")
}

impl Services {
    fn tasks(&self) -> Result<Arc<Tasks>, TaskError> {
        self.tasks.upgrade().ok_or_else(gone)
    }
    fn objects(&self) -> Result<Arc<Objects>, TaskError> {
        self.objects.upgrade().ok_or_else(gone)
    }
    fn actors(&self) -> Result<Arc<Actors>, TaskError> {
        self.actors.upgrade().ok_or_else(gone)
    }
}

fn amounts(r: &Resources) -> Vec<wit::ResourceAmount> {
    r.entries()
        .into_iter()
        .map(|(name, amount)| wit::ResourceAmount { name, amount })
        .collect()
}

type WitResult<T> = Result<T, wit::Error>;

/// A reference made for the calling instance (a new object, handle or
/// group): the instance owns it (given back when its store is dropped,
/// however it ends), and the guest gets its id.
fn owned(state: &mut HostState, r: Result<ObjectId, TaskError>) -> WitResult<u64> {
    if let Ok(id) = r {
        state.refs.own(id);
    }
    r.map(ObjectId::get).map_err(Into::into)
}

fn timeout(ms: Option<u64>) -> Option<Duration> {
    ms.map(Duration::from_millis)
}

/// Add the runtime interface to `linker`.
pub(crate) fn add_to_linker(
    linker: &mut Linker<HostState>,
    services: &Services,
) -> wasmtime::Result<()> {
    let mut i = linker.instance(RUNTIME_INTERFACE)?;

    let s = services.clone();
    i.func_wrap(
        "submit",
        move |mut store: StoreContextMut<'_, HostState>,
              (function, args, options): (String, Vec<u8>, wit::TaskOptions)|
              -> wasmtime::Result<(WitResult<u64>,)> {
            let journal = store
                .data()
                .attached::<crate::exec::journal::DriverJournal>();
            let state = store.data_mut();
            let r = s.tasks().and_then(|t| match journal {
                // A journaled driver's calls (see `journal`).
                Some(j) if state.ctx.is_driver => {
                    t.submit_journaled(&state.ctx, &j, &function, args, options)
                }
                _ => t.submit(&state.ctx, &function, args, options),
            });
            Ok((owned(state, r),))
        },
    )?;

    let s = services.clone();
    i.func_wrap(
        "put-split",
        move |mut store: StoreContextMut<'_, HostState>,
              (head, body): (Vec<u8>, wasmtime::component::WasmList<u8>)|
              -> wasmtime::Result<(WitResult<u64>,)> {
            // One copy of the body, from the guest's memory straight behind
            // the header (lifting it whole first would copy it twice).
            let body = body.as_le_slice(&store);
            let mut data = Vec::with_capacity(head.len() + body.len());
            data.extend_from_slice(&head);
            data.extend_from_slice(body);
            let state = store.data_mut();
            let r = s.objects().and_then(|o| o.put(state.ctx.job, data));
            Ok((owned(state, r),))
        },
    )?;

    let s = services.clone();
    i.func_wrap(
        "put",
        move |mut store: StoreContextMut<'_, HostState>,
              (data,): (Vec<u8>,)|
              -> wasmtime::Result<(WitResult<u64>,)> {
            let state = store.data_mut();
            let r = s.objects().and_then(|o| o.put(state.ctx.job, data));
            Ok((owned(state, r),))
        },
    )?;

    let s = services.clone();
    i.func_wrap_async(
        "get",
        move |store: StoreContextMut<'_, HostState>, (id, timeout_ms): (u64, Option<u64>)| {
            let id = ObjectId::new(id);
            let caller = store.data().caller();
            let objects = s.objects();
            Box::new(async move {
                let r: WitResult<Arc<Vec<u8>>> = match objects {
                    Ok(o) => o.get(caller, id, timeout(timeout_ms)).await,
                    Err(e) => Err(e),
                }
                .map_err(Into::into);
                Ok((r,))
            })
        },
    )?;

    let s = services.clone();
    i.func_wrap_async(
        "get-many",
        move |store: StoreContextMut<'_, HostState>, (ids, timeout_ms): (Vec<u64>, Option<u64>)| {
            let ids: Vec<ObjectId> = ids.into_iter().map(ObjectId::new).collect();
            let caller = store.data().caller();
            let objects = s.objects();
            Box::new(async move {
                let r: WitResult<Vec<Arc<Vec<u8>>>> = match objects {
                    Ok(o) => o.get_many(caller, &ids, timeout(timeout_ms)).await,
                    Err(e) => Err(e),
                }
                .map_err(Into::into);
                Ok((r,))
            })
        },
    )?;

    let s = services.clone();
    i.func_wrap_async(
        "get-range",
        move |store: StoreContextMut<'_, HostState>,
              (id, offset, len, timeout_ms): (u64, u64, u64, Option<u64>)| {
            let id = ObjectId::new(id);
            let caller = store.data().caller();
            let objects = s.objects();
            Box::new(async move {
                let r: WitResult<Vec<u8>> = match objects {
                    Ok(o) => {
                        o.get_range(caller, id, offset, len, timeout(timeout_ms))
                            .await
                    }
                    Err(e) => Err(e),
                }
                .map_err(Into::into);
                Ok((r,))
            })
        },
    )?;

    let s = services.clone();
    i.func_wrap_async(
        "wait",
        move |store: StoreContextMut<'_, HostState>,
              (ids, num_ready, timeout_ms): (Vec<u64>, u32, Option<u64>)| {
            let ids: Vec<ObjectId> = ids.into_iter().map(ObjectId::new).collect();
            let caller = store.data().caller();
            let objects = s.objects();
            Box::new(async move {
                let r: WitResult<Vec<u64>> = match objects {
                    Ok(o) => o
                        .wait(caller, &ids, num_ready as usize, timeout(timeout_ms))
                        .await
                        .map(|ready| ready.into_iter().map(ObjectId::get).collect()),
                    Err(e) => Err(e),
                }
                .map_err(Into::into);
                Ok((r,))
            })
        },
    )?;

    let s = services.clone();
    i.func_wrap(
        "cancel",
        move |store: StoreContextMut<'_, HostState>,
              (id,): (u64,)|
              -> wasmtime::Result<(WitResult<()>,)> {
            let job = store.data().ctx.job;
            let r = s.tasks().and_then(|t| t.cancel(ObjectId::new(id), job));
            Ok((r.map_err(Into::into),))
        },
    )?;

    let s = services.clone();
    i.func_wrap(
        "retain",
        move |mut store: StoreContextMut<'_, HostState>,
              (id,): (u64,)|
              -> wasmtime::Result<(WitResult<()>,)> {
            let id = ObjectId::new(id);
            let state = store.data_mut();
            let r = s.objects().and_then(|o| o.retain(id, state.ctx.job));
            if r.is_ok() {
                state.refs.own(id);
            }
            Ok((r.map_err(Into::into),))
        },
    )?;

    let s = services.clone();
    i.func_wrap(
        "release",
        move |mut store: StoreContextMut<'_, HostState>, (id,): (u64,)| -> wasmtime::Result<()> {
            // Only references this instance owns can be released: a guest
            // cannot free objects that others hold.
            let id = ObjectId::new(id);
            if store.data_mut().refs.disown(id)
                && let Ok(o) = s.objects()
            {
                o.release(id);
            }
            Ok(())
        },
    )?;

    let s = services.clone();
    i.func_wrap(
        "context",
        move |store: StoreContextMut<'_, HostState>,
              (): ()|
              -> wasmtime::Result<(wit::TaskContext,)> {
            let node = s.tasks().map_or_else(|_| "local".into(), |t| t.node_name());
            let c = &store.data().ctx;
            Ok((wit::TaskContext {
                task_id: c.id,
                module: c.module.to_string(),
                function: c.function.to_string(),
                attempt: c.attempt,
                gpu_ids: c.gpu_ids.clone(),
                resources: amounts(&c.demand),
                node,
                placement: c.placement,
            },))
        },
    )?;

    let s = services.clone();
    i.func_wrap(
        "set-node-resources",
        move |store: StoreContextMut<'_, HostState>,
              (wanted,): (Vec<wit::ResourceAmount>,)|
              -> wasmtime::Result<(WitResult<()>,)> {
            let amounts: Vec<(String, f64)> =
                wanted.into_iter().map(|r| (r.name, r.amount)).collect();
            let r = s
                .tasks()
                .and_then(|t| t.set_node_resources(&store.data().ctx, &amounts));
            Ok((r.map_err(Into::into),))
        },
    )?;

    let s = services.clone();
    i.func_wrap(
        "create-placement-group",
        move |mut store: StoreContextMut<'_, HostState>,
              (bundles, strategy, name, detached): (
            Vec<Vec<wit::ResourceAmount>>,
            wit::PlacementStrategy,
            Option<String>,
            bool,
        )|
              -> wasmtime::Result<(WitResult<u64>,)> {
            let state = store.data_mut();
            let r = s.tasks().and_then(|t| {
                t.create_placement_group(&state.ctx, bundles, strategy, name, detached)
            });
            Ok((owned(state, r),))
        },
    )?;

    let s = services.clone();
    i.func_wrap(
        "remove-placement-group",
        move |store: StoreContextMut<'_, HostState>,
              (group,): (u64,)|
              -> wasmtime::Result<(WitResult<()>,)> {
            let r = s
                .tasks()
                .and_then(|t| t.remove_placement_group(&store.data().ctx, ObjectId::new(group)));
            Ok((r.map_err(Into::into),))
        },
    )?;

    let s = services.clone();
    i.func_wrap(
        "describe-placement-group",
        move |store: StoreContextMut<'_, HostState>,
              (group,): (u64,)|
              -> wasmtime::Result<(Option<wit::PlacementGroupInfo>,)> {
            let info = s
                .tasks()
                .ok()
                .and_then(|t| t.placement_group_info(&store.data().ctx, ObjectId::new(group)));
            Ok((info,))
        },
    )?;

    let s = services.clone();
    i.func_wrap(
        "find-placement-group",
        move |store: StoreContextMut<'_, HostState>,
              (name,): (String,)|
              -> wasmtime::Result<(Option<u64>,)> {
            let id = s
                .tasks()
                .ok()
                .and_then(|t| t.find_placement_group(&store.data().ctx, &name));
            Ok((id.map(ObjectId::get),))
        },
    )?;

    for (name, available) in [("cluster-resources", false), ("available-resources", true)] {
        let s = services.clone();
        i.func_wrap(
            name,
            move |_: StoreContextMut<'_, HostState>,
                  (): ()|
                  -> wasmtime::Result<(Vec<wit::ResourceAmount>,)> {
                let r = match s.tasks() {
                    Ok(t) if available => t.available_resources(),
                    Ok(t) => t.total_resources(),
                    Err(_) => Resources::none(),
                };
                Ok((amounts(&r),))
            },
        )?;
    }

    i.func_wrap(
        "log",
        |mut store: StoreContextMut<'_, HostState>,
         (level, message): (wit::LogLevel, String)|
         -> wasmtime::Result<()> {
            let state = store.data_mut();
            let task = &*state.ctx.name;
            let module = &*state.ctx.module;
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
                    state.note_error(message);
                }
            }
            Ok(())
        },
    )?;

    add_actors(&mut i, services)?;
    #[cfg(feature = "gpu")]
    crate::gpu::add_to_linker(linker)?;
    Ok(())
}

/// The actor functions of the runtime interface.
fn add_actors(
    i: &mut wasmtime::component::LinkerInstance<'_, HostState>,
    services: &Services,
) -> wasmtime::Result<()> {
    let s = services.clone();
    // Async: an actor placed on another node is made there first.
    i.func_wrap_async(
        "create-actor",
        move |mut store: StoreContextMut<'_, HostState>,
              (class, args, options): (String, Vec<u8>, wit::ActorOptions)| {
            let actors = s.actors();
            Box::new(async move {
                let actors = match actors {
                    Ok(a) => a,
                    Err(e) => return Ok((Err(e.into()),)),
                };
                // A name another node has is refused first.
                if let Some(name) = &options.name
                    && let Err(e) = actors.name_free_elsewhere(store.data().ctx.job, name).await
                {
                    return Ok((Err(e.into()),));
                }
                let made = actors.create(&store.data().ctx, &class, args, options);
                let r = made.await;
                Ok((owned(store.data_mut(), r),))
            })
        },
    )?;

    let s = services.clone();
    i.func_wrap(
        "call-actor",
        move |mut store: StoreContextMut<'_, HostState>,
              (actor, method, args): (u64, String, Vec<u8>)|
              -> wasmtime::Result<(WitResult<u64>,)> {
            let state = store.data_mut();
            let r = s
                .actors()
                .and_then(|a| a.call(state.ctx.job, ObjectId::new(actor), &method, args));
            Ok((owned(state, r),))
        },
    )?;

    let s = services.clone();
    i.func_wrap(
        "kill-actor",
        move |store: StoreContextMut<'_, HostState>,
              (actor,): (u64,)|
              -> wasmtime::Result<(WitResult<()>,)> {
            let job = store.data().ctx.job;
            let r = s.actors().and_then(|a| a.kill(job, ObjectId::new(actor)));
            Ok((r.map_err(Into::into),))
        },
    )?;

    let s = services.clone();
    // Async: a name not known here is asked of the other nodes.
    i.func_wrap_async(
        "get-actor",
        move |mut store: StoreContextMut<'_, HostState>, (name,): (String,)| {
            let found = s.actors().map(|a| a.get(store.data().ctx.job, &name));
            Box::new(async move {
                let r = match found {
                    Ok(found) => found.await,
                    Err(e) => Err(e),
                };
                Ok((owned(store.data_mut(), r),))
            })
        },
    )?;

    let s = services.clone();
    i.func_wrap_async(
        "next-calls",
        move |mut store: StoreContextMut<'_, HostState>, (max, timeout_ms): (u32, Option<u64>)| {
            let actors = s.actors();
            Box::new(async move {
                let (Some(mailbox), Ok(actors)) = (store.data().attached::<Mailbox>(), actors)
                else {
                    let closed = wit::ActorMail {
                        calls: Vec::new(),
                        cancelled: Vec::new(),
                        closed: true,
                    };
                    return Ok((closed,));
                };
                // No time limit while it waits for calls; the limit counts
                // again from when it runs guest code.
                store.data_mut().ctx.deadline = mailbox.set_waiting(true);
                let mail = actors.next_calls(&mailbox, max, timeout(timeout_ms)).await;
                store.data_mut().ctx.deadline = mailbox.set_waiting(false);
                Ok((mail,))
            })
        },
    )?;

    let s = services.clone();
    i.func_wrap(
        "finish-call",
        move |store: StoreContextMut<'_, HostState>,
              (id, result): (u64, Result<Vec<u8>, String>)|
              -> wasmtime::Result<()> {
            if let (Some(m), Ok(a)) = (store.data().attached::<Mailbox>(), s.actors()) {
                a.finish_call(&m, id, result);
            }
            Ok(())
        },
    )?;
    Ok(())
}
