//! The wasmtime engine and the on-disk cache of compiled components.
//!
//! The engine is built once per process: component model, async calls (each
//! task runs on a fiber so a guest blocked in `get` yields its thread), and
//! the pooling allocator, which makes a fresh sandbox per task cost a few
//! microseconds. Compiling a component with Cranelift takes tens to hundreds
//! of milliseconds, so compiled artefacts are cached on disk under a key of
//! the module's SHA-256 and the engine's compatibility hash; a warm start
//! deserializes in about 0.1 ms.
//!
//! The cache directory must be writable only by the user: a compiled
//! artefact is native code that the host loads as is (this is the one place
//! where raylab uses `unsafe`). It is created with mode 0700 and files are
//! written to a temporary name and renamed into place.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::LoadError;

/// Sandbox limits of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Instances (running or blocked tasks, warm instances, drivers) that
    /// can exist at once.
    pub max_instances: u32,
    /// Largest linear memory of any instance, in bytes.
    pub max_memory_bytes: usize,
    /// Compile epoch checks into guest code (preemption, time limits).
    pub epoch_interruption: bool,
    /// Bytes of a finished sandbox's linear memory reset with memset and
    /// kept resident for the next sandbox in its slot; what it touched
    /// beyond goes back to the kernel at once. The node's idle memory is
    /// at most this times the slots ever used (about the most sandboxes
    /// alive at once).
    pub keep_resident: usize,
    /// Where Cranelift's output is kept function by function (wasmtime's
    /// incremental compilation): a module that differs from one compiled
    /// before in only some functions compiles only those. An edited Python
    /// program is such a module: the interpreter's thousands of functions
    /// are the same, only its snapshot and a few functions change.
    pub function_cache: Option<PathBuf>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_instances: 1000,
            max_memory_bytes: 4 << 30,
            epoch_interruption: true,
            keep_resident: KEEP_RESIDENT,
            function_cache: None,
        }
    }
}

/// [`EngineConfig::function_cache`] on disk: one file per compiled
/// function, named by the SHA-256 of wasmtime's key for it.
#[derive(Debug)]
struct FunctionCache(PathBuf);

impl wasmtime::CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
        crate::wasm::disk_cache::read_and_touch(&self.path(key))
            .ok()
            .map(std::borrow::Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        // Written whole under a temporary name, then renamed: a reader never
        // sees half a file, and two writers of one key agree on its bytes.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let path = self.path(key);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
        std::fs::write(&tmp, value).is_ok() && std::fs::rename(&tmp, &path).is_ok()
    }
}

impl FunctionCache {
    fn path(&self, key: &[u8]) -> PathBuf {
        self.0.join(digest(key))
    }
}

/// The default of [`EngineConfig::keep_resident`]: see BENCHMARKS.md for
/// what it costs and saves.
pub const KEEP_RESIDENT: usize = 128 << 10;

/// Idle slots kept for the module that last used them before other
/// modules may take them.
const MAX_UNUSED_WARM_SLOTS: u32 = 16;

/// The native stack a guest's calls may use (see `new_engine`).
const MAX_WASM_STACK: usize = 8 << 20;

/// Tables and async stacks: small in practice, never decommitted.
const KEEP_RESIDENT_OTHER: usize = 2 << 20;

