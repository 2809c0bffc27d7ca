"""Python values across tasks: object references, and the encoding of
values, calls and functions.

Between Python tasks a value keeps its Python type. The scalars MessagePack
holds exactly (``None``, ``bool``, ``int`` of 64 bits, ``float``, ``str``,
``bytes``) travel as plain MessagePack, which any language reads; anything
else travels as a *pickle envelope* (see ``_msgpack``): pickled with
cloudpickle, so that lambdas, closures, classes and functions of the
program travel by value as in Ray, with every :class:`ObjectRef` inside it
named in the envelope where the host sees it (it counts references held
by objects, and checks that a job's values hold only its own refs).

A call's arguments are one MessagePack array::

    [target, kwnames, arg0, arg1, ..., kwvalue0, ...]

``target`` is a reference to the pickled function or class (a dependency:
the host hands the task its value in its place, and an object is stored
once for all the calls of one function), ``kwnames`` the names of the
keyword arguments (or nil), or a map ``{"kw": names, "returns": n}`` when
the call has ``num_returns`` other than 1 (a count, or ``"streaming"``). A top-level :class:`ObjectRef` argument is a
dependency too: the task receives its value, as in Ray; a reference nested
in a value stays a reference. Actor handles always travel inside an
envelope, so that they arrive as handles. Calls into modules of other
languages (``remote_function("module/f")``) send plain MessagePack.
"""

import io
import pickle
import types

import cloudpickle

from . import _msgpack

try:
    from wit_world.imports import runtime as _rt
except ImportError:  # Outside a component: the codec still works.
    _rt = None


class ObjectRef:
    """A reference to an object in the store (a task's future result, or a
    value ``put`` there). It holds the object alive until it is collected."""

    __slots__ = ("_raylab_id", "_raylab_done", "__weakref__")

    def __init__(self, id):
        if isinstance(id, (bytes, bytearray)):
            # Ray's ObjectRef(binary id): a new count of its own, when the
            # object exists.
            id = int.from_bytes(id, "big")
            if _rt is not None:
                try:
                    _rt.retain(id)
                except Exception:
                    raise ValueError("no object with id %016x is alive in this job" % id) from None
        # An id this instance owns one count of.
        self._raylab_id = id

    def __del__(self):
        if _rt is not None:
            try:
                if HELD is not None and not getattr(self, "_raylab_done", False):
                    _hold_or_release(self._raylab_id)
                else:
                    _rt.release(self._raylab_id)
            except Exception:
                pass

    def __reduce__(self):
        # Pickled by the program itself (``pickle``, ``ray.cloudpickle``):
        # raylab's own encoding never gets here (see `_Pickler`). As in
        # Ray, the bytes may be loaded after every ref is gone, so the
        # object is pinned: kept alive until
        # ``ray._private.internal_api.free`` or the job's end.
        if _rt is not None:
            _pin(self._raylab_id)
        state = getattr(self, "_raylab_state", None)
        if state is not None:
            return _unpickled_handle, (self._raylab_id, state)
        return _unpickled_ref, (self._raylab_id,)

    def __copy__(self):
        return owned_ref(self._raylab_id)

    def __deepcopy__(self, memo):
        return self.__copy__()

    def hex(self):
        """The object's id in hexadecimal (Ray's ``ObjectRef.hex()``)."""
        return "%016x" % self._raylab_id

    def binary(self):
        return self._raylab_id.to_bytes(8, "big")

    def __repr__(self):
        return "ObjectRef(%s)" % self.hex()

    def __eq__(self, other):
        return isinstance(other, ObjectRef) and other._raylab_id == self._raylab_id

    def __hash__(self):
        return hash(self._raylab_id)

    def __await__(self):
        # `await ref` (as in Ray): other coroutines of the loop run while
        # the object is not ready.
        import asyncio

        from . import get, wait

        # As in Ray, the coroutine is suspended at least once, even for an
        # object already ready: the loop runs its other coroutines (and an
        # async actor takes its queued calls) before it resumes.
        yield from asyncio.sleep(0).__await__()
        pause = 0.0005
        while not wait([self], timeout=0)[0]:
            yield from asyncio.sleep(pause).__await__()
            pause = min(pause * 2, 0.02)
        return get(self)

    def future(self):
        """A ``concurrent.futures.Future`` already resolved with the value."""
        import concurrent.futures

        from . import get

        f = concurrent.futures.Future()
        try:
            f.set_result(get(self))
        except BaseException as e:
            f.set_exception(e)
        return f


# In a driver: the ids of dropped refs whose objects were not ready yet
# (a task submitted and forgotten). Their counts are kept until the
# driver's end, which waits for them (see `raylab._runtime`), so that a
# program's last fire-and-forget tasks run, as in Ray.
HELD = None


