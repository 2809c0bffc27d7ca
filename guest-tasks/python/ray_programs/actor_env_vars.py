import raylab as ray
import os

ray.init(num_cpus=1, runtime_env={"env_vars": {"STAGE": "job"}})

# runtime_env env_vars reach an actor's constructor and methods as they
# reach a task: the actor's own over the job's.


@ray.remote(runtime_env={"env_vars": {"STAGE": "actor", "COLOR": "blue"}})
class Configured:
    def __init__(self):
        self.at_start = os.environ.get("COLOR")

    def read(self):
        return self.at_start, os.environ.get("STAGE"), os.environ.get("COLOR")


@ray.remote
class Plain:
    def read(self):
        return os.environ.get("STAGE"), os.environ.get("COLOR")


configured = Configured.remote()
print("actor's own:", ray.get(configured.read.remote()))
plain = Plain.remote()
print("job's:", ray.get(plain.read.remote()))
