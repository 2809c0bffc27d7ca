//! Joining and leaving a cluster (the `cluster` feature): the registry, the
//! wire and what this node runs for the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cluster::wire::Wire;
use crate::cluster::{Cluster, ClusterConfig, ClusterError, Registry, Usage};
use crate::ids::ObjectId;

use super::{Runtime, remote};

impl Runtime {
    /// Join a cluster (the head founds it): this node gets an id and puts
    /// its record into the cluster's registry every heartbeat. Returns the
    /// node id.
    ///
    /// ```no_run
    /// use raylab::{ClusterConfig, Config, Runtime};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let worker = Runtime::new(Config::builder().num_cpus(4.0).build())?;
    /// let id = worker.join_cluster(ClusterConfig {
    ///     nats: "nats://10.0.0.1:4222".into(),
    ///     token: std::env::var("RAYLAB_CLUSTER_TOKEN")?,
    ///     name: "worker-1".into(),
    ///     http: None,
    ///     head: false,
    ///     durable_jobs: false,
    ///     // Bulk bytes straight from this machine's address.
    ///     data_host: Some("10.0.0.2".into()),
    /// })?;
    /// println!("joined as node {id}; {} nodes", worker.nodes().len());
    /// // ... serve tasks until asked to stop, then:
    /// worker.leave_cluster(std::time::Duration::from_secs(30));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// It blocks the calling thread on the node's own workers: called from
    /// a thread that runs a tokio runtime's async tasks it panics (call it
    /// inside `tokio::task::spawn_blocking` there).
    pub fn join_cluster(&self, cfg: ClusterConfig) -> Result<u16, ClusterError> {
        let control = self.node.control.clone();
        let resources = Box::new(move || {
            let c = control.lock();
            Usage {
                total: c.total().entries(),
                available: c.available().entries(),
                load: c.load(),
            }
        });
        let handle = self.node.handle.clone();
        let registry = self
            .workers()
            .block_on(Registry::join(&cfg, resources, &handle))?;
        let id = registry.id();
        // From now on, an object's id names the node that owns it.
        self.node.control.lock().set_id_base(ObjectId::new(
            u64::from(id) << crate::core::object_store::OWNER_SHIFT,
        ));
        let serve = remote::Remote::new(Arc::downgrade(&self.node));
        // Counted dead and back (see `registry`): what it held for others
        // goes.
        let fenced = Arc::downgrade(&serve);
        registry.on_fenced(Box::new(move |_| {
            if let Some(serve) = fenced.upgrade() {
                serve.fenced();
            }
        }));
        let wire = self.workers().block_on(Wire::open(
            id,
            registry.client().clone(),
            serve.clone(),
            &handle,
            cfg.replicas(),
            cfg.data_host.as_deref(),
        ))?;
        // Stubs of other nodes' objects give their holds back when they go.
        let releases = wire.release_pump(&handle);
        let (freed_tx, mut freed_rx) = tokio::sync::mpsc::unbounded_channel::<ObjectId>();
        self.node
            .control
            .lock()
            .on_foreign_freed(Box::new(move |id, holds| {
                let _ = releases.send((id, holds));
                let _ = freed_tx.send(id);
            }));
        // The lineage of a freed stub goes too, outside the store's lock.
        let tasks = Arc::downgrade(&self.node.tasks);
        handle.spawn(async move {
            let mut batch = Vec::new();
            while freed_rx.recv_many(&mut batch, 1024).await > 0 {
                let Some(tasks) = tasks.upgrade() else { break };
                for id in batch.drain(..) {
                    tasks.stub_freed(id);
                }
            }
        });
        // What runs here for a node that died is of no use to anyone: its
        // jobs end here as if their drivers had ended.
        let (watch, guests) = (Arc::downgrade(&registry), serve.clone());
        handle.spawn(async move {
            loop {
                tokio::time::sleep(crate::cluster::HEARTBEAT).await;
                let Some(registry) = watch.upgrade() else {
                    break;
                };
                for (origin, job) in guests.guest_jobs() {
                    if registry.dead(origin) {
                        tracing::warn!(origin, job = job.get(), "node died: its tasks here end");
                        crate::cluster::wire::Serve::job_ended(&*guests, origin, job);
                    }
                }
            }
        });
        let _ = self.node.remote.set(serve);
        let cluster = Cluster::new(cfg.name.clone(), registry, wire);
        self.node
            .cluster
            .set(cluster.clone())
            .map_err(|_| ClusterError::State("this node has joined a cluster already".into()))?;
        self.node.tasks.set_cluster(cluster.clone());
        if cfg.head && cfg.durable_jobs {
            let store = self
                .workers()
                .block_on(crate::cluster::durable::Durable::open(
                    cluster.registry.client(),
                    cfg.replicas(),
                ))?;
            let durable = super::durable::DurableJobs::new(store, (id, cfg.name.clone()));
            let _ = self.node.durable.set(durable.clone());
            super::durable::watch_role(&self.node, durable);
        }
        Ok(id)
    }

    /// Leave the cluster, if this node is in one: it takes no more tasks
    /// from other nodes, lets those it runs for them finish (for at most
    /// `grace`), then leaves; the others see it gone at once.
    ///
    /// # Panics
    ///
    /// It blocks the calling thread on the node's own workers: called from
    /// a thread that runs a tokio runtime's async tasks it panics (call it
    /// inside `tokio::task::spawn_blocking` there).
    pub fn leave_cluster(&self, grace: Duration) {
        let Some(c) = self.node.cluster.get() else {
            return;
        };
        self.workers().block_on(async {
            c.registry.drain().await;
            let deadline = Instant::now() + grace;
            while self.node.remote.get().is_some_and(|r| r.running() > 0)
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            c.registry.leave().await;
        });
    }
}
