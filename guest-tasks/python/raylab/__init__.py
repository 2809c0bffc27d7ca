"""raylab for Python: Ray's API for tasks that run sandboxed in raylab.

A Python program becomes a WebAssembly component (built by componentize-py
when ``raylab-host run app.py`` first sees it) and runs under raylab like
any guest: each remote call in a fresh sandbox, under its quotas::

    import raylab

    @raylab.remote
    def square(x):
        return x * x

    refs = [square.remote(i) for i in range(10)]
    print(raylab.get(refs))

The API mirrors Ray's: ``@raylab.remote`` (with resource options, as
``@raylab.remote(num_cpus=2)``), ``f.remote(...)``,
``f.options(...).remote(...)``, ``raylab.get`` (one ref or a list),
``put``, ``wait``, ``cancel``, ``get_context``, ``cluster_resources`` and
``available_resources``. ``raylab.init()`` and ``raylab.shutdown()`` exist
so that Ray programs read the same; the runtime is already there.

Values travel as MessagePack (None, bool, int, float, str, bytes, list,
tuple, dict and ``ObjectRef``). A ref passed as an argument is a
dependency: the task starts once it is ready and receives its value (as in
Ray); refs nested inside values are passed as refs. An ``ObjectRef`` holds
its object alive until Python collects it. An exception in a remote
function reaches the caller as :class:`TaskError` (kind ``task-failed``)
carrying the traceback.
"""

from . import _msgpack

try:
    from wit_world.imports import runtime as _rt
    from wit_world.imports import types as _types
except ImportError:  # Outside a component: the codec still works.
    _rt = None
    _types = None

__all__ = [
    "ObjectRef",
    "ActorHandle",
    "TaskError",
    "NodeAffinitySchedulingStrategy",
    "remote",
    "remote_function",
    "get",
    "put",
    "wait",
    "cancel",
    "get_context",
    "get_actor",
    "kill",
    "cluster_resources",
    "available_resources",
    "init",
    "shutdown",
    "is_initialized",
]


class TaskError(Exception):
    """An error from the runtime or from a task, as a value: ``kind`` is
    the contract's error kind (``task-failed``, ``timeout``, ...), ``task``
    the task it is about, ``message`` the cause (a task's traceback)."""

    def __init__(self, kind, message, task=None):
        self.kind = kind
        self.task = task
        self.message = message
        where = " (task %s)" % task if task else ""
        super().__init__("%s%s: %s" % (kind, where, message))


def _kind(kind):
    return kind.name.lower().replace("_", "-")


def _call(f, *args):
    """Call a runtime function, turning its error value into TaskError."""
    from componentize_py_types import Err

    try:
        return f(*args)
    except Err as e:
        err = e.value
        raise TaskError(_kind(err.kind), err.message, err.task) from None


class ObjectRef:
    """A reference to an object in the store (a task's future result, or a
    value ``put`` there). It holds the object alive until it is collected."""

    __slots__ = ("_raylab_id", "__weakref__")

    def __init__(self, id):
        # An id this instance owns one count of.
        self._raylab_id = id

    @property
    def id(self):
        return self._raylab_id

    def __del__(self):
        if _rt is not None:
            try:
                _rt.release(self._raylab_id)
            except Exception:
                pass

    def __repr__(self):
        return "ObjectRef(%d)" % self._raylab_id

    def __eq__(self, other):
        return isinstance(other, ObjectRef) and other._raylab_id == self._raylab_id

    def __hash__(self):
        return hash(self._raylab_id)

    def __reduce__(self):
        raise TypeError("an ObjectRef travels inside raylab values, not pickles")

    def __getattr__(self, method):
        # A ref passed to a task may be an actor's handle: its methods are
        # callable through it, as through the handle itself.
        if method.startswith("_"):
            raise AttributeError(method)
        return _ActorMethod(self._raylab_id, method)


class ActorHandle(ObjectRef):
    """A handle to an actor (``C.remote(...)``, ``raylab.get_actor``):
    ``handle.method.remote(...)`` calls a method, one at a time, in the
    order called. The actor lives while a handle to it does (unless it is
    detached); a handle passed to a task arrives as an ``ObjectRef`` that
    works the same way."""

    __slots__ = ()

    def __repr__(self):
        return "ActorHandle(%d)" % self._raylab_id


class _ActorMethod:
    __slots__ = ("_actor", "_method")

    def __init__(self, actor, method):
        self._actor, self._method = actor, method

    def remote(self, *args):
        """Call the method; returns the ref of its result."""
        return ObjectRef(_call(_rt.call_actor, self._actor, self._method, _encode(list(args))))

    def __call__(self, *args, **kwargs):
        raise TypeError("actor methods are called with .%s.remote(...)" % self._method)


