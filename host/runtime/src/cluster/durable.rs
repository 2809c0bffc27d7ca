//! Durable jobs: what a head knows of the jobs submitted to it, kept in
//! JetStream, so that another head carries them on when it dies (issue 22,
//! item 2). A head keeps them there when its NATS is not its own child
//! process (`start --head --nats URLS`; see [`ClusterConfig::durable_jobs`](super::ClusterConfig::durable_jobs)).
//!
//! | what | where |
//! | --- | --- |
//! | the job table: each job's name, arguments, module, time limit, status and the head running its driver | bucket `raylab-jobs`, key = the job's id, a [`JobRecord`] (JSON) |
//! | job ids, unique in the cluster | the counter `next-job` of the bucket `raylab-ids`, taken by compare-and-swap |
//! | the module | the cluster's module store, by SHA-256 (`wire::modules`) |
//! | the driver's journal: its finished calls' results, by call number | stream `RAYLAB_JOURNAL`, subject `raylab.journal.<job>`, one message a call |
//! | the job's log | stream `RAYLAB_LOGS`, subject `raylab.log.<job>`, one message a flush (every [`LOG_FLUSH`]), each with the offset of its first byte |
//!
//! Who may write a job's record: the head that runs its driver, over the
//! revision it last wrote (a compare-and-swap), so a head that lost the
//! cluster's lease and a job with it (another head carried the job on and
//! wrote the record since) cannot overwrite what the new one says.
//!
//! Reads that must see every acknowledged write (a journal and a log read
//! back by the head that carries a job on) go to each stream's leader
//! (`MSG.GET`), not to any replica (a direct get may be answered by a
//! replica a write or two behind).
//!
//! Limits: the journal and log streams keep [`STREAM_BYTES`] each, oldest
//! first out; a job's journal goes when the job ends, its log after
//! [`LOGS_KEPT`]. A journal record dropped for room runs its call again on
//! replay; it is never answered wrongly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};

use super::ClusterError;
use crate::core::jobs::JobStatus;
use crate::exec::journal::{self, Journal, Recorded, Recording, Records};
use crate::ids::JobId;

/// How often a running job's new output is written to its durable log.
pub(crate) const LOG_FLUSH: Duration = Duration::from_millis(200);

/// The most bytes of output one log message carries.
const LOG_CHUNK: usize = 256 << 10;

/// Bytes each of the journal and log streams keeps.
pub(crate) const STREAM_BYTES: i64 = 1 << 30;

/// How long a job's log is kept.
pub(crate) const LOGS_KEPT: Duration = Duration::from_secs(24 * 3600);

const JOBS_BUCKET: &str = "raylab-jobs";
const NEXT_JOB: &str = "next-job";
const JOURNAL: &str = "RAYLAB_JOURNAL";
const LOGS: &str = "RAYLAB_LOGS";

/// A job as the cluster keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct JobRecord {
    /// The job's name.
    pub name: String,
    /// Its driver's arguments.
    pub args: Vec<String>,
    /// Its module's SHA-256 (in the cluster's module store).
    pub module: String,
    /// The module's size, bytes.
    pub module_bytes: usize,
    /// Its time limit, seconds from submission.
    pub timeout_s: Option<f64>,
    /// When it was submitted, ms since the Unix epoch.
    pub submitted_at: f64,
    /// The node id of the head that runs its driver.
    pub head: u16,
    /// That head's name.
    pub head_name: String,
    /// Where it is.
    pub status: JobStatus,
    /// Its driver's exit status, once it ended.
    pub exit_code: Option<i32>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it ended, ms since the Unix epoch.
    pub ended_at: Option<f64>,
    /// Times another head (or this one again) carried it on.
    pub resumed: u32,
    /// Tasks submitted and finished, as of its end.
    pub tasks_submitted: u64,
    /// Of those, finished or failed.
    pub tasks_done: u64,
}

/// Another head wrote a job's record since this one last did: it carries
/// the job now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claimed;

/// The head's handle on the durable job state.
pub(crate) struct Durable {
    js: jetstream::Context,
    jobs: kv::Store,
    ids: kv::Store,
    journal: stream::Stream,
    logs: stream::Stream,
    /// The records of jobs that ended, as read (they do not change).
    /// Lock order: a leaf.
    ended: Mutex<HashMap<JobId, (JobRecord, u64)>>,
}

