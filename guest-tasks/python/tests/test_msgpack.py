"""The Python SDK's MessagePack codec, natively (python3 -m unittest):
every type at every size boundary, refs, and bad input."""

import os
import struct
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from raylab import _msgpack as mp  # noqa: E402


class Ref:
    def __init__(self, i):
        self._raylab_id = i


class Codec(unittest.TestCase):
    def roundtrip(self, v):
        self.assertEqual(mp.decode(mp.encode(v)), v)

    def test_ints_at_every_boundary(self):
        for v in [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1,
                  -1, -32, -33, -128, -129, -32768, -32769, -2**31, -2**31 - 1, -2**63]:
            self.roundtrip(v)
        self.assertEqual(mp.encode(5), b"\x05")
        self.assertEqual(mp.encode(-1), b"\xff")
        self.assertEqual(mp.encode(200), b"\xcc\xc8")
        with self.assertRaises(mp.EncodeError):
            mp.encode(2**64)
        with self.assertRaises(mp.EncodeError):
            mp.encode(-2**63 - 1)

    def test_strings_bytes_and_containers(self):
        for n in [0, 31, 32, 255, 256, 65535, 65536]:
            self.roundtrip("x" * n)
            self.roundtrip(b"y" * n)
        for n in [0, 15, 16, 65535, 65536]:
            self.roundtrip(list(range(n)))
        for n in [0, 15, 16, 70000]:
            self.roundtrip({str(i): i for i in range(n)})
        self.roundtrip([None, True, False, 1.5, -0.0, "é€😀", {"a": [1, {"b": None}]}])
        self.assertEqual(mp.decode(mp.encode((1, 2))), [1, 2])
        self.assertEqual(mp.decode(mp.encode(bytearray(b"ab"))), b"ab")

    def test_the_wire_format_matches_the_contract(self):
        # What rmp-serde (the Rust SDK) writes for the same values.
        self.assertEqual(mp.encode([1, "a", 2.0]), b"\x93\x01\xa1a\xcb" + struct.pack(">d", 2.0))
        self.assertEqual(mp.encode(None), b"\xc0")
        self.assertEqual(mp.decode(b"\xca" + struct.pack(">f", 1.5)), 1.5)

    def test_refs_are_ext_82_and_listed(self):
        refs = []
        b = mp.encode([Ref(7), {"r": Ref(2**40 + 1)}], refs)
        self.assertEqual(b[:4], b"\x92\xd7\x52\x00")
        self.assertEqual(refs, [7, 2**40 + 1])
        self.assertEqual(mp.decode(b), [7, {"r": 2**40 + 1}])
        made = mp.decode(b, lambda i: ("ref", i))
        self.assertEqual(made[0], ("ref", 7))

    def test_packed_number_vectors_from_rust_decode_as_lists(self):
        # What the Rust SDK writes for Vec<f64>, Vec<i64>, ...: ext of the
        # struct code, the elements little-endian (fixext for 8 bytes).
        self.assertEqual(mp.decode(b"\xd7d" + struct.pack("<d", 1.5)), [1.5])
        xs = list(range(-500, 500))
        payload = struct.pack("<%dq" % len(xs), *xs)
        self.assertEqual(mp.decode(b"\xc8\x1f\x40q" + payload), xs)
        for code, vals in [("f", [0.5, -2.0]), ("Q", [2**64 - 1]), ("i", [-2**31, 7]),
                           ("I", [2**32 - 1]), ("h", [-3]), ("H", [65535, 1, 2]), ("b", [-128])]:
            payload = struct.pack("<%d%s" % (len(vals), code), *vals)
            head = b"\xc7" + bytes([len(payload)]) + code.encode()
            self.assertEqual(mp.decode(head + payload), vals, code)
        self.assertEqual(mp.decode(b"\xc7\x00d"), [])
        # Inside other values, too.
        self.assertEqual(mp.decode(b"\x92\x01\xd6i" + struct.pack("<i", 9)), [1, [9]])
        with self.assertRaises(mp.DecodeError):
            mp.decode(b"\xc7\x03d\x00\x00\x00")

    def test_bad_input_is_a_clear_error(self):
        with self.assertRaises(mp.EncodeError) as e:
            mp.encode(object())
        self.assertIn("cannot send a object", str(e.exception))
        for bad in [b"", b"\x92\x01", b"\xc1", b"\xda\x00\x05ab", b"\x01\x02", b"\xd4\x01\x00"]:
            with self.assertRaises((mp.DecodeError,)):
                mp.decode(bad)

    def test_subclasses_of_builtins_encode_as_their_base(self):
        import enum

        class Color(enum.IntEnum):
            RED = 3

        self.assertEqual(mp.decode(mp.encode([Color.RED, True])), [3, True])


if __name__ == "__main__":
    unittest.main()
