//! Objects as guests use them: `put`, `get`, `get-range`, `wait`,
//! `retain`, `release`, and lending the caller's CPU while it is blocked.
//!
//! A guest blocked in `get`/`wait` gives its CPU slot back to the
//! scheduler (so nested remote calls never deadlock, even with one CPU),
//! suspends its fiber (so its thread runs other tasks), and asks for the
//! slot again when it wakes; it is served before new tasks. A blocked call
//! ends early, with an error, when the caller is cancelled or out of time.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::core::cancel::until;
use crate::core::control::JobId;
use crate::core::object_store::{Lookup, ObjectId, Signal};
use crate::core::resources::Resources;
use crate::error::{ErrorKind, TaskError};
use crate::exec::tasks::{NodeControl, Tasks};
use crate::msgpack;
use crate::wasm::sandbox::{Caller, SandboxLimit};

/// The object operations of a node.
pub(crate) struct Objects {
    control: Arc<NodeControl>,
    tasks: Arc<Tasks>,
}

impl Objects {
    pub(crate) fn new(control: Arc<NodeControl>, tasks: Arc<Tasks>) -> Self {
        Objects { control, tasks }
    }

    /// `put` for a guest of `job`: store MessagePack `bytes`; one reference,
    /// the caller's.
    pub(crate) fn put(&self, job: JobId, bytes: Vec<u8>) -> Result<ObjectId, TaskError> {
        let refs = msgpack::find_refs(&bytes)
            .map_err(|e| TaskError::new(ErrorKind::InvalidArgument, format!("put: {e}")))?;
        self.control.lock().put(job, bytes, refs)
    }

    /// `retain` for a guest of `job`.
    pub(crate) fn retain(&self, id: ObjectId, job: JobId) -> Result<(), TaskError> {
        // An object of another node: its stub here.
        self.control.lock().retain(id, job)
    }

    /// Drop one reference the caller owned.
    pub(crate) fn release(&self, id: ObjectId) {
        self.control.lock().release_all(&[id]);
    }

    /// `get` for `caller`: the bytes of one object, once ready.
    pub(crate) async fn get(
        &self,
        caller: Caller,
        id: ObjectId,
        timeout: Option<Duration>,
    ) -> Result<Arc<Vec<u8>>, TaskError> {
        let job = caller.job;
        if self.tasks.owner_of(id).is_some() {
            return self
                .fetch(caller, id, 0, u64::MAX, timeout)
                .await
                .map(Arc::new);
        }
        let ready = self.wait(caller, &[id], 1, timeout).await?;
        if ready.is_empty() {
            return Err(TaskError::new(
                ErrorKind::Timeout,
                format!(
                    "get: object {id} not ready after {:?}",
                    timeout.unwrap_or_default()
                ),
            ));
        }
        let read = self.control.lock().lookup(id, job)?;
        value(read).unwrap_or_else(|| Err(pending_after_wait(id)))
    }

