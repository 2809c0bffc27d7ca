"""`ray._raylet`: the generator types by their internal names."""

from . import DynamicObjectRefGenerator, ObjectRef, ObjectRefGenerator  # noqa: F401
