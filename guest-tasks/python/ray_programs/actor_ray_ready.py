# Every actor handle has a built-in __ray_ready__ method; calling it returns a
# ref that resolves once the actor's constructor has run (used in Ray's
# doc_code/t.py and widely in user code to wait for actor start-up).
# Ray: prints "ready True".
import raylab as ray

@ray.remote
class Slow:
    def __init__(self):
        self.up = True
    def is_up(self):
        return self.up

s = Slow.remote()
ray.get(s.__ray_ready__.remote())
print("ready", ray.get(s.is_up.remote()))
