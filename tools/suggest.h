// Did-you-mean hints for mistyped commands, flags, tags and metric names.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ckptdb::cli {

// Levenshtein distance (insertions, deletions, substitutions, and swaps of two neighbours, which
// are the commonest typo: "lgo" -> "log") between `a` and `b`.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word`, when it is close enough to be what was meant: at most 2 edits,
// and fewer than half of `word`'s length (so "x" suggests nothing). Ties go to the first candidate.
std::optional<std::string> Closest(std::string_view word, const std::vector<std::string>& candidates);

// " (did you mean 'final'?)" for the closest candidate, or "" when none is close.
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace ckptdb::cli
