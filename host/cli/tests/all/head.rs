//! The head: jobs over HTTP, status, metrics, isolation between jobs.
//!
//! Longer than ~600 lines by choice: one test per behaviour of the head,
//! sharing the `Head` harness at the top.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raylab::{Config, ConfigBuilder, JobStatus, Runtime};
use raylab_host::client::Client;

use crate::{fails_with, guests, raylab, show, test_cache, wait_until};

/// A head on a free port, stopped when dropped.
pub(crate) struct Head {
    pub(crate) child: Child,
    pub(crate) address: String,
    /// Kept open so that the head's later output has a reader.
    _stdout: BufReader<std::process::ChildStdout>,
    /// Its stderr (logs, a panic): printed when a test fails.
    log: tempfile::NamedTempFile,
}

impl Head {
    pub(crate) fn start() -> Head {
        Head::start_with(&[])
    }

    pub(crate) fn start_with(extra: &[&str]) -> Head {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_raylab-host"))
            .args([
                "start",
                "--port",
                "0",
                "--nats-port",
                "0",
                "--num-cpus",
                "2",
            ])
            .args(extra)
            .env("RAYLAB_CACHE_DIR", test_cache())
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let address = line
            .trim()
            .strip_prefix("raylab head listening on ")
            .or_else(|| line.trim().strip_prefix("raylab node listening on "))
            .expect("address line")
            .to_string();
        Head {
            child,
            address,
            _stdout: stdout,
            log,
        }
    }
}

