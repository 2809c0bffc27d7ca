import raylab as ray
import os

ray.init(num_cpus=2, num_gpus=2)

# A task or actor given GPUs sees their ids in CUDA_VISIBLE_DEVICES, as
# ray.get_gpu_ids() gives them; one given none sees it empty.


@ray.remote(num_gpus=1)
def one_gpu():
    return ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES")


@ray.remote(num_gpus=2)
def two_gpus():
    return ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES")


@ray.remote
def no_gpu():
    return ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES")


@ray.remote(num_gpus=1)
class Trainer:
    def devices(self):
        return ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES")


ids, env = ray.get(one_gpu.remote())
print("one gpu:", len(ids), "env matches ids:", env == ",".join(str(i) for i in ids))
print("two gpus:", ray.get(two_gpus.remote()))
print("no gpu:", ray.get(no_gpu.remote()))
trainer = Trainer.remote()
ids, env = ray.get(trainer.devices.remote())
print("actor:", len(ids), "env matches ids:", env == ",".join(str(i) for i in ids))
print("driver:", os.environ.get("CUDA_VISIBLE_DEVICES"))
