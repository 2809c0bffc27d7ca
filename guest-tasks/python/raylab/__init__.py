"""raylab for Python: Ray's API for tasks that run sandboxed in raylab.

A Ray program runs unchanged with its import line swapped::

    import raylab as ray

    @ray.remote
    def square(x):
        return x * x

    print(ray.get([square.remote(i) for i in range(4)]))

``raylab-host run app.py`` runs the program as ``__main__``, exactly once,
in a sandboxed CPython (one prebuilt component shared by every program);
each remote call runs in a fresh instance of that component. As in Ray,
remote functions and actor classes travel *by value*: their code, closure
and the globals they use are pickled (cloudpickle) when first called and
stored once; values between Python tasks keep their Python types; a
top-level ``ObjectRef`` argument is a dependency whose value the task
receives, a ref nested in a value stays a ref.

The API mirrors Ray Core's: ``remote`` (functions and classes, with
options), ``get``, ``put``, ``wait``, ``cancel``, ``kill``, ``get_actor``,
``method``, ``get_runtime_context``, ``cluster_resources``,
``available_resources``, ``nodes``, ``init``/``shutdown``,
``raylab.exceptions`` (Ray's names), ``raylab.util`` (scheduling
strategies, ``ActorPool``), ``raylab.actor`` (``exit_actor``) and
``raylab.dag`` (``bind``/``execute``). What differs from Ray is said where
it differs; ``remote_function("module/f")`` calls a function of a module
in another language by name (its values are MessagePack).
"""

import base64
import hashlib
import inspect
import json
import random
import sys
import time as _time
import weakref as _weakref

from . import _codec, _msgpack
from . import exceptions
from ._codec import ObjectRef
from .exceptions import RayError, TaskError

try:
    from wit_world.imports import runtime as _rt
    from wit_world.imports import types as _types
except ImportError:  # Outside a component: the codec still works.
    _rt = None
    _types = None

__all__ = [
    "ObjectRef",
    "ObjectRefGenerator",
    "DynamicObjectRefGenerator",
    "ActorHandle",
    "ActorClass",
    "RemoteFunction",
    "TaskError",
    "NodeAffinitySchedulingStrategy",
    "remote",
    "remote_function",
    "method",
    "get",
    "put",
    "wait",
    "cancel",
    "get_actor",
    "kill",
    "get_runtime_context",
    "get_context",
    "get_gpu_ids",
    "cluster_resources",
    "available_resources",
    "nodes",
    "init",
    "shutdown",
    "is_initialized",
    "exceptions",
]

# A task's error message carries the exception it raised after this mark
# (pickled, base64): the host shows only what comes before it.
EXCEPTION_MARK = "\n\x1eraylab-exception:"


def _kind(kind):
    return kind.name.lower().replace("_", "-")


def _error(err):
    """The exception for the contract's error value ``err``."""
    kind, message, task = _kind(err.kind), err.message, err.task
    if kind in ("task-failed", "dependency-failed"):
        cut = message.find(EXCEPTION_MARK)
        if cut >= 0:
            return _task_error(task or "", message[:cut], message[cut + len(EXCEPTION_MARK) :])
    if kind == "cancelled" and message == _CANCELLED_RUNNING:
        # Cancelled while it ran: Ray raises it as the task's own error,
        # an instance of both RayTaskError and TaskCancelledError.
        cause = exceptions.TaskCancelledError(task)
        text = "Traceback (most recent call last):\nray.exceptions.TaskCancelledError: %s" % cause
        e = exceptions.RayTaskError(task or "", text, cause).as_instanceof_cause()
        return e._fill(kind, message, task)
    return exceptions.from_kind(kind, message, task)


# The host's message for a task or call cancelled while it ran.
_CANCELLED_RUNNING = "cancelled while it ran"
# How the host says that a task did not run because an argument failed.
_DEPENDENCY_FAILED = "not run because an argument failed: task `"


def _task_error(task, text, rest):
    """The error of a task that raised: ``text`` is its traceback (after
    the names of the tasks that did not run because it failed), ``rest``
    the exception pickled and where it was raised (see
    ``raylab._runtime._failure``)."""
    payload, _, where = rest.partition("\n")
    try:
        where = json.loads(where.split("\n", 1)[0]) if where else {}
    except ValueError:
        where = {}
    cause = None
    if payload:
        try:
            cause = _codec.decode(base64.b64decode(payload))
        except Exception as e:  # Its class cannot be rebuilt here.
            cause = exceptions.RaySystemError("task-failed", "cannot rebuild the task's exception: %s" % e)
    # The tasks that were not run because this one failed, outermost first.
    chain = [task]
    while text.startswith(_DEPENDENCY_FAILED):
        name, _, text = text[len(_DEPENDENCY_FAILED) :].partition("`: ")
        chain.append(name)
    if isinstance(cause, exceptions.RayTaskError):
        # It raised another task's error (from its own get): the cause is
        # that task's cause, the text this task's traceback (as in Ray).
        cause = cause.cause
    e = exceptions.RayTaskError(chain.pop(), text, cause, **where)
    while chain:
        # Ray says the argument's error after the line below.
        text = (
            "Traceback (most recent call last):\n"
            "  At least one of the input arguments for this task could not be computed:\n"
            "ray.exceptions.RayTaskError: %s" % e
        )
        e = exceptions.RayTaskError(chain.pop(), text, cause)
    return e.as_instanceof_cause()


