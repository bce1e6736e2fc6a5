// ckptdb tag / untag: name a checkpoint, or drop a name.
#include "tools/command_line.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/json.h"

namespace ckptdb::cli {
namespace {

void WriteJson(const std::string& tag, const CheckpointInfo* c, std::ostream& out) {
  json::Writer w(/*pretty=*/true);
  w.BeginObject().Key("tag").String(tag);
  if (c) w.Key("id").Uint(c->id).Key("step").Int(c->step);
  w.EndObject();
  out << w.str() << "\n";
}

}  // namespace

int Tag(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  CommandLine cl("tag",
                 "Name a checkpoint. A tagged checkpoint is never removed by the retention policy, gc or "
                 "rollback --discard; only rm deletes it.");
  std::string path, name;
  cl.Positional("STORE", &path, "the store directory");
  cl.Positional("NAME", &name, "the tag: any non-empty text not already used in this store");
  cl.Selector();
  cl.Json();
  cl.Footer("Example:\n  ckptdb tag runs/gpt --best eval_loss:min release-1");
  if (auto rc = cl.Parse(argv, out, err)) return *rc;
  const Selector& which = cl.which();
  if (path.empty() || name.empty()) return cl.UsageError(err, "give STORE, a checkpoint and a non-empty NAME");
  auto store = OpenExisting(path);
  if (!store.ok()) return cl.Fail(err, store.status());
  if (Status s = (*store)->Tag(which, name); !s.ok()) return cl.Fail(err, WithSuggestion(**store, which, s));
  auto m = (*store)->Describe(Selector::Tag(name));
  if (!m.ok()) return cl.Fail(err, m.status());
  if (cl.json()) {
    WriteJson(name, &m->info, out);
  } else {
    out << "tagged checkpoint " << m->info.id << " (step " << m->info.step << ") '" << Escaped(name) << "'\n";
  }
  return kExitOk;
}

int Untag(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  CommandLine cl("untag", "Drop a tag. The checkpoint stays; the retention policy may then remove it.");
  std::string path, name;
  cl.Positional("STORE", &path, "the store directory");
  cl.Positional("NAME", &name, "the tag to drop");
  cl.Json();
  if (auto rc = cl.Parse(argv, out, err)) return *rc;
  if (path.empty() || name.empty()) return cl.UsageError(err, "give STORE and NAME");
  auto store = OpenExisting(path);
  if (!store.ok()) return cl.Fail(err, store.status());
  if (Status s = (*store)->Untag(name); !s.ok())
    return cl.Fail(err, WithSuggestion(**store, Selector::Tag(name), s));
  if (cl.json()) {
    WriteJson(name, nullptr, out);
  } else {
    out << "removed tag '" << Escaped(name) << "'\n";
  }
  return kExitOk;
}

}  // namespace ckptdb::cli
