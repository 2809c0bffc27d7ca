import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)


class Overdraft(Exception):
    pass


@ray.remote
class Account:
    def __init__(self, balance):
        if balance < 0:
            raise ValueError("negative opening balance")
        self.balance = balance

    def withdraw(self, amount):
        if amount > self.balance:
            raise Overdraft(amount, self.balance)
        self.balance -= amount
        return self.balance

    def balance_now(self):
        return self.balance


acct = Account.remote(50)
print("withdraw 20:", ray.get(acct.withdraw.remote(20)))
try:
    ray.get(acct.withdraw.remote(100))
except Overdraft as e:
    print("Overdraft:", e.cause.args)
    print("  is RayTaskError:", isinstance(e, ray.exceptions.RayTaskError))
    print("  is RayActorError:", isinstance(e, ray.exceptions.RayActorError))
# The actor survives an exception in one of its methods.
print("balance after error:", ray.get(acct.balance_now.remote()))

bad = Account.remote(-1)
try:
    ray.get(bad.balance_now.remote())
except ray.exceptions.RayActorError as e:
    print("constructor failed:", type(e).__name__)
    print("  is RayTaskError:", isinstance(e, ray.exceptions.RayTaskError))


@ray.remote
def spend(account, amount):
    return ray.get(account.withdraw.remote(amount))


try:
    ray.get(spend.remote(acct, 1000))
except Overdraft as e:
    print("through a task:", type(e.cause).__name__)

try:
    acct.no_such_method.remote()
except AttributeError:
    print("unknown method: AttributeError")
