import raylab as ray

ray.init(num_cpus=2, include_dashboard=False)


def make_first():
    @ray.remote
    class Worker:
        def role(self):
            return "first"

        def work(self, x):
            return x + 1

    return Worker


def make_second():
    @ray.remote
    class Worker:
        def role(self):
            return "second"

        def work(self, x):
            return x * 10

    return Worker


A = make_first()
B = make_second()
a = A.remote()
b = B.remote()
print("roles:", ray.get(a.role.remote()), ray.get(b.role.remote()))
print("work:", ray.get(a.work.remote(5)), ray.get(b.work.remote(5)))

# Two remote functions with the same name from different scopes, too.


def make_task(k):
    @ray.remote
    def job(x):
        return x * k

    return job


t2 = make_task(2)
t3 = make_task(3)
print("tasks:", ray.get([t2.remote(7), t3.remote(7)]))

a2 = A.remote()
print("another first:", ray.get(a2.role.remote()))
