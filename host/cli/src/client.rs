//! The client of a head: what `submit`, `status`, `stop` and Ray's state
//! commands (`list`, `logs`, `timeline`, `summary`) do over its HTTP API
//! (the requests and answers are [`api`]'s types), and their
//! human-readable output (`format`).

use anyhow::{Context, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{self, JobStatus};
use crate::progress::Progress;

mod format;

pub use format::{
    TaskSummary, format_actors, format_jobs, format_nodes, format_objects, format_status,
    format_summary, format_tasks, summarize_tasks,
};

/// A client of a head, or of a cluster's heads.
pub struct Client {
    /// The heads' addresses (`http://host:port`).
    addresses: Vec<String>,
    /// The one asked now.
    at: std::sync::atomic::AtomicUsize,
    token: Option<String>,
}

/// How long a client of several heads keeps trying them while none
/// answers as the active head (one takes over within seconds of the last
/// one's death).
const FAILOVER_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a client of several heads waits for one head's answer to a
/// `GET` before it asks the next.
const GET_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why one request to one head got no answer.
enum Unanswered {
    /// No head there (nothing listens, or the connection broke).
    Gone(anyhow::Error),
    /// Any other failure.
    Failed(anyhow::Error),
}

impl Client {
    /// A client of the head at `address`: `http://host:port`, or
    /// `host:port` as Ray writes it; or of the heads at a comma-separated
    /// list of such addresses: a request that finds no head at one, or a
    /// standby (503), goes to the next, for up to 30 s.
    pub fn new(address: &str, token: Option<String>) -> Self {
        let addresses = address
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| {
                let a = a.trim_end_matches('/');
                if a.contains("://") {
                    a.to_string()
                } else {
                    format!("http://{a}")
                }
            })
            .collect();
        Client {
            addresses,
            at: std::sync::atomic::AtomicUsize::new(0),
            token,
        }
    }

    /// The address asked now.
    fn address(&self) -> &str {
        let at = self.at.load(std::sync::atomic::Ordering::Relaxed);
        self.addresses
            .get(at)
            .map_or("http://127.0.0.1:8265", String::as_str)
    }

    /// `method path` at the head asked now; with several heads, a request
    /// that finds no head there, or a standby (503), goes to the next
    /// (for up to [`FAILOVER_WAIT`]), and the one that answers is asked
    /// from then on.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> anyhow::Result<(u16, Vec<u8>, Option<u64>)> {
        let several = self.addresses.len() > 1;
        let deadline = std::time::Instant::now() + FAILOVER_WAIT;
        loop {
            let answer = self.request_at(self.address(), method, path, body);
            let retry = match &answer {
                Ok((503, ..)) | Err(Unanswered::Gone(_)) => {
                    several && std::time::Instant::now() < deadline
                }
                _ => false,
            };
            if !retry {
                return answer.map_err(|(Unanswered::Gone(e) | Unanswered::Failed(e))| e);
            }
            let next =
                (self.at.load(std::sync::atomic::Ordering::Relaxed) + 1) % self.addresses.len();
            self.at.store(next, std::sync::atomic::Ordering::Relaxed);
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    fn request_at(
        &self,
        address: &str,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, Vec<u8>, Option<u64>), Unanswered> {
        let url = format!("{address}{path}");
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let result = match (method, body) {
            ("GET", _) => {
                // A head that stopped (SIGSTOP, a machine that hangs)
                // answers nothing: a client of several heads asks the next.
                // (Not for POSTs: a submit's answer waits for the module to
                // compile, and must not be sent twice.)
                let wait = (self.addresses.len() > 1).then_some(GET_WAIT);
                let mut r = ureq::get(&url)
                    .config()
                    .http_status_as_error(false)
                    .timeout_recv_response(wait)
                    .build();
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
            ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Timeout(_) => Unanswered::Gone(anyhow::anyhow!(
                "no raylab head at {address} ({e}); start one with `raylab-host start`"
            )),
            other => Unanswered::Failed(anyhow::anyhow!("request to {url} failed: {other}")),
        })?;
        let code = resp.status().as_u16();
        let log_start = resp
            .headers()
            .get(api::LOG_START_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .map_err(|e| {
                Unanswered::Gone(anyhow::anyhow!("reading the answer of {address}: {e}"))
            })?;
        Ok((code, bytes, log_start))
    }

    /// The body of a 2xx answer to `method path`; any other answer is an
    /// error with the head's reason.
    fn body(&self, method: &str, path: &str, body: Option<&[u8]>) -> anyhow::Result<Vec<u8>> {
        let (code, bytes, _) = self.request(method, path, body)?;
        if !(200..300).contains(&code) {
            bail!(
                "the head answered {code}: {}",
                String::from_utf8_lossy(&bytes).trim()
            );
        }
        Ok(bytes)
    }

    /// The answer to `method path`, read as `T` (see [`api`]).
    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> anyhow::Result<T> {
        let bytes = self.body(method, path, body)?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("unexpected answer from the head to {method} {path}"))
    }

    /// The answer to `GET path` as it came, for `--json`: printed as it is
    /// (free-form on purpose: a field this client does not know is kept).
    pub fn raw(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_slice(&self.body("GET", path, None)?)?)
    }

    /// `GET /api/status`.
    pub fn status(&self) -> anyhow::Result<api::Status> {
        self.call("GET", api::STATUS, None)
    }

    /// `POST /api/shutdown`.
    pub fn shutdown(&self) -> anyhow::Result<api::Shutdown> {
        self.call("POST", api::SHUTDOWN, None)
    }

    /// `GET /api/jobs`.
    pub fn jobs(&self) -> anyhow::Result<Vec<api::Job>> {
        self.call("GET", api::JOBS, None)
    }

    /// `GET /api/jobs/{id}`.
    pub fn job(&self, id: api::JobId) -> anyhow::Result<api::Job> {
        self.call("GET", &api::job(id), None)
    }

    /// `GET /api/tasks`: the task table.
    pub fn tasks(&self, query: &api::TaskQuery) -> anyhow::Result<Vec<api::TaskRow>> {
        self.call("GET", &api::with_query(api::TASKS, query), None)
    }

    /// `GET /api/objects`.
    pub fn objects(&self, query: &api::ObjectsQuery) -> anyhow::Result<Vec<api::Object>> {
        self.call("GET", &api::with_query(api::OBJECTS, query), None)
    }

    /// `GET /api/timeline[?job=N]`: the cluster's task timeline, a Chrome
    /// trace.
    pub fn timeline(&self, job: Option<api::JobId>) -> anyhow::Result<api::Trace> {
        self.call(
            "GET",
            &api::with_query(api::TIMELINE, &api::TimelineQuery { job }),
            None,
        )
    }

    /// Print job `id`'s log so far to stdout; with `follow`, keep printing
    /// until the job ends and return its exit status.
    pub fn logs(&self, id: api::JobId, follow: bool) -> anyhow::Result<i32> {
        if follow {
            return self.follow(id, false);
        }
        self.job(id)?;
        let mut offset = 0;
        loop {
            let (_, log, start) = self.request("GET", &log_path(id, offset), None)?;
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
        let path = api::with_query(api::JOBS, &api::SubmitQuery::new(name, args, timeout));
        let job: api::Submitted = self.call("POST", &path, Some(module))?;
        let id = job.job_id;
        eprintln!("raylab: submitted job {id}");
        self.follow(id, show_progress)
    }

    /// Follow job `id` to its end, writing its log to stdout; its exit
    /// status.
    fn follow(&self, id: api::JobId, show_progress: bool) -> anyhow::Result<i32> {
        let mut offset = 0u64;
        let progress = Progress::new(show_progress);
        // Poll quickly at first (a short job's end shows within a few ms),
        // then back off while nothing changes, up to 100 ms.
        let mut pause = std::time::Duration::from_millis(2);
        loop {
            // The status first, then the whole log up to now: whatever the
            // job printed before it ended is shown before its end.
            let info = self.job(id)?;
            let mut printed = false;
            loop {
                let (_, log, start) = self.request("GET", &log_path(id, offset), None)?;
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
            progress.update(info.tasks_done, info.tasks_submitted, "");
            if info.status != JobStatus::Running {
                progress.finish();
            }
            match info.status {
                JobStatus::Running => std::thread::sleep(pause),
                JobStatus::Succeeded => return Ok(0),
                status => {
                    if let Some(e) = &info.error {
                        eprintln!("error: job {id}: {e}");
                    } else {
                        eprintln!("raylab: job {id} {}", status.name());
                    }
                    return Ok(info.exit_code.map_or(1, |c| if c == 0 { 1 } else { c }));
                }
            }
        }
    }
}

/// The log of job `id` from byte `offset`.
fn log_path(id: api::JobId, offset: u64) -> String {
    api::with_query(
        &api::job_logs(id),
        &api::LogQuery {
            offset: Some(offset),
            wait_ms: None,
        },
    )
}

/// `value` as `--json` prints it: pretty, each object's keys in order.
pub fn to_json_text<T: Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&serde_json::to_value(value)?)?)
}
