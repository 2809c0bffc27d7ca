import raylab as ray
import time

ray.init(num_cpus=2, include_dashboard=False)

print("has RayActorError:", hasattr(ray.exceptions, "RayActorError"))
print("has ActorDiedError:", hasattr(ray.exceptions, "ActorDiedError"))
print("has ActorUnavailableError:", hasattr(ray.exceptions, "ActorUnavailableError"))
print("ActorDiedError is RayActorError:",
      issubclass(ray.exceptions.ActorDiedError, ray.exceptions.RayActorError))


def call_until_dead(method):
    # ray.kill is asynchronous: a call made right after it may still run.
    for _ in range(200):
        try:
            ray.get(method.remote())
        except ray.exceptions.RayActorError as e:
            return e
        time.sleep(0.05)
    return None


@ray.remote
class Service:
    def ping(self):
        return "pong"

    def shutdown(self):
        ray.actor.exit_actor()


svc = Service.remote()
print("before kill:", ray.get(svc.ping.remote()))
ray.kill(svc)
e = call_until_dead(svc.ping)
print("after kill:", type(e).__name__)
print("  is RayActorError:", isinstance(e, ray.exceptions.RayActorError))
print("  is RayError:", isinstance(e, ray.exceptions.RayError))

svc2 = Service.remote()
print("second service:", ray.get(svc2.ping.remote()))
try:
    ray.get(svc2.shutdown.remote())
except ray.exceptions.RayActorError as e:
    print("shutdown call:", type(e).__name__)
else:
    print("shutdown call returned")
try:
    ray.get(svc2.ping.remote())
except ray.exceptions.RayActorError as e:
    print("after exit_actor:", type(e).__name__)


@ray.remote(max_restarts=-1, max_task_retries=-1)
class Resilient:
    def __init__(self):
        self.calls = 0

    def call(self):
        self.calls += 1
        return self.calls


r = Resilient.remote()
print("resilient:", ray.get([r.call.remote() for _ in range(3)]))
opt = Resilient.options(max_restarts=2, max_task_retries=1).remote()
print("resilient options:", ray.get(opt.call.remote()))
ray.kill(r, no_restart=True)
print("killed with no_restart:", type(call_until_dead(r.call)).__name__)
