import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
class Counter:
    def __init__(self, start=0):
        self.value = start

    def incr(self, by=1):
        self.value += by
        return self.value

    def read(self):
        return self.value

    def stats(self):
        return self.value, self.value * 2, "counter"


c = Counter.remote()
print("isinstance ActorHandle:", isinstance(c, ray.actor.ActorHandle))
print("handle type:", type(c).__name__)
# Calls on one actor from one caller run in submission order.
refs = [c.incr.remote() for _ in range(5)]
print("increments:", ray.get(refs))
print("incr by 10:", ray.get(c.incr.remote(by=10)))
print("read:", ray.get(c.read.remote()))

s = ray.get(c.stats.remote())
print("stats:", type(s).__name__, s)

other = Counter.remote(100)
print("second actor:", ray.get(other.incr.remote(5)), ray.get(c.read.remote()))

opts = Counter.options(num_cpus=0).remote(start=-1)
print("options actor:", ray.get(opts.incr.remote()))


@ray.remote(num_cpus=0)
class Store:
    def __init__(self):
        self.data = {}

    def set(self, k, v):
        self.data[k] = v

    def items(self):
        return sorted(self.data.items())


st = Store.remote()
ray.get([st.set.remote("b", 2), st.set.remote("a", 1)])
print("store:", ray.get(st.items.remote()))
print("set returns None:", ray.get(st.set.remote("c", 3)))
