//! Submitting tasks: a remote call becomes a `TaskSpec` in the control
//! state, here or on another node; pinned tasks (actors' bodies); waiting
//! for a result.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::bindings::wit;
use crate::core::cancel::CancelFlag;
use crate::core::control::{JobId, NewTask};
use crate::core::object_store::ObjectId;
use crate::core::resources::Resources;
use crate::error::{ErrorKind, TaskError};
use crate::msgpack;
use crate::wasm::modules::{Isolation, Module};
use crate::wasm::sandbox::TaskCtx;

use super::{Body, HereFits, Strategy, TaskSpec, Tasks, WAIT_FOR_NODE, bounded_name};

impl Tasks {
    /// `submit` on behalf of the guest running `caller`: the id of the
    /// result object, one reference of which the caller now owns.
    pub(crate) fn submit(
        self: &Arc<Self>,
        caller: &TaskCtx,
        function: &str,
        args: Vec<u8>,
        options: wit::TaskOptions,
    ) -> Result<ObjectId, TaskError> {
        self.submit_as(caller.job, caller, function, args, options, None)
    }

    /// `submit` for `job` (the caller's, or another it acts for), with the
    /// task's own `body` when it is not a plain call. Returns the task's
    /// result object and its cancel flag.
    pub(crate) fn submit_as(
        self: &Arc<Self>,
        job: JobId,
        caller: &TaskCtx,
        function: &str,
        args: Vec<u8>,
        options: wit::TaskOptions,
        body: Option<Body>,
    ) -> Result<ObjectId, TaskError> {
        let strategy = if body.is_some() {
            // An actor lives where it was made (for now).
            Strategy::Here
        } else {
            Strategy::of(&options)
        };
        self.submit_placed(job, caller, function, args, options, body, strategy)
    }

