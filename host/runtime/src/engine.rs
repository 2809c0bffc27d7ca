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
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_instances: 1000,
            max_memory_bytes: 4 << 30,
            epoch_interruption: true,
        }
    }
}

/// Bytes per sandbox reset with memset rather than `madvise`.
const KEEP_RESIDENT: usize = 2 << 20;

/// Build the engine.
pub(crate) fn new_engine(cfg: &EngineConfig) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(cfg.epoch_interruption);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
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
        // instead (PAGEMAP_SCAN finds them where the kernel has it), and
        // batch whatever still needs decommitting.
        .pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        .async_stack_keep_resident(KEEP_RESIDENT)
        .decommit_batch_size(64);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
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

fn cache_key(engine: &Engine, bytes: &[u8]) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}-{:016x}.cwasm", h.finish())
}

/// Compile a component, through the cache when `cache_dir` is given.
pub(crate) fn compile(
    engine: &Engine,
    name: &str,
    bytes: &[u8],
    cache_dir: Option<&Path>,
) -> Result<Component, LoadError> {
    check_header(name, bytes)?;
    let compile_err = |e: wasmtime::Error| LoadError::Compile {
        name: name.to_string(),
        message: format!("{e:#}"),
    };
    let Some(dir) = cache_dir else {
        return Component::new(engine, bytes).map_err(compile_err);
    };
    let path = dir.join(cache_key(engine, bytes));
    if path.is_file() {
        // SAFETY: the file was written by `Component::serialize` of an
        // engine with the same compatibility hash (it is in the key) into a
        // directory private to the user (mode 0700); wasmtime still checks
        // its header and version.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => {
                tracing::debug!(module = name, path = %path.display(), "compile cache hit");
                return Ok(c);
            }
            Err(e) => tracing::warn!(module = name, "ignoring unreadable cache entry: {e:#}"),
        }
    }
    let component = Component::new(engine, bytes).map_err(compile_err)?;
    if let Err(e) = store_in_cache(dir, &path, &component) {
        tracing::warn!(module = name, "cannot write the compile cache: {e:#}");
    }
    Ok(component)
}

fn store_in_cache(dir: &Path, path: &Path, component: &Component) -> wasmtime::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
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
