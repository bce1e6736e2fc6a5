#include "ckptdb/status.h"

namespace ckptdb {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "Invalid argument";
    case Code::kNotFound: return "Not found";
    case Code::kAlreadyExists: return "Already exists";
    case Code::kCorruption: return "Corruption";
    case Code::kIOError: return "IO error";
    case Code::kBusy: return "Busy";
    case Code::kFailedPrecondition: return "Failed precondition";
    case Code::kInternal: return "Internal error";
    case Code::kResourceExhausted: return "Resource exhausted";
    case Code::kNotSupported: return "Not supported";
    case Code::kAborted: return "Aborted";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + message_;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, std::string(context) + ": " + message_);
}

}  // namespace ckptdb
