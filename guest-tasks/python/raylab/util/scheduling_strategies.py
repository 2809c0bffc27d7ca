"""Where a task or actor may run (``ray.util.scheduling_strategies``):
``"DEFAULT"``, ``"SPREAD"`` or :class:`NodeAffinitySchedulingStrategy`.
raylab has no placement groups."""

__all__ = ["NodeAffinitySchedulingStrategy", "PlacementGroupSchedulingStrategy"]


class NodeAffinitySchedulingStrategy:
    """Run on one node of the cluster (by name or id); ``soft``: elsewhere
    when it cannot, instead of failing."""

    def __init__(self, node_id, soft, _spill_on_unavailable=False, _fail_on_unavailable=False):
        self.node_id = str(node_id)
        self.soft = soft


class PlacementGroupSchedulingStrategy:
    """Accepted so that programs import; using it raises (no placement
    groups in raylab)."""

    def __init__(self, placement_group=None, placement_group_bundle_index=-1, placement_group_capture_child_tasks=None):
        self.placement_group = placement_group
