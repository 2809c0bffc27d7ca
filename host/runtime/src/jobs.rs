//! Jobs: a driver run on a long-running node (the head), with its own log,
//! its own objects and a stop switch. This module keeps the registry: each
//! job's status, exit, log and stop flag, and forgets the oldest finished
//! jobs beyond a limit so that a long-running head stays bounded. Running a
//! job (load, drive, clean up) is the node's (`node`); a job's task counts
//! are kept with its tasks (`control`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::cancel::CancelFlag;
use crate::control::{JobId, JobTasks};
use crate::error::RunError;

/// Most bytes of output kept per job.
pub const JOB_LOG_BYTES: usize = 16 << 20;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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

/// What the head reports of a job.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobInfo {
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
    /// Tasks the job submitted.
    pub tasks_submitted: u64,
    /// Of those, finished or failed.
    pub tasks_done: u64,
}

struct Job {
    info: JobInfo,
    output: MemoryOutputPipe,
    stop: Arc<CancelFlag>,
}

/// The jobs of a node.
pub(crate) struct Jobs {
    jobs: Mutex<HashMap<JobId, Job>>,
    next: AtomicU64,
    keep_finished: usize,
}

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

impl Jobs {
    /// A registry that remembers at most `keep_finished` finished jobs.
    pub(crate) fn new(keep_finished: usize) -> Self {
        Jobs {
            jobs: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            keep_finished,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<JobId, Job>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next job id (not registered yet).
    pub(crate) fn next_id(&self) -> JobId {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Register running job `id`; returns its stop flag.
    pub(crate) fn start(&self, id: JobId, name: &str) -> Arc<CancelFlag> {
        let stop = Arc::new(CancelFlag::default());
        let info = JobInfo {
            id,
            name: name.to_string(),
            status: JobStatus::Running,
            exit_code: None,
            error: None,
            submitted_at: unix_ms(),
            ended_at: None,
            tasks_submitted: 0,
            tasks_done: 0,
        };
        let output = MemoryOutputPipe::new(JOB_LOG_BYTES);
        self.lock().insert(
            id,
            Job {
                info,
                output,
                stop: stop.clone(),
            },
        );
        stop
    }

    /// Where job `id`'s guests write (`None`: not a head job).
    pub(crate) fn output(&self, id: JobId) -> Option<MemoryOutputPipe> {
        self.lock().get(&id).map(|j| j.output.clone())
    }

    /// Record how job `id`'s driver ended, forgetting the oldest finished
    /// jobs beyond the limit.
    pub(crate) fn end(&self, id: JobId, result: &Result<i32, RunError>, tasks: JobTasks) {
        let mut jobs = self.lock();
        forget_old_jobs(&mut jobs, self.keep_finished);
        if let Some(job) = jobs.get_mut(&id) {
            let info = &mut job.info;
            info.ended_at = Some(unix_ms());
            info.tasks_submitted = tasks.submitted;
            info.tasks_done = tasks.done;
            match result {
                _ if job.stop.is_set() => info.status = JobStatus::Stopped,
                Ok(0) => {
                    info.status = JobStatus::Succeeded;
                    info.exit_code = Some(0);
                }
                Ok(code) => {
                    info.status = JobStatus::Failed;
                    info.exit_code = Some(*code);
                }
                Err(e) => {
                    info.status = JobStatus::Failed;
                    info.error = Some(e.to_string());
                }
            }
        }
    }

    /// Set job `id`'s stop flag; false if there is no such job.
    pub(crate) fn stop(&self, id: JobId) -> bool {
        match self.lock().get(&id) {
            Some(job) => {
                job.stop.set();
                true
            }
            None => false,
        }
    }

    /// Every job, oldest first.
    pub(crate) fn list(&self) -> Vec<JobInfo> {
        let mut v: Vec<JobInfo> = self.lock().values().map(|j| j.info.clone()).collect();
        v.sort_by_key(|j| j.id);
        v
    }

    /// One job.
    pub(crate) fn get(&self, id: JobId) -> Option<JobInfo> {
        self.lock().get(&id).map(|j| j.info.clone())
    }

    /// A job's log from byte `offset` on.
    pub(crate) fn log(&self, id: JobId, offset: usize) -> Option<Vec<u8>> {
        let jobs = self.lock();
        let all = jobs.get(&id)?.output.contents();
        Some(
            all.get(offset.min(all.len())..)
                .unwrap_or_default()
                .to_vec(),
        )
    }
}

/// Forget the oldest finished jobs so that, with the one about to finish,
/// at most `keep` finished jobs remain.
fn forget_old_jobs(jobs: &mut HashMap<JobId, Job>, keep: usize) {
    let mut finished: Vec<JobId> = jobs
        .values()
        .filter(|j| j.info.status != JobStatus::Running)
        .map(|j| j.info.id)
        .collect();
    let excess = (finished.len() + 1)
        .saturating_sub(keep)
        .min(finished.len());
    finished.sort_unstable();
    for id in &finished[..excess] {
        jobs.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_ends_with_the_status_of_its_driver() {
        let jobs = Jobs::new(10);
        for (result, status) in [
            (Ok(0), JobStatus::Succeeded),
            (Ok(3), JobStatus::Failed),
            (Err(RunError::Internal("x".into())), JobStatus::Failed),
        ] {
            let id = jobs.next_id();
            jobs.start(id, "j");
            assert_eq!(jobs.get(id).unwrap().status, JobStatus::Running);
            jobs.end(id, &result, JobTasks::default());
            let info = jobs.get(id).unwrap();
            assert_eq!(info.status, status);
            assert!(info.ended_at.is_some());
        }
        let id = jobs.next_id();
        jobs.start(id, "stopped");
        assert!(jobs.stop(id));
        jobs.end(id, &Ok(0), JobTasks::default());
        assert_eq!(jobs.get(id).unwrap().status, JobStatus::Stopped);
        assert!(!jobs.stop(999));
    }

    #[test]
    fn only_the_newest_finished_jobs_are_kept_and_running_ones_never_forgotten() {
        let jobs = Jobs::new(2);
        let running = jobs.next_id();
        jobs.start(running, "running");
        let ids: Vec<JobId> = (0..4).map(|_| jobs.next_id()).collect();
        for &id in &ids {
            jobs.start(id, "done");
            jobs.end(id, &Ok(0), JobTasks::default());
        }
        let left: Vec<JobId> = jobs.list().iter().map(|j| j.id).collect();
        assert_eq!(left, vec![running, ids[2], ids[3]]);
    }

    #[test]
    fn a_log_is_read_from_an_offset() {
        let jobs = Jobs::new(2);
        let id = jobs.next_id();
        jobs.start(id, "j");
        assert!(jobs.output(id).is_some());
        assert!(
            jobs.output(id + 1).is_none(),
            "not a head job: the terminal"
        );
        assert_eq!(jobs.log(id, 0).unwrap(), b"");
        assert_eq!(jobs.log(id, 100).unwrap(), b"", "past the end: nothing");
        assert!(jobs.log(id + 1, 0).is_none());
    }
}
