# num_returns="dynamic": Ray exports ray.DynamicObjectRefGenerator, and
# ray.get(ref) returns one (an iterable of ObjectRefs).
# Ray: prints "True".
import raylab as ray

@ray.remote(num_returns="dynamic")
def chunks(n):
    for i in range(n):
        yield i

gen = ray.get(chunks.remote(3))
print(isinstance(gen, ray.DynamicObjectRefGenerator))
