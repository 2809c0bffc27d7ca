//! The head's HTTP API as types: every endpoint's path, query and JSON
//! answer, shared by the head ([`crate::head`], which builds the answers
//! and parses the queries) and its client ([`crate::client`], which builds
//! the queries and parses the answers). A field renamed on one side is a
//! compile error on the other, or a parse error naming it, never a silent
//! `?` or 0.
//!
//! The answers are those the runtime serializes itself, field for field
//! (the dashboard reads them too): where the runtime's own type can also
//! be read back ([`TaskRow`]), it is used as it is; the others are copied
//! (`records`) with a `From` that names every field of the runtime's type,
//! so a field added there does not compile until it is added here. A test
//! checks that each copy serializes as its original.
//!
//! Absent `Option` fields read as `None`; any other absent field is an
//! error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use raylab::{JobId, ObjectId, Slice, SliceArgs, TaskRow, TaskState, Trace, TraceEvent};
pub use records::{
    Actor, ActorState, GpuDevice, Job, JobStatus, Node, Object, SpillStats, StoreStats, TaskCounts,
};

mod records;

/// `GET`: the version (`{"version": ...}`, [`Version`]).
pub const VERSION: &str = "/api/version";
/// `GET`: the node's status ([`Status`]).
pub const STATUS: &str = "/api/status";
/// `POST` ([`SubmitQuery`], body: the module): submit a job
/// ([`Submitted`]); `GET`: every job (a list of [`Job`]).
pub const JOBS: &str = "/api/jobs";
/// `GET`: one job ([`Job`]), as the router writes it; [`job`] fills it in.
pub const JOB: &str = "/api/jobs/{id}";
/// `GET` ([`LogQuery`]): part of a job's log, as text; the header
/// [`LOG_START_HEADER`] says where it starts. [`job_logs`] fills it in.
pub const JOB_LOGS: &str = "/api/jobs/{id}/logs";
/// `POST`: stop a job ([`Stopped`]). [`job_stop`] fills it in.
pub const JOB_STOP: &str = "/api/jobs/{id}/stop";
/// `POST`: stop the running jobs and exit ([`Shutdown`]).
pub const SHUTDOWN: &str = "/api/shutdown";
/// `GET`: Prometheus text format.
pub const METRICS: &str = "/metrics";
/// `GET` ([`TimelineQuery`]): Chrome trace events ([`Trace`] reads the
/// task slices).
pub const TIMELINE: &str = "/api/timeline";
/// `GET` ([`TaskQuery`]): the task table (a list of [`TaskRow`]).
pub const TASKS: &str = "/api/tasks";
/// `GET` ([`ObjectsQuery`]): the store's objects (a list of [`Object`]).
pub const OBJECTS: &str = "/api/objects";
/// `GET`: the charts' history ([`History`]).
pub const HISTORY: &str = "/api/history";

/// Response header of [`JOB_LOGS`]: the offset of the first byte returned,
/// which is past the one asked for when older output was dropped.
pub const LOG_START_HEADER: &str = "x-raylab-log-start";

/// [`JOB`] of job `id`.
pub fn job(id: JobId) -> String {
    JOB.replace("{id}", &id.to_string())
}

/// [`JOB_LOGS`] of job `id`.
pub fn job_logs(id: JobId) -> String {
    JOB_LOGS.replace("{id}", &id.to_string())
}

/// [`JOB_STOP`] of job `id`.
pub fn job_stop(id: JobId) -> String {
    JOB_STOP.replace("{id}", &id.to_string())
}

/// `path?query`, the query written from `query`'s fields (`None`s left
/// out), as the head's `Query` extractor reads it back.
pub fn with_query<T: Serialize>(path: &str, query: &T) -> String {
    let fields = match serde_json::to_value(query) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => return path.to_string(),
    };
    let pairs: Vec<String> = fields
        .into_iter()
        .filter_map(|(key, value)| {
            let value = match value {
                serde_json::Value::Null => return None,
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            Some(format!("{}={}", urlencode(&key), urlencode(&value)))
        })
        .collect();
    if pairs.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

/// A task's state as the API writes it (`FINISHED`, `NOT_RUN`, ...).
pub fn task_state_name(state: TaskState) -> &'static str {
    match state {
        TaskState::Pending => "PENDING",
        TaskState::Running => "RUNNING",
        TaskState::Finished => "FINISHED",
        TaskState::Failed => "FAILED",
        TaskState::NotRun => "NOT_RUN",
    }
}

/// Percent-encoding of everything but RFC 3986's unreserved characters.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---- Requests ----

/// The query of `POST` [`JOBS`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubmitQuery {
    /// The job's name (default `job`).
    pub name: Option<String>,
    /// The driver's arguments, as a JSON array of strings.
    pub args: Option<String>,
    /// Time limit of the whole job, seconds.
    pub timeout: Option<f64>,
}

impl SubmitQuery {
    /// The query of a job named `name` run with `args`.
    pub fn new(name: &str, args: &[String], timeout: Option<f64>) -> Self {
        SubmitQuery {
            name: Some(name.to_string()),
            args: Some(serde_json::to_string(args).expect("strings serialize")),
            timeout,
        }
    }

