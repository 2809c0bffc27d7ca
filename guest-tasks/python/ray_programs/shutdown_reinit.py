import raylab as ray

# ray.shutdown() ends the session: the actors it made are gone and their
# resources free, and a later ray.init() starts afresh.

ray.init(num_cpus=2)


@ray.remote(num_cpus=2)
class Holder:
    def ping(self):
        return "pong"


@ray.remote(num_cpus=2)
def needs_both():
    return "ran"


holder = Holder.options(name="holder").remote()
print("first session:", ray.get(holder.ping.remote()))
ray.shutdown()
print("initialized after shutdown:", ray.is_initialized())

ray.init(num_cpus=2)
print("initialized again:", ray.is_initialized())
print("a task needing both CPUs:", ray.get(needs_both.remote(), timeout=30))
try:
    ray.get_actor("holder")
    print("the named actor is still there")
except ValueError:
    print("the named actor is gone")
again = Holder.options(name="holder").remote()
print("the name is free again:", ray.get(again.ping.remote()))
del again
ray.shutdown()

# GPUs an actor held come back too: a new session may ask for fewer.
ray.init(num_gpus=2)


@ray.remote(num_gpus=1)
class OnGpu:
    def ids(self):
        return len(ray.get_gpu_ids())


gpu_actor = OnGpu.remote()
print("an actor's GPUs:", ray.get(gpu_actor.ids.remote()))
ray.shutdown()
ray.init(num_gpus=1)
print("GPUs after init(num_gpus=1):", ray.cluster_resources().get("GPU"), ray.available_resources().get("GPU"))
ray.shutdown()
