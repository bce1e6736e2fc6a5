"""The store from Python: ckptdb.open() and Store (see the package docstring)."""

import datetime as _dt
import os
import threading
from collections.abc import Mapping

from ckptdb import _ckptdb, _tensors
from ckptdb.checkpoint import Checkpoint
from ckptdb.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from ckptdb.info import CheckpointInfo
from ckptdb.interchange import Interchange, _strings
from ckptdb.save_future import SaveFuture

__all__ = ["CheckpointInfo", "SaveFuture", "Store", "open"]


def _selector(step=None, id=None, tag=None, at=None, best=None):
    """The native selector tuple for exactly one of the keyword choices, or None for none."""
    given = [(k, v) for k, v in (("step", step), ("id", id), ("tag", tag), ("at", at), ("best", best))
             if v is not None]
    if len(given) > 1:
        raise ValueError("give at most one of step, id, tag, at, best; got " + ", ".join(k for k, _ in given))
    if not given:
        return None
    kind, value = given[0]
    if kind == "at":
        if isinstance(value, _dt.datetime):
            if value.tzinfo is None:
                raise ValueError("at: give an aware datetime (with tzinfo) or UTC nanoseconds")
            value = int(value.timestamp() * 1_000_000) * 1000
        return ("at", int(value))
    if kind == "best":
        metric, mode = (value, "min") if isinstance(value, str) else value
        if mode not in ("min", "max"):
            raise ValueError(f"best: mode must be 'min' or 'max', not {mode!r}")
        return ("best", metric, mode == "max")
    if kind == "tag":
        return ("tag", str(value))
    return (kind, int(value))


def open(path, *, create=True, chunk_size=None, threads=0, read_only=False, staging_bytes=None,  # noqa: A001
         max_pending_saves=1):
    """Opens (or, with create, creates) the store at `path`.

    read_only opens beside a live writer in another process, seeing what it committed by then.
    staging_bytes and max_pending_saves shape asynchronous saves (Store.save(blocking=False)):
    staging_bytes is the most memory their captures copy into (None: a quarter of physical memory,
    at most 4 GiB; taken when first needed, in 64 MiB blocks, and kept until close), and
    max_pending_saves how many may be captured and not yet committed at once (a further one waits
    for the oldest to commit).
    Raises BusyError when another process holds the store for writing (and read_only is False),
    NotFoundError when there is no store and create is False.
    """
    if staging_bytes is not None and (isinstance(staging_bytes, bool) or not isinstance(staging_bytes, int)
                                      or staging_bytes < 1):
        raise ValueError(f"staging_bytes must be a positive int or None (the default), not {staging_bytes!r}")
    if isinstance(max_pending_saves, bool) or not isinstance(max_pending_saves, int) or max_pending_saves < 1:
        raise ValueError(f"max_pending_saves must be a positive int, not {max_pending_saves!r}")
    return Store(_ckptdb._Store.open(os.fspath(path), create, chunk_size or 0, threads, read_only,
                                     staging_bytes or 0, max_pending_saves))


