// Command-line parsing for the ckptdb subcommands: positional arguments plus --flags declared up
// front, so that an unknown or malformed flag is a clear one-line error.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ckptdb/checkpoint.h"
#include "ckptdb/status.h"

namespace ckptdb::cli {

struct FlagSpec {
  std::string name;      // without the leading "--"
  bool takes_value;
  bool repeatable = false;
};

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> flags;  // every value given, in order ("" for switches)

  bool has(const std::string& flag) const { return flags.count(flag) > 0; }
  // The single value of `flag`, or nullopt if absent.
  std::optional<std::string> get(const std::string& flag) const;
  const std::vector<std::string>& all(const std::string& flag) const;
};

// Parses argv[first..] against `specs`. Accepts "--flag value" and "--flag=value"; "--" ends flags.
// Errors name the command and the offending flag.
Result<Args> ParseArgs(const std::string& command, const std::vector<std::string>& argv,
                       const std::vector<FlagSpec>& specs);

Result<int64_t> ParseInt64(const std::string& flag, const std::string& text);
Result<uint64_t> ParseUint64(const std::string& flag, const std::string& text);
Result<double> ParseDouble(const std::string& flag, const std::string& text);

// Flags every command that picks one checkpoint accepts.
extern const std::vector<FlagSpec> kSelectorFlags;
// Exactly one of --step N, --id ID, --latest, --head, --tag NAME, --at TIME, --best METRIC:min|max.
Result<Selector> ParseSelector(const std::string& command, const Args& args);

// One checkpoint written as a single argument (diff's A and B): a step number ("300"), "id:ID",
// "tag:NAME", "latest", "head", "at:TIME" (as --at) or "best:METRIC:min|max" (as --best).
// Errors: InvalidArgument naming the spec when it is none of these or its value is malformed.
Result<Selector> ParseSelectorSpec(const std::string& spec);

}  // namespace ckptdb::cli
