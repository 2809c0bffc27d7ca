# An actor with max_restarts=-1 / max_task_retries=-1 whose method calls
# sys.exit(1) is restarted and the call retried (Ray counts a non-zero
# sys.exit as a worker failure, as in Ray's actor_checkpointing.py).
# Ray: prints "result: ok after restart".
import sys
import raylab as ray

@ray.remote
class Flag:
    def __init__(self):
        self.hits = 0
    def hit(self):
        self.hits += 1
        return self.hits

@ray.remote(max_restarts=-1, max_task_retries=-1)
class Phoenix:
    def work(self, flag):
        if ray.get(flag.hit.remote()) == 1:
            sys.exit(1)           # first attempt dies
        return "ok after restart"

flag = Flag.remote()
p = Phoenix.remote()
print("result:", ray.get(p.work.remote(flag)))
