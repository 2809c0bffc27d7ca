import raylab as ray
from ray.dag import InputNode, MultiOutputNode

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
def inc(x):
    return x + 1


@ray.remote
def mul(a, b):
    return a * b


@ray.remote
def join(*parts):
    return "-".join(str(p) for p in parts)


# A constant graph: bind() records the call, execute() runs it.
const = mul.bind(inc.bind(2), 5)
ref = const.execute()
print("const is ref:", isinstance(ref, ray.ObjectRef))
print("const:", ray.get(ref))

with InputNode() as inp:
    dag = mul.bind(inc.bind(inp), inp)
print("input 3:", ray.get(dag.execute(3)))
print("input 10:", ray.get(dag.execute(10)))

with InputNode() as inp:
    a = inc.bind(inp[0])
    b = mul.bind(inp[1], 2)
    multi = MultiOutputNode([a, b, join.bind(a, b)])
out = multi.execute(1, 7)
print("multi type:", type(out).__name__, len(out))
print("multi:", ray.get(out))

with InputNode() as inp:
    kw = join.bind(inp.x, inp.y)
print("kwargs input:", ray.get(kw.execute(x="left", y="right")))


@ray.remote
class Acc:
    def __init__(self, start):
        self.total = start

    def add(self, x):
        self.total += x
        return self.total


with InputNode() as inp:
    actor = Acc.bind(100)
    adag = actor.add.bind(inp)
print("actor dag:", ray.get(adag.execute(5)))
