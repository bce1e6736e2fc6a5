// Status and Result<T>: how every ckptdb call reports failure.
//
// A Status is OK or carries a code and a one-line message that names what failed (store path, step,
// tensor, chunk). Result<T> holds either a value or a non-OK Status. Both are [[nodiscard]]: a
// dropped error is a bug. Thread safety: values; distinct objects may be used from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <string_view>
#include <utility>

namespace ckptdb {

enum class Code : uint8_t {
  kOk = 0,
  kInvalidArgument,     // the caller passed something malformed (bad flag, bad shape, bad name)
  kNotFound,            // no such store, checkpoint, tensor or tag
  kAlreadyExists,       // a name that must be unique is taken
  kCorruption,          // stored or input bytes fail validation (digest, verifier, truncation)
  kIOError,             // the filesystem or RocksDB failed
  kBusy,                // another process holds the store's writer lock
  kFailedPrecondition,  // the call is valid but the store's state forbids it
  kInternal,            // a ckptdb bug
  kResourceExhausted,   // memory ran out; the store is left as a crash at that point would leave it
  kNotSupported,        // the store uses a feature this build does not know (a chunk codec)
  kAborted,             // the caller gave the operation up (an asynchronous save it abandoned)
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status Busy(std::string m) { return {Code::kBusy, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {Code::kFailedPrecondition, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
  static Status NotSupported(std::string m) { return {Code::kNotSupported, std::move(m)}; }
  static Status Aborted(std::string m) { return {Code::kAborted, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "Corruption: <message>", or "OK".
  std::string ToString() const;
  // The same status with "context: " put before the message; OK stays OK.
  Status WithContext(std::string_view context) const;
  // Marks an error as deliberately ignored.
  void IgnoreError() const {}

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  // REQUIRES: !status.ok()
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.ok()) status_ = Status::Internal("Result built from an OK status without a value");
  }

  // From a Result of a type that converts to T (a SavedCheckpoint is a CheckpointInfo).
  template <typename U>
    requires(std::is_convertible_v<U, T> && !std::is_same_v<U, T>)
  Result(Result<U> other) : status_(other.status()) {  // NOLINT: implicit by design
    if (other.ok()) value_ = std::move(other).value();
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  // REQUIRES: ok()
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  // By value, so `for (auto& x : store->List().value())` does not dangle once the Result dies.
  T value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace ckptdb
