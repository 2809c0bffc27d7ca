//! `raylab-host nats`: one server of a NATS cluster for raylab nodes, so
//! that the cluster has no single point of failure in its messaging: run
//! it on three machines (or three ports), each naming the others, and give
//! every node the list of the three (`start --nats` for a head,
//! `--address` for the others). The cluster's state is then kept in three
//! replicas, and a server's death loses nothing: nodes move to another.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// `raylab-host nats` arguments.
#[derive(Args, Debug, Clone)]
pub(crate) struct NatsArgs {
    /// This server's name in the NATS cluster (unique among its servers).
    #[arg(long)]
    name: String,
    /// Address to serve nodes on.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Port to serve nodes on.
    #[arg(long, default_value_t = 4222)]
    port: u16,
    /// Where the other servers of the cluster reach this one
    /// (`host:port`).
    #[arg(long, value_name = "HOST:PORT")]
    listen: String,
    /// Another server of the cluster (its --listen address); repeat for
    /// each.
    #[arg(long = "peer", value_name = "HOST:PORT", required = true)]
    peers: Vec<String>,
    /// Where the server keeps its configuration and its JetStream data
    /// [default: a directory named after the server in the temporary
    /// directory].
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// The cluster's token: nodes and peers without it are refused.
    #[arg(long, env = "RAYLAB_CLUSTER_TOKEN", hide_env_values = true)]
    cluster_token: String,
}

/// Become the NATS server (this process is replaced by `nats-server`).
pub(crate) fn nats(args: NatsArgs) -> anyhow::Result<i32> {
    let store = args
        .store
        .unwrap_or_else(|| std::env::temp_dir().join(format!("raylab-nats-{}", args.name)));
    let peering = raylab_host::nats::Peering {
        name: args.name,
        listen: args.listen,
        peers: args.peers,
        store,
    };
    eprintln!(
        "nats: serving nodes on nats://{}:{}, peers on {}",
        args.host, args.port, peering.listen
    );
    match raylab_host::nats::exec_clustered(args.host, args.port, &args.cluster_token, &peering)
        .context("raylab-host nats")? {}
}
