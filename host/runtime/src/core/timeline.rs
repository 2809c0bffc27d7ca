//! The task timeline: one slice per finished task (spanning its attempts,
//! whose number it carries), on the lane of the worker thread that started
//! it, exported as Chrome trace events
//! (loadable in Perfetto or chrome://tracing). Bounded: the oldest events
//! are dropped past `CAPACITY`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::Instant;

use crate::ids::JobId;

/// Most events kept.
pub(crate) const CAPACITY: usize = 100_000;

#[derive(Debug, Clone)]
struct Event {
    /// Shared with the task's record (no copy per task).
    name: std::sync::Arc<str>,
    job: JobId,
    task: u64,
    lane: u32,
    start_us: u64,
    dur_us: u64,
    state: &'static str,
    /// The attempts it took (a slice spans them all).
    attempts: u32,
}

/// A Chrome trace (loadable in Perfetto or chrome://tracing): what
/// [`Runtime::timeline`](crate::Runtime::timeline) returns. Serialized with
/// serde, it is Chrome's JSON trace format.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Trace {
    /// The events.
    #[serde(rename = "traceEvents")]
    pub events: Vec<TraceEvent>,
    /// How a viewer shows times (`ms`).
    #[serde(rename = "displayTimeUnit")]
    pub display_time_unit: String,
}

impl Trace {
    fn of(events: Vec<TraceEvent>) -> Trace {
        Trace {
            events,
            display_time_unit: "ms".into(),
        }
    }

    /// Its task slices.
    pub fn slices(&self) -> impl Iterator<Item = &Slice> {
        self.events.iter().filter_map(|e| match e {
            TraceEvent::Slice(s) => Some(s),
            TraceEvent::Meta(_) => None,
        })
    }
}

/// An event of a [`Trace`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "ph")]
pub enum TraceEvent {
    /// A finished task (a "complete" event).
    #[serde(rename = "X")]
    Slice(Slice),
    /// A name or a sort index for a lane or a process (a "metadata" event).
    #[serde(rename = "M")]
    Meta(Meta),
}

/// A finished task in a [`Trace`]: one slice spanning its attempts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Slice {
    /// The task's name.
    pub name: String,
    /// Always `task`.
    pub cat: String,
    /// When it started, µs on the trace's clock.
    pub ts: i64,
    /// How long it took, µs.
    pub dur: u64,
    /// The process: the node's id (1 outside a cluster).
    pub pid: u16,
    /// The lane: the worker thread that started it, or an actor's.
    pub tid: u32,
    /// What it was.
    pub args: SliceArgs,
}

/// What a [`Slice`] was.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SliceArgs {
    /// How it ended (`finished`, `failed`, `cancelled`, ...).
    pub state: String,
    /// Its job.
    pub job: JobId,
    /// Its task id on the node that ran it.
    pub task_id: u64,
    /// The attempts it took.
    pub attempts: u32,
}

/// A metadata event of a [`Trace`]: `thread_name` (a lane's name),
/// `process_name` (a node's), `process_sort_index`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    /// Which metadata.
    pub name: String,
    /// The process.
    pub pid: u16,
    /// The lane (for `thread_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<u32>,
    /// The value.
    pub args: MetaArgs,
}

/// The value of a [`Meta`] event.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetaArgs {
    /// A name (`thread_name`, `process_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A sort index (`process_sort_index`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_index: Option<u16>,
}

impl TraceEvent {
    /// A node's name, for process `pid`.
    pub(crate) fn process_name(pid: u16, name: String) -> TraceEvent {
        TraceEvent::Meta(Meta {
            name: "process_name".into(),
            pid,
            tid: None,
            args: MetaArgs {
                name: Some(name),
                sort_index: None,
            },
        })
    }

    /// Process `pid`'s place among the processes.
    pub(crate) fn process_sort_index(pid: u16) -> TraceEvent {
        TraceEvent::Meta(Meta {
            name: "process_sort_index".into(),
            pid,
            tid: None,
            args: MetaArgs {
                name: None,
                sort_index: Some(pid),
            },
        })
    }
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
    /// This timeline among the process's (see [`Timeline::lane`]).
    serial: u64,
    /// Lanes of their own (an actor's), by number, with their names.
    /// Lock order: a leaf (after `events`).
    named: Mutex<HashMap<u32, String>>,
}

/// Serial numbers of timelines, for the lane each thread caches.
static NEXT_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

