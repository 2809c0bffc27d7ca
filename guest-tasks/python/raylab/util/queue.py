"""``ray.util.queue.Queue``: a first-in first-out queue that tasks and
actors share, kept by an actor.

raylab runs an actor's calls one at a time, so a blocking ``get`` or
``put`` waits on the caller's side (asking the actor again, with a short
growing pause), never inside the actor, where it would stop the calls that
could unblock it.
"""

import queue as _queue
import time

__all__ = ["Queue", "Empty", "Full"]


class Empty(_queue.Empty):
    """``get`` found the queue empty (``block=False``, or past ``timeout``)."""


class Full(_queue.Full):
    """``put`` found the queue full (``block=False``, or past ``timeout``)."""


class _Store:
    """The queue's actor."""

    def __init__(self, maxsize):
        self.maxsize = maxsize
        self.items = []
        self.head = 0

    def qsize(self):
        return len(self.items) - self.head

    def put_nowait(self, item):
        if self.maxsize > 0 and self.qsize() >= self.maxsize:
            return False
        self.items.append(item)
        return True

    def put_nowait_batch(self, items):
        if self.maxsize > 0 and self.qsize() + len(items) > self.maxsize:
            return False
        self.items.extend(items)
        return True

    def get_nowait(self):
        if self.head >= len(self.items):
            return (False, None)
        item = self.items[self.head]
        self.items[self.head] = None
        self.head += 1
        if self.head > 1024 and self.head * 2 > len(self.items):
            del self.items[: self.head]
            self.head = 0
        return (True, item)

    def get_nowait_batch(self, n):
        if n > self.qsize():
            return (False, [])
        return (True, [self.get_nowait()[1] for _ in range(n)])


def _wait(attempt, deadline, fail):
    """Pause before asking again; raise ``fail`` past ``deadline``."""
    if deadline is not None and time.monotonic() >= deadline:
        raise fail
    pause = min(0.0002 * (2**attempt), 0.01)
    if deadline is not None:
        pause = min(pause, max(0.0, deadline - time.monotonic()))
    time.sleep(pause)


class Queue:
    """A queue of at most ``maxsize`` items (0: no limit), usable from the
    driver, tasks and actors (pass it as an argument)."""

    def __init__(self, maxsize=0, actor_options=None):
        from .. import remote

        self.maxsize = maxsize
        cls = remote(**actor_options)(_Store) if actor_options else remote(_Store)
        self.actor = cls.remote(maxsize)

    def __len__(self):
        return self.size()

    def size(self):
        from .. import get

        return get(self.actor.qsize.remote())

    def qsize(self):
        return self.size()

    def empty(self):
        return self.size() == 0

    def full(self):
        return self.maxsize > 0 and self.size() >= self.maxsize

    def put(self, item, block=True, timeout=None):
        """Add ``item``; ``Full`` when it cannot (see ``block``/``timeout``)."""
        from .. import get

        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        deadline = None if timeout is None else time.monotonic() + timeout
        attempt = 0
        while not get(self.actor.put_nowait.remote(item)):
            if not block:
                raise Full
            _wait(attempt, deadline, Full())
            attempt += 1

    def get(self, block=True, timeout=None):
        """The oldest item; ``Empty`` when there is none (see
        ``block``/``timeout``)."""
        from .. import get

        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        deadline = None if timeout is None else time.monotonic() + timeout
        attempt = 0
        while True:
            ok, item = get(self.actor.get_nowait.remote())
            if ok:
                return item
            if not block:
                raise Empty
            _wait(attempt, deadline, Empty())
            attempt += 1

    def put_nowait(self, item):
        return self.put(item, block=False)

    def get_nowait(self):
        return self.get(block=False)

    def put_nowait_batch(self, items):
        from .. import get

        if not get(self.actor.put_nowait_batch.remote(list(items))):
            raise Full("Cannot add %d items to queue of size %d and maxsize %d." % (len(items), self.size(), self.maxsize))

    def get_nowait_batch(self, num_items):
        from .. import get

        ok, items = get(self.actor.get_nowait_batch.remote(num_items))
        if not ok:
            raise Empty("Cannot get %d items from queue of size %d." % (num_items, self.size()))
        return items

    def shutdown(self, force=False, grace_period_s=5):
        from .. import kill

        if self.actor is not None:
            kill(self.actor)
            self.actor = None
