"""PyTorch Lightning checkpoints in one ckptdb store: CkptdbCheckpointIO.

    from lightning.pytorch import Trainer
    from lightning.pytorch.callbacks import ModelCheckpoint
    from ckptdb.integrations.lightning import CkptdbCheckpointIO, RngStateCallback

    io = CkptdbCheckpointIO("runs/ckpt")                      # the store, created if missing
    trainer = Trainer(plugins=[io], callbacks=[
        ModelCheckpoint(dirpath="runs/names", monitor="val_loss", save_top_k=2, save_last=True),
        RngStateCallback()])                                  # only if resumes must be bit-exact
    trainer.fit(model, datamodule)                            # no .ckpt file is written
    trainer.fit(model, datamodule, ckpt_path=io.last_path())  # resume from the newest checkpoint
    trainer.test(model, ckpt_path=trainer.checkpoint_callback.best_model_path)

What is stored. Each path Lightning saves to becomes one store checkpoint holding the whole
checkpoint dict (state_dict, optimizer_states, lr_schedulers, loops, callbacks, epoch, global_step,
hyper_parameters, ...) in the store's typed tree, never pickle. Its step is checkpoint["global_step"];
its metadata "lightning.path" and its tag "lightning:<path>#<n>" name the Lightning path (absolute;
<n> makes each save's tag unique); the score a ModelCheckpoint recorded for that path
(best_k_models[path]) goes into its metrics under the monitored name, so
`store.restore(best="val_loss")` and `ckptdb log` see it. Values the typed tree cannot hold
faithfully are converted and recorded, and converted back on load: AttributeDict and OrderedDict
(with a state_dict's `_metadata`) become dicts, pathlib paths strings. Anything else (a type, an
arbitrary object, a set, a namedtuple, a numpy scalar, a subclass of int/float/str) raises
TypeError naming its key, e.g. "checkpoint['hyper_parameters']['act']: cannot store a type".

Rotation, and why it is crash-safe. ModelCheckpoint decides what to keep (top-k, last) and calls
save_checkpoint(new) and then remove_checkpoint(old). Here:
  * every checkpoint carries its path's tag from the commit that creates it, and tags protect a
    checkpoint from the store's retention, so the store never removes a checkpoint Lightning still
    names (best-k included) on its own;
  * remove_checkpoint(path) is Store.rm of the checkpoint tagged with that path: one durable batch
    deleting the manifest and its tags (children re-pointed), so there is never a half-deleted
    checkpoint; its chunks are reclaimed by the store's garbage collection only when unreferenced;
  * a path saved again (last.ckpt) commits the new checkpoint first (with a fresh unique tag) and
    then rms the older ones for that path. A crash between the two leaves both, each whole, and
    load_checkpoint picks the newest; the next save or remove of that path removes the older one.
    We chose this over moving one tag per path (untag, then save with it): that has a window
    where the path names nothing, or the old checkpoint is unprotected.
  * The store's retention policy (max_to_keep etc.) is left as the store has it (default: keep
    everything); since every plugin checkpoint is tagged, a max_to_keep policy would only sweep
    untagged checkpoints someone else saved. Top-k is Lightning's decision, executed by the store.
A crash between Lightning's save of the new top-k checkpoint and its remove of the old one leaves
one checkpoint more than k (as with .ckpt files); `ckptdb rm STORE --tag 'lightning:<path>#<n>'`
drops it.

Asynchronous saves. CkptdbCheckpointIO(path, async_save=True) saves with Store.save(blocking=False):
save_checkpoint returns once the state is copied into the store's staging memory and training goes
on while the store hashes, writes and commits it. Every later call of the plugin (save, remove,
load, last_path, paths, wait_until_finished, teardown) first waits for that commit and raises its error, and only then
removes what the save replaced, so a removal never precedes the commit of its replacement. Only a
save that no removal follows right away gains (save_top_k=-1, or last.ckpt, whose older copy is
removed at the next call); ModelCheckpoint's top-k removal right after a save waits for it.

Resuming. `trainer.fit(model, ckpt_path=p)` works for any path the plugin saved. Lightning
resolves ckpt_path="last" by looking for last*.ckpt files on disk, which do not exist here, so use
`ckpt_path=io.last_path()` (the path of the newest checkpoint, or None for an empty store).
Lightning does not checkpoint the global random generators; add RngStateCallback() (it stores
ckptdb.torch.rng_state() in the callback state and restores it at the first training batch after
a resume, once data loaders have drawn their seeds) and a stateful data loader
(torchdata.stateful_dataloader.StatefulDataLoader) for a mid-epoch resume that equals an
uninterrupted run bit for bit.

One process: the store opens for writing on first use and closes at teardown() (end of fit/test),
so call last_path() or load_checkpoint() after fit freely (it reopens). Multi-process strategies
(DDP) are not supported: every rank would open the store for writing.
"""

