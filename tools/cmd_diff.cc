// ckptdb diff: which tensors two checkpoints add, remove, change or share, and (--stats) by how much.
#include <cmath>
#include <cstdio>
#include <sstream>

#include "ckptdb/diff.h"
#include "tools/command_line.h"
#include "tools/values.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/json.h"

namespace ckptdb::cli {
namespace {

const TensorInfo& Find(const CheckpointManifest& m, const std::string& name) {
  for (const TensorInfo& t : m.tensors)
    if (t.name == name) return t;
  return m.tensors.front();  // unreachable: DiffManifests only names tensors the manifest has
}

void WriteJson(const ManifestDiff& d, std::ostream& out) {
  json::Writer w(/*pretty=*/true);
  w.BeginObject();
  for (const auto& [key, names] : {std::pair{"added", &d.added}, {"removed", &d.removed}, {"unchanged", &d.unchanged}}) {
    w.Key(key).BeginArray();
    for (const auto& n : *names) w.String(n);
    w.EndArray();
  }
  w.Key("changed").BeginArray();
  for (const TensorChange& c : d.changed) {
    w.BeginObject().Key("name").String(c.name).Key("chunks_changed").Uint(c.chunks_changed);
    w.Key("bytes_changed").Uint(c.bytes_changed);
    if (c.max_abs_diff) w.Key("max_abs_diff").Double(*c.max_abs_diff);  // NaN is written as null
    if (c.l2_diff) w.Key("l2_diff").Double(*c.l2_diff);
    w.EndObject();
  }
  w.EndArray().EndObject();
  out << w.str() << "\n";
}

std::string Chunks(uint64_t n) { return Plural(n, "chunk"); }

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string TypeOf(const TensorInfo& t) { return std::string(DTypeName(t.dtype)) + " " + ShapeToString(t.shape); }

std::string Where(const CheckpointInfo& c) {
  return "checkpoint " + std::to_string(c.id) + " (step " + std::to_string(c.step) + ")";
}

void WriteText(const CheckpointManifest& a, const CheckpointManifest& b, const ManifestDiff& d, std::ostream& out) {
  struct Row {
    std::string sign, name, chunks, bytes, max, l2, note;
  };
  std::vector<Row> rows;
  for (const auto& n : d.added) {
    const TensorInfo& t = Find(b, n);
    rows.push_back({"+", n, Chunks(t.chunks.size()), HumanBytes(t.size_bytes), "", "", TypeOf(t)});
  }
  for (const auto& n : d.removed) {
    const TensorInfo& t = Find(a, n);
    rows.push_back({"-", n, Chunks(t.chunks.size()), HumanBytes(t.size_bytes), "", "", TypeOf(t)});
  }
  uint64_t chunks = 0, bytes = 0;
  bool any_stats = false, any_note = !rows.empty();
  for (const TensorChange& c : d.changed) {
    chunks += c.chunks_changed;
    bytes += c.bytes_changed;
    Row r{"~", c.name, Chunks(c.chunks_changed), HumanBytes(c.bytes_changed), "", "", ""};
    if (c.max_abs_diff) r.max = "max|Δ| " + Number(*c.max_abs_diff);
    if (c.l2_diff) r.l2 = "L2 " + Number(*c.l2_diff);
    if (c.dtype_or_shape_changed) r.note = TypeOf(Find(a, c.name)) + " -> " + TypeOf(Find(b, c.name));
    any_stats |= c.max_abs_diff.has_value();
    any_note |= !r.note.empty();
    rows.push_back(std::move(r));
  }

  out << Where(a.info) << " -> " << Where(b.info) << "\n";
  if (!rows.empty()) {
    // Columns nobody fills are left out; Table's header row is simply the first row here.
    auto cells = [&](const Row& r) {
      std::vector<std::string> v = {r.sign + " " + r.name, r.chunks, r.bytes};
      if (any_stats) v.insert(v.end(), {r.max, r.l2});
      if (any_note) v.push_back(r.note);
      return v;
    };
    std::vector<bool> right = {false, true, true};
    Table table(cells(rows[0]), right);
    for (size_t i = 1; i < rows.size(); ++i) table.Add(cells(rows[i]));
    std::ostringstream text;
    table.Print(text);
    std::istringstream lines(text.str());
    for (std::string line; std::getline(lines, line);)  // empty trailing cells leave padding behind
      out << line.substr(0, line.find_last_not_of(' ') + 1) << "\n";
  }
  out << d.added.size() << " added, " << d.removed.size() << " removed, " << d.changed.size() << " changed ("
      << Chunks(chunks) << ", " << HumanBytes(bytes) << "), " << d.unchanged.size() << " unchanged\n";
}

}  // namespace

int Diff(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  CommandLine cl("diff",
                 "Which tensors checkpoint B adds, removes or changes relative to A, by comparing chunk "
                 "digests (no tensor bytes are read unless --stats).");
  std::string path, a_spec, b_spec;
  bool stats = false;
  const std::string spec_help = " (a step number, id:ID, tag:NAME, latest, head, at:TIME or best:METRIC:min|max)";
  cl.Positional("STORE", &path, "the store directory (read-only: works beside a running save)");
  cl.Positional("A", &a_spec, "the checkpoint to compare from" + spec_help);
  cl.Positional("B", &b_spec, "the checkpoint to compare to");
  cl.Switch("--stats", &stats, "read changed tensors and report max |A-B| and the L2 norm of A-B");
  cl.Json();
  cl.Footer("Example:\n  ckptdb diff runs/gpt tag:release-1 latest --stats");
  if (auto rc = cl.Parse(argv, out, err)) return *rc;
  if (path.empty() || !cl.Given("A") || !cl.Given("B")) return cl.UsageError(err, "give STORE A B");
  std::vector<Selector> which;
  for (const std::string* spec : {&a_spec, &b_spec}) {
    auto s = ParseSelectorSpec(*spec);
    if (!s.ok()) return cl.UsageError(err, s.status().message());
    which.push_back(*s);
  }
  auto store = OpenForReading(path);
  if (!store.ok()) return cl.Fail(err, store.status());
  auto a = (*store)->Describe(which[0]);
  if (!a.ok()) return cl.Fail(err, WithSuggestion(**store, which[0], a.status()));
  auto b = (*store)->Describe(which[1]);
  if (!b.ok()) return cl.Fail(err, WithSuggestion(**store, which[1], b.status()));
  ManifestDiff diff = DiffManifests(*a, *b);
  if (stats)
    if (Status s = AddDiffStats(**store, *a, *b, diff); !s.ok()) return cl.Fail(err, s);
  cl.json() ? WriteJson(diff, out) : WriteText(*a, *b, diff, out);
  return kExitOk;
}

}  // namespace ckptdb::cli