try:
    from componentize_py_types import Err as _Err
except ImportError:  # Outside a component.

    class _Err(Exception):
        pass


def _call(f, *args):
    """Call a runtime function, turning its error value into an exception."""
    try:
        return f(*args)
    except _Err as e:
        raise _error(e.value) from None


def _decode(data):
    return _codec.decode(data)


def _encode(value, ids=None):
    return _codec.encode(value, ids)


# ---------------------------------------------------------------- options

_COMMON = {"name", "num_cpus", "num_gpus", "memory", "resources", "accelerator_type", "runtime_env", "label_selector"}
_TASK_OPTIONS = _COMMON | {
    "max_retries",
    "retry_exceptions",
    "timeout_ms",
    "isolation",
    "scheduling_strategy",
    "num_returns",
    "max_calls",
    "_metadata",
}
_ACTOR_OPTIONS = _COMMON | {
    "max_restarts",
    "max_task_retries",
    "max_concurrency",
    "max_pending_calls",
    "timeout_ms",
    "lifetime",
    "namespace",
    "get_if_exists",
    "scheduling_strategy",
    "concurrency_groups",
    "allow_out_of_order_execution",
    "enable_task_events",
}
_U32_MAX = 0xFFFFFFFF


def _check_options(opts, known, what):
    unknown = set(opts) - known
    if unknown:
        raise ValueError(
            "unknown %s options: %s (raylab knows %s)" % (what, ", ".join(sorted(unknown)), ", ".join(sorted(known)))
        )


def _count(value, what):
    """A retry or restart count: -1 is unlimited, as in Ray."""
    if value is None:
        return None
    value = int(value)
    if value == -1:
        return _U32_MAX
    if value < 0:
        raise ValueError("%s must be -1 (unlimited) or a count, not %d" % (what, value))
    return min(value, _U32_MAX)


def _float_or_none(v):
    return None if v is None else float(v)


def _custom_resources(opts):
    """``resources``, and ``accelerator_type="V100"`` as Ray has it: 0.001
    of the resource ``accelerator_type:V100``."""
    out = dict(opts.get("resources") or {})
    kind = opts.get("accelerator_type")
    if kind is not None:
        out["accelerator_type:%s" % kind] = 0.001
    return out


def _resource_options(opts):
    memory = opts.get("memory")
    return dict(
        name=opts.get("name"),
        num_cpus=_float_or_none(opts.get("num_cpus")),
        num_gpus=_float_or_none(opts.get("num_gpus")),
        memory=int(memory) if memory is not None else None,
        resources=[_types.ResourceAmount(str(k), float(v)) for k, v in _custom_resources(opts).items()],
    )


def _scheduling(strategy, resources=None, what=""):
    from .util.scheduling_strategies import NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy

    if strategy is None or strategy == "DEFAULT":
        return None
    if strategy == "SPREAD":
        return _types.SchedulingStrategy_Spread()
    if isinstance(strategy, NodeAffinitySchedulingStrategy):
        return _types.SchedulingStrategy_NodeAffinity(_types.NodeAffinity(str(strategy.node_id), bool(strategy.soft)))
    if isinstance(strategy, PlacementGroupSchedulingStrategy):
        from .util.placement_group import _check_placement

        return _check_placement(strategy, resources or {}, what)
    raise ValueError(
        "scheduling_strategy: 'DEFAULT', 'SPREAD', NodeAffinitySchedulingStrategy or PlacementGroupSchedulingStrategy"
    )


def _demand(opts, cpus):
    """The resources a task or actor asks for, as Ray's dict has them
    (``cpus``: the default CPU count)."""
    out = {}
    num_cpus = opts.get("num_cpus")
    num_cpus = cpus if num_cpus is None else num_cpus
    if num_cpus:
        out["CPU"] = float(num_cpus)
    if opts.get("num_gpus"):
        out["GPU"] = float(opts["num_gpus"])
    if opts.get("memory"):
        out["memory"] = float(opts["memory"])
    for k, v in _custom_resources(opts).items():
        if v:
            out[k] = float(v)
    return out


def _task_options(opts, what=""):
    isolation = opts.get("isolation")
    if isolation is not None:
        isolation = {"fresh": _types.Isolation.FRESH, "warm": _types.Isolation.WARM}[isolation]
    retry = opts.get("retry_exceptions")
    return _types.TaskOptions(
        **_resource_options(opts),
        max_retries=_count(opts.get("max_retries"), "max_retries"),
        # A list of exception types is checked in the task (see `_retry`).
        retry_exceptions=None if retry is None else (retry is True),
        timeout_ms=opts.get("timeout_ms"),
        isolation=isolation,
        scheduling=_scheduling(opts.get("scheduling_strategy"), _demand(opts, 1), what),
    )


# ---------------------------------------------------------------- export

# The program's bundle of modules (set by the driver): tasks import the
# program's own modules from it.
_bundle = None
# Functions and classes stored once, by the hash of their pickle.
_exported = {}