    /// `get-many` for `caller`: the bytes of every one of `ids`, in order,
    /// once all are ready; or the error of the first that failed. One wait
    /// and one look-up under one lock for the lot (`get` of each costs two
    /// locks and a host call apiece).
    pub(crate) async fn get_many(
        &self,
        caller: Caller,
        ids: &[ObjectId],
        timeout: Option<Duration>,
    ) -> Result<Vec<Arc<Vec<u8>>>, TaskError> {
        if ids.iter().any(|id| self.tasks.owner_of(*id).is_some()) {
            // Objects of other nodes are fetched one by one; the timeout
            // counts for the whole call.
            let end = timeout.map(|t| tokio::time::Instant::now() + t);
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let left = end.map(|e| e.saturating_duration_since(tokio::time::Instant::now()));
                out.push(self.get(caller.clone(), *id, left).await?);
            }
            return Ok(out);
        }
        // One pass under the lock reads what is ready; only what is not
        // is waited for, and read again after.
        let job = caller.job;
        let mut values: Vec<Option<Result<Arc<Vec<u8>>, TaskError>>> =
            Vec::with_capacity(ids.len());
        let mut pending = Vec::new();
        {
            let mut control = self.control.lock();
            for (i, &id) in ids.iter().enumerate() {
                let v = value(control.lookup(id, job)?);
                if v.is_none() {
                    pending.push(i);
                }
                values.push(v);
            }
        }
        if !pending.is_empty() {
            let waited: Vec<ObjectId> = pending.iter().map(|&i| ids[i]).collect();
            let ready = self.wait(caller, &waited, waited.len(), timeout).await?;
            if ready.len() < waited.len() {
                let late = waited.iter().find(|id| !ready.contains(id)).copied();
                return Err(TaskError::new(
                    ErrorKind::Timeout,
                    format!(
                        "get: object {} not ready after {:?}",
                        late.unwrap_or(waited[0]),
                        timeout.unwrap_or_default()
                    ),
                ));
            }
            let mut control = self.control.lock();
            for i in pending {
                let id = ids[i];
                let v = value(control.lookup(id, job)?);
                values[i] = Some(v.unwrap_or_else(|| Err(pending_after_wait(id))));
            }
        }
        values
            .into_iter()
            .map(|v| v.expect("every value read"))
            .collect()
    }

    /// `get-range` for `caller`: bytes `offset .. offset + len` of one
    /// object (fewer at its end, none past it).
    pub(crate) async fn get_range(
        &self,
        caller: Caller,
        id: ObjectId,
        offset: u64,
        len: u64,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, TaskError> {
        if self.tasks.owner_of(id).is_some() {
            // Only the range crosses the network.
            return self.fetch(caller, id, offset, len, timeout).await;
        }
        let bytes = self.get(caller, id, timeout).await?;
        Ok(bytes[crate::core::object_store::byte_range(bytes.len(), offset, len)].to_vec())
    }

    /// Read an object of another node (see `Tasks::fetch`), within the
    /// caller's timeout, cancel and time limit.
    async fn fetch(
        &self,
        caller: Caller,
        id: ObjectId,
        offset: u64,
        len: u64,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, TaskError> {
        let fetch = self.tasks.fetch(caller.job, id, offset, len);
        let bounded = async {
            match timeout {
                Some(t) => tokio::time::timeout(t, fetch).await.unwrap_or_else(|_| {
                    Err(TaskError::new(
                        ErrorKind::Timeout,
                        format!("get: object {id} not ready after {t:?}"),
                    ))
                }),
                None => fetch.await,
            }
        };
        tokio::select! {
            r = bounded => r,
            () = caller.cancel.wait() => Err(TaskError::new(
                ErrorKind::Cancelled,
                "cancelled while waiting for objects",
            )),
            limit = until(caller.deadline) => Err(TaskError::new(
                ErrorKind::TimeLimitExceeded,
                format!("{} while waiting for objects", SandboxLimit::Time(limit)),
            )),
        }
    }

    /// `wait` for `caller`: block until `num_ready` of `ids` are ready
    /// (finished or failed) or the timeout passes; the ready ids, in order.
    /// While blocked, the caller's CPU is lent to the scheduler.
    pub(crate) async fn wait(
        &self,
        caller: Caller,
        ids: &[ObjectId],
        num_ready: usize,
        timeout: Option<Duration>,
    ) -> Result<Vec<ObjectId>, TaskError> {
        if num_ready > ids.len() {
            return Err(TaskError::new(
                ErrorKind::InvalidArgument,
                format!(
                    "wait: num_ready ({num_ready}) is more than the {} objects given",
                    ids.len()
                ),
            ));
        }
        // Objects of other nodes count as ready: they were passed by
        // reference to a task placed here, and a `get` of one waits on its
        // owner until it is.
        if ids.iter().any(|id| self.tasks.owner_of(*id).is_some()) {
            let foreign: Vec<ObjectId> = ids
                .iter()
                .copied()
                .filter(|id| self.tasks.owner_of(*id).is_some())
                .collect();
            let local: Vec<ObjectId> = ids
                .iter()
                .copied()
                .filter(|id| self.tasks.owner_of(*id).is_none())
                .collect();
            let want = num_ready.saturating_sub(foreign.len()).min(local.len());
            let ready_local = if local.is_empty() {
                Vec::new()
            } else {
                Box::pin(self.wait(caller, &local, want, timeout)).await?
            };
            return Ok(ids
                .iter()
                .copied()
                .filter(|id| foreign.contains(id) || ready_local.contains(id))
                .collect());
        }
        let Caller {
            lendable,
            job,
            cancel,
            deadline,
            lent: lent_flag,
        } = caller;
        let signal = {
            let mut control = self.control.lock();
            let ready = control.ready(ids, job)?;
            if ready.len() >= num_ready {
                return Ok(ready);
            }
            // Fire once enough of the pending ones complete. A duplicate id
            // registers twice and completes twice, so the count holds.
            let signal = Signal::new(num_ready - ready.len());
            control.notify_on(ids, &signal);
            signal
        };
        let lent = self.lend(lendable);
        lent_flag.store(lent.is_some(), Ordering::SeqCst);
        // This thread runs the tasks the caller spawned once it blocks.
        crate::core::workers::blocking();
        let ready = async {
            match timeout {
                Some(t) => {
                    let _ = tokio::time::timeout(t, signal.fired()).await;
                }
                None => signal.fired().await,
            }
        };
        // A cancelled caller, or one out of time, stops waiting at once (and
        // traps at its next preemption tick if it carries on running guest
        // code).
        let interrupted = tokio::select! {
            () = ready => None,
            () = cancel.wait() => Some(TaskError::new(
                ErrorKind::Cancelled,
                "cancelled while waiting for objects",
            )),
            limit = until(deadline) => Some(TaskError::new(
                ErrorKind::TimeLimitExceeded,
                format!("{} while waiting for objects", SandboxLimit::Time(limit)),
            )),
        };
        self.reclaim(lent).await;
        lent_flag.store(false, Ordering::SeqCst);
        if let Some(e) = interrupted {
            return Err(e);
        }
        self.control.lock().ready(ids, job)
    }

    /// Lend `part` (the caller's CPU) to the scheduler while it blocks.
    fn lend(&self, part: Option<Resources>) -> Option<Resources> {
        let part = part?;
        let starts = self.control.lock().lend(&part);
        self.tasks.start(starts, true);
        Some(part)
    }

    /// Take the lent CPU back, after the tasks that resumed before.
    async fn reclaim(&self, lent: Option<Resources>) {
        let Some(part) = lent else { return };
        let (rx, starts) = self.control.lock().reclaim(part);
        self.tasks.start(starts, true);
        // The sender lives in the scheduler until granted.
        let _ = rx.await;
    }
}

/// An object's value as `get` returns it, or `None` while it is pending.
fn value(read: Lookup) -> Option<Result<Arc<Vec<u8>>, TaskError>> {
    match read {
        Lookup::Ready(b) => Some(Ok(b)),
        Lookup::Failed(e) => Some(Err((*e).clone())),
        Lookup::Pending => None,
    }
}

fn pending_after_wait(id: ObjectId) -> TaskError {
    TaskError::new(
        ErrorKind::Internal,
        format!("object {id} pending after wait"),
    )
}
