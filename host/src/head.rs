//! The head: a long-running node with an HTTP API, and the client side of
//! `submit`, `status` and `stop`.
//!
//! `raylab-host start` keeps one [`Runtime`] alive and serves, on
//! 127.0.0.1:8265 by default (Ray's dashboard port):
//!
//! | endpoint | what |
//! | --- | --- |
//! | `POST /api/jobs?name=N&args=JSON` (body: the module) | submit a job; `{"job_id": n}` |
//! | `GET /api/jobs`, `GET /api/jobs/{id}` | jobs and their status |
//! | `GET /api/jobs/{id}/logs?offset=N` | the job's output from byte N |
//! | `POST /api/jobs/{id}/stop` | stop a job |
//! | `GET /api/status` | version, resources, jobs, tasks by state, object store |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /api/timeline?job=N` | Chrome trace events (Perfetto, chrome://tracing) |
//! | `POST /api/shutdown` | stop running jobs and exit |
//! | `GET /` | the dashboard page (refreshes itself) |
//!
//! The API is modelled on Ray's Jobs API; a job is a driver module run on
//! the head, with its own log and its own objects (another job cannot see
//! them). HTTP is served on threads of its own, so status requests never
//! compete with tasks for the workers. Binding anything but loopback
//! requires a token, which every request must carry as
//! `Authorization: Bearer <token>`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::runtime::{JobInfo, JobStatus, Runtime};

/// Settings of the head's server.
#[derive(Debug, Clone)]
pub struct HeadConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Required bearer token (mandatory off loopback).
    pub token: Option<String>,
    /// Largest module upload, bytes.
    pub max_upload: usize,
}

struct App {
    runtime: Arc<Runtime>,
    token: Option<String>,
    max_upload: usize,
    shutdown: tokio::sync::Notify,
}

type Reply = Result<Response, (StatusCode, String)>;

fn authorize(app: &App, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
    let Some(token) = &app.token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given == Some(token.as_str()) {
        Ok(())
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            "missing or wrong token (Authorization: Bearer <token>)".into(),
        ))
    }
}

fn json(value: impl serde::Serialize) -> Response {
    axum::Json(value).into_response()
}

/// Serve until `POST /api/shutdown`. Prints the address it listens on.
pub fn serve(runtime: Arc<Runtime>, cfg: HeadConfig) -> anyhow::Result<()> {
    if !cfg.addr.ip().is_loopback() && cfg.token.is_none() {
        bail!(
            "binding {} (not loopback) requires --token or RAYLAB_TOKEN",
            cfg.addr.ip()
        );
    }
    let http = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("raylab-http")
        .enable_all()
        .build()?;
    // The node's own tokio runtime must not be dropped on an HTTP thread:
    // keep a reference here so that the last one goes out on this thread.
    let node = runtime.clone();
    let app = Arc::new(App {
        runtime,
        token: cfg.token.clone(),
        max_upload: cfg.max_upload,
        shutdown: tokio::sync::Notify::new(),
    });
    http.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cfg.addr)
            .await
            .with_context(|| format!("cannot listen on {}", cfg.addr))?;
        let addr = listener.local_addr()?;
        // Whoever started the head may have stopped reading its output:
        // a closed stdout must not take the head down.
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "raylab head listening on http://{addr}");
        let _ = writeln!(out, "dashboard: http://{addr}/");
        let _ = out.flush();
        let router = Router::new()
            .route("/", get(dashboard))
            .route("/api/version", get(version))
            .route("/api/status", get(status))
            .route("/api/jobs", post(submit_job).get(list_jobs))
            .route("/api/jobs/{id}", get(get_job))
            .route("/api/jobs/{id}/logs", get(job_logs))
            .route("/api/jobs/{id}/stop", post(stop_job))
            .route("/api/shutdown", post(shutdown))
            .route("/metrics", get(metrics))
            .route("/api/timeline", get(timeline))
            // Uploads are counted in `submit_job`, which reads an oversized
            // one to its end before answering 413: a server that hangs up
            // mid-upload leaves the client with a broken pipe, not a reason.
            .layer(DefaultBodyLimit::disable())
            .with_state(app.clone());
        let app2 = app.clone();
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { app2.shutdown.notified().await })
            .await?;
        anyhow::Ok(())
    })?;
    drop(http);
    node.shutdown_gpus();
    drop(node);
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "raylab head stopped");
    Ok(())
}

