import raylab as ray
import asyncio

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
class AsyncBox:
    def __init__(self):
        self.log = []

    async def put(self, item, delay):
        await asyncio.sleep(delay)
        self.log.append(item)
        return item

    async def gather_squares(self, n):
        async def sq(i):
            await asyncio.sleep(0.01)
            return i * i

        return await asyncio.gather(*(sq(i) for i in range(n)))

    async def contents(self):
        return sorted(self.log)

    def sync_len(self):
        return len(self.log)


box = AsyncBox.remote()
print("single:", ray.get(box.put.remote("a", 0.05)))
refs = [box.put.remote(x, 0.02) for x in ["c", "b", "d"]]
print("many:", sorted(ray.get(refs)))
print("gather:", ray.get(box.gather_squares.remote(5)))
print("contents:", ray.get(box.contents.remote()))
print("sync method:", ray.get(box.sync_len.remote()))

limited = AsyncBox.options(max_concurrency=2).remote()
print("max_concurrency:", sorted(ray.get([limited.put.remote(i, 0.01) for i in range(4)])))


@ray.remote
class Waiter:
    async def wait_for(self, ref_list):
        # An ObjectRef can be awaited inside an async actor.
        return await ref_list[0]


@ray.remote
def produce():
    return "produced"


w = Waiter.remote()
print("await ref:", ray.get(w.wait_for.remote([produce.remote()])))
