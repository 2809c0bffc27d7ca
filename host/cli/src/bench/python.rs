//! The Python rows: the Rust guests' measurements, where they exist, on
//! the lab's and the bench's Python programs.

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::bail;

use super::{Bench, BenchArgs, Better, Figure, median, parse_after};

/// `ratio` (Ray's time over raylab's) as words: "N x faster", "N x slower",
/// or "even with Ray" within 5% (where one decimal would print "1.0x").
fn versus_ray(ratio: f64) -> String {
    if (0.95..=1.05).contains(&ratio) {
        format!("even with Ray ({:.0}% of its time)", 100.0 / ratio)
    } else if ratio >= 1.0 {
        format!("{ratio:.1}x faster than Ray")
    } else {
        format!("{:.1}x slower than Ray", 1.0 / ratio)
    }
}

/// The Python rows: the same measurements as the Rust guests' where they
/// exist, on components built from `args.python` (built once, cached).
pub(super) fn python_figures(
    b: &Bench,
    args: &BenchArgs,
    add: &mut impl FnMut(Figure),
) -> anyhow::Result<()> {
    // Programs are data: `run` takes the source; the runtime is built once.
    crate::python::runtime(Some(&b.cache), true)?;
    let python = match &args.python {
        Some(dir) => dir.clone(),
        None => crate::lab::python_dir()?,
    };
    let bench = python.join("bench/bench.py");
    let task1 = python.join("lab/task1.py");
    let task2 = python.join("lab/task2.py");
    let trips = (args.round_trips / 5).max(100).to_string();
    for (name, iso, target) in [
        ("python: sync round trip, fresh sandbox", "fresh", 300.0),
        ("python: sync round trip, warm instance", "warm", 50.0),
    ] {
        let v = b.result_of(&bench, &["--isolation", iso], &["latency", &trips])?;
        add(Figure {
            name,
            value: v,
            unit: "us",
            better: Better::Lower,
            target: Some(target),
            ray: Some("1460 us"),
            note: versus_ray(1460.0 / v),
        });
    }
    // What shipping a function by value adds to a fresh call: the same
    // round trip through a call dispatched by name alone.
    let v = b.result_of(
        &bench,
        &["--isolation", "fresh"],
        &["latency-by-name", &trips],
    )?;
    add(Figure {
        name: "python: sync round trip, fresh, by name (no function to rebuild)",
        value: v,
        unit: "us",
        better: Better::Lower,
        target: None,
        ray: None,
        note: "the by-value row above less this is the function's rebuild".into(),
    });
    let v = b.result_of(&bench, &["--isolation", "fresh"], &["throughput", "10000"])?;
    add(Figure {
        name: "python: 10,000 tiny tasks, fresh sandboxes",
        value: 10_000.0 / v,
        unit: "s",
        better: Better::Lower,
        target: None,
        ray: None,
        note: format!("{v:.0} tasks/s, each in a fresh instance"),
    });
    let n = (args.tasks / 10).max(100).to_string();
    let v = b.result_of(&bench, &["--isolation", "warm"], &["throughput", &n])?;
    add(Figure {
        name: "python: throughput, warm instance",
        value: v,
        unit: "tasks/s",
        better: Better::Higher,
        target: None,
        ray: Some("1.5-2.1 k/s"),
        note: format!("{:.0}x Ray's 2.1 k/s", v / 2_100.0),
    });
    let mut xs = Vec::new();
    for _ in 0..b.runs {
        let start = Instant::now();
        b.output_of(&task1, &["-q"], &["--n", "1", "--work-ms", "0"])?;
        xs.push(start.elapsed().as_secs_f64() * 1e3);
    }
    add(Figure {
        name: "python: run task1.py to result, cached",
        value: median(xs),
        unit: "ms",
        better: Better::Lower,
        target: None,
        ray: Some("2600-2900 ms (ray.init)"),
        note: "component and compiled code from the caches".into(),
    });
    // Edit and rerun: a program is data, so an edited one runs at once.
    let dir = tempfile::tempdir()?;
    let app = dir.path().join("app.py");
    let mut xs = Vec::new();
    for i in 0..=b.runs {
        std::fs::write(
            &app,
            format!(
                "import raylab as ray\n\n@ray.remote\ndef f(x):\n    return x + {i}\n\n\
                 print(ray.get([f.remote(k) for k in range(4)]))\n"
            ),
        )?;
        let start = Instant::now();
        b.output_of(&app, &["-q"], &[])?;
        if i > 0 {
            xs.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    add(Figure {
        name: "python: edit a program and rerun it",
        value: median(xs),
        unit: "ms",
        better: Better::Lower,
        target: Some(1000.0),
        ray: None,
        note: "the whole process: start, run 4 tasks, exit; no build".into(),
    });
    // The first run on a fresh machine: the runtime built and compiled.
    let empty = tempfile::tempdir()?;
    let start = Instant::now();
    let out = Command::new(&b.exe)
        .arg("run")
        .arg("-q")
        .arg(&app)
        .arg("--cache-dir")
        .arg(empty.path())
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!(
            "a first run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    add(Figure {
        name: "python: first run with an empty cache",
        value: start.elapsed().as_secs_f64(),
        unit: "s",
        better: Better::Lower,
        target: None,
        ray: None,
        note: "componentize-py builds the runtime, Cranelift compiles it (once per version)".into(),
    });
    let (mut seq, mut par) = (Vec::new(), Vec::new());
    for _ in 0..b.runs {
        let text = b.output_of(&task2, &["-q"], &["--n", "200000"])?;
        if !text.contains("results equal: yes") {
            bail!("task2.py gave other results: {text}");
        }
        seq.push(parse_after(&text, "sequential time:")?);
        par.push(parse_after(&text, "parallel time:")?);
    }
    let (seq, par) = (median(seq), median(par));
    add(Figure {
        name: "python: task2.py (200k) parallel",
        value: par * 1e3,
        unit: "ms",
        better: Better::Lower,
        target: None,
        ray: None,
        note: format!(
            "{:.2}x its sequential {:.0} ms, pure Python math",
            seq / par,
            seq * 1e3
        ),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::versus_ray;

    #[test]
    fn ratios_against_ray_read_as_words() {
        assert_eq!(versus_ray(32.6), "32.6x faster than Ray");
        assert_eq!(versus_ray(0.5), "2.0x slower than Ray");
        // 1460 us against 1491 us: one decimal would print "1.0x slower".
        assert_eq!(
            versus_ray(1460.0 / 1491.0),
            "even with Ray (102% of its time)"
        );
    }
}
