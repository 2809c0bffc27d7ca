import raylab as ray
import asyncio
import time

ray.init(num_cpus=2)

# A task or async actor call cancelled while it runs reaches get as
# RayTaskError(TaskCancelledError), an instance of both (Ray raises it as
# the task's own error); one cancelled before it started is a plain
# TaskCancelledError.


@ray.remote
def naps(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.01)
    return "finished"


@ray.remote(num_cpus=2)
def hog(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.01)
    return "hogged"


@ray.remote
class Waiter:
    async def wait_long(self):
        await asyncio.sleep(30)
        return "woke"

    async def ping(self):
        return "pong"


def report(label, ref):
    try:
        ray.get(ref)
        print(label, "-> not cancelled")
        return
    except ray.exceptions.TaskCancelledError as e:
        print(label, "-> caught as TaskCancelledError:", type(e).__name__)
        print("  also a RayTaskError:", isinstance(e, ray.exceptions.RayTaskError))
        if isinstance(e, ray.exceptions.RayTaskError):
            print("  cause:", type(e.cause).__name__)
    try:
        ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        print("  caught again as RayTaskError:", type(e).__name__)
    except ray.exceptions.TaskCancelledError as e:
        print("  caught again, not as RayTaskError:", type(e).__name__)


running = naps.remote(30)
time.sleep(1.0)
ray.cancel(running)
report("running task", running)

blocker = hog.remote(2)
time.sleep(0.5)
queued = naps.remote(1)
time.sleep(0.2)
ray.cancel(queued)
report("queued task", queued)
print("blocker:", ray.get(blocker))

waiter = Waiter.remote()
print("ready:", ray.get(waiter.ping.remote()))
call = waiter.wait_long.remote()
time.sleep(0.5)
ray.cancel(call)
report("running async call", call)
print("actor still serves:", ray.get(waiter.ping.remote()))
