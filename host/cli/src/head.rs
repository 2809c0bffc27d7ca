//! The head: a long-running node with an HTTP API and a dashboard (the
//! client side of `submit`, `status` and `stop` is `crate::client`; the
//! paths, queries and answers of the API are `crate::api`'s types).
//!
//! `raylab-host start` keeps one [`Runtime`] alive and serves, on
//! 127.0.0.1:8265 by default (Ray's dashboard port):
//!
//! | endpoint | what |
//! | --- | --- |
//! | `POST /api/jobs?name=N&args=JSON&timeout=S` (body: the module) | submit a job (time limit S seconds); `{"job_id": n}` |
//! | `GET /api/jobs`, `GET /api/jobs/{id}` | jobs and their status |
//! | `GET /api/jobs/{id}/logs?offset=N&wait_ms=W` | up to 1 MiB of the job's output from byte N (header `x-raylab-log-start`: where it starts, later than N if older output was dropped); with `wait_ms`, waits that long for new output while the job runs (a long poll) |
//! | `POST /api/jobs/{id}/stop` | stop a job |
//! | `GET /api/status` | version, resources, jobs, tasks by state, object store |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /api/timeline?job=N` | Chrome trace events (Perfetto, chrome://tracing) |
//! | `GET /api/tasks?job=N&name=S&state=S&limit=N` | the task table, newest first, with each task's sandbox figures |
//! | `GET /api/objects?job=N&limit=N` | the objects in this node's store, newest first |
//! | `GET /api/history` | the last 15 minutes, a sample a second, column by column (the charts) |
//! | `POST /api/shutdown` | stop running jobs and exit |
//! | `GET /` | the dashboard page (refreshes itself; `/uplot.js` and `/uplot.css`, the charting library it embeds, come from the binary too: it works offline) |
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

use raylab::{JobStatus, Runtime};

use crate::api;

mod history;
mod metrics;

/// The dashboard page.
const DASHBOARD: &str = include_str!("head/dashboard.html");

/// uPlot (MIT, vendor/uPlot.LICENSE), the charting library the page draws
/// with, served from the binary.
const UPLOT_JS: &str = include_str!("head/vendor/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("head/vendor/uPlot.min.css");

/// Settings of the head's server.
#[derive(Debug, Clone)]
pub struct HeadConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// What the first line calls it: `raylab head` or `raylab node`.
    pub role: &'static str,
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
    history: history::History,
}

type Reply = Result<Response, (StatusCode, String)>;

/// Equal, in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn unauthorized() -> (StatusCode, String) {
    (
        StatusCode::UNAUTHORIZED,
        "missing or wrong token (Authorization: Bearer <token>)".into(),
    )
}

fn authorize(app: &App, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
    let Some(token) = &app.token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if same_secret(g, token) => Ok(()),
        _ => Err(unauthorized()),
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn json(value: impl serde::Serialize) -> Response {
    axum::Json(value).into_response()
}

/// How long requests in flight may take once the head is asked to stop.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Longest an upload may go without sending a byte.
const UPLOAD_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// Serve until `POST /api/shutdown`. Prints the address it listens on,
/// then the lines `on_listening` returns (it runs once the address is
/// known, on the calling thread: a node joins its cluster there).
pub fn serve(
    runtime: Arc<Runtime>,
    cfg: HeadConfig,
    on_listening: impl FnOnce(SocketAddr) -> anyhow::Result<Vec<String>>,
) -> anyhow::Result<()> {
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
        history: history::History::default(),
    });
    let listener = std::net::TcpListener::bind(cfg.addr)
        .with_context(|| format!("cannot listen on {}", cfg.addr))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    {
        // Whoever started the head may have stopped reading its output:
        // a closed stdout must not take the head down.
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{} listening on http://{addr}", cfg.role);
        let _ = writeln!(out, "dashboard: http://{addr}/");
        let _ = out.flush();
        for line in on_listening(addr)? {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }
    http.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let router = Router::new()
            .route("/", get(dashboard))
            .route(api::VERSION, get(version))
            .route(api::STATUS, get(status))
            .route(api::JOBS, post(submit_job).get(list_jobs))
            .route(api::JOB, get(get_job))
            .route(api::JOB_LOGS, get(job_logs))
            .route(api::JOB_STOP, post(stop_job))
            .route(api::SHUTDOWN, post(shutdown))
            .route(api::METRICS, get(metrics))
            .route(api::TIMELINE, get(timeline))
            .route(api::TASKS, get(list_tasks))
            .route(api::OBJECTS, get(list_objects))
            .route(api::HISTORY, get(get_history))
            .route("/uplot.js", get(uplot_js))
            .route("/uplot.css", get(uplot_css))
            // Uploads are counted in `submit_job`, which reads an oversized
            // one to its end before answering 413: a server that hangs up
            // mid-upload leaves the client with a broken pipe, not a reason.
            .layer(DefaultBodyLimit::disable())
            .with_state(app.clone());
        // On shutdown, requests in flight get a moment to finish; a client
        // that never finishes its upload (or reads slowly) does not hold the
        // head up: after the grace, its connection is dropped.
        // The charts' history: a look every 100 ms, on these threads.
        let sampler = Arc::downgrade(&app);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(history::EVERY);
            loop {
                every.tick().await;
                let Some(app) = sampler.upgrade() else { break };
                app.history.look(&app.runtime);
            }
        });
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let app2 = app.clone();
        tokio::spawn(async move {
            app2.shutdown.notified().await;
            let _ = stop_tx.send(true);
        });
        let mut graceful = stop_rx.clone();
        let server = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = graceful.wait_for(|stop| *stop).await;
        });
        let mut grace = stop_rx;
        tokio::select! {
            r = server => r?,
            _ = async {
                let _ = grace.wait_for(|stop| *stop).await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {}
        }
        anyhow::Ok(())
    })?;
    // Connection tasks still open are dropped with the HTTP runtime.
    http.shutdown_timeout(SHUTDOWN_GRACE);
    node.shutdown_gpus();
    drop(node);
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "raylab head stopped");
    Ok(())
}

