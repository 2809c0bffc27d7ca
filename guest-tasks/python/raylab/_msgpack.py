"""MessagePack, the format of every argument list, result and object.

A lean codec written for this one job (CPython in a sandbox has no C
extension to lean on): encoding appends to one ``bytearray`` through
pre-compiled ``struct`` formats, decoding walks one ``memoryview`` with an
index, and each type is one branch found by a dict lookup on the type (for
encoding) or on the first byte (for decoding), not a chain of checks.

An object reference is MessagePack extension type 82 (``'R'``) with an
8-byte big-endian id (``d7 52 <id>``), as the contract says. Encoding
writes any object with an integer ``_raylab_id`` attribute that way (and
lists its id in ``refs`` when given); decoding calls ``make_ref(id)``.

A Python value that MessagePack cannot hold as it is (a tuple, a set, an
instance of a user's class) travels as a *pickle envelope*: an array whose
first item is extension type 80 (``'P'``) holding the pickle, followed by
the references the pickle names (``[P(pickle), R(id), R(id), ...]``), so
that the host sees every reference a value holds. Decoding hands an
envelope to the hook ``UNPICKLE(data, refs)`` (set by ``raylab._codec``).

The Rust SDK sends a plain vector of numbers (``Vec<f64>``, ``Vec<i64>``,
...) as one extension value whose type is the element's ``struct`` code
(``'d'``, ``'q'``, ...) and whose payload is the elements little-endian;
decoding gives the list of numbers it always gave. (``Vec<u8>`` is a
``bin``: ``bytes``.)
"""

import array
import struct
import sys

REF_EXT = 82
PICKLE_EXT = 80

# Extension types of packed number vectors: the element's struct code,
# mapped to the array module's code of the same size.
PACKED_EXT = {
    ord("d"): "d",
    ord("f"): "f",
    ord("q"): "q",
    ord("Q"): "Q",
    ord("i"): "i",
    ord("I"): "I",
    ord("h"): "h",
    ord("H"): "H",
    ord("b"): "b",
    ord("B"): "B",
}

# ``UNPICKLE(data, refs)`` rebuilds a pickle envelope's value.
UNPICKLE = None


