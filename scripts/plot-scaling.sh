#!/usr/bin/env bash
# Plot how raylab scales (BENCHMARKS.md "Scaling"): runs
# `raylab-host bench --filter scaling --json` (unless given its output) and
# draws docs/scaling.png with matplotlib, installed into a virtual
# environment of its own under target/ (no global pip).
#
#   scripts/plot-scaling.sh [BENCH_JSON] [OUT_PNG]
set -euo pipefail
cd "$(dirname "$0")/.."
json="${1:-target/bench-scaling.json}"
out="${2:-docs/scaling.png}"
if [ ! -f "$json" ]; then
    cargo build --release -p raylab-host
    cargo build --release --target wasm32-wasip2 --manifest-path guest-tasks/Cargo.toml
    ./target/release/raylab-host bench --filter scaling --runs 5 --json > "$json"
fi
venv=target/plot-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet matplotlib
fi
"$venv/bin/python" scripts/plot_scaling.py "$json" "$out"