def _owned_ref(id):
    """A ref decoded from bytes: a new count of its own, as a copy."""
    _call(_rt.retain, id)
    return ObjectRef(id)


def _encode(value, refs=None):
    return _msgpack.encode(value, refs)


def _decode(data):
    return _msgpack.decode(data, _owned_ref)


class NodeAffinitySchedulingStrategy:
    """Run on one node of the cluster (by name or id); ``soft``: elsewhere
    when it cannot, instead of failing (Ray's strategy of the same name)."""

    def __init__(self, node_id, soft=False):
        self.node_id = str(node_id)
        self.soft = soft


_OPTIONS = {
    "name",
    "num_cpus",
    "num_gpus",
    "memory",
    "resources",
    "max_retries",
    "retry_exceptions",
    "timeout_ms",
    "isolation",
    "scheduling_strategy",
}


def _check_options(opts, known, what):
    unknown = set(opts) - known
    if unknown:
        raise TypeError(
            "unknown %s options: %s (raylab knows %s)"
            % (what, ", ".join(sorted(unknown)), ", ".join(sorted(known)))
        )


def _resource_options(opts):
    """The options tasks and actors share, as the contract's fields."""
    memory = opts.get("memory")
    return dict(
        name=opts.get("name"),
        num_cpus=_float_or_none(opts.get("num_cpus")),
        num_gpus=_float_or_none(opts.get("num_gpus")),
        memory=int(memory) if memory is not None else None,
        resources=[
            _types.ResourceAmount(str(k), float(v)) for k, v in (opts.get("resources") or {}).items()
        ],
    )


def _task_options(opts):
    scheduling = None
    strategy = opts.get("scheduling_strategy")
    if strategy == "SPREAD":
        scheduling = _types.SchedulingStrategy_Spread()
    elif isinstance(strategy, NodeAffinitySchedulingStrategy):
        scheduling = _types.SchedulingStrategy_NodeAffinity(
            _types.NodeAffinity(strategy.node_id, strategy.soft)
        )
    elif strategy not in (None, "DEFAULT"):
        raise TypeError("scheduling_strategy: 'DEFAULT', 'SPREAD' or NodeAffinitySchedulingStrategy")
    isolation = opts.get("isolation")
    if isolation is not None:
        isolation = {"fresh": _types.Isolation.FRESH, "warm": _types.Isolation.WARM}[isolation]
    return _types.TaskOptions(
        **_resource_options(opts),
        max_retries=opts.get("max_retries"),
        retry_exceptions=opts.get("retry_exceptions"),
        timeout_ms=opts.get("timeout_ms"),
        isolation=isolation,
        scheduling=scheduling,
    )


def _float_or_none(v):
    return None if v is None else float(v)


# Remote functions of this program, by name: what the host calls.
_functions = {}


class RemoteFunction:
    """A function that can run as a task: ``f.remote(...)`` submits it
    (by ``name``: this program's function, or ``module/f`` of another)."""

    def __init__(self, name, options, function=None):
        _task_options_check(options)
        self._name = name
        self._options = dict(options)
        self._function = function
        # The contract's form of the options, made at the first call.
        self._wit = None
        self.__name__ = name
        self.__doc__ = function.__doc__ if function else None

    def __call__(self, *args, **kwargs):
        raise TypeError(
            "remote function `%s` cannot be called directly: use %s.remote(...)"
            % (self._name, self._name)
        )

    def remote(self, *args):
        """Submit a call; returns the ref of its future result."""
        if self._wit is None:
            self._wit = _task_options(self._options)
        return ObjectRef(_call(_rt.submit, self._name, _encode(list(args)), self._wit))

    def options(self, **options):
        """The same function with other options for the calls made through
        it (``f.options(num_cpus=2).remote(x)``)."""
        return RemoteFunction(self._name, {**self._options, **options}, self._function)


def _task_options_check(opts):
    _check_options(opts, _OPTIONS, "task")


# The actor this instance holds, when it is one.
_actor = None

_ACTOR_OPTIONS = {
    "name",
    "num_cpus",
    "num_gpus",
    "memory",
    "resources",
    "max_restarts",
    "max_task_retries",
    "timeout_ms",
    "lifetime",
}


