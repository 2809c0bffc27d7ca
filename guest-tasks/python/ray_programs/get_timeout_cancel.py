import raylab as ray
import time

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
def slow(seconds):
    time.sleep(seconds)
    return "done"


@ray.remote
def naps(seconds):
    # Many short sleeps, so a cancel request is noticed between them.
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.01)
    return "not cancelled"


@ray.remote
def quick():
    return "quick"


ref = slow.remote(2)
try:
    ray.get(ref, timeout=0.1)
except ray.exceptions.GetTimeoutError as e:
    print("GetTimeoutError raised")
    print("  is TimeoutError:", isinstance(e, TimeoutError))
    print("  is RayError:", isinstance(e, ray.exceptions.RayError))
print("still finishes:", ray.get(ref))

try:
    ray.get(slow.remote(2), timeout=0.1)
except TimeoutError as e:
    print("caught as TimeoutError:", type(e).__name__)

print("zero timeout on finished:", ray.get(ray.put(5), timeout=0))

long_ref = naps.remote(30)
time.sleep(0.5)
ray.cancel(long_ref)
try:
    ray.get(long_ref)
except ray.exceptions.TaskCancelledError as e:
    print("TaskCancelledError raised")
    print("  is RayError:", isinstance(e, ray.exceptions.RayError))

forced = slow.remote(30)
time.sleep(0.5)
ray.cancel(forced, force=True)
try:
    ray.get(forced)
except (ray.exceptions.TaskCancelledError, ray.exceptions.WorkerCrashedError) as e:
    # Ray 2.47 raises WorkerCrashedError when the task was already running
    # (its worker is killed) and TaskCancelledError when it had not started.
    print("force cancel raised one of the two")
    print("  is RayError:", isinstance(e, ray.exceptions.RayError))

print("later work:", ray.get(quick.remote()))
