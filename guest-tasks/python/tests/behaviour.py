"""What the integration tests check of the Python SDK, one ``key=value``
line each (run by host/cli/tests/all/python.rs)."""

import argparse
import sys

import raylab


@raylab.remote
def square(x):
    return x * x


@raylab.remote
def total(xs):
    return sum(xs)


@raylab.remote
def first_of(refs):
    # Nested refs arrive as refs: the task gets them itself.
    return raylab.get(refs[0])


@raylab.remote
def fails(x):
    raise ValueError("bad input %d" % x)


@raylab.remote
def make_ref(x):
    # A ref in a result outlives this task's sandbox.
    return raylab.put(x * 10)


@raylab.remote(num_cpus=0.5, resources={"token": 1})
def where():
    c = raylab.get_context()
    return [c.node, c.resources.get("CPU"), c.resources.get("token")]


@raylab.remote
class Counter:
    """An actor: its state lives in its own sandbox between calls."""

    def __init__(self, start):
        self.n = start

    def add(self, k):
        self.n += k
        return self.n

    def fail(self):
        raise KeyError("no such key")


def main():
    print("args=" + ",".join(sys.argv[1:]))
    print("squares=%s" % raylab.get([square.remote(i) for i in range(5)]))
    data = raylab.put([1, 2, 3, 4])
    print("dependency=%d" % raylab.get(total.remote(data)))
    print("nested=%s" % raylab.get(first_of.remote([data])))
    values = [None, True, -5, 2**40, -(2**63), 1.5, "é" * 40, b"\x00\xff" * 200, [1, [2]], {"a": {"b": 1}}]
    print("roundtrip=%s" % (raylab.get(raylab.put(values)) == [*values[:8], [1, [2]], {"a": {"b": 1}}]))
    ready, pending = raylab.wait([square.remote(2), square.remote(3)], num_returns=2, timeout=30)
    print("wait=%d,%d" % (len(ready), len(pending)))
    try:
        raylab.get(fails.remote(7))
    except raylab.TaskError as e:
        print("error=%s %s" % (e.kind, e.message.strip().splitlines()[-1]))
    inner = raylab.get(make_ref.remote(4))
    print("ref_in_result=%d" % raylab.get(inner))
    print("options=%s" % raylab.get(where.options(name="where-am-i").remote()))
    try:
        square(3)
    except TypeError as e:
        print("direct_call=refused")
    parser = argparse.ArgumentParser(prog="behaviour")
    parser.add_argument("--x", type=int)
    print("argparse=%d" % parser.parse_args(["--x", "3"]).x)

    counter = Counter.options(name="counter").remote(10)
    adds = [counter.add.remote(k) for k in (1, 2, 3)]
    print("actor=%s" % raylab.get(adds))
    same = raylab.get_actor("counter")
    print("actor_by_name=%d" % raylab.get(same.add.remote(100)))
    try:
        raylab.get(counter.fail.remote())
    except raylab.TaskError as e:
        print("actor_error=%s %s" % (e.kind, e.message.strip().splitlines()[-1]))
    raylab.kill(counter)
    try:
        print("killed=still alive: %s" % raylab.get(counter.add.remote(1)))
    except raylab.TaskError as e:
        print("killed=%s" % e.kind)
    if "--fail" in sys.argv:
        raise RuntimeError("the driver failed on purpose")


if __name__ == "__main__":
    main()
