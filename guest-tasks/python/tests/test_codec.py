"""Python values across tasks, natively (python3 -m unittest, with
cloudpickle): the pickle envelope keeps Python types and names every
reference where the host sees it; calls carry keyword arguments and
num_returns; functions travel by value."""

import dataclasses
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from raylab import _codec, _msgpack  # noqa: E402


class FakeRuntime:
    """Counts retains and releases as the host would."""

    def __init__(self):
        self.counts = {}

    def retain(self, id):
        self.counts[id] = self.counts.get(id, 0) + 1

    def release(self, id):
        self.counts[id] = self.counts.get(id, 0) - 1


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Codec(unittest.TestCase):
    def setUp(self):
        self.rt = FakeRuntime()
        _codec._rt = self.rt

    def tearDown(self):
        _codec._rt = None

    def roundtrip(self, v):
        ids = []
        data = _codec.encode(v, ids)
        return _codec.decode(data), ids, data

    def test_plain_scalars_stay_messagepack(self):
        for v in [None, True, 0, -1, 2**63, -(2**63), 1.5, "é", b"\x00"]:
            back, ids, data = self.roundtrip(v)
            self.assertEqual(back, v)
            self.assertIs(type(back), type(v))
            self.assertEqual(data, _msgpack.encode(v), "another language reads it as it is")

    def test_python_types_survive(self):
        values = [
            (1, 2),
            {1, 2},
            frozenset({3}),
            {(1, 2): "t", 3: [4]},
            Point(1, 2),
            2**100,
            [(1,), {"a": (2, 3)}],
            ValueError("bad", 7),
        ]
        for v in values:
            back, ids, data = self.roundtrip(v)
            self.assertIs(type(back), type(v))
            if isinstance(v, Exception):
                self.assertEqual(back.args, v.args)
            else:
                self.assertEqual(back, v)
            self.assertEqual(ids, [])

    def test_refs_inside_a_value_are_named_for_the_host(self):
        a, b = _codec.ObjectRef(11), _codec.ObjectRef(12)
        ids = []
        data = _codec.encode({"x": (a, b, a)}, ids)
        self.assertEqual(ids, [11, 12], "each ref once")
        self.assertIn(b"\xd7\x52" + (11).to_bytes(8, "big"), data)
        back = _codec.decode(data)
        x = back["x"]
        self.assertEqual([r._raylab_id for r in x], [11, 12, 11])
        self.assertIs(x[0], x[2], "one ref object for one id")
        self.assertEqual(self.rt.counts, {11: 1, 12: 1}, "a decoded ref owns its count")

    def test_functions_and_lambdas_travel_by_value(self):
        k = 5

        def add_k(x):
            return x + k

        back, _, _ = self.roundtrip((add_k, lambda y: y * 2, sorted))
        self.assertEqual(back[0](1), 6)
        self.assertEqual(back[1](4), 8)
        self.assertIs(back[2], sorted)

    def test_a_call_carries_keywords_and_num_returns(self):
        target = _codec.ObjectRef(7)
        data = _codec.encode_call(target, (1, (2, 3)), {"k": {4}}, 2)
        # The target and a top-level ref argument are dependencies the host
        # resolves: give the task their values as the host would.
        arr = _msgpack.decode(data, lambda i: ("REF", i))
        self.assertEqual(arr[0], ("REF", 7))
        self.assertEqual(arr[1], {"kw": ["k"], "returns": 2})
        fn_value = _codec.encode(("bundle", abs))
        resolved = bytearray()
        _msgpack.array_header(resolved, len(arr))
        resolved += fn_value
        resolved += data[1 + 10 :]  # after the array header and the target ref
        target, args, kwargs, returns = _codec.decode_call(bytes(resolved), True)
        self.assertEqual(target, ("bundle", abs))
        self.assertEqual(args, [1, (2, 3)])
        self.assertEqual(kwargs, {"k": {4}})
        self.assertEqual(returns, 2)

    def test_what_cannot_be_pickled_says_so(self):
        import threading

        with self.assertRaises(_msgpack.EncodeError) as e:
            _codec.encode(threading.Lock())
        self.assertIn("cannot send a lock to another task", str(e.exception))

    def test_a_registered_serializer_sends_what_it_makes(self):
        import threading

        from raylab.util import deregister_serializer, register_serializer

        class Locked:
            def __init__(self, name):
                self.name, self.lock = name, threading.Lock()

        register_serializer(Locked, serializer=lambda o: o.name, deserializer=lambda n: Locked(n + "!"))
        try:
            back, _, _ = self.roundtrip([Locked("a"), {"k": Locked("b")}])
            self.assertEqual([back[0].name, back[1]["k"].name], ["a!", "b!"])
        finally:
            deregister_serializer(Locked)
        with self.assertRaises(_msgpack.EncodeError):
            _codec.encode(Locked("c"))
        deregister_serializer(Locked)  # Again: nothing happens.

    def test_inspect_serializability_finds_the_culprit(self):
        import io
        import threading

        from raylab.util import inspect_serializability

        lock = threading.Lock()

        def uses():
            return lock

        out = io.StringIO()
        ok, failures = inspect_serializability(uses, print_file=out)
        self.assertFalse(ok)
        self.assertEqual([f.name for f in failures], ["lock"])
        self.assertIn("Detected 1 nonlocal variables. Checking serializability...", out.getvalue())
        self.assertEqual(inspect_serializability([1, "x"], print_file=io.StringIO()), (True, set()))


if __name__ == "__main__":
    unittest.main()
