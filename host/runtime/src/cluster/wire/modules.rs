//! Modules by content hash in the JetStream object store `raylab-modules`.

use async_nats::jetstream::{self, object_store};

use super::ClusterError;
use super::{MODULES, Wire};

/// Opens the module store, making its backing stream first when this is
/// the first node (directly, for the same reason as the node bucket: see
/// `registry::open_bucket`). Modules are kept on disk by the server.
pub(super) async fn open_modules(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<object_store::ObjectStore, ClusterError> {
    if let Ok(store) = js.get_object_store(MODULES).await {
        return Ok(store);
    }
    let config = jetstream::stream::Config {
        name: format!("OBJ_{MODULES}"),
        subjects: vec![format!("$O.{MODULES}.C.>"), format!("$O.{MODULES}.M.>")],
        discard: jetstream::stream::DiscardPolicy::New,
        allow_rollup: true,
        allow_direct: true,
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    };
    crate::cluster::until_jetstream_ready(|| js.get_or_create_stream(config.clone()))
        .await
        .map_err(|e| ClusterError::State(format!("cannot make the module store: {e}")))?;
    js.get_object_store(MODULES)
        .await
        .map_err(|e| ClusterError::State(format!("cannot open the module store: {e}")))
}

impl Wire {
    /// Put a module's bytes into the cluster's store (once per content).
    /// Tried again for a few seconds, as [`Wire::module_bytes`] is.
    pub(crate) async fn publish_module(&self, digest: &str, bytes: &[u8]) -> Result<(), String> {
        crate::cluster::until_jetstream_ready(|| async {
            if self.modules.info(digest).await.is_ok() {
                return Ok(());
            }
            let mut reader = bytes;
            self.modules
                .put(digest, &mut reader)
                .await
                .map(|_| ())
                .map_err(|e| format!("cannot store module {digest}: {e}"))
        })
        .await
    }

    /// A module's bytes, from the cluster's store. A read is tried again
    /// for a few seconds: the store's reads run on a consumer of one NATS
    /// server, and one that dies under it fails the read (any other server
    /// holds a replica).
    pub(crate) async fn module_bytes(&self, digest: &str) -> Result<Vec<u8>, String> {
        use tokio::io::AsyncReadExt;
        crate::cluster::until_jetstream_ready(|| async {
            let mut object = self
                .modules
                .get(digest)
                .await
                .map_err(|e| format!("module {digest} is not in the cluster's store: {e}"))?;
            let mut bytes = Vec::new();
            object
                .read_to_end(&mut bytes)
                .await
                .map_err(|e| format!("cannot read module {digest}: {e}"))?;
            Ok(bytes)
        })
        .await
    }
}