import json
import os
import pathlib
import threading
import time
from collections import OrderedDict

from ckptdb import store as _store

try:  # Lightning 2.x ships both the unified and the standalone package; prefer the unified one
    from lightning.fabric.utilities.data import AttributeDict
    from lightning.pytorch.callbacks import Callback
    from lightning.pytorch.plugins.io import CheckpointIO
except ImportError:  # pragma: no cover - only the standalone package installed
    from lightning_fabric.utilities.data import AttributeDict
    from pytorch_lightning.callbacks import Callback
    from pytorch_lightning.plugins.io import CheckpointIO

_TAG = "lightning:"          # tag prefix: lightning:<path>#<n>
_PATH_KEY = "lightning.path"  # metadata: the Lightning path
_CONVERTED_KEY = "lightning.converted"  # metadata: JSON of what save converted (see _encode)

__all__ = ["CkptdbCheckpointIO", "RngStateCallback"]


class CkptdbCheckpointIO(CheckpointIO):
    """A Lightning CheckpointIO that keeps every checkpoint in the ckptdb store at `path`
    (created if missing). open_kwargs go to ckptdb.open (chunk_size, threads, ...)."""

    def __init__(self, path, *, async_save=False, **open_kwargs):
        super().__init__()
        self._path = os.fspath(path)
        self._open_kwargs = open_kwargs
        self._async = bool(async_save)
        self._s = None
        self._seq = 0
        self._pending = None  # async_save: the SaveFuture of the latest save, until settled
        self._replaced = []   # ids that save replaced (older saves of its path), removed once it commits
        self._gc = None       # the thread reclaiming what removals freed (see _reclaim)
        self._gc_again = False
        self._gc_error = None

    # -- the store
    @property
    def store(self):
        """The open Store (opened on first use; teardown() closes it, the next use reopens it)."""
        if self._s is None or self._s.closed:
            self._s = _store.open(self._path, **self._open_kwargs)
        return self._s

    def teardown(self):
        """Waits for a pending asynchronous save and closes the store (Lightning calls this at the
        end of fit, validate, test, predict)."""
        try:
            self._settle()
        finally:
            self._join_gc()
            if self._s is not None and not self._s.closed:
                self._s.close()
            self._s = None

    def wait_until_finished(self):
        """Returns once every save has committed and what it replaced is removed (at once without
        async_save); raises a failed asynchronous save's error. Call it before reading `store`."""
        self._settle()

    def _settle(self):
        """Waits for the pending asynchronous save (raising its error), then removes what it replaced."""
        pending, self._pending = self._pending, None
        replaced, self._replaced = self._replaced, []
        if self._gc_error is not None:
            error, self._gc_error = self._gc_error, None
            raise error
        if pending is not None:
            # A failed save committed nothing: what it would have replaced stays, still the newest
            # save of its path. (The store raises this error once more at its next save.)
            pending.result()
        for cid in replaced:
            self.store.rm(id=cid)
        if replaced:
            self._reclaim()

    def _reclaim(self):
        """Gives back the disk space of removed checkpoints, beside training. Store.rm leaves
        chunks to the next collection (the store collects by itself only after a save whose own
        retention removed something), and top-k rotation removes with rm; without this, a run's
        disk would grow by a checkpoint every rotation. Store.gc runs beside saves and reads and
        releases the GIL; one runs at a time, and a removal during one asks for one more. Its error
        is raised by the next call of the plugin."""
        if self._gc is not None and self._gc.is_alive():
            self._gc_again = True
            return
        store = self.store

        def collect():
            try:
                while True:
                    self._gc_again = False
                    store.gc()
                    if not self._gc_again:
                        return
            except BaseException as e:  # noqa: BLE001 - handed to the training thread
                self._gc_error = e

        self._gc = threading.Thread(target=collect, name="ckptdb-lightning-gc", daemon=True)
        self._gc.start()

    def _join_gc(self):
        if self._gc is not None:
            self._gc.join()
            self._gc = None

    # -- CheckpointIO
    def save_checkpoint(self, checkpoint, path, storage_options=None):
        if storage_options is not None:
            raise TypeError(f"CkptdbCheckpointIO takes no storage_options (got {storage_options!r})")
        key = _key(path)
        state, converted = _encode(checkpoint)  # before touching the store: bad input saves nothing
        step = checkpoint.get("global_step", 0)
        metrics = _scores(checkpoint, path)
        self._settle()  # the store's back-pressure would wait for the previous commit here anyway
        older = self._ids(key)
        # A tag per save, unique even for two saves of one path in one nanosecond.
        self._seq = max(self._seq + 1, time.time_ns())
        out = self.store.save(state, int(step), metrics=metrics, tags=[f"{_TAG}{key}#{self._seq}"],
                              metadata={_PATH_KEY: key, _CONVERTED_KEY: json.dumps(converted)},
                              blocking=not self._async)
        # Only once the new one is committed do the older saves of this path go, each in one batch.
        self._replaced = older
        if self._async:
            self._pending = out
        else:
            self._settle()

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        """The checkpoint dict saved for `path` (its newest save), tensors on map_location (None:
        the CPU). weights_only is accepted and moot: nothing is ever unpickled."""
        self._settle()
        key = _key(path)
        ids = self._ids(key)
        if not ids:
            raise FileNotFoundError(f"store {self._path}: no checkpoint saved for {key}")
        cid = ids[-1]
        meta = self.store.show(id=cid)["metadata"]
        state = self.store.restore(id=cid, device=_device(map_location))
        return _decode(state, json.loads(meta.get(_CONVERTED_KEY, "{}")))

    def remove_checkpoint(self, path):
        # Lightning removes only after the replacement is saved; a path with nothing is a no-op,
        # as for TorchCheckpointIO (save_last="link" removes links it made itself).
        self._settle()
        removed = self._ids(_key(path))
        for cid in removed:
            self.store.rm(id=cid)
        if removed:
            self._reclaim()

    # -- lookups
    def paths(self):
        """{lightning path: CheckpointInfo of its newest save} for every path the store holds."""
        self._settle()
        out = {}
        for info in self.store.log():
            key = _path_of(info)
            if key is not None:
                out[key] = info  # log() is oldest first: the newest save wins
        return out

    def last_path(self):
        """The path of the newest checkpoint (what ckpt_path="last" means with .ckpt files), or None."""
        newest = None
        for key, info in self.paths().items():
            if newest is None or info.id > newest[1].id:
                newest = (key, info)
        return None if newest is None else newest[0]

    def _ids(self, key):
        """Ids of the checkpoints saved for `key`, oldest first."""
        return [info.id for info in self.store.log() if _path_of(info) == key]

    def __repr__(self):
        return f"CkptdbCheckpointIO({self._path!r})"


