"""`ray.dag.input_node`, as Ray's docs import it (see `raylab.dag`)."""

from . import InputNode,InputAttributeNode  # noqa: F401
