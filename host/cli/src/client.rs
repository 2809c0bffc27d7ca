//! The client of a head: what `submit`, `status`, `stop` and Ray's state
//! commands (`list`, `logs`, `timeline`, `summary`) do over its HTTP API,
//! and their human-readable output.

use anyhow::{Context, bail};

use crate::progress::Progress;

/// A client of a head.
pub struct Client {
    address: String,
    token: Option<String>,
}

impl Client {
    /// A client of the head at `address`: `http://host:port`, or
    /// `host:port` as Ray writes it.
    pub fn new(address: &str, token: Option<String>) -> Self {
        let address = address.trim_end_matches('/');
        let address = if address.contains("://") {
            address.to_string()
        } else {
            format!("http://{address}")
        };
        Client { address, token }
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> anyhow::Result<(u16, Vec<u8>, Option<u64>)> {
        let url = format!("{}{path}", self.address);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let result = match (method, body) {
            ("GET", _) => {
                let mut r = ureq::get(&url).config().http_status_as_error(false).build();
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            (_, body) => {
                let mut r = ureq::post(&url)
                    .config()
                    .http_status_as_error(false)
                    .build();
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                match body {
                    Some(b) => r.send(b),
                    None => r.send_empty(),
                }
            }
        };
        let mut resp = result.map_err(|e| match e {
            ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                anyhow::anyhow!(
                    "no raylab head at {} ({e}); start one with `raylab-host start`",
                    self.address
                )
            }
            other => anyhow::anyhow!("request to {url} failed: {other}"),
        })?;
        let code = resp.status().as_u16();
        let log_start = resp
            .headers()
            .get(crate::head::LOG_START_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let bytes = resp.body_mut().with_config().limit(1 << 30).read_to_vec()?;
        Ok((code, bytes, log_start))
    }

    fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> anyhow::Result<serde_json::Value> {
        let (code, bytes, _) = self.request(method, path, body)?;
        if !(200..300).contains(&code) {
            bail!(
                "the head answered {code}: {}",
                String::from_utf8_lossy(&bytes).trim()
            );
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// `GET /api/status`.
    pub fn status(&self) -> anyhow::Result<serde_json::Value> {
        self.json("GET", "/api/status", None)
    }

    /// `POST /api/shutdown`.
    pub fn shutdown(&self) -> anyhow::Result<serde_json::Value> {
        self.json("POST", "/api/shutdown", None)
    }

    /// `GET /api/jobs`.
    pub fn jobs(&self) -> anyhow::Result<serde_json::Value> {
        self.json("GET", "/api/jobs", None)
    }

    /// `GET /api/tasks` with `query` (already encoded): the task table.
    pub fn tasks(&self, query: &str) -> anyhow::Result<serde_json::Value> {
        self.json("GET", &format!("/api/tasks?{query}"), None)
    }

    /// `GET /api/objects` with `query` (already encoded).
    pub fn objects(&self, query: &str) -> anyhow::Result<serde_json::Value> {
        self.json("GET", &format!("/api/objects?{query}"), None)
    }

    /// `GET /api/timeline[?job=N]`: Chrome trace events of the cluster.
    pub fn timeline(&self, job: Option<u64>) -> anyhow::Result<serde_json::Value> {
        let path = match job {
            Some(j) => format!("/api/timeline?job={j}"),
            None => "/api/timeline".to_string(),
        };
        self.json("GET", &path, None)
    }

    /// Print job `id`'s log so far to stdout; with `follow`, keep printing
    /// until the job ends and return its exit status.
    pub fn logs(&self, id: u64, follow: bool) -> anyhow::Result<i32> {
        if follow {
            return self.follow(id, false);
        }
        self.json("GET", &format!("/api/jobs/{id}"), None)?;
        let mut offset = 0;
        loop {
            let path = format!("/api/jobs/{id}/logs?offset={offset}");
            let (_, log, start) = self.request("GET", &path, None)?;
            if log.is_empty() {
                return Ok(0);
            }
            offset = start.unwrap_or(offset) + log.len() as u64;
            use std::io::Write;
            std::io::stdout().write_all(&log)?;
        }
    }

    /// Submit a module as a job and follow it to the end, writing its log
    /// to stdout. Returns the job's exit status.
    pub fn submit_and_follow(
        &self,
        name: &str,
        module: &[u8],
        args: &[String],
        timeout: Option<f64>,
        show_progress: bool,
    ) -> anyhow::Result<i32> {
        let mut q = format!(
            "/api/jobs?name={}&args={}",
            urlencode(name),
            urlencode(&serde_json::to_string(args)?)
        );
        if let Some(t) = timeout {
            q.push_str(&format!("&timeout={t}"));
        }
        let job = self.json("POST", &q, Some(module))?;
        let id = job["job_id"].as_u64().context("no job id in the answer")?;
        eprintln!("raylab: submitted job {id}");
        self.follow(id, show_progress)
    }

    /// Follow job `id` to its end, writing its log to stdout; its exit
    /// status.
    fn follow(&self, id: u64, show_progress: bool) -> anyhow::Result<i32> {
        let mut offset = 0u64;
        let progress = Progress::new(show_progress);
        // Poll quickly at first (a short job's end shows within a few ms),
        // then back off while nothing changes, up to 100 ms.
        let mut pause = std::time::Duration::from_millis(2);
        loop {
            // The status first, then the whole log up to now: whatever the
            // job printed before it ended is shown before its end.
            let info = self.json("GET", &format!("/api/jobs/{id}"), None)?;
            let mut printed = false;
            loop {
                let path = format!("/api/jobs/{id}/logs?offset={offset}");
                let (_, log, start) = self.request("GET", &path, None)?;
                let start = start.unwrap_or(offset);
                if start > offset {
                    progress.suspend(|| {
                        eprintln!(
                            "raylab: {} bytes of job {id}'s output were dropped (the head keeps the last {})",
                            start - offset,
                            crate::size::human_bytes(raylab::JOB_LOG_BYTES as f64)
                        )
                    });
                    offset = start;
                }
                if log.is_empty() {
                    break;
                }
                offset = start + log.len() as u64;
                printed = true;
                use std::io::Write;
                progress.suspend(|| -> std::io::Result<()> {
                    std::io::stdout().write_all(&log)?;
                    std::io::stdout().flush()
                })?;
            }
            pause = if printed {
                std::time::Duration::from_millis(2)
            } else {
                (pause * 2).min(std::time::Duration::from_millis(100))
            };
            progress.update(
                info["tasks_done"].as_u64().unwrap_or(0),
                info["tasks_submitted"].as_u64().unwrap_or(0),
                "",
            );
            if info["status"].as_str() != Some("RUNNING") {
                progress.finish();
            }
            match info["status"].as_str() {
                Some("RUNNING") => std::thread::sleep(pause),
                Some("SUCCEEDED") => return Ok(0),
                Some(status) => {
                    if let Some(e) = info["error"].as_str() {
                        eprintln!("error: job {id}: {e}");
                    } else {
                        eprintln!("raylab: job {id} {status}");
                    }
                    return Ok(info["exit_code"]
                        .as_i64()
                        .map_or(1, |c| if c == 0 { 1 } else { c as i32 }));
                }
                None => bail!("unexpected job record: {info}"),
            }
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Human-readable status (`raylab-host status`).
pub fn format_status(v: &serde_json::Value, address: &str) -> String {
    let mut out = format!(
        "raylab head at {address} (version {})\n",
        v["version"].as_str().unwrap_or("?")
    );
    let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
    if !nodes.is_empty() {
        let alive = nodes.iter().filter(|n| n["alive"] == true).count();
        out.push_str(&format!("nodes: {} ({alive} alive)\n", nodes.len()));
        for n in &nodes {
            out.push_str(&format!("  {}\n", node_line(n)));
        }
    }
    if let Some(waiting) = v["waiting_for_nodes"].as_array().filter(|w| !w.is_empty()) {
        out.push_str(&format!(
            "tasks waiting for a node that can hold them: {} (e.g. `{}`: {})\n",
            waiting.len(),
            waiting[0]["task"].as_str().unwrap_or("?"),
            waiting[0]["why"].as_str().unwrap_or("?")
        ));
    }
    if let Some(moved) = v["tasks_moved"].as_u64().filter(|m| *m > 0) {
        out.push_str(&format!(
            "tasks placed again after their node died: {moved}\n"
        ));
    }
    if let Some(rebuilt) = v["objects_rebuilt"].as_u64().filter(|m| *m > 0) {
        out.push_str(&format!(
            "objects rebuilt from their lineage after their node died: {rebuilt}\n"
        ));
    }
    if let Some(devices) = v["gpu_devices"].as_array().filter(|d| !d.is_empty()) {
        for d in devices {
            out.push_str(&format!(
                "GPU {}: {} ({}{})\n",
                d["id"],
                d["name"].as_str().unwrap_or("?"),
                d["backend"].as_str().unwrap_or("?"),
                if d["software"] == true {
                    ", software: shaders run on the CPU"
                } else {
                    ""
                }
            ));
        }
    }
    out.push_str("resources (in use / total):\n");
    if let Some(total) = v["resources"]["total"].as_object() {
        for (name, t) in total {
            let t = t.as_f64().unwrap_or(0.0);
            let a = v["resources"]["available"][name].as_f64().unwrap_or(0.0);
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
    }
    if let Some(pending) = v["pending_demand"].as_object().filter(|p| !p.is_empty()) {
        let parts: Vec<String> = pending.iter().map(|(k, a)| format!("{k}={a}")).collect();
        out.push_str(&format!("pending demand: {}\n", parts.join(", ")));
    }
    let t = &v["tasks"];
    out.push_str(&format!(
        "tasks: {} waiting for arguments, {} waiting for resources, {} running, {} blocked in get; {} finished, {} failed\n",
        t["waiting_for_args"], t["waiting_for_resources"], t["running"], t["blocked"], v["tasks_finished"], v["tasks_failed"]
    ));
    let o = &v["object_store"];
    let size = |x: &serde_json::Value| crate::size::human_bytes(x.as_f64().unwrap_or(0.0));
    out.push_str(&format!(
        "object store: {} objects, {} of {} in memory, {} of {} spilled to disk \
         ({} spilled and {} restored since start)\n",
        o["objects"],
        size(&o["bytes"]),
        size(&o["capacity"]),
        size(&o["spill"]["bytes"]),
        size(&o["spill"]["capacity"]),
        size(&o["spill"]["spilled_total"]),
        size(&o["spill"]["restored_total"])
    ));
    let actors = v["actors"].as_array().cloned().unwrap_or_default();
    if !actors.is_empty() {
        out.push_str(&format!("actors: {}\n", actors.len()));
        for a in actors {
            out.push_str(&format!(
                "  {} {} ({}) {}: {} calls done, {} queued, {} restarts, {}{}\n",
                a["id"],
                a["name"].as_str().unwrap_or("-"),
                a["class"].as_str().unwrap_or("?"),
                a["state"].as_str().unwrap_or("?"),
                a["calls_done"],
                a["calls_queued"],
                a["restarts"],
                crate::size::human_bytes(a["memory"].as_f64().unwrap_or(0.0)),
                a["death"]
                    .as_str()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ));
        }
    }
    let jobs = v["jobs"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!(
        "jobs: {} ({} running)\n",
        jobs.len(),
        v["jobs_running"]
    ));
    for j in jobs {
        out.push_str(&format!(
            "  {} {} {}\n",
            j["id"],
            j["name"].as_str().unwrap_or("?"),
            j["status"].as_str().unwrap_or("?")
        ));
    }
    out
}

/// A table of the jobs (`list jobs`).
pub fn format_jobs(jobs: &serde_json::Value) -> String {
    let mut out = format!(
        "{:<5} {:<24} {:<10} {:>10} {:>14}  {}\n",
        "ID", "NAME", "STATUS", "DURATION", "TASKS", "ERROR"
    );
    let now = unix_ms();
    for j in jobs.as_array().into_iter().flatten() {
        let start = j["submitted_at"].as_f64().unwrap_or(now);
        let end = j["ended_at"].as_f64().unwrap_or(now);
        out.push_str(&format!(
            "{:<5} {:<24} {:<10} {:>9.1}s {:>14}  {}\n",
            j["id"],
            j["name"].as_str().unwrap_or("?"),
            j["status"].as_str().unwrap_or("?"),
            (end - start) / 1e3,
            format!(
                "{}/{}",
                j["tasks_done"].as_u64().unwrap_or(0),
                j["tasks_submitted"].as_u64().unwrap_or(0)
            ),
            j["error"].as_str().unwrap_or("")
        ));
    }
    out
}

/// One node as `status` and `list nodes` show it: id, name, state, last
/// heartbeat, address, resources total and available (sizes readable).
fn node_line(n: &serde_json::Value) -> String {
    let now = unix_ms();
    let res = |key: &str| {
        n[key]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let v = v.as_f64().unwrap_or(0.0);
                        if k == "memory" {
                            format!("{k}={}", crate::size::human_bytes(v))
                        } else {
                            format!("{k}={v}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    format!(
        "node {} {}{} {} (heartbeat {:.1} s ago) {}: total {}; available {}",
        n["id"],
        n["name"].as_str().unwrap_or("?"),
        if n["this"] == true { " (this one)" } else { "" },
        match (n["alive"] == true, n["draining"] == true) {
            (true, false) => "ALIVE",
            (true, true) => "LEAVING",
            _ => "DEAD",
        },
        (now - n["heartbeat_ms"].as_f64().unwrap_or(0.0)) / 1e3,
        n["http"].as_str().unwrap_or("-"),
        res("total"),
        res("available")
    )
}

/// `list nodes`: a line per node (none outside a cluster).
pub fn format_nodes(nodes: &serde_json::Value) -> String {
    let lines: Vec<String> = nodes
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| node_line(n) + "\n")
        .collect();
    if lines.is_empty() {
        return "no cluster: this node runs alone\n".into();
    }
    lines.concat()
}

/// `list actors` as a table.
pub fn format_actors(actors: &serde_json::Value) -> String {
    let mut out = format!(
        "{:<8} {:<16} {:<16} {:<8} {:<10} {:>8} {:>7} {:>8} {:>10}  {}\n",
        "ID", "NAME", "CLASS", "JOB", "STATE", "CALLS", "QUEUED", "RESTARTS", "MEMORY", "DEATH"
    );
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    for a in actors.as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<8} {:<16} {:<16} {:<8} {:<10} {:>8} {:>7} {:>8} {:>10}  {}\n",
            a["id"],
            text(&a["name"]),
            text(&a["class"]),
            if a["job"].is_null() {
                "detached".into()
            } else {
                text(&a["job"])
            },
            text(&a["state"]),
            a["calls_done"],
            a["calls_queued"],
            a["restarts"],
            crate::size::human_bytes(a["memory"].as_f64().unwrap_or(0.0)),
            if a["death"].is_null() {
                String::new()
            } else {
                text(&a["death"])
            }
        ));
    }
    out
}

/// `list tasks` as a table: each task's state, node and sandbox figures
/// (peak memory of its quota, duration of its time limit, attempts), and
/// the last error of a failed one.
pub fn format_tasks(tasks: &serde_json::Value) -> String {
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
    let size = |v: &serde_json::Value| v.as_f64().map_or("-".into(), crate::size::human_bytes);
    for t in tasks.as_array().into_iter().flatten() {
        let ran = t["duration_ms"]
            .as_f64()
            .map_or("-".into(), |ms| format!("{:.1} ms", ms));
        let limit = t["time_limit_ms"]
            .as_u64()
            .map_or("none".into(), |ms| format!("{ms} ms"));
        let errors = t["errors"].as_array();
        out.push_str(&format!(
            "{:<8} {:<5} {:<24} {:<9} {:<10} {:>21} {:>19} {:>4}  {}\n",
            t["id"],
            t["job"],
            t["name"].as_str().unwrap_or("?"),
            t["state"].as_str().unwrap_or("?"),
            t["node"].as_str().unwrap_or("-"),
            format!("{}/{}", size(&t["memory_peak"]), size(&t["memory_quota"])),
            format!("{ran}/{limit}"),
            t["attempts"],
            errors
                .and_then(|e| e.last())
                .and_then(|e| e.as_str())
                .unwrap_or("")
        ));
    }
    out
}

/// `list objects` as a table.
pub fn format_objects(objects: &serde_json::Value) -> String {
    let mut out = format!(
        "{:<18} {:<5} {:<8} {:>10} {:>5} {:>8} {:>6}\n",
        "ID", "JOB", "STATE", "SIZE", "REFS", "CONTAINS", "OWNER"
    );
    for o in objects.as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<18} {:<5} {:<8} {:>10} {:>5} {:>8} {:>6}\n",
            o["id"],
            o["job"],
            o["state"].as_str().unwrap_or("?"),
            crate::size::human_bytes(o["size"].as_f64().unwrap_or(0.0)),
            o["refs"],
            o["contains"],
            o["owner"]
        ));
    }
    out
}

/// Counts of a timeline's task attempts by function and state (`summary
/// tasks`, as `ray summary tasks`), with their total and mean duration.
pub fn summarize_tasks(trace: &serde_json::Value) -> serde_json::Value {
    use std::collections::BTreeMap;
    let mut by: BTreeMap<String, BTreeMap<String, (u64, f64)>> = BTreeMap::new();
    for e in trace["traceEvents"].as_array().into_iter().flatten() {
        if e["ph"] != "X" {
            continue;
        }
        let name = e["name"].as_str().unwrap_or("?").to_string();
        let state = e["args"]["state"].as_str().unwrap_or("?").to_string();
        let slot = by.entry(name).or_default().entry(state).or_default();
        slot.0 += 1;
        slot.1 += e["dur"].as_f64().unwrap_or(0.0) / 1e3;
    }
    serde_json::json!(by
        .into_iter()
        .map(|(name, states)| {
            let total: u64 = states.values().map(|s| s.0).sum();
            let ms: f64 = states.values().map(|s| s.1).sum();
            serde_json::json!({
                "function": name,
                "attempts": total,
                "by_state": states.iter().map(|(k, v)| (k.clone(), v.0)).collect::<BTreeMap<_, _>>(),
                "total_ms": ms,
                "mean_ms": if total > 0 { ms / total as f64 } else { 0.0 },
            })
        })
        .collect::<Vec<_>>())
}

/// [`summarize_tasks`] as a table.
pub fn format_summary(summary: &serde_json::Value) -> String {
    let mut out = format!(
        "{:<32} {:>9} {:>9} {:>9} {:>12}\n",
        "FUNCTION", "ATTEMPTS", "FINISHED", "FAILED", "MEAN MS"
    );
    for f in summary.as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<32} {:>9} {:>9} {:>9} {:>12.3}\n",
            f["function"].as_str().unwrap_or("?"),
            f["attempts"],
            f["by_state"]["finished"].as_u64().unwrap_or(0),
            f["by_state"]["failed"].as_u64().unwrap_or(0),
            f["mean_ms"].as_f64().unwrap_or(0.0)
        ));
    }
    out
}

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}