/// The page may also be opened as `/?token=...` (a browser cannot send a
/// header when a person types the address); its own requests then carry
/// the token as a header.
async fn dashboard(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Reply {
    let by_query = matches!((&app.token, &q.token), (Some(t), Some(g)) if same_secret(g, t));
    if !by_query {
        authorize(&app, &headers)?;
    }
    Ok(Html(DASHBOARD).into_response())
}

/// A static part of the page (public, as the page itself is without a
/// token on loopback; it holds no data).
fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

async fn uplot_js() -> Response {
    asset("text/javascript; charset=utf-8", UPLOT_JS)
}

async fn uplot_css() -> Response {
    asset("text/css; charset=utf-8", UPLOT_CSS)
}

async fn list_tasks(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<api::TaskQuery>,
) -> Reply {
    authorize(&app, &headers)?;
    let rows: Vec<api::TaskRow> = app.runtime.list_tasks(&q.into());
    Ok(json(rows))
}

async fn list_objects(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<api::ObjectsQuery>,
) -> Reply {
    authorize(&app, &headers)?;
    let objects: Vec<api::Object> = app
        .runtime
        .list_objects(q.job, q.limit.unwrap_or(1000))
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(json(objects))
}

async fn get_history(State(app): State<Arc<App>>, headers: HeaderMap) -> Reply {
    authorize(&app, &headers)?;
    Ok(json(app.history.columns()))
}

async fn version(State(app): State<Arc<App>>, headers: HeaderMap) -> Reply {
    authorize(&app, &headers)?;
    Ok(json(api::Version {
        version: env!("CARGO_PKG_VERSION").into(),
    }))
}

/// Every item of `items`, as the API has it.
fn all<T: Into<U>, U>(items: Vec<T>) -> Vec<U> {
    items.into_iter().map(Into::into).collect()
}

fn status_of(rt: &Runtime) -> api::Status {
    let stats = rt.stats();
    let (total, available) = rt.resources();
    let jobs = rt.jobs();
    let running = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Running)
        .count();
    api::Status {
        version: env!("CARGO_PKG_VERSION").into(),
        resources: api::Resources {
            total: total.into_iter().collect(),
            available: available.into_iter().collect(),
        },
        gpu_devices: all(rt.gpu_devices()),
        pending_demand: rt.pending_demand().into_iter().collect(),
        tasks: stats.tasks.into(),
        tasks_submitted: stats.submitted,
        tasks_finished: stats.finished,
        tasks_failed: stats.failed,
        object_store: stats.objects.into(),
        jobs_running: running,
        jobs: all(jobs),
        actors: all(rt.actors()),
        nodes: all(rt.nodes()),
        tasks_moved: rt.tasks_moved(),
        objects_rebuilt: rt.objects_rebuilt(),
        waiting_for_nodes: rt
            .tasks_waiting_for_node()
            .into_iter()
            .map(|(task, why)| api::WaitingTask { task, why })
            .collect(),
    }
}

async fn status(State(app): State<Arc<App>>, headers: HeaderMap) -> Reply {
    authorize(&app, &headers)?;
    Ok(json(status_of(&app.runtime)))
}

