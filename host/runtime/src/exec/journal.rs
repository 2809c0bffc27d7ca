//! Durable execution of a driver: the results of the tasks it submits are
//! kept in a [`Journal`], and a driver run again with that journal gets
//! them back instead of running those tasks again (Golem's durable
//! execution, applied to a Ray task graph).
//!
//! A driver's calls are identified by their order: the n-th `submit` of a
//! run is call n, and a deterministic program makes the same calls in the
//! same order when it runs again. Each call is recorded with a digest of
//! what was called (the function's name and its argument list, references
//! to objects counted by position, not by id: ids differ from run to run)
//! once its task has finished. A replayed call whose digest matches gets
//! the recorded result at once, as a ready object; one whose digest differs
//! means the driver diverged (it read the clock or random numbers into its
//! control flow, or its input changed), and the call fails saying so, so a
//! side effect is never silently run again. A call with no record (its
//! task had not finished, or its result was not recordable) runs.
//!
//! What is recorded: the results of remote function calls that are plain
//! values (no object references inside: an object a task made lives on
//! with the run that made it, not in the journal) up to [`MAX_RECORDED`]
//! bytes. What runs again on replay: every other call, actors and their
//! method calls (an actor's state is rebuilt by running its calls), and
//! `put`s (the driver makes its objects again). A result the driver has
//! seen is recorded before its run ends (the run waits for the journal's
//! writes), so a crash right after a `get` loses nothing.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::bindings::wit;
use crate::core::object_store::{Lookup, ObjectId};
use crate::error::{ErrorKind, TaskError};
use crate::exec::tasks::Tasks;
use crate::msgpack;
use crate::wasm::sandbox::TaskCtx;

/// The largest result a journal keeps; bigger ones run again on replay.
pub const MAX_RECORDED: usize = 1 << 20;

/// A recorded call: what was called, and its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Digest of the function's name and argument list.
    pub call: [u8; 32],
    /// The result's bytes (MessagePack, as the task returned them).
    pub result: Vec<u8>,
}

/// What [`Journal::record`] returns: done once the record is durable.
pub type Recording =
    std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>>;

/// Where a driver's call results are kept, by call number: a file
/// ([`FileJournal`], for `run --journal`), or JetStream (a head's jobs in
/// a cluster, so that another head carries them on).
pub trait Journal: Send + Sync {
    /// Call `seq`'s record, if there is one (what the journal held when it
    /// was opened, and what was recorded since: no I/O).
    fn recorded(&self, seq: u64) -> Option<Recorded>;
    /// Keep call `seq`'s record; the future ends once it is durable.
    fn record(&self, seq: u64, recorded: Recorded) -> Recording;
}

/// What both journals share (a file, JetStream): the records by call
/// number (those read back and those kept since), and a queue of their
/// encodings ([`encode`]) to the journal's writer, which writes all those
/// waiting at once (a group commit: one `fsync` a record held a driver to
/// ~4,500 calls a second) and says up to which place in the queue they are
/// durable.
pub(crate) struct Records {
    /// Lock order: a leaf.
    entries: Mutex<HashMap<u64, Recorded>>,
    /// To the writer: a record's place in the queue and its encoding.
    queue: tokio::sync::mpsc::UnboundedSender<(u64, Vec<u8>)>,
    /// The next record's place in the queue.
    next: AtomicU64,
    /// Up to which place the queue is durable (`Err` once a write failed:
    /// the journal keeps nothing more).
    durable: tokio::sync::watch::Receiver<Result<u64, String>>,
}

/// The writer's side of [`Records`]: the encodings, in order of place, and
/// where it says up to which place they are durable.
pub(crate) type RecordWriter = (
    tokio::sync::mpsc::UnboundedReceiver<(u64, Vec<u8>)>,
    tokio::sync::watch::Sender<Result<u64, String>>,
);

impl Records {
    /// Records holding `entries`, and the writer's side of their queue.
    pub(crate) fn new(entries: HashMap<u64, Recorded>) -> (Records, RecordWriter) {
        let (queue, queued) = tokio::sync::mpsc::unbounded_channel();
        let (done, durable) = tokio::sync::watch::channel(Ok(0));
        let records = Records {
            entries: Mutex::new(entries),
            queue,
            next: AtomicU64::new(1),
            durable,
        };
        (records, (queued, done))
    }

