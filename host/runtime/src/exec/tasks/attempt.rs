//! Running a started task: its attempts in a sandbox (fresh, warm or a
//! spare instance made ahead), retries, and the outcome that completes
//! its result object.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use wasmtime::Store;
use wasmtime::component::Instance;

use crate::core::object_store::ObjectId;
use crate::core::resources::Resources;
use crate::core::scheduler::Start;
use crate::core::task_table::Figures;
use crate::error::{ErrorKind, TaskError};
use crate::msgpack;
use crate::wasm::modules::{Isolation, Module};
use crate::wasm::sandbox::{HostState, TaskCtx, classify_trap, interrupt, is_limit};

use super::{Grant, MAX_SPARES, Recipe, TaskSpec, Tasks, WAIT_FOR_NODE};

/// The result of one attempt of a task.
pub(super) struct Attempt {
    outcome: Result<(Vec<u8>, Vec<ObjectId>), TaskError>,
    /// The instance's store, dropped (releasing what it owns) only after
    /// the outcome is recorded.
    store: Option<Store<HostState>>,
    /// The instance, when it may serve another task (warm isolation).
    reusable: Option<Instance>,
}

impl Attempt {
    fn failed(e: TaskError, store: Option<Store<HostState>>) -> Self {
        Attempt {
            outcome: Err(e),
            store,
            reusable: None,
        }
    }
}

