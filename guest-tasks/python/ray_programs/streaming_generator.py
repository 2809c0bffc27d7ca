import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
def squares(n):
    for i in range(n):
        yield i * i


@ray.remote
def words(text):
    for w in text.split():
        yield w.upper()


@ray.remote
def total(x):
    return x + 1000


gen = squares.remote(5)
print("type:", type(gen).__name__)
items = []
for ref in gen:
    items.append(ray.get(ref))
print("squares:", items)

print("words:", [ray.get(r) for r in words.remote("streaming is lazy")])

# Each yielded ref can be passed on to another task.
print("chained:", ray.get([total.remote(r) for r in squares.remote(4)]))

print("empty:", [ray.get(r) for r in squares.remote(0)])

explicit = squares.options(num_returns="streaming").remote(3)
print("explicit streaming:", [ray.get(r) for r in explicit])


@ray.remote
def boom(n):
    for i in range(n):
        if i == 2:
            raise ValueError("stop at %d" % i)
        yield i


got = []
try:
    for ref in boom.remote(5):
        got.append(ray.get(ref))
except ValueError as e:
    print("error after", got, "cause:", e.cause.args)