/// Build the engine.
pub(crate) fn new_engine(cfg: &EngineConfig) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(cfg.epoch_interruption);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    // Deep recursion in a guest's own runtime (CPython pickling a deeply
    // nested value) must meet the guest's recursion limit, not wasmtime's
    // 512 KiB default, which trapped the instance ("call stack exhausted")
    // at 1,500 levels of nesting. With 8 MiB, CPython raises its own
    // RecursionError first (4 MiB still trapped tearing a 100,000-deep
    // list down). A Rust guest's own 1 MiB stack (in its linear memory)
    // now runs out before this one: its overflow traps as an out-of-bounds
    // access.
    config.max_wasm_stack(MAX_WASM_STACK);
    config.async_stack_size(MAX_WASM_STACK + (1 << 20));
    if let Some(dir) = &cfg.function_cache
        && create_private_dir(dir).is_ok()
        && trusted_or_warn(dir)
    {
        config.enable_incremental_compilation(std::sync::Arc::new(FunctionCache(dir.clone())))?;
    }
    let mut pool = PoolingAllocationConfig::default();
    let n = cfg.max_instances;
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(4))
        .total_memories(n.saturating_mul(2))
        .total_tables(n.saturating_mul(4))
        .total_stacks(n)
        .max_memories_per_component(4)
        .max_memory_size(cfg.max_memory_bytes)
        // Resetting a sandbox for the next task with `madvise` flushes the
        // TLB on every core (an IPI each time); measured, that made a fresh
        // sandbox cost ~170 us. Reset the pages a task touched with memset
        // instead (PAGEMAP_SCAN finds them where the kernel has it): a
        // small task needs no system call at all. What a big task touched
        // beyond `keep_resident` is decommitted right away (a batch of 1):
        // batching held up to 63 finished sandboxes' pages per shard, so ten
        // tasks touching 900 MiB one after another left 9.8 GB resident.
        .pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(cfg.keep_resident)
        .table_keep_resident(KEEP_RESIDENT_OTHER)
        .async_stack_keep_resident(KEEP_RESIDENT_OTHER)
        .decommit_batch_size(1)
        // A slot keeps up to `keep_resident` once used. By default wasmtime
        // prefers never-used slots over slots last used by another module
        // until 100 such are idle, and every head job is a module of its
        // own: resident memory crept up job after job (+3.8 MB a job,
        // measured). Reusing other modules' idle slots first keeps the
        // slots ever used close to the most instances alive at once.
        .max_unused_warm_slots(MAX_UNUSED_WARM_SLOTS);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// The user id files this process creates get (its effective user), found
/// by creating one: no `unsafe` call for `geteuid`.
fn own_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    static UID: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *UID.get_or_init(|| {
        tempfile::tempfile()
            .and_then(|f| f.metadata())
            .ok()
            .map(|m| m.uid())
    })
}

