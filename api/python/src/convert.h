// What every binding file shares: Status to the ckptdb.errors class of its code, the package's
// selector tuples to Selector, and checkpoint summaries to dicts.
#pragma once

#include <pybind11/pybind11.h>

#include <utility>
#include <vector>

#include "ckptdb/ckptdb.h"

namespace ckptdb::python {

// Raises the ckptdb.errors class of s.code() with s.message(). REQUIRES: the GIL; !s.ok().
[[noreturn]] void Raise(const Status& s);
inline void Check(const Status& s) {
  if (!s.ok()) Raise(s);
}
template <typename T>
T Check(Result<T> r) {
  if (!r.ok()) Raise(r.status());
  return std::move(r).value();
}

// A selector as the package passes it: ("latest",), ("head",), ("step", n), ("id", n), ("tag", name),
// ("at", unix_ns), ("best", metric, maximize). Raises ValueError for an unknown kind.
Selector ToSelector(const pybind11::tuple& t);

// The summary fields CheckpointInfo._from (store.py) reads.
pybind11::dict InfoDict(const CheckpointInfo& c);
pybind11::list InfoList(const std::vector<CheckpointInfo>& v);

}  // namespace ckptdb::python