async fn dashboard(State(app): State<Arc<App>>, headers: HeaderMap) -> Reply {
    authorize(&app, &headers)?;
    Ok(Html(DASHBOARD).into_response())
}

async fn version() -> Response {
    json(serde_json::json!({ "version": env!("CARGO_PKG_VERSION") }))
}

fn status_value(rt: &Runtime) -> serde_json::Value {
    let stats = rt.stats();
    let (total, available) = rt.resources();
    let as_map =
        |v: Vec<(String, f64)>| v.into_iter().collect::<std::collections::BTreeMap<_, _>>();
    let jobs = rt.jobs();
    let running = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Running)
        .count();
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "resources": { "total": as_map(total), "available": as_map(available) },
        "pending_demand": as_map(rt.pending_demand()),
        "tasks": stats.tasks,
        "tasks_submitted": stats.submitted,
        "tasks_finished": stats.finished,
        "tasks_failed": stats.failed,
        "object_store": stats.objects,
        "jobs_running": running,
        "jobs": jobs,
    })
}

async fn status(State(app): State<Arc<App>>, headers: HeaderMap) -> Reply {
    authorize(&app, &headers)?;
    Ok(json(status_value(&app.runtime)))
}

#[derive(Deserialize)]
struct SubmitQuery {
    name: Option<String>,
    args: Option<String>,
}

async fn submit_job(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<SubmitQuery>,
    body: axum::body::Body,
) -> Reply {
    authorize(&app, &headers)?;
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| (StatusCode::BAD_REQUEST, format!("upload failed: {e}")))?;
        total += chunk.len();
        if total <= app.max_upload {
            bytes.extend_from_slice(&chunk);
        }
    }
    if total > app.max_upload {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the module has {total} bytes; this head accepts at most {} (--max-upload)",
                app.max_upload
            ),
        ));
    }
    let body = Bytes::from(bytes);
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    let args: Vec<String> = match &q.args {
        Some(a) => serde_json::from_str(a)
            .map_err(|e| bad(format!("args must be a JSON array of strings: {e}")))?,
        None => Vec::new(),
    };
    let name = q.name.unwrap_or_else(|| "job".into());
    if name.is_empty() || name.contains('/') {
        return Err(bad(
            "the job name must be non-empty and contain no `/`".into()
        ));
    }
    let rt = app.runtime.clone();
    // Compiling can take a while: not on the HTTP threads' async path.
    let id = tokio::task::spawn_blocking(move || rt.submit_job(&name, &body, args))
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| bad(e.to_string()))?;
    Ok((
        StatusCode::CREATED,
        json(serde_json::json!({ "job_id": id })),
    )
        .into_response())
}

#[derive(Deserialize)]
struct TimelineQuery {
    job: Option<u64>,
}

async fn timeline(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<TimelineQuery>,
) -> Reply {
    authorize(&app, &headers)?;
    Ok(json(app.runtime.timeline(q.job)))
}

async fn list_jobs(State(app): State<Arc<App>>, headers: HeaderMap) -> Reply {
    authorize(&app, &headers)?;
    Ok(json(app.runtime.jobs()))
}

fn find_job(app: &App, id: u64) -> Result<JobInfo, (StatusCode, String)> {
    app.runtime
        .job(id)
        .ok_or((StatusCode::NOT_FOUND, format!("no job {id}")))
}

async fn get_job(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<u64>) -> Reply {
    authorize(&app, &headers)?;
    Ok(json(find_job(&app, id)?))
}

#[derive(Deserialize)]
struct LogQuery {
    offset: Option<usize>,
}

async fn job_logs(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Query(q): Query<LogQuery>,
) -> Reply {
    authorize(&app, &headers)?;
    let log = app
        .runtime
        .job_log(id, q.offset.unwrap_or(0))
        .ok_or((StatusCode::NOT_FOUND, format!("no job {id}")))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], log).into_response())
}

async fn stop_job(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<u64>) -> Reply {
    authorize(&app, &headers)?;
    find_job(&app, id)?;
    Ok(json(
        serde_json::json!({ "stopped": app.runtime.stop_job(id) }),
    ))
}

async fn shutdown(State(app): State<Arc<App>>, headers: HeaderMap) -> Reply {
    authorize(&app, &headers)?;
    let stopped: Vec<u64> = app
        .runtime
        .jobs()
        .into_iter()
        .filter(|j| j.status == JobStatus::Running)
        .map(|j| {
            app.runtime.stop_job(j.id);
            j.id
        })
        .collect();
    app.shutdown.notify_one();
    Ok(json(serde_json::json!({ "stopped_jobs": stopped })))
}

