//! A head's durable jobs (what is kept where: `cluster::durable`): it
//! submits them with their record, journal and log in JetStream; when it
//! becomes the cluster's active head it carries on every job whose record
//! says it runs but that runs nowhere here (its head died, or lost the
//! lease); when its tenure is over (another head took the lease, or it
//! ran out) it stops its own, for the active head to carry on. While it is
//! unsure of its lease (a write did not get through) its drivers' calls
//! and log writes wait.
//!
//! Carrying a job on is replaying it: its driver starts again from its
//! module and arguments, the calls the journal holds are answered from
//! there (`exec::journal`), the rest run. Its log goes on from what the
//! durable log holds, after a line saying so; readers of a durable job's
//! log see only what is durable (at most [`LOG_FLUSH`] behind), so the
//! bytes at an offset are the same on every head. What the driver printed
//! before its head died it prints again when replayed (it runs again):
//! those lines show twice, after the line that says it was carried on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cluster::Tenure;
use crate::cluster::durable::Claimed;
use crate::cluster::durable::{Durable, DurableLog, JobRecord, LOG_FLUSH, StreamJournal};
use crate::core::cancel::CancelFlag;
use crate::core::control::JobId;
use crate::core::jobs::{JobLog, JobStatus, unix_ms};
use crate::error::{LoadError, RunError};
use crate::exec::journal::{DriverJournal, Gate, GateSays, Journal};
use crate::wasm::modules;

use super::{Node, Runtime};

/// How long a job's end waits to write its last output to JetStream when
/// it cannot (after that, the log is shown as it is here).
const LAST_FLUSH: Duration = Duration::from_secs(5);

/// A head's durable jobs.
pub(crate) struct DurableJobs {
    pub(crate) store: Arc<Durable>,
    /// This head's node id and name.
    me: (u16, String),
    /// The jobs whose driver runs here.
    /// Lock order: a leaf.
    runs: Mutex<HashMap<JobId, Arc<Run>>>,
    /// Jobs this head stopped because it stopped being the active head
    /// (until it carries them on again).
    /// Lock order: a leaf.
    handed_over: Mutex<std::collections::HashSet<JobId>>,
    /// Other heads' jobs' logs as last read here (a follower of such a job
    /// reads only what is new each time).
    /// Lock order: a leaf.
    logs: Mutex<HashMap<JobId, DurableLog>>,
}

/// How many other heads' jobs' logs a head keeps read.
const LOGS_CACHED: usize = 16;

/// One run of a job's driver here.
struct Run {
    stop: Arc<CancelFlag>,
    /// Stopped because this head is no longer the active one: the job goes
    /// on elsewhere, and this run writes nothing of its end.
    handed_over: AtomicBool,
}

/// What a job's driver is started with.
struct Start {
    id: JobId,
    module: String,
    loaded: Arc<modules::Module>,
    args: Vec<String>,
    timeout: Option<Duration>,
    record: JobRecord,
    revision: u64,
    journal: Arc<StreamJournal>,
    run: Arc<Run>,
    /// Where its durable log ends now (what readers may see).
    log_end: u64,
}

