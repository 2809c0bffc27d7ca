"""``ray.util``: scheduling strategies and ``ActorPool``."""

from . import scheduling_strategies  # noqa: F401
from .actor_pool import ActorPool  # noqa: F401

__all__ = ["ActorPool", "scheduling_strategies"]
