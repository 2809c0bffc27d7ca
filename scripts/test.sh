#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: install what the tests need,
# then build (host + guest components from source) and test in one profile.
set -euo pipefail
cd "$(dirname "$0")/.."

# Guests are WebAssembly components built for wasm32-wasip2 by host/build.rs.
rustup target add wasm32-wasip2

cargo test --workspace --locked
