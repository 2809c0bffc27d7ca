//! Objects across nodes: reading a range of an object another node owns,
//! serving such reads, and the counts of references other nodes hold
//! (see the parent's "References across nodes").

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{ErrorKind, TaskError};
use crate::ids::{JobId, ObjectId};

use super::super::protocol;
use super::{ObjectRequest, Serve, Wire, decode, subject};

/// Publish changes to reference counts (`(id, +n/-n)`), one message per
/// owner node, in order.
async fn publish_refs(client: &async_nats::Client, changes: impl Iterator<Item = (ObjectId, i64)>) {
    let mut by_owner: HashMap<u16, Vec<(ObjectId, i64)>> = HashMap::new();
    for (id, delta) in changes {
        by_owner
            .entry(crate::core::object_store::owner_node(id))
            .or_default()
            .push((id, delta));
    }
    for (owner, changes) in by_owner {
        let body = serde_json::to_vec(&changes).expect("serializes");
        let _ = client.publish(subject(owner, "refs"), body.into()).await;
    }
}

impl Wire {
    /// Take one reference for another node to each of `ids` (objects of
    /// other nodes, one per occurrence), before the message that carries
    /// them goes: published to their owners, once this returns.
    pub(crate) async fn add_refs(&self, ids: &[ObjectId]) {
        publish_refs(&self.client, ids.iter().map(|&id| (id, 1))).await;
    }

    /// A sender of the holds that stubs give back when they go (see the
    /// module docs), batched per owner by a pump on `handle`.
    pub(crate) fn release_pump(
        &self,
        handle: &tokio::runtime::Handle,
    ) -> tokio::sync::mpsc::UnboundedSender<(ObjectId, u32)> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(ObjectId, u32)>();
        let client = self.client.clone();
        handle.spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, 4096).await > 0 {
                let gone = batch
                    .drain(..)
                    .filter(|(_, holds)| *holds > 0)
                    .map(|(id, holds)| (id, -i64::from(holds)));
                publish_refs(&client, gone).await;
            }
        });
        tx
    }

    /// Answer a read of an object this node owns.
    pub(super) async fn serve_object(&self, msg: async_nats::Message, serve: Arc<dyn Serve>) {
        let Some(reply) = msg.reply else { return };
        let outcome = match serde_json::from_slice::<ObjectRequest>(&msg.payload) {
            Ok(r) => serve.object(r.root, r.id, r.offset, r.len).await,
            Err(e) => {
                Err(TaskError::new(ErrorKind::Internal, format!("a bad request: {e}")).into())
            }
        };
        self.answer(reply, outcome).await;
    }

    /// Read bytes `offset .. offset + len` of object `id` of node `owner`
    /// for job `root` (node, job there), waiting until it is ready there;
    /// `alive` says whether the owner still is.
    pub(crate) async fn read_object(
        &self,
        owner: u16,
        root: (u16, JobId),
        id: ObjectId,
        offset: u64,
        len: u64,
        alive: impl Fn() -> bool,
    ) -> Result<Vec<u8>, TaskError> {
        let body = serde_json::to_vec(&ObjectRequest {
            root,
            id,
            offset,
            len,
        })
        .expect("serializes");
        let request = self.client.send_request(
            subject(owner, "object"),
            async_nats::Request::new()
                .payload(body.into())
                .timeout(None),
        );
        tokio::pin!(request);
        let lost = |why: String| {
            TaskError::new(
                ErrorKind::ObjectLost,
                format!("object {id} of node {owner}: {why}"),
            )
        };
        let msg = loop {
            tokio::select! {
                r = &mut request => break r.map_err(|e| {
                    if e.kind() == async_nats::RequestErrorKind::NoResponders {
                        lost("its node died or left".into())
                    } else {
                        lost(e.to_string())
                    }
                })?,
                () = tokio::time::sleep(Duration::from_millis(250)) => {
                    if !alive() {
                        return Err(lost("its node died".into()));
                    }
                }
            }
        };
        let (outcome, inline) = decode::<super::Answer>(&msg.payload).map_err(lost)?;
        let payload = match outcome {
            protocol::Answer::Ok(p) => p,
            protocol::Answer::Err(e) => return Err(e.into()),
            protocol::Answer::Lost(why) => return Err(lost(why)),
        };
        self.receive(&payload, inline).await.map_err(lost)
    }
}
