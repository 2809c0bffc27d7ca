//! Jobs: a driver run on a long-running node (the head), with its own log,
//! its own objects and a stop switch. This module keeps the registry: each
//! job's status, exit, log and stop flag, and forgets the oldest finished
//! jobs beyond a limit so that a long-running head stays bounded. Running a
//! job (load, drive, clean up) is the node's (`node`); a job's task counts
//! are kept with its tasks (`control`).
//!
//! A job's log ([`JobLog`]) keeps the last [`JOB_LOG_BYTES`] of what its
//! guests print: older output is dropped (and readers are told how much),
//! so a job that prints without end keeps running in bounded memory.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::core::cancel::CancelFlag;
use crate::core::control::{JobId, JobTasks};
use crate::error::RunError;

/// Most bytes of output kept per job.
pub const JOB_LOG_BYTES: usize = 16 << 20;

/// Most bytes of output kept by all finished jobs together; past it the
/// oldest finished jobs keep only their last [`TRIMMED_LOG_BYTES`].
pub(crate) const FINISHED_LOGS_BYTES: usize = 64 << 20;

/// What a finished job's log keeps once it is trimmed.
pub(crate) const TRIMMED_LOG_BYTES: usize = 64 << 10;

/// The longest argument a job's record shows as it is.
const SHOWN_ARG: usize = 256;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// For a part of a job of another node of the cluster (the tasks that
    /// node placed here): that node's id. Stopping this node lets these
    /// finish.
    pub origin: Option<u16>,
    /// And the job's id on that node.
    pub origin_job: Option<JobId>,
    /// The arguments its driver was given.
    pub args: Vec<String>,
    /// The module's size, bytes (0 for a part of another node's job).
    pub module_bytes: usize,
    /// Tasks the job submitted.
    pub tasks_submitted: u64,
    /// Of those, finished or failed.
    pub tasks_done: u64,
}

/// The last bytes a job printed.
#[derive(Debug, Default)]
struct Ring {
    bytes: VecDeque<u8>,
    /// Bytes dropped from the front so far: the offset of `bytes[0]`.
    dropped: u64,
    capacity: usize,
    /// Readers see the log up to here only (a durable job's log: up to
    /// what is in JetStream, so that a head carrying the job on shows the
    /// same bytes at the same offsets); `None`: all of it.
    visible: Option<u64>,
}

impl Ring {
    /// Keep only the last `keep` bytes, and give the rest of the memory
    /// back.
    fn trim(&mut self, keep: usize) {
        let over = self.bytes.len().saturating_sub(keep);
        self.bytes.drain(..over);
        self.dropped += over as u64;
        self.capacity = self.capacity.min(keep);
        self.bytes.shrink_to_fit();
    }

    fn push(&mut self, data: &[u8]) {
        // Only the tail of a write larger than the whole log can stay.
        let skip = data.len().saturating_sub(self.capacity);
        self.dropped += skip as u64;
        let data = &data[skip..];
        let over = (self.bytes.len() + data.len()).saturating_sub(self.capacity);
        self.bytes.drain(..over);
        self.dropped += over as u64;
        self.bytes.extend(data);
    }
}

/// Part of a job's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    /// Offset of the first byte (past what was asked for when older output
    /// was dropped).
    pub start: u64,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A job's stdout and stderr: the last `capacity` bytes, shared by every
/// instance of the job.
///
/// Lock order: a leaf, after `Jobs::jobs` and an output stream's `pending`.
#[derive(Debug, Clone)]
pub(crate) struct JobLog(Arc<Mutex<Ring>>);

