//! Heads: which of the cluster's heads is the active one, and node ids.
//!
//! A cluster may have several heads (`start --head` with `--nats` naming
//! a running NATS cluster): one is active, the others stand by. The active
//! head holds a lease, the key `active` of the JetStream bucket
//! `raylab-head`, whose records expire [`LEASE`] after they are written:
//! it writes it again every heartbeat, each time as an update of the
//! revision it wrote last, so a write fails once another head holds it.
//! A standby tries to make the key every heartbeat; it succeeds once the
//! active head has been silent for [`LEASE`] (dead, or cut off), and takes
//! over. Two heads never act at once: a head counts itself active only
//! until [`LEASE`] less a heartbeat after its last successful write, so a
//! head cut off from NATS stops acting before another can take its lease.
//!
//! What the active head does that a standby does not: it answers joining
//! nodes (their id, and the protocol check) and accepts jobs (the HTTP API
//! of a standby points at the active head). Node ids come from a counter in
//! the bucket `raylab-ids` (never expiring), taken by compare-and-swap, so
//! heads that follow each other never hand out one id twice.
//!
//! A head that becomes active also carries on the jobs of the head before
//! it (`cluster::durable`, `node::durable`).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;

use super::{ClusterError, HEARTBEAT, protocol};

/// How long a head's lease lasts without being written again.
///
/// Longer than JetStream may take to elect a new leader for the lease's
/// stream when the server that led it dies: a follower waits 4-9 s for a
/// lost leader before it campaigns (nats-server's raft election timeout),
/// and no write gets through meanwhile. With a lease of 3 s, a lone head
/// lost its lease in about one server death in three (the failover test,
/// `a_job_survives_kill_9_of_one_nats_server`, failed 3 runs in 8): it
/// stood by, took the lease back, and ran its own jobs' drivers again from
/// their journals, printing their output twice. The price: a standby
/// takes over this long after the active head dies.
pub(crate) const LEASE: Duration = Duration::from_secs(12);

/// The lease's bucket and key.
const LEASE_BUCKET: &str = "raylab-head";
const ACTIVE: &str = "active";

/// The node id counter's bucket and key.
const IDS_BUCKET: &str = "raylab-ids";
const NEXT_ID: &str = "next";

/// What the lease says of the active head.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ActiveHead {
    /// Its node id.
    pub id: u16,
    /// Its name.
    pub name: String,
    /// Its HTTP API, if it serves one.
    pub http: Option<String>,
}

/// Whether this head is the active one.
#[derive(Debug, Clone, PartialEq)]
pub enum HeadRole {
    /// It is: it accepts jobs and answers joining nodes.
    Active,
    /// Another is (as the lease last said, if it was read), or none is
    /// right now; this one takes over when the active head's lease runs
    /// out.
    Standby(Option<ActiveHead>),
}

/// Whether a head may act as the active one (see [`Heads::tenure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tenure {
    /// It holds the lease.
    Active,
    /// It held the lease and cannot write it now (NATS moving a leader,
    /// or this head cut off): another head may take it once it runs out,
    /// so this one does nothing now, and goes on if its next write gets
    /// through.
    Unsure,
    /// It does not hold the lease (another head took it, or it never had
    /// it).
    Over,
}

/// One head's part in the lease.
pub(crate) struct Heads {
    lease: kv::Store,
    ids: kv::Store,
    me: ActiveHead,
    /// Whether it holds the lease, and until when it may act on it.
    /// Lock order: a leaf.
    held: Mutex<Option<Instant>>,
    /// The lease as last read by a standby.
    /// Lock order: a leaf.
    seen: Mutex<Option<ActiveHead>>,
    stopped: AtomicBool,
}

/// A bucket of `name` with records kept for `max_age` (`None`: for ever),
/// made if it is not there (see `registry::open_bucket` for why by hand).
pub(super) async fn bucket(
    js: &jetstream::Context,
    name: &str,
    max_age: Option<Duration>,
    replicas: usize,
) -> Result<kv::Store, ClusterError> {
    if let Ok(kv) = js.get_key_value(name).await {
        return Ok(kv);
    }
    let config = jetstream::stream::Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_age: max_age.unwrap_or_default(),
        discard: jetstream::stream::DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    };
    super::until_jetstream_ready(|| js.get_or_create_stream(config.clone()))
        .await
        .map_err(|e| ClusterError::State(format!("cannot make the bucket {name}: {e}")))?;
    js.get_key_value(name)
        .await
        .map_err(|e| ClusterError::State(format!("cannot open the bucket {name}: {e}")))
}

