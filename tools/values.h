// Values given on the command line: integers, numbers and checkpoint specs, parsed strictly (no
// sign where none belongs, no surrounding spaces, nothing after the number), so a typo is an error
// rather than a different value. Every error is InvalidArgument naming the flag and the text.
#pragma once

#include <cstdint>
#include <string>

#include "ckptdb/checkpoint.h"
#include "ckptdb/status.h"

namespace ckptdb::cli {

Result<int64_t> ParseInt64(const std::string& flag, const std::string& text);
// Digits only: " -1" and "+1" are errors (strtoull would read " -1" as 2^64 - 1).
Result<uint64_t> ParseUint64(const std::string& flag, const std::string& text);
// A finite decimal or exponent number.
Result<double> ParseDouble(const std::string& flag, const std::string& text);

// One checkpoint written as a single argument (diff's A and B): a step number ("300"), "id:ID",
// "tag:NAME", "latest", "head", "at:TIME" (as --at) or "best:METRIC:min|max" (as --best).
// Errors: InvalidArgument naming the spec when it is none of these or its value is malformed.
Result<Selector> ParseSelectorSpec(const std::string& spec);

// --best's and best:'s METRIC:min|max. Errors: InvalidArgument naming `what` and the text.
Result<Selector> ParseBest(const std::string& what, const std::string& text);
// --at's TIME (format.h's ParseTime). Errors: InvalidArgument naming `what` and the text.
Result<Selector> ParseAt(const std::string& what, const std::string& text);

}  // namespace ckptdb::cli
