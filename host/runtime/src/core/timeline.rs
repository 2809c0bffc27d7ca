//! The task timeline: one slice per finished task (spanning its attempts,
//! whose number it carries), on the lane of the worker thread that started
//! it, exported as Chrome trace events
//! (loadable in Perfetto or chrome://tracing). Bounded: the oldest events
//! are dropped past `CAPACITY`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::Instant;

use crate::core::ids::JobId;

/// Most events kept.
pub(crate) const CAPACITY: usize = 100_000;

#[derive(Debug, Clone)]
struct Event {
    name: String,
    job: JobId,
    task: u64,
    lane: u32,
    start_us: u64,
    dur_us: u64,
    state: &'static str,
    /// The attempts it took (a slice spans them all).
    attempts: u32,
}

/// Recorded task slices.
#[derive(Debug)]
pub(crate) struct Timeline {
    origin: Instant,
    /// `origin` in microseconds since the Unix epoch: the timelines of
    /// several nodes line up on it.
    unix_origin_us: u64,
    /// Lock order: before `named`; after nothing.
    events: Mutex<VecDeque<Event>>,
    /// Lock order: a leaf.
    lanes: Mutex<HashMap<ThreadId, u32>>,
    /// Lanes of their own (an actor's), by number, with their names.
    /// Lock order: a leaf (after `events`).
    named: Mutex<HashMap<u32, String>>,
}

/// The first number of a named lane (worker lanes count from 0).
const NAMED_LANES: u32 = 1000;

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            origin: Instant::now(),
            unix_origin_us: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64),
            events: Mutex::new(VecDeque::new()),
            lanes: Mutex::new(HashMap::new()),
            named: Mutex::new(HashMap::new()),
        }
    }
}

impl Timeline {
    /// Microseconds since the node started.
    pub(crate) fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    /// The lane of the calling thread (workers numbered in order of first use).
    pub(crate) fn lane(&self) -> u32 {
        let mut lanes = self.lanes.lock().expect("lock");
        let n = lanes.len() as u32;
        *lanes.entry(std::thread::current().id()).or_insert(n)
    }

    /// A lane of its own, shown as `name` (an actor's, for its method
    /// calls).
    pub(crate) fn named_lane(&self, name: String) -> u32 {
        let mut named = self.named.lock().expect("lock");
        let lane = NAMED_LANES + named.len() as u32;
        named.insert(lane, name);
        lane
    }

    /// Record a finished task's slice, which took `attempts` attempts.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &self,
        name: &str,
        job: JobId,
        task: u64,
        lane: u32,
        start_us: u64,
        state: &'static str,
        attempts: u32,
    ) {
        let dur_us = self.now_us().saturating_sub(start_us);
        let mut events = self.events.lock().expect("lock");
        if events.len() >= CAPACITY {
            events.pop_front();
        }
        events.push_back(Event {
            name: name.to_string(),
            job,
            task,
            lane,
            start_us,
            dur_us,
            state,
            attempts,
        });
    }

    /// Chrome trace events, of one job or of all.
    pub(crate) fn chrome_trace(&self, job: Option<JobId>) -> serde_json::Value {
        let out = self.chrome_events(1, 0, |j| job.is_none_or(|want| want == j).then_some(j));
        serde_json::json!({ "traceEvents": out, "displayTimeUnit": "ms" })
    }

    /// When this timeline's clock started, in microseconds since the Unix
    /// epoch.
    pub(crate) fn unix_origin_us(&self) -> u64 {
        self.unix_origin_us
    }

    /// The slices of the jobs `select` keeps (it maps a job id to the id
    /// shown), as Chrome trace events of process `pid` with times moved by
    /// `shift_us`, and the names of their lanes.
    pub(crate) fn chrome_events(
        &self,
        pid: u16,
        shift_us: i64,
        select: impl Fn(JobId) -> Option<JobId>,
    ) -> Vec<serde_json::Value> {
        let events = self.events.lock().expect("lock");
        let mut lanes = std::collections::BTreeSet::new();
        let mut out: Vec<serde_json::Value> = events
            .iter()
            .filter_map(|e| select(e.job).map(|job| (e, job)))
            .map(|(e, job)| {
                lanes.insert(e.lane);
                serde_json::json!({
                    "name": e.name, "cat": "task", "ph": "X",
                    "ts": (e.start_us as i64 + shift_us).max(0), "dur": e.dur_us,
                    "pid": pid, "tid": e.lane,
                    "args": { "state": e.state, "job": job, "task_id": e.task, "attempts": e.attempts },
                })
            })
            .collect();
        let named = self.named.lock().expect("lock");
        for lane in lanes {
            let name = named
                .get(&lane)
                .cloned()
                .unwrap_or_else(|| format!("worker {lane}"));
            out.push(serde_json::json!({
                "name": "thread_name", "ph": "M", "pid": pid, "tid": lane, "args": { "name": name },
            }));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_chrome_trace_events() {
        let t = Timeline::default();
        let lane = t.lane();
        let start = t.now_us();
        t.record("square", JobId::new(0), 7, lane, start, "finished", 1);
        t.record("other", JobId::new(2), 8, lane, start, "failed", 1);
        let all = t.chrome_trace(None);
        let events = all["traceEvents"].as_array().unwrap();
        assert_eq!(events.iter().filter(|e| e["ph"] == "X").count(), 2);
        assert_eq!(events[0]["name"], "square");
        assert_eq!(events[0]["args"]["task_id"], 7);
        let job2 = t.chrome_trace(Some(JobId::new(2)));
        assert_eq!(
            job2["traceEvents"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["ph"] == "X")
                .count(),
            1
        );
    }
}
