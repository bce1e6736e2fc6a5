"""Tensors to flat byte views and back: what crosses into the native module by DLPack.

CUDA tensors cross as device memory, which the native module's GPU path reads and fills (in a
build with CUDA; ckptdb.has_gpu_path). Only contiguous uint8 views cross, so every dtype torch has
travels the same way (bfloat16 and float8 included, which DLPack 0.6 and numpy cannot name) and
nothing is copied: a contiguous tensor is read in place, a non-contiguous one is made contiguous
once.
"""

import numpy as np

from ckptdb import _ckptdb

try:
    import torch
except ImportError:  # numpy arrays work without torch
    torch = None

_TORCH = {}
if torch is not None:
    _TORCH = {
        torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
        torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2",
        torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
        torch.uint64: "U64", torch.uint32: "U32", torch.uint16: "U16", torch.uint8: "U8",
        torch.bool: "BOOL",
    }
_TORCH_BACK = {name: dt for dt, name in _TORCH.items()}

_NUMPY = {
    np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
    np.dtype(np.int64): "I64", np.dtype(np.int32): "I32", np.dtype(np.int16): "I16", np.dtype(np.int8): "I8",
    np.dtype(np.uint64): "U64", np.dtype(np.uint32): "U32", np.dtype(np.uint16): "U16", np.dtype(np.uint8): "U8",
    np.dtype(np.bool_): "BOOL",
}
_NUMPY_BACK = {name: dt for dt, name in _NUMPY.items()}


# torch.Tensor's isinstance goes through a metaclass hook (~1 us): the exact types take a set lookup.
_EXACT = {np.ndarray} | ({torch.Tensor, torch.nn.Parameter} if torch is not None else set())
EXACT_TYPES = tuple(_EXACT)  # what encode_state_tree takes for tensors without calling is_tensor


def is_tensor(value):
    if type(value) in _EXACT:
        return True
    return (torch is not None and isinstance(value, torch.Tensor)) or isinstance(value, np.ndarray)


def to_bytes_view(name, value):
    """(dtype name, shape, flat uint8 view) of a torch tensor or numpy array `value`."""
    if torch is not None and isinstance(value, torch.Tensor):
        if value.dtype not in _TORCH:
            raise TypeError(f"tensor '{name}': ckptdb cannot store dtype {value.dtype}")
        if value.device.type not in ("cpu", "cuda"):
            raise ValueError(f"tensor '{name}' is on {value.device}: ckptdb saves CPU and CUDA tensors only")
        t = value.detach()
        if not t.is_contiguous():
            t = t.contiguous()
        return _TORCH[value.dtype], tuple(t.shape), t.reshape(-1).view(torch.uint8)
    if isinstance(value, np.ndarray):
        if value.dtype not in _NUMPY:
            raise TypeError(f"array '{name}': ckptdb cannot store numpy dtype {value.dtype}")
        a = np.ascontiguousarray(value)
        return _NUMPY[value.dtype], tuple(a.shape), a.reshape(-1).view(np.uint8)
    raise TypeError(f"'{name}': cannot save a {type(value).__name__} (a torch tensor or numpy array is needed)")


def fingerprints(leaves):
    """Per (name, value) of `leaves`, what identifies a torch tensor's current bytes without reading
    them: the address of its first element, shape, strides, dtype and version counter (a storage
    that is reallocated moves the address). None where there is no version counter (numpy arrays,
    inference-mode tensors) or the tensor is not on the CPU. Taken natively: a skip_unchanged save
    takes one per tensor while training waits."""
    if torch is None:
        return [None] * len(leaves)
    return _ckptdb.fingerprints(leaves, torch.Tensor)


def from_restored(name, dtype, shape, exported, as_numpy):
    """The tensor (or array with as_numpy) over restored bytes `exported`, without a copy."""
    if as_numpy:
        if dtype not in _NUMPY_BACK:
            raise TypeError(f"tensor '{name}' is {dtype}, which numpy has no dtype for; restore it as a torch tensor")
        if 0 in shape:
            return np.empty(shape, dtype=_NUMPY_BACK[dtype])
        return np.from_dlpack(exported).view(_NUMPY_BACK[dtype]).reshape(shape)
    if torch is None:
        raise ImportError("restoring torch tensors needs torch; pass as_numpy=True for numpy arrays")
    tdtype = _TORCH_BACK[dtype]
    if 0 in shape:
        return torch.empty(shape, dtype=tdtype)
    return torch.from_dlpack(exported).view(tdtype).reshape(shape)


def nbytes(value):
    """The bytes of a torch tensor's or numpy array's elements."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    return value.numel() * value.element_size()


def is_contiguous(value):
    if isinstance(value, np.ndarray):
        return value.flags.c_contiguous
    return value.is_contiguous()


def copy_back(target, flat_bytes):
    """Copies a contiguous byte view filled by restore_into into its non-contiguous `target`."""
    if isinstance(target, np.ndarray):
        np.copyto(target, flat_bytes.view(target.dtype).reshape(target.shape))
        return
    with torch.no_grad():
        target.copy_(flat_bytes.view(target.dtype).reshape(target.shape))


def cuda_stream(views):
    """The current CUDA stream (as an integer handle) of the device of the first CUDA view, which
    the GPU path waits on before it reads the tensors; 0 when every view is in host memory."""
    if torch is None:
        return 0
    for v in views:
        if isinstance(v, torch.Tensor) and v.is_cuda:
            return torch.cuda.current_stream(v.device).cuda_stream
    return 0


def empty_like_saved(name, dtype, shape, device, as_numpy):
    """An uninitialised torch tensor (numpy array with as_numpy) of saved tensor `name`'s dtype name
    and shape, on `device` (None: host memory)."""
    shape = tuple(shape)
    if as_numpy:
        if dtype not in _NUMPY_BACK:
            raise TypeError(f"tensor '{name}' is {dtype}, which numpy has no dtype for; restore it as a torch tensor")
        return np.empty(shape, dtype=_NUMPY_BACK[dtype])
    if torch is None:
        raise ImportError("restoring torch tensors needs torch; pass as_numpy=True for numpy arrays")
    return torch.empty(shape, dtype=_TORCH_BACK[dtype], device=device)


def flat_bytes(tensor):
    """The contiguous torch tensor's (numpy array's) bytes as a flat uint8 view of the same memory."""
    if isinstance(tensor, np.ndarray):
        return tensor.reshape(-1).view(np.uint8)
    return tensor.reshape(-1).view(torch.uint8)
