# RuntimeContext.node_id (property, used by Ray's scheduling.py together with
# NodeAffinitySchedulingStrategy) and get_node_id().
# Ray: prints "True True".
import raylab as ray

ctx = ray.get_runtime_context()
nid = ctx.node_id
print(isinstance(nid, str) or hasattr(nid, "hex"), ctx.get_node_id() == (nid if isinstance(nid, str) else nid.hex()))
