"""The errors raylab raises, with Ray's names and hierarchy
(``ray.exceptions``), so that ``except ray.exceptions.RayTaskError`` and
friends read the same.

Every one carries the contract's error ``kind`` (``task-failed``,
``timeout``, ...), the ``task`` it is about and the host's ``message``. An
exception raised by a remote function reaches ``get`` as an instance of
both :class:`RayTaskError` and the function's own exception type (Ray's
``RayTaskError(ValueError)``), so ``except ValueError`` catches it and
``e.cause`` is the original exception.
"""

import os as _os

__all__ = [
    "RayError",
    "RayTaskError",
    "TaskCancelledError",
    "WorkerCrashedError",
    "RayActorError",
    "ActorDiedError",
    "ActorUnavailableError",
    "ActorUnschedulableError",
    "TaskUnschedulableError",
    "GetTimeoutError",
    "ObjectLostError",
    "OwnerDiedError",
    "ObjectStoreFullError",
    "OutOfMemoryError",
    "RaySystemError",
    "PendingCallsLimitExceeded",
    "TaskError",
    "CrossLanguageError",
]


class RayError(Exception):
    """The base of every raylab error."""

    kind = "internal"
    task = None
    message = ""

    def _fill(self, kind, message, task):
        self.kind, self.message, self.task = kind, message, task
        return self

    def __reduce__(self):
        # Rebuilt as it is, whatever its constructor takes (they differ).
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls, args, state):
    e = cls.__new__(cls)
    e.args = args
    e.__dict__.update(state)
    return e


# raylab's older name: every error of the runtime is one, with ``kind``,
# ``message`` and ``task``.
TaskError = RayError


class RaySystemError(RayError):
    """A failure of the runtime itself, or a call it refused (``kind``
    says which)."""

    def __init__(self, kind, message, task=None):
        self._fill(kind, message, task)
        where = " (task %s)" % task if task else ""
        super().__init__("%s%s: %s" % (kind, where, message))


class CrossLanguageError(RayError):
    """An error raised by a remote function of another language."""


# Ray colours the first line of a task's error (with colorama's codes, in
# any terminal or none); so does raylab, so that it prints the same.
_CYAN, _RESET = "\x1b[36m", "\x1b[39m"
# The SDK's own frames are left out of a task's traceback, as Ray leaves
# out its own.
_SDK_DIR = _os.path.dirname(_os.path.abspath(__file__))


def _internal_frame(line):
    return line.startswith('  File "%s/' % _SDK_DIR)


def _node_ip():
    """What raylab shows as the node's IP in errors: its loopback address,
    or the node's name in a cluster."""
    try:
        from wit_world.imports import runtime

        node = runtime.context().node
    except Exception:
        return "127.0.0.1"
    return "127.0.0.1" if node == "local" else node


class RayTaskError(RayError):
    """A remote function raised: ``cause`` is its exception, ``traceback_str``
    the traceback as the task printed it. ``str()`` reads as Ray's:
    ``ray::NAME() (pid=..., ip=...)`` (for an actor's method
    ``ray::Class.method()``, with the actor's id and repr), then the
    task's traceback without its first line."""

    def __init__(
        self,
        function_name="",
        traceback_str="",
        cause=None,
        proctitle=None,
        pid=None,
        ip=None,
        actor_repr=None,
        actor_id=None,
    ):
        self.proctitle = proctitle or "ray::%s" % (function_name or "task")
        self.pid = pid or _os.getpid()
        self.ip = ip or _node_ip()
        self.function_name = function_name
        self.traceback_str = traceback_str
        self.actor_repr = actor_repr
        self._actor_id = actor_id
        self.cause = cause
        self._fill("task-failed", traceback_str, function_name)
        self.args = (function_name, traceback_str, cause, proctitle, pid, ip)

    def _header(self):
        line = "%s%s()%s (pid=%s, ip=%s" % (_CYAN, self.proctitle, _RESET, self.pid, self.ip)
        if self.actor_repr:
            return line + ", actor_id=%s, repr=%s)" % (self._actor_id, self.actor_repr)
        return line + ")"

    def __str__(self):
        # Ray's shape: each "Traceback" line becomes the header; the SDK's
        # own frames are left out.
        lines = self.traceback_str.strip().split("\n")
        out = []
        internal = False
        for line in lines:
            if line.startswith("Traceback "):
                out.append(self._header())
                internal = False
            elif line.startswith("  File "):
                internal = _internal_frame(line)
                if not internal:
                    out.append(line)
            elif internal and line.startswith("    "):
                pass  # The SDK frame's code (and its carets).
            else:
                internal = False
                out.append(line)
        if not any(line.startswith("Traceback ") for line in lines):
            out.insert(0, self._header())
        return "\n".join(out)

    def as_instanceof_cause(self):
        """This error as an instance of both RayTaskError and the cause's
        type, so that ``except CauseType`` catches it (as in Ray, where a
        ``ray.exceptions`` error raised by a task, such as
        ``TaskCancelledError``, is made one too)."""
        cause_cls = type(self.cause)
        if self.cause is None or issubclass(RayTaskError, cause_cls) or not issubclass(cause_cls, Exception):
            # SystemExit and friends are not made into errors one catches.
            return self
        try:
            cls = _dual_types[cause_cls]
        except KeyError:
            name = "RayTaskError(%s)" % cause_cls.__name__
            try:
                cls = type(
                    name,
                    (RayTaskError, cause_cls),
                    {"__init__": _dual_init, "__getattr__": _dual_getattr, "__str__": _dual_str},
                )
                cls.__qualname__ = name
                cls.__module__ = "ray.exceptions"
            except TypeError:  # A type that cannot be a base (layout conflict).
                return self
            _dual_types[cause_cls] = cls
        e = cls.__new__(cls)
        # The cause's own attributes win over the task's fields (a
        # `message` of the user's exception reads as its own), as in Ray,
        # whose instance holds only `cause`; its text is fixed now.
        own = getattr(self.cause, "__dict__", {})
        e.__dict__.update((k, v) for k, v in self.__dict__.items() if k not in own)
        e.cause = self.cause
        e._raylab_str = str(self)
        e.args = (self.cause,)
        return e