def _hold_or_release(id):
    if _rt.wait([id], 1, 0):
        _rt.release(id)
        return
    HELD.append(id)
    if len(HELD) >= 1024:
        # Give back those that finished since.
        ready = set(_rt.wait(HELD, len(HELD), 0))
        for i in ready:
            _rt.release(i)
        HELD[:] = [i for i in HELD if i not in ready]


def owned_ref(id):
    """A reference read from bytes: a new count of its own, as a copy."""
    _rt.retain(id)
    return ObjectRef(id)


# Objects whose refs the program pickled itself (out of band, see
# `ObjectRef.__reduce__`): this instance holds one count of each until
# `unpin` (``ray._private.internal_api.free``).
PINNED = set()


def _pin(id):
    if id not in PINNED:
        _rt.retain(id)
        PINNED.add(id)


def unpin(ids):
    """Give back the counts pinning these objects (those pinned)."""
    for id in ids:
        if id in PINNED:
            PINNED.discard(id)
            _rt.release(id)


def _loaded_id(id):
    try:
        _rt.retain(id)
    except Exception:
        raise ValueError(
            "the pickled ObjectRef(%016x) names an object no longer alive in this job "
            "(it was freed, or pickled by another job)" % id
        ) from None
    return id


# What unpickling a ref to an object no longer alive makes (set by raylab:
# a ref whose `get` fails, as Ray's would time out or hang).
LOST = None


def _unpickled_ref(id):
    """Unpickling an out-of-band ref: a count of its own."""
    try:
        return ObjectRef(_loaded_id(id))
    except ValueError:
        if LOST is None:
            raise
        return LOST(id)


def _unpickled_handle(id, state):
    """Unpickling an out-of-band actor handle."""
    # `HANDLE` takes a ref and counts the handle on its own: the ref holds
    # the count taken here only until then.
    return HANDLE(ObjectRef(_loaded_id(id)), state)


# The refs of the envelope being unpickled, read by `_ref_at`.
_loading = []
# What unpickling a reference of this kind makes of it (set by raylab).
HANDLE = None
BUNDLE = None


def _ref_at(index):
    """Unpickling: the envelope's reference number ``index``."""
    return _loading[-1][index]


def _handle_at(index, state):
    """Unpickling: an actor handle, from the envelope's reference ``index``."""
    return HANDLE(_loading[-1][index], state)


def _bundle_at(index):
    """Unpickling: the program's bundle of modules (before the function
    that may import them is rebuilt)."""
    ref = _loading[-1][index]
    BUNDLE(ref)
    return ref


class Raised:
    """A streaming generator's item that is the exception it raised: ``get``
    raises it (the items before it stay readable, as in Ray)."""

    # Where it was raised (see `raylab._runtime._where`).
    where = None

    def __init__(self, task, text, error):
        self.task, self.text, self.error = task, text, error


class Inline:
    """A call's target sent inside the call instead of by reference (a
    detached actor's class: the actor outlives the job, so it may hold
    none of the job's objects)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class Bundle:
    """Marks the program's bundle of modules in a function's pickle."""

    __slots__ = ("ref",)

    def __init__(self, ref):
        self.ref = ref


# Reducers registered with ``ray.util.register_serializer``, by exact type.
CUSTOM_REDUCERS = {}


class _Pickler(cloudpickle.Pickler):
    """cloudpickle, naming each reference in the envelope's list."""

    def __init__(self, file, refs):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._refs = refs
        self._index = {}

    def _slot(self, ref):
        i = self._index.get(ref._raylab_id)
        if i is None:
            i = self._index[ref._raylab_id] = len(self._refs)
            self._refs.append(ref)
        return i

    def reducer_override(self, obj):
        if isinstance(obj, ObjectRef):
            state = getattr(obj, "_raylab_state", None)
            if state is not None:
                return _handle_at, (self._slot(obj), state)
            return _ref_at, (self._slot(obj),)
        if type(obj) is Bundle:
            return _bundle_at, (self._slot(obj.ref),)
        custom = CUSTOM_REDUCERS.get(type(obj))
        if custom is not None:
            return custom(obj)
        if type(obj) is types.CodeType:
            # cloudpickle names every file `<dynamic-code>`; keep the
            # program's file names, for tracebacks.
            rebuild, args = cloudpickle.cloudpickle._code_reduce(obj)
            return rebuild, tuple(obj.co_filename if a == "<dynamic-code>" else a for a in args)
        return super().reducer_override(obj)


def _unpickle(data, refs):
    _loading.append(refs)
    try:
        return pickle.loads(data)
    finally:
        _loading.pop()


