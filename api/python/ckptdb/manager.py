"""CheckpointManager: Orbax's names over a store's own transactional retention.

    with ckptdb.CheckpointManager("runs/ckpt", save_interval_steps=100, max_to_keep=3,
                                  keep_best=("loss", "min")) as mgr:
        state = {"model": model, "optimizer": opt, "rng": ckptdb.torch.RngState()}
        start = mgr.restore(state=state)["step"] + 1 if mgr.latest_step() is not None else 0
        for step in range(start, steps):
            ...
            if mgr.should_save(step):
                mgr.save(step, dict(state, step=step), metrics={"loss": loss})

Rotation is not a directory deletion after the fact: the store removes what its policy no longer
keeps in the same commit that adds the new checkpoint, so a crash never leaves one half-done.

With async_save=True, save() returns once the state is captured (copied into the store's staging
memory) and the store persists it in the background; wait_until_finished() waits for it.
"""

import os

from ckptdb import store as _store
from ckptdb.errors import Error

_EARLIER_FAILED = "an earlier asynchronous save failed"  # how the store reports a failed persist at the next save


class CheckpointManager:
    """Saves every `save_interval_steps` steps into the store at `path` (created if missing) and
    keeps what the retention options say, as the store's retention policy (set at construction,
    replacing the store's previous one):

    max_to_keep: the newest N checkpoints of the head's line (None: keep every checkpoint);
    keep_every_steps: also the first checkpoint of every N-step interval, forever (Orbax's
    keep_period); keep_every_hours: also one per that many hours of commit time; keep_best: a
    metric name (lowest kept), (name, "min"|"max") or (name, mode, count): also the best `count`.
    Tagged checkpoints are always kept.

    async_save: save() submits Store.save(..., blocking=False) and returns True once the state is
    captured, so training continues while the store hashes, writes and commits it. The next save
    first waits for this one to commit (back-pressure: one pending save at a time); a pending
    save's step counts in should_save. A failed persist is raised by wait_until_finished(), by the
    next save (the store reports it once; retrying proceeds), or by close(), which finishes a
    pending save. restore() first waits for a pending save. staging_bytes: see ckptdb.open.

    State values: any nesting Store.save takes, where objects with state_dict() and
    load_state_dict() (modules, optimizers, schedulers, ckptdb.torch.RngState, a stateful data
    loader) are saved as their state_dict() and, in restore(state=...), loaded in place.
    Thread safety: as Store; one manager per store directory and process.
    """

    def __init__(self, path, *, save_interval_steps=1, max_to_keep=None, keep_every_steps=None,
                 keep_every_hours=None, keep_best=None, chunk_size=None, threads=0, async_save=False,
                 staging_bytes=None):
        if isinstance(save_interval_steps, bool) or not isinstance(save_interval_steps, int) or save_interval_steps < 1:
            raise ValueError(f"save_interval_steps must be a positive int, not {save_interval_steps!r}")
        if max_to_keep is not None and (isinstance(max_to_keep, bool) or not isinstance(max_to_keep, int)
                                        or max_to_keep < 1):
            raise ValueError(f"max_to_keep must be a positive int or None (keep all), not {max_to_keep!r}")
        self._interval = save_interval_steps
        self._async = bool(async_save)
        self._pending = None  # the latest SaveFuture of async_save, until waited for
        self._store = _store.open(os.fspath(path), chunk_size=chunk_size, threads=threads, staging_bytes=staging_bytes)
        try:
            self._store.policy(max_to_keep=max_to_keep or 0, keep_every_steps=keep_every_steps or 0,
                               keep_every_hours=keep_every_hours or 0.0,
                               keep_best=False if keep_best is None else keep_best)
        except BaseException:
            self._store.close()
            raise
        kb = self._store.policy()["keep_best"]
        self._best = None if kb is None else (kb["metric"], kb["mode"])

    @property
    def store(self):
        """The underlying Store, for history (log, show, diff), tags and everything else."""
        return self._store

    def close(self):
        """Finishes a pending asynchronous save and closes the store (raising a save's error that
        nothing reported yet, see Store.close)."""
        self._pending = None
        self._store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def should_save(self, step):
        """Whether `step` is due: a multiple of save_interval_steps, past the latest saved step,
        counting a pending asynchronous save's step as saved (unless it has already failed)."""
        if step % self._interval != 0:
            return False
        latest = self.latest_step()
        pending = self._pending
        if pending is not None and not (pending.done() and pending.exception() is not None):
            latest = pending.step if latest is None else max(latest, pending.step)
        return latest is None or step > latest

    def save(self, step, state, metrics=None, *, force=False, tags=None, skip_unchanged=False):
        """Saves `state` at `step` if should_save(step) (or force) and returns whether it did.
        The checkpoints retention no longer keeps are removed in the same commit. With async_save
        it returns once the state is captured; the commit follows in the background."""
        if not force and not self.should_save(step):
            return False
        state = _state_dicts(state)
        if not self._async:
            self._store.save(state, step, metrics=metrics, tags=tags, skip_unchanged=skip_unchanged)
            return True
        previous = self._pending
        try:
            self._pending = self._store.save(state, step, metrics=metrics, tags=tags,
                                             skip_unchanged=skip_unchanged, blocking=False)
        except Error as e:
            # The store reports a failed earlier save at the next save itself, instead of saving:
            # then the previous future has nothing left to report. Any other error leaves it pending.
            if previous is not None and _EARLIER_FAILED in str(e):
                self._pending = None
            raise
        return True

    def restore(self, step=None, *, state=None):
        """The checkpoint at `step` (default: the head, where a resumed run continues) as saved.
        With `state` (the nesting given to save), every object in it with load_state_dict() is
        loaded from its part in place. Raises NotFoundError when there is no such checkpoint.
        A pending asynchronous save is waited for first (wait_until_finished)."""
        self.wait_until_finished()
        restored = self._store.restore(step)
        if state is not None:
            _load_state_dicts(state, restored, "state")
        return restored

    def latest_step(self):
        """The head's step (what a resumed run continues from), or None for an empty store."""
        head = self._store.head()
        return None if head is None else self._store.show(id=head)["step"]

    def all_steps(self):
        """The steps of every checkpoint the store keeps, ascending, each once."""
        return sorted({c.step for c in self._store.log()})

    def best_step(self):
        """The step of the best checkpoint by keep_best's metric, or None when keep_best is not set
        or no checkpoint has the metric."""
        if self._best is None:
            return None
        metric, mode = self._best
        candidates = [c for c in self._store.log() if metric in c.metrics]
        if not candidates:
            return None
        return self._store.show(best=(metric, mode))["step"]

    def wait_until_finished(self):
        """Returns once every save has persisted (at once without async_save); raises the error of
        a pending asynchronous save that failed (which the store's next save reports once more)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()


def _state_dicts(value):
    if hasattr(value, "state_dict") and hasattr(value, "load_state_dict"):
        return value.state_dict()
    if isinstance(value, dict):
        return {k: _state_dicts(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_state_dicts(v) for v in value)
    return value


def _load_state_dicts(target, restored, path):
    if hasattr(target, "state_dict") and hasattr(target, "load_state_dict"):
        target.load_state_dict(restored)
    elif isinstance(target, dict):
        for k, v in target.items():
            if k not in restored:
                raise KeyError(f"{path}[{k!r}]: the checkpoint has no such entry")
            _load_state_dicts(v, restored[k], f"{path}[{k!r}]")
    elif isinstance(target, (list, tuple)):
        for i, v in enumerate(target):
            _load_state_dicts(v, restored[i], f"{path}[{i}]")
