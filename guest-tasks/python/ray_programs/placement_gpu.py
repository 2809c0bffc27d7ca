import raylab as ray
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

# Two logical GPUs on this node: a GPU in a bundle is a device, and the
# bundle keeps the same one for every task placed in it.
ray.init(num_cpus=4, num_gpus=2)

pg = placement_group([{"CPU": 1, "GPU": 1}, {"CPU": 1, "GPU": 1}], strategy="PACK")
ray.get(pg.ready())
print("left outside the group:", ray.available_resources().get("GPU", 0))


@ray.remote(num_gpus=1)
def device():
    return ray.get_gpu_ids()


def in_bundle(i):
    strategy = PlacementGroupSchedulingStrategy(placement_group=pg, placement_group_bundle_index=i)
    return ray.get(device.options(scheduling_strategy=strategy).remote())


first, second = in_bundle(0), in_bundle(1)
print("one device each:", len(first), len(second), first != second)
print("bundle 0 again, same device:", in_bundle(0) == first)


# Half a GPU each: two actors share bundle 0's device.
@ray.remote(num_gpus=0.5, num_cpus=0)
class Half:
    def ids(self):
        return ray.get_gpu_ids()


strategy = PlacementGroupSchedulingStrategy(placement_group=pg, placement_group_bundle_index=0)
halves = [Half.options(scheduling_strategy=strategy).remote() for _ in range(2)]
print("halves share bundle 0's device:", ray.get([h.ids.remote() for h in halves]) == [first, first])

remove_placement_group(pg)
print("all back:", ray.get(device.remote()) != [], ray.available_resources().get("GPU", 0) >= 1)
