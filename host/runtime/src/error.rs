//! Errors of the runtime: [`TaskError`], the value-typed error that crosses
//! the host/guest boundary (it maps one-to-one onto the WIT `error` record),
//! [`LoadError`], why a module could not be loaded, [`RunError`], why a
//! driver run ended badly, and [`StartError`], why a node could not start.

use std::fmt;
use std::path::PathBuf;

/// What went wrong with a task or a runtime call: the WIT `error-kind`
/// enum itself (generated from `wit/runtime.wit`, the one place where kinds
/// are defined), so a new kind is one edit of the contract.
pub use crate::bindings::ErrorKind;

/// An error kind displays as its WIT name (`task-failed`, ...), as guests,
/// the guest SDKs and JSON output spell it: one spelling everywhere.
impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&kind_name(*self))
    }
}

/// The WIT name of an error kind.
fn kind_name(kind: ErrorKind) -> String {
    // Derived from the generated variant name, so that no list of kinds is
    // kept by hand here.
    // Debug prints `ErrorKind::TaskFailed`.
    let debug = format!("{kind:?}");
    let camel = debug.rsplit("::").next().unwrap_or(&debug);
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// An error as a value: what a guest sees from `get`, `submit` and friends.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
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
    pub(crate) fn unknown_object(id: crate::ids::ObjectId, ever_existed: bool) -> Self {
        let why = if ever_existed {
            "was freed (nothing referenced it any more)"
        } else {
            "was never created"
        };
        TaskError::new(ErrorKind::UnknownObject, format!("object {id} {why}"))
    }
}

impl From<TaskError> for crate::bindings::wit::Error {
    fn from(e: TaskError) -> Self {
        crate::bindings::wit::Error {
            kind: e.kind,
            task: e.task,
            message: e.message,
        }
    }
}

/// Where data for the guest's SDK starts in an error message: a line
/// starting with U+001E (see `task.call` in `wit/runtime.wit`).
const SDK_DATA: &str = "\n\u{1e}";

impl TaskError {
    /// The message as people read it: without the data a guest's SDK put
    /// in it for the caller's SDK (which the guest still receives whole).
    pub fn readable_message(&self) -> &str {
        match self.message.find(SDK_DATA) {
            Some(at) => &self.message[..at],
            None => &self.message,
        }
    }

    /// `self` with the task's name in front, the SDK's data kept.
    pub(crate) fn with_task_name(&self) -> String {
        match &self.task {
            Some(task) => format!("task `{task}`: {}", self.message),
            None => self.message.clone(),
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.task {
            Some(task) => write!(f, "task `{task}`: {}", self.readable_message()),
            None => f.write_str(self.readable_message()),
        }
    }
}

/// Why a module could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// A driver was asked for but the module has no `wasi:cli/run`.
    #[error(
        "{name}: has no driver entry point (`wasi:cli/run`); it can only be loaded as a plugin"
    )]
    NotADriver {
        /// The module's name.
        name: String,
    },
    /// Two modules with one name.
    #[error("a module named `{name}` is already loaded; load a plugin under a name of its own")]
    Duplicate {
        /// The name.
        name: String,
    },
    /// A head keeping its jobs in the cluster could not write this one
    /// there (see `cluster::durable`).
    #[error("job {name}: cannot keep it in the cluster's job table: {message}")]
    Durable {
        /// The job's name.
        name: String,
        /// Why.
        message: String,
    },
}

/// Why a driver run ended badly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The module could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// No module of that name.
    #[error("no module named `{0}` is loaded")]
    NoModule(String),
    /// The driver trapped.
    #[error("driver `{module}` crashed: {message}")]
    Crashed {
        /// The driver's module.
        module: String,
        /// The trap and the guest's last error message.
        message: String,
    },
    /// The driver ran into its memory quota or its time limit.
    #[error("driver `{module}` {limit}")]
    Limit {
        /// The driver's module.
        module: String,
        /// Which limit, and how much.
        limit: String,
    },
    /// The host failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A setting is out of range.
    #[error("{0}")]
    Config(String),
    /// A granted directory does not exist.
    #[error("granted directory {}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// The worker threads, the epoch ticker or the engine could not be made.
    #[error("cannot start the node: {0}")]
    Setup(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_the_wit_names() {
        assert_eq!(kind_name(ErrorKind::TaskFailed), "task-failed");
        assert_eq!(ErrorKind::ActorDied.to_string(), "actor-died");
        assert_eq!(kind_name(ErrorKind::Internal), "internal");
        assert_eq!(
            kind_name(ErrorKind::MemoryQuotaExceeded),
            "memory-quota-exceeded"
        );
    }

    #[test]
    fn a_task_error_names_its_task() {
        let e = TaskError::for_task(ErrorKind::TaskFailed, "f", "boom");
        assert_eq!(e.to_string(), "task `f`: boom");
        assert_eq!(
            TaskError::new(ErrorKind::Timeout, "late").to_string(),
            "late"
        );
        let unknown = TaskError::unknown_object(crate::ids::ObjectId::new(5), true);
        assert_eq!(unknown.kind, ErrorKind::UnknownObject);
        assert!(unknown.message.contains("freed"));
    }
}