impl JobLog {
    pub(crate) fn new(capacity: usize) -> Self {
        JobLog(Arc::new(Mutex::new(Ring {
            capacity,
            ..Ring::default()
        })))
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn push(&self, data: &[u8]) {
        self.ring().push(data);
    }

    /// Readers see up to byte `end` only (`None`: all of it).
    pub(crate) fn set_visible(&self, end: Option<u64>) {
        self.ring().visible = end;
    }

    /// Start the log at byte `start` with `bytes` (what a durable log held
    /// when another head carries its job on).
    pub(crate) fn seed(&self, start: u64, bytes: &[u8]) {
        let mut ring = self.ring();
        ring.bytes.clear();
        ring.dropped = start;
        ring.push(bytes);
    }

    /// Bytes held now.
    fn len(&self) -> usize {
        self.ring().bytes.len()
    }

    /// At most `max` bytes from offset `offset` on; from the oldest byte
    /// kept if older ones were dropped; up to what readers may see.
    pub(crate) fn read(&self, offset: u64, max: usize) -> LogChunk {
        self.read_to(offset, max, true)
    }

    /// [`JobLog::read`] of all that is there, seen by readers or not.
    pub(crate) fn read_all(&self, offset: u64, max: usize) -> LogChunk {
        self.read_to(offset, max, false)
    }

    fn read_to(&self, offset: u64, max: usize, visible: bool) -> LogChunk {
        let ring = self.ring();
        let mut end = ring.dropped + ring.bytes.len() as u64;
        if let Some(v) = ring.visible.filter(|_| visible) {
            end = end.min(v.max(ring.dropped));
        }
        let start = offset.clamp(ring.dropped, end);
        let from = (start - ring.dropped) as usize;
        let to = (from + max).min((end - ring.dropped) as usize);
        LogChunk {
            start,
            bytes: ring.bytes.range(from..to).copied().collect(),
        }
    }
}

struct Job {
    info: JobInfo,
    output: JobLog,
    stop: Arc<CancelFlag>,
}

/// The jobs of a node.
pub(crate) struct Jobs {
    /// Lock order: after `Remote::guests`; before a [`JobLog`]'s ring.
    jobs: Mutex<HashMap<JobId, Job>>,
    next: AtomicU64,
    keep_finished: usize,
}

/// Now, ms since the Unix epoch (as job records say when).
pub(crate) fn unix_ms() -> f64 {
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
        JobId::new(self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// Register running job `id`; returns its stop flag.
    pub(crate) fn start(&self, id: JobId, name: &str) -> Arc<CancelFlag> {
        self.start_for(id, name, None)
    }

    /// Note what job `id` was started with.
    /// An argument longer than [`SHOWN_ARG`] bytes (a Python program's
    /// bundle of sources) is kept as its length: the job table is read by
    /// people.
    pub(crate) fn describe(&self, id: JobId, args: &[String], module_bytes: usize) {
        if let Some(job) = self.lock().get_mut(&id) {
            job.info.args = args
                .iter()
                .map(|a| {
                    if a.len() > SHOWN_ARG {
                        format!("<{} bytes>", a.len())
                    } else {
                        a.clone()
                    }
                })
                .collect();
            job.info.module_bytes = module_bytes;
        }
    }

    /// Record a job, part of job `.1` of node `.0` when `origin` is given.
    pub(crate) fn start_for(
        &self,
        id: JobId,
        name: &str,
        origin: Option<(u16, JobId)>,
    ) -> Arc<CancelFlag> {
        let stop = Arc::new(CancelFlag::default());
        let info = JobInfo {
            id,
            name: name.to_string(),
            status: JobStatus::Running,
            exit_code: None,
            error: None,
            submitted_at: unix_ms(),
            ended_at: None,
            origin: origin.map(|o| o.0),
            origin_job: origin.map(|o| o.1),
            args: Vec::new(),
            module_bytes: 0,
            tasks_submitted: 0,
            tasks_done: 0,
        };
        let output = JobLog::new(JOB_LOG_BYTES);
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

    /// [`Jobs::end`] if job `id` is still the run whose stop flag is
    /// `stop` (a durable job carried on by this head again is a new run of
    /// the same id).
    pub(crate) fn end_run(
        &self,
        id: JobId,
        stop: &Arc<CancelFlag>,
        result: &Result<i32, RunError>,
        tasks: JobTasks,
    ) -> bool {
        let same = self
            .lock()
            .get(&id)
            .is_some_and(|j| Arc::ptr_eq(&j.stop, stop));
        if same {
            self.end(id, result, tasks);
        }
        same
    }

    /// Forget job `id` while it runs (a job this head handed over, which
    /// another head carries on now); false if there is no such job, or it
    /// ended, or it is a part of another node's job.
    pub(crate) fn forget_running(&self, id: JobId) -> bool {
        let mut jobs = self.lock();
        let running = jobs
            .get(&id)
            .is_some_and(|j| j.info.status == JobStatus::Running && j.info.origin.is_none());
        if running {
            jobs.remove(&id);
        }
        running
    }

    /// Note when job `id` was submitted (a job carried on from another
    /// head keeps its time).
    pub(crate) fn submitted_at(&self, id: JobId, ms: f64) {
        if let Some(job) = self.lock().get_mut(&id) {
            job.info.submitted_at = ms;
        }
    }

    /// Where job `id`'s guests write (`None`: not a head job).
    pub(crate) fn output(&self, id: JobId) -> Option<JobLog> {
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
            job.output.ring().bytes.shrink_to_fit();
        }
        trim_finished_logs(&mut jobs);
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

    /// At most `max` bytes of a job's log from byte `offset` on.
    pub(crate) fn log(&self, id: JobId, offset: u64, max: usize) -> Option<LogChunk> {
        let log = self.lock().get(&id)?.output.clone();
        Some(log.read(offset, max))
    }
}

/// Keep the logs of finished jobs within [`FINISHED_LOGS_BYTES`] together:
/// trim the oldest first.
fn trim_finished_logs(jobs: &mut HashMap<JobId, Job>) {
    let mut finished: Vec<(JobId, usize)> = jobs
        .values()
        .filter(|j| j.info.status != JobStatus::Running)
        .map(|j| (j.info.id, j.output.len()))
        .collect();
    let mut total: usize = finished.iter().map(|(_, n)| n).sum();
    finished.sort_unstable();
    for (id, len) in finished {
        if total <= FINISHED_LOGS_BYTES {
            break;
        }
        if len > TRIMMED_LOG_BYTES {
            jobs[&id].output.ring().trim(TRIMMED_LOG_BYTES);
            total -= len - TRIMMED_LOG_BYTES;
        }
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
        assert!(!jobs.stop(JobId::new(999)));
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
    fn a_log_keeps_its_last_bytes_and_says_where_they_start() {
        let log = JobLog::new(8);
        log.push(b"hello ");
        let chunk = |start: u64, bytes: &[u8]| LogChunk {
            start,
            bytes: bytes.to_vec(),
        };
        assert_eq!(log.read(0, 100), chunk(0, b"hello "));
        assert_eq!(log.read(2, 3).bytes, b"llo");
        log.push(b"world");
        // "hello world" is 11 bytes; the first 3 were dropped.
        assert_eq!(log.read(0, 100), chunk(3, b"lo world"));
        assert_eq!(log.read(9, 100).bytes, b"ld");
        assert_eq!(log.read(50, 100), chunk(11, b""), "past the end");
        // A write larger than the log keeps its tail.
        log.push(b"0123456789abcdef");
        assert_eq!(log.read(0, 100), chunk(19, b"89abcdef"));
    }

    #[test]
    fn finished_jobs_logs_are_trimmed_oldest_first_past_their_budget() {
        let jobs = Jobs::new(100);
        let big = vec![b'x'; 10 << 20];
        let ids: Vec<JobId> = (0..8).map(|_| jobs.next_id()).collect();
        for &id in &ids {
            jobs.start(id, "j");
            jobs.output(id).unwrap().push(&big);
            jobs.end(id, &Ok(0), JobTasks::default());
        }
        // 8 x 10 MiB > 64 MiB: the oldest were cut to their last 64 KiB.
        let kept = |id| jobs.log(id, 0, usize::MAX).unwrap();
        assert_eq!(kept(ids[0]).bytes.len(), TRIMMED_LOG_BYTES);
        assert_eq!(kept(ids[0]).start, (10 << 20) - TRIMMED_LOG_BYTES as u64);
        assert_eq!(kept(ids[7]).bytes.len(), 10 << 20, "the newest is whole");
        let total: usize = ids.iter().map(|&id| kept(id).bytes.len()).sum();
        assert!(total <= FINISHED_LOGS_BYTES, "{total}");
    }

    #[test]
    fn only_a_running_job_of_this_node_is_forgotten_while_it_runs() {
        let jobs = Jobs::new(10);
        let (a, b, c) = (JobId::new(1), JobId::new(2), JobId::new(3));
        jobs.start(a, "a");
        jobs.start(b, "b");
        jobs.end(b, &Ok(0), JobTasks::default());
        jobs.start_for(c, "part", Some((7, JobId::new(9))));
        assert!(jobs.forget_running(a));
        assert!(jobs.get(a).is_none());
        // An ended job, and a part of another node's job, stay.
        assert!(!jobs.forget_running(b));
        assert!(!jobs.forget_running(c));
        assert!(jobs.get(b).is_some() && jobs.get(c).is_some());
        assert!(!jobs.forget_running(JobId::new(4)));
    }

    #[test]
    fn only_head_jobs_have_a_log() {
        let jobs = Jobs::new(2);
        let id = jobs.next_id();
        jobs.start(id, "j");
        assert!(jobs.output(id).is_some());
        assert!(
            jobs.output(JobId::new(id.get() + 1)).is_none(),
            "not a head job: the terminal"
        );
        assert_eq!(jobs.log(id, 0, 10).unwrap().bytes, b"");
        assert!(jobs.log(JobId::new(id.get() + 1), 0, 10).is_none());
    }
}