impl DurableJobs {
    pub(crate) fn new(store: Arc<Durable>, me: (u16, String)) -> Arc<DurableJobs> {
        Arc::new(DurableJobs {
            store,
            me,
            runs: Mutex::new(HashMap::new()),
            handed_over: Mutex::new(std::collections::HashSet::new()),
            logs: Mutex::new(HashMap::new()),
        })
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Arc<Run>>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register a run of job `id` here (before its record says it runs:
    /// see [`DurableJobs::carry_on`]).
    fn register(&self, id: JobId, stop: Arc<CancelFlag>) -> Arc<Run> {
        let run = Arc::new(Run {
            stop,
            handed_over: AtomicBool::new(false),
        });
        self.runs().insert(id, run.clone());
        self.handed().remove(&id);
        run
    }

    fn handed(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<JobId>> {
        self.handed_over.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stop every run here: this head is no longer the active one.
    fn hand_over(&self) {
        for (id, run) in self.runs().iter() {
            tracing::warn!(
                job = id.get(),
                "this head is no longer active: its job stops here"
            );
            run.handed_over.store(true, Ordering::SeqCst);
            run.stop.set();
            self.handed().insert(*id);
        }
    }
}

impl Runtime {
    /// `submit_job` on a head that keeps its jobs in the cluster.
    pub(super) fn submit_durable(
        self: &Arc<Self>,
        durable: &Arc<DurableJobs>,
        name: &str,
        bytes: &[u8],
        args: Vec<String>,
        timeout: Option<Duration>,
    ) -> Result<JobId, LoadError> {
        let failed = |message: String| LoadError::Durable {
            name: name.to_string(),
            message,
        };
        let id = self
            .workers()
            .block_on(durable.store.next_job_id())
            .map_err(failed)?;
        let module = format!("{name}-{id}");
        self.load_for(id, &module, bytes)?;
        let node = self.node.clone();
        let loaded = node.modules.get(&module).expect("just loaded");
        let stop = node.jobs.start(id, name);
        node.jobs.describe(id, &args, bytes.len());
        let run = durable.register(id, stop);
        let record = JobRecord {
            name: name.to_string(),
            args: args.clone(),
            module: loaded.digest.clone(),
            module_bytes: bytes.len(),
            timeout_s: timeout.map(|t| t.as_secs_f64()),
            submitted_at: unix_ms(),
            head: durable.me.0,
            head_name: durable.me.1.clone(),
            status: JobStatus::Running,
            exit_code: None,
            error: None,
            ended_at: None,
            resumed: 0,
            tasks_submitted: 0,
            tasks_done: 0,
        };
        let made = self.workers().block_on(async {
            let revision = durable.store.create(id, &record).await?;
            let journal = durable.store.journal(id, &node.handle).await?;
            Ok::<_, String>((revision, journal))
        });
        let (revision, journal) = match made {
            Ok(made) => made,
            Err(e) => {
                durable.runs().remove(&id);
                node.modules.remove(&module);
                node.jobs
                    .end(id, &Err(RunError::Internal(e.clone())), Default::default());
                return Err(failed(e));
            }
        };
        drive(
            node,
            durable.clone(),
            Start {
                id,
                module,
                loaded,
                args,
                timeout,
                record,
                revision,
                journal,
                run,
                log_end: 0,
            },
        );
        Ok(id)
    }
}

/// Carry on, here, every job whose record says it runs and whose driver
/// does not run here; each in the background. Called when this head has
/// just become the active one.
async fn carry_on(node: &Arc<Node>, durable: &Arc<DurableJobs>) {
    let records = match durable.store.all().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("cannot read the cluster's jobs to carry them on: {e}");
            return;
        }
    };
    for (id, record, revision) in records {
        if record.status != JobStatus::Running || durable.runs().contains_key(&id) {
            continue;
        }
        if let Err(e) = carry_on_one(node, durable, id, record, revision).await {
            tracing::warn!(job = id.get(), "cannot carry the job on: {e}");
        }
    }
}

async fn carry_on_one(
    node: &Arc<Node>,
    durable: &Arc<DurableJobs>,
    id: JobId,
    mut record: JobRecord,
    revision: u64,
) -> Result<(), String> {
    let before = record.head_name.clone();
    record.head = durable.me.0;
    record.head_name = durable.me.1.clone();
    record.resumed += 1;
    // Claimed: from now on only this head writes the job's record.
    let revision = match durable.store.update(id, &record, revision).await? {
        Ok(revision) => revision,
        Err(Claimed) => return Err(format!("job {id} was claimed by another head")),
    };
    let stop = node.jobs.start(id, &record.name);
    node.jobs.describe(id, &record.args, record.module_bytes);
    node.jobs.submitted_at(id, record.submitted_at);
    let run = durable.register(id, stop.clone());
    let fail = |e: String| {
        durable.runs().remove(&id);
        node.jobs.end_run(
            id,
            &stop,
            &Err(RunError::Internal(e.clone())),
            Default::default(),
        );
        e
    };
    let log = node.jobs.output(id).expect("just started");
    let (start, bytes) = durable.store.log(id).await.map_err(fail)?;
    log.seed(start, &bytes);
    let log_end = start + bytes.len() as u64;
    log.set_visible(Some(log_end));
    let journal = durable
        .store
        .journal(id, &node.handle)
        .await
        .map_err(fail)?;
    log.push(
        format!(
            "[raylab] job {id} goes on at head {} (was at head {before}): its driver runs again; \
             the {} calls it had finished are given back from its journal, not run again\n",
            durable.me.1,
            journal.len(),
        )
        .as_bytes(),
    );
    let bytes = node
        .cluster
        .get()
        .expect("a head in a cluster")
        .wire
        .module_bytes(&record.module)
        .await
        .map_err(fail)?;
    let module = format!("{}-{id}", record.name);
    let loaded = modules::load(
        &node.engine,
        &node.linker,
        &node.sandboxes,
        id,
        &module,
        &bytes,
        node.config.cache_dir.as_deref(),
        node.config.compiler.as_ref().map(|c| c.0.clone()),
        node.config.task_memory,
    )
    .await
    .map_err(|e| fail(e.to_string()))?;
    node.modules
        .insert(loaded)
        .map_err(|e| fail(e.to_string()))?;
    let loaded = node.modules.get(&module).expect("just loaded");
    // The time limit counts from the job's submission.
    let timeout = record.timeout_s.map(|t| {
        let spent = (unix_ms() - record.submitted_at).max(0.0) / 1e3;
        Duration::from_secs_f64((t - spent).max(0.001))
    });
    tracing::warn!(job = id.get(), from = %before, "carrying the job on here");
    drive(
        node.clone(),
        durable.clone(),
        Start {
            id,
            module,
            loaded,
            args: record.args.clone(),
            timeout,
            record,
            revision,
            journal,
            run,
            log_end,
        },
    );
    Ok(())
}

/// Write job `id`'s new output to its durable log every [`LOG_FLUSH`]
/// until `ended`, then what is left; readers see what is written. Ends by
/// showing the whole log (after [`LAST_FLUSH`] of failed tries at most).
async fn flush_log(
    store: Arc<Durable>,
    id: JobId,
    log: JobLog,
    mut written: u64,
    mut ended: tokio::sync::watch::Receiver<bool>,
    may: Arc<Gate>,
) {
    let mut failing_since: Option<tokio::time::Instant> = None;
    loop {
        let last = *ended.borrow();
        // A head that is not the active one writes nothing more: the job's
        // log goes on at the head that carries the job on (and one unsure
        // of its lease writes nothing until it is sure).
        match may() {
            GateSays::Go => {}
            GateSays::Stop(_) => break,
            GateSays::Wait => {
                let _ = tokio::time::timeout(LOG_FLUSH, ended.changed()).await;
                continue;
            }
        }
        loop {
            let chunk = log.read_all(written, 1 << 20);
            written = written.max(chunk.start);
            if chunk.bytes.is_empty() {
                break;
            }
            match store.append_log(id, chunk.start, &chunk.bytes).await {
                Ok(()) => {
                    written = chunk.start + chunk.bytes.len() as u64;
                    log.set_visible(Some(written));
                    failing_since = None;
                }
                Err(e) => {
                    tracing::debug!(job = id.get(), "writing the job's log: {e}");
                    failing_since.get_or_insert_with(tokio::time::Instant::now);
                    break;
                }
            }
        }
        let stuck = failing_since.is_some_and(|t| t.elapsed() >= LAST_FLUSH);
        if last && (log.read_all(written, 1).bytes.is_empty() || stuck) {
            break;
        }
        if stuck {
            // JetStream is out of reach: show what is here rather than
            // nothing (another head would show less).
            log.set_visible(None);
        }
        let _ = tokio::time::timeout(LOG_FLUSH, ended.changed()).await;
    }
    log.set_visible(None);
}

/// Run a durable job's driver in the background (see the module's docs),
/// then record its end.
fn drive(node: Arc<Node>, durable: Arc<DurableJobs>, s: Start) {
    let handle = node.handle.clone();
    handle.spawn(async move {
        let Start {
            id,
            module,
            loaded,
            args,
            timeout,
            mut record,
            revision,
            journal,
            run,
            log_end,
        } = s;
        let log = node.jobs.output(id).expect("a started job");
        log.set_visible(Some(log_end));
        // A head that is not the active one submits nothing and writes
        // nothing of the job: it goes on at the active head (this run
        // stops once the role watch sees it; this closes the moment
        // between).
        let registry = node.cluster.get().map(|c| c.registry.clone());
        let may: Arc<Gate> = Arc::new(Box::new(move || {
            match registry.as_ref().and_then(|r| r.head_tenure()) {
                Some(Tenure::Active) => GateSays::Go,
                Some(Tenure::Unsure) => GateSays::Wait,
                _ => GateSays::Stop(
                    "this head is no longer the cluster's active head: the job goes on at the \
                     active head"
                        .to_string(),
                ),
            }
        }));
        let (ended_tx, ended) = tokio::sync::watch::channel(false);
        let flusher = node.handle.spawn(flush_log(
            durable.store.clone(),
            id,
            log,
            log_end,
            ended,
            may.clone(),
        ));
        let limits = crate::exec::driver::Limits {
            memory: node.config.driver_memory,
            timeout,
        };
        let gate = {
            let may = may.clone();
            Box::new(move || may())
        };
        let journal = Arc::new(DriverJournal::gated(journal as Arc<dyn Journal>, gate));
        let result = crate::exec::driver::run(
            &node.sandboxes,
            loaded,
            &args,
            id,
            run.stop.clone(),
            limits,
            Some(journal.clone()),
        )
        .await;
        // As a job on one head ends (`submit_job`), and first the results
        // already there go into the journal.
        node.tasks.cancel_job(id);
        journal.settle().await;
        node.modules.remove(&module);
        if let Some(cluster) = node.cluster.get() {
            cluster.wire.job_ended(id).await;
        }
        node.tasks.forget_lineage(id);
        node.tasks.remove_groups_of(id);
        let tasks = node.control.lock().end_job(id);
        let _ = ended_tx.send(true);
        let _ = flusher.await;
        // Not the active head now (even if the role watch has not seen it
        // yet), or another head claimed the job: the run's end is not the
        // job's.
        let mut handed_over =
            run.handed_over.load(Ordering::SeqCst) || matches!(may(), GateSays::Stop(_));
        if !handed_over {
            // The job's end, for every head to see.
            record.status = match &result {
                _ if run.stop.is_set() => JobStatus::Stopped,
                Ok(0) => JobStatus::Succeeded,
                _ => JobStatus::Failed,
            };
            record.exit_code = result.as_ref().ok().copied();
            record.error = result.as_ref().err().map(ToString::to_string);
            record.ended_at = Some(unix_ms());
            record.tasks_submitted = tasks.submitted;
            record.tasks_done = tasks.done;
            match durable.store.update(id, &record, revision).await {
                Ok(Ok(_)) => {
                    durable.store.forget_journal(id).await;
                    if let Err(e) = durable.store.trim(node.config.keep_finished_jobs).await {
                        tracing::debug!("trimming the cluster's job table: {e}");
                    }
                }
                Ok(Err(Claimed)) => handed_over = true,
                Err(e) => tracing::warn!(job = id.get(), "the job's end is not recorded: {e}"),
            }
        }
        if handed_over {
            // The job is not over: it goes on at the active head (this one
            // again, maybe). Its entry here stays as it was, running, until
            // a run of it starts here again; the API shows the cluster's
            // record of it meanwhile.
            durable.handed().insert(id);
        } else {
            node.jobs.end_run(id, &run.stop, &result, tasks);
        }
        let mut runs = durable.runs();
        if runs.get(&id).is_some_and(|r| Arc::ptr_eq(r, &run)) {
            runs.remove(&id);
        }
    });
}

/// How often the active head looks for jobs that run nowhere (one it
/// claimed and could not start, say, while a NATS server died).
const RESCAN: Duration = Duration::from_secs(5);

/// Watch this head's role: carry jobs on when it becomes the active head
/// (and every [`RESCAN`] while it is), hand its own over when it stops
/// being it. Runs while the node lives.
pub(super) fn watch_role(node: &Arc<Node>, durable: Arc<DurableJobs>) {
    let weak = Arc::downgrade(node);
    node.handle.spawn(async move {
        let mut was_active = false;
        let mut scanned = tokio::time::Instant::now();
        loop {
            let Some(node) = weak.upgrade() else { break };
            let Some(cluster) = node.cluster.get() else {
                break;
            };
            // Carry jobs on when this head becomes the active one; hand its
            // own over once its tenure is over (not while it is unsure of
            // its lease for a moment: its runs wait then).
            let tenure = cluster.registry.head_tenure();
            let active = tenure == Some(Tenure::Active);
            if active && (!was_active || scanned.elapsed() >= RESCAN) {
                carry_on(&node, &durable).await;
                scanned = tokio::time::Instant::now();
            }
            if tenure == Some(Tenure::Over) {
                durable.hand_over();
            }
            forget_carried_on(&node, &durable).await;
            was_active = active;
            drop(node);
            tokio::time::sleep(crate::cluster::HEARTBEAT).await;
        }
    });
}

/// Jobs this head handed over that another head has claimed since: their
/// entries here (left running) go, and the API shows the cluster's record
/// of them.
async fn forget_carried_on(node: &Arc<Node>, durable: &DurableJobs) {
    let handed: Vec<JobId> = durable.handed().iter().copied().collect();
    for id in handed {
        if durable.runs().contains_key(&id) {
            continue;
        }
        if let Ok(Some((record, _))) = durable.store.get(id).await
            && record.head != durable.me.0
        {
            node.jobs.forget_running(id);
            durable.handed().remove(&id);
        }
    }
}

impl JobRecord {
    /// The job as the API shows it.
    fn info(&self, id: JobId) -> crate::JobInfo {
        crate::JobInfo {
            id,
            name: self.name.clone(),
            status: self.status,
            exit_code: self.exit_code,
            error: self.error.clone(),
            submitted_at: self.submitted_at,
            ended_at: self.ended_at,
            origin: None,
            origin_job: None,
            args: self.args.clone(),
            module_bytes: self.module_bytes,
            tasks_submitted: self.tasks_submitted,
            tasks_done: self.tasks_done,
        }
    }
}

/// Reading jobs on a head that keeps them in the cluster: what this head
/// knows, and what the cluster's job table says of the jobs other heads
/// run or ran. A job whose record names another head is shown as the
/// record says (this head may have run it before it was carried on).
impl Runtime {
    fn durable_jobs(&self) -> Option<&Arc<DurableJobs>> {
        self.node.durable.get()
    }

    /// The cluster's record of job `id` where it names another head than
    /// this one.
    async fn record_elsewhere(&self, id: JobId) -> Option<JobRecord> {
        let durable = self.durable_jobs()?;
        // A job of this head's own (it runs here, or ran here to its end)
        // needs no read of the table: a follower polls it often.
        if self.node.jobs.get(id).is_some() && !durable.handed().contains(&id) {
            return None;
        }
        match durable.store.get(id).await {
            Ok(Some((record, _))) if record.head != durable.me.0 => Some(record),
            Ok(_) => None,
            Err(e) => {
                tracing::debug!("reading job {id}'s record: {e}");
                None
            }
        }
    }

    /// Every job, oldest first: [`Runtime::jobs`], and on a head that keeps
    /// its jobs in the cluster, the cluster's other jobs too (those other
    /// heads run or ran).
    pub async fn cluster_jobs(&self) -> Vec<crate::JobInfo> {
        let mut jobs = self.jobs();
        let Some(durable) = self.durable_jobs() else {
            return jobs;
        };
        let records = match durable.store.all().await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("reading the cluster's jobs: {e}");
                return jobs;
            }
        };
        for (id, record, _) in records {
            let local = jobs.iter().position(|j| j.id == id && j.origin.is_none());
            match local {
                Some(i) if record.head != durable.me.0 => jobs[i] = record.info(id),
                Some(_) => {}
                None => jobs.push(record.info(id)),
            }
        }
        jobs.sort_by_key(|j| j.id);
        jobs
    }

