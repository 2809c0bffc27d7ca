"""``ray._private.internal_api``: ``free`` and ``memory_summary``."""

__all__ = ["free", "memory_summary"]


def free(object_refs, local_only=False):
    """Ray frees the objects at once; raylab frees an object when its last
    reference goes, so this drops no ref's object early (the refs stay
    usable). What it does give back is the pin of an object whose ref the
    program pickled itself (``pickle`` or ``ray.cloudpickle``), which kept
    it alive for the bytes to be loaded later."""
    from .. import _codec

    if isinstance(object_refs, _codec.ObjectRef):
        object_refs = [object_refs]
    _codec.unpin([r._raylab_id for r in object_refs])


def memory_summary(*args, **kwargs):
    """A short summary of the object store, as raylab's resources see it."""
    from .. import available_resources, cluster_resources

    return "raylab object store: see `raylab-host status` (resources: %s; free now: %s)" % (
        cluster_resources(),
        available_resources(),
    )
