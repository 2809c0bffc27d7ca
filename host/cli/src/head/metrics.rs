//! `GET /metrics`: the node's figures in Prometheus' text format, every
//! sample labelled with the node's name (`local` outside a cluster), so
//! that one Prometheus can scrape every node of a cluster.

use raylab::{JobStatus, Runtime};

/// The metrics page of `rt`.
pub(super) fn render(rt: &Runtime) -> String {
    let s = rt.stats();
    let (total, available) = rt.resources();
    let mut out = String::new();
    let node = format!("node=\"{}\"", escape(&rt.node_name()));
    let mut metric = |name: &str, help: &str, kind: &str, samples: Vec<(String, f64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, v) in samples {
            let labels = match labels.strip_prefix('{') {
                Some(rest) => format!("{{{node},{rest}"),
                None => format!("{{{node}}}"),
            };
            out.push_str(&format!("{name}{labels} {v}\n"));
        }
    };
    metric(
        "raylab_tasks",
        "Tasks by state.",
        "gauge",
        vec![
            (
                "{state=\"waiting_for_args\"}".into(),
                s.tasks.waiting_for_args as f64,
            ),
            (
                "{state=\"waiting_for_resources\"}".into(),
                s.tasks.waiting_for_resources as f64,
            ),
            ("{state=\"running\"}".into(), s.tasks.running as f64),
            ("{state=\"blocked\"}".into(), s.tasks.blocked as f64),
        ],
    );
    metric(
        "raylab_tasks_total",
        "Tasks since start, by outcome.",
        "counter",
        vec![
            ("{outcome=\"submitted\"}".into(), s.submitted as f64),
            ("{outcome=\"finished\"}".into(), s.finished as f64),
            ("{outcome=\"failed\"}".into(), s.failed as f64),
        ],
    );
    metric(
        "raylab_object_store_bytes",
        "Bytes of ready objects.",
        "gauge",
        vec![(String::new(), s.objects.bytes as f64)],
    );
    metric(
        "raylab_object_store_objects",
        "Objects alive.",
        "gauge",
        vec![(String::new(), s.objects.objects as f64)],
    );
    metric(
        "raylab_object_store_spilled_bytes",
        "Bytes of objects spilled to disk now.",
        "gauge",
        vec![(String::new(), s.objects.spill.bytes as f64)],
    );
    metric(
        "raylab_object_store_spill_bytes_total",
        "Bytes written to and read back from the spill directory since start.",
        "counter",
        vec![
            (
                "{direction=\"spilled\"}".into(),
                s.objects.spill.spilled_total as f64,
            ),
            (
                "{direction=\"restored\"}".into(),
                s.objects.spill.restored_total as f64,
            ),
        ],
    );
    metric(
        "raylab_object_store_capacity_bytes",
        "Object store capacity.",
        "gauge",
        vec![(String::new(), s.objects.capacity as f64)],
    );
    let res = |v: Vec<(String, f64)>| {
        v.into_iter()
            .map(|(k, a)| (format!("{{resource=\"{k}\"}}"), a))
            .collect()
    };
    metric(
        "raylab_resources_total",
        "Node resources.",
        "gauge",
        res(total),
    );
    metric(
        "raylab_resources_available",
        "Resources not held by tasks.",
        "gauge",
        res(available),
    );
    let actors = rt.actors();
    let in_state = |st: raylab::ActorState| actors.iter().filter(|a| a.state == st).count() as f64;
    metric(
        "raylab_actors",
        "Actors by state.",
        "gauge",
        vec![
            (
                "{state=\"PENDING\"}".into(),
                in_state(raylab::ActorState::Pending),
            ),
            (
                "{state=\"ALIVE\"}".into(),
                in_state(raylab::ActorState::Alive),
            ),
            (
                "{state=\"RESTARTING\"}".into(),
                in_state(raylab::ActorState::Restarting),
            ),
            (
                "{state=\"DEAD\"}".into(),
                in_state(raylab::ActorState::Dead),
            ),
        ],
    );
    let jobs = rt.jobs();
    let count = |st: JobStatus| jobs.iter().filter(|j| j.status == st).count() as f64;
    metric(
        "raylab_jobs",
        "Jobs by status.",
        "gauge",
        vec![
            ("{status=\"RUNNING\"}".into(), count(JobStatus::Running)),
            ("{status=\"SUCCEEDED\"}".into(), count(JobStatus::Succeeded)),
            ("{status=\"FAILED\"}".into(), count(JobStatus::Failed)),
            ("{status=\"STOPPED\"}".into(), count(JobStatus::Stopped)),
        ],
    );
    let nodes = rt.nodes();
    if !nodes.is_empty() {
        let alive = nodes.iter().filter(|n| n.alive).count() as f64;
        metric(
            "raylab_cluster_nodes",
            "Nodes of the cluster this node sees, alive or dead.",
            "gauge",
            vec![
                ("{state=\"alive\"}".into(), alive),
                ("{state=\"dead\"}".into(), nodes.len() as f64 - alive),
            ],
        );
    }
    out
}

/// A label value as Prometheus' text format writes it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