async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Reply {
    authorize(&app, &headers)?;
    let rt = &app.runtime;
    let s = rt.stats();
    let (total, available) = rt.resources();
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, kind: &str, samples: Vec<(String, f64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, v) in samples {
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
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

/// A client of a head.
pub struct Client {
    address: String,
    token: Option<String>,
}

impl Client {
    /// A client of the head at `address` (`http://host:port`).
    pub fn new(address: &str, token: Option<String>) -> Self {
        Client {
            address: address.trim_end_matches('/').to_string(),
            token,
        }
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
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
        let bytes = resp.body_mut().with_config().limit(1 << 30).read_to_vec()?;
        Ok((code, bytes))
    }

    fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> anyhow::Result<serde_json::Value> {
        let (code, bytes) = self.request(method, path, body)?;
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

    /// Submit a module as a job and follow it to the end, writing its log
    /// to stdout. Returns the job's exit status.
    pub fn submit_and_follow(
        &self,
        name: &str,
        module: &[u8],
        args: &[String],
        show_progress: bool,
    ) -> anyhow::Result<i32> {
        let q = format!(
            "/api/jobs?name={}&args={}",
            urlencode(name),
            urlencode(&serde_json::to_string(args)?)
        );
        let job = self.json("POST", &q, Some(module))?;
        let id = job["job_id"].as_u64().context("no job id in the answer")?;
        eprintln!("raylab: submitted job {id}");
        let mut offset = 0usize;
        let progress = Progress::new(show_progress);
        // Poll quickly at first (a short job's end shows within a few ms),
        // then back off while nothing changes, up to 100 ms.
        let mut pause = std::time::Duration::from_millis(2);
        loop {
            let info = self.json("GET", &format!("/api/jobs/{id}"), None)?;
            let (_, log) =
                self.request("GET", &format!("/api/jobs/{id}/logs?offset={offset}"), None)?;
            offset += log.len();
            pause = if log.is_empty() {
                (pause * 2).min(std::time::Duration::from_millis(100))
            } else {
                std::time::Duration::from_millis(2)
            };
            use std::io::Write;
            progress.suspend(|| -> std::io::Result<()> {
                std::io::stdout().write_all(&log)?;
                std::io::stdout().flush()
            })?;
            progress.update(
                info["tasks_done"].as_u64().unwrap_or(0),
                info["tasks_submitted"].as_u64().unwrap_or(0),
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

/// Tasks done / submitted of a followed job: a bar on a terminal, a line a
/// second otherwise.
struct Progress {
    enabled: bool,
    bar: Option<indicatif::ProgressBar>,
    last_line: std::cell::Cell<(std::time::Instant, u64, u64)>,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        use std::io::IsTerminal;
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {pos}/{len} tasks done {wide_bar}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            enabled,
            bar,
            last_line: std::cell::Cell::new((std::time::Instant::now(), 0, 0)),
        }
    }

    fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    fn update(&self, done: u64, submitted: u64) {
        if !self.enabled {
            return;
        }
        match &self.bar {
            Some(bar) => {
                bar.set_length(submitted);
                bar.set_position(done);
            }
            None => {
                let (at, d, s) = self.last_line.get();
                if submitted > 0
                    && (d, s) != (done, submitted)
                    && at.elapsed() >= std::time::Duration::from_secs(1)
                {
                    eprintln!("raylab: {done}/{submitted} tasks done");
                    self.last_line
                        .set((std::time::Instant::now(), done, submitted));
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
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
    out.push_str("resources (in use / total):\n");
    if let Some(total) = v["resources"]["total"].as_object() {
        for (name, t) in total {
            let t = t.as_f64().unwrap_or(0.0);
            let a = v["resources"]["available"][name].as_f64().unwrap_or(0.0);
            if name == "memory" {
                out.push_str(&format!(
                    "  {name}: {:.1} / {:.1} GiB\n",
                    (t - a) / 1073741824.0,
                    t / 1073741824.0
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
    out.push_str(&format!(
        "object store: {} objects, {} of {} bytes\n",
        o["objects"], o["bytes"], o["capacity"]
    ));
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

const DASHBOARD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>raylab dashboard</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em} table{border-collapse:collapse;margin:1em 0} td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}
.RUNNING{color:#b60}.SUCCEEDED{color:#080}.FAILED{color:#c00}.STOPPED{color:#666}.finished{color:#080}.failed{color:#c00}
.lane{position:relative;height:18px;border-bottom:1px solid #eee;width:800px}.slice{position:absolute;height:14px;top:2px;background:#58a;opacity:.8}
.slice.failed{background:#c44}.lanelabel{font-size:11px;color:#666}
</style></head><body>
<h1>raylab dashboard</h1>
<p id="version"></p>
<h2>Resources</h2><table id="resources"><tr><th>resource</th><th>in use</th><th>total</th></tr></table>
<h2>Tasks</h2><table id="tasks"></table>
<h2>Object store</h2><p id="objects"></p>
<h2>Jobs</h2><table id="jobs"><tr><th>id</th><th>name</th><th>status</th><th>exit</th></tr></table>
<h2>Recent tasks</h2><table id="recent"><tr><th>task</th><th>name</th><th>job</th><th>worker</th><th>state</th><th>ms</th></tr></table>
<h2>Timeline (last 10 s, one lane per worker)</h2><div id="timeline"></div>
<script>
const token = new URLSearchParams(location.search).get('token');
const opts = token ? {headers: {Authorization: 'Bearer ' + token}} : {};
function row(cells, cls) { const tr = document.createElement('tr'); for (const c of cells) { const td = document.createElement('td'); td.textContent = c; if (cls) td.className = cls; tr.appendChild(td); } return tr; }
function reset(id, header) { const t = document.getElementById(id); t.innerHTML = header; return t; }
async function refresh() {
  try {
    const s = await (await fetch('/api/status', opts)).json();
    document.getElementById('version').textContent = 'version ' + s.version;
    const r = reset('resources', '<tr><th>resource</th><th>in use</th><th>total</th></tr>');
    for (const [k, v] of Object.entries(s.resources.total)) r.appendChild(row([k, (v - (s.resources.available[k] || 0)).toString(), v.toString()]));
    const t = reset('tasks', '<tr><th>state</th><th>tasks</th></tr>');
    for (const [k, v] of Object.entries(s.tasks)) t.appendChild(row([k.replaceAll('_', ' '), v.toString()]));
    t.appendChild(row(['finished', s.tasks_finished.toString()]));
    t.appendChild(row(['failed', s.tasks_failed.toString()]));
    document.getElementById('objects').textContent = s.object_store.objects + ' objects, ' + s.object_store.bytes + ' of ' + s.object_store.capacity + ' bytes';
    const j = reset('jobs', '<tr><th>id</th><th>name</th><th>status</th><th>exit</th></tr>');
    for (const job of s.jobs) { const tr = row([job.id, job.name, job.status, job.exit_code ?? '']); tr.children[2].className = job.status; j.appendChild(tr); }
    const tl = await (await fetch('/api/timeline', opts)).json();
    const slices = tl.traceEvents.filter(e => e.ph === 'X');
    const rt = reset('recent', '<tr><th>task</th><th>name</th><th>job</th><th>worker</th><th>state</th><th>ms</th></tr>');
    for (const e of slices.slice(-20).reverse()) { const tr = row([e.args.task_id, e.name, e.args.job, e.tid, e.args.state, (e.dur / 1000).toFixed(1)]); tr.children[4].className = e.args.state; rt.appendChild(tr); }
    const end = Math.max(0, ...slices.map(e => e.ts + e.dur)), start = end - 10e6;
    const box = document.getElementById('timeline'); box.innerHTML = '';
    const lanes = [...new Set(slices.map(e => e.tid))].sort((a, b) => a - b);
    for (const lane of lanes) {
      const label = document.createElement('div'); label.className = 'lanelabel'; label.textContent = 'worker ' + lane; box.appendChild(label);
      const div = document.createElement('div'); div.className = 'lane';
      for (const e of slices.filter(x => x.tid === lane && x.ts + x.dur > start)) {
        const b = document.createElement('div'); b.className = 'slice ' + e.args.state; b.title = e.name + ' (task ' + e.args.task_id + ')';
        b.style.left = (Math.max(0, e.ts - start) / 10e6 * 800) + 'px'; b.style.width = Math.max(1, e.dur / 10e6 * 800) + 'px'; div.appendChild(b);
      }
      box.appendChild(div);
    }
  } catch (e) { document.getElementById('version').textContent = 'head unreachable: ' + e; }
}
refresh(); setInterval(refresh, 1000);
</script></body></html>
"#;
