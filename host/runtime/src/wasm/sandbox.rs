//! The sandbox: what one guest instance is given and held to.
//!
//! Each instance gets a wasmtime [`Store`] whose data is a [`HostState`]:
//! its identity ([`TaskCtx`]: task, job, attempt, resources, GPU ids), its
//! WASI context (capabilities: no files, environment or network unless the
//! node grants them), the object references it owns (given back when the
//! store is dropped, however the instance ended), and its limits: a memory
//! quota ([`Limiter`]), a deadline and a cancel flag, enforced by the
//! preemption tick while guest code runs and by [`interrupt`] while it is
//! blocked in a WASI call. [`Sandboxes`] makes such stores.
//!
//! Why an instance stopped is a [`SandboxLimit`] when the host stopped it;
//! [`classify_trap`] turns any trap into the error the caller sees.

use std::any::Any;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::core::cancel::{CancelFlag, Deadline};
use crate::core::control::{JobId, ReleaseRefs};
use crate::core::jobs::Jobs;
use crate::core::object_store::ObjectId;
use crate::core::resources::Resources;
use crate::core::scheduler::TaskId;
#[cfg(feature = "gpu")]
use crate::gpu::GpuView;
use crate::gpu::Gpus;
use crate::wasm::output::{Lines, Sink};

/// Period of the epoch tick that drives preemption and time limits.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// A host directory granted to every guest of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirGrant {
    /// The directory on the host.
    pub(crate) host: PathBuf,
    /// Where guests see it.
    pub(crate) guest: String,
    /// Guests may only read it.
    pub(crate) read_only: bool,
}

/// Who an instance is running for.
pub(crate) struct TaskCtx {
    pub(crate) id: TaskId,
    pub(crate) job: JobId,
    pub(crate) module: Arc<str>,
    pub(crate) function: Arc<str>,
    pub(crate) name: Arc<str>,
    pub(crate) attempt: u32,
    pub(crate) demand: Resources,
    pub(crate) gpu_ids: Vec<u32>,
    pub(crate) is_driver: bool,
    /// Memory quota of the instance, bytes (`None`: the engine's maximum).
    pub(crate) memory_cap: Option<u64>,
    /// When this attempt must stop, and its limit.
    pub(crate) deadline: Deadline,
    /// Set by `cancel`.
    pub(crate) cancelled: Arc<CancelFlag>,
    /// The placement group the task runs in (its children may go there
    /// too: see `Tasks::place_in_group`).
    pub(crate) placement: Option<crate::bindings::wit::Placement>,
    /// True while the task is inside a `get`/`wait` that lent its CPU: it
    /// must come out through that call (which gives the CPU back), so a
    /// time limit or cancel lets the call return rather than dropping it.
    pub(crate) lent: Arc<AtomicBool>,
}

