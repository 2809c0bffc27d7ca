//! What a running node reports: its jobs, logs, resources, tasks, objects,
//! actors, nodes, timeline and statistics (the head's API and the CLI read
//! these).

#[cfg(feature = "cluster")]
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[cfg(feature = "cluster")]
use crate::cluster::NodeInfo;
use crate::core::control::{JobId, RuntimeStats};
use crate::core::jobs::{JobInfo, JobStatus};
use crate::core::timeline::{Timeline, Trace, TraceEvent};
use crate::exec::actors::ActorInfo;

use super::{ResourceList, Runtime};

impl Runtime {
    /// What waiting tasks will demand, by name.
    pub fn pending_demand(&self) -> ResourceList {
        self.node.control.lock().pending_demand().entries()
    }

    /// Total and available resources of the node, by name.
    pub fn resources(&self) -> (ResourceList, ResourceList) {
        let control = self.node.control.lock();
        let total = control.total().entries();
        let available = control.available().entries();
        let avail = total
            .iter()
            .map(|(k, _)| {
                let v = available
                    .iter()
                    .find(|(n, _)| n == k)
                    .map_or(0.0, |(_, v)| *v);
                (k.clone(), v)
            })
            .collect();
        (total, avail)
    }

    /// The task timeline as Chrome trace events (of one job, or all).
    pub fn timeline(&self, job: Option<JobId>) -> Trace {
        self.node.timeline.chrome_trace(job)
    }

    /// [`Runtime::timeline`] of the whole cluster: this node's slices and
    /// those other nodes ran for its jobs, one process per node (named
    /// after it), one lane per worker thread of each, on this node's clock.
    /// Outside a cluster, the same as [`Runtime::timeline`].
    pub async fn cluster_timeline(&self, job: Option<JobId>) -> Trace {
        #[cfg(feature = "cluster")]
        if let Some(cluster) = self.node.cluster.get() {
            return self.with_other_nodes(cluster, job).await;
        }
        self.timeline(job)
    }

    /// [`Runtime::cluster_timeline`] in `cluster`.
    #[cfg(feature = "cluster")]
    async fn with_other_nodes(
        &self,
        cluster: &crate::cluster::Cluster,
        job: Option<JobId>,
    ) -> Trace {
        let me = cluster.id;
        let timeline = &self.node.timeline;
        let mut events =
            timeline.chrome_events(me, 0, |j| job.is_none_or(|want| want == j).then_some(j));
        let nodes = cluster.registry.nodes();
        let others: Vec<u16> = nodes
            .iter()
            .filter(|n| n.alive && n.id != me)
            .map(|n| n.id)
            .collect();
        events.extend(
            cluster
                .wire
                .timelines(&others, job, timeline.unix_origin_us())
                .await,
        );
        for n in &nodes {
            events.push(TraceEvent::process_name(
                n.id,
                format!("node {} {}", n.id, n.name),
            ));
            events.push(TraceEvent::process_sort_index(n.id));
        }
        Timeline::trace_of(events)
    }

    /// A running job's task counts are live; a finished one's were kept
    /// when it ended.
    pub(super) fn with_counts(&self, mut info: JobInfo) -> JobInfo {
        if info.status == JobStatus::Running {
            let c = self.node.control.lock().job_tasks(info.id);
            info.tasks_submitted = c.submitted;
            info.tasks_done = c.done;
        }
        info
    }

    /// Every job, oldest first.
    pub fn jobs(&self) -> Vec<JobInfo> {
        let jobs = self.node.jobs.list();
        jobs.into_iter().map(|j| self.with_counts(j)).collect()
    }

    /// One job.
    pub fn job(&self, id: JobId) -> Option<JobInfo> {
        self.node.jobs.get(id).map(|j| self.with_counts(j))
    }

    /// At most `max` bytes of a job's log from byte `offset` on (the log
    /// keeps the last [`crate::JOB_LOG_BYTES`]; `start` says where the
    /// bytes begin when older ones were dropped).
    pub fn job_log(&self, id: JobId, offset: u64, max: usize) -> Option<crate::LogChunk> {
        self.node.jobs.log(id, offset, max)
    }

    /// Objects lost with their node that this node rebuilt by running
    /// again the tasks that made them (see `tasks::lineage`).
    pub fn objects_rebuilt(&self) -> u64 {
        self.node.tasks.objects_rebuilt()
    }

    /// Tasks this node sent to another that it placed again because that
    /// node died (each counted against the task's `max_retries`).
    #[cfg(feature = "cluster")]
    pub fn tasks_moved(&self) -> u64 {
        self.node
            .cluster
            .get()
            .map_or(0, |c| c.moved.load(Ordering::Relaxed))
    }

    /// Tasks of this node waiting for a node of the cluster that can hold
    /// them: (task name, why none can now).
    #[cfg(feature = "cluster")]
    pub fn tasks_waiting_for_node(&self) -> Vec<(String, String)> {
        self.node
            .cluster
            .get()
            .map(|c| c.waiting())
            .unwrap_or_default()
    }

    /// This node's name in its cluster (`local` in none).
    pub fn node_name(&self) -> String {
        self.node.tasks.node_name()
    }

    /// The nodes of the cluster as this node sees them (none when it is in
    /// no cluster).
    #[cfg(feature = "cluster")]
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.node
            .cluster
            .get()
            .map(|c| c.registry.nodes())
            .unwrap_or_default()
    }

    /// Whether this node is its cluster's active head or a standby (`None`:
    /// it is no head, or in no cluster). Only the active head accepts jobs
    /// and answers joining nodes; a standby takes over when the active
    /// head's lease runs out (see `cluster::heads`).
    #[cfg(feature = "cluster")]
    pub fn head_role(&self) -> Option<crate::HeadRole> {
        self.node.cluster.get().and_then(|c| c.registry.head_role())
    }

    /// Every actor of the node (dead ones until their handles are gone).
    pub fn actors(&self) -> Vec<ActorInfo> {
        self.node.actors.list()
    }

    /// The tasks `filter` selects (this node's: those it ran, and those
    /// it sent to other nodes), the newest first.
    pub fn list_tasks(&self, filter: &crate::TaskFilter) -> Vec<crate::TaskRow> {
        self.node.tasks.list_tasks(filter)
    }

    /// The objects of `job` (or all) in this node's store, at most
    /// `limit`, the newest first (stubs of other nodes' objects too).
    pub fn list_objects(&self, job: Option<JobId>, limit: usize) -> Vec<crate::ObjectRow> {
        self.node.control.lock().list_objects(job, limit)
    }

    /// Usage and task counts.
    pub fn stats(&self) -> RuntimeStats {
        self.node.control.lock().stats()
    }

    /// Wait until no task is queued, running or blocked (tasks a driver
    /// submitted but never waited for), at most `timeout`.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.node.control.lock().counts();
            if c.running + c.blocked + c.waiting_for_resources + c.waiting_for_args == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
