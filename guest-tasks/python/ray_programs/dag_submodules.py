# Ray's DAG docs import the node classes from submodules:
# Ray: prints "10".
import ray
from ray.dag.input_node import InputNode
from ray.dag.output_node import MultiOutputNode

@ray.remote
def twice(x):
    return 2 * x

with InputNode() as inp:
    dag = MultiOutputNode([twice.bind(inp)])
print(ray.get(dag.execute(5))[0])
