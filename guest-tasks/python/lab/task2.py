"""The lab's Task 2 in Python: a million random numbers, a non-trivial
calculation on each, sequentially and then in parallel chunks as remote
tasks, with the results checked equal and the speedup printed. The data
and the math are those of the Rust task2 (SplitMix64 with seed 42,
uniform in [-100, 100); sum over k = 0..4 of sin(y)cos(y) + sqrt(|y|) +
ln(1 + y^2) with y = x + k), in pure Python.

    raylab-host run guest-tasks/python/lab/task2.py -- [--n N] [--chunks C] [--seed S]

Chunks travel as packed doubles (``bytes``): one MessagePack ``bin`` each
way instead of a list of a million floats.
"""

import argparse
import math
import struct
import time

import raylab

MASK = (1 << 64) - 1


def data(n, seed):
    """``n`` numbers uniform in [-100, 100) from SplitMix64(seed)."""
    out = []
    state = seed
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        out.append(-100.0 + 200.0 * ((z >> 11) / 9007199254740992.0))
    return out


def calc(x):
    acc = 0.0
    for k in range(5):
        y = x + k
        acc += math.sin(y) * math.cos(y) + math.sqrt(abs(y)) + math.log(1.0 + y * y)
    return acc


def pack(xs):
    return struct.pack("<%dd" % len(xs), *xs)


def unpack(b):
    return list(struct.unpack("<%dd" % (len(b) // 8), b))


@raylab.remote
def process_chunk(chunk):
    return pack([calc(x) for x in unpack(chunk)])


def main():
    parser = argparse.ArgumentParser(prog="task2.py")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--chunks", type=int, default=0)
    parser.add_argument("--seed", type=int, default=42)
    o = vars(parser.parse_args())
    cpus = int(raylab.cluster_resources().get("CPU", 1))
    chunks = o["chunks"] or max(1, cpus)
    print(f"Task 2 (Python): {o['n']} random numbers in [-100, 100), seed {o['seed']}, {cpus} CPUs")
    xs = data(o["n"], o["seed"])

    start = time.perf_counter()
    sequential = [calc(x) for x in xs]
    seq = time.perf_counter() - start

    start = time.perf_counter()
    step = -(-len(xs) // chunks)
    refs = [process_chunk.remote(pack(xs[i : i + step])) for i in range(0, len(xs), step)]
    parallel = []
    for part in raylab.get(refs):
        parallel.extend(unpack(part))
    par = time.perf_counter() - start

    print(f"sequential time: {seq:.3f} s")
    print(f"parallel time:   {par:.3f} s ({len(refs)} chunk tasks)")
    print(f"checksum: {sum(parallel):.6f}")
    print("results equal:", "yes" if sequential == parallel else "NO")
    print(f"speedup: {seq / par:.2f}x")


if __name__ == "__main__":
    main()
