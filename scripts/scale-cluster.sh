#!/usr/bin/env bash
# Scale of a raylab cluster on one machine (issue 22, item 7): for 1, 2,
# 4, 8 and 16 nodes of one CPU each (a head and N-1 workers on loopback,
# the head's own nats-server), the wall time of Task 4's 5-fold cross-validation
# (`--synthetic 3000`), of its model search (`--search`: 45 fold tasks that
# report to the driver's leaderboard actor from every node) and of Task 2
# with one task per element (`--per-element 2000`), the resident memory of
# each node process, and how the tasks spread over the nodes (from the
# cluster's timeline). Prints a Markdown table, and with PLOT=file.svg
# draws the times against the node count; figures depend on the machine's
# cores (this one has 2: more nodes than cores measure overhead, not
# speedup).
#
# RAYLAB_HOST=path picks the binary (default: target/release/raylab-host);
# RAYLAB_GUESTS=dir the guests (default: guest-tasks/target/wasm32-wasip2/release);
# NODES="1 2 4" the cluster sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
host="${RAYLAB_HOST:-./target/release/raylab-host}"
guests="${RAYLAB_GUESTS:-guest-tasks/target/wasm32-wasip2/release}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
RAYLAB_CLUSTER_TOKEN="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export RAYLAB_CLUSTER_TOKEN
work="$(mktemp -d)"
addresses=()
pids=()
stop_all() {
    for ((i = ${#addresses[@]} - 1; i >= 0; i--)); do
        "$host" stop --address "${addresses[$i]}" >/dev/null 2>&1 || true
    done
    addresses=()
    pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

# Start a node in the background; what it printed goes to $work/printed.
start() {
    "$host" start --detach --port 0 "$@" >"$work/printed"
    addresses+=("$(sed -n 's/^address: *//p' "$work/printed")")
    pids+=("$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' "$work/printed" | head -1)")
}

rss_mib() { awk '/^VmRSS:/ {printf "%.0f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo 0; }

seconds() { # run a job, print its wall time in seconds
    local s e
    s=$(date +%s.%N)
    "$host" submit --quiet --address "${addresses[0]}" "$@" >"$work/job.out" 2>&1 ||
        { cat "$work/job.out" >&2; return 1; }
    e=$(date +%s.%N)
    echo "$e - $s" | bc
}

echo "| nodes | task4, 5 folds (s) | task4 --search, 45 tasks (s) | task2 per element (s) | node RSS, MiB (head; workers min-max) | --search tasks per node (min-max) |"
echo "| --- | --- | --- | --- | --- | --- |"
: >"$work/rows"
for n in ${NODES:-1 2 4 8 16}; do
    start --head --nats-port 0 --node-name head --num-cpus 1 --num-gpus 0
    nats="$(sed -n 's/^cluster: \(nats:[^ ]*\).*/\1/p' "$work/printed")"
    for ((i = 1; i < n; i++)); do
        start --address "$nats" --node-name "w$i" --num-cpus 1 --num-gpus 0
    done
    until [ "$("$host" status --json --address "${addresses[0]}" |
        python3 -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin)["nodes"] if n["alive"]))')" = "$n" ]; do
        sleep 0.2
    done
    t4=$(seconds "$guests/task4.wasm" -- --synthetic 3000 --no-sequential)
    search=$(seconds "$guests/task4.wasm" -- --synthetic 3000 --search --no-sequential)
    grep -q "leaderboard actor: 45 reports" "$work/job.out" ||
        { echo "--search: no leaderboard" >&2; cat "$work/job.out" >&2; exit 1; }
    "$host" timeline --address "${addresses[0]}" --output "$work/t4.json" >/dev/null
    spread=$(python3 - "$work/t4.json" "$n" <<'PY'
import json, sys
from collections import Counter
t = json.load(open(sys.argv[1]))
# The search's fold tasks (`evaluate`, the last job), by node (a process per node).
jobs = [e.get("args", {}).get("job") for e in t["traceEvents"] if e.get("ph") == "X"]
last = max((j for j in jobs if j is not None), default=None)
c = Counter(e["pid"] for e in t["traceEvents"]
            if e.get("ph") == "X" and e.get("args", {}).get("job") == last
            and e.get("name") == "evaluate")
n = int(sys.argv[2])
per = [c.get(p, 0) for p in range(1, n + 1)] if n > 1 else [sum(c.values())]
print(f"{min(per)}-{max(per)}")
PY
)
    t2=$(seconds "$guests/task2.wasm" -- --per-element 2000 --no-sequential)
    head_rss=$(rss_mib "${pids[0]}")
    worker_rss=""
    for ((i = 1; i < ${#pids[@]}; i++)); do worker_rss="$worker_rss $(rss_mib "${pids[$i]}")"; done
    if [ -n "$worker_rss" ]; then
        range=$(tr ' ' '\n' <<<"$worker_rss" | sed '/^$/d' | sort -n | sed -n '1p;$p' | paste -sd-)
    else
        range="-"
    fi
    printf '| %s | %.1f | %.1f | %.1f | %s; %s | %s |\n' "$n" "$t4" "$search" "$t2" "$head_rss" "$range" "$spread"
    echo "$n $t4 $search $t2" >>"$work/rows"
    stop_all
    sleep 1
done
if [ -n "${PLOT:-}" ]; then
    python3 - "$work/rows" "$PLOT" <<'PY'
import sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
series = [("task4, 5 folds", 1, "#1f77b4"), ("task4 --search", 2, "#d62728"),
          ("task2, 2,000 tasks", 3, "#2ca02c")]
W, H, L, B, T, R = 560, 320, 50, 40, 20, 150
xs = [r[0] for r in rows]
ymax = max(max(r[1:]) for r in rows) * 1.15 or 1
xmax = max(xs)
px = lambda x: L + (W - L - R) * (x - 1) / max(xmax - 1, 1)
py = lambda y: H - B - (H - B - T) * y / ymax
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<line x1="{L}" y1="{H-B}" x2="{W-R}" y2="{H-B}" stroke="black"/>',
       f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H-B}" stroke="black"/>',
       f'<text x="{(L+W-R)/2}" y="{H-8}" text-anchor="middle">nodes (1 CPU each, one 2-core machine)</text>',
       f'<text x="12" y="{(T+H-B)/2}" transform="rotate(-90 12 {(T+H-B)/2})" text-anchor="middle">wall time, s</text>']
for x in xs:
    out.append(f'<text x="{px(x):.0f}" y="{H-B+14}" text-anchor="middle">{x:.0f}</text>')
for i in range(5):
    y = ymax * i / 4
    out.append(f'<text x="{L-6}" y="{py(y)+4:.0f}" text-anchor="end">{y:.1f}</text>')
for k, (name, col, color) in enumerate(series):
    pts = " ".join(f"{px(r[0]):.1f},{py(r[col]):.1f}" for r in rows)
    out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
    for r in rows:
        out.append(f'<circle cx="{px(r[0]):.1f}" cy="{py(r[col]):.1f}" r="3" fill="{color}"/>')
    out.append(f'<text x="{W-R+10}" y="{T+16*k+10}" fill="{color}">{name}</text>')
out.append("</svg>")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
    echo "plot: $PLOT"
fi
