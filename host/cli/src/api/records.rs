//! The records the head reports (jobs, actors, nodes, GPUs, the object
//! store's figures, objects): copies of the runtime's types that can also
//! be read back, each with a `From` that names every field of the
//! original, so that a field added to the runtime's type does not compile
//! until it is added here.

use serde::{Deserialize, Serialize};

use super::{JobId, ObjectId, ResourceMap};

/// Where a job is (`raylab::JobStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum JobStatus {
    /// Its driver is running.
    Running,
    /// The driver exited with status 0.
    Succeeded,
    /// The driver exited non-zero or crashed.
    Failed,
    /// Stopped on request.
    Stopped,
}

impl JobStatus {
    /// As the API writes it.
    pub fn name(self) -> &'static str {
        match self {
            JobStatus::Running => "RUNNING",
            JobStatus::Succeeded => "SUCCEEDED",
            JobStatus::Failed => "FAILED",
            JobStatus::Stopped => "STOPPED",
        }
    }
}

impl From<raylab::JobStatus> for JobStatus {
    fn from(s: raylab::JobStatus) -> Self {
        match s {
            raylab::JobStatus::Running => JobStatus::Running,
            raylab::JobStatus::Succeeded => JobStatus::Succeeded,
            raylab::JobStatus::Failed => JobStatus::Failed,
            raylab::JobStatus::Stopped => JobStatus::Stopped,
        }
    }
}

/// A job (`raylab::JobInfo`): the answer of [`JOB`](super::JOB), and the items of
/// [`JOBS`](super::JOBS) and [`Status::jobs`](super::Status::jobs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Job id.
    pub id: JobId,
    /// Name (the module's file stem).
    pub name: String,
    /// Status.
    pub status: JobStatus,
    /// The driver's exit status, once it exited.
    pub exit_code: Option<i32>,
    /// Why it failed, when the driver crashed.
    pub error: Option<String>,
    /// Submission time, ms since the Unix epoch.
    pub submitted_at: f64,
    /// End time, ms since the Unix epoch.
    pub ended_at: Option<f64>,
    /// For a part of a job of another node: that node's id.
    pub origin: Option<u16>,
    /// And the job's id on that node.
    pub origin_job: Option<JobId>,
    /// The arguments its driver was given.
    pub args: Vec<String>,
    /// The module's size, bytes.
    pub module_bytes: usize,
    /// Tasks the job submitted.
    pub tasks_submitted: u64,
    /// Of those, finished or failed.
    pub tasks_done: u64,
}

impl From<raylab::JobInfo> for Job {
    fn from(j: raylab::JobInfo) -> Self {
        let raylab::JobInfo {
            id,
            name,
            status,
            exit_code,
            error,
            submitted_at,
            ended_at,
            origin,
            origin_job,
            args,
            module_bytes,
            tasks_submitted,
            tasks_done,
        } = j;
        Job {
            id,
            name,
            status: status.into(),
            exit_code,
            error,
            submitted_at,
            ended_at,
            origin,
            origin_job,
            args,
            module_bytes,
            tasks_submitted,
            tasks_done,
        }
    }
}

/// Where an actor is (`raylab::ActorState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ActorState {
    /// Waiting for its resources or its constructor's arguments.
    Pending,
    /// Serving calls.
    Alive,
    /// Starting a fresh instance after a crash.
    Restarting,
    /// Gone.
    Dead,
}

impl ActorState {
    /// As the API writes it.
    pub fn name(self) -> &'static str {
        match self {
            ActorState::Pending => "PENDING",
            ActorState::Alive => "ALIVE",
            ActorState::Restarting => "RESTARTING",
            ActorState::Dead => "DEAD",
        }
    }
}

impl From<raylab::ActorState> for ActorState {
    fn from(s: raylab::ActorState) -> Self {
        match s {
            raylab::ActorState::Pending => ActorState::Pending,
            raylab::ActorState::Alive => ActorState::Alive,
            raylab::ActorState::Restarting => ActorState::Restarting,
            raylab::ActorState::Dead => ActorState::Dead,
        }
    }
}

/// An actor (`raylab::ActorInfo`), as [`Status::actors`](super::Status::actors) lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    /// Its handle's object id.
    pub id: ObjectId,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// Its class.
    pub class: String,
    /// The job it belongs to (none for a detached actor).
    pub job: Option<JobId>,
    /// Where it is.
    pub state: ActorState,
    /// Why it died, once dead.
    pub death: Option<String>,
    /// Method calls it has run.
    pub calls_done: u64,
    /// Calls waiting in its queue.
    pub calls_queued: u64,
    /// Times it was restarted.
    pub restarts: u32,
    /// Its instance's linear memory, bytes.
    pub memory: u64,
}

impl From<raylab::ActorInfo> for Actor {
    fn from(a: raylab::ActorInfo) -> Self {
        let raylab::ActorInfo {
            id,
            name,
            class,
            job,
            state,
            death,
            calls_done,
            calls_queued,
            restarts,
            memory,
        } = a;
        Actor {
            id,
            name,
            class,
            job,
            state: state.into(),
            death,
            calls_done,
            calls_queued,
            restarts,
            memory,
        }
    }
}

