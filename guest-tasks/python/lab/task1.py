"""The lab's Task 1 in Python: a plain function that squares a number,
called sequentially and then as parallel remote tasks, with both results
checked equal and both timings printed. A second round gives each call
some simulated work (a sleep, as in the Ray lab) so that the parallel
speedup shows.

    raylab-host run guest-tasks/python/lab/task1.py -- [--n N] [--work-ms MS]
"""

import argparse
import time

import raylab


def square(x):
    return x * x


@raylab.remote
def square_remote(x):
    return x * x


@raylab.remote
def slow_square(x, work_ms):
    time.sleep(work_ms / 1000)
    return x * x


def main():
    parser = argparse.ArgumentParser(prog="task1.py")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--work-ms", type=int, default=100)
    args = parser.parse_args()
    raylab.init()
    cpus = raylab.cluster_resources().get("CPU", 0)
    print(f"Task 1 (Python): square numbers sequentially and as parallel remote tasks ({cpus:g} CPUs)")

    numbers = list(range(args.n))
    start = time.perf_counter()
    sequential = [square(x) for x in numbers]
    seq_ms = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    parallel = raylab.get([square_remote.remote(x) for x in numbers])
    par_ms = (time.perf_counter() - start) * 1e3
    print("sequential results:", sequential)
    print("parallel results:  ", parallel)
    print("results equal:", "yes" if sequential == parallel else "NO")
    print(f"sequential time: {seq_ms:.3f} ms")
    print(f"parallel time:   {par_ms:.3f} ms")

    if args.work_ms > 0:
        print(f"\nWith {args.work_ms} ms of simulated work per call:")
        start = time.perf_counter()
        sequential = []
        for x in numbers:
            time.sleep(args.work_ms / 1000)
            sequential.append(square(x))
        seq_ms = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        parallel = raylab.get([slow_square.remote(x, args.work_ms) for x in numbers])
        par_ms = (time.perf_counter() - start) * 1e3
        print("results equal:", "yes" if sequential == parallel else "NO")
        print(f"sequential time: {seq_ms:.1f} ms")
        print(f"parallel time:   {par_ms:.1f} ms")
        print(f"speedup: {seq_ms / par_ms:.2f}x")
    raylab.shutdown()


if __name__ == "__main__":
    main()
