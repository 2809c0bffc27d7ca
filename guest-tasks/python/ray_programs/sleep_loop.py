import raylab as ray
import time


@ray.remote
def tick(n):
    count = 0
    for _ in range(n):
        time.sleep(0.0001)
        count += 1
    return count


start = time.monotonic()
result = ray.get(tick.remote(1000))
print("ticks:", result)
print("reasonable:", time.monotonic() - start < 30)
