import raylab as ray

# Each loop iteration defines a new remote function with its own body.
results = []
for k in range(4):
    @ray.remote
    def scale(x, k=k):
        return x * (k + 1)

    results.append(ray.get(scale.remote(10)))
print("redefined defaults:", results)

# The loop variable read as a global: each definition is called in its own
# iteration, so it sees that iteration's value.
seen = []
for i in range(3):
    @ray.remote
    def current():
        return i * i

    seen.append(ray.get(current.remote()))
print("redefined globals:", seen)

# The same name defined twice with different bodies; the first ref was made
# by the first definition.
@ray.remote
def step(x):
    return x + 1


first = step.remote(1)


@ray.remote
def step(x):
    return x * 100


second = step.remote(1)
print("two bodies:", ray.get([first, second]))

# A fresh function object each time, bound to a different operation.
ops = {
    "neg": lambda v: -v,
    "double": lambda v: v * 2,
    "text": lambda v: "v=" + str(v),
}
outputs = {}
for name, fn in ops.items():
    @ray.remote
    def run(v):
        return fn(v)

    outputs[name] = ray.get(run.remote(21))
for name in sorted(outputs):
    print("op", name, "->", outputs[name])


@ray.remote
def apply(func, data):
    return func(data)


print("lambda arg:", ray.get(apply.remote(lambda xs: [x + 1 for x in xs], [1, 2, 3])))
print("builtin len:", ray.get(apply.remote(len, "hello")))
print("builtin sorted:", ray.get(apply.remote(sorted, [3, 1, 2])))
print("builtin max:", ray.get(apply.remote(max, (4, 9, 2))))
print("str.upper:", ray.get(apply.remote(str.upper, "abc")))
