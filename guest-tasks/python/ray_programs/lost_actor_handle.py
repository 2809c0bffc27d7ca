import raylab as ray

ray.init(num_cpus=1)

# A method of an actor handle that nobody kept cannot be called: Ray's
# method objects hold their handle weakly, and the handle of
# `Counter.remote()` is gone once `.incr` has been read from it.


@ray.remote
class Counter:
    def __init__(self):
        self.n = 0

    def incr(self):
        self.n += 1
        return self.n


try:
    Counter.remote().incr.remote()
except RuntimeError as e:
    print("RuntimeError:", e)

counter = Counter.remote()
print("kept handle:", ray.get(counter.incr.remote()))
method = counter.incr
print("method read first:", ray.get(method.remote()))
print("with options:", ray.get(counter.incr.options(name="again").remote()))

del counter
try:
    method.remote()
except RuntimeError as e:
    print("after del, RuntimeError:", str(e).split(".")[0])

named = Counter.options(name="keeper").remote()
try:
    ray.get_actor("keeper").incr.remote()
except RuntimeError as e:
    print("get_actor(...).incr.remote(): RuntimeError")
again = ray.get_actor("keeper")
print("kept get_actor handle:", ray.get(again.incr.remote()))


@ray.remote
def call_method(m):
    # A method sent to a task holds its handle there.
    return ray.get(m.remote())


print("method sent to a task:", ray.get(call_method.remote(again.incr)))
