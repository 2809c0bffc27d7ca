//! Modules: loading a component and finding its exports, and the registry
//! of loaded modules by name.
//!
//! Loading compiles the component (or takes it from the compile cache),
//! checks that it belongs to the raylab world (it exports
//! `raylab:runtime/task`, `wasi:cli/run` or both, and imports nothing
//! raylab does not grant), pre-instantiates it against the node's linker
//! ([`InstancePre`]: a fresh sandbox per task then costs microseconds) and
//! asks it once, in a throwaway instance, for the names of its remote
//! functions, so that a call of a function that does not exist fails at
//! `submit`. A module also keeps the warm instances that `isolation =
//! warm` tasks reuse, and one *spare*: a fresh instance made ahead of time
//! (see `Tasks::attempt`), which no task has run in yet.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use wasmtime::component::{ComponentExportIndex, Instance, InstancePre, Linker};
use wasmtime::{Engine, Store};

use crate::core::control::JobId;
use crate::error::{ErrorKind, LoadError, TaskError};
use crate::wasm::engine;
use crate::wasm::sandbox::{HostState, Sandboxes, TaskCtx, trap_message};

/// Fresh or warm sandboxes for remote tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// A fresh instance per task: nothing survives from one task to the next.
    #[default]
    Fresh,
    /// Reuse warm instances of a module: faster, but a guest's globals and
    /// heap survive between tasks of the same module. Trapped instances are
    /// never reused.
    Warm,
}

impl Isolation {
    /// Every value, as `FromStr` spells it.
    pub const NAMES: [&str; 2] = ["fresh", "warm"];
}

impl std::str::FromStr for Isolation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fresh" => Ok(Isolation::Fresh),
            "warm" => Ok(Isolation::Warm),
            other => Err(format!("unknown isolation `{other}` (fresh or warm)")),
        }
    }
}

/// Export indices of `raylab:runtime/task`.
pub(crate) struct TaskExports {
    pub(crate) call: ComponentExportIndex,
    functions: ComponentExportIndex,
}

/// A loaded module.
pub(crate) struct Module {
    pub(crate) name: String,
    /// SHA-256 of its bytes (hex): its name in the cluster's module store.
    pub(crate) digest: String,
    /// The job it was loaded for: only that job's guests can call it.
    pub(crate) job: JobId,
    pub(crate) pre: InstancePre<HostState>,
    /// Its remote functions' entry, if it has any.
    pub(crate) task: Option<TaskExports>,
    /// Its driver entry (`wasi:cli/run`), if it has one.
    pub(crate) run: Option<ComponentExportIndex>,
    /// Its remote functions' names, shared: every task of a function
    /// shares its name (in its record, its sandbox's context, its row and
    /// timeline slice) instead of copying it a few times per task.
    pub(crate) functions: Vec<Arc<str>>,
    /// `name`, shared (each task's sandbox context names its module).
    pub(crate) shared_name: Arc<str>,
    /// Whether it imports the GPU broker.
    pub(crate) uses_gpu: bool,
    /// Idle instances for warm tasks; they own no references, so dropping
    /// them takes no lock. Lock order: a leaf.
    warm: Mutex<Vec<(Store<HostState>, Instance)>>,
    /// A fresh instance made ahead of its task, and whether one is being
    /// made. Lock order: a leaf.
    spare: Mutex<Option<Spare>>,
    making_spare: AtomicBool,
}

/// A spare instance, counted in the node's total of spares while it lives.
pub(crate) struct Spare {
    parts: Option<(Store<HostState>, Instance)>,
    count: Arc<std::sync::atomic::AtomicUsize>,
}

impl Spare {
    /// A spare counted in `count` (which the caller raised).
    pub(crate) fn new(
        store: Store<HostState>,
        instance: Instance,
        count: Arc<std::sync::atomic::AtomicUsize>,
    ) -> Spare {
        Spare {
            parts: Some((store, instance)),
            count,
        }
    }

    /// Its linear memory, bytes.
    pub(crate) fn memory_size(&self) -> usize {
        self.parts
            .as_ref()
            .map_or(0, |(s, _)| s.data().memory_size())
    }

