//! Errors of the runtime: [`TaskError`], the value-typed error that crosses
//! the host/guest boundary (it maps one-to-one onto the WIT `error` record),
//! and [`LoadError`], why a module could not be loaded.

use std::fmt;
use std::path::PathBuf;

/// What went wrong with a task or a runtime call; mirrors WIT `error-kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The remote function returned an error.
    TaskFailed,
    /// The task crashed: a trap, a panic, a broken sandbox limit.
    TaskCrashed,
    /// An input of the task failed, so the task never ran.
    DependencyFailed,
    /// No module exports the named function.
    NoSuchFunction,
    /// The object id was never created, or it was freed.
    UnknownObject,
    /// The object store has no room for the object.
    ObjectStoreFull,
    /// `get` or `wait` ran out of time.
    Timeout,
    /// Arguments, options or data were malformed.
    InvalidArgument,
    /// The demand can never be met on this node.
    Infeasible,
    /// The task was cancelled.
    Cancelled,
    /// The task grew its memory past its quota.
    MemoryQuotaExceeded,
    /// An attempt ran longer than its time limit.
    TimeLimitExceeded,
    /// Too many tasks are pending.
    TooManyTasks,
    /// A failure of the host itself.
    Internal,
}

/// An error as a value: what a guest sees from `get`, `submit` and friends.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct TaskError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The task the error is about, when there is one.
    pub task: Option<String>,
    /// The cause.
    pub message: String,
}

impl TaskError {
    /// An error not tied to a task.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        TaskError {
            kind,
            task: None,
            message: message.into(),
        }
    }

    /// An error about task `task`.
    pub fn for_task(kind: ErrorKind, task: impl Into<String>, message: impl Into<String>) -> Self {
        TaskError {
            kind,
            task: Some(task.into()),
            message: message.into(),
        }
    }

    /// `get` or `submit` referenced an object that does not exist.
    pub(crate) fn unknown_object(id: u64, ever_existed: bool) -> Self {
        let why = if ever_existed {
            "was freed (nothing referenced it any more)"
        } else {
            "was never created"
        };
        TaskError::new(ErrorKind::UnknownObject, format!("object {id} {why}"))
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.task {
            Some(task) => write!(f, "task `{task}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a module could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    // The cause is part of the message, not a `source`: callers print
    // the chain (`{:#}`), which would say it twice.
    #[error("cannot read {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The bytes are not WebAssembly at all.
    #[error("{name}: not a WebAssembly file (no `\\0asm` header)")]
    NotWasm {
        /// The module's name.
        name: String,
    },
    /// A core module where a component is required.
    #[error(
        "{name}: is a core WebAssembly module, not a component; build it for \
         `wasm32-wasip2` (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule {
        /// The module's name.
        name: String,
    },
    /// Cranelift or the validator rejected the component.
    #[error("{name}: invalid or unsupported component: {message}")]
    Compile {
        /// The module's name.
        name: String,
        /// The validator's message.
        message: String,
    },
    /// The component exports neither the task interface nor `wasi:cli/run`.
    #[error(
        "{name}: does not implement the raylab world: it exports neither \
         `raylab:runtime/task@0.1.x` nor `wasi:cli/run@0.2.x` (its exports: {exports})"
    )]
    NotRaylab {
        /// The module's name.
        name: String,
        /// What it does export.
        exports: String,
    },
    /// An import the host does not provide, or a signature mismatch.
    #[error("{name}: cannot be linked: {message}")]
    Link {
        /// The module's name.
        name: String,
        /// wasmtime's message, naming the import.
        message: String,
    },
    /// An import raylab does not grant.
    #[error("{name}: imports `{import}`, which is not allowed: {why}")]
    Forbidden {
        /// The module's name.
        name: String,
        /// The import.
        import: String,
        /// Why it is refused.
        why: String,
    },
    /// A driver was asked for but the module has no `wasi:cli/run`.
    #[error(
        "{name}: has no driver entry point (`wasi:cli/run`); it can only be loaded as a plugin"
    )]
    NotADriver {
        /// The module's name.
        name: String,
    },
    /// Two modules with one name.
    #[error("a module named `{name}` is already loaded; name plugins with --plugin NAME=PATH")]
    Duplicate {
        /// The name.
        name: String,
    },
}