class ActorClass:
    """A class whose instances are actors: ``C.remote(...)`` makes one."""

    def __init__(self, cls, options):
        self._cls = cls
        self._name = cls.__name__
        self._options = dict(options)
        _actor_options_check(self._options)

        def construct(*args):
            global _actor
            _actor = cls(*args)
            return self._name

        _functions[self._name + ".new"] = construct
        for attr in dir(cls):
            if attr.startswith("_") or not callable(getattr(cls, attr)):
                continue

            def method(*args, _attr=attr):
                if _actor is None:
                    raise RuntimeError("this instance holds no %s actor" % self._name)
                return getattr(_actor, _attr)(*args)

            _functions["%s.%s" % (self._name, attr)] = method

    def remote(self, *args):
        """Make an actor (its constructor runs in its own instance)."""
        opts = self._options
        options = _types.ActorOptions(
            **_resource_options(opts),
            max_restarts=opts.get("max_restarts"),
            max_task_retries=opts.get("max_task_retries"),
            timeout_ms=opts.get("timeout_ms"),
            detached=opts.get("lifetime") == "detached",
        )
        return ActorHandle(_call(_rt.create_actor, self._name, _encode(list(args)), options))

    def options(self, **options):
        """The same class with other options (``C.options(name="c")``)."""
        merged = dict(self._options)
        merged.update(options)
        _actor_options_check(merged)
        copy = ActorClass.__new__(ActorClass)
        copy._cls, copy._name, copy._options = self._cls, self._name, merged
        return copy

    def __call__(self, *args, **kwargs):
        raise TypeError("actor class `%s` is made with %s.remote(...)" % (self._name, self._name))


def _actor_options_check(opts):
    _check_options(opts, _ACTOR_OPTIONS, "actor")
    if opts.get("lifetime") not in (None, "detached", "non_detached"):
        raise TypeError("lifetime: 'detached' or 'non_detached'")


def _remote(target, options):
    if isinstance(target, type):
        return ActorClass(target, options)
    function = RemoteFunction(target.__name__, options, target)
    _functions[target.__name__] = target
    return function


def remote(*args, **options):
    """``@raylab.remote`` or ``@raylab.remote(num_cpus=..., ...)``, on a
    function (a remote function) or a class (an actor class)."""
    if len(args) == 1 and callable(args[0]) and not options:
        return _remote(args[0], {})
    if args:
        raise TypeError("use @raylab.remote or @raylab.remote(option=value, ...)")
    return lambda target: _remote(target, options)


def remote_function(name, **options):
    """A remote function of another loaded module, by name: ``"module/f"``
    (``raylab-host run app.py --plugin module=plugin.wasm``), in any
    language. Its arguments and result are MessagePack: a Rust struct is a
    dict of its fields, an enum variant ``{"Variant": fields}``."""
    return RemoteFunction(name, options)


def get_actor(name):
    """The handle of the live actor named ``name`` (``ray.get_actor``)."""
    return ActorHandle(_call(_rt.get_actor, name))


def kill(actor):
    """Kill an actor now (``ray.kill``): its pending calls fail."""
    _call(_rt.kill_actor, actor._raylab_id)


def _timeout_ms(timeout):
    return None if timeout is None else int(timeout * 1000)


def get(refs, timeout=None):
    """The value of one ref, or the values of a list of refs (in order).
    Raises :class:`TaskError` when a task failed; ``timeout`` in seconds."""
    if isinstance(refs, ObjectRef):
        return _decode(_call(_rt.get, refs._raylab_id, _timeout_ms(timeout)))
    return [get(r, timeout) for r in refs]


def put(value):
    """Store ``value``; its ref."""
    return ObjectRef(_call(_rt.put, _encode(value)))


def wait(refs, num_returns=1, timeout=None):
    """Block until ``num_returns`` of ``refs`` are ready (or ``timeout``
    seconds passed); ``(ready, not_ready)``, each in the order given."""
    refs = list(refs)
    ready = set(_call(_rt.wait, [r._raylab_id for r in refs], num_returns, _timeout_ms(timeout)))
    return [r for r in refs if r._raylab_id in ready], [r for r in refs if r._raylab_id not in ready]


def cancel(ref):
    """Cancel the task that produces ``ref``."""
    _call(_rt.cancel, ref._raylab_id)


class RuntimeContext:
    """Who is running (``raylab.get_context()``)."""

    def __init__(self, c):
        self.task_id = c.task_id
        self.module = c.module
        self.function = c.function
        self.attempt = c.attempt
        self.gpu_ids = list(c.gpu_ids)
        self.resources = {r.name: r.amount for r in c.resources}
        self.node = c.node

    def get_node_id(self):
        return self.node

    def get_task_id(self):
        return self.task_id


def get_context():
    """The calling task's context (``ray.get_runtime_context()``)."""
    return RuntimeContext(_rt.context())


def get_gpu_ids():
    """GPU ids the calling task holds (``ray.get_gpu_ids()``)."""
    return list(_rt.context().gpu_ids)


def cluster_resources():
    """Total resources of the cluster, by name."""
    return {r.name: r.amount for r in _rt.cluster_resources()}


def available_resources():
    """Resources not held by running tasks, by name."""
    return {r.name: r.amount for r in _rt.available_resources()}


def init(*args, **kwargs):
    """Nothing to start: the program runs inside raylab already (kept so
    that Ray programs read the same)."""


def shutdown():
    """Nothing to stop (see :func:`init`)."""


def is_initialized():
    return True