class RngStateCallback(Callback):
    """Checkpoints the global random generators (torch CPU, CUDA, Python, numpy) with the
    Lightning checkpoint, as typed values, and restores them when a run resumes, at its first
    training batch: after the data loaders drew their seeds, so dropout and everything after draw
    exactly what an uninterrupted run draws."""

    def __init__(self):
        self._pending = None

    def state_dict(self):
        from ckptdb.torch import rng_state
        return {"rng": rng_state()}

    def load_state_dict(self, state_dict):
        self._pending = state_dict["rng"]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self._pending is not None:
            from ckptdb.torch import set_rng_state
            state, self._pending = self._pending, None
            set_rng_state(state)


# -- helpers
def _key(path):
    """A Lightning path as the store records it: absolute and normalized (URLs kept as given)."""
    p = os.fspath(path)
    return p if "://" in p else os.path.abspath(p)


def _path_of(info):
    for tag in info.tags:
        if tag.startswith(_TAG) and "#" in tag:
            return tag[len(_TAG):].rsplit("#", 1)[0]
    return None


def _scores(checkpoint, path):
    """The score each ModelCheckpoint recorded for `path`, as {monitor: float}."""
    key, out = _key(path), {}
    for state in (checkpoint.get("callbacks") or {}).values():
        if not isinstance(state, dict) or not state.get("monitor") or "best_k_models" not in state:
            continue
        for p, score in state["best_k_models"].items():
            if _key(p) == key and score is not None:
                out[str(state["monitor"])] = float(score)
    return out


