//! The lab's tasks: task2's math in and out of the guest against native
//! Rust, each task's whole process, and task4's cross-validation.

use anyhow::bail;

use super::{Bench, BenchArgs, Better, Figure, median, native, parse_after};

/// task2 against native sequential Rust: sequential, parallel, one task
/// per element, without preemption and with wasi-libc's math.
pub(super) fn task2(
    b: &Bench,
    args: &BenchArgs,
    add: &mut impl FnMut(Figure),
) -> anyhow::Result<()> {
    let per = args.per_element.to_string();
    let mut seq = Vec::new();
    let mut par = Vec::new();
    let mut each = Vec::new();
    let mut guest_sum = 0.0;
    // The guest's runs and native ones on the same math in turn: both
    // depend on how much of two cores this machine gives at the moment,
    // which on a shared VM changes by the second.
    let data = native::task2_data();
    let (mut native, mut native_sum, mut threads) = (Vec::new(), 0.0, 1);
    let (mut speedup, mut native_speedup) = (Vec::new(), Vec::new());
    for _ in 0..args.runs {
        let out = b.output("task2", &[], &["--per-element", &per])?;
        let (s, p) = (
            parse_after(&out, "sequential time:")?,
            parse_after(&out, "parallel time:")?,
        );
        seq.push(s);
        par.push(p);
        speedup.push(s / p);
        each.push(parse_after(&out, "per-task time:")?);
        guest_sum = parse_after(&out, "checksum:")?;
        let run = native::task2(&data);
        native.push(run.seq);
        native_speedup.push(run.seq / run.par);
        (native_sum, threads) = (run.checksum, run.threads);
    }
    let native = median(native);
    let (seq, par, each) = (median(seq), median(par), median(each));
    let (speedup, native_speedup) = (median(speedup), median(native_speedup));
    if ((guest_sum - native_sum) / native_sum).abs() > 1e-9 {
        bail!("task2 checksum {guest_sum} differs from the native {native_sum}");
    }
    add(Figure {
        name: "task2 native sequential (baseline)",
        value: native * 1e3,
        unit: "ms",
        better: Better::Lower,
        target: None,
        ray: None,
        note: "1M elements, this process".into(),
    });
    add(Figure {
        name: "task2 sequential inside the guest",
        value: seq * 1e3,
        unit: "ms",
        better: Better::Lower,
        target: None,
        ray: None,
        note: format!("{:.2}x native", seq / native),
    });
    // The cost of preemption (epoch checks compiled into guest code,
    // which time limits and cancel rely on): the same guest run without.
    // And the same math on wasi-libc's sin, cos and ln instead of the
    // SDK's (`raylab_guest::math`).
    let (mut unchecked, mut libc) = (Vec::new(), Vec::new());
    for _ in 0..args.runs {
        let guest = ["--n", "1000000", "--chunks", "1"];
        let out = b.output("task2", &["--no-preemption"], &guest)?;
        unchecked.push(parse_after(&out, "sequential time:")?);
        let out = b.output("task2", &[], &[&guest[..], &["--std-math"]].concat())?;
        libc.push(parse_after(&out, "sequential time:")?);
    }
    let (unchecked, libc) = (median(unchecked), median(libc));
    add(Figure {
        name: "task2 sequential in guest, wasi-libc math",
        value: libc * 1e3,
        unit: "ms",
        better: Better::Lower,
        target: None,
        ray: None,
        note: format!(
            "{:.2}x native; the SDK's math is {:.1}x faster",
            libc / native,
            libc / seq
        ),
    });
    add(Figure {
        name: "task2 sequential in guest, no preemption",
        value: unchecked * 1e3,
        unit: "ms",
        better: Better::Lower,
        target: None,
        ray: None,
        note: format!("preemption costs {:+.1}%", (seq / unchecked - 1.0) * 100.0),
    });
    add(Figure {
        name: "task2 parallel / native sequential",
        value: par / native,
        unit: "x",
        better: Better::Lower,
        target: Some(0.7),
        ray: None,
        note: format!(
            "{:.1} ms parallel vs {:.1} ms native",
            par * 1e3,
            native * 1e3
        ),
    });
    add(Figure {
        name: "task2 speedup, native threads (baseline)",
        value: native_speedup,
        unit: "x",
        better: Better::Higher,
        target: None,
        ray: None,
        note: format!("{threads} threads, same math; what this machine gives now"),
    });
    add(Figure {
        name: "task2 speedup in the guest",
        value: speedup,
        unit: "x",
        better: Better::Higher,
        target: Some(1.8),
        ray: None,
        note: format!(
            "sequential / parallel as task2 prints it; {:.0}% of native threads'",
            speedup / native_speedup * 100.0
        ),
    });
    add(Figure {
        name: "task2 one task per element",
        value: each,
        unit: "us/task",
        better: Better::Lower,
        target: Some(20.0),
        ray: Some("550 us/task"),
        note: format!("{:.0}x less than Ray", 550.0 / each),
    });
    Ok(())
}

/// The lab as a user runs it: each task's whole process.
pub(super) fn lab(b: &Bench, add: &mut impl FnMut(Figure)) -> anyhow::Result<()> {
    // The lab as a user runs it: each task's whole process, from start
    // to exit (warm compile cache), with the lab's own arguments.
    for (module, args, name, note) in [
        (
            "task1",
            &["--work-ms", "0"][..],
            "lab: task1 --work-ms 0, whole process",
            "4 tasks, sequential and parallel, no sleep",
        ),
        (
            "task2",
            &[][..],
            "lab: task2, whole process",
            "1M elements, sequential and parallel",
        ),
        (
            "task4",
            &[][..],
            "lab: task4, whole process",
            "5-fold CV, sequential and parallel",
        ),
    ] {
        let v = b.wall_ms(module, &[], args)?;
        add(Figure {
            name,
            value: v,
            unit: "ms",
            better: Better::Lower,
            target: None,
            ray: Some(">= 2600 ms (ray.init alone)"),
            note: note.into(),
        });
    }
    Ok(())
}

/// task4: end to end, and its fold tasks against the same work in-guest.
pub(super) fn task4(
    b: &Bench,
    args: &BenchArgs,
    add: &mut impl FnMut(Figure),
) -> anyhow::Result<()> {
    let e2e = b.wall_ms("task4", &[], &["--no-sequential"])?;
    let mut par = Vec::new();
    let mut seq = Vec::new();
    for _ in 0..args.runs {
        let out = b.output("task4", &[], &[])?;
        par.push(parse_after(&out, "parallel time:")?);
        seq.push(parse_after(&out, "sequential time:")?);
    }
    let (par, seq) = (median(par), median(seq));
    add(Figure {
        name: "task4 end to end (process start to result)",
        value: e2e,
        unit: "ms",
        better: Better::Lower,
        target: Some(100.0),
        ray: Some("850-1700 ms first, ~100 ms warm"),
        note: "5-fold CV, warm compile cache".into(),
    });
    add(Figure {
        name: "task4 5 fold tasks / same work in-guest",
        value: par / seq,
        unit: "x",
        better: Better::Lower,
        target: None,
        ray: Some("sklearn sequential 50 ms"),
        note: format!("{par:.1} ms parallel vs {seq:.1} ms sequential in the guest"),
    });
    Ok(())
}