_dual_types = {}


def _dual_init(self, cause):
    self.cause = cause
    self.args = (cause,)


def _dual_getattr(self, name):
    cause = self.__dict__.get("cause")
    if cause is None:
        raise AttributeError(name)
    return getattr(cause, name)


def _dual_str(self):
    text = self.__dict__.get("_raylab_str")
    return text if text is not None else RayTaskError.__str__(self)


class TaskCancelledError(RayError):
    """The task was cancelled (``ray.cancel``). Cancelled while it ran (a
    task, or an async actor's call), it reaches ``get`` as
    ``RayTaskError(TaskCancelledError)``, an instance of both, as in Ray;
    cancelled before it started, as this error alone."""

    def __init__(self, task_id=None, error_message=None):
        self.task_id = task_id
        self.error_message = error_message

    def __str__(self):
        msg = ""
        if self.task_id:
            msg = "Task: " + str(self.task_id) + " was cancelled. "
        if self.error_message:
            msg += self.error_message
        return msg


class WorkerCrashedError(RayError):
    """The task's sandbox crashed (a trap, or a limit it broke)."""


class OutOfMemoryError(RayError):
    """The task grew past its memory quota."""


class RayActorError(RayError):
    """The actor died, or could not be reached, before or during the call."""

    def __init__(self, *args, error_msg=None, **kwargs):
        self.error_msg = error_msg or (args[0] if args and isinstance(args[0], str) else None)
        super().__init__(self.error_msg or "the actor died")


class ActorDiedError(RayActorError):
    """The actor is dead: it crashed past its restarts, was killed, exited
    or its job ended."""


class ActorUnavailableError(RayActorError):
    """The actor cannot be reached for now."""


class ActorUnschedulableError(RayError):
    """No node can ever hold the actor."""


class TaskUnschedulableError(RayError):
    """No node can ever hold the task (its resources are infeasible)."""


class GetTimeoutError(RayError, TimeoutError):
    """``get`` (or an await) ran out of time."""


class ObjectLostError(RayError):
    """The object's data is gone (its node died)."""


class OwnerDiedError(ObjectLostError):
    """The node that owned the object died."""


class ObjectStoreFullError(RayError):
    """The object store has no room for the object."""


class PendingCallsLimitExceeded(RayError):
    """Too many calls wait (raylab's guard against fork bombs)."""


_BY_KIND = {
    "task-crashed": WorkerCrashedError,
    "cancelled": TaskCancelledError,
    "actor-died": ActorDiedError,
    "object-lost": ObjectLostError,
    "object-store-full": ObjectStoreFullError,
    "memory-quota-exceeded": OutOfMemoryError,
    "infeasible": TaskUnschedulableError,
    "too-many-tasks": PendingCallsLimitExceeded,
}


def from_kind(kind, message, task=None):
    """The exception for a runtime error of ``kind``."""
    if kind == "timeout":
        # Ray's words; `message` (kept below) says which object and how long.
        e = GetTimeoutError("Get timed out: some object(s) not ready.")
    elif kind in ("task-failed", "dependency-failed"):
        e = RayTaskError(task or "", message, None)
    else:
        cls = _BY_KIND.get(kind)
        if cls is None:
            return RaySystemError(kind, message, task)
        if cls is TaskCancelledError:
            e = cls(task, message)
        elif issubclass(cls, RayActorError):
            e = cls(error_msg=message)
        else:
            e = cls(message)
    return e._fill(kind, message, task)
