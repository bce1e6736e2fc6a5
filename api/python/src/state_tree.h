// State trees: a Python training state (dicts, lists, tuples; tensors, int, float, bool, str,
// bytes, None) to a StateTree FlatBuffer (schema/state_tree.fbs) and back, never through pickle.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

namespace ckptdb::python {

// Encodes `state`. Every leaf for which `is_tensor(leaf)` is true is replaced by a Tensor node
// naming it by its path (keys joined by '.', list and tuple items and int keys by their decimal
// index), and appended as (name, leaf) to `tensors`. Raises TypeError naming the leaf's path
// (e.g. "state['optim']['state'][3]['foo']: cannot save a set") for anything else, ValueError for
// an int outside int64 or two tensors whose paths give the same name. A leaf whose exact type is
// one of `tensor_types` (a tuple of types, or None) is a tensor without asking is_tensor: the
// common types cost no Python call. is_tensor is never asked about dicts, lists or tuples.
std::string EncodeStateTree(const pybind11::handle& state, const pybind11::handle& is_tensor,
                            const pybind11::handle& tensor_types, pybind11::list& tensors);

// Rebuilds the object `bytes` describes, taking each tensor leaf from `tensors` (name -> value).
// Raises ckptdb.errors.CorruptionError if the bytes are not a valid StateTree or name a tensor
// `tensors` lacks.
pybind11::object DecodeStateTree(const std::string& bytes, const pybind11::dict& tensors);

void BindStateTree(pybind11::module_& m);

}  // namespace ckptdb::python
