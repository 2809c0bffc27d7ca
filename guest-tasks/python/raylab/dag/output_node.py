"""`ray.dag.output_node`, as Ray's docs import it (see `raylab.dag`)."""

from . import MultiOutputNode  # noqa: F401