/// Why `dir` cannot be trusted with compiled code, or `None` if it can.
/// Loading compiled code is `unsafe` in wasmtime (a crafted file is native
/// code), so a cache directory must be this user's own and writable by no
/// one else: a directory another user made first (a shared `/tmp` path) or
/// left open to others could feed this process code. Checked here, in the
/// library, before anything is read from it, whoever names the directory.
pub(crate) fn untrusted_cache_dir(dir: &Path) -> Option<String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) => return Some(format!("cannot read it: {e}")),
    };
    if !meta.is_dir() {
        return Some("it is not a directory".into());
    }
    let Some(me) = own_uid() else {
        return Some("cannot tell which user this process runs as".into());
    };
    if meta.uid() != me {
        return Some(format!(
            "it belongs to user {}, not to this process's user {me}",
            meta.uid()
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o022 != 0 {
        return Some(format!("other users may write to it (mode {mode:o})"));
    }
    None
}

/// [`untrusted_cache_dir`], warning once per directory when it is not to
/// be trusted; whether it is.
fn trusted_or_warn(dir: &Path) -> bool {
    let Some(why) = untrusted_cache_dir(dir) else {
        return true;
    };
    static WARNED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
    if !warned.iter().any(|d| d == dir) {
        warned.push(dir.to_path_buf());
        tracing::warn!(
            "compile cache {} not used: {why} (make it this user's own, mode 700, or use another directory)",
            dir.display()
        );
    }
    false
}

/// Make `dir` (and its parents) private to this user where missing.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Where compiled artefacts go by default: `$RAYLAB_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/raylab`, else `~/.cache/raylab`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("RAYLAB_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("raylab"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("raylab"))
}

const WASM_MAGIC: &[u8] = b"\0asm";

/// Check the header: a component, not a core module or something else.
pub(crate) fn check_header(name: &str, bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(LoadError::NotWasm {
            name: name.to_string(),
        });
    }
    // Core modules have version 1 and layer 0; components layer 1.
    if bytes[6..8] == [0, 0] {
        return Err(LoadError::CoreModule {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// What a component says of itself before it is compiled: the names it
/// imports and exports at its top level.
pub(crate) struct Surface {
    pub(crate) imports: Vec<String>,
    pub(crate) exports: Vec<String>,
}

/// Read the top-level imports and exports of a component without compiling
/// it (milliseconds, where Cranelift may take seconds), so that an upload
/// outside the raylab world is refused before any compile work.
pub(crate) fn surface(name: &str, bytes: &[u8]) -> Result<Surface, LoadError> {
    use wasmparser::{Parser, Payload};
    let invalid = |e: wasmparser::BinaryReaderError| LoadError::Compile {
        name: name.to_string(),
        message: e.to_string(),
    };
    let mut surface = Surface {
        imports: Vec::new(),
        exports: Vec::new(),
    };
    // Nested modules and components come inline; only depth 0 is ours.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(invalid)? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    surface
                        .imports
                        .push(import.map_err(invalid)?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(section) if depth == 0 => {
                for export in section {
                    surface
                        .exports
                        .push(export.map_err(invalid)?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(surface)
}

/// SHA-256 of a module's bytes, in hex.
pub(crate) fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn cache_key(engine: &Engine, bytes: &[u8]) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{}-{:016x}.cwasm", digest(bytes), h.finish())
}

/// One Cranelift compile at a time per process: concurrent uploads to a
/// head cannot multiply compile memory (a big component takes hundreds of
/// MiB while it compiles). It is taken only on tokio's blocking pool
/// (`modules::load` compiles there), so a wait for it never holds up an
/// async worker. Lock order: a leaf (held through the compile).
static COMPILING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Compiles modules somewhere else than in this process: a head hands
/// uploaded modules to a child process it can bound in time and memory
/// (Cranelift cannot be stopped mid-compile, and a module crafted to be
/// expensive to compile could otherwise take the head's memory with it).
pub trait ModuleCompiler: Send + Sync {
    /// Compile `bytes` (module `name`) with the node's engine settings
    /// ([`EngineConfig`]) and write the serialized result to `out`
    /// ([`compile_to_file`] does exactly that); an error says why not.
    fn compile(&self, name: &str, bytes: &[u8], out: &Path) -> Result<(), String>;
}

/// Compile `bytes` with an engine of `config` and write the serialized
/// component to `out` (what a [`ModuleCompiler`]'s child process runs).
pub fn compile_to_file(
    config: &EngineConfig,
    name: &str,
    bytes: &[u8],
    out: &Path,
) -> Result<(), LoadError> {
    check_header(name, bytes)?;
    let engine = new_engine(config).map_err(|e| LoadError::Compile {
        name: name.to_string(),
        message: format!("{e:#}"),
    })?;
    let component = Component::new(&engine, bytes).map_err(|e| LoadError::Compile {
        name: name.to_string(),
        message: format!("{e:#}"),
    })?;
    let serialized = component.serialize().map_err(|e| LoadError::Compile {
        name: name.to_string(),
        message: format!("{e:#}"),
    })?;
    std::fs::write(out, serialized).map_err(|cause| LoadError::Read {
        path: out.to_path_buf(),
        cause,
    })
}

/// A compiled component, and where the cache wants it once it proved to be
/// a good module (nothing rejected is ever cached).
pub(crate) struct Compiled {
    pub(crate) component: Component,
    cache: Option<PathBuf>,
    /// The compiler's output, waiting for the module to be accepted.
    staged: Option<PathBuf>,
}

impl Compiled {
    /// The module was accepted: keep its compiled form for next time.
    pub(crate) fn remember(mut self, name: &str) {
        let Some(path) = self.cache.take() else {
            return;
        };
        let dir = path.parent().expect("a file in the cache directory");
        if let Some(staged) = self.staged.take() {
            if let Err(e) = std::fs::rename(&staged, &path) {
                tracing::warn!(module = name, "cannot write the compile cache: {e}");
                let _ = std::fs::remove_file(&staged);
            }
        } else if let Err(e) = store_in_cache(dir, &path, &self.component) {
            tracing::warn!(module = name, "cannot write the compile cache: {e:#}");
        }
        // A new entry (and the functions compiled for it): keep the
        // directory within its limit.
        if let Some(limit) = crate::wasm::disk_cache::limit() {
            crate::wasm::disk_cache::prune(dir, limit);
        }
    }
}

impl Drop for Compiled {
    /// A module refused after it compiled leaves nothing behind.
    fn drop(&mut self) {
        if let Some(staged) = &self.staged {
            let _ = std::fs::remove_file(staged);
        }
    }
}

/// Compile a component, through the cache when `cache_dir` is given.
pub(crate) fn compile(
    engine: &Engine,
    name: &str,
    bytes: &[u8],
    cache_dir: Option<&Path>,
    compiler: Option<&dyn ModuleCompiler>,
) -> Result<Compiled, LoadError> {
    check_header(name, bytes)?;
    let compile_err = |e: wasmtime::Error| LoadError::Compile {
        name: name.to_string(),
        message: format!("{e:#}"),
    };
    let compile = || {
        let _one_at_a_time = COMPILING.lock().unwrap_or_else(|p| p.into_inner());
        Component::new(engine, bytes).map_err(compile_err)
    };
    let Some(dir) = cache_dir.filter(|d| !d.exists() || trusted_or_warn(d)) else {
        return Ok(Compiled {
            component: compile()?,
            cache: None,
            staged: None,
        });
    };
    let path = dir.join(cache_key(engine, bytes));
    if path.is_file() {
        // SAFETY: the file was written by `Component::serialize` of an
        // engine with the same compatibility hash (it is in the key) into a
        // directory private to the user (mode 0700); wasmtime still checks
        // its header and version.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                tracing::debug!(module = name, path = %path.display(), "compile cache hit");
                crate::wasm::disk_cache::touch(&path);
                return Ok(Compiled {
                    component,
                    cache: None,
                    staged: None,
                });
            }
            Err(e) => tracing::warn!(module = name, "ignoring unreadable cache entry: {e:#}"),
        }
    }
    if let Some(compiler) = compiler {
        let _ = create_private_dir(dir);
        let staged = path.with_extension(format!("staged{}", std::process::id()));
        let _one_at_a_time = COMPILING.lock().unwrap_or_else(|p| p.into_inner());
        compiler
            .compile(name, bytes, &staged)
            .map_err(|message| LoadError::Compile {
                name: name.to_string(),
                message,
            })?;
        // SAFETY: written just now by the node's own binary (the
        // compiler's child process), with the same engine settings, into
        // the user's private cache directory; wasmtime checks its header,
        // version and compatibility.
        #[allow(unsafe_code)]
        let component = match unsafe { Component::deserialize_file(engine, &staged) } {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(&staged);
                return Err(compile_err(e));
            }
        };
        return Ok(Compiled {
            component,
            cache: Some(path),
            staged: Some(staged),
        });
    }
    let component = compile()?;
    Ok(Compiled {
        component,
        cache: Some(path),
        staged: None,
    })
}

fn store_in_cache(dir: &Path, path: &Path, component: &Component) -> wasmtime::Result<()> {
    create_private_dir(dir)?;
    if let Some(why) = untrusted_cache_dir(dir) {
        wasmtime::bail!("{} is not private to this user: {why}", dir.display());
    }
    let bytes = component.serialize()?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_private_cache_directory_is_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        create_private_dir(&cache).unwrap();
        assert_eq!(untrusted_cache_dir(&cache), None);
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
        let why = untrusted_cache_dir(&cache).unwrap();
        assert!(
            why.contains("other users may write to it (mode 777)"),
            "{why}"
        );
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(untrusted_cache_dir(&cache), None, "readable is fine");
        assert!(untrusted_cache_dir(&dir.path().join("missing")).is_some());
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(
            untrusted_cache_dir(&file)
                .unwrap()
                .contains("not a directory")
        );
        // Another user's directory (as root, CI's case, one can make one).
        if own_uid() == Some(0) {
            let theirs = dir.path().join("theirs");
            create_private_dir(&theirs).unwrap();
            std::os::unix::fs::chown(&theirs, Some(65534), None).unwrap();
            let why = untrusted_cache_dir(&theirs).unwrap();
            assert!(why.contains("belongs to user 65534"), "{why}");
        }
    }

    #[test]
    fn an_open_cache_directory_is_neither_read_nor_written() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("open");
        std::fs::create_dir(&cache).unwrap();
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
        let engine = new_engine(&EngineConfig::default()).unwrap();
        // An empty component still compiles, and nothing lands in the
        // directory (an entry planted there would not be read either).
        let wasm = wat_component();
        let compiled = compile(&engine, "m", &wasm, Some(&cache), None).unwrap();
        compiled.remember("m");
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0);
        // Made private, it is used.
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
        compile(&engine, "m", &wasm, Some(&cache), None)
            .unwrap()
            .remember("m");
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
    }

    /// The smallest component: `(component)`.
    fn wat_component() -> Vec<u8> {
        // The component-model preamble: magic, version 0x0d, layer 1.
        b"\0asm\x0d\0\x01\0".to_vec()
    }

    #[test]
    fn headers_are_classified() {
        assert!(matches!(
            check_header("x", b"hello world"),
            Err(LoadError::NotWasm { .. })
        ));
        assert!(matches!(
            check_header("x", b"\0asm"),
            Err(LoadError::NotWasm { .. })
        ));
        let core = b"\0asm\x01\0\0\0";
        assert!(matches!(
            check_header("x", core),
            Err(LoadError::CoreModule { .. })
        ));
        let component = b"\0asm\x0d\0\x01\0";
        assert!(check_header("x", component).is_ok());
    }
}
