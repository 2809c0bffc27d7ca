import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote(num_returns=2)
def divmod_task(a, b):
    return a // b, a % b


@ray.remote(num_returns=3)
def three():
    return "x", ["y"], {"z": 0}


@ray.remote
def pair_as_one():
    return 1, 2


@ray.remote(num_returns=3)
def counting(n):
    for i in range(3):
        yield i * n


q, r = divmod_task.remote(17, 5)
print("divmod:", ray.get(q), ray.get(r))
print("both refs:", isinstance(q, ray.ObjectRef), isinstance(r, ray.ObjectRef))

a, b, c = three.remote()
print("three:", ray.get([a, b, c]))

single = pair_as_one.remote()
print("default one return:", ray.get(single))

x, y = pair_as_one.options(num_returns=2).remote()
print("options num_returns=2:", ray.get(x), ray.get(y))

refs = divmod_task.options(num_returns=1).remote(9, 4)
print("options num_returns=1:", ray.get(refs))

g = counting.remote(10)
print("generator num_returns=3:", type(g).__name__, len(g), ray.get(list(g)))

parts = list(pair_as_one.options(num_returns=2).remote())
print("list of refs:", len(parts), ray.get(parts))