def _retry(options):
    """``(exception types, retries)`` when ``retry_exceptions`` is a list of
    types: the task itself then calls the function again on those (as Ray
    retries them) and fails at once on others; None otherwise."""
    retry = options.get("retry_exceptions")
    if retry is None or isinstance(retry, bool):
        return None
    types = tuple(retry)
    if not all(isinstance(t, type) and issubclass(t, BaseException) for t in types):
        raise ValueError("retry_exceptions must be a bool or a list of exception types")
    retries = options.get("max_retries")
    retries = 3 if retries is None else int(retries)
    return (types, None if retries == -1 else retries)


def _env_vars(options):
    """The environment variables a task sees: the job's
    (``init(runtime_env={"env_vars": ...})``), then its own option's."""
    env = dict(_job_env)
    own = (options.get("runtime_env") or {}).get("env_vars")
    if own:
        env.update({str(k): str(v) for k, v in own.items()})
    return env or None


_job_env = {}


def _export(target, retry=None, env=None):
    """The ref of ``target`` (a function or class) pickled by value, stored
    once per content; ``retry`` as ``_retry`` gives it, ``env`` the
    environment variables its calls see."""
    out = bytearray()
    ids = []
    value = (_codec.Bundle(_bundle()) if _bundle is not None else None, target, retry, env)
    _codec.envelope_into(out, value, ids)
    data = bytes(out)
    key = hashlib.sha1(data).digest()
    ref = _exported.get(key)
    if ref is None:
        ref = _exported[key] = ObjectRef(_call(_rt.put, data))
    return ref


def _submit_error_or_pending(e, name):
    """An infeasible task stays pending, as in Ray: a warning now, and a
    ref whose ``get`` says why (nothing can ever run it here)."""
    if isinstance(e, exceptions.TaskUnschedulableError):
        print(
            "raylab: warning: task `%s` cannot be scheduled: %s; it stays pending, and getting its "
            "result raises TaskUnschedulableError" % (name, e.message),
            file=sys.stderr,
        )
        return _PendingRef(e)
    raise e


class _PendingRef(ObjectRef):
    """The ref of a task that can never run (see above)."""

    __slots__ = ("_why",)

    def __init__(self, why):
        self._raylab_id = 0
        self._why = why

    def __del__(self):
        pass

    def __reduce__(self):
        raise self._why


class _LostRef(_PendingRef):
    """An out-of-band ref loaded after its object was freed (pickled with
    plain ``pickle`` by a task that has ended, say): as in Ray it loads,
    and it never becomes ready. ``get`` with a timeout raises
    ``GetTimeoutError`` at once (Ray's waits the timeout out first), without
    one ``ObjectLostError`` (Ray's hangs)."""

    __slots__ = ()

    def __init__(self, id):
        self._raylab_id = id
        self._why = None

    def _lost(self, timeout):
        text = (
            "ObjectRef(%016x) was loaded from a pickle after its object was freed: it can never be "
            "ready (pin it by pickling with ray.cloudpickle, and keep it until "
            "ray._private.internal_api.free)" % self._raylab_id
        )
        if timeout is not None:
            return exceptions.GetTimeoutError("Get timed out: " + text)
        return exceptions.ObjectLostError(text)

    def __reduce__(self):
        return _codec._unpickled_ref, (self._raylab_id,)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


_codec.LOST = _LostRef


# ---------------------------------------------------------------- tasks


class RemoteFunction:
    """A function that runs as a task: ``f.remote(...)`` submits a call."""

    def __init__(self, function, options, name=None):
        _check_options(options, _TASK_OPTIONS, "task")
        self._function = function
        self._options = dict(options)
        # A function of another module, by name (MessagePack values).
        self._by_name = name
        self._name = name or getattr(function, "__name__", "task")
        self._ref = None
        self._wit = None
        self._signature = _signature_of(function)
        self._fast = _positional(self._signature)
        # num_returns as calls send it (worked out at the first call).
        self._returns_n = None
        if function is not None:
            self.__name__ = function.__name__
            self.__qualname__ = getattr(function, "__qualname__", function.__name__)
            self.__doc__ = function.__doc__
            self.__module__ = getattr(function, "__module__", None)
            self.__wrapped__ = function

    def __call__(self, *args, **kwargs):
        raise TypeError(
            "Remote functions cannot be called directly. Instead of running '%s()', try '%s.remote()'."
            % (self._name, self._name)
        )

    def __reduce__(self):
        # A task that calls this function gets it with its stored ref, so
        # that it is not pickled and stored again in every task.
        if self._by_name is None and self._ref is None and _rt is not None and id(self) not in _exporting:
            _exporting.add(id(self))
            try:
                self._ref = _export(self._function, _retry(self._options), _env_vars(self._options))
            finally:
                _exporting.discard(id(self))
        return _rebuild_remote, (self._function, self._options, self._by_name, self._ref)

    def _returns(self):
        n = self._options.get("num_returns")
        if n is None:
            f = self._function
            generator = f is not None and (inspect.isgeneratorfunction(f) or inspect.isasyncgenfunction(f))
            return "streaming" if generator else 1
        if n in ("streaming", "dynamic"):
            return n
        if not isinstance(n, int) or n < 0:
            raise ValueError("num_returns must be a count, 'streaming' or 'dynamic', not %r" % (n,))
        return n

    def remote(self, *args, **kwargs):
        """Submit a call; the ref of its result (refs, for num_returns)."""
        _auto_init()
        if self._wit is None:
            self._wit = _task_options(self._options, self._name)
        if self._by_name is not None:
            if kwargs:
                raise TypeError("a function of another module takes positional arguments only")
            data = _msgpack.encode(list(args))
            try:
                return ObjectRef(_call(_rt.submit, self._by_name, data, self._wit))
            except exceptions.TaskUnschedulableError as e:
                return _submit_error_or_pending(e, self._name)
        _check_call(self._signature, args, kwargs, self._name, self._fast)
        if self._ref is None:
            self._ref = _export(self._function, _retry(self._options), _env_vars(self._options))
        returns = self._returns_n
        if returns is None:
            returns = self._returns_n = self._returns()
        data = _codec.encode_call(self._ref, args, kwargs, returns)
        try:
            ref = ObjectRef(_call(_rt.submit, self._name, data, self._wit))
        except exceptions.TaskUnschedulableError as e:
            return _submit_error_or_pending(e, self._name)
        return _returns_of(ref, returns, self._name)

    def options(self, **options):
        """The same function with other options for calls made through it
        (``f.options(num_cpus=2).remote(x)``)."""
        f = RemoteFunction(self._function, {**self._options, **options}, self._by_name)
        if _retry(f._options) == _retry(self._options) and "runtime_env" not in options:
            f._ref = self._ref
        return f

    def bind(self, *args, **kwargs):
        """A node of a task graph (``ray.dag``): this call, run by
        ``execute``."""
        from .dag import FunctionNode

        return FunctionNode(self, args, kwargs)


