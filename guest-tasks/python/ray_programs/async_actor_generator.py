# An `async def` actor method containing `yield` is a streaming generator:
# .remote() returns an ObjectRefGenerator to iterate over.
# Ray: prints 0 1 2 (one per line).
import raylab as ray

@ray.remote
class Counter:
    async def count(self, n):
        for i in range(n):
            yield i

c = Counter.remote()
for ref in c.count.remote(3):
    print(ray.get(ref))
