"""`ray.dag.function_node`, as Ray's docs import it (see `raylab.dag`)."""

from . import FunctionNode  # noqa: F401
