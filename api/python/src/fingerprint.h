// skip_unchanged's fingerprints: what identifies a torch tensor's current bytes without reading
// them. In C++ because a save takes one per tensor while training waits: the same attribute reads
// from Python cost ~3 us a tensor, 3 ms for a 1164-tensor training state.
#pragma once

#include <pybind11/pybind11.h>

namespace ckptdb::python {

// Per (name, value) pair of `leaves`: data_ptr(), _version, dtype, shape and stride() packed in a
// bytes object (equal bytes: equal fields) for a value that is a CPU instance of `tensor_class`
// (torch.Tensor) with a version counter, else None
// (numpy arrays, CUDA and inference-mode tensors: their bytes are always read). The data pointer
// changes when a storage is reallocated, the version on every in-place change made through torch.
// Raises ValueError for an item that is not a (name, value) tuple, and whatever reading the
// attributes raises other than an inference tensor's RuntimeError.
// REQUIRES: the GIL.
pybind11::list Fingerprints(const pybind11::list& leaves, const pybind11::handle& tensor_class);

void BindFingerprint(pybind11::module_& m);

}  // namespace ckptdb::python
