"""``ray._private.internal_api``: ``free`` and ``memory_summary``."""

__all__ = ["free", "memory_summary"]


def free(object_refs, local_only=False):
    """Ray frees the objects at once; raylab frees an object when its last
    reference goes, so this drops nothing early (the refs stay usable)."""


def memory_summary(*args, **kwargs):
    """A short summary of the object store, as raylab's resources see it."""
    from .. import available_resources, cluster_resources

    return "raylab object store: see `raylab-host status` (resources: %s; free now: %s)" % (
        cluster_resources(),
        available_resources(),
    )
