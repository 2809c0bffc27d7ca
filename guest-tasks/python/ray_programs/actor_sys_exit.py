# sys.exit() inside an actor method ends the actor's process: the caller's
# ray.get raises RayActorError (ActorDiedError), the driver continues.
# Ray: prints "caught ActorDiedError" then "driver continues", exit status 0.
import sys
import raylab as ray

@ray.remote
class Quitter:
    def quit(self):
        sys.exit(1)

q = Quitter.remote()
try:
    ray.get(q.quit.remote())
except ray.exceptions.RayActorError as e:
    print("caught", type(e).__name__)
print("driver continues")
