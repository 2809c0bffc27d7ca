import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
class Registry:
    def __init__(self, label):
        self.label = label
        self.names = []

    def register(self, name):
        self.names.append(name)
        return len(self.names)

    def info(self):
        return self.label, list(self.names)


reg = Registry.options(name="registry").remote("main")
ray.get(reg.register.remote("alpha"))

found = ray.get_actor("registry")
print("found type:", type(found).__name__)
print("register via found:", ray.get(found.register.remote("beta")))
print("info via original:", ray.get(reg.info.remote()))


@ray.remote
def use_by_name(name):
    h = ray.get_actor("registry")
    return ray.get(h.register.remote(name))


print("from task:", ray.get(use_by_name.remote("gamma")))

first = Registry.options(name="shared", get_if_exists=True).remote("one")
second = Registry.options(name="shared", get_if_exists=True).remote("two")
ray.get(first.register.remote("x"))
ray.get(second.register.remote("y"))
print("get_if_exists first:", ray.get(first.info.remote()))
print("get_if_exists second:", ray.get(second.info.remote()))

try:
    ray.get_actor("no-such-actor")
except ValueError as e:
    print("missing actor: ValueError")

try:
    Registry.options(name="registry").remote("dup")
except ValueError as e:
    print("duplicate name: ValueError")

ns = Registry.options(name="registry", namespace="other").remote("elsewhere")
elsewhere = ray.get_actor("registry", namespace="other")
print("other namespace:", ray.get(elsewhere.info.remote()))
here = ray.get_actor("registry")
print("default namespace unchanged:", ray.get(here.info.remote())[0])