# Remote functions being pickled for export right now (functions that call
# each other are pickled by value inside one another, not exported again).
_exporting = set()


def _rebuild_remote(function, options, by_name, ref):
    f = RemoteFunction(function, options, by_name)
    f._ref = ref
    return f


def _signature_of(f):
    """``f``'s signature, to check calls as Ray does (None when it has
    none Python can read, as for some builtins)."""
    if f is None:
        return None
    try:
        return inspect.signature(f)
    except (TypeError, ValueError):
        return None


def _positional(signature):
    """``(fewest, most)`` positional arguments a call without keywords may
    pass, when only positional parameters are required; else None."""
    if signature is None:
        return None
    fewest, most = 0, 0
    for p in signature.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            most += 1
            if p.default is p.empty:
                fewest += 1
        elif p.kind is p.VAR_POSITIONAL:
            most = None if most is None else float("inf")
        elif p.kind is p.KEYWORD_ONLY and p.default is p.empty:
            return None
    return (fewest, most)


def _check_call(signature, args, kwargs, name, fast=None):
    """Arguments that do not fit the function fail at ``.remote()``
    (``fast``: ``_positional``'s bounds, checked without binding)."""
    if signature is None:
        return
    if fast is not None and not kwargs and fast[0] <= len(args) <= fast[1]:
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError("%s: %s" % (name, e)) from None


def _returns_of(ref, returns, name):
    """What ``.remote`` gives for a call with ``num_returns``."""
    if returns == 1 or returns == "dynamic":
        # "dynamic": the ref's value is the list of the items' refs.
        return ref
    if returns == "streaming":
        return ObjectRefGenerator(ref)
    if returns == 0:
        return None
    return [_item(ref, i, name) for i in range(returns)]


_ITEM_OPTIONS = None


def _item(ref, i, name):
    """A ref of item ``i`` of ``ref``'s value (one of num_returns): a tiny
    task in a warm instance that picks it."""
    global _ITEM_OPTIONS
    if _ITEM_OPTIONS is None:
        _ITEM_OPTIONS = _task_options({"num_cpus": 0, "isolation": "warm", "max_retries": 0})
    data = bytearray()
    _msgpack.array_header(data, 2)
    _msgpack.ref(data, ref._raylab_id)
    _msgpack.encode_into(data, i)
    return ObjectRef(_call(_rt.submit, "%s.%d" % (name, i), bytes(data), _ITEM_OPTIONS))


class ObjectRefGenerator:
    """The refs of a generator task's items, in order (Ray's streaming
    generator). raylab runs the generator to its end in the task and
    stores each item; iterating waits for the task, then yields their
    refs."""

    def __init__(self, ref):
        self._ref = ref
        self._items = None

    def _load(self):
        if self._items is None:
            self._items = iter(get(self._ref))

    def __iter__(self):
        return self

    def __next__(self):
        self._load()
        return next(self._items)

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            return self.__next__()
        except StopIteration:
            raise StopAsyncIteration from None

    def completed(self):
        return self._ref


class DynamicObjectRefGenerator:
    """What ``get`` gives for a ``num_returns="dynamic"`` call: its items'
    refs, in order."""

    def __init__(self, refs):
        self._refs = list(refs)

    def __iter__(self):
        return iter(self._refs)

    def __len__(self):
        return len(self._refs)


def remote_function(name, **options):
    """A remote function of another loaded module, by name: ``"module/f"``
    (``raylab-host run app.py --plugin module=plugin.wasm``), in any
    language. Its arguments and result are MessagePack: a Rust struct is a
    dict of its fields, an enum variant ``{"Variant": fields}``."""
    return RemoteFunction(None, options, name=name)


# ---------------------------------------------------------------- actors


def method(*args, **options):
    """``@ray.method(num_returns=2)`` on an actor method."""

    def mark(m):
        if "num_returns" in options:
            m.__ray_num_returns__ = options["num_returns"]
        return m

    if len(args) == 1 and callable(args[0]) and not options:
        return args[0]
    return mark