class Store(Interchange):
    """An open store. A context manager: leaving the block closes it. Thread-safe."""

    def __init__(self, native):
        self._s = native
        self._known = {}  # skip_unchanged: name -> (tensor, fingerprint, packed chunk digests, dtype, shape)
        self._known_lock = threading.Lock()
        self._known_future = None  # the latest skip_unchanged SaveFuture, until its result updates _known

    # -- lifetime
    def close(self):
        """Finishes every pending asynchronous save (commits it; abandon_pending_saves() first drops
        them instead) and background work, and closes the store; later calls raise
        FailedPreconditionError. Raises the error of an asynchronous save that failed and that no
        later save reported (after closing)."""
        self._s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    @property
    def path(self):
        return self._s.path

    @property
    def closed(self):
        return self._s.closed

    @property
    def read_only(self):
        return self._s.read_only

    def __repr__(self):
        return f"ckptdb.Store({self.path!r}{', closed' if self.closed else ''})"

    # -- saving and restoring
    def save(self, state, step, *, metrics=None, tags=None, metadata=None, skip_unchanged=False, blocking=True,
             progress=None):
        """Saves `state` as one checkpoint: any nesting of dicts (str or int keys, order kept),
        lists and tuples whose leaves are torch tensors, numpy arrays, int, float, bool, str, bytes
        or None (a model's state_dict, an optimizer's, a whole training state).

        Tensors are stored as chunks, named by their path (keys joined by '.': "model.fc.weight",
        "optim.state.3.exp_avg"); everything else, and the nesting, in a typed state tree beside
        the manifest: never pickle. Only chunks the store lacks are written; the checkpoint appears
        atomically, with what its retention policy rotates away removed in the same commit
        (CheckpointInfo.retired). Raises TypeError naming the path of a value it cannot store
        (state['optim']['state'][3]['foo']: cannot save a set), ValueError for an int outside int64.
        Returns the CheckpointInfo.

        blocking=False saves asynchronously and returns a SaveFuture once the state is captured:
        the nesting and non-tensor values are encoded, and every tensor's bytes copied into the
        store's staging memory (see open(staging_bytes=)), so the caller may change its tensors in
        place as soon as it returns. The persist (hash, write, sync, commit) then runs on the
        store's thread without the GIL; saves commit in the order they were called, synchronous
        ones included. Back-pressure: while max_pending_saves (open(); default 1) saves are pending,
        the next save first waits for the oldest to commit, so with the default a save returns only
        once the one before it is durable. A state larger than the staging memory is captured and
        persisted in pieces within one commit (the call returns once the last piece is captured).
        Errors: input errors are raised here; a failed persist commits nothing and its error is
        raised by the future's result(), and once more by the next save (sync or not: "an earlier
        asynchronous save failed, so nothing was saved (this reports it once: retrying proceeds)")
        or, if none comes, by close(). close() finishes pending saves.

        skip_unchanged (off by default): a torch tensor saved under the same name by an earlier
        skip_unchanged save of this Store object, whose storage, offset, shape, strides, dtype and
        `tensor._version` are all the same now, is recorded with that save's chunks without being
        read or hashed. PyTorch bumps `_version` on every in-place change made through the tensor
        or a view of it (optimizer steps, `add_`, `copy_`, `load_state_dict`), but NOT on writes
        through `tensor.data`, through numpy or DLPack views of its memory, or from C++ extensions
        that write raw memory: a tensor changed that way would be saved with its old bytes. Use it
        only when every change goes through torch ops. numpy arrays and inference-mode tensors have
        no version counter and are always read. Each such save keeps a reference to the tensors it
        fingerprinted until the next one (so a freed tensor's memory cannot be reused by another
        and mistaken for it). If the store no longer holds a remembered chunk (a collection
        reclaimed it), the save is simply redone reading every tensor. With blocking=False the
        fingerprints are taken when save is called (unchanged tensors are then not copied at all),
        and a skip_unchanged save first waits for the previous skip_unchanged asynchronous save to
        end, whose chunks it reuses; if that one failed because a remembered chunk was collected,
        its FailedPreconditionError is raised by its future and by this save, and the save after
        reads every tensor.

        progress: a callable taking (done_bytes, total_bytes), or None. total_bytes is the tensors'
        bytes; every chunk counts once hashed and stored (or found already stored, or skipped
        unchanged). It is called once with done 0, then at most about every 100 ms, then, if the
        save succeeds, once with done == total after the commit; done never decreases. It runs on
        one of the store's threads (not necessarily the caller's), holding the GIL only for the
        call, never two calls at once; it should return quickly. If it raises, the save stops,
        commits nothing, and its exception is raised here (Ctrl-C interrupts a save this way).
        Only for blocking saves (ValueError with blocking=False: that persist runs on the store's
        own thread, which must never wait for the GIL).
        """
        if progress is not None and not blocking:
            raise ValueError("progress= needs blocking=True: an asynchronous save persists on the store's own thread, "
                             "which never takes the GIL")
        structure, leaves = _encode(state)
        args = (int(step), dict(metrics or {}), list(tags or []), _strings(metadata), structure)
        if not skip_unchanged:
            if not blocking:
                return SaveFuture(self._save_with(leaves, [None] * len(leaves), args, blocking)[0])
            return self._save_with(leaves, [None] * len(leaves), args, blocking, progress)[0][0]
        pending = self._known_future
        if pending is not None:
            pending.exception()  # waits; its error (if any) the store reports at this save itself
        prints = _tensors.fingerprints(leaves)
        remembered = self._known.get
        known = [None] * len(leaves)
        for i, ((name, _), p) in enumerate(zip(leaves, prints)):
            k = remembered(name)
            if k is not None and p is not None and k[1] == p:
                known[i] = k
        try:
            out, dtypes, shapes = self._save_with(leaves, known, args, blocking, progress)
        except FailedPreconditionError:
            if all(k is None for k in known):
                raise
            self._known.clear()  # a remembered chunk was collected: read everything this once
            out, dtypes, shapes = self._save_with(leaves, [None] * len(leaves), args, blocking, progress)
        seen = (leaves, prints, dtypes, shapes)
        if not blocking:
            future = SaveFuture(out, self, seen)
            with self._known_lock:
                self._known_future = future
            return future
        info, chunks = out
        with self._known_lock:
            self._known = _remembered(seen, chunks)
        return info

    def _settle_known(self, future, error, seen, chunks):
        """A skip_unchanged SaveFuture has ended: its chunks become the remembered ones (if it is
        still the latest such save); a FailedPreconditionError (remembered chunks collected) clears
        them; any other error keeps those of the save before."""
        with self._known_lock:
            if self._known_future is not future:
                return
            self._known_future = None
            if error is None:
                self._known = _remembered(seen, chunks)
            elif isinstance(error, FailedPreconditionError):
                self._known.clear()

    def reserve_staging(self, state):
        """Takes and touches, now, the staging memory that save(state, blocking=False) captures
        into (its tensors laid out as the capture lays them, alignment included), at most the
        store's staging_bytes, so that the first asynchronous save of that state stalls no longer
        than later ones: its capture then copies into memory already touched instead of also
        faulting fresh pages in. `state` is a state as save() takes it, or a number of bytes (read
        as one tensor of that size). Call it once at start-up, or on a thread of its own while
        training warms up (the GIL is released). The memory stays the store's until close().
        Raises FailedPreconditionError on a read-only or closed store, ResourceExhaustedError
        when the memory cannot be had, ValueError for a negative number."""
        if isinstance(state, bool) or not isinstance(state, int):
            sizes = [_tensors.nbytes(value) for _, value in _encode(state)[1]]
        elif state < 0:
            raise ValueError(f"reserve_staging needs a state or a number of bytes >= 0, not {state}")
        else:
            sizes = [state]
        self._s.reserve_staging(sizes)

    def abandon_pending_saves(self):
        """Drops every pending asynchronous save that is not already committing and returns their
        steps, oldest first, once each has ended: their futures raise AbortedError and nothing of
        them is committed. Use it before close() to close without waiting for persists."""
        return list(self._s.abandon_pending_saves())

    def _save_with(self, leaves, known, args, blocking=True, progress=None):
        """The native save of `leaves`, where known[i] is None (read the tensor) or the remembered
        entry of an unchanged one (its chunks are reused): ((CheckpointInfo, chunk lists) or the
        native handle, dtypes, shapes)."""
        names, dtypes, shapes, views, chunks = self._views(leaves, known)
        stream = _tensors.cuda_stream(views)
        if not blocking:
            return self._s.save_async(names, dtypes, shapes, views, *args, chunks, stream=stream), dtypes, shapes
        d = self._s.save(names, dtypes, shapes, views, *args, chunks, progress, stream=stream)
        return (CheckpointInfo._from(d), d["chunks"]), dtypes, shapes

    @staticmethod
    def _views(leaves, known):
        """Names, dtypes, shapes, byte views and known chunks of the tensor leaves: a None view and
        the remembered dtype, shape and chunks where known[i] is a remembered entry."""
        n = len(leaves)
        names, dtypes, shapes, views, chunks = [None] * n, [None] * n, [None] * n, [None] * n, [None] * n
        for i, (name, value) in enumerate(leaves):
            names[i] = name
            k = known[i]
            if k is None:
                dtypes[i], shapes[i], views[i] = _tensors.to_bytes_view(name, value)
            else:  # (tensor, fingerprint, chunks, dtype, shape): see _remembered
                chunks[i], dtypes[i], shapes[i] = k[2], k[3], k[4]
        return names, dtypes, shapes, views, chunks

    def restore(self, step=None, *, id=None, tag=None, at=None, best=None, device="cpu", select=None,
                rename=None, strict=True, as_numpy=False, verify=True, progress=None):
        """One checkpoint: the object it was saved from, rebuilt with the same nesting and types,
        its tensors restored (a checkpoint imported from safetensors gives {name: tensor}).

        With no selector it restores the head: the checkpoint the next save continues from (after a
        rollback that is not the newest one). step, id, tag, at (an aware datetime or UTC ns) and
        best (a metric name, lowest wins, or (name, "min"|"max")) pick another.
        With select or rename it is the flat {name: tensor} of the chosen tensors instead: select (a
        list of names or a predicate on names) reads only those tensors' chunks; rename (a dict or a
        function) maps saved names to returned ones. A selected name the checkpoint lacks raises
        NotFoundError; with strict=False it returns (tensors, missing, unexpected) instead: the
        selected names it lacks, and the saved names not selected (not read).
        Torch tensors on `device`, or numpy arrays with as_numpy. A CUDA device in a build with the
        GPU path (ckptdb.has_gpu_path) is filled straight from pinned read windows, reads and copies
        overlapped; otherwise tensors are read into CPU memory and moved. verify re-hashes every
        chunk read (default).
        progress: as save's, over the bytes of the tensors read (if it raises, nothing is returned
        and its exception is raised here).
        """
        which = self._which(step, id, tag, at, best)
        device = _device(device, as_numpy)
        names, missing, unexpected = None, [], []
        if select is not None:
            if callable(select) or not strict:
                m = self._s.describe(which)
                which = ("id", m["id"])  # what was described is what is read
                saved = [t["name"] for t in m["tensor_list"]]
            if callable(select):
                names = [n for n in saved if select(n)]
            else:
                names = list(select)
                if not strict:
                    have = set(saved)
                    missing = [n for n in names if n not in have]
                    names = [n for n in names if n in have]
            if not strict:
                chosen = set(names)
                unexpected = [n for n in saved if n not in chosen]
        # Read straight into the gpu when the build can, else into host memory, then moved.
        direct = device is not None and device.type == "cuda" and _ckptdb.has_gpu_path
        tensors, manifest = self._restore_allocated(which, names, device if direct else None, as_numpy, verify,
                                                    progress)
        out = {}
        for name, t in tensors:
            new = _renamed(rename, name)
            if new in out:
                raise ValueError(f"rename maps two tensors to '{new}'")
            out[new] = t if device is None or direct else t.to(device)
        if select is None and rename is None and manifest["structure"]:
            out = _ckptdb.decode_state_tree(manifest["structure"], out)
        return out if strict else (out, missing, unexpected)

    def _restore_allocated(self, which, names, device, as_numpy, verify, progress):
        """restore()'s read: new tensors (numpy arrays with as_numpy) allocated by their own library
        on `device` (None: host memory), filled in place by one native restore_into of the checkpoint
        described; ([(name, tensor)], the manifest).

        Host tensors come from torch's (numpy's) allocator, as torch.load's do, rather than from
        store-mapped memory: the allocator reuses what the process freed, where a fresh mapping
        takes every page fault again (on the development VM that doubled a repeated 2 GiB restore),
        and the tensors are ordinary ones (resizable, no foreign deleter)."""
        m = self._s.describe(which)
        pinned = ("id", m["id"])  # the checkpoint described is the one read
        by_name = {t["name"]: t for t in m["tensor_list"]}
        chosen = [t["name"] for t in m["tensor_list"]] if names is None else names
        for n in chosen:
            if n not in by_name:
                raise NotFoundError(f"store {self.path}, checkpoint {m['id']} (step {m['step']}) has no tensor '{n}'")
        out, dtypes, shapes, views = [], [], [], []
        for n in chosen:
            t = by_name[n]
            tensor = _tensors.empty_like_saved(n, t["dtype"], t["shape"], device, as_numpy)
            out.append((n, tensor))
            dtypes.append(t["dtype"])
            shapes.append(list(t["shape"]))
            views.append(_tensors.flat_bytes(tensor))
        self._s.restore_into(pinned, chosen, dtypes, shapes, views, verify, progress)
        return out, m

    def restore_into(self, target, step=None, *, id=None, tag=None, at=None, best=None, strict=True,
                     rename=None, verify=True, progress=None):
        """Reads a checkpoint straight into existing tensors: `target` is an nn.Module (its
        parameters and buffers, as in its state_dict), a mapping of names to tensors, or any
        nesting of dicts, lists and tuples that save() takes (a whole training state, say) whose
        tensor leaves are named as save() names them (keys and indices joined by '.'). Only tensor
        leaves are filled: the other leaves (ints, strings, ...) cannot change in place and are left
        as they are; restore() returns the saved ones.

        Contiguous targets are filled in place, with no intermediate copy. Every target's dtype and
        shape must match what was saved (InvalidArgumentError naming the tensor otherwise, before
        anything is written). strict (the default) also requires the names to match exactly;
        strict=False fills the tensors both have and returns (missing, unexpected) like
        load_state_dict: target names the checkpoint lacks, and saved names the target lacks.
        rename maps saved names to target names, as in restore(). Default checkpoint: the head.
        progress: as save's, over the bytes of the tensors filled (if it raises, the targets may be
        partly filled and its exception is raised here).
        """
        if hasattr(target, "state_dict") and not isinstance(target, Mapping):
            tensors = target.state_dict()
        elif isinstance(target, (Mapping, list, tuple)):
            # save()'s own flattening, so that a target nested like the saved state names its
            # tensors as the save did.
            tensors = dict(_encode(target)[1])
        else:
            raise TypeError(f"restore_into needs an nn.Module, a mapping or a nesting of tensors, "
                            f"not {type(target).__name__}")
        m = self._s.describe(self._which(step, id, tag, at, best))
        pinned = ("id", m["id"])  # the checkpoint described is the one read, whatever is saved meanwhile
        saved = {}
        for t in m["tensor_list"]:
            saved[_renamed(rename, t["name"])] = t["name"]
        missing = [n for n in tensors if n not in saved]
        unexpected = [n for n in saved if n not in tensors]
        if strict and (missing or unexpected):
            raise InvalidArgumentError(
                f"store {self.path}, checkpoint {m['id']} (step {m['step']}): the target does not match; "
                f"missing {_few(missing)}, unexpected {_few(unexpected)} (nothing was restored; strict=False "
                f"fills the rest)")
        names, dtypes, shapes, views, copies = [], [], [], [], []
        for name, t in tensors.items():
            if name not in saved:
                continue
            if not _tensors.is_tensor(t):
                raise TypeError(f"target '{name}' is a {type(t).__name__}, not a tensor")
            dtype, shape, view = _tensors.to_bytes_view(name, t)
            if not _tensors.is_contiguous(t):
                copies.append((t, view))  # the view is a contiguous copy: filled, then copied back
            names.append(saved[name])
            dtypes.append(dtype)
            shapes.append(list(shape))
            views.append(view)
        self._s.restore_into(pinned, names, dtypes, shapes, views, verify, progress)
        for t, view in copies:
            _tensors.copy_back(t, view)
        return None if strict else (missing, unexpected)

    def open_checkpoint(self, step=None, *, id=None, tag=None, at=None, best=None, verify=True):
        """Opens one checkpoint for lazy reads (a Checkpoint: keys(), metadata, info, get(name),
        get_slice(name)[a:b]), reading no tensor yet. Selectors as in restore(); default: the head.
        The choice is resolved to the checkpoint's id now, so it keeps reading that checkpoint.
        Raises NotFoundError for a selector that matches none."""
        m = self._s.describe(self._which(step, id, tag, at, best))
        return Checkpoint(self, m, CheckpointInfo._from(m), verify)

    def diff(self, a, b, stats=False, *, verify=True):
        """What changed from checkpoint `a` to checkpoint `b`, with the fields `ckptdb diff --json`
        prints: {"added": [names], "removed": [names], "unchanged": [names], "changed": [{"name",
        "chunks_changed", "bytes_changed"}]}, every list sorted by name. Only manifests are read,
        unless stats: then each changed float tensor that kept its dtype and shape is read from both
        checkpoints and gets "max_abs_diff" and "l2_diff" of b - a (NaN where the CLI prints null).

        a and b each name a checkpoint: an int is a step, None the head, and a dict holds one of
        restore()'s keyword choices ({"id": 3}, {"tag": "best"}, {"at": datetime}, {"best": "loss"}).
        """
        return self._s.diff(self._diff_side("a", a), self._diff_side("b", b), bool(stats), verify)

    def _diff_side(self, what, which):
        if which is None:
            return ("head",)
        if isinstance(which, int) and not isinstance(which, bool):
            return ("step", which)
        if isinstance(which, Mapping):
            unknown = set(which) - {"step", "id", "tag", "at", "best"}
            sel = None if unknown or len(which) != 1 else _selector(**which)
            if sel is None:
                raise ValueError(f"diff: {what} must hold one of step, id, tag, at, best (not None); "
                                 f"got {dict(which)!r}")
            return sel
        raise TypeError(f"diff: {what} must be a step (int), None (the head) or a dict such as {{'tag': 'best'}}, "
                        f"not {type(which).__name__}")

    def _which(self, step, id, tag, at, best):
        which = _selector(step, id, tag, at, best)
        return ("head",) if which is None else which

    # -- history
    def log(self):
        """Every checkpoint, oldest first."""
        return [CheckpointInfo._from(d) for d in self._s.list()]

    def show(self, step=None, *, id=None, tag=None, at=None, best=None):
        """One checkpoint's manifest as a dict: its summary fields, chunk_size, metadata and
        tensor_list (name, dtype, shape, bytes, chunks per tensor). Default: the head."""
        d = self._s.describe(self._which(step, id, tag, at, best))
        d["tensor_list"] = [dict(t) for t in d["tensor_list"]]
        return d

    def head(self):
        """The head's id (what the next save names as parent), or None in an empty store."""
        return self._s.head()

    def tag(self, name, step=None, *, id=None, tag=None, at=None, best=None):
        """Tags a checkpoint (default: the head). Tags protect from retention; one checkpoint per tag."""
        self._s.tag(self._which(step, id, tag, at, best), name)

    def untag(self, name):
        self._s.untag(name)

    def rm(self, step=None, *, id=None, tag=None, at=None, best=None):
        """Removes one checkpoint (its children are re-pointed to its parent) and returns its info."""
        which = _selector(step, id, tag, at, best)
        if which is None:
            raise ValueError("rm: say which checkpoint (step, id, tag, at or best)")
        return CheckpointInfo._from(self._s.remove(which))

    def rollback(self, step=None, *, id=None, tag=None, at=None, best=None, discard=False):
        """Moves the head back; the next save continues from there. Returns a dict with head,
        abandoned and (with discard) discarded CheckpointInfos."""
        which = _selector(step, id, tag, at, best)
        if which is None:
            raise ValueError("rollback: say which checkpoint (step, id, tag, at or best)")
        r = self._s.rollback(which, discard)
        return {"head": CheckpointInfo._from(r["head"]),
                "abandoned": [CheckpointInfo._from(c) for c in r["abandoned"]],
                "discarded": [CheckpointInfo._from(c) for c in r["discarded"]]}

    def gc(self, *, dry_run=False, progress=None):
        """Collects garbage now; returns the report as a dict (see `ckptdb gc --json`), with
        "bytes_copied" (live chunk bytes copied out of mostly-dead packs) and "dry_run".

        dry_run=True changes nothing, not one byte of any file under the store, and returns what a
        collection would do now: the checkpoints the retention policy would remove, the chunks,
        packs and bytes it would delete, rewrite and reclaim (also on a read-only store).
        progress: as save's, over the bytes the collection copies (0 when it copies nothing, and
        in a dry run: then one call, (0, 0)). If it raises, nothing is moved or deleted (what the
        retention step already committed stays) and its exception is raised here.
        """
        r = self._s.gc(bool(dry_run), progress)
        r["checkpoints_removed"] = [CheckpointInfo._from(c) for c in r["checkpoints_removed"]]
        return r

    def verify(self, *, progress=None):
        """Re-hashes every chunk of every checkpoint; returns a dict whose "damage" list is empty
        when the store is sound. progress: as save's, over the bytes of the distinct chunks read
        (bytes_checked, when nothing is damaged)."""
        return self._s.verify(progress)

    def du(self):
        """Space accounting: logical, unique and disk bytes, and what each checkpoint alone holds."""
        return self._s.space()

    def policy(self, *, max_to_keep=None, keep_every_steps=None, keep_every_hours=None, keep_best=None):
        """Returns the retention policy as a dict; with any argument, first sets those fields (the
        others keep their values). keep_best: a metric name (lowest kept), (name, "min"|"max") or
        (name, mode, count); False clears it."""
        if all(v is None for v in (max_to_keep, keep_every_steps, keep_every_hours, keep_best)):
            return self._s.get_policy()
        p = self._s.get_policy()
        best = p["keep_best"]
        best = None if best is None else (best["metric"], best["mode"], best["count"])
        if keep_best is False:
            best = None
        elif keep_best is not None:
            kb = (keep_best,) if isinstance(keep_best, str) else tuple(keep_best)
            best = (kb[0], kb[1] if len(kb) > 1 else "min", kb[2] if len(kb) > 2 else 1)
        if best is not None and best[1] not in ("min", "max"):
            raise ValueError(f"keep_best: mode must be 'min' or 'max', not {best[1]!r}")
        self._s.set_policy(
            p["max_to_keep"] if max_to_keep is None else _count("max_to_keep", max_to_keep),
            p["keep_every_steps"] if keep_every_steps is None else _count("keep_every_steps", keep_every_steps),
            p["keep_every_hours"] if keep_every_hours is None else float(keep_every_hours),
            None if best is None else best[0], best is not None and best[1] == "max",
            1 if best is None else _count("keep_best count", best[2]))
        return self._s.get_policy()