fn state(what: &str, e: impl std::fmt::Display) -> String {
    format!("the cluster's job table ({what}): {e}")
}

/// A stream of `name` on `subjects`, made if it is not there.
async fn open_stream(
    js: &jetstream::Context,
    name: &str,
    subjects: &str,
    max_age: Duration,
    replicas: usize,
) -> Result<stream::Stream, ClusterError> {
    let config = stream::Config {
        name: name.into(),
        subjects: vec![subjects.into()],
        max_bytes: STREAM_BYTES,
        max_age,
        discard: stream::DiscardPolicy::Old,
        allow_direct: true,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    };
    super::until_jetstream_ready(|| js.get_or_create_stream(config.clone()))
        .await
        .map_err(|e| ClusterError::State(format!("cannot make the stream {name}: {e}")))
}

/// The messages of `subject` in `stream` from stream sequence `from` on,
/// oldest first, from the stream's leader; and the sequence to read from
/// next time.
async fn read_subject(
    stream: &stream::Stream,
    subject: &str,
    from: u64,
) -> Result<(Vec<Bytes>, u64), String> {
    let mut out = Vec::new();
    let mut seq = from.max(1);
    loop {
        let got = super::until_jetstream_ready(|| async {
            match stream
                .raw_message_builder()
                .sequence(seq)
                .next_by_subject(subject.to_string())
                .send()
                .await
            {
                Ok(m) => Ok(Some(m)),
                Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => Ok(None),
                Err(e) => Err(e.to_string()),
            }
        })
        .await?;
        let Some(m) = got else {
            return Ok((out, seq));
        };
        seq = m.sequence + 1;
        out.push(m.payload);
    }
}

/// A job's durable log as read so far (see [`Durable::read_log`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct DurableLog {
    /// The offset of `bytes[0]` in the job's output.
    pub start: u64,
    /// The last bytes read (at most [`crate::JOB_LOG_BYTES`]).
    pub bytes: Vec<u8>,
    /// The stream sequence to read on from.
    next: u64,
}

impl DurableLog {
    /// Add a message's bytes, `part` from offset `at` on.
    fn add(&mut self, at: u64, part: &[u8]) {
        let end = self.start + self.bytes.len() as u64;
        if self.bytes.is_empty() || at > end {
            // The first bytes, or a gap (the front went for room while
            // this was written): keep what follows.
            self.start = at;
            self.bytes.clear();
            self.bytes.extend_from_slice(part);
        } else if at + part.len() as u64 > end {
            self.bytes.extend_from_slice(&part[(end - at) as usize..]);
        }
        let over = self.bytes.len().saturating_sub(crate::JOB_LOG_BYTES);
        if over > 0 {
            self.bytes.drain(..over);
            self.start += over as u64;
        }
    }
}

type Bytes = bytes::Bytes;

impl Durable {
    /// Open (or make) the job table, the id counter and the streams, in
    /// `replicas` replicas.
    pub(crate) async fn open(
        client: &async_nats::Client,
        replicas: usize,
    ) -> Result<Arc<Durable>, ClusterError> {
        let js = jetstream::new(client.clone());
        let jobs = super::heads::bucket(&js, JOBS_BUCKET, None, replicas).await?;
        let ids = super::heads::open_ids(&js, replicas).await?;
        let journal = open_stream(&js, JOURNAL, "raylab.journal.>", LOGS_KEPT, replicas).await?;
        let logs = open_stream(&js, LOGS, "raylab.log.>", LOGS_KEPT, replicas).await?;
        Ok(Arc::new(Durable {
            js,
            jobs,
            ids,
            journal,
            logs,
            ended: Mutex::new(HashMap::new()),
        }))
    }

