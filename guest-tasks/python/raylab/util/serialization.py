"""``ray.util.register_serializer`` and ``deregister_serializer``: how
instances of a class travel between tasks.

As in Ray, a serializer applies where it was registered (the driver, or
the task or actor that registered it): values that place sends are
pickled as ``deserializer(serializer(value))``, so whoever receives them
rebuilds them with the deserializer, which travels by value and needs no
registration there. A value a task sends back is pickled by that task's
own registrations.
"""

from .. import _codec

__all__ = ["register_serializer", "deregister_serializer"]


def register_serializer(cls, *, serializer, deserializer):
    """Send instances of ``cls`` (exactly that type, not its subclasses) as
    ``serializer(obj)``, rebuilt by ``deserializer`` where received. Both
    must be picklable themselves; a later registration for ``cls``
    replaces this one."""

    def reduce(obj):
        return deserializer, (serializer(obj),)

    _codec.CUSTOM_REDUCERS[cls] = reduce


def deregister_serializer(cls):
    """Forget the serializer of ``cls`` (nothing happens if it has none)."""
    _codec.CUSTOM_REDUCERS.pop(cls, None)
