import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
def square(x):
    return x * x


@ray.remote
def add(a, b):
    return a + b


@ray.remote
def describe(items):
    # Refs nested inside a list arrive as refs; the task fetches them itself.
    kinds = [type(item).__name__ for item in items]
    values = ray.get(items)
    return kinds, values


one = square.remote(7)
print("one:", ray.get(one))

many = [square.remote(i) for i in range(6)]
print("list:", ray.get(many))

stored = ray.put(100)
print("put/get:", ray.get(stored))
print("ref type:", type(stored).__name__)

# A top-level ref argument is replaced by its value before the task runs.
print("add(ref, 5):", ray.get(add.remote(stored, 5)))
print("add(ref, ref):", ray.get(add.remote(stored, square.remote(3))))

kinds, values = ray.get(describe.remote([stored, square.remote(4)]))
print("nested kinds:", kinds)
print("nested values:", values)

chained = add.remote(square.remote(2), square.remote(3))
print("chained:", ray.get(chained))
print("isinstance ObjectRef:", isinstance(chained, ray.ObjectRef))