class Pickled:
    """The pickle of an envelope, before its references are read."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data

_B = struct.Struct(">B")
_H = struct.Struct(">H")
_I = struct.Struct(">I")
_Q = struct.Struct(">Q")
_b = struct.Struct(">b")
_h = struct.Struct(">h")
_i = struct.Struct(">i")
_q = struct.Struct(">q")
_d = struct.Struct(">d")
_BH = struct.Struct(">BH")
_BI = struct.Struct(">BI")
_BQ = struct.Struct(">BQ")
_Bb = struct.Struct(">Bb")
_Bh = struct.Struct(">Bh")
_Bi = struct.Struct(">Bi")
_Bq = struct.Struct(">Bq")
_Bd = struct.Struct(">Bd")
_REF = struct.Struct(">BBQ")


class EncodeError(TypeError):
    """A value MessagePack (or raylab's contract) cannot hold."""


def _int(out, v, refs):
    if 0 <= v < 0x80:
        out.append(v)
    elif -32 <= v < 0:
        out.append(v & 0xFF)
    elif v >= 0:
        if v < 0x100:
            out.append(0xCC)
            out.append(v)
        elif v < 0x10000:
            out += _BH.pack(0xCD, v)
        elif v < 0x100000000:
            out += _BI.pack(0xCE, v)
        elif v < 0x10000000000000000:
            out += _BQ.pack(0xCF, v)
        else:
            raise EncodeError("int too large for MessagePack: %d" % v)
    else:
        if v >= -0x80:
            out += _Bb.pack(0xD0, v)
        elif v >= -0x8000:
            out += _Bh.pack(0xD1, v)
        elif v >= -0x80000000:
            out += _Bi.pack(0xD2, v)
        elif v >= -0x8000000000000000:
            out += _Bq.pack(0xD3, v)
        else:
            raise EncodeError("int too small for MessagePack: %d" % v)


def _float(out, v, refs):
    out += _Bd.pack(0xCB, v)


def _none(out, v, refs):
    out.append(0xC0)


def _bool(out, v, refs):
    out.append(0xC3 if v else 0xC2)


def _str(out, v, refs):
    b = v.encode("utf-8")
    n = len(b)
    if n < 32:
        out.append(0xA0 | n)
    else:
        _sized(out, n, 0xD9)
    out += b


def _sized(out, n, marker):
    """Append the header of a sized value: ``marker`` for an 8-bit length,
    the next two for 16 and 32 bits (str, bin and ext all number so)."""
    if n < 0x100:
        out.append(marker)
        out.append(n)
    elif n < 0x10000:
        out += _BH.pack(marker + 1, n)
    else:
        out += _BI.pack(marker + 2, n)


def _bin(out, v, refs):
    _sized(out, len(v), 0xC4)
    out += v


def _array(out, v, refs):
    array_header(out, len(v))
    for x in v:
        enc = _ENCODERS.get(type(x))
        if enc is None:
            _other(out, x, refs)
        else:
            enc(out, x, refs)


def _map(out, v, refs):
    n = len(v)
    if n < 16:
        out.append(0x80 | n)
    elif n < 0x10000:
        out += _BH.pack(0xDE, n)
    else:
        out += _BI.pack(0xDF, n)
    for k, x in v.items():
        for y in (k, x):
            enc = _ENCODERS.get(type(y))
            if enc is None:
                _other(out, y, refs)
            else:
                enc(out, y, refs)


def _other(out, v, refs):
    ref = getattr(v, "_raylab_id", None)
    if isinstance(ref, int):
        out += _REF.pack(0xD7, REF_EXT, ref)
        if refs is not None:
            refs.append(ref)
        return
    # Subclasses of the built-in types (an IntEnum, a namedtuple ...).
    for base, enc in _BASES:
        if isinstance(v, base):
            enc(out, v, refs)
            return
    raise EncodeError(
        "cannot send a %s to another task: use None, bool, int, float, str, "
        "bytes, list, tuple, dict or an ObjectRef" % type(v).__name__
    )


_ENCODERS = {
    int: _int,
    float: _float,
    type(None): _none,
    bool: _bool,
    str: _str,
    bytes: _bin,
    bytearray: _bin,
    memoryview: _bin,
    list: _array,
    tuple: _array,
    dict: _map,
}
_BASES = [
    (bool, _bool),
    (int, _int),
    (float, _float),
    (str, _str),
    (bytes, _bin),
    (bytearray, _bin),
    (list, _array),
    (tuple, _array),
    (dict, _map),
]


def encode(value, refs=None):
    """The MessagePack bytes of ``value``; ids of the refs in it are
    appended to ``refs`` when given."""
    out = bytearray()
    enc = _ENCODERS.get(type(value))
    if enc is None:
        _other(out, value, refs)
    else:
        enc(out, value, refs)
    return bytes(out)


class DecodeError(ValueError):
    """Bytes that are not the MessagePack raylab writes."""


def decode(data, make_ref=None):
    """The value of MessagePack ``data``; ``make_ref(id)`` makes object
    references (by default, the bare id)."""
    view = memoryview(data)
    try:
        value, end = _decode(view, 0, make_ref or (lambda i: i))
    except (IndexError, struct.error) as e:
        raise DecodeError("truncated MessagePack: %s" % e) from None
    if end != len(view):
        raise DecodeError("%d bytes after the value" % (len(view) - end))
    return value


def _decode(v, i, make_ref):
    b = v[i]
    i += 1
    if b < 0x80:
        return b, i
    if b >= 0xE0:
        return b - 0x100, i
    if 0xA0 <= b < 0xC0:
        n = b & 0x1F
        return str(v[i : i + n], "utf-8"), i + n
    if 0x90 <= b < 0xA0:
        return _seq(v, i, b & 0x0F, make_ref)
    if 0x80 <= b < 0x90:
        return _dict(v, i, b & 0x0F, make_ref)
    if b == 0xC0:
        return None, i
    if b == 0xC2:
        return False, i
    if b == 0xC3:
        return True, i
    if b == 0xCB:
        return _d.unpack_from(v, i)[0], i + 8
    if b == 0xCA:
        return struct.unpack_from(">f", v, i)[0], i + 4
    if b == 0xCC:
        return v[i], i + 1
    if b == 0xCD:
        return _H.unpack_from(v, i)[0], i + 2
    if b == 0xCE:
        return _I.unpack_from(v, i)[0], i + 4
    if b == 0xCF:
        return _Q.unpack_from(v, i)[0], i + 8
    if b == 0xD0:
        return _b.unpack_from(v, i)[0], i + 1
    if b == 0xD1:
        return _h.unpack_from(v, i)[0], i + 2
    if b == 0xD2:
        return _i.unpack_from(v, i)[0], i + 4
    if b == 0xD3:
        return _q.unpack_from(v, i)[0], i + 8
    if b in (0xD9, 0xDA, 0xDB):
        n, i = _len(v, i, b - 0xD9)
        _check(v, i, n)
        return str(v[i : i + n], "utf-8"), i + n
    if b in (0xC4, 0xC5, 0xC6):
        n, i = _len(v, i, b - 0xC4)
        _check(v, i, n)
        return bytes(v[i : i + n]), i + n
    if b in (0xDC, 0xDD):
        n, i = _len(v, i, b - 0xDB)
        return _seq(v, i, n, make_ref)
    if b in (0xDE, 0xDF):
        n, i = _len(v, i, b - 0xDD)
        return _dict(v, i, n, make_ref)
    if b == 0xD7 and v[i] == REF_EXT:
        return make_ref(_Q.unpack_from(v, i + 1)[0]), i + 9
    if b in (0xC7, 0xC8, 0xC9) and v[i + (1 << (b - 0xC7))] == PICKLE_EXT:
        n, i = _len(v, i, b - 0xC7)
        i += 1
        _check(v, i, n)
        return Pickled(bytes(v[i : i + n])), i + n
    if b in (0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xC7, 0xC8, 0xC9):
        if b >= 0xD4:
            n = 1 << (b - 0xD4)
        else:
            n, i = _len(v, i, b - 0xC7)
        code = PACKED_EXT.get(v[i])
        if code is not None:
            i += 1
            _check(v, i, n)
            return _unpack(code, v[i : i + n]), i + n
        raise DecodeError("a MessagePack extension raylab does not know (type byte %#x)" % b)
    raise DecodeError("not MessagePack (byte %#x)" % b)


def _unpack(code, payload):
    """The numbers of a packed vector's little-endian payload."""
    a = array.array(code)
    if len(payload) % a.itemsize:
        raise DecodeError(
            "packed %r values: %d bytes is not a whole number of %d-byte elements"
            % (code, len(payload), a.itemsize)
        )
    a.frombytes(payload)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tolist()


def _len(v, i, width):
    if width == 0:
        return v[i], i + 1
    if width == 1:
        return _H.unpack_from(v, i)[0], i + 2
    return _I.unpack_from(v, i)[0], i + 4


def _check(v, i, n):
    if i + n > len(v):
        raise DecodeError("truncated MessagePack: %d bytes announced, %d left" % (n, len(v) - i))


def _seq(v, i, n, make_ref):
    out = []
    append = out.append
    for _ in range(n):
        x, i = _decode(v, i, make_ref)
        append(x)
    if out and type(out[0]) is Pickled:
        return UNPICKLE(out[0].data, out[1:]), i
    return out, i


def skip(v, i):
    """The index just past the value that starts at ``v[i]``."""
    b = v[i]
    i += 1
    if b < 0x80 or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3):
        return i
    if 0xA0 <= b < 0xC0:
        return i + (b & 0x1F)
    if 0x90 <= b < 0xA0 or 0x80 <= b < 0x90:
        n = (b & 0x0F) * (2 if b < 0x90 else 1)
        for _ in range(n):
            i = skip(v, i)
        return i
    fixed = _FIXED.get(b)
    if fixed is not None:
        return i + fixed
    if b in (0xD9, 0xDA, 0xDB, 0xC4, 0xC5, 0xC6):
        n, i = _len(v, i, (b - 0xD9) if b >= 0xD9 else (b - 0xC4))
        return i + n
    if b in (0xC7, 0xC8, 0xC9):
        n, i = _len(v, i, b - 0xC7)
        return i + 1 + n
    if b in (0xDC, 0xDD, 0xDE, 0xDF):
        n, i = _len(v, i, 1 if b in (0xDC, 0xDE) else 2)
        if b >= 0xDE:
            n *= 2
        for _ in range(n):
            i = skip(v, i)
        return i
    raise DecodeError("not MessagePack (byte %#x)" % b)


# Bytes after the type byte of the fixed-size types.
_FIXED = {
    0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,
    0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8,
    0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17,
}


def array_header(out, n):
    """Append the header of an array of ``n`` items."""
    if n < 16:
        out.append(0x90 | n)
    elif n < 0x10000:
        out += _BH.pack(0xDC, n)
    else:
        out += _BI.pack(0xDD, n)


def pickle_ext(out, data):
    """Append extension type 80 holding ``data`` (a pickle)."""
    _sized(out, len(data), 0xC7)
    out.append(PICKLE_EXT)
    out += data


def ref(out, id):
    """Append an object reference."""
    out += _REF.pack(0xD7, REF_EXT, id)


def encode_into(out, value, refs=None):
    """Append the MessagePack of ``value`` to ``out``."""
    enc = _ENCODERS.get(type(value))
    if enc is None:
        _other(out, value, refs)
    else:
        enc(out, value, refs)


def _dict(v, i, n, make_ref):
    out = {}
    for _ in range(n):
        k, i = _decode(v, i, make_ref)
        if isinstance(k, list):
            k = tuple(k)
        x, i = _decode(v, i, make_ref)
        out[k] = x
    return out, i
