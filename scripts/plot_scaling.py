"""Draw bench's scaling figures (`bench --filter scaling --json`) as one PNG.

Four panels: throughput by worker threads for each task size, the per-task
overhead that implies (core time beyond the task's own work), the sync
round trip, and task2's parallel time beside its sequential time divided by
the threads (the ideal).
"""
import json
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WORK_US = {"empty": 0, "1 ms": 1_000, "10 ms": 10_000}


def main(src, dst):
    with open(src) as f:
        bench = json.load(f)
    rate, trip, task2, seq = {}, {}, {}, {}
    for fig in bench["figures"]:
        name, value = fig["name"], fig["value"]
        if m := re.fullmatch(r"scaling: (.+) tasks, (\d) cpu", name):
            rate[(m[1], int(m[2]))] = value
        elif m := re.fullmatch(r"scaling: sync round trip, (\d) cpu", name):
            trip[int(m[1])] = value
        elif m := re.fullmatch(r"scaling: task2 parallel, (\d) cpu", name):
            task2[int(m[1])] = value
            seq[int(m[1])] = float(re.search(r"\(([\d.]+) ms\)", fig["note"])[1])
    if not rate:
        sys.exit(f"{src} has no scaling figures (bench --filter scaling --json)")
    cpus = sorted({c for _, c in rate})
    fig, ax = plt.subplots(2, 2, figsize=(11, 8))
    fig.suptitle(f"raylab scaling on {bench['machine']} (median of {bench['runs']} runs)")

    a = ax[0][0]
    for what in WORK_US:
        a.plot(cpus, [rate.get((what, c)) for c in cpus], "o-", label=f"{what} tasks")
    a.set_yscale("log")
    a.set_title("throughput (fresh sandbox per task)")
    a.set_xlabel("worker threads (--num-cpus)")
    a.set_ylabel("tasks/s")
    a.set_xticks(cpus)
    a.legend()

    a = ax[0][1]
    for c in cpus:
        over = [c * 1e6 / rate[(w, c)] - us for w, us in WORK_US.items() if (w, c) in rate]
        a.plot(list(WORK_US), over, "o-", label=f"{c} worker thread{'s' if c > 1 else ''}")
    a.set_title("overhead per task (core time beyond its work)")
    a.set_xlabel("work in each task")
    a.set_ylabel("µs per task")
    a.legend()

    a = ax[1][0]
    a.plot(cpus, [trip.get(c) for c in cpus], "o-", color="tab:purple")
    a.set_title("sync round trip (submit, run, get)")
    a.set_xlabel("worker threads (--num-cpus)")
    a.set_ylabel("µs")
    a.set_xticks(cpus)
    a.set_ylim(bottom=0)

    a = ax[1][1]
    a.plot(cpus, [task2.get(c) for c in cpus], "o-", label="parallel (chunk tasks)")
    a.plot(cpus, [seq[c] / c for c in cpus if c in seq], "o--", label="sequential / threads (ideal)")
    a.set_title("task2 (1M elements)")
    a.set_xlabel("worker threads (--num-cpus)")
    a.set_ylabel("ms")
    a.set_xticks(cpus)
    a.set_ylim(bottom=0)
    a.legend()

    fig.tight_layout()
    fig.savefig(dst, dpi=100)
    print(f"wrote {dst}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
