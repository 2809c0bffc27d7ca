# Creating a named, detached actor.
# Ray: prints "pong" (and a log line on stderr about the anonymous namespace).
# Affects actor_creator_failure.py and namespaces.py from Ray's docs.
import raylab as ray

@ray.remote
class Echo:
    def ping(self):
        return "pong"

e = Echo.options(name="echo1", lifetime="detached").remote()
print(ray.get(e.ping.remote()))