class ActorHandle(ObjectRef):
    """A handle to an actor: ``handle.method.remote(...)`` calls a method,
    one call at a time, in the order called. The actor lives while a
    handle to it does (unless it is detached). Handles travel to tasks and
    other actors, where they work the same."""

    __slots__ = ("_raylab_state",)

    def __init__(self, id, state=None):
        self._raylab_id = id
        # (class name, {method: num_returns}, method names or None)
        self._raylab_state = state or ("Actor", {}, None)

    def __repr__(self):
        return "Actor(%s, %s)" % (self._raylab_state[0], self.hex())

    def __getattr__(self, method):
        if method.startswith("__") and method not in _BUILT_IN_METHODS:
            raise AttributeError(method)
        name, returns, methods = self._raylab_state
        if method in _BUILT_IN_METHODS:
            return _ActorMethod(self, method, 1)
        if methods is not None and method not in methods:
            raise AttributeError("'ActorHandle' object has no attribute '%s' (actor class %s)" % (method, name))
        return _ActorMethod(self, method, returns.get(method, 1))

    def _actor_id(self):
        return self.hex()


# Methods every actor has, as in Ray: `__ray_ready__` is ready once the
# constructor ran; `__ray_terminate__` ends the actor after the calls
# before it.
_BUILT_IN_METHODS = frozenset(("__ray_ready__", "__ray_terminate__"))


def _handle(ref, state):
    """Unpickling: a handle sharing ``ref``'s count."""
    ref_id = ref._raylab_id
    _rt.retain(ref_id)
    return ActorHandle(ref_id, state)


_codec.HANDLE = _handle


class _ActorMethod:
    """``handle.method``. As in Ray, it holds its handle weakly: a method
    of a handle nobody kept (``C.remote().f.remote()``) cannot be called.
    One that was pickled (sent to a task) holds its handle."""

    __slots__ = ("_handle", "_hard", "_method", "_returns")

    def __init__(self, actor, method, returns, hard=False):
        self._handle = _weakref.ref(actor)
        self._hard = actor if hard else None
        self._method, self._returns = method, returns

    @property
    def _actor(self):
        actor = self._hard or self._handle()
        if actor is None:
            raise RuntimeError(
                "Lost reference to actor. Actor handles must be stored as variables, e.g. "
                "`actor = MyActor.remote()` before calling methods."
            )
        return actor

    def __reduce__(self):
        return _ActorMethod, (self._actor, self._method, self._returns, True)

    def remote(self, *args, **kwargs):
        """Call the method; the ref of its result."""
        actor = self._actor
        returns = self._returns
        data = _codec.encode_call(None, args, kwargs, returns)
        ref = ObjectRef(_call(_rt.call_actor, actor._raylab_id, self._method, data))
        return _returns_of(ref, returns, self._method)

    def options(self, **options):
        _check_options(options, {"num_returns", "name", "concurrency_group"}, "actor method")
        # Ray's wrapper holds the method, which holds the handle weakly.
        m = _ActorMethod.__new__(_ActorMethod)
        m._handle, m._hard = self._handle, self._hard
        m._method, m._returns = self._method, options.get("num_returns", self._returns)
        return m

    def bind(self, *args, **kwargs):
        from .dag import ClassMethodNode

        return ClassMethodNode(self._actor, self._method, args, kwargs)

    def __call__(self, *args, **kwargs):
        raise TypeError(
            "Actor methods cannot be called directly. Instead of running 'object.%s()', try "
            "'object.%s.remote()'." % (self._method, self._method)
        )


