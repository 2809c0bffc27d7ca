import raylab as ray

ray.init(num_cpus=4, include_dashboard=False)

print("initialized:", ray.is_initialized())
total = ray.cluster_resources()
print("CPU:", total["CPU"])
print("CPU type:", type(total["CPU"]).__name__)


@ray.remote(num_cpus=0.5)
def half(x):
    return x * 2


@ray.remote(num_cpus=0)
def free(x):
    return x + 1


@ray.remote(num_cpus=1, num_gpus=0, memory=200 * 1024 * 1024)
def sized(x):
    return -x


print("fractional:", ray.get([half.remote(i) for i in range(8)]))
print("zero cpu:", ray.get([free.remote(i) for i in range(3)]))
print("sized:", ray.get(sized.remote(4)))
print("options num_cpus:", ray.get(half.options(num_cpus=0.25).remote(21)))
print("available CPU <= total:", ray.available_resources().get("CPU", 0) <= total["CPU"])


@ray.remote(num_cpus=0.5)
class Light:
    def ping(self):
        return "ok"


lights = [Light.remote() for _ in range(2)]
print("fractional actors:", ray.get([a.ping.remote() for a in lights]))

ray.shutdown()
print("after shutdown:", ray.is_initialized())
