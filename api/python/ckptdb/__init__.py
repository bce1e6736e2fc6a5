"""ckptdb: a versioned, content-addressed checkpoint store for PyTorch state.

    import ckptdb
    with ckptdb.open("runs/ckpt") as store:
        store.save(model.state_dict(), step=100, metrics={"loss": 0.25})
        state = store.restore()              # the head: what a resumed run continues from
        model.load_state_dict(state)

Tensors cross into and out of the store through DLPack without copies (torch tensors and numpy
arrays). Nothing is pickled. store.save(state, step, blocking=False) returns a SaveFuture once the
state is copied, and persists it in the background.
"""

from ckptdb.errors import (  # noqa: F401 - re-exported
    AbortedError,
    AlreadyExistsError,
    BusyError,
    CorruptionError,
    Error,
    FailedPreconditionError,
    InvalidArgumentError,
    IOError,
    NotFoundError,
    NotSupportedError,
    ResourceExhaustedError,
)
from ckptdb.manager import CheckpointManager  # noqa: F401
from ckptdb._ckptdb import has_gpu_path  # noqa: F401 - CUDA tensors go through the GPU path
from ckptdb.checkpoint import Checkpoint, TensorSlice  # noqa: F401
from ckptdb.store import CheckpointInfo, SaveFuture, Store, open  # noqa: F401,A004 - open is the entry point

try:  # ckptdb.torch needs torch; numpy-only users import the rest
    from ckptdb import torch  # noqa: F401
except ImportError:
    pass

__all__ = [
    "open", "Store", "CheckpointInfo", "CheckpointManager", "Checkpoint", "TensorSlice", "Error", "NotFoundError",
    "InvalidArgumentError",
    "AlreadyExistsError", "CorruptionError", "IOError", "BusyError", "FailedPreconditionError",
    "ResourceExhaustedError", "NotSupportedError", "AbortedError", "SaveFuture",
]