class ActorClass:
    """A class whose instances are actors: ``C.remote(...)`` makes one."""

    def __init__(self, cls, options):
        _check_options(options, _ACTOR_OPTIONS, "actor")
        if options.get("lifetime") not in (None, "detached", "non_detached"):
            raise ValueError("lifetime: 'detached' or 'non_detached'")
        self._cls = cls
        self._options = dict(options)
        self._ref = None
        self._signature = _signature_of(cls)
        self.__name__ = cls.__name__
        self.__qualname__ = cls.__qualname__
        self.__doc__ = cls.__doc__
        self.__module__ = cls.__module__

    def __reduce__(self):
        return ActorClass, (self._cls, self._options)

    def _state(self):
        returns = {}
        methods = []
        for name, m in inspect.getmembers(self._cls, callable):
            if name.startswith("__") and name != "__call__":
                continue
            methods.append(name)
            n = getattr(m, "__ray_num_returns__", None)
            if n is not None:
                returns[name] = n
            elif inspect.isgeneratorfunction(m) or inspect.isasyncgenfunction(m):
                returns[name] = "streaming"
        return (self._cls.__name__, returns, frozenset(methods))

    def remote(self, *args, **kwargs):
        """Make an actor (its constructor runs in its own instance)."""
        _auto_init()
        opts = self._options
        _check_call(self._signature, args, kwargs, self.__name__)
        name = opts.get("name")
        if opts.get("get_if_exists"):
            if not name:
                raise ValueError("get_if_exists needs a name")
            try:
                return get_actor(name, opts.get("namespace"))
            except ValueError:
                pass
        detached = opts.get("lifetime") == "detached"
        if detached:
            # It outlives this job: its class travels inside the call (and
            # the program's modules do not: a detached actor's class uses
            # the standard library and what its own code holds).
            target = _codec.Inline((None, self._cls, opts.get("max_concurrency"), _env_vars(opts)))
        else:
            if self._ref is None:
                # An async actor's most calls at once travels where a
                # task's retry list would.
                self._ref = _export(self._cls, opts.get("max_concurrency"), _env_vars(opts))
            target = self._ref
        # As in Ray: an actor that asks for no resource holds no CPU while
        # it lives; one that asks for any (GPUs, memory, a custom resource)
        # and names no CPU count holds one CPU for its life.
        if opts.get("num_cpus") is None and any(
            opts.get(k) is not None for k in ("num_gpus", "resources", "accelerator_type", "memory")
        ):
            opts = dict(opts, num_cpus=1)
        wit_opts = _resource_options(opts)
        wit_opts["name"] = _namespaced(name, opts.get("namespace"))
        if detached and name is None:
            # Ray allows a detached actor without a name (nobody can look
            # it up); raylab's registry keys detached actors by name.
            wit_opts["name"] = "(detached %016x)" % random.getrandbits(64)
        options = _types.ActorOptions(
            **wit_opts,
            max_restarts=_count(opts.get("max_restarts"), "max_restarts"),
            max_task_retries=_count(opts.get("max_task_retries"), "max_task_retries"),
            timeout_ms=opts.get("timeout_ms"),
            detached=detached,
            scheduling=_actor_scheduling(opts.get("scheduling_strategy"), _demand(opts, 0), self._cls.__name__),
        )
        data = _codec.encode_call(target, args, kwargs, 1)
        try:
            id = _call(_rt.create_actor, self._cls.__name__, data, options)
        except exceptions.RaySystemError as e:
            if opts.get("get_if_exists") and "already exists" in e.message:
                return get_actor(name, opts.get("namespace"))
            if e.kind == "invalid-argument" and "already exists" in e.message:
                raise ValueError("The name %s is already taken by another actor" % name) from None
            raise
        handle = ActorHandle(id, self._state())
        if not detached:
            _session_actors.add(handle)
        return handle

    def options(self, **options):
        """The same class with other options (``C.options(name="c")``)."""
        copy = ActorClass(self._cls, {**self._options, **options})
        # The exported class serves the copy if what travels with it (the
        # most calls at once, the environment) is the same.
        if _exported_with(copy._options) == _exported_with(self._options):
            copy._ref = self._ref
        return copy

    def bind(self, *args, **kwargs):
        from .dag import ClassNode

        return ClassNode(self, args, kwargs)

    def __call__(self, *args, **kwargs):
        raise TypeError(
            "Actors cannot be instantiated directly. Instead of '%s()', use '%s.remote()'."
            % (self.__name__, self.__name__)
        )


def _exported_with(opts):
    return opts.get("max_concurrency"), _env_vars(opts)


def _remote(target, options):
    if isinstance(target, type):
        return ActorClass(target, options)
    if not callable(target):
        raise TypeError("@ray.remote goes on a function or a class")
    return RemoteFunction(target, options)


def remote(*args, **options):
    """``@ray.remote`` or ``@ray.remote(num_cpus=..., ...)``, on a function
    (a remote function) or a class (an actor class)."""
    if len(args) == 1 and callable(args[0]) and not options:
        return _remote(args[0], {})
    if args:
        raise TypeError("use @ray.remote or @ray.remote(option=value, ...)")
    return lambda target: _remote(target, options)


def _actor_scheduling(strategy, resources, what):
    """An actor's strategy: in a cluster it is placed as a task is (``SPREAD``,
    node affinity, its resources), or by its placement group."""
    return _scheduling(strategy, resources, what)


def _namespaced(name, namespace):
    """An actor's name as the host keeps it: names live in namespaces (the
    job's own by default, as in Ray; ``init(namespace=...)`` or the
    ``namespace`` option name another)."""
    if name is None:
        return None
    namespace = namespace if namespace is not None else _namespace
    return name if namespace is None else "%s/%s" % (namespace, name)


_namespace = None


def get_actor(name, namespace=None):
    """The handle of the live actor named ``name`` (``ray.get_actor``);
    ``ValueError`` when there is none."""
    _auto_init()
    try:
        return ActorHandle(_call(_rt.get_actor, _namespaced(name, namespace)), None)
    except RayError as e:
        raise ValueError("Failed to look up actor with name '%s': %s" % (name, e.message)) from None


def kill(actor, no_restart=True):
    """Kill an actor now (``ray.kill``): its pending calls fail."""
    if not isinstance(actor, ActorHandle):
        raise ValueError("ray.kill() only supports actors; got %s" % type(actor).__name__)
    _call(_rt.kill_actor, actor._raylab_id)


# ---------------------------------------------------------------- objects


def _timeout_ms(timeout):
    if timeout is None:
        return None
    if timeout < 0:
        raise ValueError("timeout must be None or non-negative, not %r" % (timeout,))
    return int(timeout * 1000)


