"""``ActorPool``: spread calls over a fixed set of actors (Ray's
``ray.util.ActorPool``)."""

__all__ = ["ActorPool"]


class ActorPool:
    """Runs ``fn(actor, value)`` calls on whichever actor of ``actors`` is
    free, keeping at most one call in flight per actor."""

    def __init__(self, actors):
        self._idle = list(actors)
        self._future_to_actor = {}
        self._index_to_future = {}
        self._next_task_index = 0
        self._next_return_index = 0
        self._pending = []

    def map(self, fn, values):
        """Results of ``fn`` over ``values``, in order."""
        return self._map(fn, values, self.get_next)

    def map_unordered(self, fn, values):
        """Results of ``fn`` over ``values``, as they finish."""
        return self._map(fn, values, self.get_next_unordered)

    def _map(self, fn, values, next_result):
        # What an earlier map left unread is dropped first, as in Ray.
        while self.has_next():
            self.get_next_unordered()
        for v in values:
            self.submit(fn, v)
        while self.has_next():
            yield next_result()

    def submit(self, fn, value):
        """Schedule ``fn(actor, value)`` (on a free actor, or once one is)."""
        if self._idle:
            actor = self._idle.pop()
            ref = fn(actor, value)
            self._future_to_actor[ref] = (self._next_task_index, actor)
            self._index_to_future[self._next_task_index] = ref
            self._next_task_index += 1
        else:
            self._pending.append((fn, value))

    def has_next(self):
        return bool(self._future_to_actor)

    def has_free(self):
        return bool(self._idle) and not self._pending

    def pop_idle(self):
        return self._idle.pop() if self.has_free() else None

    def push(self, actor):
        self._return_actor(actor)

    def _return_actor(self, actor):
        self._idle.append(actor)
        if self._pending:
            self.submit(*self._pending.pop(0))

    def get_next(self, timeout=None, ignore_if_timedout=False):
        """The next result in submission order."""
        from .. import get, wait

        if not self.has_next():
            raise StopIteration("No more results to get")
        if self._next_return_index >= self._next_task_index:
            raise ValueError("It is not allowed to call get_next() after get_next_unordered().")
        ref = self._index_to_future[self._next_return_index]
        if timeout is not None:
            ready, _ = wait([ref], timeout=timeout)
            if not ready:
                raise TimeoutError("Timed out waiting for result")
        del self._index_to_future[self._next_return_index]
        self._next_return_index += 1
        _, actor = self._future_to_actor.pop(ref)
        self._return_actor(actor)
        return get(ref)

    def get_next_unordered(self, timeout=None, ignore_if_timedout=False):
        """The next result to finish."""
        from .. import get, wait

        if not self.has_next():
            raise StopIteration("No more results to get")
        ready, _ = wait(list(self._future_to_actor), num_returns=1, timeout=timeout)
        if not ready:
            raise TimeoutError("Timed out waiting for result")
        ref = ready[0]
        index, actor = self._future_to_actor.pop(ref)
        self._index_to_future.pop(index, None)
        self._next_return_index = max(self._next_return_index, index + 1)
        self._return_actor(actor)
        return get(ref)
