//! The lab tasks and the examples, end to end through the CLI.

use crate::{field, guests, raylab, run_ok, show, stats};

#[test]
fn task1_squares_match_and_parallel_work_overlaps() {
    let out = run_ok(&[
        "run",
        guests::TASK1,
        "--num-cpus",
        "2",
        "--",
        "--n",
        "6",
        "--work-ms",
        "200",
    ]);
    assert_eq!(field(&out, "sequential results:"), "[0, 1, 4, 9, 16, 25]");
    assert_eq!(field(&out, "parallel results:"), "[0, 1, 4, 9, 16, 25]");
    assert_eq!(out.matches("results equal: yes").count(), 2, "{out}");
    // 6 calls of 200 ms on 2 CPUs: sequential >= 1.2 s; parallel runs them
    // two at a time (>= 600 ms). Bounds, not timings: the exact figures
    // live in the benchmark.
    let times = |key: &str| -> Vec<f64> {
        out.lines()
            .filter_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().trim_end_matches(" ms").parse().unwrap())
            .collect()
    };
    let (seq, par) = (times("sequential time:"), times("parallel time:"));
    assert!(seq[1] >= 1200.0, "{out}");
    assert!(par[1] >= 600.0 && par[1] < seq[1], "{out}");
}

#[test]
fn task2_parallel_equals_sequential_on_the_full_million() {
    let out = raylab(&[
        "run",
        guests::TASK2,
        "--stats",
        "--json",
        "--",
        "--chunks",
        "5",
        "--per-element",
        "300",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Task 2: 1000000 random numbers"),
        "{stdout}"
    );
    assert!(stdout.contains("(5 chunk tasks)"), "{stdout}");
    assert!(stdout.contains("results equal: yes"), "{stdout}");
    assert!(
        stdout.contains("one task per element: 300 tasks"),
        "{stdout}"
    );
    let s = stats(&out);
    assert_eq!(s["submitted"], 305);
    assert_eq!(s["failed"], 0);
    assert_eq!(
        s["objects"]["objects"], 0,
        "every object freed at the end: {s}"
    );
}

#[test]
fn task2_checksum_depends_only_on_the_seed() {
    let a = run_ok(&[
        "run",
        guests::TASK2,
        "--",
        "--n",
        "20000",
        "--chunks",
        "3",
        "--no-sequential",
    ]);
    let b = run_ok(&[
        "run",
        guests::TASK2,
        "--num-cpus",
        "1",
        "--",
        "--n",
        "20000",
        "--chunks",
        "7",
        "--no-sequential",
    ]);
    let c = run_ok(&[
        "run",
        guests::TASK2,
        "--",
        "--n",
        "20000",
        "--seed",
        "7",
        "--no-sequential",
    ]);
    assert_eq!(field(&a, "checksum:"), field(&b, "checksum:"));
    assert_ne!(field(&a, "checksum:"), field(&c, "checksum:"));
}

#[test]
fn task2_fast_math_agrees_with_wasi_libc() {
    // The SDK's sin_cos and ln against wasi-libc's, over millions of inputs
    // and the special values, and its SIMD form against its scalar form.
    let out = run_ok(&["run", guests::MATH]);
    assert_eq!(
        field(&out, "simd:"),
        "true",
        "guests are built with simd128"
    );
    for f in ["sin:", "cos:", "ln:"] {
        let ulps: u64 = field(&out, f)
            .strip_prefix("max ")
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{out}"));
        assert!(ulps <= 1, "{f} {ulps} ulp from wasi-libc\n{out}");
    }
    assert_eq!(field(&out, "F64x2 lanes differing from scalar:"), "0");

    // Task 2 itself, on both: the same checksum.
    let args = |extra: &'static [&'static str]| {
        let mut a = vec!["run", guests::TASK2, "--", "--n", "50001", "--chunks", "3"];
        a.extend_from_slice(extra);
        run_ok(&a)
    };
    let fast = args(&[]);
    let std = args(&["--std-math"]);
    assert!(
        fast.contains("math: raylab_guest::math (SIMD, 2 lanes)"),
        "{fast}"
    );
    assert!(std.contains("math: wasi-libc"), "{std}");
    assert!(fast.contains("results equal: yes") && std.contains("results equal: yes"));
    let (a, b): (f64, f64) = (
        field(&fast, "checksum:").parse().unwrap(),
        field(&std, "checksum:").parse().unwrap(),
    );
    assert!((a - b).abs() <= 1e-9 * a.abs(), "{a} vs {b}");
}

#[test]
fn chunked_sum_example_reads_slices_and_matches_native_math() {
    let out = run_ok(&["run", guests::CHUNKED_SUM, "--", "100001", "3"]);
    assert_eq!(field(&out, "chunks:"), "3");
    assert!(
        field(&out, "sequential:").ends_with("(equal: yes)"),
        "{out}"
    );
    // The same sum natively, with the host's libm.
    let native: f64 = (0..100_001)
        .map(|i| (i % 200_000) as f64 * 0.001 - 100.0)
        .map(|x: f64| x.sin() * x.cos() + (1.0 + x * x).ln())
        .sum();
    let guest: f64 = field(&out, "sum:").parse().unwrap();
    assert!(
        (guest - native).abs() <= 1e-9 * native.abs(),
        "{guest} vs native {native}"
    );
}

#[test]
fn word_count_example_counts_words_with_map_and_reduce_tasks() {
    let out = run_ok(&["run", guests::WORD_COUNT, "--", "a b a", "b c", "a"]);
    assert_eq!(out, "a: 3\nb: 2\nc: 1\n");
}