impl TaskCtx {
    /// An instance of `module` running `function` as `name` for `job`,
    /// stopped by `cancelled`: a task's first attempt with no resources,
    /// quota, time limit or GPU. Each caller sets what differs
    /// (`TaskCtx { is_driver: true, ..TaskCtx::new(..) }`).
    pub(crate) fn new(
        job: JobId,
        module: impl Into<Arc<str>>,
        function: impl Into<Arc<str>>,
        name: impl Into<Arc<str>>,
        cancelled: Arc<CancelFlag>,
    ) -> Self {
        TaskCtx {
            id: 0,
            job,
            module: module.into(),
            function: function.into(),
            name: name.into(),
            attempt: 1,
            demand: Resources::none(),
            gpu_ids: Vec::new(),
            is_driver: false,
            memory_cap: None,
            deadline: None,
            cancelled,
            placement: None,
            lent: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// The object references an instance owns, with counts. Whatever is left
/// when the instance's store is dropped is given back.
pub(crate) struct OwnedRefs {
    owned: crate::ids::ObjectMap<u32>,
    sink: Arc<dyn ReleaseRefs>,
}

impl OwnedRefs {
    /// The instance now owns one more reference to `id`.
    pub(crate) fn own(&mut self, id: ObjectId) {
        *self.owned.entry(id).or_insert(0) += 1;
    }

    /// Give up one owned reference to `id`; false if the instance owns
    /// none (a guest cannot free objects that others hold).
    pub(crate) fn disown(&mut self, id: ObjectId) -> bool {
        match self.owned.get_mut(&id) {
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    self.owned.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Take every owned reference out (the caller releases them).
    pub(crate) fn take(&mut self) -> crate::ids::ObjectMap<u32> {
        std::mem::take(&mut self.owned)
    }
}

impl Drop for OwnedRefs {
    fn drop(&mut self) {
        if !self.owned.is_empty() {
            self.sink.release_owned(std::mem::take(&mut self.owned));
        }
    }
}

/// What every sandbox of a node shares.
pub(crate) struct Shared {
    /// Set when the node shuts down: every guest still running traps at
    /// its next preemption tick.
    pub(crate) stopped: AtomicBool,
    pub(crate) handle: tokio::runtime::Handle,
    pub(crate) gpus: Arc<Gpus>,
    release: Arc<dyn ReleaseRefs>,
}

/// The data of one wasmtime store: one guest instance.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) ctx: TaskCtx,
    pub(crate) refs: OwnedRefs,
    /// The last error-level log record (a panic message, usually).
    pub(crate) last_error: Option<String>,
    limiter: Limiter,
    shared: Arc<Shared>,
    /// The task's name as the network refusal names it (the WASI context
    /// is built once per store; a store made ahead of its task learns the
    /// name when it gets one). Lock order: a leaf.
    who: Arc<Mutex<Arc<str>>>,
    /// Its stdout and stderr.
    output: [Lines; 2],
    /// What the layer that runs the instance attaches to it (an actor's
    /// instance: its mailbox, for `next-calls`). Type-erased so that the
    /// sandbox knows nothing of the execution layer above it: see
    /// [`HostState::attach`] and [`HostState::attached`].
    attached: Option<Arc<dyn Any + Send + Sync>>,
}

impl HostState {
    /// The call running in this instance ended: what it printed without a
    /// line end goes out now.
    pub(crate) fn flush_output(&self) {
        for stream in &self.output {
            stream.flush_pending();
        }
    }
}

impl HostState {
    /// Attach `value` to this instance (replacing what was attached).
    pub(crate) fn attach<T: Any + Send + Sync>(&mut self, value: Arc<T>) {
        self.attached = Some(value);
    }

    /// What is attached to this instance, if it is a `T`.
    pub(crate) fn attached<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.attached.clone()?.downcast().ok()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[cfg(feature = "gpu")]
impl GpuView for HostState {
    fn gpus(&self) -> &Arc<Gpus> {
        &self.shared.gpus
    }
    fn gpu_id(&self) -> Option<u32> {
        self.ctx.gpu_ids.first().copied()
    }
    fn task_name(&self) -> &str {
        &self.ctx.name
    }
    fn deadline(&self) -> Option<Instant> {
        self.ctx.deadline.map(|(at, _)| at)
    }
}

/// A guest calling the runtime, as far as blocking calls need to know.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// What it gives back while blocked: its CPU, if it is a task holding
    /// one (the driver holds none).
    pub(crate) lendable: Option<Resources>,
    pub(crate) job: JobId,
    /// Ends a blocking call early when the caller is cancelled.
    pub(crate) cancel: Arc<CancelFlag>,
    /// Ends a blocking call early when the caller's time is up.
    pub(crate) deadline: Deadline,
    /// Set while the call has lent the caller's CPU.
    pub(crate) lent: Arc<AtomicBool>,
}

impl HostState {
    /// Who is calling, for a blocking call.
    pub(crate) fn caller(&self) -> Caller {
        Caller {
            lendable: if self.ctx.is_driver {
                None
            } else {
                self.ctx.demand.lendable()
            },
            job: self.ctx.job,
            cancel: self.ctx.cancelled.clone(),
            deadline: self.ctx.deadline,
            lent: self.ctx.lent.clone(),
        }
    }

    /// The instance's linear memory, bytes (the largest it grew to).
    pub(crate) fn memory_size(&self) -> usize {
        self.limiter.size
    }

    /// Keep an error-level log record to explain a crash that follows.
    pub(crate) fn note_error(&mut self, mut message: String) {
        message.truncate(4096);
        self.last_error = Some(message);
    }
}

/// Capabilities granted to every guest of a node (deny by default).
#[derive(Debug, Clone, Default)]
pub(crate) struct Grants {
    /// Host directories: (host, guest, read-only).
    pub(crate) dirs: Vec<DirGrant>,
    /// Environment variables.
    pub(crate) envs: Vec<(String, String)>,
}

/// Makes the stores of a node's instances.
pub(crate) struct Sandboxes {
    engine: Engine,
    grants: Grants,
    preemption: bool,
    jobs: Arc<Jobs>,
    shared: Arc<Shared>,
}

impl Sandboxes {
    pub(crate) fn new(
        engine: Engine,
        grants: Grants,
        preemption: bool,
        jobs: Arc<Jobs>,
        gpus: Arc<Gpus>,
        handle: tokio::runtime::Handle,
        release: Arc<dyn ReleaseRefs>,
    ) -> Self {
        Sandboxes {
            engine,
            grants,
            preemption,
            jobs,
            shared: Arc::new(Shared {
                stopped: AtomicBool::new(false),
                handle,
                gpus,
                release,
            }),
        }
    }

    /// What the sandboxes share.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Whether guests are preempted (and so time-limited).
    pub(crate) fn preemption(&self) -> bool {
        self.preemption
    }

    /// A store for an instance running for `ctx`; a driver also gets its
    /// arguments (after its own name).
    pub(crate) fn store(&self, ctx: TaskCtx, args: &[String]) -> Store<HostState> {
        let mut b = WasiCtxBuilder::new();
        // A job submitted to the head writes to its own log; `run` (job 0)
        // writes to the terminal. A task's streams hand on whole lines, a
        // driver's every write (see `output`).
        let log = self.jobs.output(ctx.job);
        let (out, err) = match &log {
            Some(log) => (Sink::Log(log.clone()), Sink::Log(log.clone())),
            None => (Sink::Stdout, Sink::Stderr),
        };
        let output = if ctx.is_driver {
            [Lines::pieces(out), Lines::pieces(err)]
        } else {
            [Lines::whole(out), Lines::whole(err)]
        };
        b.stdout(output[0].clone()).stderr(output[1].clone());
        b.monotonic_clock(crate::wasm::clocks::Monotonic);
        // `wasi:random/insecure-seed` seeds languages' hash maps (Rust's
        // `HashMap`). wasmtime draws a new one per sandbox, so iteration
        // order, and whatever a library derives from it, differed between
        // a job's driver and its tasks and from run to run: linfa-trees
        // breaks ties in hash-map order, so task4's trees scored differently
        // in its driver and its tasks about every other run. One seed per
        // job: the same program gives the same results, in every sandbox of
        // it and every run of `run`. (WASI allows a deterministic seed; the
        // hash-flooding it guards against could only slow the job's own
        // sandboxes, which their time limits bound. `wasi:random/random`
        // stays cryptographically random.)
        b.insecure_random_seed(insecure_seed(ctx.job));
        // No network: a module may import `wasi:sockets` (CPython's C
        // library does, whatever the program), but every address is
        // refused when used, and the attempt is said in the job's output
        // (the guest itself only sees "access denied"). Name lookups are
        // off.
        let who = Arc::new(Mutex::new(ctx.name.clone()));
        let named = who.clone();
        b.allow_tcp(true)
            .allow_udp(true)
            .allow_ip_name_lookup(false)
            .socket_addr_check(move |addr, use_| {
                let who = named.lock().map(|n| n.to_string()).unwrap_or_default();
                let line = format!(
                    "raylab: `{who}` was refused {use_:?} {addr}: raylab grants guests no network\n"
                );
                match &log {
                    Some(out) => out.push(line.as_bytes()),
                    None => eprint!("{line}"),
                }
                Box::pin(async { false })
            });
        if ctx.is_driver {
            b.arg(&ctx.module);
            b.args(args);
        }
        for (name, value) in &self.grants.envs {
            b.env(name, value);
        }
        for DirGrant {
            host,
            guest,
            read_only: readonly,
        } in &self.grants.dirs
        {
            let perms = if *readonly {
                wasmtime_wasi::FsPerms::ReadOnly
            } else {
                wasmtime_wasi::FsPerms::ReadWrite
            };
            // Checked when the runtime started; a directory that vanished
            // since is simply not granted.
            if let Err(e) = b.preopened_dir(host, guest, perms) {
                tracing::warn!("cannot grant {}: {e:#}", host.display());
            }
        }
        let state = HostState {
            wasi: b.build(),
            table: ResourceTable::new(),
            limiter: Limiter {
                cap: ctx.memory_cap,
                size: 0,
            },
            ctx,
            refs: OwnedRefs {
                owned: Default::default(),
                sink: self.shared.release.clone(),
            },
            last_error: None,
            shared: self.shared.clone(),
            who,
            output,
            attached: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        set_hostcall_fuel(&mut store);
        if self.preemption {
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(|ctx| {
                let state = ctx.data();
                let task = &state.ctx;
                if task.cancelled.is_set() || state.shared.stopped.load(Ordering::Relaxed) {
                    return Err(wasmtime::Error::new(SandboxLimit::Cancelled));
                }
                if let Some((deadline, limit)) = task.deadline
                    && Instant::now() >= deadline
                {
                    return Err(wasmtime::Error::new(SandboxLimit::Time(limit)));
                }
                crate::core::workers::on_tick(&state.shared.handle);
                // Let other tasks on this worker run, then carry on.
                Ok(wasmtime::UpdateDeadline::Yield(1))
            });
        }
        store
    }

    /// Ready an instance for its next call, its identity (`ctx`) already
    /// updated in place: a clean slate of the guest's last words, the fuel
    /// and the preemption deadline.
    pub(crate) fn renew(&self, store: &mut Store<HostState>) {
        store.data_mut().last_error = None;
        set_hostcall_fuel(store);
        if self.preemption {
            store.set_epoch_deadline(1);
        }
    }

    /// Give a warm instance's store (or a spare one's, made ahead of its
    /// task) to a new task.
    pub(crate) fn reuse(&self, store: &mut Store<HostState>, ctx: TaskCtx) {
        let state = store.data_mut();
        if let Ok(mut who) = state.who.lock() {
            *who = ctx.name.clone();
        }
        state.limiter.cap = ctx.memory_cap;
        state.ctx = ctx;
        state.last_error = None;
        set_hostcall_fuel(store);
        if self.preemption {
            store.set_epoch_deadline(1);
        }
    }
}

/// wasmtime limits the bytes one call between guest and host may copy
/// (its "hostcall fuel", 128 MiB by default) so that a guest cannot make the
/// host allocate without bound. Here every such copy comes out of, or goes
/// into, the guest's own memory, which its quota already bounds: the fuel
/// is set to the quota, so objects move up to the quotas.
fn set_hostcall_fuel(store: &mut Store<HostState>) {
    let fuel = store
        .data()
        .ctx
        .memory_cap
        .map_or(usize::MAX, |cap| usize::try_from(cap).unwrap_or(usize::MAX));
    // Room for the call's other arguments beside the largest object.
    store.set_hostcall_fuel(fuel.saturating_add(1 << 20));
}

/// The `wasi:random/insecure-seed` of job `job`'s sandboxes (see
/// `Sandboxes::store`): two SplitMix64 outputs seeded by the job id, a few
/// multiplies on the path of every fresh sandbox (a hash of the id cost
/// ~0.3 µs there).
fn insecure_seed(job: JobId) -> u128 {
    let mut rng = raylab_labkit::rng::SplitMix64::new(job.get() ^ 0x7261_796c_6162_7365);
    (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64())
}

mod limits;
#[cfg(test)]
mod tests;

pub(crate) use limits::{
    Limiter, SandboxLimit, classify_trap, interrupt, interrupt_moving, is_limit, trap_message,
};