    fn ended_lock(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, (JobRecord, u64)>> {
        self.ended.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A job id no head handed out before (the first is 1).
    pub(crate) async fn next_job_id(&self) -> Result<JobId, String> {
        // The detached actors' job (`DETACHED_JOB`) is the last id.
        super::heads::take_next(&self.ids, NEXT_JOB, u64::MAX)
            .await
            .map(JobId::new)
            .map_err(|e| state("job ids", e))
    }

    /// Put job `id`'s first record (it is new): its revision.
    pub(crate) async fn create(&self, id: JobId, record: &JobRecord) -> Result<u64, String> {
        let value = serde_json::to_vec(record).expect("serializes");
        super::until_jetstream_ready(|| self.jobs.create(id.to_string(), value.clone().into()))
            .await
            .map_err(|e| state("a new job", e))
    }

    /// Write job `id`'s record over `revision`: its new revision, or
    /// [`Claimed`] when another head wrote it since (it carries the job
    /// now).
    pub(crate) async fn update(
        &self,
        id: JobId,
        record: &JobRecord,
        revision: u64,
    ) -> Result<Result<u64, Claimed>, String> {
        let value = serde_json::to_vec(record).expect("serializes");
        super::until_jetstream_ready(|| async {
            match self
                .jobs
                .update(id.to_string(), value.clone().into(), revision)
                .await
            {
                Ok(rev) => Ok(Ok(rev)),
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(Err(Claimed)),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(|e| state("a job's record", e))
    }

    /// Job `id`'s record and its revision.
    pub(crate) async fn get(&self, id: JobId) -> Result<Option<(JobRecord, u64)>, String> {
        let entry = self
            .jobs
            .entry(id.to_string())
            .await
            .map_err(|e| state("reading a job", e))?;
        Ok(entry.and_then(|e| {
            let record = serde_json::from_slice(&e.value).ok()?;
            Some((record, e.revision))
        }))
    }

    /// Every job's record, by id.
    pub(crate) async fn all(&self) -> Result<Vec<(JobId, JobRecord, u64)>, String> {
        use futures_util::StreamExt;
        let mut keys = self
            .jobs
            .keys()
            .await
            .map_err(|e| state("listing jobs", e))?;
        let mut ids = Vec::new();
        while let Some(key) = keys.next().await {
            if let Ok(id) = key.map_err(|e| state("listing jobs", e))?.parse::<JobId>() {
                ids.push(id);
            }
        }
        let mut out = Vec::new();
        for id in ids {
            let known = self.ended_lock().get(&id).cloned();
            if let Some((record, rev)) = known {
                out.push((id, record, rev));
            } else if let Some((record, rev)) = self.get(id).await? {
                // A job's record does not change once it says the job
                // ended.
                if record.status != JobStatus::Running {
                    self.ended_lock().insert(id, (record.clone(), rev));
                }
                out.push((id, record, rev));
            }
        }
        out.sort_by_key(|(id, ..)| *id);
        Ok(out)
    }

    /// Forget the records and logs of the oldest ended jobs beyond the
    /// newest `keep` (the cluster's job table stays bounded, as a head's
    /// own does).
    pub(crate) async fn trim(&self, keep: usize) -> Result<(), String> {
        let ended: Vec<JobId> = self
            .all()
            .await?
            .into_iter()
            .filter(|(_, r, _)| r.status != JobStatus::Running)
            .map(|(id, ..)| id)
            .collect();
        let over = ended.len().saturating_sub(keep);
        for id in &ended[..over] {
            self.jobs
                .purge(id.to_string())
                .await
                .map_err(|e| state("forgetting a job", e))?;
            self.ended_lock().remove(id);
            if let Err(e) = self.logs.purge().filter(format!("raylab.log.{id}")).await {
                tracing::debug!("dropping job {id}'s log: {e}");
            }
        }
        Ok(())
    }

    /// Job `job`'s journal, with what it holds now; its writes go out
    /// from a task on `handle`.
    pub(crate) async fn journal(
        &self,
        job: JobId,
        handle: &tokio::runtime::Handle,
    ) -> Result<Arc<StreamJournal>, String> {
        let subject = format!("raylab.journal.{job}");
        let mut entries = HashMap::new();
        for m in read_subject(&self.journal, &subject, 1).await?.0 {
            entries.extend(journal::decode(&m).0);
        }
        let (records, writer) = Records::new(entries);
        handle.spawn(write_journal(self.js.clone(), subject, writer));
        Ok(Arc::new(StreamJournal { records }))
    }

    /// Drop job `job`'s journal (it ended).
    pub(crate) async fn forget_journal(&self, job: JobId) {
        if let Err(e) = self
            .journal
            .purge()
            .filter(format!("raylab.journal.{job}"))
            .await
        {
            tracing::debug!("dropping job {job}'s journal: {e}");
        }
    }

    /// Write `bytes`, job `job`'s output from byte `start` on, to its
    /// durable log.
    pub(crate) async fn append_log(
        &self,
        job: JobId,
        start: u64,
        bytes: &[u8],
    ) -> Result<(), String> {
        for (i, part) in bytes.chunks(LOG_CHUNK).enumerate() {
            let mut payload = Vec::with_capacity(8 + part.len());
            payload.extend_from_slice(&(start + (i * LOG_CHUNK) as u64).to_le_bytes());
            payload.extend_from_slice(part);
            self.js
                .publish(format!("raylab.log.{job}"), payload.into())
                .await
                .map_err(|e| e.to_string())?
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Job `job`'s durable log: the offset of its first byte kept, and the
    /// bytes from there.
    pub(crate) async fn log(&self, job: JobId) -> Result<(u64, Vec<u8>), String> {
        let mut log = DurableLog::default();
        self.read_log(job, &mut log).await?;
        Ok((log.start, log.bytes))
    }

    /// Add to `log` what job `job`'s durable log has gained since it was
    /// last read into it.
    pub(crate) async fn read_log(&self, job: JobId, log: &mut DurableLog) -> Result<(), String> {
        let (messages, next) =
            read_subject(&self.logs, &format!("raylab.log.{job}"), log.next).await?;
        for m in messages {
            let Some(at) = m.get(..8) else { continue };
            log.add(u64::from_le_bytes(at.try_into().expect("8 bytes")), &m[8..]);
        }
        log.next = next;
        Ok(())
    }
}

/// The most bytes of records one journal message carries.
const JOURNAL_BATCH: usize = 512 << 10;

/// Write a journal's queued records ([`journal::encode`]d) to `subject`:
/// one message carries the records that were waiting when it was written,
/// up to [`JOURNAL_BATCH`] bytes (a driver whose calls finish by the
/// thousand a second writes tens of messages a second, not thousands).
/// Ends when the journal goes.
async fn write_journal(
    js: jetstream::Context,
    subject: String,
    (mut queued, acked): journal::RecordWriter,
) {
    let mut batch = Vec::new();
    while queued.recv_many(&mut batch, 4096).await > 0 {
        let mut rest = batch.drain(..).peekable();
        while rest.peek().is_some() {
            let mut payload = Vec::new();
            let mut last = 0;
            while let Some((at, bytes)) = rest.next_if(|_| payload.len() < JOURNAL_BATCH) {
                payload.extend_from_slice(&bytes);
                last = at;
            }
            let payload: Bytes = payload.into();
            let sent = super::until_jetstream_ready(|| async {
                js.publish(subject.clone(), payload.clone())
                    .await
                    .map_err(|e| e.to_string())?
                    .await
                    .map_err(|e| e.to_string())
            })
            .await;
            if let Err(e) = sent {
                // Those calls run again if the driver is replayed.
                tracing::warn!("cannot write to the journal {subject}: {e}");
            }
            let _ = acked.send_replace(Ok(last));
        }
    }
}

/// A job's journal in JetStream (see the module's docs).
pub(crate) struct StreamJournal {
    records: Records,
}

impl StreamJournal {
    /// Calls recorded.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }
}

impl Journal for StreamJournal {
    fn recorded(&self, seq: u64) -> Option<Recorded> {
        self.records.recorded(seq)
    }

    fn record(&self, seq: u64, recorded: Recorded) -> Recording {
        self.records.record(seq, recorded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_durable_log_read_in_parts_is_the_output_at_its_offsets() {
        let mut log = DurableLog::default();
        log.add(0, b"hello ");
        log.add(6, b"world");
        // A part written again (a flush retried) adds only what is new.
        log.add(3, b"lo world!");
        assert_eq!((log.start, &log.bytes[..]), (0, &b"hello world!"[..]));
        // A gap: what follows it is kept, at its offset.
        log.add(100, b"later");
        assert_eq!((log.start, &log.bytes[..]), (100, &b"later"[..]));
    }

    #[test]
    fn journal_records_read_back_as_they_were_written_several_to_a_message() {
        let a = Recorded {
            call: [7; 32],
            result: vec![1, 2, 3],
        };
        let empty = Recorded {
            call: [0; 32],
            result: Vec::new(),
        };
        let mut m = journal::encode(42, &a);
        m.extend(journal::encode(0, &empty));
        let whole = m.len();
        assert_eq!(
            journal::decode(&m),
            (vec![(42, a.clone()), (0, empty.clone())], whole)
        );
        // A damaged tail loses only itself.
        m.extend_from_slice(&[9; 30]);
        assert_eq!(journal::decode(&m).0.len(), 2);
        assert!(journal::decode(&[1, 2, 3]).0.is_empty());
    }
}
