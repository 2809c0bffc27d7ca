"""``ray.util``: scheduling strategies, placement groups, ``ActorPool``,
``queue``, custom serializers and ``inspect_serializability``."""

from . import queue, scheduling_strategies  # noqa: F401
from .placement_group import (  # noqa: F401
    PlacementGroup,
    get_current_placement_group,
    get_placement_group,
    placement_group,
    placement_group_table,
    remove_placement_group,
)
from .actor_pool import ActorPool  # noqa: F401
from .check_serialize import inspect_serializability  # noqa: F401
from .serialization import deregister_serializer, register_serializer  # noqa: F401

__all__ = [
    "ActorPool",
    "queue",
    "scheduling_strategies",
    "PlacementGroup",
    "placement_group",
    "placement_group_table",
    "remove_placement_group",
    "get_placement_group",
    "get_current_placement_group",
    "inspect_serializability",
    "register_serializer",
    "deregister_serializer",
]
