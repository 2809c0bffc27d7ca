//! The GPU broker on a real wgpu device: lavapipe (Mesa's software Vulkan,
//! installed by scripts/setup.sh) where the machine has no GPU.

use crate::{guests, raylab, run_ok, show};

fn overlap(out: &str, round: usize) -> usize {
    out.lines()
        .filter_map(|l| l.strip_prefix("most tasks at once on one GPU: "))
        .nth(round)
        .unwrap_or_else(|| panic!("no overlap line {round} in {out}"))
        .parse()
        .unwrap()
}

#[test]
fn task3_queues_gpu_tasks_and_checks_results() {
    // Tasks long enough (tens of ms each) that the two halves' overlap does
    // not depend on how fast the second one is scheduled.
    let out = run_ok(&["run", guests::TASK3, "--", "--size", "64", "--repeat", "8"]);
    assert!(
        out.contains("Task 3: GPU resource scheduling (1 GPUs in the cluster)"),
        "{out}"
    );
    assert_eq!(
        out.matches("results checked against the CPU: yes").count(),
        2,
        "{out}"
    );
    // num_gpus = 1: three tasks on one GPU run one at a time...
    assert!(out.contains("num_gpus = 1: 3 tasks"), "{out}");
    assert_eq!(overlap(&out, 0), 1, "{out}");
    // ...num_gpus = 0.5: two tasks share it.
    assert_eq!(overlap(&out, 1), 2, "{out}");
}

#[test]
fn logical_gpus_get_their_own_queues() {
    let out = run_ok(&[
        "run",
        guests::TASK3,
        "--num-gpus",
        "2",
        "--",
        "--size",
        "16",
        "--repeat",
        "1",
        "--tasks",
        "6",
    ]);
    assert!(out.contains("(2 GPUs in the cluster)"), "{out}");
    assert!(
        out.contains(" [0] ") && out.contains(" [1] "),
        "both GPU ids used: {out}"
    );
    assert_eq!(overlap(&out, 0), 1, "{out}");
}

#[test]
fn gpu_errors_are_values() {
    let out = run_ok(&["run", guests::GPU_ERRORS]);
    assert!(out.starts_with("ok: ok [2.0, 4.0, 6.0, 8.0]\n"), "{out}");
    assert!(out.contains("bad-shader: InvalidShader: error: no definition in scope for identifier: `undefined_thing`"), "{out}");
    assert!(
        out.contains("wgsl:4:15"),
        "the validator's line and column: {out}"
    );
    assert!(
        out.contains("bad-entry: InvalidShader:") && out.contains("'nope'"),
        "{out}"
    );
    assert!(
        out.contains("mismatch: BindingMismatch:") && out.contains("binding 3"),
        "{out}"
    );
    assert!(
        out.contains("over-quota: OverQuota: buffers of 1073741824 bytes exceed"),
        "{out}"
    );
    assert!(
        out.contains("no-gpu: NoGpu: task `without_gpu` holds no GPU"),
        "{out}"
    );
    // The device still works after all that.
    assert!(
        out.matches("ok: ok [2.0, 4.0, 6.0, 8.0]").count() == 2,
        "{out}"
    );
}

#[test]
fn no_adapter_makes_gpu_tasks_infeasible_and_cpu_tasks_run() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_raylab-host"))
        .args([
            "run",
            guests::GPU_ERRORS,
            "--gpu-backend",
            "vulkan",
            "--no-cache",
        ])
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("infeasible: task `on_gpu`: demands 1 GPU but the node has 0 GPU in total"),
        "{stdout}"
    );
    assert!(
        stdout.contains("cpu task: NoGpu: task `without_gpu` holds no GPU"),
        "{stdout}"
    );
}

#[test]
fn gpus_lists_the_adapters() {
    let out = raylab(&["gpus", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &list[0];
    assert_eq!(first["id"], 0, "{list}");
    assert!(
        first["name"].as_str().is_some_and(|n| !n.is_empty()),
        "{list}"
    );
    assert!(
        first["backend"].is_string() && first["device_type"].is_string(),
        "{list}"
    );
    // Software adapters (llvmpipe: device type Cpu) say so; refused, only
    // the hardware ones are left (none on a machine without a GPU).
    let all = list.as_array().unwrap();
    for d in all {
        assert_eq!(d["software"], d["device_type"] == "Cpu", "{list}");
    }
    let out = raylab(&["gpus", "--json", "--software-gpus", "no"]);
    assert!(out.status.success(), "{}", show(&out));
    let hardware: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|d| d["software"] == false)
            .map(|d| d["name"].to_string())
            .collect()
    };
    assert_eq!(
        hardware.as_array().unwrap().len(),
        names(&list).len(),
        "{hardware}"
    );
    assert_eq!(names(&hardware), names(&list));
    let text = raylab(&["gpus"]);
    if all.iter().any(|d| d["software"] == true) {
        assert!(
            String::from_utf8_lossy(&text.stdout).contains("software: shaders run on the CPU"),
            "{}",
            show(&text)
        );
    }
}

#[test]
fn mesa_stays_quiet_without_a_runtime_directory() {
    // Service managers and containers often leave XDG_RUNTIME_DIR unset;
    // Mesa then complains on every probe. raylab-host points it at a
    // private directory of its own instead.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_raylab-host"))
        .args(["gpus"])
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
}