    /// `submit_as` under a placement `strategy`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn submit_placed(
        self: &Arc<Self>,
        job: JobId,
        caller: &TaskCtx,
        function: &str,
        args: Vec<u8>,
        mut options: wit::TaskOptions,
        body: Option<Body>,
        mut strategy: Strategy,
    ) -> Result<ObjectId, TaskError> {
        let (module, fname) = self.modules.resolve(caller.job, &caller.module, function)?;
        let name: Arc<str> = match options.name.as_deref() {
            None if fname.len() <= super::MAX_NAME => fname.clone(),
            given => Arc::from(bounded_name(given.unwrap_or(&fname))),
        };
        let invalid = |m: String| TaskError::for_task(ErrorKind::InvalidArgument, &*name, m);
        let mut demand = Resources::none();
        demand
            .set("CPU", options.num_cpus.unwrap_or(1.0))
            .map_err(invalid)?;
        demand
            .set("GPU", options.num_gpus.unwrap_or(0.0))
            .map_err(invalid)?;
        if let Some(m) = options.memory {
            demand.set("memory", m as f64).map_err(invalid)?;
        }
        for r in &options.resources {
            if matches!(r.name.as_str(), "CPU" | "GPU" | "memory") {
                return Err(invalid(format!(
                    "set `{}` with its own option, not as a custom resource",
                    r.name
                )));
            }
            demand.set(&r.name, r.amount).map_err(invalid)?;
        }
        let placement = self
            .place_in_group(caller, job, &mut options, &mut demand, &mut strategy)
            .map_err(invalid)?;
        let layout =
            msgpack::parse_args(&args).map_err(|e| invalid(format!("bad argument list: {e}")))?;
        // A dependency on an object of another node (one a task placed here
        // borrows): a local mirror stands for it, filled from its owner.
        let mut args = args;
        let mut layout = layout;
        let mut mirrors = Vec::new();
        for (index, id) in layout.top_refs.iter_mut() {
            if self.owner_of(*id).is_none() {
                continue;
            }
            let mirror = self.mirror(job, *id);
            // The argument is exactly `d7 52 <8-byte id>`.
            let at = layout.items[*index].start + 2;
            args[at..at + 8].copy_from_slice(&mirror.get().to_be_bytes());
            *id = mirror;
            mirrors.push(mirror);
        }
        let deps: Vec<ObjectId> = layout.top_refs.iter().map(|(_, id)| *id).collect();
        let mut arg_refs = deps.clone();
        // Refs to objects of other nodes are held through their stubs.
        arg_refs.extend(layout.nested_refs.iter());
        let isolation = match options.isolation {
            Some(wit::Isolation::Fresh) => Isolation::Fresh,
            Some(wit::Isolation::Warm) => Isolation::Warm,
            None => self.defaults.isolation,
        };
        let remote = match (self.cluster.get(), &strategy) {
            (None, _) | (_, Strategy::Here) => None,
            (Some(cluster), _) => {
                let here = HereFits::of(&self.control, &demand);
                match cluster.place(&demand, &strategy, here) {
                    Ok(r) => r,
                    // No live node can hold it: it waits for one to join
                    // (as in Ray; `status` says so), unless pinned.
                    Err(m) if matches!(strategy, Strategy::Affinity { soft: false, .. }) => {
                        return Err(TaskError::for_task(ErrorKind::Infeasible, &*name, m));
                    }
                    Err(m) => {
                        tracing::warn!(task = %name, "waits for a node that can hold it: {m}");
                        Some(WAIT_FOR_NODE)
                    }
                }
            }
        };
        // Nested references are read from their owner by the node that
        // runs the task, through the id's owner bits; objects made before
        // this node joined its cluster have none: such a task runs here if
        // it can.
        let remote = match remote {
            Some(_)
                if layout
                    .nested_refs
                    .iter()
                    .any(|id| crate::core::object_store::owner_node(*id) == 0) =>
            {
                let ever = self.control.lock().total().fits(&demand);
                if !ever || matches!(strategy, Strategy::Affinity { soft: false, .. }) {
                    return Err(invalid(
                        "its arguments hold refs to objects made before this node joined its cluster, which cannot go to another node".into(),
                    ));
                }
                None
            }
            r => r.map(|node| {
                // Counted against that node from now (see `Reservation`).
                let reserved = (node != WAIT_FOR_NODE)
                    .then(|| self.cluster.get().map(|c| c.reserve(node, &demand)))
                    .flatten();
                Box::new((node, options.clone(), demand.clone(), reserved))
            }),
        };
        let id = self.next_task.fetch_add(1, Ordering::Relaxed);
        let cancelled = Arc::new(CancelFlag::default());
        let new = NewTask {
            id,
            job,
            name: name.clone(),
            demand,
            cancel: cancelled.clone(),
            deps: &deps,
            arg_refs: &arg_refs,
            max_alive: self.defaults.max_pending,
            // A task started for another job (a detached actor) shares
            // nobody's fate.
            parent: (!caller.is_driver && job == caller.job).then_some(caller.id),
            forwarded: remote.is_some(),
        };
        let timeout = match options.timeout_ms {
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
            None => self.defaults.timeout,
        };
        let memory_cap = options.memory.unwrap_or(self.defaults.memory);
        let row = self.table.submitted(
            id,
            job,
            name.clone(),
            memory_cap,
            timeout.map(|t| t.as_millis() as u64),
        );
        let submitted = self.control.lock().submit(new, |result| TaskSpec {
            id,
            job,
            module,
            function: fname,
            name: name.clone(),
            args,
            layout,
            arg_refs: arg_refs.clone(),
            result,
            max_retries: options.max_retries.unwrap_or(3),
            retry_exceptions: options.retry_exceptions.unwrap_or(false),
            isolation,
            memory_cap,
            timeout,
            cancelled,
            body,
            remote,
            row,
            placement,
        });
        // The task holds its mirrors now (or never will). (No lock when
        // there are none: a second lock per submit made the driver wait on
        // the workers' finishing tasks.)
        if !mirrors.is_empty() {
            self.control.lock().release_all(&mirrors);
        }
        let (result, starts) = submitted?;
        self.start(starts, true);
        Ok(result)
    }

    /// Run `function` of module `module` of `job` here, as a task of its
    /// own (with `options`, its argument list made of values), and wait
    /// for its result: how a node runs a task that another node placed on
    /// it. The references in the result are pinned for the caller (see
    /// [`Tasks::result_of`]).
    pub(crate) async fn run_pinned(
        self: &Arc<Self>,
        job: JobId,
        module: &str,
        function: &str,
        args: Vec<u8>,
        options: wit::TaskOptions,
    ) -> Result<Vec<u8>, TaskError> {
        let (result, _) = self.submit_pinned(job, module, function, args, options)?;
        self.result_of(job, result).await
    }

    /// Submit what [`Tasks::run_pinned`] runs; returns its result object
    /// (owned by the caller) and its name.
    pub(crate) fn submit_pinned(
        self: &Arc<Self>,
        job: JobId,
        module: &str,
        function: &str,
        args: Vec<u8>,
        options: wit::TaskOptions,
    ) -> Result<(ObjectId, String), TaskError> {
        let name = options.name.clone().unwrap_or_else(|| function.to_string());
        let caller = TaskCtx {
            is_driver: true,
            ..TaskCtx::new(job, module, "main", name.clone(), Arc::default())
        };
        let result =
            self.submit_placed(job, &caller, function, args, options, None, Strategy::Here)?;
        Ok((result, name))
    }

    /// Wait until object `id` of `job` is ready (holds its bytes or its
    /// error).
    pub(crate) async fn until_ready(&self, job: JobId, id: ObjectId) -> Result<(), TaskError> {
        let pending = {
            let mut c = self.control.lock();
            if c.ready(&[id], job)?.is_empty() {
                let signal = crate::core::object_store::Signal::new(1);
                c.notify_on(&[id], &signal);
                Some(signal)
            } else {
                None
            }
        };
        if let Some(signal) = pending {
            signal.fired().await;
        }
        Ok(())
    }

    /// Wait for object `result` of `job` (a task's result, whose reference
    /// the caller owns and gives up here) and take its bytes. The
    /// references inside are pinned first, one per occurrence: the caller
    /// owns those pins (to give them to the node it sends the bytes to,
    /// with [`Tasks::export`], or to release once the bytes are stored).
    pub(crate) async fn result_of(
        &self,
        job: JobId,
        result: ObjectId,
    ) -> Result<Vec<u8>, TaskError> {
        // An error here (an object it may not see) is the lookup's too.
        let _ = self.until_ready(job, result).await;
        let bytes = {
            let mut c = self.control.lock();
            let outcome = match c.lookup(result, job) {
                Ok(crate::core::object_store::Lookup::Ready(bytes)) => Ok(bytes),
                Ok(crate::core::object_store::Lookup::Failed(e)) => Err((*e).clone()),
                Ok(crate::core::object_store::Lookup::Pending) => Err(TaskError::new(
                    ErrorKind::Internal,
                    "a result pending after its task finished",
                )),
                Err(e) => Err(e),
            };
            if let Ok(bytes) = &outcome {
                c.pin(&msgpack::find_refs(bytes).unwrap_or_default());
            }
            c.release_all(&[result]);
            outcome
        }?;
        Ok(Arc::try_unwrap(bytes).unwrap_or_else(|b| (*b).clone()))
    }

    /// The module whose remote function `function` the guest running
    /// `caller` would call.
    pub(crate) fn resolve_module(
        &self,
        caller: &TaskCtx,
        function: &str,
    ) -> Result<Arc<Module>, TaskError> {
        self.modules
            .resolve(caller.job, &caller.module, function)
            .map(|(module, _)| module)
    }
}