def _get_one(ref, timeout):
    if type(ref) is _LostRef:
        raise ref._lost(timeout)
    if type(ref) is _PendingRef:
        raise ref._why
    if not _is_ref(ref):
        raise TypeError("Attempting to call `get` on the value %s, which is not an ray.ObjectRef." % (ref,))
    value = _codec.decode(_call(_rt.get, ref._raylab_id, _timeout_ms(timeout)))
    # Ready: dropping it needs no check (see `_codec.HELD`).
    ref._raylab_done = True
    group = getattr(ref, "_raylab_group", None)
    if group is not None:
        # `pg.ready()`: Ray's value is the group.
        return group
    return _result(value)


def _result(value):
    """A decoded task result: the value, or the task's error raised."""
    if type(value) is _codec.Raised:
        raise exceptions.RayTaskError(value.task, value.text, value.error, **(value.where or {})).as_instanceof_cause()
    return value


def _get_many(refs, timeout):
    """``get`` of a list of plain refs in one runtime call (``get-many``),
    or None for the ref-by-ref path: a ref of another kind (lost, pending,
    a placement group's), or an error the runtime gave for the list, which
    the ref-by-ref path then raises in Ray's order (the first ref's first)."""
    if len(refs) < 2 or _rt is None:
        return None
    # Exactly `ObjectRef`: the lost, pending and placement-group kinds are
    # subclasses.
    if any(type(r) is not ObjectRef for r in refs):
        return None
    try:
        datas = _rt.get_many([r._raylab_id for r in refs], _timeout_ms(timeout))
    except _Err:
        return None
    for r in refs:
        # Ready: dropping it needs no check (see `_codec.HELD`).
        r._raylab_done = True
    return [_result(_codec.decode(data)) for data in datas]


def get(object_refs, timeout=None):
    """The value of one ref, or the values of a list of refs (in order).
    Raises the task's error (see ``raylab.exceptions``); ``timeout`` in
    seconds, over the whole list."""
    if _is_ref(object_refs):
        return _get_one(object_refs, _get_timeout(timeout))
    if isinstance(object_refs, ObjectRefGenerator):
        return get(list(object_refs), timeout)
    if not isinstance(object_refs, list):
        # Ray's words (a tuple is refused too).
        raise ValueError(
            "Invalid type of object refs, %s, is given. 'object_refs' must either be an ObjectRef or a "
            "list of ObjectRefs. " % (type(object_refs),)
        )
    for r in object_refs:
        if not _is_ref(r):
            raise TypeError("Attempting to call `get` on the value %s, which is not an ray.ObjectRef." % (r,))
    timeout = _get_timeout(timeout)
    values = _get_many(object_refs, timeout)
    if values is not None:
        return values
    if timeout is None:
        return [_get_one(r, None) for r in object_refs]
    deadline = _time.monotonic() + timeout
    return [_get_one(r, max(0.0, deadline - _time.monotonic())) for r in object_refs]


def _is_ref(r):
    """Whether ``r`` is an object ref (an actor handle is not one, as in
    Ray, though raylab's handles are refs underneath)."""
    return isinstance(r, ObjectRef) and not isinstance(r, ActorHandle)


def _get_timeout(timeout):
    """``get``'s timeout: a negative one waits for ever, as in Ray."""
    return None if timeout is not None and timeout < 0 else timeout


def put(value, _owner=None):
    """Store ``value``; its ref. (An ObjectRef cannot be put itself, as in
    Ray: put the value, or a list holding the ref.)"""
    _auto_init()
    if isinstance(value, ObjectRef) and not isinstance(value, ActorHandle):
        raise TypeError("Calling 'put' on an ray.ObjectRef is not allowed")
    return ObjectRef(_call(_rt.put, _codec.encode(value)))


def wait(object_refs, num_returns=1, timeout=None, fetch_local=True):
    """Block until ``num_returns`` of ``object_refs`` are ready (or
    ``timeout`` seconds passed); ``(ready, not_ready)``: at most
    ``num_returns`` ready refs, each list in the order given."""
    if _is_ref(object_refs) or isinstance(object_refs, (ObjectRefGenerator, ActorHandle)):
        raise TypeError(
            "wait() expected a list of ray.ObjectRef or ray.ObjectRefGenerator, got a single ray.ObjectRef "
            "or ray.ObjectRefGenerator %s" % (object_refs,)
        )
    if not isinstance(object_refs, list):
        raise TypeError(
            "wait() expected a list of ray.ObjectRef or ray.ObjectRefGenerator, got %s" % (type(object_refs),)
        )
    if timeout is not None and timeout < 0:
        raise ValueError("The 'timeout' argument must be nonnegative. Received %s" % (timeout,))
    for r in object_refs:
        if not (_is_ref(r) or isinstance(r, ObjectRefGenerator)):
            raise TypeError(
                "wait() expected a list of ray.ObjectRef or ray.ObjectRefGenerator, got list containing %s"
                % (type(r),)
            )
    if not object_refs:
        return [], []
    refs = list(object_refs)
    # A streaming generator is ready when its items are (raylab stores
    # them all when its task ends).
    key = {id(r): (r._ref if isinstance(r, ObjectRefGenerator) else r) for r in refs}
    if len(set(map(id, refs))) != len(refs) or len(set(refs)) != len(refs):
        raise ValueError("Wait requires a list of unique ray_waitables.")
    if num_returns <= 0:
        raise ValueError("Invalid number of objects to return %d." % num_returns)
    if num_returns > len(refs):
        raise ValueError("num_returns cannot be greater than the number of ray_waitables provided to ray.wait.")
    ids = [key[id(r)]._raylab_id for r in refs if not isinstance(key[id(r)], _PendingRef)]
    ready = set(_call(_rt.wait, ids, min(num_returns, len(ids)), _timeout_ms(timeout))) if ids else set()
    done, pending = [], []
    for r in refs:
        k = key[id(r)]
        if k._raylab_id in ready and not isinstance(k, _PendingRef) and len(done) < num_returns:
            done.append(r)
        else:
            pending.append(r)
    return done, pending


