import raylab as ray
import time

import ray._private.ray_constants as ray_constants
from ray.util.accelerators import NVIDIA_TESLA_V100

ray.init(num_cpus=2, num_gpus=2, resources={"accelerator_type:V100": 1})


def cpus_held():
    time.sleep(1)  # Ray's view of what is free lags behind
    return 2 - ray.available_resources().get("CPU", 0)


# An actor that asks for nothing holds no CPU while it lives...
@ray.remote
class Plain:
    def ping(self):
        return "pong"


# ...and one that asks for anything else holds one CPU unless it says.
@ray.remote(num_gpus=0.5)
class OnGpu:
    def ping(self):
        return "pong"


@ray.remote(num_gpus=0.5, num_cpus=0)
class OnGpuNoCpu:
    def ping(self):
        return "pong"


a = Plain.remote()
ray.get(a.ping.remote())
print("plain actor holds CPUs:", cpus_held())
b = OnGpu.remote()
ray.get(b.ping.remote())
print("and a GPU actor:", cpus_held())
c = OnGpuNoCpu.remote()
ray.get(c.ping.remote())
print("and one with num_cpus=0:", cpus_held())


# accelerator_type asks for a node with that accelerator.
@ray.remote(num_gpus=1, accelerator_type=NVIDIA_TESLA_V100)
def on_v100():
    return "ran on a " + NVIDIA_TESLA_V100


print(ray.get(on_v100.remote()))
print("resource:", ray_constants.RESOURCE_CONSTRAINT_PREFIX + NVIDIA_TESLA_V100)
