# Ray DAG: method calls bound on an actor node (actor_node.method.bind(...))
# run, in the order they were bound, before later calls on that actor -- even
# when the DAG's output does not depend on their results (Ray's ray-dag.py
# asserts 32 for this shape).
# Ray: prints 32  (10+2+4 from p, 10+6 from q).
import raylab as ray

@ray.remote
class Acc:
    def __init__(self, v):
        self.v = v
    def add(self, x):
        self.v += x
    def get(self):
        return self.v

@ray.remote
def total(x, y):
    return x + y

p = Acc.bind(10)
q = Acc.bind(10)
p.add.bind(2)
p.add.bind(4)
q.add.bind(6)
print(ray.get(total.bind(p.get.bind(), q.get.bind()).execute()))
