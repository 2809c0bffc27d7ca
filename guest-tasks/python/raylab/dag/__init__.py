"""Ray's DAG API (``ray.dag``): ``f.bind(...)`` builds a node of a task
graph instead of running it; ``node.execute(...)`` submits the graph and
returns the ref of its output (a list of refs for a
:class:`MultiOutputNode`). :class:`InputNode` stands for ``execute``'s
arguments. Each ``execute`` runs the whole graph once: every node is
submitted once per execution (actors of ``C.bind()`` are made anew),
with the refs of the nodes it depends on as its arguments.
"""

__all__ = [
    "DAGNode",
    "InputNode",
    "InputAttributeNode",
    "FunctionNode",
    "ClassNode",
    "ClassMethodNode",
    "MultiOutputNode",
]


class DAGNode:
    """A node of a task graph."""

    def execute(self, *args, **kwargs):
        """Run the graph with ``args`` as its input; the output's ref."""
        return self._run(_Execution(args, kwargs))

    def _run(self, ex):
        key = id(self)
        if key not in ex.done:
            ex.done[key] = self._compute(ex)
        return ex.done[key]

    def _compute(self, ex):
        raise NotImplementedError


class _Execution:
    def __init__(self, args, kwargs):
        self.args, self.kwargs, self.done = args, kwargs, {}


def _resolve(value, ex):
    if isinstance(value, DAGNode):
        return value._run(ex)
    if isinstance(value, list):
        return [_resolve(v, ex) for v in value]
    if isinstance(value, tuple):
        return tuple(_resolve(v, ex) for v in value)
    if isinstance(value, dict):
        return {k: _resolve(v, ex) for k, v in value.items()}
    return value


class InputNode(DAGNode):
    """``execute``'s input: the value when it gets one argument; index or
    attribute it (``inp[0]``, ``inp.x``) for one of several."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __getitem__(self, key):
        return InputAttributeNode(self, key, "item")

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return InputAttributeNode(self, name, "attr")

    def _compute(self, ex):
        if len(ex.args) == 1 and not ex.kwargs:
            return ex.args[0]
        if not ex.args and not ex.kwargs:
            return None
        return _Inputs(ex.args, ex.kwargs)


class _Inputs:
    def __init__(self, args, kwargs):
        self.args, self.kwargs = args, kwargs


class InputAttributeNode(DAGNode):
    """One part of the input (``inp[0]``, ``inp["k"]``, ``inp.x``)."""

    def __init__(self, input_node, key, how):
        self._input, self._key, self._how = input_node, key, how

    def _compute(self, ex):
        value = self._input._run(ex)
        if isinstance(value, _Inputs):
            if isinstance(self._key, int):
                return value.args[self._key]
            return value.kwargs[self._key]
        if self._how == "item":
            return value[self._key]
        return getattr(value, self._key)


class FunctionNode(DAGNode):
    """A remote function's call in the graph."""

    def __init__(self, function, args, kwargs):
        self._function, self._args, self._kwargs = function, args, kwargs

    def _compute(self, ex):
        return self._function.remote(*_resolve(list(self._args), ex), **_resolve(self._kwargs, ex))


class ClassNode(DAGNode):
    """An actor made in the graph (``C.bind(...)``); its methods bind too.
    As in Ray, the calls bound on one actor run in the order they were
    bound: each depends on the one bound before it, so a call whose result
    nothing uses still runs before the later ones."""

    def __init__(self, actor_class, args, kwargs):
        self._class, self._args, self._kwargs = actor_class, args, kwargs
        self._last_call = None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _BoundMethod(self, name)

    def _compute(self, ex):
        return self._class.remote(*_resolve(list(self._args), ex), **_resolve(self._kwargs, ex))


class _BoundMethod:
    def __init__(self, owner, name):
        self._owner, self._name = owner, name

    def bind(self, *args, **kwargs):
        node = ClassMethodNode(self._owner, self._name, args, kwargs)
        node._after = self._owner._last_call
        self._owner._last_call = node
        return node

    def options(self, **options):
        return self


class ClassMethodNode(DAGNode):
    """An actor method's call in the graph (on a :class:`ClassNode` or on
    a live actor's handle)."""

    def __init__(self, actor, method, args, kwargs):
        self._actor, self._method, self._args, self._kwargs = actor, method, args, kwargs
        # The call bound on the same actor before this one.
        self._after = None

    def _compute(self, ex):
        if self._after is not None:
            self._after._run(ex)
        actor = self._actor._run(ex) if isinstance(self._actor, DAGNode) else self._actor
        call = getattr(actor, self._method)
        return call.remote(*_resolve(list(self._args), ex), **_resolve(self._kwargs, ex))


class MultiOutputNode(DAGNode):
    """Several outputs: ``execute`` returns the list of their refs."""

    def __init__(self, outputs):
        self._outputs = list(outputs)

    def _compute(self, ex):
        return [o._run(ex) for o in self._outputs]
