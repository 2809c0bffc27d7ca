//! The task table: the tasks a node runs, as `list tasks` and the
//! dashboard's Tasks page show them, each with its sandbox figures: peak
//! linear memory against its quota, duration against its time limit, and
//! every attempt with the error of each that failed.
//!
//! Bounded: every task not finished is kept; of finished ones, the last
//! [`KEEP`]. A task is recorded when submitted, started and finished (one
//! short lock each, and one per failed attempt that is retried); one that
//! never runs (a dependency failed, it was cancelled while queued, its job
//! ended) ends as `NOT_RUN` when the runtime lets it go. Its cost per task
//! is measured in BENCHMARKS.md.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::ids::JobId;

/// Finished tasks kept.
pub(crate) const KEEP: usize = 10_000;

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    /// Waiting for its arguments or resources.
    Pending,
    /// Running (here, or on the node it was sent to).
    Running,
    /// Done, with a result.
    Finished,
    /// Done, with an error.
    Failed,
    /// Let go without running (a dependency failed, it was cancelled while
    /// queued, or its job ended).
    NotRun,
}

/// One task, as listed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TaskRow {
    /// Its id on this node.
    pub id: u64,
    /// Its job.
    pub job: JobId,
    /// Its name (the function, or the name its options gave).
    pub name: Arc<str>,
    /// Its state.
    pub state: TaskState,
    /// The node it ran on (this one, unless it was sent to another).
    pub node: Option<Arc<str>>,
    /// When it was submitted, ms since the Unix epoch.
    pub submitted_ms: f64,
    /// When it started, ms since the Unix epoch.
    pub started_ms: Option<f64>,
    /// How long it ran (all attempts), ms.
    pub duration_ms: Option<f64>,
    /// The largest linear memory of its sandboxes, bytes.
    pub memory_peak: Option<u64>,
    /// Its memory quota, bytes.
    pub memory_quota: u64,
    /// Its time limit per attempt, ms.
    pub time_limit_ms: Option<u64>,
    /// Attempts so far.
    pub attempts: u32,
    /// The error of each failed attempt, in order.
    pub errors: Vec<String>,
}

fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

#[derive(Debug, Default)]
struct Inner {
    live: crate::ids::IdMap<TaskRow>,
    done: VecDeque<TaskRow>,
}

/// A node's task table.
#[derive(Debug, Default)]
pub(crate) struct TaskTable {
    /// Lock order: a leaf, also taken under the control lock (a task
    /// dropped there ends its row through its [`RowGuard`]).
    inner: Mutex<Inner>,
}

/// Which tasks to list.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TaskFilter {
    /// Only this job's.
    pub job: Option<JobId>,
    /// Only those whose name contains this.
    pub name: Option<String>,
    /// Only those in this state.
    pub state: Option<TaskState>,
    /// At most this many, the newest first (default 1000).
    pub limit: Option<usize>,
}

