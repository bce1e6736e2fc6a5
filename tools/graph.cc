#include "tools/graph.h"

#include <unordered_map>

namespace ckptdb::cli {
namespace {

// A lane is free (nullopt) or waiting for the checkpoint with this id, which will be drawn in it.
using Lane = std::optional<CheckpointId>;

std::string TrimRight(std::string s) {
  s.erase(s.find_last_not_of(' ') + 1);
  return s;
}

// '|' at column 2*l for every waiting lane l, blanks elsewhere.
std::string LaneLine(const std::vector<Lane>& lanes) {
  std::string s(lanes.size() * 2, ' ');
  for (size_t l = 0; l < lanes.size(); ++l)
    if (lanes[l]) s[2 * l] = '|';
  return s;
}

}  // namespace

std::string RenderGraph(const std::vector<CheckpointInfo>& checkpoints, std::optional<CheckpointId> head,
                        const std::vector<std::string>& text) {
  std::unordered_map<CheckpointId, size_t> index;
  for (size_t i = 0; i < checkpoints.size(); ++i) index[checkpoints[i].id] = i;
  // Lane 0 is kept for the head's line so the current branch is always the leftmost column.
  const bool reserve_lane0 = head && index.count(*head);
  std::vector<Lane> lanes;
  std::string out;
  for (size_t i = checkpoints.size(); i-- > 0;) {
    const CheckpointInfo& c = checkpoints[i];
    std::vector<size_t> waiting;  // ascending
    for (size_t l = 0; l < lanes.size(); ++l)
      if (lanes[l] == c.id) waiting.push_back(l);
    size_t lane = 0;
    if (reserve_lane0 && c.id == *head) {
      lane = 0;
    } else if (!waiting.empty()) {
      lane = waiting.front();
    } else {  // a tip: the leftmost free lane
      lane = reserve_lane0 ? 1 : 0;
      while (lane < lanes.size() && lanes[lane]) ++lane;
    }
    if (lane >= lanes.size()) lanes.resize(lane + 1);

    // Every other lane that waits for `c` ends here, rightmost first, each joining the next lane to
    // its left that also waits for `c` (or `lane` itself). `lane` is left of all of them (the
    // head's lane 0 never waits before the head's row), so a connector runs leftwards: '/' just
    // left of the closing lane, '_' across the columns between, '|' where it crosses a lane.
    for (size_t k = waiting.size(); k-- > 0;) {
      const size_t from = waiting[k];
      if (from == lane) continue;
      const size_t to = k > 0 ? waiting[k - 1] : lane;
      lanes[from].reset();
      std::string s = LaneLine(lanes);
      for (size_t col = 2 * to + 1; col + 1 < 2 * from; ++col)
        if (s[col] == ' ') s[col] = '_';
      s[2 * from - 1] = '/';
      out += TrimRight(s) + "\n";
    }

    lanes[lane].reset();
    std::string row = LaneLine(lanes);
    row[2 * lane] = '*';
    row = TrimRight(row);
    if (!text[i].empty()) row += "  " + text[i];
    out += row + "\n";

    // The lane now waits for the parent, unless the parent is not an older checkpoint of the list
    // (removed, or a malformed list): then the line ends and the lane is free again.
    if (c.parent) {
      auto p = index.find(*c.parent);
      if (p != index.end() && p->second < i) lanes[lane] = *c.parent;
    }
    while (!lanes.empty() && !lanes.back()) lanes.pop_back();
  }
  return out;
}

}  // namespace ckptdb::cli