    /// Calls recorded.
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// See [`Journal::recorded`].
    pub(crate) fn recorded(&self, seq: u64) -> Option<Recorded> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&seq)
            .cloned()
    }

    /// See [`Journal::record`].
    pub(crate) fn record(&self, seq: u64, recorded: Recorded) -> Recording {
        let bytes = encode(seq, &recorded);
        let at = {
            // Places are taken in the queue's order.
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            let at = self.next.fetch_add(1, Ordering::Relaxed);
            let _ = self.queue.send((at, bytes));
            entries.insert(seq, recorded);
            at
        };
        let mut durable = self.durable.clone();
        Box::pin(async move {
            let state = durable
                .wait_for(|d| d.as_ref().map_or(true, |&up_to| up_to >= at))
                .await
                .map_err(|_| std::io::Error::other("the journal's writer is gone"))?;
            match &*state {
                Ok(_) => Ok(()),
                Err(e) => Err(std::io::Error::other(e.clone())),
            }
        })
    }
}

/// A record as journals keep it: `seq`, the call's digest, the result's
/// length and bytes, little endian.
pub(crate) fn encode(seq: u64, recorded: &Recorded) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + recorded.result.len());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&recorded.call);
    out.extend_from_slice(&(recorded.result.len() as u64).to_le_bytes());
    out.extend_from_slice(&recorded.result);
    out
}

/// The records [`encode`]d one after another in `bytes`, and how many of
/// its bytes they take (a record cut short ends them).
pub(crate) fn decode(bytes: &[u8]) -> (Vec<(u64, Recorded)>, usize) {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(head) = bytes.get(at..at + 48) {
        let seq = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
        let call: [u8; 32] = head[8..40].try_into().expect("32 bytes");
        let len = u64::from_le_bytes(head[40..48].try_into().expect("8 bytes")) as usize;
        let Some(result) = (at + 48)
            .checked_add(len)
            .and_then(|end| bytes.get(at + 48..end))
        else {
            break;
        };
        out.push((
            seq,
            Recorded {
                call,
                result: result.to_vec(),
            },
        ));
        at += 48 + len;
    }
    (out, at)
}

/// A journal in one file: records appended as they come (`seq`, the
/// call's digest, the result's length and bytes, little endian), read back
/// whole when it is opened; a record cut short by a crash is dropped. A
/// thread of the journal's own writes all the records waiting at once,
/// then one `fsync` (a group commit).
pub struct FileJournal {
    path: PathBuf,
    records: Records,
}

impl FileJournal {
    /// Open (or make) the journal at `path`.
    pub fn open(path: &Path) -> std::io::Result<FileJournal> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (entries, whole) = decode(&bytes);
        if whole < bytes.len() {
            // A record a crash cut short: drop it, so the next append is
            // read back whole.
            file.set_len(whole as u64)?;
        }
        let (records, (mut queued, done)) = Records::new(entries.into_iter().collect());
        std::thread::Builder::new()
            .name("raylab-journal".into())
            .spawn(move || {
                while let Some((mut last, mut bytes)) = queued.blocking_recv() {
                    while let Ok((at, more)) = queued.try_recv() {
                        bytes.extend_from_slice(&more);
                        last = at;
                    }
                    let written = file.write_all(&bytes).and_then(|()| file.sync_data());
                    let _ = done.send_replace(written.map(|()| last).map_err(|e| e.to_string()));
                }
            })?;
        Ok(FileJournal {
            path: path.to_path_buf(),
            records,
        })
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Calls recorded.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Journal for FileJournal {
    fn recorded(&self, seq: u64) -> Option<Recorded> {
        self.records.recorded(seq)
    }

    fn record(&self, seq: u64, recorded: Recorded) -> Recording {
        self.records.record(seq, recorded)
    }
}

/// A driver's use of its journal (attached to its instance).
pub(crate) struct DriverJournal {
    journal: Arc<dyn Journal>,
    /// The next call's number.
    next: AtomicU64,
    /// Calls answered from the journal.
    replayed: AtomicU64,
    /// Results recorded this run.
    recorded: Arc<AtomicU64>,
    /// The writer of this run's records, once a call has run: the calls
    /// go to it, and it waits for their results, all in one task (a task
    /// a call cost a no-op call as much again).
    /// Lock order: a leaf.
    writer: Mutex<Option<Writer>>,
    /// Whether the driver may submit now: a call waits while it says
    /// "not now" (the job's head is unsure of its lease for a moment), and
    /// fails with its reason when it says never (another head carries the
    /// job on).
    gate: Option<Gate>,
}

/// See [`DriverJournal`]'s `gate`.
pub(crate) type Gate = Box<dyn Fn() -> GateSays + Send + Sync>;

/// What a driver's gate says of its next call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GateSays {
    /// Submit.
    Go,
    /// Not now: wait (a head unsure of its lease for a moment).
    Wait,
    /// Never: fail the call, for this reason.
    Stop(String),
}

