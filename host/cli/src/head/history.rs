//! The head's own history, for the dashboard's charts: one sample a second
//! of the last 15 minutes, kept in memory (no database, nothing to set up).
//! What is in use is looked at every [`EVERY`] and averaged over the
//! second (short tasks would slip between once-a-second looks):
//! resources in use (CPU, GPU, memory) and their totals, the object store's
//! bytes (in memory and spilled) against its capacity, tasks finished and
//! failed per second, and the queue (tasks waiting for arguments or
//! resources) beside those running.
//!
//! In a cluster, CPU, GPU and memory are the sums over the live nodes (as
//! their last heartbeats say, every 0.5 s; this node's own figures are
//! taken as they are now); the object store and the task counts are this
//! node's (the head runs the drivers, which own the jobs' objects).
//!
//! `GET /api/history` returns it column by column (one array per series,
//! `t` in seconds since the Unix epoch), the shape uPlot draws directly.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use raylab::Runtime;

/// Samples kept: 15 minutes at one a second.
pub(super) const SAMPLES: usize = 15 * 60;

/// How often the head looks.
pub(super) const EVERY: Duration = Duration::from_millis(100);

/// Looks per sample.
const LOOKS: u32 = 10;

/// One sample.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    t: f64,
    cpu_used: f64,
    cpu_total: f64,
    gpu_used: f64,
    gpu_total: f64,
    memory_used: f64,
    memory_total: f64,
    store_bytes: f64,
    spilled_bytes: f64,
    store_capacity: f64,
    finished_per_s: f64,
    failed_per_s: f64,
    queued: f64,
    running: f64,
}

/// The last [`SAMPLES`] samples, and the second being looked at.
#[derive(Debug, Default)]
pub(super) struct History(Mutex<State>);

#[derive(Debug, Default)]
struct State {
    samples: VecDeque<Sample>,
    /// The task counters (finished, failed) and time of the last sample.
    last: Option<(u64, u64, f64)>,
    /// Looks so far this second, and what is in use summed over them.
    looks: u32,
    sum: Sample,
}

fn unix_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl History {
    /// Look at `rt` now; every [`LOOKS`] looks make a sample.
    pub(super) fn look(&self, rt: &Runtime) {
        let (now, finished, failed) = measure(rt);
        let mut st = self.0.lock().unwrap_or_else(|p| p.into_inner());
        st.looks += 1;
        st.sum.cpu_used += now.cpu_used;
        st.sum.gpu_used += now.gpu_used;
        st.sum.memory_used += now.memory_used;
        st.sum.queued += now.queued;
        st.sum.running += now.running;
        if st.looks < LOOKS {
            return;
        }
        let (k, sum) = (f64::from(st.looks), std::mem::take(&mut st.sum));
        st.looks = 0;
        let mut s = Sample {
            cpu_used: sum.cpu_used / k,
            gpu_used: sum.gpu_used / k,
            memory_used: sum.memory_used / k,
            queued: sum.queued / k,
            running: sum.running / k,
            ..now
        };
        if let Some((f, e, at)) = st.last.filter(|l| s.t > l.2) {
            s.finished_per_s = finished.saturating_sub(f) as f64 / (s.t - at);
            s.failed_per_s = failed.saturating_sub(e) as f64 / (s.t - at);
        }
        st.last = Some((finished, failed, s.t));
        if st.samples.len() == SAMPLES {
            st.samples.pop_front();
        }
        st.samples.push_back(s);
    }

    /// The samples, column by column.
    pub(super) fn columns(&self) -> crate::api::History {
        let st = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let samples = &st.samples;
        let col = |f: fn(&Sample) -> f64| samples.iter().map(f).collect::<Vec<f64>>();
        crate::api::History {
            t: col(|s| s.t),
            cpu_used: col(|s| s.cpu_used),
            cpu_total: col(|s| s.cpu_total),
            gpu_used: col(|s| s.gpu_used),
            gpu_total: col(|s| s.gpu_total),
            memory_used: col(|s| s.memory_used),
            memory_total: col(|s| s.memory_total),
            store_bytes: col(|s| s.store_bytes),
            spilled_bytes: col(|s| s.spilled_bytes),
            store_capacity: col(|s| s.store_capacity),
            finished_per_s: col(|s| s.finished_per_s),
            failed_per_s: col(|s| s.failed_per_s),
            queued: col(|s| s.queued),
            running: col(|s| s.running),
        }
    }
}

/// What `rt` holds now (rates left at zero), and its task counters
/// (finished, failed).
fn measure(rt: &Runtime) -> (Sample, u64, u64) {
    let t = unix_s();
    let stats = rt.stats();
    let (mut total, mut available) = rt.resources();
    // The other live nodes, from their heartbeats.
    for n in rt.nodes().into_iter().filter(|n| n.alive && !n.this) {
        for (list, of) in [(&mut total, &n.total), (&mut available, &n.available)] {
            for (name, v) in of {
                match list.iter_mut().find(|(k, _)| k == name) {
                    Some((_, x)) => *x += v,
                    None => list.push((name.clone(), *v)),
                }
            }
        }
    }
    let get = |list: &[(String, f64)], name: &str| {
        list.iter()
            .find(|(n, _)| n == name)
            .map_or(0.0, |(_, v)| *v)
    };
    let used = |name: &str| get(&total, name) - get(&available, name);
    let sample = Sample {
        t,
        cpu_used: used("CPU"),
        cpu_total: get(&total, "CPU"),
        gpu_used: used("GPU"),
        gpu_total: get(&total, "GPU"),
        memory_used: used("memory"),
        memory_total: get(&total, "memory"),
        store_bytes: stats.objects.bytes as f64,
        spilled_bytes: stats.objects.spill.bytes as f64,
        store_capacity: stats.objects.capacity as f64,
        queued: (stats.tasks.waiting_for_args + stats.tasks.waiting_for_resources) as f64,
        running: stats.tasks.running as f64,
        ..Sample::default()
    };
    (sample, stats.finished, stats.failed)
}
