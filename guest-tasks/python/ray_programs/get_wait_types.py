import raylab as ray

ray.init(num_cpus=1)

# What get and wait say when given something that is not a ref (or a list
# of refs), and the other argument checks of wait.


@ray.remote
def one():
    return 1


@ray.remote
class Box:
    def value(self):
        return 2


ref = one.remote()
box = Box.remote()
cases = [
    ("wait([1])", lambda: ray.wait([1])),
    ("wait([ref, 'x'])", lambda: ray.wait([ref, "x"])),
    ("wait((ref,))", lambda: ray.wait((ref,))),
    ("wait('ab')", lambda: ray.wait("ab")),
    ("wait([])", lambda: ray.wait([])),
    ("wait([ref], timeout=-1)", lambda: ray.wait([ref], timeout=-1)),
    ("wait([ref], num_returns=0)", lambda: ray.wait([ref], num_returns=0)),
    ("wait([ref, ref])", lambda: ray.wait([ref, ref])),
    ("wait([ref], num_returns=2)", lambda: ray.wait([ref], num_returns=2)),
    ("get(1)", lambda: ray.get(1)),
    ("get(None)", lambda: ray.get(None)),
    ("get((ref,))", lambda: ray.get((ref,))),
    ("get([ref, 1])", lambda: ray.get([ref, 1])),
    ("get([ref, 'x'])", lambda: ray.get([ref, "x"])),
    ("get([])", lambda: ray.get([])),
    ("get(ref, timeout=-1)", lambda: ray.get(ref, timeout=-1)),
]
for label, call in cases:
    try:
        print(label, "->", call())
    except Exception as e:
        print(label, "raises", type(e).__name__ + ":", e)

# A single ref given to wait: a TypeError whose message names the ref.
try:
    ray.wait(ref)
except TypeError as e:
    print("wait(ref) raises TypeError:", str(e).startswith("wait() expected a list of ray.ObjectRef"))
# An actor handle is not a ref.
try:
    ray.wait([box])
except TypeError as e:
    print("wait([actor handle]) raises TypeError:", "got list containing" in str(e))
try:
    ray.get(box)
except ValueError as e:
    print("get(actor handle) raises ValueError:", str(e).startswith("Invalid type of object refs"))
print("wait([ref]) ready:", len(ray.wait([ref])[0]))