    /// Whether job `id` went on at another head that this head cannot name
    /// (it stopped the job when it stopped being the active head, and the
    /// cluster's job table is out of its reach): ask the active head.
    pub async fn job_went_elsewhere(&self, id: JobId) -> bool {
        let Some(durable) = self.durable_jobs() else {
            return false;
        };
        durable.handed().contains(&id) && durable.store.get(id).await.is_err()
    }

    /// One job: [`Runtime::job`], or the cluster's record of it.
    pub async fn cluster_job(&self, id: JobId) -> Option<crate::JobInfo> {
        match self.record_elsewhere(id).await {
            Some(record) => Some(record.info(id)),
            None => self.job(id),
        }
    }

    /// [`Runtime::job_log`], or the job's durable log where another head
    /// runs or ran it.
    pub async fn cluster_job_log(
        &self,
        id: JobId,
        offset: u64,
        max: usize,
    ) -> Option<crate::LogChunk> {
        if self.record_elsewhere(id).await.is_none() {
            return self.job_log(id, offset, max);
        }
        let durable = self.durable_jobs()?;
        let mut read = durable
            .logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id)
            .unwrap_or_default();
        durable.store.read_log(id, &mut read).await.ok()?;
        let log = JobLog::new(crate::JOB_LOG_BYTES);
        log.seed(read.start, &read.bytes);
        let mut logs = durable.logs.lock().unwrap_or_else(|p| p.into_inner());
        if logs.len() >= LOGS_CACHED && !logs.contains_key(&id) {
            let any = logs.keys().next().copied();
            if let Some(any) = any {
                logs.remove(&any);
            }
        }
        logs.insert(id, read);
        Some(log.read(offset, max))
    }
}
