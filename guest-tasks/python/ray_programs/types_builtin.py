import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
def echo(x):
    return x


@ray.remote
def inspect(x):
    # What the task itself sees, reported as plain strings.
    return type(x).__name__


values = [
    (1, "two", 3.0),
    (),
    ((1, 2), [3, (4, 5)]),
    {3, 1, 2},
    frozenset({"b", "a"}),
    {1: "one", 2: "two"},
    {(0, 1): "edge", (2, 3): "other"},
    b"\x00\x01raw",
    bytearray(b"buf"),
    None,
    True,
    0.1 + 0.2,
    float("inf"),
    -0.0,
    2 ** 100,
    -(3 ** 70),
    1 + 2j,
    "unicode: \u00e9\u4e2d",
    [None, [], {}],
    range(2, 10, 3),
]

for v in values:
    back = ray.get(echo.remote(v))
    seen = ray.get(inspect.remote(v))
    if isinstance(back, (set, frozenset)):
        shown = sorted(back)
    else:
        shown = back
    print(type(back).__name__, seen, repr(shown), back == v)

stored = ray.get(ray.put((1, [2, 3], {4})))
print("put tuple:", type(stored).__name__, type(stored[1]).__name__, type(stored[2]).__name__)

nested = ray.get(echo.remote({"k": (1, frozenset({2}))}))
print("nested:", type(nested["k"]).__name__, type(nested["k"][1]).__name__)
print("dict key order:", list(ray.get(echo.remote({"z": 1, "a": 2, "m": 3}))))