def _device(map_location):
    """The device restored tensors go to. Lightning passes None or a device/str; a dict or a
    function (torch.load's other forms) cannot be honoured without torch.load, so they say so."""
    if map_location is None:
        return "cpu"
    if callable(map_location) or isinstance(map_location, dict):
        raise TypeError("CkptdbCheckpointIO.load_checkpoint: map_location must be None, a str or a torch.device, "
                        f"not {type(map_location).__name__}")
    return map_location


_SCALARS = (bool, int, float, str, bytes, type(None))


def _encode(checkpoint):
    """(state the store can hold, record of conversions). Conversions are listed as
    [keypath, kind(, extra)]: keypaths are lists of keys, JSON keeping ints apart from strs."""
    from ckptdb import _tensors
    converted = []

    def walk(v, keys):
        t = type(v)
        if t in _SCALARS or _tensors.is_tensor(v):
            return v
        if t is dict:
            return {k: walk(x, keys + [k]) for k, x in v.items()}
        if t is AttributeDict or t is OrderedDict:
            extra = getattr(v, "_metadata", None)  # a module state_dict's per-prefix versions
            rec = [keys, t.__name__]
            if extra is not None:
                try:
                    rec.append(json.loads(json.dumps(extra)))
                except (TypeError, ValueError):
                    raise TypeError(f"{_where(keys)}._metadata: cannot store {extra!r} without pickle") from None
            converted.append(rec)
            return {k: walk(x, keys + [k]) for k, x in v.items()}
        if t is list or t is tuple:
            return t(walk(x, keys + [i]) for i, x in enumerate(v))
        if isinstance(v, pathlib.PurePath):
            converted.append([keys, t.__name__])
            return str(v)
        what = "a type" if isinstance(v, type) else f"a {t.__module__}.{t.__qualname__}"
        raise TypeError(f"{_where(keys)}: cannot store {what} in a ckptdb checkpoint without pickle "
                        "(give it as a plain dict/list/tuple/int/float/bool/str/bytes/None/tensor)")

    state = walk(checkpoint, [])
    for k in state:
        if not isinstance(k, str):
            raise TypeError(f"checkpoint key {k!r}: Lightning checkpoint keys must be str")
    return state, {"types": converted}


def _decode(state, converted):
    """Undoes _encode's conversions on a restored state (rebuilding any tuple on the way)."""
    recs = {tuple(r[0]): r for r in converted.get("types", [])}
    if not recs:
        return state
    prefixes = {k[:i] for k in recs for i in range(len(k))}  # containers on the way to a conversion

    def walk(v, keys):
        if keys in prefixes:
            if isinstance(v, dict):
                v = {k: walk(x, keys + (k,)) for k, x in v.items()}
            elif isinstance(v, (list, tuple)):
                v = type(v)(walk(x, keys + (i,)) for i, x in enumerate(v))
        rec = recs.get(keys)
        if rec is None:
            return v
        kind = rec[1]
        if kind == "AttributeDict":
            return AttributeDict(v)
        if kind == "OrderedDict":
            new = OrderedDict(v)
            if len(rec) > 2:
                new._metadata = OrderedDict(rec[2])
            return new
        if kind in ("PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath", "Path"):
            return getattr(pathlib, kind)(v)
        raise ValueError(f"{_where(keys)}: the checkpoint records an unknown conversion {kind!r}")

    return walk(state, ())


def _where(keys):
    return "checkpoint" + "".join(f"[{k!r}]" for k in keys)
