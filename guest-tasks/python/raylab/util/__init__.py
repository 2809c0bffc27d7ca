"""``ray.util``: scheduling strategies, ``ActorPool`` and ``queue``."""

from . import queue, scheduling_strategies  # noqa: F401
from .actor_pool import ActorPool  # noqa: F401

__all__ = ["ActorPool", "queue", "scheduling_strategies"]
