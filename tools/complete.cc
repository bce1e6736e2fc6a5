// The answers of the bash completion script (tools/completion/ckptdb.bash): commands, flags, and
// the tags, steps, ids and metrics of the store named on the line.
#include <set>
#include <sstream>

#include "tools/cli.h"
#include "tools/command_util.h"

namespace ckptdb::cli {
namespace {

void PrintMatching(const std::vector<std::string>& candidates, const std::string& prefix, std::ostream& out) {
  std::set<std::string> seen;
  for (const std::string& c : candidates)
    if (c.rfind(prefix, 0) == 0 && seen.insert(c).second) out << c << "\n";
}

// What the store at `path` can be asked for: tags, steps, ids, metric names. Empty when it cannot
// be read (completion stays silent rather than printing errors into the shell).
struct StoreWords {
  std::vector<std::string> tags, steps, ids, metrics;
};

StoreWords ReadStore(const std::string& path) {
  StoreWords w;
  auto store = OpenForReading(path);
  if (!store.ok()) return w;
  auto list = (*store)->List();
  if (!list.ok()) return w;
  std::set<std::string> metrics;
  for (auto it = list->rbegin(); it != list->rend(); ++it) {  // newest first: what people want most
    for (const std::string& t : it->tags) w.tags.push_back(t);
    w.steps.push_back(std::to_string(it->step));
    w.ids.push_back(std::to_string(it->id));
    for (const auto& [name, value] : it->metrics) metrics.insert(name);
  }
  w.metrics.assign(metrics.begin(), metrics.end());
  return w;
}

std::vector<std::string> Prefixed(const std::string& prefix, const std::vector<std::string>& v) {
  std::vector<std::string> out;
  for (const std::string& s : v) out.push_back(prefix + s);
  return out;
}

std::vector<std::string> BestSpecs(const std::vector<std::string>& metrics) {
  std::vector<std::string> out;
  for (const std::string& m : metrics) out.insert(out.end(), {m + ":min", m + ":max"});
  return out;
}

}  // namespace

int Complete(size_t index, const std::vector<std::string>& words, std::ostream& out) {
  const std::string cur = index < words.size() ? words[index] : "";
  if (index == 0) {
    PrintMatching(CommandNames(), cur, out);
    return kExitOk;
  }
  const std::string& command = words[0];
  if (command == "help") {
    if (index == 1) PrintMatching(CommandNames(), cur, out);
    return kExitOk;
  }
  if (!cur.empty() && cur[0] == '-') {
    std::ostringstream flags;
    if (RunCommandForFlags(command, flags) != kExitOk) return kExitOk;
    std::vector<std::string> names;
    std::istringstream lines(flags.str());
    for (std::string line; std::getline(lines, line);) names.push_back(line);
    PrintMatching(names, cur, out);
    return kExitOk;
  }
  // The store is the first argument after the command; the rest depends on the word before.
  if (index < 2 || words.size() < 2 || words[1].empty() || words[1][0] == '-') return kExitOk;
  // What the word before (or the position, for untag's NAME and diff's A and B) asks for.
  enum class Want { kNothing, kTags, kSteps, kIds, kBest, kSpec };
  const std::string& prev = words[index - 1];
  Want want = prev == "--tag"    ? Want::kTags
              : prev == "--step" ? Want::kSteps
              : prev == "--id"   ? Want::kIds
              : prev == "--best" ? Want::kBest
                                 : Want::kNothing;
  if (command == "untag" && index == 2) want = Want::kTags;
  if (command == "diff" && (index == 2 || index == 3)) want = Want::kSpec;
  if (want == Want::kNothing) return kExitOk;  // a file or directory: the script falls back to the shell's own
  const StoreWords w = ReadStore(words[1]);
  std::vector<std::string> candidates;
  switch (want) {
    case Want::kTags: candidates = w.tags; break;
    case Want::kSteps: candidates = w.steps; break;
    case Want::kIds: candidates = w.ids; break;
    case Want::kBest: candidates = BestSpecs(w.metrics); break;
    case Want::kSpec:
      candidates = {"latest", "head"};
      for (const auto& v : {w.steps, Prefixed("tag:", w.tags), Prefixed("id:", w.ids),
                            Prefixed("best:", BestSpecs(w.metrics))})
        candidates.insert(candidates.end(), v.begin(), v.end());
      break;
    case Want::kNothing: break;
  }
  PrintMatching(candidates, cur, out);
  return kExitOk;
}

}  // namespace ckptdb::cli
