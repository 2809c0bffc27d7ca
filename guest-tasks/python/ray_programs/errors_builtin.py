import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
def parse(text):
    return int(text)


@ray.remote
def lookup(d, key):
    return d[key]


@ray.remote
def plus_one(x):
    return x + 1


try:
    ray.get(parse.remote("not a number"))
except ValueError as e:
    print("ValueError caught:", isinstance(e, ValueError))
    print("  RayTaskError too:", isinstance(e, ray.exceptions.RayTaskError))
    print("  cause:", type(e.cause).__name__, e.cause.args)

try:
    ray.get(lookup.remote({"a": 1}, "zzz"))
except KeyError as e:
    print("KeyError caught, cause args:", e.cause.args)

try:
    ray.get(plus_one.remote(None))
except TypeError as e:
    print("TypeError caught:", type(e.cause).__name__)

# A failed task's ref passed to another task: the second task never runs,
# and getting its result raises the first task's error.
bad = parse.remote("x1")
downstream = plus_one.remote(bad)
try:
    ray.get(downstream)
except ValueError as e:
    print("propagated ValueError:", type(e.cause).__name__)
except ray.exceptions.RayTaskError as e:
    print("propagated RayTaskError:", type(e.cause).__name__)

# Errors do not poison later work.
print("after errors:", ray.get(plus_one.remote(ray.get(parse.remote("41")))))

# Waiting on a failed ref reports it ready.
ready, pending = ray.wait([parse.remote("?")], num_returns=1)
print("failed ref ready:", len(ready), len(pending))
