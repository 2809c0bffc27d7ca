//! A cluster on one machine: a head with its nats-server and worker nodes
//! joining it over loopback (`nats-server` from scripts/setup.sh).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{fails_with, raylab, show, test_cache};

/// A node process (head or worker), killed when dropped.
struct Node {
    child: Child,
    /// Its HTTP API.
    http: String,
    /// What it printed after its address.
    lines: Vec<String>,
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Node {
    /// `raylab-host start` with `args`, reading its first `lines` lines.
    fn start(args: &[&str], lines: usize) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_raylab-host"))
            .args(["start", "--port", "0", "--nats-port", "0"])
            .args(args)
            .env("RAYLAB_CACHE_DIR", test_cache())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut read = Vec::new();
        for _ in 0..lines {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            read.push(line.trim().to_string());
        }
        let http = read[0]
            .rsplit(' ')
            .next()
            .filter(|a| a.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {read:?}"))
            .to_string();
        Node {
            child,
            http,
            lines: read,
            _stdout: stdout,
        }
    }

    /// The value after `prefix` on one of the lines read.
    fn line(&self, prefix: &str) -> &str {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {:?}", self.lines))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A head and how to join it: (head, NATS URL, token).
fn head() -> (Node, String, String) {
    let head = Node::start(&["--num-cpus", "1"], 4);
    let join = head
        .line("join with: raylab-host start --address ")
        .to_string();
    let (url, token) = join.split_once(" --cluster-token ").expect("url and token");
    (head, url.to_string(), token.to_string())
}

/// The nodes `status --json` reports.
fn nodes(address: &str) -> Vec<serde_json::Value> {
    let out = raylab(&["status", "--json", "--address", address]);
    assert!(out.status.success(), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["nodes"].as_array().cloned().unwrap_or_default()
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn nodes_join_with_the_token_and_status_lists_them_alive_or_dead() {
    let (head, url, token) = head();
    assert!(
        head.line("cluster: ").starts_with("nats://127.0.0.1:"),
        "{:?}",
        head.lines
    );
    let worker = Node::start(
        &[
            "--address",
            &url,
            "--cluster-token",
            &token,
            "--node-name",
            "w1",
            "--num-cpus",
            "2",
            "--resources",
            r#"{"accel": 1}"#,
        ],
        3,
    );
    assert!(
        worker.lines[0].starts_with("raylab node listening on"),
        "{:?}",
        worker.lines
    );
    assert!(
        worker.line("joined the cluster at ").ends_with("as node 2"),
        "{:?}",
        worker.lines
    );
    // Both nodes see both, with their own resources.
    for address in [&head.http, &worker.http] {
        wait_until("both nodes listed", || nodes(address).len() == 2);
        let list = nodes(address);
        assert_eq!(list[0]["name"], "head");
        assert_eq!(list[1]["name"], "w1");
        assert!(list.iter().all(|n| n["alive"] == true), "{list:?}");
        assert_eq!(list[1]["total"]["accel"], 1.0);
        assert_eq!(list[1]["total"]["CPU"], 2.0);
    }
    let text = raylab(&["status", "--address", &head.http]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("nodes: 2 (2 alive)") && text.contains("node 2 w1"),
        "{text}"
    );

    // A node stopped cleanly leaves at once; one killed is dead after its
    // heartbeats stop.
    let second = Node::start(
        &[
            "--address",
            &url,
            "--cluster-token",
            &token,
            "--node-name",
            "w2",
        ],
        3,
    );
    wait_until("three nodes", || nodes(&head.http).len() == 3);
    let out = raylab(&["stop", "--address", &second.http]);
    assert!(out.status.success(), "{}", show(&out));
    wait_until("w2 gone", || {
        nodes(&head.http).iter().all(|n| n["name"] != "w2")
    });
    let mut worker = worker;
    worker.child.kill().unwrap();
    wait_until("w1 dead", || {
        nodes(&head.http)
            .iter()
            .any(|n| n["name"] == "w1" && n["alive"] == false)
    });
}

#[test]
fn a_node_without_the_token_is_refused() {
    let (_head, url, _) = head();
    fails_with(
        &[
            "start",
            "--port",
            "0",
            "--address",
            &url,
            "--cluster-token",
            "wrong",
        ],
        "refused this node's token",
    );
    fails_with(
        &["start", "--port", "0", "--address", &url],
        "joining a cluster needs its token",
    );
}
