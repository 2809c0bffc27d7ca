//! The human-readable output of the client commands: `status`, the `list`
//! tables and `summary tasks`, from the head's answers as [`crate::api`]
//! reads them.

use serde::{Deserialize, Serialize};

use crate::api;

/// Human-readable status (`raylab-host status`).
pub fn format_status(v: &api::Status, address: &str) -> String {
    let mut out = format!("raylab head at {address} (version {})\n", v.version);
    if !v.nodes.is_empty() {
        let alive = v.nodes.iter().filter(|n| n.alive).count();
        out.push_str(&format!("nodes: {} ({alive} alive)\n", v.nodes.len()));
        for n in &v.nodes {
            out.push_str(&format!("  {}\n", node_line(n)));
        }
    }
    if let Some(first) = v.waiting_for_nodes.first() {
        out.push_str(&format!(
            "tasks waiting for a node that can hold them: {} (e.g. `{}`: {})\n",
            v.waiting_for_nodes.len(),
            first.task,
            first.why
        ));
    }
    if v.tasks_moved > 0 {
        out.push_str(&format!(
            "tasks placed again after their node died: {}\n",
            v.tasks_moved
        ));
    }
    if v.objects_rebuilt > 0 {
        out.push_str(&format!(
            "objects rebuilt from their lineage after their node died: {}\n",
            v.objects_rebuilt
        ));
    }
    for d in &v.gpu_devices {
        out.push_str(&format!(
            "GPU {}: {} ({}{})\n",
            d.id,
            d.name,
            d.backend,
            if d.software {
                ", software: shaders run on the CPU"
            } else {
                ""
            }
        ));
    }
    out.push_str("resources (in use / total):\n");
    for (name, &t) in &v.resources.total {
        let a = v.resources.available.get(name).copied().unwrap_or(0.0);
        if name == "memory" {
            out.push_str(&format!(
                "  {name}: {} / {}\n",
                crate::size::human_bytes(t - a),
                crate::size::human_bytes(t)
            ));
        } else {
            out.push_str(&format!("  {name}: {} / {t}\n", t - a));
        }
    }
    if !v.pending_demand.is_empty() {
        let parts: Vec<String> = v
            .pending_demand
            .iter()
            .map(|(k, a)| format!("{k}={a}"))
            .collect();
        out.push_str(&format!("pending demand: {}\n", parts.join(", ")));
    }
    let t = &v.tasks;
    out.push_str(&format!(
        "tasks: {} waiting for arguments, {} waiting for resources, {} running, {} blocked in get; {} finished, {} failed\n",
        t.waiting_for_args, t.waiting_for_resources, t.running, t.blocked, v.tasks_finished, v.tasks_failed
    ));
    let o = &v.object_store;
    let size = |x: u64| crate::size::human_bytes(x as f64);
    out.push_str(&format!(
        "object store: {} objects, {} of {} in memory, {} of {} spilled to disk \
         ({} spilled and {} restored since start)\n",
        o.objects,
        size(o.bytes as u64),
        size(o.capacity as u64),
        size(o.spill.bytes as u64),
        size(o.spill.capacity as u64),
        size(o.spill.spilled_total),
        size(o.spill.restored_total)
    ));
    if !v.actors.is_empty() {
        out.push_str(&format!("actors: {}\n", v.actors.len()));
        for a in &v.actors {
            out.push_str(&format!(
                "  {} {} ({}) {}: {} calls done, {} queued, {} restarts, {}{}\n",
                a.id,
                a.name.as_deref().unwrap_or("-"),
                a.class,
                a.state.name(),
                a.calls_done,
                a.calls_queued,
                a.restarts,
                crate::size::human_bytes(a.memory as f64),
                a.death
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ));
        }
    }
    out.push_str(&format!(
        "jobs: {} ({} running)\n",
        v.jobs.len(),
        v.jobs_running
    ));
    for j in &v.jobs {
        out.push_str(&format!("  {} {} {}\n", j.id, j.name, j.status.name()));
    }
    out
}

/// A table of the jobs (`list jobs`).
pub fn format_jobs(jobs: &[api::Job]) -> String {
    let mut out = format!(
        "{:<5} {:<24} {:<10} {:>10} {:>14}  {}\n",
        "ID", "NAME", "STATUS", "DURATION", "TASKS", "ERROR"
    );
    let now = unix_ms();
    for j in jobs {
        let end = j.ended_at.unwrap_or(now);
        out.push_str(&format!(
            "{:<5} {:<24} {:<10} {:>9.1}s {:>14}  {}\n",
            j.id,
            j.name,
            j.status.name(),
            (end - j.submitted_at) / 1e3,
            format!("{}/{}", j.tasks_done, j.tasks_submitted),
            j.error.as_deref().unwrap_or("")
        ));
    }
    out
}

