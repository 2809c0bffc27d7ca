import raylab as ray
import asyncio
import time

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
class Gate:
    """One call waits for an event that a later call sets."""

    def __init__(self):
        self.event = asyncio.Event()
        self.order = []

    async def wait_open(self, who):
        self.order.append("waiting " + who)
        await self.event.wait()
        self.order.append("through " + who)
        return who

    async def open(self):
        self.order.append("open")
        self.event.set()
        return "opened"

    async def log(self):
        return self.order


gate = Gate.remote()
waiting = [gate.wait_open.remote(w) for w in ("a", "b")]
ready, not_ready = ray.wait(waiting, timeout=0.5)
print("through before open:", len(ready))
print(ray.get(gate.open.remote()))
print("waiters:", ray.get(waiting))
print("log:", ray.get(gate.log.remote()))


@ray.remote
class Sleeper:
    async def nap(self, name, seconds):
        await asyncio.sleep(seconds)
        return name


s = Sleeper.remote()
ray.get(s.nap.remote("warm", 0))
start = time.time()
naps = [s.nap.remote(i, 1.0) for i in range(8)]
print("naps:", ray.get(naps))
print("ran at once:", time.time() - start < 4.0)

slow = s.nap.remote("slow", 1.0)
fast = s.nap.remote("fast", 0.05)
first, _ = ray.wait([slow, fast], num_returns=1)
print("first done:", ray.get(first[0]))
print("then:", ray.get(slow))


@ray.remote
class Long:
    async def forever(self):
        await asyncio.sleep(60)
        return "never"

    async def ping(self):
        return "pong"


long = Long.remote()
ref = long.forever.remote()
time.sleep(0.3)
ray.cancel(ref)
try:
    ray.get(ref)
except ray.exceptions.TaskCancelledError:
    print("cancelled: TaskCancelledError")
print("still serving:", ray.get(long.ping.remote()))

one = Sleeper.options(max_concurrency=1).remote()
start = time.time()
print("one at a time:", ray.get([one.nap.remote(i, 0.3) for i in range(3)]))
print("took at least 0.9 s:", time.time() - start >= 0.85)