impl TaskTable {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Task `id` of `job` was submitted.
    pub(crate) fn submitted(
        self: &Arc<Self>,
        id: u64,
        job: JobId,
        name: impl Into<Arc<str>>,
        memory_quota: u64,
        time_limit_ms: Option<u64>,
    ) -> RowGuard {
        let row = TaskRow {
            id,
            job,
            name: name.into(),
            state: TaskState::Pending,
            node: None,
            submitted_ms: now_ms(),
            started_ms: None,
            duration_ms: None,
            memory_peak: None,
            memory_quota,
            time_limit_ms,
            attempts: 0,
            errors: Vec::new(),
        };
        self.with(|t| t.live.insert(id, row));
        RowGuard {
            table: self.clone(),
            id,
            ended: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Task `id` started on `node`.
    pub(crate) fn started(&self, id: u64, node: Arc<str>) {
        self.with(|t| {
            if let Some(r) = t.live.get_mut(&id) {
                r.state = TaskState::Running;
                r.node = Some(node);
                r.started_ms = Some(now_ms());
            }
        });
    }

    /// An attempt of task `id` ended, with its sandbox's peak memory and
    /// its error if it failed.
    pub(crate) fn attempt(&self, id: u64, memory: Option<u64>, error: Option<String>) {
        self.with(|t| {
            if let Some(r) = t.live.get_mut(&id) {
                note_attempt(r, memory, error);
            }
        });
    }

    /// The task of `row` ended: `ok` when it has a result; `last`, its last
    /// attempt's figures when [`TaskTable::attempt`] has not recorded them.
    pub(crate) fn finished(&self, row: &RowGuard, ok: bool, last: Option<Figures>) {
        row.ended.store(true, std::sync::atomic::Ordering::Relaxed);
        let state = if ok {
            TaskState::Finished
        } else {
            TaskState::Failed
        };
        self.end(row.id, state, last);
    }

    fn end(&self, id: u64, state: TaskState, last: Option<Figures>) {
        self.with(|t| {
            if let Some(mut r) = t.live.remove(&id) {
                if let Some((memory, error)) = last {
                    note_attempt(&mut r, memory, error);
                }
                r.state = state;
                r.duration_ms = r.started_ms.map(|s| (now_ms() - s).max(0.0));
                if t.done.len() == KEEP {
                    t.done.pop_front();
                } else if t.done.capacity() == 0 {
                    // The whole bound at once (see `Timeline::record`).
                    t.done.reserve_exact(KEEP);
                }
                t.done.push_back(r);
            }
        });
    }

    /// The tasks `filter` selects, the newest first.
    pub(crate) fn list(&self, filter: &TaskFilter) -> Vec<TaskRow> {
        let limit = filter.limit.unwrap_or(1000);
        let name = filter.name.as_deref().unwrap_or("");
        let keep = |r: &&TaskRow| {
            filter.job.is_none_or(|j| r.job == j)
                && filter.state.is_none_or(|s| r.state == s)
                && r.name.contains(name)
        };
        self.with(|t| {
            let mut live: Vec<TaskRow> = t.live.values().filter(keep).cloned().collect();
            live.sort_unstable_by_key(|r| std::cmp::Reverse(r.id));
            live.into_iter()
                .chain(t.done.iter().rev().filter(keep).cloned())
                .take(limit)
                .collect()
        })
    }
}

/// One attempt's figures: its sandbox's peak memory, its error.
pub(crate) type Figures = (Option<u64>, Option<String>);

fn note_attempt(r: &mut TaskRow, memory: Option<u64>, error: Option<String>) {
    r.attempts += 1;
    if let Some(m) = memory {
        r.memory_peak = Some(r.memory_peak.unwrap_or(0).max(m));
    }
    r.errors.extend(error);
}

/// Ends its task's row as `NOT_RUN` when the runtime lets the task go
/// without it having finished (held by the task).
pub(crate) struct RowGuard {
    table: Arc<TaskTable>,
    id: u64,
    /// Recorded as finished or failed already.
    ended: std::sync::atomic::AtomicBool,
}

impl Drop for RowGuard {
    fn drop(&mut self) {
        if !self.ended.load(std::sync::atomic::Ordering::Relaxed) {
            self.table.end(self.id, TaskState::NotRun, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_listed_through_its_life_with_its_figures() {
        let table = Arc::new(TaskTable::default());
        let row = table.submitted(1, JobId::new(7), "square", 64 << 20, Some(500));
        let other = table.submitted(2, JobId::new(8), "cube", 64 << 20, None);
        assert_eq!(table.list(&TaskFilter::default())[0].id, 2, "newest first");
        table.started(1, "head".into());
        table.attempt(1, Some(2 << 20), Some("task-crashed: boom".into()));
        table.finished(&row, true, Some((Some(3 << 20), None)));
        drop(row);
        let only = |f: TaskFilter| table.list(&f);
        let one = only(TaskFilter {
            job: Some(JobId::new(7)),
            ..Default::default()
        });
        assert_eq!(one.len(), 1);
        let r = &one[0];
        assert_eq!(r.state, TaskState::Finished, "not overwritten by the guard");
        assert_eq!((r.attempts, r.memory_peak), (2, Some(3 << 20)));
        assert_eq!(r.errors, vec!["task-crashed: boom".to_string()]);
        assert_eq!(r.node.as_deref(), Some("head"));
        assert!(r.duration_ms.is_some());
        // One never run ends as such when let go.
        drop(other);
        let not_run = only(TaskFilter {
            state: Some(TaskState::NotRun),
            ..Default::default()
        });
        assert_eq!(not_run.len(), 1);
        assert_eq!(&*not_run[0].name, "cube");
        assert!(
            only(TaskFilter {
                name: Some("squ".into()),
                ..Default::default()
            })
            .iter()
            .all(|r| &*r.name == "square")
        );
    }

    #[test]
    fn finished_tasks_are_bounded() {
        let table = Arc::new(TaskTable::default());
        for id in 0..(KEEP as u64 + 10) {
            drop(table.submitted(id, JobId::new(1), "t", 0, None));
        }
        let all = table.list(&TaskFilter {
            limit: Some(usize::MAX),
            ..Default::default()
        });
        assert_eq!(all.len(), KEEP);
        assert_eq!(all[0].id, KEEP as u64 + 9);
        // Reserved whole at the first finished task, never grown.
        let capacity = table.inner.lock().unwrap().done.capacity();
        assert!((KEEP..2 * KEEP).contains(&capacity), "{capacity}");
    }
}
