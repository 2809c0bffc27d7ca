"""``ray.get_runtime_context()``: who is running."""

__all__ = ["RuntimeContext", "get_runtime_context"]


class _Id(str):
    """An id as Ray's ID objects read: a string whose ``hex()`` is itself."""

    def hex(self):
        return str(self)

    def binary(self):
        return self.encode()


class RuntimeContext:
    """The calling task's, actor's or driver's context. Ids are strings in
    hexadecimal as in Ray; a driver has no task id."""

    def __init__(self, c):
        self.task_id = c.task_id
        self.module = c.module
        self.function = c.function
        self.attempt = c.attempt
        self.gpu_ids = list(c.gpu_ids)
        self.resources = {r.name: r.amount for r in c.resources}
        self.node = c.node
        from . import _namespace

        # Ray's default is an anonymous namespace of the job's own.
        self.namespace = _namespace if _namespace is not None else "anonymous-" + self.get_job_id()

    @property
    def node_id(self):
        """The node's id (Ray's ``NodeID``: a string here, with ``hex()``)."""
        return _Id(self.node)

    @property
    def job_id(self):
        return _Id(self.get_job_id())

    @property
    def actor_id(self):
        actor = self.get_actor_id()
        return None if actor is None else _Id(actor)

    def get_job_id(self):
        """The job's id (the module this program runs as)."""
        return self.module.encode().hex()[:16]

    def get_task_id(self):
        """This task's id; None in the driver (and in an actor's
        constructor-less context)."""
        return None if self.task_id == 0 else "%016x" % self.task_id

    def get_actor_id(self):
        """The id of the actor this runs in, else None."""
        from . import _runtime

        actor = _runtime.current_actor()
        return None if actor is None else "%016x" % actor[1]

    def get_node_id(self):
        """The node's name in the cluster (``local`` outside one)."""
        return self.node

    def get_worker_id(self):
        return self.get_task_id() or "driver"

    def get_assigned_resources(self):
        return dict(self.resources)

    def get_accelerator_ids(self):
        return {"GPU": [str(g) for g in self.gpu_ids]}

    def get(self):
        return {
            "job_id": self.get_job_id(),
            "node_id": self.get_node_id(),
            "task_id": self.get_task_id(),
            "actor_id": self.get_actor_id(),
            "namespace": self.namespace,
        }

    @property
    def was_current_actor_reconstructed(self):
        from . import _runtime

        actor = _runtime.current_actor()
        return actor is not None and self.attempt > 1

    @property
    def current_actor(self):
        from . import _runtime

        actor = _runtime.current_actor()
        if actor is None:
            raise RuntimeError("This method is only available in an actor.")
        return actor[0]

    # raylab's own names (older SDK).
    def get_node(self):
        return self.node


def get_runtime_context():
    from . import get_runtime_context as g

    return g()
