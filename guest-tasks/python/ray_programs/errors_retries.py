import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)


class Flaky(Exception):
    pass


@ray.remote
class Attempts:
    def __init__(self):
        self.counts = {}

    def bump(self, key):
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]

    def get(self, key):
        return self.counts.get(key, 0)


attempts = Attempts.remote()


@ray.remote(max_retries=3, retry_exceptions=True)
def fails_once(tracker, key):
    n = ray.get(tracker.bump.remote(key))
    if n == 1:
        raise Flaky("first try")
    return "succeeded on try %d" % n


@ray.remote(max_retries=1, retry_exceptions=True)
def always_fails(tracker, key):
    ray.get(tracker.bump.remote(key))
    raise Flaky("never works")


@ray.remote(max_retries=3, retry_exceptions=False)
def no_app_retry(tracker, key):
    ray.get(tracker.bump.remote(key))
    raise Flaky("no retry")


@ray.remote(max_retries=5, retry_exceptions=[Flaky])
def listed(tracker, key):
    n = ray.get(tracker.bump.remote(key))
    if n < 2:
        raise Flaky("listed")
    return n


print(ray.get(fails_once.remote(attempts, "a")))
print("a attempts:", ray.get(attempts.get.remote("a")))

try:
    ray.get(always_fails.remote(attempts, "b"))
except Flaky as e:
    print("b gave up:", e.cause.args)
print("b attempts:", ray.get(attempts.get.remote("b")))

try:
    ray.get(no_app_retry.remote(attempts, "c"))
except Flaky:
    print("c failed without retry")
print("c attempts:", ray.get(attempts.get.remote("c")))

print("listed result:", ray.get(listed.remote(attempts, "d")))

opt = fails_once.options(max_retries=1, retry_exceptions=True)
print(ray.get(opt.remote(attempts, "e")))
print("e attempts:", ray.get(attempts.get.remote("e")))
