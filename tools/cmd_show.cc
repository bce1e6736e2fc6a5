// ckptdb show: one checkpoint's manifest, as text or JSON.
#include "tools/command_line.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/json.h"

namespace ckptdb::cli {
namespace {

void WriteJson(const CheckpointManifest& m, std::ostream& out) {
  const CheckpointInfo& c = m.info;
  json::Writer w(/*pretty=*/true);
  w.BeginObject().Key("id").Uint(c.id).Key("step").Int(c.step).Key("parent");
  c.parent ? w.Uint(*c.parent) : w.Null();
  w.Key("time").String(Rfc3339(c.commit_time_ns)).Key("chunk_size").Uint(m.chunk_size);
  w.Key("metadata").BeginObject();
  for (const auto& [k, v] : m.metadata) w.Key(k).String(v);
  w.EndObject().Key("metrics").BeginObject();
  for (const auto& [k, v] : c.metrics) w.Key(k).Double(v);
  w.EndObject().Key("tags").BeginArray();
  for (const auto& t : c.tags) w.String(t);
  w.EndArray().Key("tensors").BeginArray();
  for (const TensorInfo& t : m.tensors) {
    w.BeginObject().Key("name").String(t.name).Key("dtype").String(DTypeName(t.dtype));
    w.Key("shape").BeginArray();
    for (int64_t d : t.shape) w.Int(d);
    w.EndArray().Key("bytes").Uint(t.size_bytes).Key("chunks").BeginArray();
    for (const Digest& d : t.chunks) w.String(d.ToHex());
    w.EndArray().EndObject();
  }
  w.EndArray().EndObject();
  out << w.str() << "\n";
}

void WriteText(const CheckpointManifest& m, std::ostream& out) {
  const CheckpointInfo& c = m.info;
  out << "checkpoint " << c.id << "  step " << c.step << "  parent "
      << (c.parent ? std::to_string(*c.parent) : "-") << "  " << Rfc3339(c.commit_time_ns) << "\n";
  out << "size " << HumanBytes(c.logical_bytes) << " in " << Plural(c.tensor_count, "tensor") << ", "
      << HumanBytes(c.new_bytes) << " new, chunk size " << HumanBytes(m.chunk_size) << "\n";
  if (!c.tags.empty()) {
    out << "tags";
    for (const auto& t : c.tags) out << " " << Escaped(t);
    out << "\n";
  }
  for (const auto& [k, v] : c.metrics) out << "metric " << Escaped(k) << " = " << v << "\n";
  for (const auto& [k, v] : m.metadata) out << "metadata " << Escaped(k) << " = " << json::Printable(v) << "\n";
  out << "\n";
  Table table({"NAME", "DTYPE", "SHAPE", "SIZE", "CHUNKS"}, {false, false, false, true, true});
  for (const TensorInfo& t : m.tensors)
    table.Add({t.name, std::string(DTypeName(t.dtype)), ShapeToString(t.shape), HumanBytes(t.size_bytes),
               std::to_string(t.chunks.size())});
  table.Print(out);
}

}  // namespace

int Show(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  CommandLine cl("show", "One checkpoint: its step, parent, time, tags, metrics, metadata and tensors.");
  std::string path;
  cl.StorePath(&path, "the store directory (read-only: works beside a running save)");
  cl.Selector();
  cl.Json();
  cl.Footer("Example:\n  ckptdb show runs/gpt --at '2026-11-23 01:36:00' --json");
  if (auto rc = cl.Parse(argv, out, err)) return *rc;
  const Selector& which = cl.which();
  auto store = OpenForReading(path);
  if (!store.ok()) return cl.Fail(err, store.status());
  auto m = (*store)->Describe(which);
  if (!m.ok()) return cl.Fail(err, WithSuggestion(**store, which, m.status()));
  cl.json() ? WriteJson(*m, out) : WriteText(*m, out);
  return kExitOk;
}

}  // namespace ckptdb::cli