def cancel(object_ref, force=False, recursive=True):
    """Cancel the task that produces ``object_ref``: ``get`` on it raises
    ``TaskCancelledError``."""
    if isinstance(object_ref, _PendingRef):
        return
    _call(_rt.cancel, object_ref._raylab_id)


# ---------------------------------------------------------------- context


def get_runtime_context():
    """Who is running (``ray.get_runtime_context()``)."""
    from .runtime_context import RuntimeContext

    return RuntimeContext(_rt.context())


get_context = get_runtime_context


def get_gpu_ids():
    """GPU ids the calling task holds (``ray.get_gpu_ids()``)."""
    return list(_rt.context().gpu_ids)


def cluster_resources():
    """Total resources of the cluster, by name."""
    return {r.name: r.amount for r in _rt.cluster_resources()}


def available_resources():
    """Resources not held by running tasks, by name."""
    return {r.name: r.amount for r in _rt.available_resources()}


def nodes():
    """The nodes of the cluster as Ray lists them (this node, with the
    cluster's resources: raylab's SDK sees the cluster as one)."""
    c = _rt.context()
    return [
        {
            "NodeID": c.node,
            "NodeName": c.node,
            "Alive": True,
            "Resources": cluster_resources(),
        }
    ]


_initialized = False


def _auto_init():
    global _initialized
    _initialized = True


def init(
    address=None,
    *,
    num_cpus=None,
    num_gpus=None,
    resources=None,
    ignore_reinit_error=False,
    namespace=None,
    **kwargs,
):
    """Start using raylab. The runtime is already there (``raylab-host run``
    started it); ``num_cpus``, ``num_gpus`` and ``resources`` set the
    node's logical resources when this program owns its node (``run``),
    as ``ray.init`` does for the local cluster it starts. Other keyword
    arguments of Ray's are accepted and have no effect."""
    global _initialized
    if _initialized and not ignore_reinit_error and _init_called:
        raise RuntimeError(
            "Maybe you called ray.init twice by accident? This error can be suppressed by passing in "
            "'ignore_reinit_error=True'"
        )
    _mark_init()
    global _namespace
    if namespace is not None:
        _namespace = str(namespace)
    env = (kwargs.get("runtime_env") or {}).get("env_vars")
    if env:
        _job_env.update({str(k): str(v) for k, v in env.items()})
    wanted = dict(resources or {})
    if num_cpus is not None:
        wanted["CPU"] = num_cpus
    if num_gpus is not None:
        wanted["GPU"] = num_gpus
    if wanted and hasattr(_rt, "set_node_resources"):
        amounts = [_types.ResourceAmount(str(k), float(v)) for k, v in wanted.items()]
        # Actors that `shutdown` killed give their resources back as they
        # stop, a few milliseconds later: a change may wait for them.
        deadline = _time.monotonic() + (2.0 if _shutdown_killed else 0.0)
        while True:
            try:
                _call(_rt.set_node_resources, amounts)
                break
            except RayError as e:
                if _time.monotonic() < deadline:
                    _time.sleep(0.01)
                    continue
                print("raylab: warning: ray.init(...) resources ignored: %s" % e.message, file=sys.stderr)
                break
    return _ClientContext()


_init_called = False
# Whether the last `shutdown` killed actors (see `init`).
_shutdown_killed = False


def _mark_init():
    global _initialized, _init_called
    _initialized = _init_called = True


class _ClientContext(dict):
    """What ``init`` returns (Ray's ``RayContext``), usable in ``with``."""

    def __init__(self):
        super().__init__(address_info={}, dashboard_url="")
        self.dashboard_url = ""
        self.address_info = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutdown()


# The (non-detached) actors this session made, while a handle of this
# instance holds them: ``shutdown`` kills them.
_session_actors = _weakref.WeakSet()


def shutdown(*args, **kwargs):
    """End the session, as Ray's does: the actors it made (not the
    detached ones) are killed, so their resources and names are free, and
    a later ``init`` starts afresh (its own namespace and environment)."""
    global _init_called, _initialized, _namespace
    from .util.placement_group import _remove_session_groups

    _remove_session_groups()
    global _shutdown_killed
    actors = list(_session_actors)
    _session_actors.clear()
    _shutdown_killed = bool(actors)
    for actor in actors:
        try:
            _rt.kill_actor(actor._raylab_id)
        except Exception:
            pass  # Gone already.
    _namespace = None
    _job_env.clear()
    _init_called = _initialized = False


def is_initialized():
    return _initialized


def timeline(filename=None):
    """raylab writes the timeline with ``raylab-host timeline``."""
    return []


# Submodules that Ray programs import as attributes of the package.
from . import actor, dag, runtime_context, util  # noqa: E402,F401

try:
    import cloudpickle  # noqa: E402,F401  (`ray.cloudpickle`)
except ImportError:  # pragma: no cover
    pass
from .util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402