/// A node of the cluster (`raylab::NodeInfo`), as [`Status::nodes`](super::Status::nodes) lists
/// it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Node id (the head is 1).
    pub id: u16,
    /// Its name.
    pub name: String,
    /// Its HTTP API, if it serves one.
    pub http: Option<String>,
    /// Its resources.
    pub total: ResourceMap,
    /// Of those, not held by its tasks at its last heartbeat.
    pub available: ResourceMap,
    /// Its last heartbeat, ms since the Unix epoch.
    pub heartbeat_ms: f64,
    /// Whether that heartbeat is recent enough.
    pub alive: bool,
    /// Whether it is leaving (it takes no new tasks).
    pub draining: bool,
    /// CPU held and demanded over CPU total, at its last heartbeat.
    pub load: f64,
    /// Whether this is the node answering.
    pub this: bool,
    /// Its incarnation: 1 when it joined, one more each time it came back
    /// after the cluster counted it dead.
    #[serde(default = "first_incarnation")]
    pub incarnation: u32,
}

fn first_incarnation() -> u32 {
    1
}

impl From<raylab::NodeInfo> for Node {
    fn from(n: raylab::NodeInfo) -> Self {
        let raylab::NodeInfo {
            id,
            name,
            http,
            total,
            available,
            heartbeat_ms,
            alive,
            draining,
            load,
            this,
            incarnation,
        } = n;
        Node {
            id,
            name,
            http,
            total,
            available,
            heartbeat_ms,
            alive,
            draining,
            load,
            this,
            incarnation,
        }
    }
}

/// A GPU adapter (`raylab::gpu::GpuInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuDevice {
    /// GPU id.
    pub id: u32,
    /// Adapter name.
    pub name: String,
    /// wgpu backend.
    pub backend: String,
    /// Integrated, discrete, virtual or CPU (software).
    pub device_type: String,
    /// A software adapter (the CPU runs its shaders), not a GPU.
    pub software: bool,
}

impl From<raylab::gpu::GpuInfo> for GpuDevice {
    fn from(g: raylab::gpu::GpuInfo) -> Self {
        let raylab::gpu::GpuInfo {
            id,
            name,
            backend,
            device_type,
            software,
        } = g;
        GpuDevice {
            id,
            name,
            backend,
            device_type,
            software,
        }
    }
}

/// Tasks by scheduler state (`raylab::SchedulerCounts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounts {
    /// Waiting for their arguments.
    pub waiting_for_args: usize,
    /// Waiting for resources.
    pub waiting_for_resources: usize,
    /// Running (holding resources).
    pub running: usize,
    /// Blocked in `get`/`wait` (CPU given back).
    pub blocked: usize,
    /// Sandboxes held by started tasks.
    pub instances: usize,
}

impl From<raylab::SchedulerCounts> for TaskCounts {
    fn from(c: raylab::SchedulerCounts) -> Self {
        let raylab::SchedulerCounts {
            waiting_for_args,
            waiting_for_resources,
            running,
            blocked,
            instances,
        } = c;
        TaskCounts {
            waiting_for_args,
            waiting_for_resources,
            running,
            blocked,
            instances,
        }
    }
}

/// The object store's figures (`raylab::StoreStats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreStats {
    /// Objects alive (any state), stubs of other nodes' objects included.
    pub objects: usize,
    /// Of those, stubs: objects of other nodes referenced here.
    pub foreign: usize,
    /// Bytes of ready objects.
    pub bytes: usize,
    /// Capacity in bytes.
    pub capacity: usize,
    /// Objects created so far.
    pub created: u64,
    /// Objects freed so far.
    pub freed: u64,
    /// What is on disk.
    pub spill: SpillStats,
}

impl From<raylab::StoreStats> for StoreStats {
    fn from(s: raylab::StoreStats) -> Self {
        let raylab::StoreStats {
            objects,
            foreign,
            bytes,
            capacity,
            created,
            freed,
            spill,
        } = s;
        StoreStats {
            objects,
            foreign,
            bytes,
            capacity,
            created,
            freed,
            spill: spill.into(),
        }
    }
}

/// What the store spilled to disk (`raylab::SpillStats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SpillStats {
    /// Objects on disk now.
    pub objects: usize,
    /// Bytes on disk now.
    pub bytes: usize,
    /// Most bytes on disk.
    pub capacity: usize,
    /// Bytes written since start.
    pub spilled_total: u64,
    /// Bytes read back since start.
    pub restored_total: u64,
    /// Seconds spent writing.
    pub spill_seconds: f64,
    /// Seconds spent reading back.
    pub restore_seconds: f64,
}

impl From<raylab::SpillStats> for SpillStats {
    fn from(s: raylab::SpillStats) -> Self {
        let raylab::SpillStats {
            objects,
            bytes,
            capacity,
            spilled_total,
            restored_total,
            spill_seconds,
            restore_seconds,
        } = s;
        SpillStats {
            objects,
            bytes,
            capacity,
            spilled_total,
            restored_total,
            spill_seconds,
            restore_seconds,
        }
    }
}

/// An object of the store (`raylab::ObjectRow`), the items of [`OBJECTS`](super::OBJECTS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Object {
    /// Its id.
    pub id: ObjectId,
    /// The job that made (or, for a stub, holds) it.
    pub job: JobId,
    /// `PENDING`, `READY`, `SPILLED`, `FAILED` or `REMOTE`.
    pub state: String,
    /// Its size in bytes.
    pub size: usize,
    /// References to it here.
    pub refs: u32,
    /// References it holds to other objects.
    pub contains: usize,
    /// The node that owns it (0 outside a cluster).
    pub owner: u16,
}

impl From<raylab::ObjectRow> for Object {
    fn from(o: raylab::ObjectRow) -> Self {
        let raylab::ObjectRow {
            id,
            job,
            state,
            size,
            refs,
            contains,
            owner,
        } = o;
        Object {
            id,
            job,
            state: state.to_string(),
            size,
            refs,
            contains,
            owner,
        }
    }
}
