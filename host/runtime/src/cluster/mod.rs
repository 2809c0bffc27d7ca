//! The cluster: nodes that find each other over NATS, the engine raylab
//! builds its multi-node runtime on (as wasmCloud builds its lattice).
//!
//! A head owns the NATS server (with JetStream) and the cluster's token;
//! every node, the head included, connects with that token (a node without
//! it is refused by the server), asks the head for a node id on the
//! subject `raylab.join`, and from then on puts a record of itself (name,
//! HTTP address, resources total and available, a timestamp) into the
//! key-value bucket `raylab-nodes` every [`HEARTBEAT`]. Every node watches
//! that bucket: its view of the cluster is the records it has seen, and a
//! node whose last heartbeat is older than [`DEAD_AFTER`] is dead (the
//! bucket's age limit also drops the records of nodes long gone).
//!
//! Why this shape (the design guide suggested a work-queue stream for
//! tasks too): a task's owner is the node that submitted it, as in Ray, and
//! the owner tracks where its tasks run, so plain request/reply (tens of
//! microseconds on loopback) carries tasks and objects, and a node's death
//! is seen in the registry by the owners, who run its tasks again
//! elsewhere; JetStream holds what must outlive a node or be shared by
//! all: the registry, and (later) the job modules by content hash.

mod registry;

use std::sync::Arc;
use std::time::Duration;

pub use registry::NodeInfo;
pub(crate) use registry::Registry;

/// How often a node puts its record.
pub const HEARTBEAT: Duration = Duration::from_millis(500);

/// A node is dead once its last heartbeat is this old.
pub const DEAD_AFTER: Duration = Duration::from_secs(3);

/// How a node joins a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The NATS server (`nats://host:port`).
    pub nats: String,
    /// The cluster's token.
    pub token: String,
    /// This node's name (shown in `status`).
    pub name: String,
    /// This node's HTTP API, if it serves one (shown in `status`).
    pub http: Option<String>,
    /// Whether this node is the head: it hands out node ids.
    pub head: bool,
}

/// Why joining a cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The NATS server could not be reached or refused the token.
    #[error("cannot join the cluster at {nats}: {why}")]
    Connect {
        /// The server.
        nats: String,
        /// What it said.
        why: String,
    },
    /// The head did not answer the join request.
    #[error(
        "the cluster at {nats} has no head answering (is `raylab-host start --head` running there?): {why}"
    )]
    NoHead {
        /// The server.
        nats: String,
        /// What happened.
        why: String,
    },
    /// A JetStream operation failed.
    #[error("cluster state: {0}")]
    State(String),
}

/// This node's membership of a cluster.
pub(crate) struct Cluster {
    /// Its node id.
    #[allow(dead_code)]
    pub(crate) id: u16,
    pub(crate) registry: Arc<Registry>,
}