/// One node as `status` and `list nodes` show it: id, name, state, last
/// heartbeat, address, resources total and available (sizes readable).
fn node_line(n: &api::Node) -> String {
    let now = unix_ms();
    let res = |m: &api::ResourceMap| {
        m.iter()
            .map(|(k, &v)| {
                if k == "memory" {
                    format!("{k}={}", crate::size::human_bytes(v))
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "node {} {}{}{} {} (heartbeat {:.1} s ago) {}: total {}; available {}",
        n.id,
        n.name,
        if n.this { " (this one)" } else { "" },
        // Shown once it came back after being counted dead.
        if n.incarnation > 1 {
            format!(" (incarnation {})", n.incarnation)
        } else {
            String::new()
        },
        match (n.alive, n.draining) {
            (true, false) => "ALIVE",
            (true, true) => "LEAVING",
            _ => "DEAD",
        },
        (now - n.heartbeat_ms) / 1e3,
        n.http.as_deref().unwrap_or("-"),
        res(&n.total),
        res(&n.available)
    )
}

/// `list nodes`: a line per node (none outside a cluster).
pub fn format_nodes(nodes: &[api::Node]) -> String {
    if nodes.is_empty() {
        return "no cluster: this node runs alone\n".into();
    }
    nodes.iter().map(|n| node_line(n) + "\n").collect()
}

/// `list actors` as a table.
pub fn format_actors(actors: &[api::Actor]) -> String {
    let mut out = format!(
        "{:<8} {:<16} {:<16} {:<8} {:<10} {:>8} {:>7} {:>8} {:>10}  {}\n",
        "ID", "NAME", "CLASS", "JOB", "STATE", "CALLS", "QUEUED", "RESTARTS", "MEMORY", "DEATH"
    );
    for a in actors {
        out.push_str(&format!(
            "{:<8} {:<16} {:<16} {:<8} {:<10} {:>8} {:>7} {:>8} {:>10}  {}\n",
            a.id,
            a.name.as_deref().unwrap_or("-"),
            a.class,
            a.job.map_or_else(|| "detached".into(), |j| j.to_string()),
            a.state.name(),
            a.calls_done,
            a.calls_queued,
            a.restarts,
            crate::size::human_bytes(a.memory as f64),
            a.death.as_deref().unwrap_or("")
        ));
    }
    out
}

/// `list tasks` as a table: each task's state, node and sandbox figures
/// (peak memory of its quota, duration of its time limit, attempts), and
/// the last error of a failed one.
pub fn format_tasks(tasks: &[api::TaskRow]) -> String {
    let mut out = format!(
        "{:<8} {:<5} {:<24} {:<9} {:<10} {:>21} {:>19} {:>4}  {}\n",
        "ID",
        "JOB",
        "NAME",
        "STATE",
        "NODE",
        "MEMORY (PEAK/QUOTA)",
        "TIME (RAN/LIMIT)",
        "TRY",
        "ERROR"
    );
    let size = |v: Option<u64>| v.map_or("-".into(), |b| crate::size::human_bytes(b as f64));
    for t in tasks {
        let ran = t
            .duration_ms
            .map_or("-".into(), |ms| format!("{:.1} ms", ms));
        let limit = t
            .time_limit_ms
            .map_or("none".into(), |ms| format!("{ms} ms"));
        out.push_str(&format!(
            "{:<8} {:<5} {:<24} {:<9} {:<10} {:>21} {:>19} {:>4}  {}\n",
            t.id,
            t.job,
            t.name,
            api::task_state_name(t.state),
            t.node.as_deref().unwrap_or("-"),
            format!("{}/{}", size(t.memory_peak), size(Some(t.memory_quota))),
            format!("{ran}/{limit}"),
            t.attempts,
            t.errors.last().map_or("", String::as_str)
        ));
    }
    out
}

/// `list objects` as a table.
pub fn format_objects(objects: &[api::Object]) -> String {
    let mut out = format!(
        "{:<18} {:<5} {:<8} {:>10} {:>5} {:>8} {:>6}\n",
        "ID", "JOB", "STATE", "SIZE", "REFS", "CONTAINS", "OWNER"
    );
    for o in objects {
        out.push_str(&format!(
            "{:<18} {:<5} {:<8} {:>10} {:>5} {:>8} {:>6}\n",
            o.id,
            o.job,
            o.state,
            crate::size::human_bytes(o.size as f64),
            o.refs,
            o.contains,
            o.owner
        ));
    }
    out
}

/// A function's task attempts, as `summary tasks` reports them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSummary {
    /// The function (the task's name).
    pub function: String,
    /// Its attempts.
    pub attempts: u64,
    /// Of those, how many ended in each state (`finished`, `failed`, ...).
    pub by_state: std::collections::BTreeMap<String, u64>,
    /// Their total duration, ms.
    pub total_ms: f64,
    /// Their mean duration, ms.
    pub mean_ms: f64,
}

/// Counts of a timeline's task attempts by function and state (`summary
/// tasks`, as `ray summary tasks`), with their total and mean duration.
pub fn summarize_tasks(trace: &api::Trace) -> Vec<TaskSummary> {
    use std::collections::BTreeMap;
    let mut by: BTreeMap<&str, BTreeMap<String, (u64, f64)>> = BTreeMap::new();
    for api::Slice {
        name, dur, args, ..
    } in trace.slices()
    {
        let slot = by
            .entry(name)
            .or_default()
            .entry(args.state.clone())
            .or_default();
        slot.0 += 1;
        slot.1 += *dur as f64 / 1e3;
    }
    by.into_iter()
        .map(|(name, states)| {
            let total: u64 = states.values().map(|s| s.0).sum();
            let ms: f64 = states.values().map(|s| s.1).sum();
            TaskSummary {
                function: name.to_string(),
                attempts: total,
                by_state: states.iter().map(|(k, v)| (k.clone(), v.0)).collect(),
                total_ms: ms,
                mean_ms: if total > 0 { ms / total as f64 } else { 0.0 },
            }
        })
        .collect()
}

/// [`summarize_tasks`] as a table.
pub fn format_summary(summary: &[TaskSummary]) -> String {
    let mut out = format!(
        "{:<32} {:>9} {:>9} {:>9} {:>12}\n",
        "FUNCTION", "ATTEMPTS", "FINISHED", "FAILED", "MEAN MS"
    );
    for f in summary {
        let count = |state: &str| f.by_state.get(state).copied().unwrap_or(0);
        out.push_str(&format!(
            "{:<32} {:>9} {:>9} {:>9} {:>12.3}\n",
            f.function,
            f.attempts,
            count("finished"),
            count("failed"),
            f.mean_ms
        ));
    }
    out
}

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}
