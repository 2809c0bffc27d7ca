import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
def ident(i):
    return i


refs = [ident.remote(i) for i in range(2000)]
values = ray.get(refs)
print("count:", len(values))
print("sum:", sum(values))
print("in order:", values == list(range(2000)))

big = list(range(200000))
big_ref = ray.put(big)


@ray.remote
def chunk_sum(data, start, stop):
    return sum(data[start:stop])


@ray.remote
def length(data):
    return len(data)


parts = [chunk_sum.remote(big_ref, i, i + 50000) for i in range(0, 200000, 50000)]
print("chunk sums:", ray.get(parts))
print("total:", sum(ray.get(parts)) == sum(big))
print("lengths:", ray.get([length.remote(big_ref) for _ in range(4)]))

text_ref = ray.put("x" * 1000000)
print("big string len:", ray.get(length.remote(text_ref)))
print("bytes len:", ray.get(length.remote(ray.put(bytes(2000000)))))


@ray.remote
def tree_sum(lo, hi):
    if hi - lo <= 250:
        return sum(range(lo, hi))
    mid = (lo + hi) // 2
    return sum(ray.get([tree_sum.remote(lo, mid), tree_sum.remote(mid, hi)]))


print("tree sum:", ray.get(tree_sum.remote(0, 1000)))
