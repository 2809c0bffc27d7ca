//! The dashboard in a real browser (Debian's headless Chromium, installed
//! by `scripts/setup.sh --with-browser`): each page is opened while a job
//! runs and checked for what its script drew from the live API. The
//! screenshots of the overview and of a job page land in the test target
//! directory (`CARGO_TARGET_TMPDIR/dashboard/`), for a reviewer to look at;
//! the README shows ones made this way.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::head::Head;
use crate::{guests, show, wait_until};

fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("headless Chromium is needed for this test: scripts/setup.sh --with-browser installs it")
}

/// Open `url` in headless Chromium and let its scripts run for `budget_ms`
/// of virtual time (which stands still while a request is pending, so a
/// long poll lets real time pass); `out` is `--dump-dom` or
/// `--screenshot=PATH`. Returns what Chromium printed.
fn browse(url: &str, budget_ms: u32, out: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let run = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1400,1000",
        ])
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(out)
        .arg(url)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&run.stdout).into_owned()
}

fn dom(url: &str, budget_ms: u32) -> String {
    browse(url, budget_ms, "--dump-dom")
}

/// Write a screenshot of `url` to the test target directory; its path.
fn screenshot(url: &str, budget_ms: u32, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    browse(url, budget_ms, &format!("--screenshot={}", path.display()));
    let png = std::fs::read(&path).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a screenshot of {url} at {}",
        path.display()
    );
    path
}

/// The number in `attr="N"` right after `after` in `dom`.
fn number_after(dom: &str, after: &str) -> u64 {
    let at = dom
        .find(after)
        .unwrap_or_else(|| panic!("no {after:?} in {dom}"));
    dom[at + after.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number after {after:?}"))
}

fn job_status(head: &Head, id: u64) -> serde_json::Value {
    // Null until the job exists.
    ureq::get(&format!("{}/api/jobs/{id}", head.address))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .and_then(|b| serde_json::from_str(&b).ok())
        .unwrap_or_default()
}

/// `submit` of the `waves` guest for `secs` seconds, in the background.
fn waves(head: &Head, secs: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_raylab-host"))
        .args([
            "submit",
            "--quiet",
            "--address",
            &head.address,
            guests::WAVES,
            "--",
            secs,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn every_page_shows_a_running_job_in_a_real_browser() {
    let head = Head::start();
    let a = head.address.as_str();
    let job = waves(&head, "8");
    wait_until("the job's first waves", || {
        let j = job_status(&head, 1);
        j["status"] == "RUNNING" && j["tasks_done"].as_u64().unwrap_or(0) >= 9
    });

    // The job page: its log streamed into the page (several appends while
    // it was open), its timeline drawn, its tasks by state.
    let page = dom(&format!("{a}/#/jobs/1"), 2500);
    assert!(page.contains("wave 1: 4 tasks done"), "the log: {page}");
    assert!(
        number_after(&page, "data-chunks=\"") >= 2,
        "new log lines arrived while the page was open: {page}"
    );
    assert!(
        number_after(&page, "data-slices=\"") > 0,
        "the timeline: {page}"
    );
    assert!(
        page.contains("&quot;FINISHED&quot;") && page.contains("&quot;FAILED&quot;"),
        "its tasks by state: {page}"
    );
    assert!(
        page.contains("<code style=\"font-size:13px\">8</code>"),
        "its arguments: {page}"
    );
    screenshot(&format!("{a}/#/jobs/1"), 1500, "job.png");

    // The overview: charts with the head's history, sizes readable.
    let page = dom(&format!("{a}/#/"), 1500);
    for chart in ["cpu", "mem", "rate", "queue"] {
        let points = number_after(&page, &format!("id=\"chart-{chart}\" data-points=\""));
        assert!(points >= 2, "chart {chart} has data: {page}");
    }
    assert!(page.contains("uplot"), "drawn by uPlot: {page}");
    assert!(page.contains(" GiB</div>"), "sizes in GiB: {page}");
    screenshot(&format!("{a}/#/"), 1500, "overview.png");

    // The tasks: each with its sandbox figures, the failed one with the
    // error of each attempt.
    let page = dom(&format!("{a}/#/tasks"), 1500);
    assert!(
        page.contains("<td>flaky</td><td class=\"FAILED\">FAILED</td>"),
        "{page}"
    );
    assert!(
        page.contains("attempt 1: ") && page.contains("attempt 2: "),
        "both attempts' errors: {page}"
    );
    assert!(page.contains("flaky fails on every attempt"), "{page}");
    assert!(
        page.contains(" MiB / 1.0 GiB</td>") || page.contains(" MiB / 1024.0 MiB</td>"),
        "peak memory of the quota: {page}"
    );

    // The cluster's nodes and the jobs list.
    let page = dom(&format!("{a}/#/cluster"), 1000);
    assert!(page.contains("<td class=\"ALIVE\">ALIVE</td>"), "{page}");
    let page = dom(&format!("{a}/#/jobs"), 1000);
    assert!(page.contains("<a href=\"#/jobs/1\">1</a>"), "{page}");
    let out = job.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", show(&out));

    // A job stopped shows as stopped on its page.
    let long = waves(&head, "120");
    wait_until("the second job", || {
        job_status(&head, 2)["status"] == "RUNNING"
    });
    ureq::post(&format!("{a}/api/jobs/2/stop"))
        .send_empty()
        .unwrap();
    wait_until("stopped", || job_status(&head, 2)["status"] == "STOPPED");
    let page = dom(&format!("{a}/#/jobs/2"), 1000);
    assert!(
        page.contains("<span class=\"STOPPED\" id=\"jstatus\">STOPPED</span>"),
        "{page}"
    );
    let _ = long.wait_with_output();
}
