"""The constants of Ray's ``ray._private.ray_constants`` that programs use."""

# The resource an ``accelerator_type`` option asks for: this prefix and
# the type's name (``accelerator_type:V100``).
RESOURCE_CONSTRAINT_PREFIX = "accelerator_type:"
# What an actor holds of the CPU when it asks for no resource, and when it
# asks for some but names no CPU count.
DEFAULT_ACTOR_CREATION_CPU_SIMPLE = 0
DEFAULT_ACTOR_CREATION_CPU_SPECIFIED = 1
# How much of ``accelerator_type:X`` a task with that option holds.
ACCELERATOR_TYPE_AMOUNT = 0.001
