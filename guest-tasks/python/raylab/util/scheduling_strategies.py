"""Where a task or actor may run (``ray.util.scheduling_strategies``):
``"DEFAULT"``, ``"SPREAD"``, :class:`NodeAffinitySchedulingStrategy` or
:class:`PlacementGroupSchedulingStrategy` (see
``raylab.util.placement_group``)."""

__all__ = ["NodeAffinitySchedulingStrategy", "PlacementGroupSchedulingStrategy"]


class NodeAffinitySchedulingStrategy:
    """Run on one node of the cluster (by name or id); ``soft``: elsewhere
    when it cannot, instead of failing."""

    def __init__(self, node_id, soft, _spill_on_unavailable=False, _fail_on_unavailable=False):
        self.node_id = str(node_id)
        self.soft = soft


class PlacementGroupSchedulingStrategy:
    """Run in a placement group's bundles: bundle
    ``placement_group_bundle_index`` (-1: any with room);
    ``placement_group_capture_child_tasks``: the tasks and actors it
    submits go in the group too. ``placement_group=None`` keeps a task out
    of a group its caller captures into."""

    def __init__(self, placement_group=None, placement_group_bundle_index=-1, placement_group_capture_child_tasks=None):
        self.placement_group = placement_group
        self.placement_group_bundle_index = placement_group_bundle_index
        self.placement_group_capture_child_tasks = placement_group_capture_child_tasks
