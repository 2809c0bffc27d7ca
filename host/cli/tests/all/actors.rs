//! Actors: state in a long-lived sandbox, calls in order, handles passed
//! around, names, restarts, kills, quotas, and an actor's end with its job.

use std::sync::Arc;
use std::time::Duration;

use raylab::{ActorState, Config, JobStatus, Runtime};

use crate::{guests, run_ok, test_cache};

/// Run scenario `name` of the actors test program on two CPUs.
fn scenario(name: &str) -> String {
    run_ok(&["run", guests::ACTORS, "--num-cpus", "2", "--", name])
}

#[test]
fn calls_from_one_caller_run_in_order_on_the_actors_state() {
    let out = scenario("order");
    assert!(
        out.contains("order: 100 calls ran in order (1..=100)"),
        "{out}"
    );
    assert!(out.contains("order: final count 100"), "{out}");
    let out = scenario("state");
    assert!(
        out.contains(
            "state: divide by zero: task-failed: task `Counter.divide`: cannot divide 10 by zero"
        ),
        "{out}"
    );
    assert!(
        out.contains("state: after the error: 5"),
        "the state survives a failed call: {out}"
    );
    assert!(out.contains("state: ref argument: 8"), "{out}");
    assert!(
        out.contains(
            "state: failed constructor: task-failed: task `Named.new`: a name is required"
        ),
        "{out}"
    );
    assert!(
        out.contains("state: call after a failed constructor: actor-died"),
        "{out}"
    );
}

#[test]
fn handles_travel_to_tasks_actors_and_objects_and_names_find_actors() {
    let out = scenario("handles");
    for line in [
        "handles: task: 5",
        "handles: actor: 12",
        "handles: stored: 22",
        "handles: count 23",
    ] {
        assert!(out.contains(line), "{line} in {out}");
    }
    let out = scenario("named");
    assert!(out.contains("named: found: 2"), "{out}");
    assert!(
        out.contains("named: unknown: invalid-argument: no live actor is named `nobody`"),
        "{out}"
    );
    assert!(out.contains("named: taken: invalid-argument"), "{out}");
    let out = scenario("scoped");
    assert!(
        out.contains("scoped: gone after drop: invalid-argument"),
        "the last handle took the actor: {out}"
    );
    assert!(out.contains("scoped: name reused"), "{out}");
}

#[test]
fn a_crash_restarts_the_actor_up_to_its_limit_and_retries_when_allowed() {
    let out = scenario("restart");
    assert!(out.contains("restart: restarted: 1"), "{out}");
    assert!(
        out.contains("restart: second crash: actor-died: task `Fragile.hit`"),
        "{out}"
    );
    assert!(out.contains("has no restarts left"), "{out}");
    assert!(
        out.contains("restart: dead: actor-died"),
        "every call fails at once: {out}"
    );
    let out = scenario("retry");
    assert!(
        out.contains("retry: crashing call retried on the restarted actor: 1"),
        "{out}"
    );
}

#[test]
fn kill_fails_running_and_queued_calls_and_limits_restart_runaway_actors() {
    let out = scenario("kill");
    assert!(
        out.contains("kill: running: actor-died: task `Counter.slow`"),
        "{out}"
    );
    assert!(
        out.contains("kill: 5 queued calls: actor-died (killed)"),
        "{out}"
    );
    assert!(out.contains("kill: later call: actor-died"), "{out}");
    let out = scenario("loop");
    assert!(
        out.contains("loop: spin: actor-died") && out.contains("exceeded its time limit of 0.3 s"),
        "{out}"
    );
    assert!(out.contains("loop: restarted: 1"), "{out}");
    let out = scenario("memory");
    assert!(out.contains("exceeded its memory quota of 64 MiB"), "{out}");
    assert!(out.contains("memory: restarted: 1"), "{out}");
}

/// A job of the actors program on `rt`; its log once it ended.
fn job(rt: &Arc<Runtime>, args: &[&str]) -> String {
    let bytes = std::fs::read(guests::ACTORS).unwrap();
    let id = rt
        .submit_job(
            "actors",
            &bytes,
            args.iter().map(|a| a.to_string()).collect(),
            None,
        )
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while rt.job(id).unwrap().status == JobStatus::Running {
        assert!(std::time::Instant::now() < deadline, "job {args:?} hung");
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = String::from_utf8_lossy(&rt.job_log(id, 0, usize::MAX).unwrap().bytes).into_owned();
    assert_eq!(rt.job(id).unwrap().status, JobStatus::Succeeded, "{log}");
    log
}

#[test]
fn an_actor_ends_with_its_job_and_a_detached_one_outlives_it_until_killed() {
    let rt = Arc::new(
        Runtime::new(
            Config::builder()
                .cache_dir(Some(test_cache()))
                .num_cpus(2.0)
                .build(),
        )
        .unwrap(),
    );
    // An ordinary actor: gone once its job has ended, its resources back.
    job(&rt, &["state"]);
    assert!(rt.wait_idle(Duration::from_secs(30)));
    assert!(
        rt.actors().iter().all(|a| a.state == ActorState::Dead),
        "{:?}",
        rt.actors()
    );
    // A detached one: found by another job, alive until killed.
    let out = job(&rt, &["detached", "keeper"]);
    assert!(out.contains("detached: created keeper: 42"), "{out}");
    let alive = || {
        rt.actors().iter().any(|a| {
            a.name.as_deref() == Some("keeper") && a.state == ActorState::Alive && a.job.is_none()
        })
    };
    assert!(alive(), "{:?}", rt.actors());
    let out = job(&rt, &["detached-find", "keeper"]);
    assert!(
        out.contains("detached: found keeper: 43"),
        "the state lived on: {out}"
    );
    let out = job(&rt, &["detached-kill", "keeper"]);
    assert!(
        out.contains("detached: killed keeper: invalid-argument"),
        "{out}"
    );
    assert!(!alive());
    // Everything the actors held is back in the pool.
    assert!(rt.wait_idle(Duration::from_secs(30)));
    let (total, available) = rt.resources();
    assert_eq!(total, available);
    assert_eq!(rt.stats().tasks.instances, 0);
}
