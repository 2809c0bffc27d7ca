//! The task runtime's own figures: task throughput and round trips (fresh
//! and warm sandboxes), actor calls, start-up with and without the compile
//! cache, and an idle node's memory.

use super::{Bench, BenchArgs, Better, Figure};

/// Tasks a second, fresh sandbox and warm instance.
pub(super) fn throughput(
    b: &Bench,
    args: &BenchArgs,
    add: &mut impl FnMut(Figure),
) -> anyhow::Result<()> {
    let tasks = args.tasks.to_string();
    for (name, iso, target) in [
        ("throughput, fresh sandbox", "fresh", 100_000.0),
        ("throughput, warm instance", "warm", 500_000.0),
    ] {
        let v = b.guest(&["--isolation", iso], &["throughput", &tasks])?;
        add(Figure {
            name,
            value: v,
            unit: "tasks/s",
            better: Better::Higher,
            target: Some(target),
            ray: Some("1.5-2.1 k/s"),
            note: format!("{:.0}x Ray's 2.1 k/s", v / 2_100.0),
        });
    }
    // The same batch run a second time in one process: what a
    // long-running node sees once its tables and memory have grown
    // (the first batch of a new process also pays for first touches of
    // that memory; see BENCHMARKS.md).
    let v = b.guest(&["--isolation", "warm"], &["throughput-steady", &tasks])?;
    add(Figure {
        name: "throughput, warm instance, second batch",
        value: v,
        unit: "tasks/s",
        better: Better::Higher,
        target: None,
        ray: Some("1.5-2.1 k/s"),
        note: "a batch run after one of the same size, same process".into(),
    });
    Ok(())
}

/// A task submitted and waited for, one at a time.
pub(super) fn round_trip(
    b: &Bench,
    args: &BenchArgs,
    add: &mut impl FnMut(Figure),
) -> anyhow::Result<()> {
    let trips = args.round_trips.to_string();
    for (name, iso, target) in [
        ("sync round trip, fresh sandbox", "fresh", 30.0),
        ("sync round trip, warm instance", "warm", 10.0),
    ] {
        let v = b.guest(&["--isolation", iso], &["latency", &trips])?;
        add(Figure {
            name,
            value: v,
            unit: "us",
            better: Better::Lower,
            target: Some(target),
            ray: Some("1460 us"),
            note: format!("{:.0}x faster than Ray", 1460.0 / v),
        });
    }
    Ok(())
}

/// Actor method calls: a round trip, and calls a second.
pub(super) fn actor(
    b: &Bench,
    args: &BenchArgs,
    add: &mut impl FnMut(Figure),
) -> anyhow::Result<()> {
    let calls = args.round_trips.to_string();
    let v = b.guest(&[], &["actor-latency", &calls])?;
    add(Figure {
        name: "actor method sync round trip",
        value: v,
        unit: "us",
        better: Better::Lower,
        target: Some(10.0),
        ray: Some("742 us"),
        note: format!("{:.0}x faster than Ray", 742.0 / v),
    });
    let n = args.tasks.to_string();
    for (name, mode, ray, ray_rate) in [
        (
            "actor calls/s, one caller",
            "actor-throughput",
            "3.5 k/s",
            3_517.0,
        ),
        (
            "actor calls/s, 4 callers to one actor",
            "actor-many",
            "3.0 k/s (n:n)",
            3_009.0,
        ),
    ] {
        let v = b.guest(&[], &[mode, &n])?;
        add(Figure {
            name,
            value: v,
            unit: "calls/s",
            better: Better::Higher,
            target: Some(300_000.0),
            ray: Some(ray),
            note: format!("{:.0}x Ray", v / ray_rate),
        });
    }
    Ok(())
}

/// A whole `run` process, with and without the compile cache.
pub(super) fn start(b: &Bench, add: &mut impl FnMut(Figure)) -> anyhow::Result<()> {
    let quick = ["--n", "1", "--work-ms", "0"];
    let cold = b.wall_ms("task1", &["--no-cache"], &quick)?;
    let warm = b.wall_ms("task1", &[], &quick)?;
    add(Figure {
        name: "run task1.wasm to result, no compile cache",
        value: cold,
        unit: "ms",
        better: Better::Lower,
        target: None,
        ray: Some("2600-2900 ms (ray.init)"),
        note: "Cranelift compiles the module".into(),
    });
    add(Figure {
        name: "run task1.wasm to result, warm cache",
        value: warm,
        unit: "ms",
        better: Better::Lower,
        target: Some(50.0),
        ray: Some("2600-2900 ms (ray.init)"),
        note: format!("{:.1}x faster than without the cache", cold / warm),
    });
    Ok(())
}

/// The resident memory of an idle node.
pub(super) fn rss(b: &Bench, add: &mut impl FnMut(Figure)) -> anyhow::Result<()> {
    let v = b.idle_rss()?;
    add(Figure {
        name: "idle RSS of a node",
        value: v,
        unit: "MiB",
        better: Better::Lower,
        target: Some(40.0),
        ray: Some("580 MiB"),
        note: format!("{:.0}x less than Ray", 580.0 / v),
    });
    Ok(())
}
