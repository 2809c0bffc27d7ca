"""Placement groups (``ray.util.placement_group``): bundles of resources
reserved together, for the tasks and actors scheduled into them with
``PlacementGroupSchedulingStrategy``.

As in Ray: ``placement_group(bundles, strategy, name, lifetime)`` returns at
once; ``pg.ready()`` is a ref that is ready once every bundle is reserved
(``ray.get`` on it returns the group), ``pg.wait(seconds)`` says whether it
is; a group that can never fit stays pending; a task asking for more than
any bundle holds, or for a bundle the group lacks, raises ``ValueError``
when submitted; ``remove_placement_group`` gives the resources back;
``get_current_placement_group()`` is the group the calling task or actor
runs in (``None`` in the driver); with ``placement_group_capture_child_tasks``
the tasks a task submits go in its group too.

Where raylab differs: a group's bundles are all reserved on the node that
creates it (so ``STRICT_SPREAD`` with two bundles or more stays pending, as
on a one-node Ray cluster), and removing a group
lets its running tasks and actors run on (Ray kills them); their
resources return to the node as they end.
"""

import raylab as _raylab

from .._codec import ObjectRef

__all__ = [
    "PlacementGroup",
    "placement_group",
    "remove_placement_group",
    "get_placement_group",
    "placement_group_table",
    "get_current_placement_group",
]

_STRATEGIES = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")


class PlacementGroupID:
    """A group's id (Ray's ``PlacementGroupID``)."""

    __slots__ = ("_id",)

    def __init__(self, id):
        self._id = id

    def hex(self):
        return "%016x" % self._id

    def binary(self):
        return self._id.to_bytes(8, "big")

    def is_nil(self):
        return self._id == 0

    def __eq__(self, other):
        return isinstance(other, PlacementGroupID) and other._id == self._id

    def __hash__(self):
        return hash(self._id)

    def __repr__(self):
        return "PlacementGroupID(%s)" % self.hex()


class _ReadyRef(ObjectRef):
    """``pg.ready()``: ``ray.get`` on it returns the group, as in Ray."""

    __slots__ = ("_raylab_group",)


class PlacementGroup:
    """A handle to a placement group (it pickles as its id: a task given
    one uses the same group)."""

    def __init__(self, id, bundle_cache=None):
        self.id = id if isinstance(id, PlacementGroupID) else PlacementGroupID(id)
        self.bundle_cache = bundle_cache

    @staticmethod
    def empty():
        return PlacementGroup(0)

    @property
    def is_empty(self):
        return self.id.is_nil()

    def ready(self):
        """A ref that is ready once the group is created (it fails if the
        group is removed first); ``ray.get`` on it returns the group."""
        _raylab._rt.retain(self.id._id)
        ref = _ReadyRef(self.id._id)
        ref._raylab_group = self
        return ref

    def wait(self, timeout_seconds=30):
        """Whether the group is created within ``timeout_seconds``."""
        ready, _ = _raylab.wait([self.ready()], timeout=timeout_seconds)
        return bool(ready) and _info(self.id._id).state == _raylab._types.PlacementGroupState.CREATED

    @property
    def bundle_specs(self):
        """The bundles, as dicts of resource amounts."""
        self._fill_bundle_cache()
        return self.bundle_cache

    @property
    def bundle_count(self):
        self._fill_bundle_cache()
        return len(self.bundle_cache)

    def _fill_bundle_cache(self):
        if not self.bundle_cache:
            info = _info(self.id._id)
            self.bundle_cache = [{r.name: r.amount for r in b} for b in info.bundles] if info else []

    def __reduce__(self):
        return (PlacementGroup, (self.id._id, self.bundle_cache))

    def __eq__(self, other):
        return isinstance(other, PlacementGroup) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return "PlacementGroup(id=%s, bundle_cache=%r)" % (self.id.hex(), self.bundle_cache)


def _info(id):
    return _raylab._rt.describe_placement_group(id)


def _validate_bundles(bundles):
    """Ray's checks and words."""
    if not isinstance(bundles, list):
        raise ValueError("Placement group bundles must be a list, got %s." % (type(bundles),))
    if len(bundles) == 0:
        raise ValueError(
            "Bundles must be a non-empty list of resource dictionaries. For example: "
            '`[{"CPU": 1.0}, {"GPU": 1.0}]`. Got empty list instead.'
        )
    for bundle in bundles:
        if (
            not isinstance(bundle, dict)
            or not all(isinstance(k, str) for k in bundle)
            or not all(isinstance(v, (int, float)) for v in bundle.values())
        ):
            raise ValueError(
                "Bundles must be a non-empty list of resource dictionaries. For example: "
                '`[{"CPU": 1.0}, {"GPU": 1.0}]`.'
            )
        if len(bundle) == 0 or all(v == 0 for v in bundle.values()):
            raise ValueError(
                "Bundles cannot be an empty dictionary or resources with only 0 values. Bundles: %s" % (bundles,)
            )


