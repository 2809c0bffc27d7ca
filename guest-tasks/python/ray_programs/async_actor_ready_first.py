import raylab as ray
import asyncio

# An async actor runs a call as soon as that call's own arguments are
# ready, even when a call submitted before it still waits for an argument
# (Ray's "actor task execution order"). A plain actor runs one caller's
# calls in the order they were submitted.

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
class Gate:
    """Holds values back until it is opened."""

    def __init__(self):
        self.event = asyncio.Event()

    async def pass_through(self, value):
        await self.event.wait()
        return value

    async def open(self):
        self.event.set()


@ray.remote
class AsyncLog:
    def __init__(self):
        self.seen = []

    async def add(self, tag, value):
        self.seen.append(tag)
        return tag + "=" + str(value)

    async def seen_so_far(self):
        await asyncio.sleep(0)
        return list(self.seen)


@ray.remote
class PlainLog:
    def __init__(self):
        self.seen = []

    def add(self, tag, value):
        self.seen.append(tag)
        return tag + "=" + str(value)

    def seen_so_far(self):
        return list(self.seen)


def show(kind, log):
    gate = Gate.remote()
    blocked = log.add.remote("blocked", gate.pass_through.remote(1))
    free = log.add.remote("free", 2)
    also_free = log.add.remote("also_free", ray.put(3))
    if kind.startswith("async"):
        print(kind, "while blocked waits:", ray.get([free, also_free]))
    else:
        ready, _ = ray.wait([blocked, free, also_free], num_returns=3, timeout=1.0)
        print(kind, "done while blocked waits:", len(ready))
    ray.get(gate.open.remote())
    print(kind, "all results:", ray.get([blocked, free, also_free]))
    print(kind, "ran in order:", ray.get(log.seen_so_far.remote()))


# Calls made right after creation (the actor may still be starting).
show("async (new)", AsyncLog.remote())

# Calls to an actor that has already served a call.
warm = AsyncLog.remote()
ray.get(warm.seen_so_far.remote())
show("async (warm)", warm)

plain = PlainLog.remote()
ray.get(plain.seen_so_far.remote())
show("plain", plain)
