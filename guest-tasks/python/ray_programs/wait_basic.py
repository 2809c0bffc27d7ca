import raylab as ray
import time

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
def nap(seconds, tag):
    time.sleep(seconds)
    return tag


refs = [nap.remote(0, i) for i in range(5)]
ready, pending = ray.wait(refs, num_returns=1)
print("num_returns=1:", len(ready), len(pending))
print("ready is one of them:", ready[0] in refs)

ready, pending = ray.wait(refs, num_returns=len(refs))
print("num_returns=all:", len(ready), len(pending))
print("values:", sorted(ray.get(ready)))
print("order kept:", ready == refs)

slow = nap.remote(3, "slow")
fast = nap.remote(0, "fast")
ray.get(fast)
ready, pending = ray.wait([slow, fast], num_returns=2, timeout=0.2)
print("timeout:", len(ready), len(pending))
print("ready tag:", ray.get(ready))

ready, pending = ray.wait([fast], fetch_local=False)
print("fetch_local=False:", len(ready), len(pending))

ready, pending = ray.wait([slow], timeout=0)
print("timeout=0 on slow:", len(ready), len(pending))

ray.cancel(slow, force=True)

puts = [ray.put(i) for i in range(3)]
ready, pending = ray.wait(puts, num_returns=2)
print("puts:", len(ready), len(pending))
