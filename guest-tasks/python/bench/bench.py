"""The Python side of `raylab-host bench`: each mode prints one
``result: <number>`` line.

* ``latency N``: N times submit one no-op task and get it; us per round trip.
* ``throughput N``: submit N no-op tasks, then get them all; tasks/s.
"""

import sys
import time

import raylab


@raylab.remote
def noop():
    return None


def main():
    mode, n = sys.argv[1], int(sys.argv[2])
    if mode == "latency":
        for _ in range(20):
            raylab.get(noop.remote())
        start = time.perf_counter()
        for _ in range(n):
            raylab.get(noop.remote())
        result = (time.perf_counter() - start) * 1e6 / n
    elif mode == "throughput":
        raylab.get([noop.remote() for _ in range(20)])
        start = time.perf_counter()
        raylab.get([noop.remote() for _ in range(n)])
        result = n / (time.perf_counter() - start)
    else:
        sys.exit("unknown mode " + mode)
    print("result: %s" % result)


if __name__ == "__main__":
    main()
