#include "api/python/src/progress.h"

#include <mutex>
#include <optional>
#include <stdexcept>

namespace py = pybind11;

namespace ckptdb::python {

struct PyProgress::State {
  py::object callable;
  std::mutex mu;
  std::optional<py::error_already_set> raised;  // the first exception the callable raised
  // The last reference may go on a store thread without the GIL: take it to drop the callable.
  ~State() {
    py::gil_scoped_acquire gil;
    raised.reset();
    callable = py::object();
  }
};

PyProgress::PyProgress(const py::object& callable) {
  if (callable.is_none()) return;
  if (!PyCallable_Check(callable.ptr()))
    throw py::type_error("progress must be a callable taking (done_bytes, total_bytes) or None, not " +
                         std::string(py::str(py::type::handle_of(callable).attr("__name__"))));
  state_ = std::make_shared<State>();
  state_->callable = callable;
  fn_ = [state = state_](const Progress& p) {
    py::gil_scoped_acquire gil;
    try {
      state->callable(p.done_bytes, p.total_bytes);
    } catch (py::error_already_set& e) {
      {
        std::lock_guard<std::mutex> l(state->mu);
        if (!state->raised) state->raised = std::move(e);
      }
      // The store stops the operation and returns Aborted; RaiseIfRaised raises the original.
      throw std::runtime_error("the Python progress callable raised an exception");
    }
  };
}

void PyProgress::RaiseIfRaised() const {
  if (!state_) return;
  std::optional<py::error_already_set> raised;
  {
    std::lock_guard<std::mutex> l(state_->mu);
    raised = state_->raised;
  }
  if (raised) throw *raised;
}

}  // namespace ckptdb::python
