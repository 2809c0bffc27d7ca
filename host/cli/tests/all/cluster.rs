//! A cluster on one machine: a head with its nats-server and worker nodes
//! joining it over loopback (`nats-server` from scripts/setup.sh).
//!
//! Longer than ~600 lines by choice: one test per behaviour of a cluster,
//! sharing the node and NATS harnesses at the top.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::{fails_with, guests, output_within, raylab, show, test_cache, wait_until};

/// A node process (head or worker), killed when dropped.
struct Node {
    child: Child,
    /// Its HTTP API.
    http: String,
    /// What it printed after its address.
    lines: Vec<String>,
    _stdout: BufReader<std::process::ChildStdout>,
    /// Its log (stderr), shown when it did not print what a test expects.
    log: tempfile::NamedTempFile,
}

impl Node {
    /// `raylab-host start` with `args`, reading its first `lines` lines.
    fn start(args: &[&str], lines: usize) -> Node {
        Node::start_env(args, lines, &[])
    }

    /// [`Node::start`] with more environment variables.
    fn start_env(args: &[&str], lines: usize, env: &[(&str, &str)]) -> Node {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_raylab-host"))
            .args(["start", "--port", "0", "--nats-port", "0"])
            .args(args)
            .env("RAYLAB_CACHE_DIR", test_cache())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
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
            .unwrap_or_else(|| panic!("no address in {read:?}\n{}", log_tail(&log)))
            .to_string();
        Node {
            child,
            http,
            lines: read,
            _stdout: stdout,
            log,
        }
    }

    /// The value after `prefix` on one of the lines read.
    fn line(&self, prefix: &str) -> &str {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {:?}\n{}", self.lines, log_tail(&self.log)))
    }
}