#[test]
fn plugins_are_callable_by_name() {
    let plugin = format!("stats={}", guests::STATS_PLUGIN);
    let out = run_ok(&[
        "run",
        guests::STATS_CLIENT,
        "--plugin",
        &plugin,
        "--",
        "2",
        "4",
        "6",
    ]);
    assert_eq!(out.trim(), "mean=4 variance=2.6666666666666665");
    // The plugin's own error reaches the driver, which exits non-zero.
    let out = raylab(&[
        "run",
        guests::STATS_CLIENT,
        "--plugin",
        &plugin,
        "--",
        "nan-not-a-number",
    ]);
    assert!(!out.status.success(), "{}", show(&out));
}

#[test]
fn plugin_name_defaults_to_the_file_stem() {
    let out = raylab(&[
        "run",
        guests::STATS_CLIENT,
        "--plugin",
        guests::STATS_PLUGIN,
    ]);
    // Loaded as `stats_plugin`, so `stats/mean` is not found: a clear error.
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no module named `stats` is loaded"),
        "{}",
        show(&out)
    );
    assert!(stderr.contains("stats_plugin"), "{}", show(&out));
}

#[test]
fn the_readme_quickstart_prints_what_the_readme_says() {
    let out = run_ok(&["run", guests::QUICKSTART]);
    assert_eq!(out, "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\n3\n");
}

#[test]
fn task4_linfa_matches_scikit_learn_on_its_folds() {
    let out = raylab(&["run", guests::TASK4, "--stats", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("fold sizes: [30, 30, 30, 30, 30] (a partition of 150 samples)"),
        "{stdout}"
    );
    // linfa's logistic regression, fold by fold, beside scikit-learn's.
    for (fold, acc) in [
        (0, "1.0000"),
        (1, "1.0000"),
        (2, "0.9333"),
        (3, "0.9667"),
        (4, "0.9667"),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{fold} ")))
            .expect("fold line");
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            (cols[1], cols[2]),
            (acc, acc),
            "linfa vs sklearn on fold {fold}: {line}"
        );
    }
    assert!(
        stdout.contains("mean accuracy: 0.9733 ± 0.0249"),
        "{stdout}"
    );
    assert!(stdout.contains("same scores: yes"), "{stdout}");
    // The dataset is stored once: one put, then one result per fold task.
    let s = stats(&out);
    assert_eq!(s["submitted"], 5, "{s}");
    assert_eq!(
        s["objects"]["created"], 6,
        "one dataset object + five results: {s}"
    );
    assert_eq!(s["objects"]["objects"], 0, "{s}");
}

#[test]
fn task4_seeded_folds_and_model_search() {
    let a = run_ok(&["run", guests::TASK4, "--", "--seed", "7", "--no-sequential"]);
    let b = run_ok(&["run", guests::TASK4, "--", "--seed", "7", "--no-sequential"]);
    assert!(a.contains("random folds (seed 7)"), "{a}");
    assert!(a.contains("(a partition of 150 samples)"), "{a}");
    assert_eq!(field(&a, "mean accuracy:"), field(&b, "mean accuracy:"));
    let out = run_ok(&["run", guests::TASK4, "--", "--search", "--no-sequential"]);
    assert!(out.contains("9 models x 5 folds = 45 tasks"), "{out}");
    let ranks: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()) && l.contains('('))
        .collect();
    assert_eq!(ranks.len(), 9, "{out}");
    // Every run ranks (and scores) the same: hash maps, which linfa-trees
    // breaks ties with, are seeded per job, not per sandbox.
    let again = run_ok(&["run", guests::TASK4, "--", "--search", "--no-sequential"]);
    let ranks_again: Vec<&str> = again
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()) && l.contains('('))
        .collect();
    assert_eq!(ranks, ranks_again, "{out}\n{again}");
    let tree = run_ok(&["run", guests::TASK4, "--", "--model", "tree"]);
    assert!(tree.contains("sequential time:"), "{tree}");
    for family in ["logistic(", "tree(", "naive_bayes("] {
        assert!(
            ranks.iter().any(|l| l.contains(family)),
            "{family} ranked: {out}"
        );
    }
    // The fold tasks also reported to a leaderboard actor, which agrees.
    assert!(
        out.contains("leaderboard actor: 45 reports, top 3:"),
        "{out}"
    );
    assert!(
        out.contains("leaderboard agrees with the ranking: yes"),
        "{out}"
    );
    let out = run_ok(&[
        "run",
        guests::TASK4,
        "--",
        "--synthetic",
        "600",
        "--model",
        "nb",
        "--no-sequential",
    ]);
    assert!(out.contains("synthetic: 600 samples"), "{out}");
}

#[test]
fn task4_bad_hyperparameter_is_an_error_naming_it() {
    let out = raylab(&[
        "run",
        guests::TASK4,
        "--",
        "--model",
        "tree",
        "--param",
        "max_depth=0",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid hyperparameter max_depth=0"),
        "{}",
        show(&out)
    );
    assert!(
        stderr.contains("task `evaluate`"),
        "the failing task is named: {}",
        show(&out)
    );
}

#[test]
fn parameter_server_example_trains_with_an_actor_and_matches_sequential() {
    let out = run_ok(&["run", guests::PARAMETER_SERVER, "--num-cpus", "2"]);
    assert!(out.contains("matches sequential: yes"), "{out}");
    let parallel = field(&out, "final loss:");
    let sequential = field(&out, "sequential: final loss")
        .split_whitespace()
        .next()
        .unwrap();
    assert_eq!(parallel, sequential, "{out}");
}
