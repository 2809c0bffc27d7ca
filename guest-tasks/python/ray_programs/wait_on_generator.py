# ray.wait accepts ObjectRefGenerator objects (streaming generators): a
# generator is "ready" when its next item is available.
# Ray: prints "not ready yet: 0 1" then "ready after waiting: 1 0" then 0.
import time
import raylab as ray

@ray.remote
def slow_stream():
    for i in range(2):
        time.sleep(2)
        yield i

gen = slow_stream.remote()
ready, rest = ray.wait([gen], timeout=0)
print("not ready yet:", len(ready), len(rest))
ready, rest = ray.wait([gen])
print("ready after waiting:", len(ready), len(rest))
print(ray.get(next(gen)))
