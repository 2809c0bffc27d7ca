"""`ray.dag.dag_node`, as Ray's docs import it (see `raylab.dag`)."""

from . import DAGNode  # noqa: F401
