import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)

LIMIT = 5
GREETING = "hi"
TABLE = {"a": 1, "b": 2, "c": 3}


@ray.remote
def read_globals(key):
    return GREETING + " " + key, TABLE[key] * LIMIT


print("globals:", ray.get([read_globals.remote(k) for k in sorted(TABLE)]))


def make_adder(n):
    @ray.remote
    def adder(x):
        return x + n

    return adder


add3 = make_adder(3)
add10 = make_adder(10)
print("closure values:", ray.get(add3.remote(1)), ray.get(add10.remote(1)))

# A closure can also capture an ObjectRef and fetch it inside the task.
base_ref = ray.put([1, 2, 3])


@ray.remote
def extend(extra):
    base = ray.get(base_ref)
    return base + [extra]


print("closure ref:", ray.get(extend.remote(4)))

offset = 1000


@ray.remote
def with_offset(x):
    return x + offset


print("captured module var:", ray.get(with_offset.remote(1)))
