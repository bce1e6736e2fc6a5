"""SaveFuture: the handle of an asynchronous save (Store.save(..., blocking=False))."""

import threading

from ckptdb.errors import Error
from ckptdb.info import CheckpointInfo


class SaveFuture:
    """An asynchronous save (Store.save(..., blocking=False)) whose state is captured and whose
    persist (hash, write, sync, commit) runs on the store's own thread, without the GIL. Like a
    concurrent.futures.Future: result(), exception(), done(); and the step it saves.

    A failed persist commits nothing. Its error is raised by result() (returned by exception()),
    and is also raised once by the store's next save (its own class, the message "an earlier
    asynchronous save failed, so nothing was saved (this reports it once: retrying proceeds): ..."),
    or by close() if no save comes. AbortedError: abandon_pending_saves() dropped it.
    Thread-safe; valid after the store is closed (close finishes every pending save first).
    """

    def __init__(self, native, store=None, seen=None):
        self._native = native
        self._store = store  # skip_unchanged saves: the Store whose cache the result updates
        self._seen = seen  # and what that cache remembers of this save's tensors
        self._lock = threading.Lock()
        self._info = None
        self._error = None
        self._settled = False

    @property
    def step(self):
        """The step this save records."""
        return self._native.step

    def done(self):
        """Whether the persist has ended (committed or failed); never blocks."""
        return self._settled or self._native.done()

    def result(self, timeout=None):
        """The committed checkpoint's CheckpointInfo, waiting at most `timeout` seconds (None: until
        the persist ends). Raises the save's error (a ckptdb.Error), or TimeoutError when it has not
        ended in time (it goes on)."""
        if not self._wait(timeout):
            raise TimeoutError(f"the asynchronous save of step {self.step} has not ended after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._info

    def exception(self, timeout=None):
        """The save's error, or None if it committed; waits as result() (TimeoutError likewise)."""
        if not self._wait(timeout):
            raise TimeoutError(f"the asynchronous save of step {self.step} has not ended after {timeout} s")
        return self._error

    def _wait(self, timeout):
        """Waits (without the GIL) for the persist; False on timeout. Settles the future once."""
        if self._settled:
            return True
        try:
            d = self._native.wait(None if timeout is None else float(timeout))
            if d is None:
                return False
            info, error, chunks = CheckpointInfo._from(d), None, d["chunks"]
        except Error as e:  # the save's own error: kept for result() and exception()
            info, error, chunks = None, e, None
        with self._lock:
            if self._settled:
                return True
            self._info, self._error, self._settled = info, error, True
            store, seen = self._store, self._seen
            self._store = self._seen = None
        if store is not None:
            store._settle_known(self, error, seen, chunks)
        return True

    def __repr__(self):
        state = "pending" if not self.done() else ("failed" if self.exception() else "done")
        return f"ckptdb.SaveFuture(step={self.step}, {state})"
