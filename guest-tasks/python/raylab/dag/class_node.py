"""`ray.dag.class_node`, as Ray's docs import it (see `raylab.dag`)."""

from . import ClassNode,ClassMethodNode  # noqa: F401