async fn submit_job(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<api::SubmitQuery>,
    body: axum::body::Body,
) -> Reply {
    authorize(&app, &headers)?;
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    let mut total = 0usize;
    loop {
        let next = tokio::time::timeout(UPLOAD_IDLE, stream.next())
            .await
            .map_err(|_| {
                (
                    StatusCode::REQUEST_TIMEOUT,
                    format!("the upload sent nothing for {} s", UPLOAD_IDLE.as_secs()),
                )
            })?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| (StatusCode::BAD_REQUEST, format!("upload failed: {e}")))?;
        total += chunk.len();
        if total <= app.max_upload {
            bytes.extend_from_slice(&chunk);
        }
    }
    // (After the upload is read: a head that answers mid-upload leaves
    // the client with a broken pipe, not the reason.)
    // While no head is active (the active one died, or this one cannot
    // write its lease for a moment), wait a little for one.
    let deadline = tokio::time::Instant::now() + 2 * raylab::HEAD_LEASE;
    while app.runtime.head_role() == Some(raylab::HeadRole::Standby(None))
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // A standby head runs no jobs: it says where the active one is.
    if let Some(raylab::HeadRole::Standby(active)) = app.runtime.head_role() {
        let there = active
            .and_then(|a| a.http.map(|h| format!(" at {h} ({})", a.name)))
            .unwrap_or_else(|| " (none right now: one takes over within seconds)".into());
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            format!("this head is a standby: submit to the cluster's active head{there}"),
        ));
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
    let args = q.args().map_err(bad)?;
    let name = q.name.unwrap_or_else(|| "job".into());
    if name.is_empty() || name.contains('/') {
        return Err(bad(
            "the job name must be non-empty and contain no `/`".into()
        ));
    }
    let rt = app.runtime.clone();
    // Compiling can take a while: not on the HTTP threads' async path.
    let timeout = match q.timeout {
        None => None,
        Some(t) if t.is_finite() && t > 0.0 && t < 1e9 => {
            Some(std::time::Duration::from_secs_f64(t))
        }
        Some(t) => {
            return Err(bad(format!(
                "timeout must be a positive number of seconds, got {t}"
            )));
        }
    };
    let id = tokio::task::spawn_blocking(move || rt.submit_job(&name, &body, args, timeout))
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| bad(e.to_string()))?;
    Ok((StatusCode::CREATED, json(api::Submitted { job_id: id })).into_response())
}

/// The trace is Chrome's trace event format, passed on as the runtime
/// writes it (see [`api::Trace`]).
async fn timeline(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<api::TimelineQuery>,
) -> Reply {
    authorize(&app, &headers)?;
    Ok(json(app.runtime.cluster_timeline(q.job).await))
}

async fn list_jobs(State(app): State<Arc<App>>, headers: HeaderMap) -> Reply {
    authorize(&app, &headers)?;
    let jobs: Vec<api::Job> = all(app.runtime.cluster_jobs().await);
    Ok(json(jobs))
}

/// Job `id` as this head knows it, or as the cluster's job table says
/// (a head that keeps jobs in the cluster answers for every head's jobs).
async fn find_job(app: &App, id: api::JobId) -> Result<raylab::JobInfo, (StatusCode, String)> {
    if app.runtime.job_went_elsewhere(id).await {
        // A client of several heads asks the next one.
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            format!("job {id} went on at the cluster's active head: ask it"),
        ));
    }
    app.runtime
        .cluster_job(id)
        .await
        .ok_or((StatusCode::NOT_FOUND, format!("no job {id}")))
}

async fn get_job(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<api::JobId>,
) -> Reply {
    authorize(&app, &headers)?;
    Ok(json(api::Job::from(find_job(&app, id).await?)))
}

/// The longest a log request waits for new output.
const LOG_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(30);

/// Most bytes of a log one request returns (a reader follows with the next
/// offset): a slow reader costs the head at most this much at a time.
const LOG_CHUNK: usize = 1 << 20;

pub use api::LOG_START_HEADER;

async fn job_logs(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<api::JobId>,
    Query(q): Query<api::LogQuery>,
) -> Reply {
    authorize(&app, &headers)?;
    let offset = q.offset.unwrap_or(0);
    find_job(&app, id).await?;
    let read = || async {
        app.runtime
            .cluster_job_log(id, offset, LOG_CHUNK)
            .await
            .ok_or((StatusCode::NOT_FOUND, format!("no job {id}")))
    };
    let mut log = read().await?;
    let wait = std::time::Duration::from_millis(q.wait_ms.unwrap_or(0)).min(LOG_WAIT_MAX);
    let until = tokio::time::Instant::now() + wait;
    while log.bytes.is_empty()
        && tokio::time::Instant::now() < until
        && find_job(&app, id).await?.status == JobStatus::Running
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        log = read().await?;
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::HeaderName::from_static(LOG_START_HEADER),
                log.start.to_string(),
            ),
        ],
        log.bytes,
    )
        .into_response())
}

async fn stop_job(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<api::JobId>,
) -> Reply {
    authorize(&app, &headers)?;
    if app.runtime.job(id).is_none() {
        find_job(&app, id).await?;
        // A client of several heads asks the next.
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            format!("job {id} runs at another head: stop it at the cluster's active head"),
        ));
    }
    Ok(json(api::Stopped {
        stopped: app.runtime.stop_job(id),
    }))
}

async fn shutdown(State(app): State<Arc<App>>, headers: HeaderMap) -> Reply {
    authorize(&app, &headers)?;
    let stopped: Vec<api::JobId> = app
        .runtime
        .jobs()
        .into_iter()
        // Parts of other nodes' jobs finish: leaving the cluster waits.
        .filter(|j| j.status == JobStatus::Running && j.origin.is_none())
        .map(|j| {
            app.runtime.stop_job(j.id);
            j.id
        })
        .collect();
    app.shutdown.notify_one();
    Ok(json(api::Shutdown {
        stopped_jobs: stopped,
    }))
}

async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Reply {
    authorize(&app, &headers)?;
    let text = metrics::render(&app.runtime);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
