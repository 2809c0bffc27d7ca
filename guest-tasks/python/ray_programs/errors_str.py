import raylab as ray
import re

ray.init(num_cpus=2)

# What str() of a task's error reads like: Ray's first line names the
# worker (ray::NAME(), its pid and ip; for an actor also its id and repr),
# then the remote traceback. pid, ip, actor id and file paths vary from run
# to run, and caret lines from one Python to another: they are masked.


def shape(e):
    out = []
    for line in str(e).splitlines():
        if line.strip() and set(line.strip()) <= set("^~"):
            continue
        line = re.sub(r"pid=\d+, ip=[^,)]+", "pid=PID, ip=IP", line)
        line = re.sub(r"actor_id=\w+", "actor_id=ID", line)
        line = re.sub(r'File "(?:[^"]*/)?([^"/]+)"', r'File "\1"', line)
        line = line.replace("\x1b[36m", "<cyan>").replace("\x1b[39m", "<reset>")
        out.append("  | " + line)
    return "\n".join(out)


def scale(x):
    raise ValueError("cannot scale %d" % x)


@ray.remote
def leaf(x):
    return scale(x)


@ray.remote
def middle(x):
    return ray.get(leaf.remote(x)) + 1


@ray.remote
def takes(value):
    return value


@ray.remote
class Ledger:
    def __init__(self):
        self.entries = 3

    def post(self, amount):
        if amount < 0:
            raise KeyError("negative amount %d" % amount)
        return amount

    def __repr__(self):
        return "Ledger(entries=%d)" % self.entries


def show(label, ref):
    try:
        ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        print(label + ":", type(e).__name__, "cause:", repr(e.cause))
        print(shape(e))


show("task", leaf.remote(1))
show("nested get", middle.remote(2))
show("argument failed", takes.remote(leaf.remote(3)))
ledger = Ledger.remote()
show("actor method", ledger.post.remote(-5))

try:
    ray.get(leaf.remote(4))
except ValueError as e:
    first = str(e).splitlines()[0]
    print("first line starts:", repr(re.sub(r"pid=\d+, ip=[^,)]+", "pid=PID, ip=IP", first)))
    print("last line:", str(e).splitlines()[-1])
