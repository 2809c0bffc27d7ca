# ray.init(namespace=...) sets the job's namespace.
# Ray: prints "blue".
import raylab as ray

ray.init(namespace="blue")
print(ray.get_runtime_context().namespace)
