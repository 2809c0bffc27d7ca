"""``ray.util``: scheduling strategies, ``ActorPool``, ``queue``, custom
serializers and ``inspect_serializability``."""

from . import queue, scheduling_strategies  # noqa: F401
from .actor_pool import ActorPool  # noqa: F401
from .check_serialize import inspect_serializability  # noqa: F401
from .serialization import deregister_serializer, register_serializer  # noqa: F401

__all__ = [
    "ActorPool",
    "queue",
    "scheduling_strategies",
    "inspect_serializability",
    "register_serializer",
    "deregister_serializer",
]
