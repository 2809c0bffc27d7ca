//! Actors across nodes: a node asks the node that owns an actor's handle
//! to call it, kill it, or find one by name, or asks a node to make one
//! (see the parent's subjects, `raylab.node.{id}.actor`).
//!
//! Order is what makes this more than a request: calls one caller makes of
//! an actor run in the order it made them (Ray's promise). So every actor
//! request of a node goes through one outbox, a task that publishes them
//! one after another on the node's connection (NATS keeps one publisher's
//! order), each after the references it carries were handed over; and the
//! node that takes them reads them one after another, queueing each call
//! on its actor before it reads the next. Answers come back on
//! `raylab.node.{id}.actor-reply.{key}`, matched by key.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::super::protocol;
use super::{Lost, Outcome, Payload, Wire, decode, encode, subject};
use crate::error::{ErrorKind, TaskError};
use crate::ids::JobId;

/// A request about an actor.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ActorRequest {
    /// The asking node and its key for the request.
    pub(crate) origin: u16,
    pub(crate) key: u64,
    /// The job it is for: (node that runs its driver, its id there).
    pub(crate) root: (u16, JobId),
    pub(crate) op: protocol::ActorOp,
    /// The argument list (a call's, or a constructor's).
    pub(crate) args: Payload,
}

/// Runs before a request is published (hands over its references).
pub(crate) type Before = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A request waiting in the outbox.
pub(super) struct Outgoing {
    node: u16,
    /// The header and the bytes of the message.
    message: Bytes,
    key: u64,
    before: Before,
}

impl Wire {
    /// The outbox: publishes requests in the order they were queued.
    pub(super) fn outbox(
        client: async_nats::Client,
        id: u16,
        handle: &tokio::runtime::Handle,
    ) -> mpsc::UnboundedSender<Outgoing> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
        handle.spawn(async move {
            while let Some(out) = rx.recv().await {
                out.before.await;
                let reply = subject(id, &format!("actor-reply.{}", out.key));
                let _ = client
                    .publish_with_reply(subject(out.node, "actor"), reply, out.message)
                    .await;
            }
        });
        tx
    }

    /// Ask node `node` to do `op` for job `root`, with argument list
    /// `args`, once `before` ran (requests go in the order of these calls:
    /// what is queued here is published before this returns a future);
    /// its answer, or why none came: `alive` says whether that node still
    /// is.
    pub(crate) fn actor(
        self: &Arc<Self>,
        node: u16,
        root: (u16, JobId),
        op: protocol::ActorOp,
        args: Vec<u8>,
        before: Before,
        alive: impl Fn() -> bool + Send + 'static,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, Lost>> + Send>> {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let (payload, inline) = self.offer(args);
        let request = ActorRequest {
            origin: self.id,
            key,
            root,
            op,
            args: payload.clone(),
        };
        let (answer_tx, answer_rx) = oneshot::channel();
        self.answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, answer_tx);
        let queued = self.outbox.send(Outgoing {
            node,
            message: encode(&request, &inline),
            key,
            before,
        });
        let wire = self.clone();
        Box::pin(async move {
            let forget = || {
                wire.answers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&key);
                wire.withdraw(&payload);
            };
            if queued.is_err() {
                forget();
                return Err(Lost::Node("this node is shutting down".into()));
            }
            tokio::pin!(answer_rx);
            let msg = loop {
                tokio::select! {
                    msg = &mut answer_rx => break msg,
                    () = tokio::time::sleep(Duration::from_millis(250)) => {
                        if !alive() {
                            forget();
                            return Err(Lost::Node(format!("node {node} died")));
                        }
                    }
                }
            };
            forget();
            let msg = msg
                .map_err(|_| Lost::Node("this node is shutting down".into()))?
                .ok_or_else(|| Lost::Node(format!("node {node} is gone (nobody answers there)")))?;
            let (outcome, inline) = decode::<super::Answer>(&msg).map_err(|e| {
                Lost::Task(TaskError::new(
                    ErrorKind::Internal,
                    format!("node {node} answered {e}"),
                ))
            })?;
            let payload = match outcome {
                protocol::Answer::Ok(p) => p,
                protocol::Answer::Err(e) => return Err(Lost::Task(e.into())),
                protocol::Answer::Lost(why) => {
                    return Err(Lost::Node(format!("node {node} {why}")));
                }
            };
            wire.receive(&payload, inline).await.map_err(|e| {
                Lost::Task(TaskError::new(
                    ErrorKind::Internal,
                    format!("cannot receive the answer of node {node}: {e}"),
                ))
            })
        })
    }

    /// An answer to request `key` of this node.
    /// (`None`: NATS said nobody listens where it went.)
    pub(super) fn answered(&self, key: u64, msg: Option<Bytes>) {
        let tx = self
            .answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        if let Some(tx) = tx {
            let _ = tx.send(msg);
        }
    }

    /// Take the requests other nodes send about actors, one after another
    /// (a call is queued on its actor before the next is read), answering
    /// each when done.
    pub(super) async fn serve_actors(
        self: Arc<Self>,
        mut requests: async_nats::Subscriber,
        serve: Arc<dyn super::Serve>,
        handle: tokio::runtime::Handle,
    ) {
        while let Some(msg) = requests.next().await {
            let Some(reply) = msg.reply.clone() else {
                continue;
            };
            let outcome: Outcome = match decode::<ActorRequest>(&msg.payload) {
                Err(e) => Box::pin(std::future::ready(Err(TaskError::new(
                    ErrorKind::Internal,
                    format!("a bad request: {e}"),
                )
                .into()))),
                Ok((request, inline)) => match self.receive(&request.args, inline).await {
                    Ok(args) => serve.actor(request, args, self.clone()),
                    Err(e) => Box::pin(std::future::ready(Err(TaskError::new(
                        ErrorKind::Internal,
                        format!("cannot receive its arguments: {e}"),
                    )
                    .into()))),
                },
            };
            let wire = self.clone();
            handle.spawn(async move {
                let outcome = outcome.await;
                wire.answer(reply, outcome).await;
            });
        }
    }
}