def placement_group(bundles, strategy="PACK", name="", lifetime=None, _max_cpu_fraction_per_node=1.0,
                    _soft_target_node_id=None, bundle_label_selector=None):
    """Ask for a group of ``bundles`` (a list of resource dicts); it is
    created as soon as they fit (see the module's docs)."""
    _raylab._auto_init()
    _validate_bundles(bundles)
    if strategy not in _STRATEGIES:
        raise ValueError(
            "Invalid placement group strategy %s. Supported strategies are: %s." % (strategy, _STRATEGIES)
        )
    if lifetime not in (None, "detached"):
        raise ValueError(
            "Placement group `lifetime` argument must be either `None` or 'detached'. Got %s." % (lifetime,)
        )
    wit_bundles = [
        [_raylab._types.ResourceAmount(str(k), float(v)) for k, v in b.items() if v != 0] for b in bundles
    ]
    strategy_enum = getattr(_raylab._types.PlacementStrategy, strategy)
    id = _raylab._call(
        _raylab._rt.create_placement_group,
        wit_bundles,
        strategy_enum,
        name or None,
        lifetime == "detached",
    )
    group = PlacementGroup(id, [{k: float(v) for k, v in b.items()} for b in bundles])
    # The creator's reference holds the group's object for the session.
    _created[id] = (ObjectRef(id), lifetime == "detached")
    return group


# Groups this session created: id -> (their object's reference, detached),
# so that `shutdown` removes the others, as Ray does when a job ends.
_created = {}


def remove_placement_group(placement_group):
    """Give the group's resources back (see the module's docs)."""
    assert placement_group is not None
    _raylab._call(_raylab._rt.remove_placement_group, placement_group.id._id)
    _created.pop(placement_group.id._id, None)


def _remove_session_groups():
    for id, (_, detached) in list(_created.items()):
        if detached:
            continue
        try:
            _raylab._rt.remove_placement_group(id)
        except Exception:
            pass
    _created.clear()


def get_placement_group(placement_group_name):
    """The live group of that name (``ValueError`` if none)."""
    if not placement_group_name:
        raise ValueError("Please supply a non-empty value to get_placement_group")
    id = _raylab._rt.find_placement_group(placement_group_name)
    if id is None:
        raise ValueError("Failed to look up placement group with name: %s" % placement_group_name)
    return PlacementGroup(id)


def _table_row(info):
    strategy = {
        _raylab._types.PlacementStrategy.PACK: "PACK",
        _raylab._types.PlacementStrategy.SPREAD: "SPREAD",
        _raylab._types.PlacementStrategy.STRICT_PACK: "STRICT_PACK",
        _raylab._types.PlacementStrategy.STRICT_SPREAD: "STRICT_SPREAD",
    }[info.strategy]
    state = {
        _raylab._types.PlacementGroupState.PENDING: "PENDING",
        _raylab._types.PlacementGroupState.CREATED: "CREATED",
        _raylab._types.PlacementGroupState.REMOVED: "REMOVED",
    }[info.state]
    return {
        "placement_group_id": "%016x" % info.id,
        "name": info.name or "",
        "bundles": {i: {r.name: r.amount for r in b} for i, b in enumerate(info.bundles)},
        "bundles_to_node_id": {i: info.node for i in range(len(info.bundles))},
        "strategy": strategy,
        "state": state,
        "stats": {},
    }


def placement_group_table(placement_group=None):
    """The group's state as Ray's table has it (``state``, ``strategy``,
    ``name``, ``bundles``...); without a group, every group this session
    created, by id."""
    if placement_group is not None:
        info = _info(placement_group.id._id)
        return _table_row(info) if info is not None else {}
    rows = {}
    for id in _created:
        info = _info(id)
        if info is not None:
            rows["%016x" % id] = _table_row(info)
    return rows


def get_current_placement_group():
    """The group the calling task or actor runs in (``None`` in the driver
    and outside any group)."""
    placement = _raylab._rt.context().placement
    if placement is None:
        return None
    return PlacementGroup(placement.group)


def _check_placement(strategy, resources, what):
    """Ray's submission checks of a task or actor placed in a group, and
    its WIT strategy."""
    group = strategy.placement_group
    index = strategy.placement_group_bundle_index
    if group is None or group.is_empty:
        if index != -1:
            raise ValueError("If placement group is not set, the value of bundle index must be -1.")
        return _raylab._types.SchedulingStrategy_OutsideGroup()
    bundles = group.bundle_specs
    if index >= len(bundles) or index < -1:
        raise ValueError(
            "placement group bundle index %d is invalid. Valid placement group indexes: 0-%d"
            % (index, len(bundles))
        )
    fits = any(all(b.get(k, 0) >= v for k, v in resources.items()) for b in bundles)
    if not fits:
        raise ValueError(
            "Cannot schedule %s with the placement group because the resource request %s cannot fit "
            "into any bundles for the placement group, %s." % (what, resources, bundles)
        )
    capture = bool(strategy.placement_group_capture_child_tasks)
    return _raylab._types.SchedulingStrategy_PlacementGroup(
        _raylab._types.Placement(group.id._id, None if index == -1 else index, capture)
    )