/// The end of a node's log, for a failure message.
fn log_tail(log: &tempfile::NamedTempFile) -> String {
    let text = std::fs::read_to_string(log.path()).unwrap_or_default();
    let start = text.len().saturating_sub(4000);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    format!("its log:\n{}", &text[start..])
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A head (1 CPU, no GPU) and how to join it: (head, NATS URL, token).
fn head() -> (Node, String, String) {
    head_with_cpus("1")
}

/// [`head`] with `cpus` CPUs.
fn head_with_cpus(cpus: &str) -> (Node, String, String) {
    let head = Node::start(&["--num-cpus", cpus, "--num-gpus", "0"], 4);
    let join = head
        .line("join with: raylab-host start --address ")
        .to_string();
    let (url, token) = join.split_once(" --cluster-token ").expect("url and token");
    (head, url.to_string(), token.to_string())
}

/// A worker named `name` joining the cluster at `url` with `token`, with
/// `extra` options.
fn join(url: &str, token: &str, name: &str, extra: &[&str]) -> Node {
    let mut args = vec![
        "--address",
        url,
        "--cluster-token",
        token,
        "--node-name",
        name,
    ];
    args.extend_from_slice(extra);
    Node::start(&args, 3)
}

/// Three `raylab-host nats` servers clustered on loopback (a JetStream
/// cluster), killed when dropped.
struct NatsCluster {
    servers: Vec<Child>,
    /// The servers' client addresses, comma-separated.
    urls: String,
    token: String,
    store: tempfile::TempDir,
}

/// A port free now (the kernel's pick for a socket bound and dropped).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl NatsCluster {
    fn start() -> NatsCluster {
        let store = tempfile::tempdir().unwrap();
        let token = format!("test{}", std::process::id());
        let clients: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let peers: Vec<String> = (0..3)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect();
        let servers = (0..3)
            .map(|i| {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_raylab-host"));
                cmd.args(["nats", "--name", &format!("n{i}")])
                    .args(["--port", &clients[i].to_string(), "--listen", &peers[i]])
                    .arg("--store")
                    .arg(store.path().join(format!("n{i}")))
                    .env("RAYLAB_CLUSTER_TOKEN", &token)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                for (j, peer) in peers.iter().enumerate() {
                    if j != i {
                        cmd.args(["--peer", peer]);
                    }
                }
                cmd.spawn().unwrap()
            })
            .collect();
        for port in &clients {
            wait_until("a NATS server listens", || {
                std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok()
            });
        }
        let urls = clients
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        NatsCluster {
            servers,
            urls,
            token,
            store,
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

/// The nodes `status --json` reports.
fn nodes(address: &str) -> Vec<serde_json::Value> {
    let out = raylab(&["status", "--json", "--address", address]);
    assert!(out.status.success(), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["nodes"].as_array().cloned().unwrap_or_default()
}

#[test]
fn nodes_join_with_the_token_and_status_lists_them_alive_or_dead() {
    let (head, url, token) = head();
    assert!(
        head.line("cluster: ").starts_with("nats://127.0.0.1:"),
        "{:?}",
        head.lines
    );
    let worker = join(
        &url,
        &token,
        "w1",
        &["--num-cpus", "2", "--resources", r#"{"accel": 1}"#],
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
    let second = join(&url, &token, "w2", &[]);
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
    // It comes back: it joins again, as a new node, and takes tasks.
    let _back = join(&url, &token, "w1", &["--resources", r#"{"late": 1}"#]);
    wait_until("w1 alive again", || {
        nodes(&head.http)
            .iter()
            .any(|n| n["name"] == "w1" && n["alive"] == true && n["id"] != 2)
    });
    assert_eq!(submit(&head, &["late"])["late"], "w1");
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

/// A head (1 CPU) and two workers: w1 (2 CPUs, one `accel`), w2 (2 CPUs,
/// one GPU, bulk bytes through NATS).
fn three_nodes() -> (Node, Node, Node) {
    let (head, url, token) = head();
    let w1 = join(
        &url,
        &token,
        "w1",
        &[
            "--num-cpus",
            "2",
            "--num-gpus",
            "0",
            "--resources",
            r#"{"accel": 1}"#,
        ],
    );
    // w2 moves bulk bytes through NATS only; w1 on the data ports.
    let w2 = join(
        &url,
        &token,
        "w2",
        &["--num-cpus", "2", "--num-gpus", "1", "--no-data-port"],
    );
    wait_until("three nodes", || nodes(&head.http).len() == 3);
    (head, w1, w2)
}

/// The `key=value` lines a job printed.
fn submit(head: &Node, args: &[&str]) -> std::collections::HashMap<String, String> {
    let mut cmd = vec![
        "submit",
        "--quiet",
        "--address",
        &head.http,
        guests::CLUSTER,
        "--",
    ];
    cmd.extend_from_slice(args);
    let out = raylab(&cmd);
    assert!(out.status.success(), "{}", show(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What a node's status says of its object store and jobs.
fn leftovers(node: &Node) -> (u64, u64) {
    let out = raylab(&["status", "--json", "--address", &node.http]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let store = &v["object_store"];
    (
        store["objects"].as_u64().unwrap_or(u64::MAX),
        store["bytes"].as_u64().unwrap_or(u64::MAX),
    )
}

/// The objects a node lists (`list objects --json`).
fn objects(node: &Node) -> Vec<serde_json::Value> {
    let out = raylab(&["list", "objects", "--json", "--address", &node.http]);
    match serde_json::from_slice(&out.stdout) {
        Ok(serde_json::Value::Array(rows)) => rows,
        _ => panic!("list objects: {}", show(&out)),
    }
}

#[test]
fn tasks_go_where_their_resources_are_and_objects_follow_them() {
    let (head, w1, w2) = three_nodes();
    let out = submit(&head, &["place"]);
    assert_eq!(out["driver"], "head");
    assert_eq!(out["here"], "head", "a free node keeps its own task");
    assert_eq!(out["pinned-w1"], "w1");
    assert_eq!(out["pinned-3"], "w2", "affinity by node id");
    assert_eq!(out["accel"], "w1", "a custom resource pins a task");
    assert_eq!(out["gpu"], "w2", "GPU tasks go to the GPU node");
    assert_eq!(out["soft"], "head", "soft affinity falls back");
    assert!(out["hard"].contains("no node named `nowhere`"), "{out:?}");
    assert!(
        out["pinned_infeasible"].contains("node `w1` can never hold it"),
        "{out:?}"
    );

    let out = submit(&head, &["spread", "6"]);
    assert_eq!(out["spread"], "head,head,w1,w1,w2,w2", "{out:?}");
    // A burst placed before any of it is sent spreads by free CPUs (the
    // head's one, two on each worker), not all to the worker that looked
    // free first. (Once every node's heartbeat says its CPUs are free
    // again: placement reads them from there.)
    wait_until("every node's CPUs free", || {
        nodes(&head.http)
            .iter()
            .all(|n| n["available"]["CPU"] == n["total"]["CPU"])
    });
    let out = submit(&head, &["burst", "5", "1000"]);
    assert_eq!(out["burst"], "head,w1,w1,w2,w2", "{out:?}");

    // The head's charts count the whole cluster's CPUs: 1 + 2 + 2.
    wait_until("the cluster's CPUs in the history", || {
        ureq::get(&format!("{}/api/history", head.http))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
            .and_then(|h| h["cpu_total"].as_array().and_then(|c| c.last().cloned()))
            .is_some_and(|last| last == 5.0)
    });

    // Retries, time limits and cancellation as on one node.
    let out = submit(&head, &["limits"]);
    assert_eq!(out["retried"], "w1 attempt=3");
    assert_eq!(out["crashed"], "ErrorKind::TaskCrashed");
    assert_eq!(out["limited"], "ErrorKind::TimeLimitExceeded");
    assert_eq!(out["cancelled"], "ErrorKind::Cancelled");
    // The cancel reached w1: nothing runs there any more.
    wait_until("w1 idle", || running(&w1) == 0);

    // The head's timeline of job 2 (the spread) has a process per node, and the
    // slices each node ran in its own lanes.
    let trace: serde_json::Value = serde_json::from_str(
        &ureq::get(&format!("{}/api/timeline?job=2", head.http))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    for (pid, name) in [(1, "node 1 head"), (2, "node 2 w1"), (3, "node 3 w2")] {
        let slices = events
            .iter()
            .filter(|e| e["ph"] == "X" && e["pid"] == pid && e["args"]["job"] == 2)
            .count();
        assert_eq!(slices, 2, "two slices of node {pid}: {trace}");
        assert!(
            events.iter().any(|e| e["name"] == "process_name"
                && e["pid"] == pid
                && e["args"]["name"] == name),
            "{name}: {trace}"
        );
    }

    // 100 MB each way (on the data ports); objects read by range from w2
    // (through NATS, in chunks); and a chain between workers.
    let out = submit(&head, &["objects", "100"]);
    assert_eq!(out["to"], "w1 len=104857600 ok=true");
    assert_eq!(out["from"], "w1 len=104857600 ok=true");
    assert_eq!(out["chain"], "w2 len=1000 ok=true");
    assert_eq!(out["byref"], "w1,w2 ok=true", "objects read by reference");
    assert_eq!(
        out["relay"], "w1 ok=true",
        "a borrowed object made a dependency on another node"
    );
    assert_eq!(
        out["ref_back"], "7 w2 14",
        "a result holding a ref to an object of the node that ran it"
    );

    // Nothing is left anywhere once the jobs are over.
    for node in [&head, &w1, &w2] {
        wait_until("objects freed", || leftovers(node) == (0, 0));
    }
}

#[test]
fn actors_live_on_any_node_and_are_called_from_every_node() {
    let (head, _w1, _w2) = three_nodes();
    let out = submit(&head, &["actors"]);
    // Made by the driver, called by tasks on both workers, each caller's
    // calls in its order: 1..=50 from w1, 100..150 from w2.
    assert_eq!(out["here"], "head callers=w1,w2 sum=7500", "{out:?}");
    assert_eq!(out["in_order"], "true", "{out:?}");
    // Placed by affinity and by a resource; an object of the head as an
    // argument there; calls from the head and from w1.
    assert_eq!(out["ref_arg"], "15", "{out:?}");
    assert_eq!(out["affinity"], "w2 caller=w1 sum=21", "{out:?}");
    assert_eq!(out["resource"], "w1", "{out:?}");
    assert_eq!(out["spread"], "head,w1,w2", "{out:?}");
    // Found by name from w1 and from the head.
    assert_eq!(out["named"], "w2 finder=w1 sum=7", "{out:?}");
    assert_eq!(out["found_here"], "8", "{out:?}");
    assert_eq!(out["taken"], "ErrorKind::InvalidArgument true", "{out:?}");
    assert_eq!(out["unknown"], "ErrorKind::InvalidArgument", "{out:?}");
    // A detached actor a task made on w1, found and killed by the driver.
    assert_eq!(out["detached"], "w1,w1 sum=1000", "{out:?}");
    assert_eq!(out["killed"], "true", "{out:?}");

    // The lab's model search: fold tasks on every node report to the
    // driver's leaderboard actor.
    let out = raylab(&[
        "submit",
        "--address",
        &head.http,
        guests::TASK4,
        "--",
        "--search",
        "--no-sequential",
    ]);
    let text = show(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("leaderboard actor: 45 reports, top 3:"),
        "{text}"
    );
}

#[test]
fn an_object_is_freed_everywhere_once_no_node_references_it() {
    let (head, w1, w2) = three_nodes();
    let mut job = submit_in_background(&head, &["refcount"]);
    let mut lines = BufReader::new(job.stdout.take().unwrap()).lines();
    let mut expect = |want: &str| {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the job ended before {want}"))
            .unwrap();
        assert_eq!(line, want);
    };
    expect("driver=head");
    // An 8 MiB object of w1, read on the head through a list on w2.
    expect("nested=8388608");
    expect("step=holding");
    let bytes = |node: &Node| leftovers(node).1;
    assert!(bytes(&w1) >= 8 << 20, "w1 holds the object");
    assert!(leftovers(&w2).0 >= 2, "w2 holds the list and a stub");
    // The driver lets its own reference go; once the head has counted that
    // release, the lists that contain the object (on w2, and the head's
    // stub of it) still hold it.
    let id = objects(&w1)
        .into_iter()
        .find(|o| o["size"].as_u64().is_some_and(|s| s >= 8 << 20))
        .expect("w1 lists the 8 MiB object")["id"]
        .clone();
    let refs_on_head = || {
        objects(&head)
            .into_iter()
            .find(|o| o["id"] == id)
            .and_then(|o| o["refs"].as_u64())
    };
    let held = refs_on_head().expect("the head has a stub of it");
    expect("step=wrapped");
    wait_until("the head counts the driver's release", || {
        refs_on_head().is_none_or(|refs| refs < held)
    });
    assert!(
        refs_on_head().is_some_and(|refs| refs >= 1) && bytes(&w1) >= 8 << 20,
        "the list keeps it alive"
    );
    // Now nothing references it: freed on every node, with the job still
    // running (its end would free it anyway).
    expect("step=dropped");
    for node in [&w1, &w2, &head] {
        wait_until("freed everywhere", || leftovers(node) == (0, 0));
    }
    assert!(
        job.try_wait().unwrap().is_none(),
        "freed before the job ended"
    );
    let out = output_within("the job", job, 180);
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
fn objects_lost_with_their_node_are_rebuilt_from_their_lineage() {
    let (head, _w1, mut w2) = three_nodes();
    let mut job = submit_in_background(&head, &["rebuild"]);
    let mut lines = BufReader::new(job.stdout.take().unwrap()).lines();
    let mut next = || lines.next().expect("a line").unwrap();
    assert_eq!(next(), "driver=head");
    // A task's result on the head refers to two objects on w2: the result
    // of a task it submitted there, and an object it put.
    assert_eq!(next(), "before=w2 42");
    assert_eq!(next(), "step=ready");
    w2.child.kill().unwrap();
    // Both are rebuilt by running the task again on a live node.
    let after = next();
    assert!(
        after == "after=head 42" || after == "after=w1 42",
        "{after}"
    );
    let out = output_within("the job", job, 180);
    assert!(out.status.success(), "{}", show(&out));
    let out = raylab(&["status", "--json", "--address", &head.http]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["objects_rebuilt"], 2, "{v}");
}

#[test]
fn an_actor_whose_node_dies_is_made_again_on_a_live_node_when_it_may_restart() {
    let (head, _w1, mut w2) = three_nodes();
    let mut job = submit_in_background(&head, &["restart"]);
    let mut lines = BufReader::new(job.stdout.take().unwrap()).lines();
    let mut next = || lines.next().expect("a line").unwrap();
    assert_eq!(next(), "driver=head");
    assert_eq!(next(), "sum=13");
    assert_eq!(next(), "before=w2,w2");
    assert_eq!(next(), "step=ready");
    w2.child.kill().unwrap();
    // Made again (constructor and all) where placement puts it now; its
    // handle, the head's, still works.
    let restarted = next();
    assert!(
        restarted == "restarted=head sum=3" || restarted == "restarted=w1 sum=3",
        "{restarted}"
    );
    assert_eq!(next(), "after=4");
    // The one with no restarts died with its node.
    let lost = next();
    let why = next();
    assert_eq!(lost, "lost=ErrorKind::ActorDied", "{why}");
    assert!(why.contains("w2"), "{why}");
    let out = output_within("the job", job, 180);
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
fn a_standby_head_takes_over_when_the_active_head_dies() {
    let nats = NatsCluster::start();
    let head = |name: &str| head_on(&nats, name);
    let mut h1 = head("h1");
    assert!(h1.line("cluster: ").ends_with("(this head is node 1)"));
    let h2 = head("h2");
    assert!(
        h2.line("cluster: ").contains("node 2, a standby"),
        "{:?}",
        h2.lines
    );
    let _w1 = join(&nats.urls, &nats.token, "w1", &["--num-cpus", "2"]);
    wait_until("three nodes", || nodes(&h1.http).len() == 3);
    let task1 = |at: &Node| {
        raylab(&[
            "submit",
            "--quiet",
            "--address",
            &at.http,
            guests::TASK1,
            "--",
            "--n",
            "4",
            "--work-ms",
            "0",
        ])
    };
    // The standby runs no job: it points at the active head (once it has
    // read the lease).
    wait_until("the standby points at the active head", || {
        let out = task1(&h2);
        assert!(!out.status.success(), "{}", show(&out));
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("standby"), "{said}");
        said.contains(&h1.http)
    });
    let out = task1(&h1);
    assert!(out.status.success(), "{}", show(&out));
    // kill -9 of the active head: the standby takes over within seconds,
    // runs jobs (on the worker: it has no CPU) and answers joining nodes,
    // with ids no head gave before.
    h1.child.kill().unwrap();
    h1.child.wait().unwrap();
    wait_until("the standby takes jobs", || task1(&h2).status.success());
    let _w2 = join(&nats.urls, &nats.token, "w2", &["--num-cpus", "1"]);
    let ids: Vec<u64> = nodes(&h2.http)
        .iter()
        .filter(|n| n["name"] == "w2")
        .filter_map(|n| n["id"].as_u64())
        .collect();
    assert_eq!(ids, [4], "{:?}", nodes(&h2.http));
}

/// A head named `name` on the NATS cluster `nats`, taking no tasks.
fn head_on(nats: &NatsCluster, name: &str) -> Node {
    Node::start(
        &[
            "--nats",
            &nats.urls,
            "--cluster-token",
            &nats.token,
            "--node-name",
            name,
            "--num-cpus",
            "0",
            "--num-gpus",
            "0",
        ],
        4,
    )
}

/// How many times each task name finished on `node`, by its task table.
fn finished_on(node: &Node) -> std::collections::HashMap<String, usize> {
    let out = raylab(&crate::finished_tasks_args(&node.http));
    assert!(out.status.success(), "{}", show(&out));
    crate::count_finished(&out.stdout)
}

/// What befalls the active head mid-job in [`job_through_head_failover`].
enum Befalls {
    /// `kill -9`.
    Death,
    /// SIGSTOP until the standby carries the job on, then SIGCONT: it
    /// finds its lease gone.
    Stop,
}

/// Two heads (the first active) and a worker with two CPUs; a job of four
/// 8 s tasks (two waves), submitted by a client that knows both heads;
/// `what` befalls the active head while the second wave runs. The job ends
/// with every result, its log says where it went on, and each task
/// finished once on the worker (the first wave's results came from the
/// journal; the second wave's attempts on the first head's behalf were
/// ended when the worker saw it dead, and ran again for the standby).
fn job_through_head_failover(what: Befalls) {
    let nats = NatsCluster::start();
    let head = |name: &str| head_on(&nats, name);
    let mut h1 = head("h1");
    let h2 = head("h2");
    assert!(h2.line("cluster: ").contains("a standby"), "{:?}", h2.lines);
    let w1 = join(&nats.urls, &nats.token, "w1", &["--num-cpus", "2"]);
    wait_until("three nodes", || nodes(&h1.http).len() == 3);
    let both = format!("{},{}", h1.http, h2.http);
    let job = Command::new(env!("CARGO_BIN_EXE_raylab-host"))
        .args([
            "submit",
            "--quiet",
            "--address",
            &both,
            guests::CLUSTER,
            "--",
        ])
        .args(["count", "4", "8000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the first wave finished", || finished_on(&w1).len() == 2);
    wait_until("the second wave runs", || running(&w1) == 2);
    match what {
        Befalls::Death => {
            h1.child.kill().unwrap();
            h1.child.wait().unwrap();
        }
        Befalls::Stop => {
            signal(&h1, "STOP");
            // The worker ends the stopped head's tasks (it counts it dead)
            // and the standby runs them again.
            wait_until("the worker ends h1's tasks", || running(&w1) == 0);
            wait_until("h2 carries the job on", || running(&w1) == 2);
            signal(&h1, "CONT");
        }
    }
    let out = output_within("the job", job, 180);
    assert!(out.status.success(), "{}", show(&out));
    let log = String::from_utf8_lossy(&out.stdout);
    // The client followed the log from one head to the other: each line
    // once (offsets agree on both heads).
    assert_eq!(log.matches("count=").count(), 1, "{log}");
    assert_eq!(log.matches("goes on at head").count(), 1, "{log}");
    assert!(log.contains("count=4"), "{log}");
    assert!(
        log.contains("goes on at head h2 (was at head h1)")
            && log.contains("the 2 calls it had finished are given back"),
        "{log}"
    );
    let done = finished_on(&w1);
    for t in ["t0", "t1", "t2", "t3"] {
        assert_eq!(done.get(t), Some(&1), "{t}: {done:?}");
    }
    // The job table says how it ended, at either head (the first, woken,
    // answers from the table too).
    let heads: &[&Node] = match what {
        Befalls::Death => &[&h2],
        Befalls::Stop => &[&h2, &h1],
    };
    for at in heads {
        let out = raylab(&["list", "jobs", "--json", "--address", &at.http]);
        let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let job = jobs
            .as_array()
            .and_then(|js| js.iter().find(|j| j["name"] == "cluster"))
            .unwrap_or_else(|| panic!("{jobs}"));
        assert_eq!(job["status"], "SUCCEEDED", "{jobs}");
    }
}

#[test]
fn a_running_job_goes_on_at_the_standby_when_its_head_dies_and_no_finished_task_runs_again() {
    job_through_head_failover(Befalls::Death);
}

#[test]
fn a_head_stopped_mid_job_hands_it_over_and_acts_no_more_when_it_wakes() {
    job_through_head_failover(Befalls::Stop);
}

/// Tasks running on a node, by its status.
fn running(node: &Node) -> u64 {
    let out = raylab(&["status", "--json", "--address", &node.http]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["tasks"]["running"].as_u64().unwrap_or(0)
}

/// `submit` of the cluster guest, in the background.
fn submit_in_background(head: &Node, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_raylab-host"))
        .args([
            "submit",
            "--quiet",
            "--address",
            &head.http,
            guests::CLUSTER,
            "--",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_killed_node_loses_no_task_and_a_stopped_one_finishes_its_own() {
    let (head, w1, mut w2) = three_nodes();
    // kill -9 of a node mid-job: its tasks run again elsewhere.
    let job = submit_in_background(&head, &["spread", "6", "1500"]);
    wait_until("w2 runs tasks", || running(&w2) > 0);
    w2.child.kill().unwrap();
    let out = output_within("the job", job, 180);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let spread = stdout
        .lines()
        .find_map(|l| l.strip_prefix("spread="))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(spread.split(',').count(), 6, "{spread}");
    assert!(
        !spread.contains("w2"),
        "no result from the dead node: {spread}"
    );
    let out = raylab(&["status", "--json", "--address", &head.http]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let moved = v["tasks_moved"].as_u64().unwrap();
    assert!(
        (1..=2).contains(&moved),
        "w2's tasks were placed again, and counted: {moved}"
    );

    // A node stopped mid-job takes no new task but finishes those it runs.
    let job = submit_in_background(&head, &["spread", "4", "2000"]);
    wait_until("w1 runs tasks", || running(&w1) > 0);
    let out = raylab(&["stop", "--address", &w1.http]);
    assert!(out.status.success(), "{}", show(&out));
    let out = output_within("the job", job, 180);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("spread=head,head,w1,w1"), "{stdout}");
    wait_until("w1 gone", || {
        nodes(&head.http).iter().all(|n| n["name"] != "w1")
    });
}

/// Send `signal` (`STOP`, `CONT`) to a node's process.
fn signal(node: &Node, signal: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{signal}"), &node.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{signal}");
}

/// A node's incarnation, as the head sees it.
fn incarnation(head: &Node, name: &str) -> u64 {
    nodes(&head.http)
        .iter()
        .find(|n| n["name"] == name)
        .and_then(|n| n["incarnation"].as_u64())
        .unwrap_or(0)
}

#[test]
fn a_node_counted_dead_comes_back_as_a_new_incarnation_without_its_old_work() {
    let (head, _w1, w2) = three_nodes();
    assert_eq!(incarnation(&head, "w2"), 1);
    // w2 is cut off mid-job (paused: no heartbeat, no answer) for longer
    // than the cluster waits for a node.
    let job = submit_in_background(&head, &["spread", "6", "3000"]);
    wait_until("w2 runs tasks", || running(&w2) > 0);
    signal(&w2, "STOP");
    std::thread::sleep(std::time::Duration::from_secs(6));
    signal(&w2, "CONT");
    // Its tasks ran again elsewhere: each result once, none of w2's.
    let out = output_within("the job", job, 180);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let spread = stdout
        .lines()
        .find_map(|l| l.strip_prefix("spread="))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(spread.split(',').count(), 6, "{spread}");
    assert!(
        !spread.contains("w2"),
        "a result from w2's old work: {spread}"
    );
    // Back, w2 saw the fence the head put when it placed them again: it
    // dropped that work and rejoined as its next incarnation.
    wait_until("w2 rejoins as incarnation 2", || {
        incarnation(&head, "w2") == 2
    });
    wait_until("w2 dropped its old work", || running(&w2) == 0);
    // And it serves again.
    let out = submit(&head, &["place"]);
    assert_eq!(out["gpu"], "w2", "{out:?}");
}

#[test]
fn a_task_no_node_can_hold_waits_for_one_to_join() {
    let (head, url, token) = head();
    let job = submit_in_background(&head, &["late"]);
    // Status says what waits, and why.
    wait_until("the task waits", || {
        let out = raylab(&["status", "--json", "--address", &head.http]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["waiting_for_nodes"][0]["why"]
            .as_str()
            .is_some_and(|w| w.contains("demands 1 late but no node of the cluster (1 alive)"))
    });
    let text = raylab(&["status", "--address", &head.http]);
    assert!(
        String::from_utf8_lossy(&text.stdout)
            .contains("tasks waiting for a node that can hold them: 1"),
        "{}",
        show(&text)
    );
    // A node with the resource joins: the task runs there.
    let _late = join(&url, &token, "w3", &["--resources", r#"{"late": 1}"#]);
    let out = output_within("the job", job, 180);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("late=w3"),
        "{}",
        show(&out)
    );
}

#[test]
fn an_object_only_a_dead_node_held_is_lost_naming_the_node() {
    let (head, _w1, mut w2) = three_nodes();
    let mut job = submit_in_background(&head, &["lost"]);
    // The object exists on w2 once the driver has read it there.
    let mut lines = BufReader::new(job.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while !seen.iter().any(|l| l == "got=5") {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the job ended: {seen:?}"));
        seen.push(line.unwrap());
    }
    w2.child.kill().unwrap();
    seen.extend(lines.map(Result::unwrap));
    let out = output_within("the job", job, 180);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = seen.join("\n");
    assert!(
        stdout.contains("lost=ErrorKind::ObjectLost")
            && stdout.contains("of node 3: its node died"),
        "{stdout}"
    );
    // Its lineage could not rebuild it: the task that made it is pinned
    // to the dead node.
    assert!(
        stdout.contains("running put_there again to rebuild it failed"),
        "{stdout}"
    );
}

#[test]
fn a_head_with_no_cpus_runs_drivers_and_leaves_every_task_to_the_workers() {
    // Ray's way to keep work off a head: `--num-cpus 0`.
    let (head, url, token) = head_with_cpus("0");
    let _w1 = join(&url, &token, "w1", &["--num-cpus", "2", "--num-gpus", "0"]);
    wait_until("two nodes", || nodes(&head.http).len() == 2);
    assert_eq!(
        nodes(&head.http)[0]["total"]["CPU"].as_f64().unwrap_or(0.0),
        0.0
    );
    let out = submit(&head, &["spread", "6"]);
    assert_eq!(out["driver"], "head", "the driver still runs on the head");
    assert_eq!(out["spread"], "w1,w1,w1,w1,w1,w1", "no task on the head");
}

#[test]
fn a_task_request_lost_on_the_way_is_sent_again() {
    // The worker drops the first two task requests it gets, as a NATS
    // server that dies with them in flight does (core NATS delivers at most
    // once). The head asks the worker whether it holds them, hears no, and
    // sends them again: the job ends instead of waiting forever.
    let (head, url, token) = head_with_cpus("0");
    let _w1 = Node::start_env(
        &[
            "--address",
            &url,
            "--cluster-token",
            &token,
            "--node-name",
            "w1",
            "--num-cpus",
            "2",
            "--num-gpus",
            "0",
        ],
        3,
        &[("RAYLAB_FAULT_DROP_RUNS", "2")],
    );
    wait_until("two nodes", || nodes(&head.http).len() == 2);
    let job = Command::new(env!("CARGO_BIN_EXE_raylab-host"))
        .args(["submit", "--quiet", "--address", &head.http])
        .args([guests::CLUSTER, "--", "spread", "4"])
        .env("RAYLAB_CACHE_DIR", test_cache())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = output_within("the job with two lost requests", job, 120);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("spread=w1,w1,w1,w1"), "{stdout}");
}

#[test]
fn a_node_advertises_an_address_the_others_can_reach() {
    let (head, url, token) = head();
    // Bound to every interface: it advertises the address it reaches NATS
    // from (here loopback), never 0.0.0.0.
    let _any = join(
        &url,
        &token,
        "any",
        &["--host", "0.0.0.0", "--token", "secret"],
    );
    // Told what to advertise (a NAT, a DNS name).
    let _told = join(
        &url,
        &token,
        "told",
        &["--advertise-address", "node7.example"],
    );
    wait_until("three nodes", || nodes(&head.http).len() == 3);
    let list = nodes(&head.http);
    let http = |name: &str| {
        list.iter()
            .find(|n| n["name"] == name)
            .and_then(|n| n["http"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(http("any").starts_with("http://127.0.0.1:"), "{list:?}");
    assert!(
        http("told").starts_with("http://node7.example:"),
        "{list:?}"
    );
    assert!(http("head").starts_with("http://127.0.0.1:"), "{list:?}");
}

#[test]
fn a_cluster_on_three_nats_servers_keeps_its_state_in_three_replicas() {
    let nats = NatsCluster::start();
    // A head that runs no tasks itself, on the three servers, and a worker.
    let head = Node::start(
        &[
            "--nats",
            &nats.urls,
            "--cluster-token",
            &nats.token,
            "--num-cpus",
            "0",
            "--num-gpus",
            "0",
        ],
        4,
    );
    assert!(
        head.line("cluster: ").starts_with(&nats.urls),
        "{:?}",
        head.lines
    );
    let _w1 = join(&nats.urls, &nats.token, "w1", &["--num-cpus", "2"]);
    wait_until("the worker is in the cluster", || {
        nodes(&head.http).len() == 2
    });
    let out = raylab(&[
        "submit",
        "--quiet",
        "--address",
        &head.http,
        guests::TASK1,
        "--",
        "--n",
        "6",
        "--work-ms",
        "0",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("results equal: yes"),
        "{}",
        show(&out)
    );
    // The module store is a stream of three replicas: every server keeps
    // one (the node registry, in memory, is replicated the same way).
    for i in 0..3 {
        let stream = nats
            .store
            .path()
            .join(format!("n{i}/js/jetstream/$G/streams/RAYLAB_MODULES"));
        assert!(
            stream.is_dir(),
            "server n{i} holds no replica of the modules"
        );
    }
}

/// `status --json`'s count of tasks submitted and finished on the head.
fn head_tasks(address: &str) -> (u64, u64) {
    let out = raylab(&["status", "--json", "--address", address]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (
        v["tasks_submitted"].as_u64().unwrap_or(0),
        v["tasks_finished"].as_u64().unwrap_or(0),
    )
}

#[test]
fn a_job_survives_kill_9_of_one_nats_server() {
    let mut nats = NatsCluster::start();
    let head = Node::start(
        &[
            "--nats",
            &nats.urls,
            "--cluster-token",
            &nats.token,
            "--num-cpus",
            "0",
            "--num-gpus",
            "0",
        ],
        4,
    );
    let _w1 = join(&nats.urls, &nats.token, "w1", &["--num-cpus", "2"]);
    let _w2 = join(&nats.urls, &nats.token, "w2", &["--num-cpus", "2"]);
    wait_until("both workers are in the cluster", || {
        nodes(&head.http).len() == 3
    });
    let task1 = |work_ms: &str| {
        Command::new(env!("CARGO_BIN_EXE_raylab-host"))
            .args(["submit", "--quiet", "--address", &head.http, guests::TASK1])
            .args(["--", "--n", "16", "--work-ms", work_ms])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Every task runs on a worker (the head has no CPU); the first server
    // dies while the second wave of tasks runs there.
    let job = task1("500");
    wait_until("the job's second wave is running", || {
        let (submitted, finished) = head_tasks(&head.http);
        submitted >= 32 && finished < 32
    });
    let first = &mut nats.servers[0];
    first.kill().unwrap();
    first.wait().unwrap();
    let out = output_within("the job", job, 180);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(text.matches("results equal: yes").count(), 2, "{text}");
    // And the cluster goes on with two servers.
    let out = output_within("the job after the failover", task1("0"), 180);
    assert!(out.status.success(), "{}", show(&out));
}