thread_local! {
    /// The calling thread's lane in the timeline with this serial number
    /// (a task asks once per task: a lock and a map look-up saved).
    static LANE: std::cell::Cell<(u64, u32)> = const { std::cell::Cell::new((0, 0)) };
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
            serial: NEXT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
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
        let (serial, lane) = LANE.get();
        if serial == self.serial {
            return lane;
        }
        let lane = {
            let mut lanes = self.lanes.lock().expect("lock");
            let n = lanes.len() as u32;
            *lanes.entry(std::thread::current().id()).or_insert(n)
        };
        LANE.set((self.serial, lane));
        lane
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
        name: impl Into<std::sync::Arc<str>>,
        job: JobId,
        task: u64,
        lane: u32,
        start_us: u64,
        state: &'static str,
        attempts: u32,
    ) {
        let dur_us = self.now_us().saturating_sub(start_us);
        // Made before the lock (a name given as `&str` is copied here).
        let name = name.into();
        let mut events = self.events.lock().expect("lock");
        if events.len() >= CAPACITY {
            events.pop_front();
        } else if events.capacity() == 0 {
            // The whole bound at once, on first use: only the pages events
            // are written to become resident, and the ring never grows by
            // doubling (each doubling copied every event into fresh memory,
            // on a worker finishing a task: measured, 4% of the CPU time
            // of a node running no-op tasks).
            events.reserve_exact(CAPACITY);
        }
        events.push_back(Event {
            name,
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
    pub(crate) fn chrome_trace(&self, job: Option<JobId>) -> Trace {
        Trace::of(self.chrome_events(1, 0, |j| job.is_none_or(|want| want == j).then_some(j)))
    }

    /// A trace of `events`.
    pub(crate) fn trace_of(events: Vec<TraceEvent>) -> Trace {
        Trace::of(events)
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
    ) -> Vec<TraceEvent> {
        let events = self.events.lock().expect("lock");
        let mut lanes = std::collections::BTreeSet::new();
        let mut out: Vec<TraceEvent> = events
            .iter()
            .filter_map(|e| select(e.job).map(|job| (e, job)))
            .map(|(e, job)| {
                lanes.insert(e.lane);
                TraceEvent::Slice(Slice {
                    name: e.name.to_string(),
                    cat: "task".into(),
                    ts: (e.start_us as i64 + shift_us).max(0),
                    dur: e.dur_us,
                    pid,
                    tid: e.lane,
                    args: SliceArgs {
                        state: e.state.into(),
                        job,
                        task_id: e.task,
                        attempts: e.attempts,
                    },
                })
            })
            .collect();
        let named = self.named.lock().expect("lock");
        for lane in lanes {
            let name = named
                .get(&lane)
                .cloned()
                .unwrap_or_else(|| format!("worker {lane}"));
            out.push(TraceEvent::Meta(Meta {
                name: "thread_name".into(),
                pid,
                tid: Some(lane),
                args: MetaArgs {
                    name: Some(name),
                    sort_index: None,
                },
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
        let slices: Vec<&Slice> = all.slices().collect();
        assert_eq!(slices.len(), 2);
        assert_eq!(slices[0].name, "square");
        assert_eq!(slices[0].args.task_id, 7);
        // Chrome's format: `ph` tags the kind; the lane has its name.
        let json = serde_json::to_value(&all).unwrap();
        assert_eq!(json["traceEvents"][0]["ph"], "X");
        assert_eq!(json["traceEvents"][0]["args"]["task_id"], 7);
        assert_eq!(json["traceEvents"][2]["ph"], "M");
        assert_eq!(json["traceEvents"][2]["name"], "thread_name");
        assert_eq!(json["displayTimeUnit"], "ms");
        let back: Trace = serde_json::from_value(json).unwrap();
        assert_eq!(back, all);
        let job2 = t.chrome_trace(Some(JobId::new(2)));
        assert_eq!(job2.slices().count(), 1);
    }

    #[test]
    fn the_event_ring_is_reserved_once_and_bounded() {
        let t = Timeline::default();
        let lane = t.lane();
        t.record("t", JobId::new(0), 0, lane, 0, "finished", 1);
        let reserved = t.events.lock().unwrap().capacity();
        assert!(reserved >= CAPACITY);
        for id in 1..(CAPACITY as u64 + 5) {
            t.record("t", JobId::new(0), id, lane, 0, "finished", 1);
        }
        let events = t.events.lock().unwrap();
        assert_eq!(events.len(), CAPACITY);
        assert_eq!(
            events.front().map(|e| e.task),
            Some(5),
            "the oldest dropped"
        );
        assert_eq!(events.capacity(), reserved, "never grown");
    }
}
