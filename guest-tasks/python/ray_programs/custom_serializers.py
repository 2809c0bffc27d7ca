import raylab as ray
import io
import re
import threading

ray.init(num_cpus=1)

# ray.util.register_serializer: a class that cannot be pickled (it holds a
# lock) travels as what its serializer makes of it, and is rebuilt by the
# deserializer where it is received. inspect_serializability says what
# stops a value from serializing.


class Account:
    def __init__(self, owner):
        self.owner = owner
        self.lock = threading.Lock()

    def __repr__(self):
        return "Account(%s)" % self.owner


def account_out(a):
    return {"owner": a.owner}


def account_in(state):
    return Account(state["owner"])


@ray.remote
def owner_of(account):
    return type(account).__name__, account.owner, type(account.lock).__name__


@ray.remote
def make_account(owner):
    return Account(owner)


try:
    ray.put(Account("ann"))
except Exception as e:
    print("before registering, put fails:", "lock" in str(e))

ray.util.register_serializer(Account, serializer=account_out, deserializer=account_in)
print("put and get:", ray.get(ray.put(Account("bob"))))
print("to a task:", ray.get(owner_of.remote(Account("cy"))))
print("in a list:", ray.get(ray.put([Account("dee"), Account("eve")])))

# The task did not register one: what it returns does not serialize.
try:
    ray.get(make_account.remote("fay"))
    print("returned from a task")
except Exception as e:
    print("returned from a task: fails")

ray.util.deregister_serializer(Account)
try:
    ray.put(Account("gus"))
except Exception as e:
    print("after deregistering, put fails:", "lock" in str(e))
ray.util.deregister_serializer(Account)
print("deregistering twice is fine")


def masked(text):
    # Addresses vary (and so does the length of a rule under a line that
    # shows one); colour codes are shown as text.
    text = re.sub(r" at 0x[0-9a-f]+", " at 0xADDR", text).replace("\x1b[", "ESC[")
    return re.sub(r"(?m)^=+$", "=====", text)


lock = threading.Lock()


def uses_lock():
    with lock:
        return 1


out = io.StringIO()
ok, failures = ray.util.inspect_serializability(uses_lock, name="uses_lock", print_file=out)
print("function serializable:", ok)
print("failures:", sorted(f.name for f in failures))
print(masked(out.getvalue()))

out = io.StringIO()
ok, failures = ray.util.inspect_serializability(Account("hal"), print_file=out)
print("object serializable:", ok, sorted(f.name for f in failures))
print(masked(out.getvalue()))

out = io.StringIO()
ok, failures = ray.util.inspect_serializability({"a": 1}, print_file=out)
print("plain dict:", ok, failures)
print(masked(out.getvalue()))

# Printed to stdout (not a terminal here), the report has no colour codes.


class Guard:
    def __init__(self):
        self.lock = threading.Lock()

    def __repr__(self):
        return "Guard()"


class Vault:
    def __init__(self):
        self.guard = Guard()
        self.label = "v"

    def __repr__(self):
        return "Vault()"


ok, failures = ray.util.inspect_serializability(Vault(), depth=1)
print("depth 1:", ok, failures)
