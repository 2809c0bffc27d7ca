# A generator task with num_returns=N that yields all N values and only then
# raises.  Ray keeps the N values (the late error is only logged, see
# ray-project/ray#28689 as cited in Ray's generator.py).
# Ray: prints "[10, 20]".
import raylab as ray

@ray.remote(num_returns=2)
def two_then_fail():
    yield 10
    yield 20
    raise ValueError("boom")

a, b = two_then_fail.remote()
print(ray.get([a, b]))