/// What a journaled run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replay {
    /// Calls answered from the journal (not run).
    pub replayed: u64,
    /// Results recorded by this run.
    pub recorded: u64,
}

/// The digest of a call of `function` with `args`, each object reference
/// in them counted by its place, not its id.
fn digest(function: &str, args: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((function.len() as u64).to_le_bytes());
    h.update(function.as_bytes());
    let mut args = args.to_vec();
    // A reference is `d7 52 <8-byte id>`; its id is zeroed.
    let refs = msgpack::find_refs(&args).unwrap_or_default();
    if !refs.is_empty() {
        let mut i = 0;
        while i + 10 <= args.len() {
            if args[i] == 0xd7 && args[i + 1] == 0x52 {
                let id = u64::from_be_bytes(args[i + 2..i + 10].try_into().expect("8 bytes"));
                if refs.contains(&ObjectId::new(id)) {
                    args[i + 2..i + 10].fill(0);
                    i += 10;
                    continue;
                }
            }
            i += 1;
        }
    }
    h.update(&args);
    h.finalize().into()
}

impl DriverJournal {
    pub(crate) fn new(journal: Arc<dyn Journal>) -> Self {
        DriverJournal {
            journal,
            next: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            recorded: Arc::new(AtomicU64::new(0)),
            writer: Mutex::new(None),
            gate: None,
        }
    }

    /// A driver's use of `journal`, submitting only while `gate` says it
    /// may.
    pub(crate) fn gated(journal: Arc<dyn Journal>, gate: Gate) -> Self {
        DriverJournal {
            gate: Some(gate),
            ..DriverJournal::new(journal)
        }
    }

    /// Wait for the writes of results already there (those of tasks still
    /// running end with the run: cancel them first); what the run did.
    pub(crate) async fn settle(&self) -> Replay {
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((calls, task)) = writer {
            drop(calls);
            let _ = task.await;
        }
        Replay {
            replayed: self.replayed.load(Ordering::Relaxed),
            recorded: self.recorded.load(Ordering::Relaxed),
        }
    }
}

/// A call whose result is to be recorded.
struct Call {
    seq: u64,
    call: [u8; 32],
    job: crate::ids::JobId,
    /// Its result, pinned for the writer (released once read).
    result: ObjectId,
}

/// A run's writer: where its calls go, and its task.
type Writer = (
    tokio::sync::mpsc::UnboundedSender<Call>,
    tokio::task::JoinHandle<()>,
);

/// Record each call's result once it is there, for as long as calls come
/// (and then those still waited for).
async fn write_records(
    tasks: Arc<Tasks>,
    log: Arc<dyn Journal>,
    recorded: Arc<AtomicU64>,
    mut calls: tokio::sync::mpsc::UnboundedReceiver<Call>,
) {
    use futures_util::StreamExt;
    let mut waiting = futures_util::stream::FuturesUnordered::new();
    let mut open = true;
    loop {
        tokio::select! {
            call = calls.recv(), if open => match call {
                Some(c) => waiting.push(write_one(tasks.clone(), log.clone(), recorded.clone(), c)),
                None => open = false,
            },
            Some(()) = waiting.next(), if !waiting.is_empty() => {}
            else => break,
        }
    }
}

