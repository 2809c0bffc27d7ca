import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
class Ledger:
    def __init__(self):
        self.entries = []

    def add(self, who, amount):
        self.entries.append((who, amount))
        return len(self.entries)

    def summary(self):
        return sorted(self.entries)


@ray.remote
def deposit(ledger, who, amount):
    return ray.get(ledger.add.remote(who, amount))


@ray.remote
class Clerk:
    def __init__(self, ledger, name):
        self.ledger = ledger
        self.name = name

    def record(self, amount):
        return ray.get(self.ledger.add.remote(self.name, amount))

    def record_via(self, other_ledger, amount):
        return ray.get(other_ledger.add.remote(self.name + "*", amount))


ledger = Ledger.remote()
ray.get([deposit.remote(ledger, "task", i) for i in range(3)])

clerk = Clerk.remote(ledger, "clerk")
ray.get([clerk.record.remote(10), clerk.record.remote(20)])
ray.get(clerk.record_via.remote(ledger, 99))

print("entries:", ray.get(ledger.summary.remote()))
print("count:", len(ray.get(ledger.summary.remote())))


@ray.remote
def handle_kind(h):
    return type(h).__name__, isinstance(h, ray.actor.ActorHandle)


print("handle in task:", ray.get(handle_kind.remote(ledger)))
print("handles in list:", ray.get(handle_kind.remote([ledger]))[0])
