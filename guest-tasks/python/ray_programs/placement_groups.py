import raylab as ray
from ray.util.placement_group import (
    placement_group,
    placement_group_table,
    remove_placement_group,
    get_current_placement_group,
)
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

# Two CPUs and four units of a custom "slot" resource on this machine.
ray.init(num_cpus=2, resources={"slot": 4})

# Bad bundles are refused before anything is reserved.
for bad in ([], [{}], [{"CPU": 0}]):
    try:
        placement_group(bad)
    except ValueError as e:
        print("refused:", str(e).split(".")[0])
try:
    placement_group([{"CPU": 1}], strategy="CLOSE")
except ValueError as e:
    print("refused:", str(e).split(".")[0])

# Reserve one CPU with a slot, and one CPU alone.
pg = placement_group([{"CPU": 1, "slot": 2}, {"CPU": 1}], strategy="PACK", name="pair")
print("ready:", pg.wait(10))
print("same group:", ray.get(pg.ready()) == pg)
table = placement_group_table(pg)
print(table["state"], table["strategy"], table["name"], sorted(table["bundles"]))
print("bundles:", pg.bundle_count, [sorted(b.items()) for b in pg.bundle_specs])
print("driver's group:", get_current_placement_group())

# What the group holds is gone from what everything else may use.
avail = ray.available_resources()
print("free CPU:", avail.get("CPU", 0), "free slots:", avail.get("slot", 0))


@ray.remote(num_cpus=1)
def inside(tag):
    current = get_current_placement_group()
    return tag, current is not None


print(ray.get(inside.options(
    scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=0)
).remote("bundle 0")))
print(ray.get(inside.options(
    scheduling_strategy=PlacementGroupSchedulingStrategy(pg)
).remote("any bundle")))

# A task asking for more than any bundle holds is refused at once.
try:
    inside.options(
        num_cpus=2, scheduling_strategy=PlacementGroupSchedulingStrategy(pg)
    ).remote("too big")
except ValueError as e:
    print("too big:", str(e).split(" with ")[0])
try:
    inside.options(
        scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=5)
    ).remote("bad index")
except ValueError as e:
    print("bad index:", e)

# Outside the group there is no CPU left: the task waits.
outside = inside.remote("outside")
ready, pending = ray.wait([outside], timeout=1)
print("outside ready:", len(ready), "pending:", len(pending))

# Removing the group gives its CPUs back, and the waiting task runs.
remove_placement_group(pg)
print(ray.get(outside))
print(placement_group_table(pg)["state"])

# More than the machine has: the group stays pending.
big = placement_group([{"CPU": 8}])
print("big ready:", big.wait(1), placement_group_table(big)["state"])
remove_placement_group(big)

# Two bundles that must be on different nodes cannot be on one machine.
apart = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="STRICT_SPREAD")
print("apart ready:", apart.wait(1))
remove_placement_group(apart)


# An actor holds its bundle's CPU for its life.
@ray.remote(num_cpus=1)
class Tally:
    def __init__(self):
        self.n = 0

    def add(self, k):
        self.n += k
        return self.n

    def group(self):
        return get_current_placement_group() is not None


both = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="STRICT_PACK")
ray.get(both.ready())
tally = Tally.options(
    scheduling_strategy=PlacementGroupSchedulingStrategy(both, placement_group_bundle_index=1)
).remote()
print("tally:", ray.get([tally.add.remote(i) for i in range(1, 5)]), ray.get(tally.group.remote()))
print("free CPU with the group:", ray.available_resources().get("CPU", 0))
ray.kill(tally)
remove_placement_group(both)
print("done")
