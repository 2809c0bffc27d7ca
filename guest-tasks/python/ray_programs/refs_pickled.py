import raylab as ray
import copy
import pickle

ray.init(num_cpus=2)

# A ref the program pickles itself with ray.cloudpickle (to a file, a
# queue, another system) pins its object: the object outlives every ref,
# and the bytes load back into a working ref later, until the pin is given
# back with free().
ref = ray.put({"rows": [1, 2, 3]})
saved = ray.cloudpickle.dumps(ref)
hex_id = ref.hex()
del ref

loaded = pickle.loads(saved)
print("loaded:", ray.get(loaded), loaded.hex() == hex_id)

# The loaded ref works as an argument like any other.
@ray.remote
def total(d):
    return sum(d["rows"])


print("total:", ray.get(total.remote(loaded)))

# Refs copy as refs to the same object.
twin = copy.copy(loaded)
deep = copy.deepcopy([loaded])[0]
print("copies:", ray.get(twin) == ray.get(deep) == ray.get(loaded), twin == loaded)

# An actor handle pickled the same way still calls its actor.
@ray.remote
class Counter:
    def __init__(self):
        self.n = 0

    def add(self, k):
        self.n += k
        return self.n


counter = Counter.remote()
ray.get(counter.add.remote(1))
handle = pickle.loads(ray.cloudpickle.dumps(counter))
print("handle:", ray.get(handle.add.remote(10)))

# Plain pickle inside a task pins nothing that outlives the task: its
# object is freed when the task ends, and the loaded ref is never ready.
@ray.remote
def pickled_inside():
    return pickle.dumps(ray.put("gone"))


stale = pickle.loads(ray.get(pickled_inside.remote()))
try:
    ray.get(stale, timeout=1)
except ray.exceptions.GetTimeoutError:
    print("stale ref: GetTimeoutError")

ray._private.internal_api.free([loaded])
print("done")
