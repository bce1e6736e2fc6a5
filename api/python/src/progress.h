// A Python callable as a ckptdb::ProgressFn (ckptdb/options.h), for the progress= keyword.
//
// The store reports progress on whichever of its threads finishes work (the calling thread or a
// worker), without the GIL; each report takes the GIL only around the call of the callable,
// callable(done_bytes, total_bytes), so hashing, writing and reading never hold it. A Python
// exception the callable raises (a KeyboardInterrupt from Ctrl-C in a progress loop, too) makes
// the store operation stop with Aborted (a save commits nothing), and RaiseIfRaised then raises
// that very exception in the calling thread instead of the AbortedError.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>

#include "ckptdb/options.h"

namespace ckptdb::python {

class PyProgress {
 public:
  // `callable`: None (no callback: fn() is empty) or anything callable with two ints.
  // Raises TypeError for anything else. REQUIRES: the GIL.
  explicit PyProgress(const pybind11::object& callable);
  // The ProgressFn to put in the store call's options; copies may outlive the call.
  const ProgressFn& fn() const { return fn_; }
  // Raises the exception the callable raised, if it did. REQUIRES: the GIL, the store call ended.
  void RaiseIfRaised() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with every copy of fn_
  ProgressFn fn_;
};

}  // namespace ckptdb::python
