#!/usr/bin/env bash
# The real-GPU check of task3 and the GPU broker, for a session that is lent
# a machine with a GPU (the `device` tool; see BENCHMARKS.md, "GPU").
#
# That machine is bare and offline, and device time is short (minutes), so
# everything is prepared here and the device runs one prepared step:
#
#   scripts/device-gpu.sh prepare   # here: release build, stripped binary,
#                                   # task3.wasm and the Vulkan loader .debs
#                                   # into .device/ (git-ignored)
#   device run, carry [".device"], command:
#     bash scripts/device-gpu.sh run
#
# `run` unpacks the loader, points it at the NVIDIA driver's ICD when the
# machine has no loader configuration of its own, and writes to $OUT:
# nvidia-smi.csv, gpus.json, task3.txt (the lab's Task 3, default and a
# larger size) and bench-gpu.txt (`raylab-host bench --filter gpu`).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.device

case "${1:-}" in
prepare)
    cargo build --release --locked -p raylab-host
    cargo build --release --target wasm32-wasip2 --manifest-path guest-tasks/Cargo.toml -p task1 -p task2 -p task3 -p task4 -p bench
    rm -rf "$dir" && mkdir -p "$dir/debs" "$dir/guests"
    strip -o "$dir/raylab-host" target/release/raylab-host
    cp guest-tasks/target/wasm32-wasip2/release/task3.wasm "$dir/"
    for g in bench task1 task2 task3 task4; do cp "guest-tasks/target/wasm32-wasip2/release/$g.wasm" "$dir/guests/"; done
    # The Vulkan loader and GLVND: the NVIDIA driver there brings its own
    # ICD (libGLX_nvidia.so.0), which finds no adapter without GLVND's
    # libraries (seen on an H200 machine: `gpus` listed nothing).
    lists=$(mktemp -d)
    mkdir -p "$lists/partial"
    opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
    apt-get "${opts[@]}" update >/dev/null
    (cd "$dir/debs" && apt-get "${opts[@]}" download libvulkan1 libglvnd0 libglx0 libegl1 libgl1 libopengl0 libgles2)
    du -sh "$dir"
    ;;
run)
    : "${OUT:?run this on the device machine, where OUT is set}"
    for f in "$dir"/debs/*.deb; do dpkg -x "$f" /; done
    ldconfig
    icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    if [ -f "$icd" ] && [ -z "${VK_DRIVER_FILES:-}" ] && ! ls /usr/share/vulkan/icd.d/*nvidia* >/dev/null 2>&1; then
        export VK_DRIVER_FILES=$icd
    fi
    export XDG_RUNTIME_DIR=$(mktemp -d)
    host=$dir/raylab-host
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$OUT/nvidia-smi.csv" 2>&1 || true
    "$host" gpus --json | tee "$OUT/gpus.json"
    {
        "$host" run "$dir/task3.wasm"
        "$host" run "$dir/task3.wasm" -- --size 512
    } 2>&1 | tee "$OUT/task3.txt"
    "$host" bench --filter gpu --runs 7 --guests "$dir/guests" 2>&1 | tee "$OUT/bench-gpu.txt"
    ;;
*)
    echo "usage: $0 prepare|run" >&2
    exit 2
    ;;
esac
