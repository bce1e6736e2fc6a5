// Wording for messages people read: times in RFC 3339 and counted nouns ("1 chunk", "2 chunks").
// The library's error messages and the CLI's output share these, so a time in an error reads the
// same as the time `ckptdb log` prints, and `--at` accepts both.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ckptdb {

// How many fraction digits FormatRfc3339 writes.
enum class TimeDigits {
  kShortest,     // none for a whole second, else up to nine with trailing zeros cut: ".5"
  kNanoseconds,  // always nine, so the text selects exactly the instant it was printed from
};

// `unix_ns` (nanoseconds since 1970, UTC; negative is before) as RFC 3339 UTC:
// "2026-11-23T01:36:00Z", "2026-11-23T01:36:00.5Z", or with kNanoseconds
// "2026-11-23T01:36:00.500000000Z". Every int64 value (1677-09-21 to 2262-04-11) is valid.
std::string FormatRfc3339(int64_t unix_ns, TimeDigits digits = TimeDigits::kShortest);

// "<n> <singular>" when n == 1, else "<n> <plural>"; an empty `plural` means `singular` + "s":
// Plural(1, "chunk") == "1 chunk", Plural(0, "tensor") == "0 tensors",
// Plural(2, "entry", "entries") == "2 entries".
std::string Plural(uint64_t n, std::string_view singular, std::string_view plural = {});

}  // namespace ckptdb
