"""A Python driver and Rust tasks exchanging bulk values by name: the Rust
SDK packs Vec<f64>/Vec<i64> (ext of little-endian numbers) and Vec<u8>
(bin); Python gets lists and bytes, and Rust takes Python's lists and
bytes. Run with --plugin deps=<dependencies.wasm>."""

import raylab as ray

floats = ray.remote_function("deps/plain_floats")
ints = ray.remote_function("deps/plain_ints")
data = ray.remote_function("deps/plain_bytes")
text = ray.remote_function("deps/plain_text")
sums = ray.remote_function("deps/plain_sums")

xs = ray.get(floats.remote(5))
print("floats", type(xs).__name__, xs)
big = ray.get(floats.remote(100_000))
print("big floats", len(big), big[-1] == 99_999 / 4)
print("ints", ray.get(ints.remote(4)))
b = ray.get(data.remote(300))
print("bytes", type(b).__name__, len(b), b[:4])
print("text", ray.get(text.remote(3)))
print("sums", ray.get(sums.remote([0.5, 1.5], bytes([1, 2, 250]), [-7, 3])))
print("sums of big", ray.get(sums.remote(big, b * 1000, list(range(1000)))))
