#!/usr/bin/env bash
# Set everything up on a fresh machine and run the lab: build raylab-host and
# the lab's guest tasks, then run each task.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo build --release --locked -p raylab-host
cargo build --release --target wasm32-wasip2 --manifest-path guest-tasks/Cargo.toml

host=./target/release/raylab-host
tasks=guest-tasks/target/wasm32-wasip2/release

echo
echo "== Task 1: basic parallel execution =="
"$host" run "$tasks/task1.wasm"
echo
echo "== Task 2: 1,000,000 elements in parallel =="
"$host" run "$tasks/task2.wasm" -- --per-element 10000
echo
echo "== Task 3: GPU resource scheduling with real GPU compute =="
"$host" gpus
"$host" run "$tasks/task3.wasm"
echo
echo "== Task 4: parallel 5-fold cross-validation (linfa) =="
"$host" run "$tasks/task4.wasm"
echo
echo "== Task 4 beyond the lab: parallel model search =="
"$host" run "$tasks/task4.wasm" -- --search
echo
echo "== The lab in Python: Task 1 (built with componentize-py, cached) =="
"$host" run guest-tasks/python/lab/task1.py
echo
echo "== Task 4 with a Python driver calling the Rust linfa folds by name =="
"$host" run guest-tasks/python/lab/task4.py --plugin "task4=$tasks/task4.wasm"