/// Record one call's result once it is there (a plain value up to
/// [`MAX_RECORDED`]: others run again on replay).
async fn write_one(tasks: Arc<Tasks>, log: Arc<dyn Journal>, recorded: Arc<AtomicU64>, c: Call) {
    let _ = tasks.until_ready(c.job, c.result).await;
    let bytes = match tasks.control().lock().lookup(c.result, c.job) {
        Ok(Lookup::Ready(bytes)) => Some(bytes),
        _ => None,
    };
    tasks.control().lock().release_all(&[c.result]);
    let Some(bytes) = bytes else { return };
    let plain = msgpack::find_refs(&bytes).is_ok_and(|r| r.is_empty());
    if !plain || bytes.len() > MAX_RECORDED {
        return;
    }
    let rec = Recorded {
        call: c.call,
        result: bytes.to_vec(),
    };
    match log.record(c.seq, rec).await {
        Ok(()) => {
            recorded.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => tracing::warn!("cannot record call {} in the journal: {e}", c.seq),
    }
}

impl Tasks {
    /// `submit` by a driver with a journal: the call's recorded result
    /// when there is one, else a task as usual, whose result is recorded
    /// once it is there.
    pub(crate) fn submit_journaled(
        self: &Arc<Self>,
        caller: &TaskCtx,
        journal: &DriverJournal,
        function: &str,
        args: Vec<u8>,
        options: wit::TaskOptions,
    ) -> Result<ObjectId, TaskError> {
        if let Some(may) = &journal.gate {
            loop {
                match may() {
                    GateSays::Go => break,
                    // The driver's own thread (the pool has one for it)
                    // waits, as if it computed; a stopped job stops
                    // waiting.
                    GateSays::Wait if !caller.cancelled.is_set() => {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    GateSays::Wait => {
                        return Err(TaskError::for_task(
                            ErrorKind::Cancelled,
                            function,
                            "the job was stopped",
                        ));
                    }
                    GateSays::Stop(why) => {
                        return Err(TaskError::for_task(ErrorKind::Cancelled, function, why));
                    }
                }
            }
        }
        let seq = journal.next.fetch_add(1, Ordering::Relaxed);
        let call = digest(function, &args);
        let job = caller.job;
        if let Some(rec) = journal.journal.recorded(seq) {
            if rec.call != call {
                return Err(TaskError::for_task(
                    ErrorKind::InvalidArgument,
                    function,
                    format!(
                        "the driver diverged from its journal at call {seq}: the recorded run \
                         made another call there (a replayed driver must make the same calls \
                         in the same order: no clock, random numbers or changed input in what \
                         it submits); nothing was run"
                    ),
                ));
            }
            journal.replayed.fetch_add(1, Ordering::Relaxed);
            return self.control().lock().put(job, rec.result, Vec::new());
        }
        let result = self.submit(caller, function, args, options)?;
        // The write's own reference, so that the result is there to read
        // whatever the driver does with its own.
        self.control().lock().pin(&[result]);
        let mut writer = journal.writer.lock().unwrap_or_else(|p| p.into_inner());
        let (calls, _) = writer.get_or_insert_with(|| {
            let (calls, queued) = tokio::sync::mpsc::unbounded_channel();
            let task = self.handle().spawn(write_records(
                self.clone(),
                journal.journal.clone(),
                journal.recorded.clone(),
                queued,
            ));
            (calls, task)
        });
        let _ = calls.send(Call {
            seq,
            call,
            job,
            result,
        });
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl FileJournal {
        /// Record, and wait until it is durable.
        fn append(&self, seq: u64, recorded: Recorded) -> std::io::Result<()> {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(self.record(seq, recorded))
        }
    }

    #[test]
    fn a_file_journal_reads_back_what_it_kept_and_drops_a_torn_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let j = FileJournal::open(&path).unwrap();
        assert!(j.is_empty());
        let a = Recorded {
            call: [1; 32],
            result: b"\x2a".to_vec(),
        };
        let b = Recorded {
            call: [2; 32],
            result: vec![7; 1000],
        };
        j.append(0, a.clone()).unwrap();
        j.append(3, b.clone()).unwrap();
        drop(j);
        // A crash mid-append leaves part of a record.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&[9; 20])
            .unwrap();
        let j = FileJournal::open(&path).unwrap();
        assert_eq!(j.len(), 2);
        assert_eq!(j.recorded(0), Some(a));
        assert_eq!(j.recorded(3), Some(b.clone()));
        assert_eq!(j.recorded(1), None);
        // The torn tail is gone: a new record reads back whole.
        j.append(4, b.clone()).unwrap();
        drop(j);
        assert_eq!(FileJournal::open(&path).unwrap().recorded(4), Some(b));
    }

    #[test]
    fn a_call_is_known_by_its_function_and_arguments_not_by_its_refs_ids() {
        let with_ref = |id: u64| {
            let mut args = vec![0x92, 0x01, 0xd7, 0x52];
            args.extend_from_slice(&id.to_be_bytes());
            args
        };
        assert_eq!(digest("f", &with_ref(5)), digest("f", &with_ref(9)));
        assert_ne!(digest("f", &with_ref(5)), digest("g", &with_ref(5)));
        assert_ne!(digest("f", &[0x91, 0x01]), digest("f", &[0x91, 0x02]));
        // The name and the arguments do not run together.
        assert_ne!(digest("f", &[0x91, 0x01]), digest("f\u{91}", &[0x01]));
    }
}
