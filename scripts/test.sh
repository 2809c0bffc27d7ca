#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: install what the tests need,
# then build (host + guest components from source) and test in one profile.
set -euo pipefail
cd "$(dirname "$0")/.."

# Guests are WebAssembly components built for wasm32-wasip2 by
# host/test-programs/build.rs; GPU tests run on lavapipe (software Vulkan)
# where there is no GPU; the dashboard test drives headless Chromium.
./scripts/setup.sh --with-browser
# Mesa wants a private runtime directory (mktemp -d makes it 0700).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

# Gates: formatting, lints and docs, before the tests.
cargo fmt --all --check
cargo fmt --manifest-path guest-tasks/Cargo.toml --all --check
cargo fmt --manifest-path examples/Cargo.toml --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
for guests in guest-tasks examples; do
    cargo clippy --manifest-path "$guests/Cargo.toml" --target wasm32-wasip2 --workspace \
        --all-targets --locked -- -D warnings
done
RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --locked -p raylab -p raylab-host
# The guest SDK is ready to publish (and `raylab-host new` extracts the same
# files): it packs, and the packed crate builds on its own.
cargo package --locked --allow-dirty --manifest-path guest-tasks/Cargo.toml -p raylab-guest -p raylab-guest-macros

cargo test --workspace --locked
# The runtime builds, and its unit tests pass, without its optional parts
# (the `gpu` feature's broker on wgpu, the `cluster` feature's NATS).
cargo test --locked -p raylab --no-default-features --lib
# The guest SDK's and the lab helpers' own tests run natively (their pure
# parts: codecs, refs, options, math, flags, generators).
cargo test --locked --manifest-path guest-tasks/Cargo.toml -p raylab-guest -p raylab-labkit
# The Python SDK's codecs, natively, with the Python that setup.sh installed
# beside componentize-py (it has cloudpickle); the SDK itself runs in the
# integration tests, in raylab's Python runtime.
"${XDG_DATA_HOME:-$HOME/.local/share}/raylab/python/bin/python3" \
    -m unittest discover -s guest-tasks/python/tests -p "test_*.py"
