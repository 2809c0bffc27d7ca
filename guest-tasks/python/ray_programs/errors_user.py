import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)


class QuotaError(Exception):
    def __init__(self, user, used):
        super().__init__(user, used)
        self.user = user
        self.used = used


@ray.remote
def charge(user, used):
    if used > 10:
        raise QuotaError(user, used)
    return used


print("ok:", ray.get(charge.remote("ann", 3)))

try:
    ray.get(charge.remote("bob", 42))
except QuotaError as e:
    print("caught as QuotaError")
    print("  user/used:", e.user, e.used)
    print("  isinstance QuotaError:", isinstance(e, QuotaError))
    print("  isinstance RayTaskError:", isinstance(e, ray.exceptions.RayTaskError))
    print("  isinstance RayError:", isinstance(e, ray.exceptions.RayError))
    print("  type name:", type(e).__name__)
    print("  cause type:", type(e.cause).__name__)
    print("  cause args:", e.cause.args)

try:
    ray.get(charge.remote("cy", 11))
except ray.exceptions.RayTaskError as e:
    print("caught as RayTaskError")
    print("  isinstance QuotaError:", isinstance(e, QuotaError))
    print("  cause is QuotaError:", isinstance(e.cause, QuotaError))
    print("  cause.user:", e.cause.user)

try:
    ray.get([charge.remote("d", 1), charge.remote("e", 99)])
except QuotaError as e:
    print("list get raised for:", e.user)

try:
    ray.get(charge.remote("f", 50))
except Exception as e:
    print("caught as Exception, is QuotaError:", isinstance(e, QuotaError))
