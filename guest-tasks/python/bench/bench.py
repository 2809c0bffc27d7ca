"""The Python side of `raylab-host bench`: each mode prints one
``result: <number>`` line.

* ``latency N``: N times submit one no-op task and get it; us per round
  trip. The function travels by value (stored once, rebuilt in each fresh
  instance).
* ``latency-by-name N``: the same round trip through a call that rebuilds
  no function (raylab's own item-picking call, dispatched by name): what
  shipping the function by value adds is the difference.
* ``throughput N``: submit N no-op tasks, then get them all; tasks/s.
"""

import sys
import time

import raylab


@raylab.remote
def noop():
    return None


def by_name():
    """A call dispatched by its name alone (see the module's docs)."""
    from raylab import _msgpack

    value = raylab.put((None,))
    data = bytearray()
    _msgpack.array_header(data, 2)
    _msgpack.ref(data, value._raylab_id)
    _msgpack.encode_into(data, 0)
    data = bytes(data)
    options = raylab._task_options({})

    def call(keep=value):
        # `keep`: the tuple's ref lives as long as the calls need it.
        return raylab.ObjectRef(raylab._call(raylab._rt.submit, "noop.0", data, options))

    return call


def main():
    mode, n = sys.argv[1], int(sys.argv[2])
    if mode in ("latency", "latency-by-name"):
        submit = noop.remote if mode == "latency" else by_name()
        for _ in range(20):
            raylab.get(submit())
        start = time.perf_counter()
        for _ in range(n):
            raylab.get(submit())
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