_msgpack.UNPICKLE = _unpickle

# What MessagePack holds as it is, and reads back as the same type.
_PLAIN = frozenset((type(None), bool, float, str, bytes))
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1


def _plain(v):
    t = type(v)
    return t in _PLAIN or (t is int and _INT_MIN <= v <= _INT_MAX) or t is bytearray


def envelope_into(out, value, ids):
    """Append ``value``'s pickle envelope; the ids of its refs go to ``ids``."""
    refs = []
    buf = io.BytesIO()
    try:
        _Pickler(buf, refs).dump(value)
    except Exception as e:
        raise _msgpack.EncodeError(
            "cannot send a %s to another task: %s" % (type(value).__name__, e)
        ) from e
    _msgpack.array_header(out, 1 + len(refs))
    _msgpack.pickle_ext(out, buf.getbuffer())
    for r in refs:
        _msgpack.ref(out, r._raylab_id)
        ids.append(r._raylab_id)


def value_into(out, value, ids):
    """Append the encoding of a value (a result, a ``put``, an argument
    that is not a dependency)."""
    if _plain(value):
        _msgpack.encode_into(out, value)
    else:
        envelope_into(out, value, ids)


def encode(value, ids=None):
    """The bytes of ``value`` as a result or object."""
    out = bytearray()
    value_into(out, value, [] if ids is None else ids)
    return bytes(out)


def encode_call(target, args, kwargs, returns=1):
    """A call's argument list (see the module's docs); ``target`` is the
    ref of the function or class, or None for an actor's method."""
    out = bytearray()
    ids = []
    n = len(args) + len(kwargs) + 1 + (target is not None)
    _msgpack.array_header(out, n)
    if type(target) is Inline:
        envelope_into(out, target.value, ids)
    elif target is not None:
        _msgpack.ref(out, target._raylab_id)
    if returns != 1:
        _msgpack.encode_into(out, {"kw": list(kwargs), "returns": returns})
    elif kwargs:
        _msgpack.encode_into(out, list(kwargs))
    else:
        out.append(0xC0)
    for a in args:
        _arg_into(out, a, ids)
    for a in kwargs.values():
        _arg_into(out, a, ids)
    return bytes(out)


def _arg_into(out, a, ids):
    if type(a) is ObjectRef:
        _msgpack.ref(out, a._raylab_id)
    else:
        value_into(out, a, ids)


def decode(data):
    """The value of a result or object's bytes."""
    return _msgpack.decode(data, owned_ref)


# Targets rebuilt in this instance, by their bytes (a warm instance runs
# the same function many times).
_targets = {}


def _envelope_end(v, i):
    """The end of the value at ``v[i]``: computed from its headers for a
    pickle envelope of a few refs (a call's target), else walked."""
    b = v[i]
    if 0x91 <= b < 0xA0:
        refs = (b & 0x0F) - 1
        e = v[i + 1]
        if e == 0xC7 and v[i + 3] == _msgpack.PICKLE_EXT:
            n, start = v[i + 2], i + 4
        elif e == 0xC8 and v[i + 4] == _msgpack.PICKLE_EXT:
            n, start = (v[i + 2] << 8) | v[i + 3], i + 5
        else:
            return _msgpack.skip(v, i)
        return start + n + 10 * refs
    return _msgpack.skip(v, i)


def decode_call(data, has_target):
    """``(target, args, kwargs, returns)`` of a call's argument list."""
    v = memoryview(data)
    b = v[0]
    if 0x90 <= b < 0xA0:
        n, i = b & 0x0F, 1
    elif b in (0xDC, 0xDD):
        n, i = _msgpack._len(v, 1, b - 0xDB)
    else:
        raise _msgpack.DecodeError("a call's arguments are not an array")
    target = None
    if has_target:
        end = _envelope_end(v, i)
        # A read-only memoryview hashes and compares as the bytes it shows:
        # a hit copies nothing.
        key = v[i:end]
        target = _targets.get(key)
        if target is None:
            target, _ = _msgpack._decode(v, i, owned_ref)
            if len(_targets) >= 64:
                _targets.clear()
            _targets[bytes(key)] = target
        i = end
        n -= 1
    kwnames, i = _msgpack._decode(v, i, owned_ref)
    returns = 1
    if type(kwnames) is dict:
        kwnames, returns = kwnames["kw"], kwnames["returns"]
    n -= 1
    values = []
    for _ in range(n):
        x, i = _msgpack._decode(v, i, owned_ref)
        values.append(x)
    if kwnames:
        k = len(kwnames)
        return target, values[:-k], dict(zip(kwnames, values[-k:])), returns
    return target, values, {}, returns
