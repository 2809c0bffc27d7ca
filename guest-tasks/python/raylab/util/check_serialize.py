"""``ray.util.inspect_serializability``: find what keeps an object from
being sent to a task, and say so as Ray's report does.

It walks the object as Ray's does: a function's globals and nonlocals, or
an object's functions and then its other members, down to ``depth``
levels, trying to pickle each (with the pickler raylab sends values with,
so registered serializers count). It returns ``(serializable, failures)``,
``failures`` a set of :class:`FailureTuple`.
"""

import inspect
import io
import sys

from .. import _codec

__all__ = ["FailureTuple", "inspect_serializability"]

_RED, _RED_OFF = "\x1b[31m", "\x1b[39m"
_BRIGHT, _ALL_OFF = "\x1b[1m", "\x1b[0m"


class FailureTuple:
    """One object that does not serialize: ``obj``, the ``name`` it goes
    by, and the ``parent`` that holds it."""

    def __init__(self, obj, name, parent):
        self.obj = obj
        self.name = name
        self.parent = parent

    def __repr__(self):
        return "FailTuple(%s [obj=%s, parent=%s])" % (self.name, self.obj, self.parent)


class _Report:
    """Lines of the report, indented by level (four spaces a level)."""

    def __init__(self, file):
        self.file = file
        self.level = 0
        # Ray's colours go through colorama, which drops them on the
        # process's standard streams when they are not a terminal.
        stream = sys.stdout if file is None else file
        plain = (stream is sys.__stdout__ or stream is sys.__stderr__) and not _isatty(stream)
        self.red, self.red_off = ("", "") if plain else (_RED, _RED_OFF)
        self.bright, self.all_off = ("", "") if plain else (_BRIGHT, _ALL_OFF)

    def say(self, text):
        print("    " * self.level + text, file=self.file)


def _isatty(stream):
    try:
        return stream.isatty()
    except Exception:
        return False


def _pickles(obj):
    """None if ``obj`` pickles as raylab would send it, else the error."""
    try:
        _codec._Pickler(io.BytesIO(), []).dump(obj)
        return None
    except Exception as e:
        return e


def inspect_serializability(base_obj, name=None, depth=3, print_file=None):
    """Whether ``base_obj`` serializes, and the set of objects found to
    stop it (``FailureTuple``); prints what it tried (to ``print_file``,
    default stdout)."""
    return _inspect(base_obj, name, depth, None, None, _Report(print_file))


def _inspect(obj, name, depth, parent, failures, report):
    top = failures is None
    if top:
        failures = set()
        title = "Checking Serializability of %s" % (obj,)
        rule = "=" * min(len(title), 80)
        report.say(rule)
        report.say(title)
        report.say(rule)
        if name is None:
            name = str(obj)
    else:
        report.say("Serializing '%s' %s..." % (name, obj))
    error = _pickles(obj)
    if error is None:
        return True, failures
    report.say("%s!!! FAIL%s serialization: %s" % (report.red, report.red_off, error))
    if depth == 0:
        try:
            failures.add(FailureTuple(obj, name, parent))
        except Exception:  # Not hashable.
            pass
    if depth <= 0:
        return False, failures
    if inspect.isfunction(obj):
        _inside_function(obj, depth, failures, report)
    else:
        _inside_object(obj, depth, failures, report)
    if not failures:
        failures.add(FailureTuple(obj, name, parent))
    if top:
        report.say(rule)
        found = "\n".join(str(f) for f in failures)
        report.say(
            "Variable: \n\n\t%s%s%s\n\nwas found to be non-serializable. There may be multiple other "
            "undetected variables that were non-serializable. " % (report.bright, found, report.all_off)
        )
        report.say(
            "Consider either removing the instantiation/imports of these variables or moving the "
            "instantiation into the scope of the function/class. "
        )
        report.say(rule)
        report.say(
            "Check https://docs.ray.io/en/master/ray-core/objects/serialization.html#troubleshooting for "
            "more information."
        )
        report.say(
            "If you have any suggestions on how to improve this error message, please reach out to the "
            "Ray developers on github.com/ray-project/ray/issues/"
        )
        report.say(rule)
    return False, failures


def _scan(items, depth, parent, failures, report, found):
    """Inspect ``(name, obj)`` pairs, one level in, until one has been
    found not to serialize (Ray's walk: a scan that starts with ``found``
    already true still inspects its first item); whether one was."""
    report.level += 1
    try:
        for name, obj in items:
            ok, _ = _inspect(obj, name, depth - 1, parent, failures, report)
            found = found or not ok
            if found:
                break
    finally:
        report.level -= 1
    return found


def _inside_function(f, depth, failures, report):
    scope = inspect.getclosurevars(f)
    found = False
    for kind, names in (("global", scope.globals), ("nonlocal", scope.nonlocals)):
        if names:
            report.say("Detected %d %s variables. Checking serializability..." % (len(names), kind))
            found = _scan(names.items(), depth, f, failures, report, found)
    if not found:
        report.say("WARNING: Did not find non-serializable object in %s. This may be an oversight." % (f,))
    return found


def _inside_object(obj, depth, failures, report):
    found = _scan(inspect.getmembers(obj, predicate=inspect.isfunction), depth, obj, failures, report, False)
    members = [
        (n, m)
        for n, m in inspect.getmembers(obj)
        if not (n.startswith("__") and n.endswith("__")) and not inspect.isbuiltin(m)
    ]
    found = _scan(members, depth, obj, failures, report, found)
    if not found:
        report.say("WARNING: Did not find non-serializable object in %s. This may be an oversight." % (obj,))
    return found
