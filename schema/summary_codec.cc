// The codec of summary records (schema/summary.fbs): pure functions, no I/O. Decoding validates as
// every decoder here does (size limit, aligned copy, verifier, then each field's meaning).
#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "schema/codec.h"
#include "schema/summary_generated.h"

namespace ckptdb::schema {

std::string EncodeSummary(const CheckpointInfo& i) {
  flatbuffers::FlatBufferBuilder b(256 + 32 * (i.tags.size() + i.metrics.size()));
  std::vector<flatbuffers::Offset<fb::SummaryMetric>> metrics;
  for (const auto& [k, v] : i.metrics) metrics.push_back(fb::CreateSummaryMetric(b, b.CreateString(k), v));
  std::vector<std::string> tags = i.tags;
  std::sort(tags.begin(), tags.end());
  auto root = fb::CreateSummary(b, kFormatVersion, i.id, i.step, i.parent.has_value(), i.parent.value_or(0),
                                i.commit_time_ns, i.tensor_count, i.logical_bytes, i.new_bytes,
                                b.CreateVectorOfStrings(tags), b.CreateVector(metrics));
  fb::FinishSummaryBuffer(b, root);
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Result<CheckpointInfo> DecodeSummary(std::string_view bytes) {
  auto bad = [](const std::string& what) { return Status::Corruption("summary: " + what); };
  if (bytes.size() > (1u << 30)) return bad(std::to_string(bytes.size()) + " bytes is over the limit");
  auto words = std::make_unique<uint64_t[]>(bytes.size() / 8 + 1);
  std::memcpy(words.get(), bytes.data(), bytes.size());
  const auto* data = reinterpret_cast<const uint8_t*>(words.get());
  flatbuffers::Verifier verifier(data, bytes.size());
  if (!fb::VerifySummaryBuffer(verifier)) return bad("fails FlatBuffers verification");
  const fb::Summary* f = fb::GetSummary(data);
  if (f->format_version() != kFormatVersion)
    return bad("format version " + std::to_string(f->format_version()) + " is not " + std::to_string(kFormatVersion));
  CheckpointInfo i;
  i.id = f->id();
  i.step = f->step();
  if (f->has_parent()) i.parent = f->parent();
  i.commit_time_ns = f->commit_time_ns();
  i.tensor_count = f->tensor_count();
  i.logical_bytes = f->logical_bytes();
  i.new_bytes = f->new_bytes();
  if (f->metrics())
    for (const fb::SummaryMetric* m : *f->metrics())
      if (!i.metrics.emplace(m->name()->str(), m->value()).second)
        return bad("metric '" + m->name()->str() + "' appears twice");
  if (f->tags())
    for (const flatbuffers::String* t : *f->tags()) {
      if (t->size() == 0 || !IsValidUtf8(t->string_view())) return bad("a tag is empty or not UTF-8");
      if (!i.tags.empty() && i.tags.back() >= t->string_view()) return bad("tags are not sorted and unique");
      i.tags.push_back(t->str());
    }
  return i;
}

}  // namespace ckptdb::schema
