// Errors, selectors and summaries across the binding (convert.h).
#include "api/python/src/convert.h"

#include <pybind11/stl.h>

#include <string>

namespace py = pybind11;

namespace ckptdb::python {
namespace {

const char* ErrorClass(Code code) {
  switch (code) {
    case Code::kInvalidArgument: return "InvalidArgumentError";
    case Code::kNotFound: return "NotFoundError";
    case Code::kAlreadyExists: return "AlreadyExistsError";
    case Code::kCorruption: return "CorruptionError";
    case Code::kIOError: return "IOError";
    case Code::kBusy: return "BusyError";
    case Code::kFailedPrecondition: return "FailedPreconditionError";
    case Code::kResourceExhausted: return "ResourceExhaustedError";
    case Code::kNotSupported: return "NotSupportedError";
    case Code::kAborted: return "AbortedError";
    default: return "Error";
  }
}

}  // namespace

[[noreturn]] void Raise(const Status& s) {
  py::object cls = py::module_::import("ckptdb.errors").attr(ErrorClass(s.code()));
  PyErr_SetObject(cls.ptr(), py::str(s.message()).ptr());
  throw py::error_already_set();
}

Selector ToSelector(const py::tuple& t) {
  const std::string kind = t[0].cast<std::string>();
  if (kind == "latest") return Selector::Latest();
  if (kind == "head") return Selector::Head();
  if (kind == "step") return Selector::Step(t[1].cast<int64_t>());
  if (kind == "id") return Selector::Id(t[1].cast<uint64_t>());
  if (kind == "tag") return Selector::Tag(t[1].cast<std::string>());
  if (kind == "at") return Selector::At(t[1].cast<int64_t>());
  if (kind == "best") return Selector::Best(t[1].cast<std::string>(), t[2].cast<bool>());
  throw py::value_error("unknown selector kind '" + kind + "'");
}

py::dict InfoDict(const CheckpointInfo& c) {
  py::dict d;
  d["id"] = c.id;
  d["step"] = c.step;
  d["parent"] = c.parent ? py::cast(*c.parent) : py::none();
  d["time_ns"] = c.commit_time_ns;
  d["tensors"] = c.tensor_count;
  d["logical_bytes"] = c.logical_bytes;
  d["new_bytes"] = c.new_bytes;
  d["tags"] = c.tags;
  d["metrics"] = c.metrics;
  return d;
}
py::list InfoList(const std::vector<CheckpointInfo>& v) {
  py::list out;
  for (const auto& c : v) out.append(InfoDict(c));
  return out;
}

}  // namespace ckptdb::python
