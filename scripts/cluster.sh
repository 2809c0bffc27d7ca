#!/usr/bin/env bash
# A three-node raylab cluster on one machine, running the lab's four tasks:
# three clustered NATS servers (`raylab-host nats`: the cluster's messaging
# and state in three replicas), a head (1 CPU, no GPU), w1 (2 CPUs) and w2
# (2 CPUs, the cluster's only GPU). Tasks the head has no room for spill to the workers,
# Task 3's GPU tasks all run on w2, and the tasks print where they ran.
# Every node is stopped at the end, also on failure.
#
# RAYLAB_HOST=path/to/raylab-host uses that binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
if [ -z "${RAYLAB_HOST:-}" ]; then
    cargo build --release --locked -p raylab-host
fi
cargo build --release --target wasm32-wasip2 --manifest-path guest-tasks/Cargo.toml

host="${RAYLAB_HOST:-./target/release/raylab-host}"
tasks=guest-tasks/target/wasm32-wasip2/release
# The cluster's token: nodes without it are refused by the NATS server.
RAYLAB_CLUSTER_TOKEN="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export RAYLAB_CLUSTER_TOKEN

addresses=()
servers=()
stop_all() {
    # Workers first (they finish what they run for the head), then the head,
    # then the NATS servers.
    for ((i = ${#addresses[@]} - 1; i >= 0; i--)); do
        "$host" stop --address "${addresses[$i]}" >/dev/null 2>&1 || true
    done
    for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$stores"
}
stores="$(mktemp -d)"
trap stop_all EXIT

echo "== Starting three clustered NATS servers =="
base=$((20000 + RANDOM % 20000))
nats=""
for i in 1 2 3; do
    peers=()
    for j in 1 2 3; do
        [ "$j" = "$i" ] || peers+=(--peer "127.0.0.1:$((base + 100 + j))")
    done
    "$host" nats --name "n$i" --port "$((base + i))" --listen "127.0.0.1:$((base + 100 + i))" \
        "${peers[@]}" --store "$stores/n$i" 2>"$stores/n$i.log" &
    servers+=($!)
    nats="$nats${nats:+,}nats://127.0.0.1:$((base + i))"
done
for i in 1 2 3; do
    until (echo >"/dev/tcp/127.0.0.1/$((base + i))") 2>/dev/null; do sleep 0.1; done
done
echo "nats: $nats"

# Start a node in the background; remember its HTTP address and what it
# printed.
printed=""
start() {
    printed="$("$host" start --detach --port 0 "$@")"
    echo "$printed"
    addresses+=("$(sed -n 's/^address: *//p' <<<"$printed")")
}

echo "== Starting a head and two worker nodes =="
start --head --nats "$nats" --node-name head --num-cpus 1 --num-gpus 0
start --address "$nats" --node-name w1 --num-cpus 2 --num-gpus 0
start --address "$nats" --node-name w2 --num-cpus 2 --num-gpus 1
head="${addresses[0]}"
sleep 1
"$host" status --address "$head"

run() {
    echo
    echo "== $1 =="
    shift
    "$host" submit --quiet --address "$head" "$@"
}
run "Task 1: basic parallel execution" "$tasks/task1.wasm"
run "Task 2: 1,000,000 elements in parallel" "$tasks/task2.wasm" -- --per-element 10000
run "Task 3: GPU resource scheduling with real GPU compute" "$tasks/task3.wasm"
run "Task 4: parallel 5-fold cross-validation (linfa)" "$tasks/task4.wasm"
echo
"$host" status --address "$head"
