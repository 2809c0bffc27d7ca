import raylab as ray


class Boom(Exception):
    pass


@ray.remote
def fine():
    return "fine"


print("first:", ray.get(fine.remote()))
print("about to raise")
raise Boom("uncaught in the driver")
print("never printed")
