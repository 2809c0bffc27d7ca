//! Tests of the API types: each round-trips, a missing field is an error,
//! and the copies of the runtime's types write its JSON.

use super::*;
use serde::de::DeserializeOwned;

/// `value` written and read back is `value`.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: T) {
    let text = serde_json::to_string(&value).unwrap();
    let back: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(back, value, "{text}");
}

/// `query` as [`with_query`] writes it, read back as the head reads it.
fn query_round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(query: T) {
    let uri: axum::http::Uri = with_query("/x", &query).parse().unwrap();
    let axum::extract::Query(back) =
        axum::extract::Query::<T>::try_from_uri(&uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
    assert_eq!(back, query, "{uri}");
}

fn job() -> raylab::JobInfo {
    raylab::JobInfo {
        id: JobId::new(3),
        name: "task1".into(),
        status: raylab::JobStatus::Failed,
        exit_code: Some(2),
        error: None,
        submitted_at: 1.5e12,
        ended_at: Some(1.5e12 + 10.0),
        origin: Some(2),
        origin_job: None,
        args: vec!["--n".into(), "3".into()],
        module_bytes: 1234,
        tasks_submitted: 7,
        tasks_done: 6,
    }
}

fn actor() -> raylab::ActorInfo {
    raylab::ActorInfo {
        id: ObjectId::new(1 << 40),
        name: Some("counter".into()),
        class: "Counter".into(),
        job: None,
        state: raylab::ActorState::Dead,
        death: Some("killed".into()),
        calls_done: 4,
        calls_queued: 1,
        restarts: 2,
        memory: 1 << 20,
    }
}

fn node() -> raylab::NodeInfo {
    raylab::NodeInfo {
        id: 1,
        name: "head".into(),
        http: Some("http://127.0.0.1:8265".into()),
        total: [("CPU".to_string(), 4.0), ("memory".to_string(), 1e9)].into(),
        available: [("CPU".to_string(), 2.5)].into(),
        heartbeat_ms: 1.7e12,
        alive: true,
        draining: false,
        load: 0.25,
        this: true,
        incarnation: 2,
    }
}

fn gpu() -> raylab::gpu::GpuInfo {
    raylab::gpu::GpuInfo {
        id: 0,
        name: "llvmpipe".into(),
        backend: "vulkan".into(),
        device_type: "cpu".into(),
        software: true,
    }
}

fn store() -> raylab::StoreStats {
    raylab::StoreStats {
        objects: 5,
        foreign: 1,
        bytes: 100,
        capacity: 1000,
        created: 9,
        freed: 4,
        spill: raylab::SpillStats {
            objects: 1,
            bytes: 10,
            capacity: 1000,
            spilled_total: 20,
            restored_total: 10,
            spill_seconds: 0.5,
            restore_seconds: 0.25,
        },
    }
}

fn counts() -> raylab::SchedulerCounts {
    raylab::SchedulerCounts {
        waiting_for_args: 1,
        waiting_for_resources: 2,
        running: 3,
        blocked: 4,
        instances: 5,
    }
}

fn object() -> raylab::ObjectRow {
    raylab::ObjectRow {
        id: ObjectId::new(77),
        job: JobId::new(1),
        state: "SPILLED",
        size: 4096,
        refs: 2,
        contains: 1,
        owner: 0,
    }
}

fn task_row() -> TaskRow {
    TaskRow {
        id: 9,
        job: JobId::new(1),
        name: "slow_square".into(),
        state: TaskState::Finished,
        node: Some("head".into()),
        submitted_ms: 1.0,
        started_ms: Some(2.0),
        duration_ms: None,
        memory_peak: Some(65536),
        memory_quota: 1 << 30,
        time_limit_ms: None,
        attempts: 1,
        errors: vec!["oom".into()],
    }
}

/// The copy serializes as the runtime's original does.
fn same_json<R: Serialize, A: Serialize + From<R>>(original: R) {
    let want = serde_json::to_value(&original).unwrap();
    let got = serde_json::to_value(A::from(original)).unwrap();
    assert_eq!(got, want);
}

#[test]
fn copies_of_runtime_types_are_the_runtimes_json() {
    same_json::<_, Job>(job());
    same_json::<_, Actor>(actor());
    same_json::<_, Node>(node());
    same_json::<_, GpuDevice>(gpu());
    same_json::<_, StoreStats>(store());
    same_json::<_, TaskCounts>(counts());
    same_json::<_, Object>(object());
    for s in [
        raylab::JobStatus::Running,
        raylab::JobStatus::Succeeded,
        raylab::JobStatus::Failed,
        raylab::JobStatus::Stopped,
    ] {
        let name = JobStatus::from(s).name();
        assert_eq!(serde_json::to_value(s).unwrap(), name);
        same_json::<_, JobStatus>(s);
    }
    for s in [
        raylab::ActorState::Pending,
        raylab::ActorState::Alive,
        raylab::ActorState::Restarting,
        raylab::ActorState::Dead,
    ] {
        let name = ActorState::from(s.clone()).name();
        assert_eq!(serde_json::to_value(&s).unwrap(), name);
        same_json::<_, ActorState>(s);
    }
    for s in [
        TaskState::Pending,
        TaskState::Running,
        TaskState::Finished,
        TaskState::Failed,
        TaskState::NotRun,
    ] {
        assert_eq!(serde_json::to_value(s).unwrap(), task_state_name(s));
    }
}

fn status() -> Status {
    Status {
        version: "0.1.0".into(),
        resources: Resources {
            total: [("CPU".to_string(), 2.0)].into(),
            available: [("CPU".to_string(), 1.0)].into(),
        },
        gpu_devices: vec![gpu().into()],
        pending_demand: [("GPU".to_string(), 1.0)].into(),
        tasks: counts().into(),
        tasks_submitted: 10,
        tasks_finished: 8,
        tasks_failed: 1,
        object_store: store().into(),
        jobs_running: 1,
        jobs: vec![job().into()],
        actors: vec![actor().into()],
        nodes: vec![node().into()],
        tasks_moved: 2,
        objects_rebuilt: 3,
        waiting_for_nodes: vec![WaitingTask {
            task: "big".into(),
            why: "no node has 64 CPU".into(),
        }],
    }
}

#[test]
fn every_answer_round_trips() {
    round_trip(Version {
        version: "0.1.0".into(),
    });
    round_trip(status());
    round_trip(Submitted {
        job_id: JobId::new(4),
    });
    round_trip(Stopped { stopped: true });
    round_trip(Shutdown {
        stopped_jobs: vec![JobId::new(1), JobId::new(2)],
    });
    round_trip(Job::from(job()));
    round_trip(vec![Job::from(job())]);
    round_trip(vec![task_row()].into_iter().map(Row).collect::<Vec<_>>());
    round_trip(vec![Object::from(object())]);
    round_trip(History {
        t: vec![1.0, 2.0],
        running: vec![0.0, 3.5],
        ..History::default()
    });
    round_trip(Trace {
        events: vec![TraceEvent::Slice(Slice {
            name: "square".into(),
            cat: "task".into(),
            ts: 5,
            dur: 1500,
            pid: 1,
            tid: 0,
            args: SliceArgs {
                state: "finished".into(),
                job: JobId::new(1),
                task_id: 3,
                attempts: 1,
            },
        })],
        display_time_unit: "ms".into(),
    });
}

/// [`TaskRow`] is the runtime's, without `PartialEq`: compared as JSON.
#[derive(Debug, Serialize, Deserialize)]
#[serde(transparent)]
struct Row(TaskRow);

impl PartialEq for Row {
    fn eq(&self, other: &Self) -> bool {
        serde_json::to_value(&self.0).unwrap() == serde_json::to_value(&other.0).unwrap()
    }
}

#[test]
fn every_query_round_trips() {
    query_round_trip(SubmitQuery::new(
        "my job/ü",
        &["a b".into(), "&=?".into()],
        Some(2.5),
    ));
    query_round_trip(SubmitQuery::default());
    query_round_trip(TaskQuery {
        job: Some(JobId::new(1)),
        name: Some("slow square".into()),
        state: Some(TaskState::NotRun),
        limit: Some(10),
    });
    query_round_trip(TaskQuery::default());
    query_round_trip(ObjectsQuery {
        job: Some(JobId::new(2)),
        limit: Some(5),
    });
    query_round_trip(TimelineQuery {
        job: Some(JobId::new(3)),
    });
    query_round_trip(LogQuery {
        offset: Some(1 << 40),
        wait_ms: Some(10_000),
    });
    let q = SubmitQuery::new("j", &["x".into()], None);
    assert_eq!(q.args().unwrap(), ["x"]);
    assert_eq!(with_query(TIMELINE, &TimelineQuery::default()), TIMELINE);
    assert_eq!(job_logs(JobId::new(7)), "/api/jobs/7/logs");
}

#[test]
fn a_missing_field_is_an_error_not_a_default() {
    let mut full = serde_json::to_value(status()).unwrap();
    serde_json::from_value::<Status>(full.clone()).unwrap();
    full["object_store"]["spill"]
        .as_object_mut()
        .unwrap()
        .remove("bytes");
    let e = serde_json::from_value::<Status>(full).unwrap_err();
    assert!(e.to_string().contains("missing field `bytes`"), "{e}");

    let mut j = serde_json::to_value(Job::from(job())).unwrap();
    j.as_object_mut().unwrap().remove("tasks_done");
    let e = serde_json::from_value::<Job>(j).unwrap_err();
    assert!(e.to_string().contains("missing field `tasks_done`"), "{e}");

    let e = serde_json::from_str::<Submitted>("{}").unwrap_err();
    assert!(e.to_string().contains("missing field `job_id`"), "{e}");

    // An absent `Option` is `None`: the head writes `null` for it, and
    // an older head may not write it at all.
    let mut j = serde_json::to_value(Job::from(job())).unwrap();
    j.as_object_mut().unwrap().remove("exit_code");
    assert_eq!(serde_json::from_value::<Job>(j).unwrap().exit_code, None);
}

#[test]
fn a_trace_reads_chromes_format() {
    let trace = serde_json::json!({
        "traceEvents": [
            {"name": "square", "cat": "task", "ph": "X", "ts": 5, "dur": 1500, "pid": 1, "tid": 0,
             "args": {"state": "finished", "job": 1, "task_id": 3, "attempts": 1}},
            {"name": "thread_name", "ph": "M", "pid": 1, "tid": 0, "args": {"name": "worker 0"}},
            {"name": "process_sort_index", "ph": "M", "pid": 2, "args": {"sort_index": 2}},
        ],
        "displayTimeUnit": "ms",
    });
    let t = Trace::deserialize(&trace).unwrap();
    let slices: Vec<&Slice> = t.slices().collect();
    assert_eq!(slices.len(), 1);
    assert_eq!((slices[0].name.as_str(), slices[0].dur), ("square", 1500));
    assert_eq!(slices[0].args.state, "finished");
    assert_eq!(t.events.len(), 3);
    // Written back, it is the same JSON.
    assert_eq!(serde_json::to_value(&t).unwrap(), trace);
}