    /// Its store and instance, for a task (no longer a spare).
    pub(crate) fn into_parts(mut self) -> (Store<HostState>, Instance) {
        self.parts
            .take()
            .expect("a spare has its parts until taken")
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        self.count.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Module {
    /// A warm instance to reuse, if one is idle.
    pub(crate) fn take_warm(&self) -> Option<(Store<HostState>, Instance)> {
        self.warm.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    /// The spare fresh instance, if one is ready.
    pub(crate) fn take_spare(&self) -> Option<Spare> {
        self.spare.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Start making a spare, unless one is ready or being made: true if the
    /// caller should make it (and then [`Module::put_spare`] it).
    pub(crate) fn claim_spare(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.spare
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
            && !self.making_spare.swap(true, Ordering::AcqRel)
    }

    /// The spare the caller claimed is made (or could not be).
    pub(crate) fn put_spare(&self, made: Option<Spare>) {
        *self.spare.lock().unwrap_or_else(|p| p.into_inner()) = made;
        self.making_spare
            .store(false, std::sync::atomic::Ordering::Release);
    }

    /// Keep an instance for reuse, unless `limit` are kept already.
    pub(crate) fn keep_warm(&self, store: Store<HostState>, instance: Instance, limit: usize) {
        let mut warm = self.warm.lock().unwrap_or_else(|p| p.into_inner());
        if warm.len() < limit {
            warm.push((store, instance));
        }
    }
}

/// Time a module may take to list its remote functions.
const LIST_FUNCTIONS_LIMIT: Duration = Duration::from_secs(10);

fn loader_ctx(module: &str, memory_cap: u64) -> TaskCtx {
    TaskCtx {
        is_driver: true,
        memory_cap: Some(memory_cap),
        deadline: Some((Instant::now() + LIST_FUNCTIONS_LIMIT, LIST_FUNCTIONS_LIMIT)),
        ..TaskCtx::new(JobId::new(0), module, "functions", "load", Arc::default())
    }
}

/// Compile and check `bytes` as module `name` of `job`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn load(
    engine: &Engine,
    linker: &Linker<HostState>,
    sandboxes: &Sandboxes,
    job: JobId,
    name: &str,
    bytes: &[u8],
    cache_dir: Option<&Path>,
    compiler: Option<Arc<dyn engine::ModuleCompiler>>,
    memory_cap: u64,
) -> Result<Module, LoadError> {
    // The raylab world, checked on the component's own declarations before
    // any compile work: it exports `raylab:runtime/task`, `wasi:cli/run` or
    // both, and imports nothing raylab does not grant.
    engine::check_header(name, bytes)?;
    let surface = engine::surface(name, bytes)?;
    let task_name = surface
        .exports
        .iter()
        .find(|e| e.starts_with("raylab:runtime/task@0.1."))
        .cloned();
    let run_name = surface
        .exports
        .iter()
        .find(|e| e.starts_with("wasi:cli/run@0.2."))
        .cloned();
    if task_name.is_none() && run_name.is_none() {
        return Err(LoadError::NotRaylab {
            name: name.to_string(),
            exports: if surface.exports.is_empty() {
                "none".into()
            } else {
                surface.exports.join(", ")
            },
        });
    }
    // Cranelift (or the compile cache's file I/O) on the blocking pool,
    // never on an async worker: a compile takes seconds.
    let compiled = {
        let (engine, owned_name, bytes, cache_dir) = (
            engine.clone(),
            name.to_string(),
            bytes.to_vec(),
            cache_dir.map(Path::to_path_buf),
        );
        tokio::task::spawn_blocking(move || {
            engine::compile(
                &engine,
                &owned_name,
                &bytes,
                cache_dir.as_deref(),
                compiler.as_deref(),
            )
        })
        .await
        .map_err(|e| LoadError::Compile {
            name: name.to_string(),
            message: format!("the compile stopped: {e}"),
        })??
    };
    let component = &compiled.component;
    let link_err = |message: String| LoadError::Link {
        name: name.to_string(),
        message,
    };
    let func_index = |iface: &str, func: &str| -> Result<ComponentExportIndex, LoadError> {
        let (_, inst) = component
            .get_export(None, iface)
            .ok_or_else(|| link_err(format!("export `{iface}` not found")))?;
        let (_, f) = component
            .get_export(Some(&inst), func)
            .ok_or_else(|| link_err(format!("`{iface}` does not export `{func}`")))?;
        Ok(f)
    };
    let task = match &task_name {
        Some(iface) => Some(TaskExports {
            call: func_index(iface, "call")?,
            functions: func_index(iface, "functions")?,
        }),
        None => None,
    };
    let run = match &run_name {
        Some(iface) => Some(func_index(iface, "run")?),
        None => None,
    };
    let uses_gpu = surface
        .imports
        .iter()
        .any(|i| i.starts_with("raylab:runtime/gpu@"));
    if uses_gpu && !cfg!(feature = "gpu") {
        return Err(link_err(
            "it imports `raylab:runtime/gpu`, but this build of raylab has no GPU support \
             (the `gpu` cargo feature)"
                .into(),
        ));
    }
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| link_err(format!("{e:#}")))?;
    let mut module = Module {
        name: name.to_string(),
        shared_name: Arc::from(name),
        digest: engine::digest(bytes),
        job,
        pre,
        task,
        run,
        functions: Vec::new(),
        uses_gpu,
        warm: Mutex::new(Vec::new()),
        spare: Mutex::new(None),
        making_spare: AtomicBool::new(false),
    };
    if let Some(task) = &module.task {
        // Ask the module for its function list, in a throwaway instance.
        let functions = task.functions;
        let mut store = sandboxes.store(loader_ctx(name, memory_cap), &[]);
        let instance = module
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| link_err(format!("{e:#}")))?;
        let f = instance
            .get_typed_func::<(), (Vec<String>,)>(&mut store, &functions)
            .map_err(|e| link_err(format!("`functions` has the wrong type: {e:#}")))?;
        let (names,) = f
            .call_async(&mut store, ())
            .await
            .map_err(|e| LoadError::Link {
                name: name.to_string(),
                message: format!(
                    "listing its remote functions trapped: {}",
                    trap_message(&e, &store.data().last_error)
                ),
            })?;
        module.functions = names.iter().map(|n| Arc::from(n.as_str())).collect();
    }
    tracing::debug!(module = name, functions = ?module.functions, driver = module.run.is_some(), "loaded");
    compiled.remember(name);
    Ok(module)
}

/// The loaded modules of a node, by name.
#[derive(Default)]
pub(crate) struct Modules {
    /// Lock order: a leaf (after `Remote::guests`); a module dropped under
    /// it drops only instances that own no references.
    by_name: RwLock<HashMap<String, Arc<Module>>>,
}

impl Modules {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Module>>> {
        self.by_name.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Module>>> {
        self.by_name.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The module named `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<Module>> {
        self.read().get(name).cloned()
    }

    /// Whether a module of that name is loaded.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.read().contains_key(name)
    }

    /// Add a module; an error if its name is taken.
    pub(crate) fn insert(&self, module: Module) -> Result<(), LoadError> {
        let mut by_name = self.write();
        if by_name.contains_key(&module.name) {
            return Err(LoadError::Duplicate {
                name: module.name.clone(),
            });
        }
        by_name.insert(module.name.clone(), Arc::new(module));
        Ok(())
    }

    /// Unload a module (tasks still running keep their own reference).
    pub(crate) fn remove(&self, name: &str) {
        self.write().remove(name);
    }

    /// Whether any loaded module imports the GPU interface.
    pub(crate) fn any_uses_gpu(&self) -> bool {
        self.read().values().any(|m| m.uses_gpu)
    }

    /// Resolve `function` as seen from module `caller` of `job`: `name` is
    /// a function of the caller's own module, `module/name` one of another
    /// module of the same job. Other jobs' modules look as if they were not
    /// loaded.
    pub(crate) fn resolve(
        &self,
        job: JobId,
        caller: &str,
        function: &str,
    ) -> Result<(Arc<Module>, Arc<str>), TaskError> {
        let (module, fname) = match function.split_once('/') {
            Some((m, f)) => (
                self.get(m).filter(|m| m.job == job).ok_or_else(|| {
                    let mut loaded: Vec<String> = self
                        .read()
                        .values()
                        .filter(|m| m.job == job)
                        .map(|m| m.name.clone())
                        .collect();
                    loaded.sort();
                    TaskError::new(
                        ErrorKind::NoSuchFunction,
                        format!(
                            "no module named `{m}` is loaded (loaded: {})",
                            loaded.join(", ")
                        ),
                    )
                })?,
                f,
            ),
            None => (
                self.get(caller).ok_or_else(|| {
                    TaskError::new(
                        ErrorKind::NoSuchFunction,
                        format!("module `{caller}` is still loading"),
                    )
                })?,
                function,
            ),
        };
        if !module.exports(fname) {
            return Err(TaskError::new(
                ErrorKind::NoSuchFunction,
                format!(
                    "module `{}` has no remote function `{fname}` (it has: {})",
                    module.name,
                    if module.functions.is_empty() {
                        "none".into()
                    } else {
                        module.functions.join(", ")
                    }
                ),
            ));
        }
        let fname = match module.functions.iter().find(|n| ***n == *fname) {
            Some(n) => n.clone(),
            None => Arc::from(fname),
        };
        Ok((module, fname))
    }
}

impl Module {
    /// Whether the module has remote function `name`: one it lists, or any
    /// name when it lists `*` (a runtime that dispatches names itself:
    /// Python's functions arrive by value with each call).
    pub(crate) fn exports(&self, name: &str) -> bool {
        self.functions.iter().any(|f| &**f == name || &**f == "*")
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        tracing::debug!(module = %self.name, "unloaded");
    }
}

#[cfg(all(test, not(feature = "gpu")))]
mod without_gpu {
    #[test]
    fn a_module_that_uses_the_gpu_is_refused_by_a_build_without_it() {
        let rt = crate::Runtime::new(crate::Config::builder().cache_dir(None).build()).unwrap();
        let e = rt
            .load_file(raylab_test_programs::TASK3.as_ref())
            .unwrap_err();
        assert!(e.to_string().contains("no GPU support"), "{e}");
        // Modules that do not touch the GPU load as ever.
        rt.load_file(raylab_test_programs::SMOKE.as_ref()).unwrap();
    }
}
