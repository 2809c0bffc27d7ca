#!/usr/bin/env bash
# Set everything up on a fresh machine and run the lab: build raylab-host and
# the lab's guest tasks, then run each task.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo build --release --locked -p raylab-host
cargo build --release --target wasm32-wasip2 --manifest-path guest-tasks/Cargo.toml

# The lab's steps live in the binary (`raylab-host lab`, which an installed
# raylab-host also runs from anywhere); here it runs the guests just built.
./target/release/raylab-host lab --guests guest-tasks/target/wasm32-wasip2/release
