import raylab as ray

# `await ref` in an async actor suspends the coroutine even when the object
# is already there: a method that keeps awaiting ready objects in a loop
# still lets the actor's other calls run.

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
class Spinner:
    def __init__(self):
        self.stopped = False
        self.rounds = 0

    async def spin(self, boxed):
        total = 0
        while not self.stopped:
            total += await boxed[0]
            self.rounds += 1
        return total >= 5 and total == 5 * self.rounds

    def stop(self):
        self.stopped = True
        return "stopped"

    async def rounds_so_far(self):
        return self.rounds


five = ray.put(5)
spinner = Spinner.remote()
spinning = spinner.spin.remote([five])
# Other calls are served while it spins.
while ray.get(spinner.rounds_so_far.remote()) == 0:
    pass
print("spinning")
print(ray.get(spinner.stop.remote()))
print("spin summed what it awaited:", ray.get(spinning))
