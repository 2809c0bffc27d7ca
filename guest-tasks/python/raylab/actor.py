"""Actors as Ray's ``ray.actor`` names them: the handle's type, and
``exit_actor`` for an actor that ends itself."""

from . import ActorClass, ActorHandle, method  # noqa: F401

__all__ = ["ActorHandle", "ActorClass", "exit_actor", "method"]


class ActorExit(SystemExit):
    """Raised by :func:`exit_actor`: the runtime ends the actor once the
    method returns (it is not restarted; its later calls fail with
    ``ActorDiedError``)."""


def exit_actor():
    """End the calling actor (``ray.actor.exit_actor()``), from one of its
    methods: as in Ray, the actor is not restarted, the call that exits
    and every call after it fail with ``RayActorError``."""
    from . import _runtime

    if _runtime.current_actor() is None:
        raise TypeError("exit_actor API is called on a non-actor worker")
    raise ActorExit(0)
