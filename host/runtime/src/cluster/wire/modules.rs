//! Modules by content hash in the JetStream stream `RAYLAB_MODULES`.
//!
//! A module is its chunks, `raylab.modules.<sha256>.<i>` (512 KiB each, one
//! message per subject), then `raylab.modules.<sha256>.meta` (its length and
//! chunk count), published last so that a module whose meta is there is
//! whole. Reads are JetStream direct gets of the last message of each
//! subject: any replica of the stream answers them, and they need no
//! consumer. (JetStream's object store reads through an ephemeral consumer
//! placed on one server; when that server dies the read times out until the
//! cluster notices, which took tens of seconds here.) The bytes read are
//! checked against the digest that names them.

use async_nats::jetstream::{self, stream};

use super::{CHUNK, ClusterError, MODULES, Wire};

/// What a module's meta message says.
#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    len: u64,
    chunks: u64,
}

fn subject(digest: &str, part: &str) -> String {
    format!("raylab.modules.{digest}.{part}")
}

/// Opens the module stream, making it first when this is the first node
/// (kept on disk by the servers, in `replicas` replicas).
pub(super) async fn open_modules(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<stream::Stream, ClusterError> {
    let config = stream::Config {
        name: MODULES.into(),
        subjects: vec!["raylab.modules.>".into()],
        max_messages_per_subject: 1,
        discard: stream::DiscardPolicy::Old,
        allow_direct: true,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    };
    crate::cluster::until_jetstream_ready(|| js.get_or_create_stream(config.clone()))
        .await
        .map_err(|e| ClusterError::State(format!("cannot make the module store: {e}")))
}

impl Wire {
    /// Put a module's bytes into the cluster's store (once per content).
    /// Tried again for a few seconds, as [`Wire::module_bytes`] is.
    pub(crate) async fn publish_module(&self, digest: &str, bytes: &[u8]) -> Result<(), String> {
        let js = jetstream::new(self.client.clone());
        crate::cluster::until_jetstream_ready(|| async {
            if self
                .modules
                .direct_get_last_for_subject(subject(digest, "meta"))
                .await
                .is_ok()
            {
                return Ok(());
            }
            let parts: Vec<&[u8]> = bytes.chunks(CHUNK as usize).collect();
            for (i, part) in parts.iter().enumerate() {
                let ack = js
                    .publish(subject(digest, &i.to_string()), part.to_vec().into())
                    .await
                    .map_err(|e| format!("cannot store module {digest}: {e}"))?;
                ack.await
                    .map_err(|e| format!("cannot store module {digest}: {e}"))?;
            }
            let meta = serde_json::to_vec(&Meta {
                len: bytes.len() as u64,
                chunks: parts.len() as u64,
            })
            .expect("serializes");
            js.publish(subject(digest, "meta"), meta.into())
                .await
                .map_err(|e| format!("cannot store module {digest}: {e}"))?
                .await
                .map_err(|e| format!("cannot store module {digest}: {e}"))?;
            Ok(())
        })
        .await
    }

    /// A module's bytes, from the cluster's store, checked against their
    /// digest. A read is tried again for a few seconds (a stream whose
    /// server died elects a new leader meanwhile).
    pub(crate) async fn module_bytes(&self, digest: &str) -> Result<Vec<u8>, String> {
        crate::cluster::until_jetstream_ready(|| async {
            let meta = self
                .modules
                .direct_get_last_for_subject(subject(digest, "meta"))
                .await
                .map_err(|e| format!("module {digest} is not in the cluster's store: {e}"))?;
            let meta: Meta = serde_json::from_slice(&meta.payload)
                .map_err(|e| format!("module {digest}: a bad record in the store: {e}"))?;
            let mut bytes = Vec::with_capacity(meta.len as usize);
            for i in 0..meta.chunks {
                let part = self
                    .modules
                    .direct_get_last_for_subject(subject(digest, &i.to_string()))
                    .await
                    .map_err(|e| format!("cannot read module {digest}: {e}"))?;
                bytes.extend_from_slice(&part.payload);
            }
            if bytes.len() as u64 != meta.len || crate::wasm::engine::digest(&bytes) != digest {
                return Err(format!(
                    "module {digest}: the store's bytes do not match its digest"
                ));
            }
            Ok(bytes)
        })
        .await
    }
}