def _device(device, as_numpy):
    """None for the CPU (nothing to move), else the torch.device restored tensors move to."""
    if device is None or str(device) == "cpu":
        return None
    if as_numpy:
        raise ValueError(f"as_numpy restores into host memory; device={device!r} cannot apply")
    import torch
    return torch.device(device)


def _few(names, limit=8):
    """`names` for a one-line message: the first `limit`, then how many more."""
    if len(names) <= limit:
        return str(names)
    return f"{str(names[:limit])[:-1]}, ... and {len(names) - limit} more]"


def _renamed(rename, name):
    """The name `rename` (None, a dict or a function) gives saved tensor `name`."""
    if rename is None:
        return name
    return rename(name) if callable(rename) else rename.get(name, name)


def _count(what, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative int, not {value!r}")
    return value


def _remembered(seen, chunks):
    """What a skip_unchanged save leaves for the next one: name -> (tensor, fingerprint, chunks,
    dtype, shape) of every fingerprinted tensor. `seen` is (leaves, fingerprints, dtypes, shapes)."""
    leaves, prints, dtypes, shapes = seen
    return {name: (value, p, c, d, s) for (name, value), p, c, d, s in zip(leaves, prints, chunks, dtypes, shapes)
            if p is not None}


def _encode(state):
    """(state tree bytes, [(tensor name, tensor)]) of a training state (save's encoder)."""
    return _ckptdb.encode_state_tree(state, _tensors.is_tensor, _tensors.EXACT_TYPES)