impl Tasks {
    /// Run one task to completion, with retries. Returns a task its end
    /// made startable, for this worker to run next (see [`Tasks::start`]).
    pub(super) async fn run(self: &Arc<Self>, start: Start<TaskSpec>) -> Option<Start<TaskSpec>> {
        let Start {
            id,
            demand,
            gpus,
            payload: mut spec,
            ..
        } = start;
        tracing::debug!(task = %spec.name, id, "started");
        let (lane, started_us) = (self.timeline.lane(), self.timeline.now_us());
        let ran_on = match spec.remote.as_deref() {
            // Placed once a node that can hold it joins.
            Some((WAIT_FOR_NODE, ..)) => Some(Arc::from("another node")),
            Some((node, ..)) => self.cluster.get().map(|c| Arc::from(c.name_of(*node))),
            None => None,
        };
        self.table
            .started(spec.id, ran_on.unwrap_or_else(|| self.label()));
        let (name, job) = (spec.name.clone(), spec.job);
        let record = |state: &'static str, attempts: u32| {
            self.timeline
                .record(name.clone(), job, id, lane, started_us, state, attempts)
        };
        let args = match self.resolve_args(&mut spec) {
            Ok(a) => a,
            Err(e) => {
                record("failed", 0);
                return self.finish(&spec, &demand, &gpus, Err(e), Default::default(), None);
            }
        };
        if let Some((node, options, wanted)) = spec
            .remote
            .as_deref()
            .map(|(node, options, wanted, _)| (*node, options.clone(), wanted.clone()))
        {
            let recipe = Recipe {
                job: spec.job,
                module: spec.module.clone(),
                function: spec.function.to_string(),
                name: spec.name.to_string(),
                args: Arc::new(args),
                options,
                demand: wanted,
            };
            let reserved = matches!(spec.remote.as_deref(), Some((_, _, _, Some(_))));
            let outcome = self
                .forward(node, &recipe, spec.cancelled.clone(), reserved)
                .await;
            let last = Some((None, outcome.as_ref().err().map(|e| e.to_string())));
            let outcome = outcome.map(|bytes| {
                let refs = msgpack::find_refs(&bytes).unwrap_or_default();
                // What made the objects of other nodes it refers to.
                self.remember(&recipe, &refs);
                (bytes, refs)
            });
            // The references it carried are given up once the result object
            // holds them. Its slice is in the timeline of the node that ran
            // it.
            let mut carried = crate::ids::IdMap::default();
            if let Ok((_, refs)) = &outcome {
                for id in refs {
                    *carried.entry(*id).or_insert(0) += 1;
                }
            }
            return self.finish(&spec, &demand, &gpus, outcome, carried, last);
        }
        if let Some(body) = spec.body.take() {
            let grant = Grant {
                args,
                demand: demand.clone(),
                gpu_ids: gpus.iter().map(|(id, _)| *id).collect(),
                placement: spec.placement,
                cancel: spec.cancelled.clone(),
            };
            body(grant).await;
            return self.finish(
                &spec,
                &demand,
                &gpus,
                Ok((vec![0xc0], Vec::new())),
                Default::default(),
                None,
            );
        }
        let mut attempt = 1;
        loop {
            let ctx = TaskCtx {
                id: spec.id,
                attempt,
                demand: demand.clone(),
                gpu_ids: gpus.iter().map(|(id, _)| *id).collect(),
                memory_cap: Some(spec.memory_cap),
                deadline: spec.timeout.map(|t| (Instant::now() + t, t)),
                placement: spec.placement,
                ..TaskCtx::new(
                    spec.job,
                    spec.module.shared_name.clone(),
                    spec.function.clone(),
                    spec.name.clone(),
                    spec.cancelled.clone(),
                )
            };
            let Attempt {
                outcome,
                mut store,
                reusable,
            } = self.attempt(&spec, ctx, &args).await;
            if let Some(store) = &store {
                store.data().flush_output();
            }
            let figures = (
                store.as_ref().map(|s| s.data().memory_size() as u64),
                outcome.as_ref().err().map(|e| e.to_string()),
            );
            let retry = match &outcome {
                Ok(_) => false,
                Err(e) if e.kind == ErrorKind::TaskCrashed => attempt <= spec.max_retries,
                Err(e) if e.kind == ErrorKind::TaskFailed => {
                    spec.retry_exceptions && attempt <= spec.max_retries
                }
                Err(_) => false,
            };
            if let (true, Err(e)) = (retry, &outcome) {
                tracing::debug!(task = %spec.name, attempt, "retrying: {e}");
                self.table.attempt(spec.id, figures.0, figures.1);
                drop(store);
                // What the failed attempt started goes with it; the next
                // attempt submits its own.
                let starts = self.control.lock().cancel_children(&spec);
                self.start(starts, false);
                attempt += 1;
                continue;
            }
            // The references the instance still owns are given back in the
            // same step that completes the result object, after the object
            // took the references inside it.
            let owned = store
                .as_mut()
                .map(|s| s.data_mut().refs.take())
                .unwrap_or_default();
            record(
                if outcome.is_ok() {
                    "finished"
                } else {
                    "failed"
                },
                attempt,
            );
            let next = self.finish(&spec, &demand, &gpus, outcome, owned, Some(figures));
            if let (Some(store), Some(instance)) = (store, reusable) {
                let limit = 2 * self.workers;
                spec.module.keep_warm(store, instance, limit);
            }
            return next;
        }
    }

    /// Keep `recipe` as what made the objects of other nodes among `refs`
    /// (see `lineage`), its arguments' references pinned meanwhile.
    pub(super) fn remember(&self, recipe: &Recipe, refs: &[ObjectId]) {
        let recorded = self.lineage.record(recipe, refs, |id| self.owner_of(id));
        let released = self.lineage.take_released();
        let mut c = self.control.lock();
        if recorded {
            c.pin(&msgpack::find_refs(&recipe.args).unwrap_or_default());
        }
        c.release_all(&released);
    }

    /// Make a spare fresh instance of `module` for its next task, on the
    /// worker pool (on a worker with nothing else to do, while this task
    /// runs): a task that finds one skips instantiation, the largest part
    /// of a fresh sandbox's cost (a few microseconds for a Rust guest, a
    /// millisecond for CPython). It is as fresh as one made at the task's
    /// start: no task has run in it. One per module, [`MAX_SPARES`] per
    /// node (each holds a sandbox of the engine's pool, from the part kept
    /// for what is not a task).
    pub(super) fn make_spare(&self, module: &Arc<Module>) {
        if self.spares.load(Ordering::Acquire) >= MAX_SPARES || !module.claim_spare() {
            return;
        }
        self.spares.fetch_add(1, Ordering::AcqRel);
        let (module, sandboxes, count) =
            (module.clone(), self.sandboxes.clone(), self.spares.clone());
        let ctx = TaskCtx {
            memory_cap: Some(self.defaults.memory),
            ..TaskCtx::new(
                module.job,
                module.name.clone(),
                "",
                module.name.clone(),
                Arc::default(),
            )
        };
        self.handle.spawn(async move {
            let mut store = sandboxes.store(ctx, &[]);
            let made = match module.pre.instantiate_async(&mut store).await {
                Ok(instance) => Some(crate::wasm::modules::Spare::new(store, instance, count)),
                Err(_) => {
                    count.fetch_sub(1, Ordering::AcqRel);
                    None
                }
            };
            module.put_spare(made);
        });
    }

    /// The argument list with dependencies replaced by their values.
    pub(super) fn resolve_args(&self, spec: &mut TaskSpec) -> Result<Vec<u8>, TaskError> {
        if spec.layout.top_refs.is_empty() {
            return Ok(std::mem::take(&mut spec.args));
        }
        let values = self
            .control
            .lock()
            .dependency_values(spec, spec.layout.top_refs.iter().map(|(_, id)| *id))?;
        let slices: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
        Ok(msgpack::substitute(&spec.args, &spec.layout, &slices))
    }

    /// One attempt. Returns the outcome (result bytes and the references
    /// they contain) and the instance used. The instance must outlive the
    /// completion of the result object, because references in the result
    /// are owned by the instance until the object takes them.
    pub(super) async fn attempt(&self, spec: &TaskSpec, ctx: TaskCtx, args: &[u8]) -> Attempt {
        let crashed = |m: String| TaskError::for_task(ErrorKind::TaskCrashed, &*spec.name, m);
        let Some(exports) = &spec.module.task else {
            let e = TaskError::for_task(
                ErrorKind::NoSuchFunction,
                &*spec.name,
                "module exports no remote functions",
            );
            return Attempt::failed(e, None);
        };
        let warm = spec.isolation == Isolation::Warm;
        let reused = if warm {
            spec.module.take_warm()
        } else {
            // A fresh instance made ahead of time, if it fits the task's
            // quota; and another for the next task, made meanwhile (unless
            // this module's tasks have quotas its spares do not fit).
            let mut fits = true;
            let spare = spec.module.take_spare().and_then(|s| {
                fits = ctx
                    .memory_cap
                    .is_none_or(|cap| s.memory_size() as u64 <= cap);
                fits.then(|| s.into_parts())
            });
            if fits {
                self.make_spare(&spec.module);
            }
            spare
        };
        let (mut store, instance) = match reused {
            Some((mut store, instance)) => {
                self.sandboxes.reuse(&mut store, ctx);
                (store, instance)
            }
            None => {
                let mut store = self.sandboxes.store(ctx, &[]);
                match spec.module.pre.instantiate_async(&mut store).await {
                    Ok(i) => (store, i),
                    Err(e) => {
                        let e = match e.downcast_ref::<crate::wasm::sandbox::SandboxLimit>() {
                            Some(limit) => limit.error(&spec.name),
                            None => crashed(format!("cannot instantiate: {e:#}")),
                        };
                        return Attempt::failed(e, Some(store));
                    }
                }
            }
        };
        let call = instance
            .get_typed_func::<(&str, &[u8]), (Result<Vec<u8>, String>,)>(&mut store, &exports.call);
        let call = match call {
            Ok(f) => f,
            Err(e) => {
                return Attempt::failed(crashed(format!("bad `call` export: {e:#}")), Some(store));
            }
        };
        let stop = interrupt(&store.data().ctx);
        let result = tokio::select! {
            biased;
            r = call.call_async(&mut store, (&spec.function, args)) => r,
            // Dropping the call abandons the guest where it is blocked;
            // the sandbox is thrown away.
            limit = stop => Err(wasmtime::Error::new(limit)),
        };
        let (outcome, healthy) = match result {
            Ok((Ok(bytes),)) => match msgpack::find_refs(&bytes) {
                Ok(refs) => (Ok((bytes, refs)), true),
                Err(e) => (
                    Err(crashed(format!("returned a malformed result: {e}"))),
                    false,
                ),
            },
            Ok((Err(message),)) => (
                Err(TaskError::for_task(
                    ErrorKind::TaskFailed,
                    &*spec.name,
                    message,
                )),
                true,
            ),
            Err(trap) => (
                Err(classify_trap(&spec.name, &trap, &store.data().last_error)),
                false,
            ),
        };
        // A time limit is a wall: whatever came back after it (say, from a
        // guest that caught the time-limit error of a `get`) is a
        // time-limit failure.
        // So is a cancel: a cancelled task that carries on and returns
        // (its `get` failed, and it coped) has still been cancelled, so what
        // it started goes too.
        let ctx = &store.data().ctx;
        let (outcome, healthy) = match ctx.deadline {
            _ if is_limit(&outcome) => (outcome, healthy),
            _ if ctx.cancelled.is_set() => (
                Err(crate::wasm::sandbox::SandboxLimit::Cancelled.error(&spec.name)),
                false,
            ),
            Some((at, limit)) if Instant::now() >= at => (
                Err(crate::wasm::sandbox::SandboxLimit::Time(limit).error(&spec.name)),
                false,
            ),
            _ => (outcome, healthy),
        };
        Attempt {
            outcome,
            store: Some(store),
            reusable: (warm && healthy).then_some(instance),
        }
    }

    /// Record the outcome of a task and start what can run now, all but
    /// one, which is returned for this worker to run next (see
    /// [`Tasks::start`]).
    pub(super) fn finish(
        self: &Arc<Self>,
        spec: &TaskSpec,
        demand: &Resources,
        gpus: &[(u32, u64)],
        outcome: Result<(Vec<u8>, Vec<ObjectId>), TaskError>,
        owned: crate::ids::ObjectMap<u32>,
        last: Option<Figures>,
    ) -> Option<Start<TaskSpec>> {
        match &outcome {
            Ok((bytes, _)) => {
                tracing::debug!(task = %spec.name, id = spec.id, bytes = bytes.len(), "finished")
            }
            Err(e) => tracing::debug!(task = %spec.name, id = spec.id, "failed: {e}"),
        }
        self.table.finished(&spec.row, outcome.is_ok(), last);
        let mut starts = self
            .control
            .lock()
            .finish(spec, demand, gpus, outcome, owned);
        let next = starts.pop();
        self.start(starts, false);
        next
    }
}
