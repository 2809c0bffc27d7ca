import raylab as ray
import helper_mod
from helper_mod import describe

ray.init(num_cpus=2, include_dashboard=False)


@ray.remote
def apply(func, x):
    return func(x)


@ray.remote
def uses_module(x):
    # The task calls into the helper module itself.
    return helper_mod.triple(x) + helper_mod.SCALE


@ray.remote
def imports_inside(values):
    import helper_mod as hm
    return hm.describe(values), hm.__name__


print("passed function:", ray.get(apply.remote(helper_mod.triple, 7)))
print("from-import function:", ray.get(apply.remote(describe, [3, 9, 4])))
print("module in task:", ray.get(uses_module.remote(5)))
print("import inside task:", ray.get(imports_inside.remote([1, 2])))

t = ray.get(apply.remote(lambda n: helper_mod.Tally(), 0))
print("helper class:", type(t).__name__, type(t).__module__, t.add("x"))

RemoteTally = ray.remote(helper_mod.Tally)
tally = RemoteTally.remote()
print("helper class as actor:", ray.get([tally.add.remote(i) for i in range(3)]))
print("remote() as a function:", ray.get(ray.remote(helper_mod.triple).remote(11)))
