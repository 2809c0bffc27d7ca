import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)

ctx = ray.get_runtime_context()
print("job id type:", type(ctx.get_job_id()).__name__)
print("driver task id is None:", ctx.get_task_id() is None)
print("driver actor id is None:", ctx.get_actor_id() is None)
node_id = ctx.get_node_id()
print("node id type:", type(node_id).__name__)


@ray.remote
def in_task():
    c = ray.get_runtime_context()
    return (type(c.get_task_id()).__name__, c.get_actor_id() is None,
            c.get_job_id() == ray.get_runtime_context().get_job_id())


print("in task:", ray.get(in_task.remote()))


@ray.remote
class Who:
    def ids(self):
        c = ray.get_runtime_context()
        return type(c.get_actor_id()).__name__, type(c.get_task_id()).__name__


w = Who.remote()
print("in actor:", ray.get(w.ids.remote()))


@ray.remote
def where():
    return ray.get_runtime_context().get_node_id()


pinned = where.options(
    scheduling_strategy=ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(
        node_id=node_id, soft=False)
).remote()
print("pinned to driver node:", ray.get(pinned) == node_id)

soft = where.options(
    scheduling_strategy=ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(
        node_id=node_id, soft=True)
).remote()
print("soft affinity:", ray.get(soft) == node_id)

spread = [where.options(scheduling_strategy="SPREAD").remote() for _ in range(3)]
print("spread:", len(ray.get(spread)))
print("DEFAULT strategy:", ray.get(where.options(scheduling_strategy="DEFAULT").remote()) == node_id)


@ray.remote(scheduling_strategy="SPREAD")
def decorated():
    return "spread via decorator"


print(ray.get(decorated.remote()))
