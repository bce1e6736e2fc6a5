// NoThrow: where exceptions stop. Every Store call returns Status or Result<T>; the standard library
// underneath reports a failed allocation by throwing (std::bad_alloc, or std::length_error for a
// length no container can hold, e.g. one read from a hostile file). NoThrow runs a call and turns
// whatever it throws into a Status, so an exception never leaves the public API and a failed
// allocation reaches the caller as ResourceExhausted naming what was being done.
#pragma once

#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>

#include "ckptdb/status.h"

namespace ckptdb {

// The Status for exception `e` (nullptr: not a std::exception) thrown while store `path` was
// `doing` something ("restoring"). If even the message cannot be allocated, a short one is returned.
inline Status StatusFromException(std::string_view path, std::string_view doing, const std::exception* e,
                                  bool out_of_memory) noexcept {
  const Code code = out_of_memory ? Code::kResourceExhausted : Code::kInternal;
  try {
    std::string message = "store " + std::string(path) + ", " + std::string(doing);
    if (out_of_memory) message += ": out of memory";
    else message += ": unexpected exception";
    if (e) message += std::string(" (") + e->what() + ")";
    return Status(code, std::move(message));
  } catch (...) {
    return Status(code, "out of memory");  // fits the string's inline buffer: allocates nothing
  }
}

// Runs `f`, which returns Status or Result<T>, and returns its result or the Status of what it threw.
// Its arguments are views, so nothing that could throw runs outside the try.
template <typename F>
auto NoThrow(std::string_view path, std::string_view doing, F&& f) noexcept -> decltype(f()) {
  try {
    return f();
  } catch (const std::bad_alloc& e) {
    return StatusFromException(path, doing, &e, true);
  } catch (const std::length_error& e) {
    return StatusFromException(path, doing, &e, true);
  } catch (const std::exception& e) {
    return StatusFromException(path, doing, &e, false);
  } catch (...) {
    return StatusFromException(path, doing, nullptr, false);
  }
}

}  // namespace ckptdb