    /// The driver's arguments (none when not given).
    pub fn args(&self) -> Result<Vec<String>, String> {
        match &self.args {
            Some(a) => serde_json::from_str(a)
                .map_err(|e| format!("args must be a JSON array of strings: {e}")),
            None => Ok(Vec::new()),
        }
    }
}

/// The query of [`TASKS`] (the runtime's `TaskFilter`, which is read-only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskQuery {
    /// Only this job's.
    pub job: Option<JobId>,
    /// Only those whose name contains this.
    pub name: Option<String>,
    /// Only those in this state.
    pub state: Option<TaskState>,
    /// At most this many, the newest first (default 1000).
    pub limit: Option<usize>,
}

impl From<TaskQuery> for raylab::TaskFilter {
    fn from(q: TaskQuery) -> Self {
        let TaskQuery {
            job,
            name,
            state,
            limit,
        } = q;
        raylab::TaskFilter {
            job,
            name,
            state,
            limit,
        }
    }
}

/// The query of [`OBJECTS`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectsQuery {
    /// Only this job's.
    pub job: Option<JobId>,
    /// At most this many, the newest first (default 1000).
    pub limit: Option<usize>,
}

/// The query of [`TIMELINE`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineQuery {
    /// Only this job's tasks.
    pub job: Option<JobId>,
}

/// The query of [`JOB_LOGS`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogQuery {
    /// The first byte wanted.
    pub offset: Option<u64>,
    /// Wait up to this long (ms, at most 30 s) for output past `offset`
    /// while the job runs: a long poll, how the dashboard streams a job's
    /// log.
    pub wait_ms: Option<u64>,
}

// ---- Answers ----

/// The answer of [`VERSION`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// raylab's version.
    pub version: String,
}

/// The answer of `POST` [`JOBS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    /// The new job's id.
    pub job_id: JobId,
}

/// The answer of [`JOB_STOP`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stopped {
    /// Whether it was running (and is now stopping).
    pub stopped: bool,
}

/// The answer of [`SHUTDOWN`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shutdown {
    /// The jobs it stopped.
    pub stopped_jobs: Vec<JobId>,
}

/// Resources by name.
pub type ResourceMap = BTreeMap<String, f64>;

/// The answer of [`STATUS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// raylab's version.
    pub version: String,
    /// This node's resources.
    pub resources: Resources,
    /// Its GPU adapters.
    pub gpu_devices: Vec<GpuDevice>,
    /// What its queued tasks ask for.
    pub pending_demand: ResourceMap,
    /// Its tasks by scheduler state.
    pub tasks: TaskCounts,
    /// Tasks submitted since start.
    pub tasks_submitted: u64,
    /// Of those, finished with a result.
    pub tasks_finished: u64,
    /// Of those, failed (after retries).
    pub tasks_failed: u64,
    /// Its object store.
    pub object_store: StoreStats,
    /// Jobs running.
    pub jobs_running: usize,
    /// Every job it remembers.
    pub jobs: Vec<Job>,
    /// The actors.
    pub actors: Vec<Actor>,
    /// The cluster's nodes (none outside a cluster).
    pub nodes: Vec<Node>,
    /// Tasks placed again after their node died.
    pub tasks_moved: u64,
    /// Objects rebuilt from their lineage after their node died.
    pub objects_rebuilt: u64,
    /// Tasks waiting for a node that can hold them.
    pub waiting_for_nodes: Vec<WaitingTask>,
}

/// A node's resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// All of them.
    pub total: ResourceMap,
    /// Of those, not held by tasks.
    pub available: ResourceMap,
}

/// A task no node of the cluster can hold yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitingTask {
    /// Its name.
    pub task: String,
    /// Why.
    pub why: String,
}

/// The answer of [`HISTORY`]: one sample a second, column by column (`t`
/// in seconds since the Unix epoch), the shape the dashboard's charts draw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// When.
    pub t: Vec<f64>,
    /// CPU in use.
    pub cpu_used: Vec<f64>,
    /// CPU in all.
    pub cpu_total: Vec<f64>,
    /// GPU in use.
    pub gpu_used: Vec<f64>,
    /// GPU in all.
    pub gpu_total: Vec<f64>,
    /// Memory held by tasks, bytes.
    pub memory_used: Vec<f64>,
    /// Memory in all, bytes.
    pub memory_total: Vec<f64>,
    /// The object store's bytes in memory.
    pub store_bytes: Vec<f64>,
    /// Its bytes spilled to disk.
    pub spilled_bytes: Vec<f64>,
    /// Its capacity.
    pub store_capacity: Vec<f64>,
    /// Tasks finished per second.
    pub finished_per_s: Vec<f64>,
    /// Tasks failed per second.
    pub failed_per_s: Vec<f64>,
    /// Tasks waiting for arguments or resources.
    pub queued: Vec<f64>,
    /// Tasks running.
    pub running: Vec<f64>,
}

#[cfg(test)]
mod tests;