impl Drop for Head {
    fn drop(&mut self) {
        let exited = self.child.try_wait().ok().flatten();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "the head ({}) logged, last lines:\n{}",
                exited.map_or("still running".to_string(), |s| format!("exited: {s}")),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

#[test]
fn status_without_a_head_fails_clearly() {
    fails_with(
        &["status", "--address", "http://127.0.0.1:9"],
        "no raylab head at http://127.0.0.1:9",
    );
}

#[test]
fn jobs_run_on_the_head_and_status_reports_them() {
    let head = Head::start();
    let a = head.address.as_str();
    let out = raylab(&[
        "submit",
        "--address",
        a,
        guests::TASK1,
        "--",
        "--n",
        "4",
        "--work-ms",
        "20",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("results equal: yes"),
        "{}",
        show(&out)
    );
    let out = raylab(&["submit", "--address", a, guests::DRIVER_PANIC]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("crashed"),
        "{}",
        show(&out)
    );

    let out = raylab(&["status", "--address", a, "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["resources"]["total"]["CPU"], 2.0, "{s}");
    let statuses: Vec<&str> = s["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["SUCCEEDED", "FAILED"], "{s}");
    assert_eq!(s["tasks_finished"], 8, "{s}");
    assert!(s["pending_demand"].is_object(), "{s}");
    // The GPU adapters the head uses, software ones marked as such.
    let devices = s["gpu_devices"].as_array().expect("gpu_devices");
    assert!(devices.iter().all(|d| d["software"].is_boolean()), "{s}");
    assert_eq!(
        (
            s["jobs"][0]["tasks_submitted"].as_u64(),
            s["jobs"][0]["tasks_done"].as_u64()
        ),
        (Some(8), Some(8)),
        "{s}"
    );
    let human = raylab(&["status", "--address", a]);
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("jobs: 2 (0 running)"),
        "{}",
        show(&human)
    );

    // Prometheus metrics.
    let metrics = ureq::get(&format!("{a}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    for m in [
        "raylab_tasks{node=\"head\",state=\"running\"} 0",
        "raylab_tasks_total{node=\"head\",outcome=\"finished\"} 8",
        "raylab_jobs{node=\"head\",status=\"FAILED\"} 1",
        "raylab_resources_total{node=\"head\",resource=\"CPU\"} 2",
        "raylab_object_store_objects{node=\"head\"} 0",
        "raylab_cluster_nodes{node=\"head\",state=\"alive\"} 1",
    ] {
        assert!(metrics.contains(m), "{m} in:\n{metrics}");
    }
    // The timeline of the first job.
    let trace: serde_json::Value = serde_json::from_str(
        &ureq::get(&format!("{a}/api/timeline?job=1"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    let slices = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .count();
    assert_eq!(slices, 8, "{trace}");
    // The dashboard page.
    let page = ureq::get(&format!("{a}/"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        page.contains("raylab dashboard") && page.contains("/api/status"),
        "{page}"
    );

    // A non-component upload is a 400 with the reason.
    let f = tempfile::Builder::new().suffix(".wasm").tempfile().unwrap();
    std::fs::write(f.path(), b"not wasm").unwrap();
    let out = raylab(&["submit", "--address", a, f.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("400") && stderr.contains("not a WebAssembly file"),
        "{}",
        show(&out)
    );

    let out = raylab(&["stop", "--address", a]);
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
fn status_requests_do_not_disturb_a_running_job() {
    let head = Head::start();
    let a = head.address.clone();
    let job = std::thread::spawn({
        let a = a.clone();
        move || {
            raylab(&[
                "submit",
                "--address",
                &a,
                guests::TASK1,
                "--",
                "--n",
                "6",
                "--work-ms",
                "100",
            ])
        }
    });
    let pollers: Vec<_> = (0..100)
        .map(|_| {
            let c = Client::new(&a, None);
            std::thread::spawn(move || c.status().map(|s| !s.version.is_empty()))
        })
        .collect();
    for p in pollers {
        assert!(p.join().unwrap().unwrap());
    }
    let out = job.join().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("results equal: yes"));
}

/// An in-process node for the library-level tests: 2 CPUs, the shared
/// compile cache.
fn node_config() -> ConfigBuilder {
    Config::builder()
        .cache_dir(Some(test_cache()))
        .num_cpus(2.0)
}

#[test]
fn jobs_cannot_see_each_others_objects_and_stop_spares_other_jobs() {
    let rt = Arc::new(Runtime::new(node_config().build()).unwrap());
    let bytes = std::fs::read(guests::PEEK).unwrap();
    let log = |id| String::from_utf8(rt.job_log(id, 0, usize::MAX).unwrap().bytes).unwrap();

    let holder = rt
        .submit_job("peek", &bytes, vec!["hold".into()], None)
        .unwrap();
    wait_until("log(holder).contains(\"id=\")", || {
        log(holder).contains("id=")
    });
    let object: String = log(holder)
        .lines()
        .find_map(|l| l.strip_prefix("id="))
        .unwrap()
        .to_string();
    let peeker = rt
        .submit_job("peek", &bytes, vec!["peek".into(), object], None)
        .unwrap();
    wait_until(
        "rt.job(peeker).unwrap().status != JobStatus::Running",
        || rt.job(peeker).unwrap().status != JobStatus::Running,
    );
    assert_eq!(log(peeker), "peek: unknown-object: refused\n");

    // Stopping one job leaves the others' results alone.
    let forever = rt
        .submit_job("peek", &bytes, vec!["forever".into()], None)
        .unwrap();
    wait_until(
        "rt.job(holder).unwrap().status != JobStatus::Running",
        || rt.job(holder).unwrap().status != JobStatus::Running,
    );
    assert!(rt.stop_job(forever));
    wait_until(
        "rt.job(forever).unwrap().status == JobStatus::Stopped",
        || rt.job(forever).unwrap().status == JobStatus::Stopped,
    );
    assert_eq!(rt.job(holder).unwrap().status, JobStatus::Succeeded);
    assert!(log(holder).contains("still mine: 42"), "{}", log(holder));
    assert_eq!(rt.job(peeker).unwrap().status, JobStatus::Succeeded);
}

#[test]
fn start_detach_returns_once_the_head_listens() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("head.log");
    let log_arg = log.to_str().unwrap();
    let out = raylab(&[
        "start",
        "--detach",
        "--port",
        "0",
        "--nats-port",
        "0",
        "--num-cpus",
        "1",
        "--log-file",
        log_arg,
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let address = crate::field(&stdout, "address:").to_string();
    assert!(address.starts_with("http://127.0.0.1:"), "{stdout}");

    // The head outlived the command that started it: it answers and runs jobs.
    let status = raylab(&["status", "--address", &address]);
    assert!(status.status.success(), "{}", show(&status));
    let job = raylab(&["submit", "--quiet", "--address", &address, guests::SMOKE]);
    assert!(job.status.success(), "{}", show(&job));
    assert_eq!(String::from_utf8_lossy(&job.stdout), "sum=5\n");
    let stop = raylab(&["stop", "--address", &address]);
    assert!(stop.status.success(), "{}", show(&stop));
    wait_until(
        "!raylab(&[\"status\", \"--address\", &address]).status.success()",
        || !raylab(&["status", "--address", &address]).status.success(),
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("raylab head listening on"), "{text}");

    // A head that cannot start: the error and its log, and a failure.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = raylab(&[
        "start",
        "--detach",
        "--port",
        &port,
        "--nats-port",
        "0",
        "--log-file",
        log_arg,
    ]);
    assert!(!out.status.success(), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    assert!(stderr.contains("exited before it was ready"), "{stderr}");
}

#[test]
fn a_jobs_tasks_end_with_its_driver_and_old_jobs_are_forgotten() {
    let config = node_config().keep_finished_jobs(2).build();
    let rt = Arc::new(Runtime::new(config).unwrap());
    let bytes = std::fs::read(guests::PEEK).unwrap();

    // The driver leaves a task spinning for ever and exits: the task is
    // cancelled and the job's module unloaded.
    let orphan = rt
        .submit_job("peek", &bytes, vec!["orphan".into()], None)
        .unwrap();
    wait_until(
        "rt.job(orphan).unwrap().status != JobStatus::Running",
        || rt.job(orphan).unwrap().status != JobStatus::Running,
    );
    assert_eq!(rt.job(orphan).unwrap().status, JobStatus::Succeeded);
    assert!(rt.wait_idle(Duration::from_secs(10)), "{:?}", rt.stats());
    assert!(!rt.is_loaded(&format!("peek-{orphan}")));
    assert_eq!(rt.stats().objects.objects, 0, "{:?}", rt.stats());

    // Only the last two finished jobs are remembered.
    let mut ids = vec![orphan];
    for _ in 0..3 {
        let id = rt
            .submit_job("peek", &bytes, vec!["hold".into()], None)
            .unwrap();
        wait_until("rt.job(id).unwrap().status != JobStatus::Running", || {
            rt.job(id).unwrap().status != JobStatus::Running
        });
        ids.push(id);
    }
    let known: Vec<raylab::JobId> = rt.jobs().iter().map(|j| j.id).collect();
    assert_eq!(known, ids[2..].to_vec());
    assert!(rt.job(ids[0]).is_none() && rt.job_log(ids[1], 0, 1).is_none());
}

#[test]
fn token_and_upload_limit_are_enforced() {
    let head = Head::start_with(&["--token", "s3cret", "--max-upload", "1K"]);
    let a = head.address.as_str();
    let out = raylab(&["status", "--address", a]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        show(&out)
    );
    let out = raylab(&["status", "--address", a, "--token", "s3cret"]);
    assert!(out.status.success(), "{}", show(&out));
    let out = raylab(&["submit", "--address", a, "--token", "s3cret", guests::SMOKE]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("413"),
        "over --max-upload: {}",
        show(&out)
    );
    // The dashboard may be opened with ?token= (a browser cannot send the
    // header); every API answer needs the token, the version too.
    let code = |url: &str| match ureq::get(url).call() {
        Ok(r) => r.status().as_u16(),
        Err(ureq::Error::StatusCode(c)) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(code(&format!("{a}/?token=s3cret")), 200);
    assert_eq!(code(&format!("{a}/?token=wrong")), 401);
    assert_eq!(code(&format!("{a}/api/version")), 401);
    assert_eq!(
        code(&format!("{a}/api/status?token=s3cret")),
        401,
        "headers only for the API"
    );
    // Off loopback, a token is mandatory.
    fails_with(
        &["start", "--host", "0.0.0.0", "--port", "0"],
        "requires --token",
    );
}

#[test]
fn a_fork_bomb_in_one_job_leaves_room_for_the_others() {
    let config = node_config()
        .max_pending_tasks(200)
        .job_object_store_memory(Some(64 << 20))
        .build();
    let rt = Arc::new(Runtime::new(config).unwrap());
    let bomb = rt
        .submit_job(
            "hostile",
            &std::fs::read(guests::HOSTILE).unwrap(),
            vec!["fork".into()],
            None,
        )
        .unwrap();
    let task1 = std::fs::read(guests::TASK1).unwrap();
    let good = rt
        .submit_job(
            "task1",
            &task1,
            vec!["--n".into(), "20".into(), "--work-ms".into(), "5".into()],
            None,
        )
        .unwrap();
    wait_until("both jobs ended", || {
        [bomb, good]
            .iter()
            .all(|j| rt.job(*j).unwrap().status != JobStatus::Running)
    });
    let log = |id| String::from_utf8(rt.job_log(id, 0, usize::MAX).unwrap().bytes).unwrap();
    assert_eq!(
        rt.job(good).unwrap().status,
        JobStatus::Succeeded,
        "{}",
        log(good)
    );
    assert!(log(good).contains("results equal: yes"));
    // The bomb was stopped by its own job's limit, and its driver saw it.
    assert_eq!(
        rt.job(bomb).unwrap().status,
        JobStatus::Succeeded,
        "{}",
        log(bomb)
    );
    assert!(
        log(bomb).contains("200 tasks of this job are already pending"),
        "{}",
        log(bomb)
    );
}

/// A job's log as text.
fn log_of(rt: &Runtime, id: raylab::JobId) -> String {
    String::from_utf8_lossy(&rt.job_log(id, 0, usize::MAX).unwrap().bytes).into_owned()
}

/// Run job `args` of the peek module on `rt` to its end; its log.
fn run_job(rt: &Arc<Runtime>, args: &[&str]) -> String {
    let bytes = std::fs::read(guests::PEEK).unwrap();
    let args = args.iter().map(|a| a.to_string()).collect();
    let id = rt.submit_job("peek", &bytes, args, None).unwrap();
    wait_until("rt.job(id).unwrap().status != JobStatus::Running", || {
        rt.job(id).unwrap().status != JobStatus::Running
    });
    assert_eq!(
        rt.job(id).unwrap().status,
        JobStatus::Succeeded,
        "{}",
        log_of(rt, id)
    );
    log_of(rt, id)
}

#[test]
fn a_job_cannot_plant_another_jobs_objects_or_call_its_modules() {
    let rt = Arc::new(Runtime::new(node_config().build()).unwrap());
    let bytes = std::fs::read(guests::PEEK).unwrap();
    let holder = rt
        .submit_job("peek", &bytes, vec!["hold".into()], None)
        .unwrap();
    wait_until("log_of(&rt, holder).contains(\"id=\")", || {
        log_of(&rt, holder).contains("id=")
    });
    let object = log_of(&rt, holder)
        .lines()
        .find_map(|l| l.strip_prefix("id="))
        .unwrap()
        .to_string();
    // A task result that names the other job's object fails the task.
    let planted = run_job(&rt, &["plant", &object]);
    assert!(
        planted
            .starts_with("plant: invalid-argument: task `plant`: returned a reference to object"),
        "{planted}"
    );
    // The holder's module is not there for the other job, and the error
    // lists only the caller's own modules.
    let called = run_job(&rt, &["call", &format!("peek-{holder}")]);
    assert!(
        called.starts_with(&format!(
            "call: no-such-function: no module named `peek-{holder}` is loaded (loaded: peek-"
        )),
        "{called}"
    );
    assert!(!called.contains(&format!("peek-{holder},")), "{called}");
    wait_until(
        "rt.job(holder).unwrap().status != JobStatus::Running",
        || rt.job(holder).unwrap().status != JobStatus::Running,
    );
    assert!(log_of(&rt, holder).contains("still mine: 42"));
}

#[test]
fn a_job_that_ends_frees_its_objects_even_a_reference_cycle() {
    let config = node_config().object_store_memory(64 << 20).build();
    let rt = Arc::new(Runtime::new(config).unwrap());
    let cycle = run_job(&rt, &["cycle", "40"]);
    assert!(
        cycle.contains("cycle: left 40 MiB referencing itself"),
        "{cycle}"
    );
    // The next job has the whole store again.
    let put = run_job(&rt, &["put", "40"]);
    assert_eq!(put, "put: 40 MiB stored\n");
    assert!(rt.wait_idle(Duration::from_secs(30)));
    assert_eq!(rt.stats().objects.bytes, 0, "{:?}", rt.stats());
}

#[test]
fn a_job_that_prints_without_end_keeps_running_with_its_last_output() {
    let rt = Arc::new(Runtime::new(node_config().build()).unwrap());
    let bytes = std::fs::read(guests::PEEK).unwrap();
    let id = rt
        .submit_job("peek", &bytes, vec!["flood".into(), "20".into()], None)
        .unwrap();
    wait_until("rt.job(id).unwrap().status != JobStatus::Running", || {
        rt.job(id).unwrap().status != JobStatus::Running
    });
    assert_eq!(rt.job(id).unwrap().status, JobStatus::Succeeded);
    let log = rt.job_log(id, 0, usize::MAX).unwrap();
    assert_eq!(log.bytes.len(), raylab::JOB_LOG_BYTES);
    assert_eq!(
        log.start,
        (20 << 20) + "flood: done\n".len() as u64 - raylab::JOB_LOG_BYTES as u64
    );
    assert!(log.bytes.ends_with(b"flood: done\n"));
}

#[test]
fn a_blocking_fork_bomb_in_one_job_leaves_sandboxes_for_three_others() {
    let rt = Arc::new(Runtime::new(node_config().build()).unwrap());
    let bomb = rt
        .submit_job(
            "hostile",
            &std::fs::read(guests::HOSTILE).unwrap(),
            vec!["bomb".into()],
            None,
        )
        .unwrap();
    // Let the bomb take its share first.
    wait_until("rt.stats().tasks.instances >= 100", || {
        rt.stats().tasks.instances >= 100
    });
    let task1 = std::fs::read(guests::TASK1).unwrap();
    let good: Vec<raylab::JobId> = (0..3)
        .map(|_| {
            let args = ["--n", "10", "--work-ms", "1"].map(String::from).to_vec();
            rt.submit_job("task1", &task1, args, None).unwrap()
        })
        .collect();
    wait_until("the good jobs ended", || {
        good.iter()
            .all(|j| rt.job(*j).unwrap().status != JobStatus::Running)
    });
    for j in &good {
        assert_eq!(
            rt.job(*j).unwrap().status,
            JobStatus::Succeeded,
            "{}",
            log_of(&rt, *j)
        );
        assert!(log_of(&rt, *j).contains("results equal: yes"));
    }
    wait_until("rt.job(bomb).unwrap().status != JobStatus::Running", || {
        rt.job(bomb).unwrap().status != JobStatus::Running
    });
    assert!(
        log_of(&rt, bomb).contains("bomb: time-limit-exceeded"),
        "{}",
        log_of(&rt, bomb)
    );
    assert!(rt.wait_idle(Duration::from_secs(30)), "{:?}", rt.stats());
    assert_eq!(rt.stats().tasks.instances, 0);
}

#[test]
fn a_job_is_stopped_at_its_time_limit() {
    let head = Head::start();
    let out = raylab(&[
        "submit",
        "--quiet",
        "--timeout",
        "1",
        "--address",
        &head.address,
        guests::PEEK,
        "--",
        "forever",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exceeded its time limit of 1 s"),
        "{}",
        show(&out)
    );
}

/// Whether process `pid` has accepted the server side of `client`'s
/// connection: the kernel lists that socket (`/proc/net/tcp`) with an
/// inode once it is accepted, and the process holds it as a descriptor.
fn accepted(pid: u32, client: &std::net::TcpStream) -> bool {
    let hex = |a: std::net::SocketAddr| match a {
        std::net::SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        std::net::SocketAddr::V6(_) => String::new(),
    };
    let (server, us) = (
        hex(client.peer_addr().unwrap()),
        hex(client.local_addr().unwrap()),
    );
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let inode = table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 9 && f[1] == server && f[2] == us).then(|| f[9].to_string())
    });
    let Some(inode) = inode.filter(|i| i != "0") else {
        return false;
    };
    let want = format!("socket:[{inode}]");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy() == want))
}

#[test]
fn stop_does_not_wait_for_a_client_that_never_finishes_its_upload() {
    use std::io::Write;
    let mut head = Head::start();
    let addr = head.address.trim_start_matches("http://").to_string();
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stalled,
        "POST /api/jobs?name=stalled HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1000000\r\n\r\n0123456789"
    )
    .unwrap();
    stalled.flush().unwrap();
    // The head is reading that upload when it is asked to stop: it has
    // accepted the connection.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !accepted(head.child.id(), &stalled) {
        assert!(
            Instant::now() < deadline,
            "the head never accepted the upload"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = raylab(&["stop", "--address", &head.address]);
    assert!(out.status.success(), "{}", show(&out));
    // It exits after its 2 s of grace (the bound only keeps a failure
    // from hanging the suite).
    let deadline = Instant::now() + Duration::from_secs(60);
    while head.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the head waited for the stalled upload"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stalled);
}

#[test]
fn uploads_compile_in_a_child_bounded_in_time_and_memory() {
    // A fresh cache, so that the modules are compiled, not found.
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().to_str().unwrap();
    for (limit, expect) in [
        (
            ["--compile-memory", "24M"],
            "compiling it used more than 24 MiB (--compile-memory); refused",
        ),
        (
            ["--compile-timeout", "0.001"],
            "compiling it took longer than 0.001 s (--compile-timeout); refused",
        ),
    ] {
        let head = Head::start_with(&[limit[0], limit[1], "--cache-dir", dir]);
        let out = raylab(&[
            "submit",
            "--quiet",
            "--address",
            &head.address,
            guests::TASK4,
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("400") && stderr.contains(expect),
            "{}",
            show(&out)
        );
        // The head goes on, and nothing refused was cached.
        assert_eq!(std::fs::read_dir(cache.path()).map_or(0, |d| d.count()), 0);
    }
    // Within the limits the same upload compiles (in the child) and runs.
    let head = Head::start_with(&["--cache-dir", dir]);
    let out = raylab(&[
        "submit",
        "--quiet",
        "--address",
        &head.address,
        guests::TASK4,
    ]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        std::fs::read_dir(cache.path()).unwrap().count(),
        1,
        "cached once accepted"
    );
}

#[test]
fn a_log_is_read_a_megabyte_at_a_time_and_says_where_it_starts() {
    let head = Head::start();
    let a = head.address.as_str();
    let out = raylab(&[
        "submit",
        "--quiet",
        "--address",
        a,
        guests::PEEK,
        "--",
        "flood",
        "20",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    // submit followed the log to its end, and said what it missed if it
    // fell behind.
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("flood: done\n"));
    let resp = ureq::get(&format!("{a}/api/jobs/1/logs?offset=0"))
        .call()
        .unwrap();
    let start: u64 = resp.headers()["x-raylab-log-start"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let len = resp.into_body().read_to_vec().unwrap().len();
    assert_eq!(len, 1 << 20, "one chunk of 1 MiB");
    let total = (20u64 << 20) + "flood: done\n".len() as u64;
    assert_eq!(
        start,
        total - raylab::JOB_LOG_BYTES as u64,
        "the oldest byte kept"
    );
}

#[test]
fn rays_state_commands_list_logs_timeline_and_summary() {
    let head = Head::start();
    let a = head.address.as_str();
    let out = raylab(&[
        "submit",
        "--quiet",
        "--address",
        a,
        guests::TASK1,
        "--",
        "--n",
        "3",
        "--work-ms",
        "5",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    // `host:port` as Ray writes it, from RAYLAB_ADDRESS.
    let host_port = a.trim_start_matches("http://");
    let out = crate::raylab_in(&["list", "jobs"], &[("RAYLAB_ADDRESS", host_port)]);
    assert!(out.status.success(), "{}", show(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("1 ") && l.contains("task1") && l.contains("SUCCEEDED")),
        "{table}"
    );
    let out = raylab(&["list", "jobs", "--json", "--address", a]);
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(jobs[0]["status"], "SUCCEEDED", "{jobs}");
    let out = raylab(&["list", "nodes", "--json", "--address", a]);
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(nodes[0]["name"], "head", "{nodes}");
    let out = raylab(&["list", "nodes", "--address", a]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("node 1 head (this one) ALIVE") && text.contains(" GiB"),
        "sizes readable: {text}"
    );
    // A reader that goes away ends a client quietly (no panic).
    let mut child = Command::new(env!("CARGO_BIN_EXE_raylab-host"))
        .args([
            "list",
            "tasks",
            "--json",
            "--limit",
            "100000",
            "--address",
            a,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        show(&out)
    );
    // The task table, filtered, with each task's sandbox figures.
    let out = raylab(&[
        "list",
        "tasks",
        "--job",
        "1",
        "--name",
        "slow",
        "--json",
        "--address",
        a,
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let tasks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    for t in tasks {
        assert_eq!(t["name"], "slow_square");
        assert_eq!(t["state"], "FINISHED");
        assert_eq!(t["attempts"], 1);
        assert_eq!(t["node"], "head");
        assert!(t["memory_peak"].as_u64().unwrap() > 0, "{t}");
        assert!(t["duration_ms"].as_f64().unwrap() >= 5.0, "{t}");
    }
    let out = raylab(&["list", "tasks", "--state", "finished", "--address", a]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.starts_with("ID ")
            && table.lines().filter(|l| l.contains(" FINISHED ")).count() == 6
            && (table.contains(" KiB/") || table.contains(" MiB/")),
        "{table}"
    );
    // The job's objects went with it.
    let out = raylab(&["list", "objects", "--json", "--address", a]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "[]",
        "{}",
        show(&out)
    );

    for follow in [false, true] {
        let mut args = vec!["logs", "1", "--address", a];
        if follow {
            args.push("--follow");
        }
        let out = raylab(&args);
        assert!(out.status.success(), "{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("results equal: yes"),
            "{}",
            show(&out)
        );
    }
    fails_with(&["logs", "99", "--address", a], "404");

    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.json");
    let out = raylab(&[
        "timeline",
        "--job",
        "1",
        "-o",
        trace.to_str().unwrap(),
        "--address",
        a,
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let t: serde_json::Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let slices = t["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .count();
    assert!(slices >= 6, "3 square + 3 slow_square slices: {t}");

    let out = raylab(&["summary", "tasks", "--job", "1", "--json", "--address", a]);
    assert!(out.status.success(), "{}", show(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let slow = s
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["function"] == "slow_square")
        .unwrap_or_else(|| panic!("{s}"));
    assert_eq!(slow["attempts"], 3);
    assert_eq!(slow["by_state"]["finished"], 3);
    let out = raylab(&["summary", "tasks", "--address", a]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("slow_square"),
        "{}",
        show(&out)
    );
}
