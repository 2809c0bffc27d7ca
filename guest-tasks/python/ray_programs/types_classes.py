import raylab as ray
import collections
import dataclasses
import enum

ray.init(num_cpus=2, include_dashboard=False)


@dataclasses.dataclass
class Point:
    x: int
    y: int

    def norm1(self):
        return abs(self.x) + abs(self.y)


@dataclasses.dataclass(frozen=True)
class Tag:
    name: str
    weight: float = 1.0


Pair = collections.namedtuple("Pair", ["left", "right"])


class Box:
    def __init__(self, items):
        self.items = list(items)

    def total(self):
        return sum(self.items)

    def __repr__(self):
        return "Box(%r)" % (self.items,)


class Color(enum.Enum):
    RED = 1
    GREEN = 2


@ray.remote
def move(p, dx):
    return Point(p.x + dx, p.y)


@ray.remote
def swap(pair):
    return Pair(pair.right, pair.left)


@ray.remote
def grow(box):
    box.items.append(box.total())
    return box


@ray.remote
def echo(x):
    return x


p = ray.get(move.remote(Point(1, -2), 5))
print(type(p).__name__, p, p.norm1())
t = ray.get(echo.remote(Tag("w")))
print(type(t).__name__, t, t == Tag("w"))
pair = ray.get(swap.remote(Pair(1, "b")))
print(type(pair).__name__, pair, pair.left, isinstance(pair, tuple))
box = ray.get(grow.remote(Box([1, 2, 3])))
print(type(box).__name__, box, box.total())
c = ray.get(echo.remote(Color.GREEN))
print(type(c).__name__, c, c is Color.GREEN)
print("list of points:", ray.get(echo.remote([Point(0, 0), Point(1, 1)])))
print("counter:", sorted(ray.get(echo.remote(collections.Counter("abracadabra"))).items()))
dd = ray.get(echo.remote(collections.defaultdict(list, {"a": [1]})))
print(type(dd).__name__, dd["missing"], sorted(dd))
od = ray.get(echo.remote(collections.OrderedDict([("b", 2), ("a", 1)])))
print(type(od).__name__, list(od.items()))
