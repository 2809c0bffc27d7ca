"""Async actors: calls run concurrently in one event loop and each fails or
succeeds on its own (crashes, time limits, exit_actor, kill, cancel), as in
Ray. Prints key=value lines for `host/cli/tests/all/python.rs`."""
import raylab as ray
import asyncio
import time


def outcome(ref):
    try:
        return "ok:%s" % (ray.get(ref, timeout=20),)
    except ray.exceptions.RayError as e:
        return type(e).__name__


@ray.remote(max_restarts=1)
class Busy:
    async def nap(self, s):
        await asyncio.sleep(s)
        return "napped"

    async def spin(self):
        while True:
            pass

    async def ping(self):
        return "pong"


# Code that never yields: the instance is stopped at the actor's limit
# (1 s from its last wait for calls), every call it ran fails, and the
# restarted actor serves.
a = Busy.options(timeout_ms=1000).remote()
napping = a.nap.remote(30)
time.sleep(0.2)
spinning = a.spin.remote()
print("crash.nap=" + outcome(napping))
print("crash.spin=" + outcome(spinning))
print("crash.after=" + outcome(a.ping.remote()))

# One call past the limit fails alone; the others go on.
b = Busy.options(timeout_ms=500).remote()
slow = b.nap.remote(30)
quick = b.nap.remote(0.1)
print("limit.quick=" + outcome(quick))
try:
    ray.get(slow)
except ray.exceptions.RaySystemError as e:
    print("limit.slow=" + e.kind)
print("limit.after=" + outcome(b.ping.remote()))


@ray.remote
class Leaver:
    async def nap(self, s):
        await asyncio.sleep(s)
        return "napped"

    async def leave(self):
        await asyncio.sleep(0.1)
        ray.actor.exit_actor()


c = Leaver.remote()
long = c.nap.remote(30)
print("exit.leave=" + outcome(c.leave.remote()))
print("exit.nap=" + outcome(long))
print("exit.after=" + outcome(c.nap.remote(0)))

d = Leaver.remote()
waiting = [d.nap.remote(30) for _ in range(3)]
time.sleep(0.2)
ray.kill(d)
print("kill=" + ",".join(outcome(r) for r in waiting))


@ray.remote
class Plain:
    def slow(self):
        time.sleep(0.5)
        return "slow done"

    def quick(self):
        return "quick done"


p = Plain.remote()
running = p.slow.remote()
queued = p.quick.remote()
time.sleep(0.1)
ray.cancel(queued)
ray.cancel(running)
print("plain.queued=" + outcome(queued))
print("plain.running=" + outcome(running))
print("plain.after=" + outcome(p.quick.remote()))
