"""One checkpoint opened for lazy reads: Store.open_checkpoint(), shaped after safetensors' safe_open.

    with store.open_checkpoint(step=100) as ck:
        ck.keys()                              # tensor names, in saved order
        w = ck.get("model.fc.weight")          # one whole tensor: only its chunks are read
        rows = ck.get_slice("embed")[1000:2000]  # only the chunks that cover those rows

The checkpoint is resolved to its id once, when opened: later saves, rollbacks or a moving "head"
never change what it reads. If it is removed, later reads raise NotFoundError naming its id.
"""

import operator

from ckptdb import _tensors
from ckptdb.errors import FailedPreconditionError, NotFoundError


class Checkpoint:
    """A checkpoint opened by Store.open_checkpoint. A context manager: leaving the block closes it,
    and later calls raise FailedPreconditionError. Its names, metadata and info are those recorded
    when it was opened; tensors are read when asked for, each read its own snapshot of the store.
    """

    def __init__(self, store, manifest, info, verify):
        self._store = store
        self._native = store._s
        self._which = ("id", manifest["id"])
        self._tensors = {t["name"]: t for t in manifest["tensor_list"]}
        self._metadata = dict(manifest["metadata"])
        self._info = info
        self._verify = verify
        self._closed = False
        self.bytes_read = 0  # chunk bytes read so far: each covering chunk counts whole, once per read
        self.chunks_read = 0

    # -- lifetime
    def close(self):
        self._closed = True

    @property
    def closed(self):
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        i = self._info
        return f"ckptdb.Checkpoint(id={i.id}, step={i.step}{', closed' if self._closed else ''})"

    # -- what it holds
    def keys(self):
        """The tensor names, in the order they were saved."""
        self._check_open()
        return list(self._tensors)

    @property
    def metadata(self):
        """The string map saved with the checkpoint (save(metadata=...), safetensors' __metadata__)."""
        self._check_open()
        return dict(self._metadata)

    @property
    def info(self):
        """The checkpoint's CheckpointInfo (as Store.log() gives it)."""
        self._check_open()
        return self._info

    # -- reading
    def get(self, name, *, as_numpy=False):
        """The whole tensor `name`, as Store.restore() gives it (a torch tensor, or a numpy array
        with as_numpy). Raises NotFoundError (a KeyError) naming the tensor if there is none."""
        t = self._tensor(name)
        return self._read(t, 0, t["bytes"], tuple(t["shape"]), as_numpy)

    def get_slice(self, name, *, as_numpy=False):
        """A view of tensor `name` that reads nothing until indexed: `[a:b]`, `[i]`, `[a:b, ...]`
        read only the chunks that cover the rows asked for along dim 0 (see TensorSlice), giving
        torch tensors (numpy arrays with as_numpy)."""
        return TensorSlice(self, self._tensor(name), as_numpy)

    def _tensor(self, name):
        self._check_open()
        t = self._tensors.get(name)
        if t is None:
            i = self._info
            raise NotFoundError(f"store {self._store.path}, checkpoint {i.id} (step {i.step}) has no tensor '{name}'")
        return t

    def _read(self, t, offset, length, shape, as_numpy):
        self._check_open()
        exported, chunks, nbytes = self._native.read_range(self._which, t["name"], offset, length, self._verify)
        self.chunks_read += chunks
        self.bytes_read += nbytes
        return _tensors.from_restored(t["name"], t["dtype"], shape, exported, as_numpy)

    def _check_open(self):
        if self._closed:
            i = self._info
            raise FailedPreconditionError(f"checkpoint {i.id} (step {i.step}) of store {self._store.path} is closed")


class TensorSlice:
    """One tensor of an open Checkpoint, read on indexing (safetensors' get_slice).

    The first index picks rows along dim 0 and decides what is read: an int (negative counts from
    the end) or a slice with a positive step reads only the chunks covering rows min..max. Further
    indices (a tuple: `[a:b, 2:5]`, `[i, ..., 0]`) are applied to those rows by torch (or numpy)
    indexing. A 0-d tensor accepts `[()]` and `[...]`.
    """

    def __init__(self, checkpoint, tensor, as_numpy):
        self._ck = checkpoint
        self._t = tensor
        self._as_numpy = as_numpy
        self.shape = tuple(tensor["shape"])
        self.dtype = tensor["dtype"]  # the store's dtype name: "F32", "BF16", ...

    def get_shape(self):
        return list(self.shape)

    def get_dtype(self):
        return self.dtype

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self):
        return f"ckptdb.TensorSlice({self._t['name']!r}, {self.dtype}, {list(self.shape)})"

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        name = self._t["name"]
        if not self.shape or (key and key[0] is Ellipsis) or not key:
            whole = self._ck._read(self._t, 0, self._t["bytes"], self.shape, self._as_numpy)
            return whole[key]
        first, rest = key[0], key[1:]
        rows = self.shape[0]
        if isinstance(first, slice):
            start, stop, step = first.indices(rows)
            if step < 1:
                raise ValueError(f"tensor '{name}': get_slice supports positive steps along dim 0 only, not {step}")
            stop = max(stop, start)
            lo, hi = start, (stop if stop == start else start + (stop - start - 1) // step * step + 1)
            local = (slice(None, None, step),)
        else:
            if isinstance(first, bool):
                raise TypeError(f"tensor '{name}': a bool cannot index dim 0")
            try:
                i = operator.index(first)
            except TypeError:
                what = type(first).__name__
                raise TypeError(f"tensor '{name}': dim 0 takes an int or a slice, not {what}") from None
            if not -rows <= i < rows:
                raise IndexError(f"tensor '{name}': index {i} is out of range for dim 0 of size {rows}")
            lo = i % rows
            hi = lo + 1
            local = (0,)
        row_bytes = self._t["bytes"] // rows if rows else 0
        block = self._ck._read(self._t, lo * row_bytes, (hi - lo) * row_bytes, (hi - lo,) + self.shape[1:],
                               self._as_numpy)
        return block[local + rest]

