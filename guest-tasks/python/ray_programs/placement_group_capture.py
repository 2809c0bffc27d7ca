import raylab as ray
from ray.util.placement_group import placement_group, get_current_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

# The group takes the whole machine, so only its own tasks can run.
ray.init(num_cpus=2)
whole = placement_group([{"CPU": 2}])
ray.get(whole.ready())


@ray.remote(num_cpus=1)
def leaf(i):
    return i * i, get_current_placement_group() == whole


@ray.remote(num_cpus=1)
def fan_out(n):
    # With capture on, these children land in the parent's group.
    return ray.get([leaf.remote(i) for i in range(n)])


captured = fan_out.options(
    scheduling_strategy=PlacementGroupSchedulingStrategy(
        placement_group=whole, placement_group_capture_child_tasks=True
    )
).remote(3)
print("captured:", ray.get(captured, timeout=30))


@ray.remote(num_cpus=1)
def escape():
    # placement_group=None opts out of the parent's group: no CPU is free
    # outside it, so this child cannot start.
    child = leaf.options(
        scheduling_strategy=PlacementGroupSchedulingStrategy(placement_group=None)
    ).remote(7)
    ready, _ = ray.wait([child], timeout=2)
    return len(ready)


print("escaped child ran:", ray.get(escape.options(
    scheduling_strategy=PlacementGroupSchedulingStrategy(
        placement_group=whole, placement_group_capture_child_tasks=True
    )
).remote()))


@ray.remote(num_cpus=1)
def no_capture():
    # Without capture, a child is scheduled outside the group: it waits.
    child = leaf.remote(5)
    try:
        return ray.get(child, timeout=2)
    except ray.exceptions.GetTimeoutError:
        return "timed out"


print("uncaptured child:", ray.get(no_capture.options(
    scheduling_strategy=PlacementGroupSchedulingStrategy(placement_group=whole)
).remote()))
ray.util.remove_placement_group(whole)
print("after removal:", ray.get(leaf.remote(4)))