/// The ids bucket.
pub(crate) async fn open_ids(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<kv::Store, ClusterError> {
    bucket(js, IDS_BUCKET, None, replicas).await
}

/// A node id not handed out before (the first is 1), from the counter in
/// `ids`.
pub(crate) async fn next_id(ids: &kv::Store) -> Result<u16, ClusterError> {
    let id = take_next(ids, NEXT_ID, u64::from(u16::MAX))
        .await
        .map_err(|e| ClusterError::State(format!("node ids: {e}")))?;
    Ok(u16::try_from(id).expect("below u16::MAX"))
}

/// The next number of the counter `key` in `ids` (the first is 1; the
/// counter ends below `end`), taken by compare-and-swap, so that no number
/// is handed out twice (node ids here, job ids in `durable`).
///
/// A write another writer beat is tried again at once; one that did not
/// get through (the bucket's stream electing a leader after a NATS server
/// died: seconds) is tried again after a pause, for up to
/// [`COUNTER_PATIENCE`]. A write that landed though its answer was lost
/// costs one number, never a number twice: the next try reads past it.
pub(crate) async fn take_next(ids: &kv::Store, key: &str, end: u64) -> Result<u64, String> {
    let give_up = Instant::now() + COUNTER_PATIENCE;
    let mut last = String::from("the counter changed under every try");
    let mut pause = Duration::from_millis(20);
    for _ in 0..1000 {
        if Instant::now() > give_up {
            break;
        }
        let beaten = match ids.entry(key).await {
            Err(e) => {
                last = e.to_string();
                false
            }
            Ok(None) => match ids.create(key, "2".into()).await {
                Ok(_) => return Ok(1),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => true,
                Err(e) => {
                    last = e.to_string();
                    false
                }
            },
            Ok(Some(entry)) => {
                let n: u64 = std::str::from_utf8(&entry.value)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or("the counter is not a number")?;
                if n >= end {
                    return Err("no ids left".into());
                }
                match ids
                    .update(key, (n + 1).to_string().into(), entry.revision)
                    .await
                {
                    Ok(_) => return Ok(n),
                    Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => true,
                    Err(e) => {
                        last = e.to_string();
                        false
                    }
                }
            }
        };
        if !beaten {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }
    Err(last)
}

/// How long [`take_next`] keeps trying while the counter's bucket cannot
/// be written.
const COUNTER_PATIENCE: Duration = Duration::from_secs(20);

impl Heads {
    /// A head's part in the lease, as node `me`: it tries to take the
    /// lease at once (and says whether it did), then keeps it or waits
    /// for it on `handle`.
    pub(crate) async fn start(
        js: &jetstream::Context,
        replicas: usize,
        ids: kv::Store,
        me: ActiveHead,
        handle: &tokio::runtime::Handle,
    ) -> Result<Arc<Heads>, ClusterError> {
        let lease = bucket(js, LEASE_BUCKET, Some(LEASE), replicas).await?;
        let heads = Arc::new(Heads {
            lease,
            ids,
            me,
            held: Mutex::new(None),
            seen: Mutex::new(None),
            stopped: AtomicBool::new(false),
        });
        let mut revision = heads.try_take().await;
        let h = Arc::downgrade(&heads);
        handle.spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT).await;
                let Some(heads) = h.upgrade() else { break };
                if heads.stopped.load(Ordering::SeqCst) {
                    break;
                }
                revision = match revision {
                    Some(rev) => heads.renew(rev).await,
                    None => heads.try_take().await,
                };
            }
        });
        Ok(heads)
    }

    fn value(&self) -> bytes::Bytes {
        serde_json::to_vec(&self.me).expect("serializes").into()
    }

    /// Make the lease's key (it is free): its revision if this head got it.
    async fn try_take(&self) -> Option<u64> {
        let rev = match self.lease.create(ACTIVE, self.value()).await {
            Ok(rev) => rev,
            // A create that landed though its answer was lost (a NATS
            // server dying under it) made the lease this head's.
            Err(_) => match self.own_revision().await {
                Some(rev) => rev,
                None => {
                    self.note_holder().await;
                    return None;
                }
            },
        };
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Instant::now() + LEASE - HEARTBEAT);
        tracing::warn!("this head ({}) is the cluster's active head", self.me.name);
        Some(rev)
    }

    /// Note which head the lease names now, for this standby's role.
    async fn note_holder(&self) {
        // Kept as it was when the lease cannot be read for a moment.
        match self.lease.get(ACTIVE).await {
            Ok(Some(v)) => {
                *self.seen.lock().unwrap_or_else(|p| p.into_inner()) =
                    serde_json::from_slice::<ActiveHead>(&v).ok();
            }
            Ok(None) => *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = None,
            Err(e) => tracing::debug!("reading the head's lease: {e}"),
        }
    }

    /// Write the lease again over `revision`: the new revision, or none
    /// when another head holds it now (this one stands by from now).
    async fn renew(&self, revision: u64) -> Option<u64> {
        match self.lease.update(ACTIVE, self.value(), revision).await {
            Ok(rev) => {
                *self.held.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Instant::now() + LEASE - HEARTBEAT);
                Some(rev)
            }
            // Another head wrote the lease since (or it ran out and went):
            // this one stands by. Unless the lease is this head's own
            // write: one that landed though its answer was lost (a NATS
            // server killed under it), after which this head wrote again
            // over the revision before it. Taking that for a loss made a
            // lone head hand over its own jobs and carry them on again.
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                if let Some(rev) = self.own_revision().await {
                    tracing::debug!("the head's lease: its last write had landed");
                    return Some(rev);
                }
                *self.held.lock().unwrap_or_else(|p| p.into_inner()) = None;
                tracing::warn!(
                    "this head ({}) lost the cluster's lease: it stands by",
                    self.me.name
                );
                None
            }
            // The write did not get through (NATS moving a leader, or this
            // head cut off): this head stops acting once its lease may
            // have run out (see `role`), and writes again over the same
            // revision, which takes it back if no other head took it.
            Err(e) => {
                tracing::debug!("the head's lease: {e}");
                Some(revision)
            }
        }
    }

    /// The lease's revision if what it holds now is this head's own entry
    /// (its node id is the cluster's to this process alone).
    async fn own_revision(&self) -> Option<u64> {
        let entry = self.lease.entry(ACTIVE).await.ok()??;
        if entry.operation != kv::Operation::Put {
            return None;
        }
        let holder: ActiveHead = serde_json::from_slice(&entry.value).ok()?;
        (holder.id == self.me.id && holder.name == self.me.name).then_some(entry.revision)
    }

    /// Where this head's tenure as the active head stands.
    pub(crate) fn tenure(&self) -> Tenure {
        match *self.held.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(until) if Instant::now() < until => Tenure::Active,
            Some(_) => Tenure::Unsure,
            None => Tenure::Over,
        }
    }

    /// This head's role now.
    pub(crate) fn role(&self) -> HeadRole {
        match *self.held.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(until) if Instant::now() < until => HeadRole::Active,
            // It held the lease and cannot write it now: no head is known
            // to be active (this one may be again in a moment).
            Some(_) => HeadRole::Standby(None),
            None => HeadRole::Standby(self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()),
        }
    }

    /// Answer the joins of nodes on `client` while this head is active.
    pub(crate) async fn serve_joins(
        self: &Arc<Self>,
        client: &async_nats::Client,
        handle: &tokio::runtime::Handle,
    ) -> Result<(), ClusterError> {
        let mut joins = client
            .subscribe(super::registry::JOIN)
            .await
            .map_err(|e| ClusterError::State(e.to_string()))?;
        let (replies, me) = (client.clone(), Arc::downgrade(self));
        handle.spawn(async move {
            while let Some(msg) = joins.next().await {
                let Some(heads) = me.upgrade() else { break };
                // A standby leaves joins to the active head.
                if heads.role() != HeadRole::Active {
                    continue;
                }
                let answer = match protocol::answer_join(&msg.payload, || 0) {
                    protocol::JoinAnswer::Id(_) => match next_id(&heads.ids).await {
                        Ok(id) => protocol::JoinAnswer::Id(id),
                        Err(e) => protocol::JoinAnswer::Refused(e.to_string()),
                    },
                    refused => refused,
                };
                if let protocol::JoinAnswer::Refused(why) = &answer {
                    tracing::warn!("a node was refused: {why}");
                }
                if let Some(reply) = msg.reply {
                    let answer = serde_json::to_vec(&answer).expect("serializes");
                    let _ = replies.publish(reply, answer.into()).await;
                }
            }
        });
        Ok(())
    }

    /// Stop writing the lease (the node leaves): another head takes it
    /// over once it runs out.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}
