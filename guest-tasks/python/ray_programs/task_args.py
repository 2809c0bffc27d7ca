import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
def power(base, exp=2, *, label="p"):
    return "%s=%d" % (label, base ** exp)


@ray.remote
def gather(*args, **kwargs):
    return list(args), sorted(kwargs.items())


@ray.remote
def mixed(a, b=2, *rest, c, d=4, **extra):
    return a, b, rest, c, d, sorted(extra)


print(ray.get(power.remote(3)))
print(ray.get(power.remote(3, 3)))
print(ray.get(power.remote(3, exp=4)))
print(ray.get(power.remote(base=5, label="q")))
print(ray.get(gather.remote()))
print(ray.get(gather.remote(1, "two", x=3, a=[4])))
print(ray.get(mixed.remote(1, c=3)))
print(ray.get(mixed.remote(1, 2, 5, 6, c=3, d=7, z=0, y=1)))

ref = ray.put(10)
print(ray.get(power.remote(ref, exp=ray.put(2))))
print(ray.get(gather.remote(ref, k=ref)))

args = (2, 5)
kwargs = {"label": "star"}
print(ray.get(power.remote(*args, **kwargs)))

try:
    power.remote()
except TypeError as e:
    print("missing arg raises TypeError at call time")
