import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
def leaf(x):
    return x * 2


@ray.remote
def middle(x):
    refs = [leaf.remote(x + i) for i in range(3)]
    return sum(ray.get(refs))


@ray.remote
def top(n):
    return ray.get(middle.remote(n)) + 1


@ray.remote
def fib(n):
    if n < 2:
        return n
    a, b = fib.remote(n - 1), fib.remote(n - 2)
    return ray.get(a) + ray.get(b)


print("leaf:", ray.get(leaf.remote(5)))
print("middle:", ray.get(middle.remote(5)))
print("top:", ray.get(top.remote(5)))
print("fib(5):", ray.get(fib.remote(5)))


@ray.remote
def returns_ref(x):
    # A task may return a ref created inside it; the driver gets the ref back.
    return leaf.remote(x)


inner = ray.get(returns_ref.remote(21))
print("inner is ref:", isinstance(inner, ray.ObjectRef))
print("inner value:", ray.get(inner))
