//! Bytes too big for one message: offered by the sender in chunks of
//! [`CHUNK`] bytes and pulled by the receiver a window at a time, so that
//! nothing is ever loaded whole into one NATS message.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures_util::StreamExt;

use super::{CHUNK, ChunkRequest, INLINE, Payload, WINDOW, Wire, subject};

impl Wire {
    /// Offer `bytes` to other nodes: inline when small, else as a blob.
    pub(super) fn offer(&self, bytes: Vec<u8>) -> (Payload, Vec<u8>) {
        if bytes.len() <= INLINE {
            return (Payload::Inline, bytes);
        }
        self.offer_shared(Arc::new(bytes))
    }

    /// [`Wire::offer`] of bytes this node keeps too (no copy when they go
    /// as a blob).
    pub(super) fn offer_shared(&self, bytes: Arc<Vec<u8>>) -> (Payload, Vec<u8>) {
        if bytes.len() <= INLINE {
            return (Payload::Inline, bytes.to_vec());
        }
        let id = self.next_blob.fetch_add(1, Ordering::Relaxed);
        let len = bytes.len() as u64;
        self.blobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, (bytes, std::time::Instant::now()));
        (
            Payload::Blob {
                node: self.id,
                id,
                len,
                direct: self.direct.as_ref().map(|d| d.locate(id)),
            },
            Vec::new(),
        )
    }

    /// Forget a blob (its reader gave up).
    pub(super) fn withdraw(&self, payload: &Payload) {
        if let Payload::Blob { node, id, .. } = payload
            && *node == self.id
        {
            self.blobs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(id);
        }
    }

    /// The bytes of `payload` (those after the header, or a blob fetched
    /// in chunks, a few in flight at once).
    pub(crate) async fn receive(
        &self,
        payload: &Payload,
        inline: &[u8],
    ) -> Result<Vec<u8>, String> {
        let Payload::Blob {
            node,
            id,
            len,
            ref direct,
        } = *payload
        else {
            return Ok(inline.to_vec());
        };
        // A node without a data port of its own reads through NATS too
        // (nodes cannot reach each other where it runs).
        if let (Some(at), Some(_)) = (direct, &self.direct) {
            match Wire::read_direct(at, id, len).await {
                Ok(bytes) => return Ok(bytes),
                // Through NATS, then (the blob is still there unless the
                // port began sending it).
                Err(e) => tracing::debug!("blob {id} of node {node} on its data port: {e}"),
            }
        }
        let mut out = Vec::new();
        out.try_reserve_exact(len as usize)
            .map_err(|_| format!("cannot hold {len} bytes"))?;
        let mut offsets = (0..len).step_by(CHUNK as usize);
        let mut inflight = futures_util::stream::FuturesOrdered::new();
        let request = |offset: u64| {
            let n = CHUNK.min(len - offset);
            let req = ChunkRequest {
                id,
                offset,
                len: n,
                last: offset + n == len,
            };
            let client = self.client.clone();
            let subject = subject(node, "blob");
            async move {
                let body = serde_json::to_vec(&req).expect("serializes");
                client.request(subject, body.into()).await
            }
        };
        for offset in offsets.by_ref().take(WINDOW) {
            inflight.push_back(request(offset));
        }
        while let Some(answer) = inflight.next().await {
            let msg = answer.map_err(|e| format!("node {node} did not send its bytes: {e}"))?;
            if msg.payload.is_empty() && len > 0 {
                return Err(format!("node {node} no longer has those bytes"));
            }
            out.extend_from_slice(&msg.payload);
            if let Some(offset) = offsets.next() {
                inflight.push_back(request(offset));
            }
        }
        if out.len() as u64 != len {
            return Err(format!("node {node} sent {} of {len} bytes", out.len()));
        }
        Ok(out)
    }

    pub(super) async fn serve_chunk(&self, msg: async_nats::Message) {
        let Some(reply) = msg.reply else { return };
        let Ok(req) = serde_json::from_slice::<ChunkRequest>(&msg.payload) else {
            return;
        };
        let blob = {
            let mut blobs = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
            let blob = blobs.get(&req.id).map(|(b, _)| b.clone());
            if req.last {
                blobs.remove(&req.id);
            }
            blob
        };
        let chunk = blob
            .map(|b| {
                let start = (req.offset as usize).min(b.len());
                let end = start.saturating_add(req.len as usize).min(b.len());
                Bytes::copy_from_slice(&b[start..end])
            })
            .unwrap_or_default();
        let _ = self.client.publish(reply, chunk).await;
    }
}
