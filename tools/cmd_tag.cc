// ckptdb tag / untag: name a checkpoint, or drop a name.
#include "tools/args.h"
#include "tools/command_util.h"

namespace ckptdb::cli {

int Tag(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  auto args = ParseArgs("tag", argv, kSelectorFlags);
  if (!args.ok()) return ReportError(err, args.status(), kExitUsage);
  if (args->positional.size() != 2)
    return ReportError(err, Status::InvalidArgument("ckptdb tag: give STORE, a checkpoint and NAME"), kExitUsage);
  auto which = ParseSelector("tag", *args);
  if (!which.ok()) return ReportError(err, which.status(), kExitUsage);
  const std::string& name = args->positional[1];
  if (name.empty()) return ReportError(err, Status::InvalidArgument("ckptdb tag: NAME is empty"), kExitUsage);
  auto store = OpenExisting(args->positional[0]);
  if (!store.ok()) return ReportError(err, store.status());
  if (Status s = (*store)->Tag(*which, name); !s.ok()) return ReportError(err, s);
  auto m = (*store)->Describe(Selector::Tag(name));
  if (!m.ok()) return ReportError(err, m.status());
  out << "tagged checkpoint " << m->info.id << " (step " << m->info.step << ") '" << name << "'\n";
  return kExitOk;
}

int Untag(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  auto args = ParseArgs("untag", argv, {});
  if (!args.ok()) return ReportError(err, args.status(), kExitUsage);
  if (args->positional.size() != 2)
    return ReportError(err, Status::InvalidArgument("ckptdb untag: give STORE and NAME"), kExitUsage);
  auto store = OpenExisting(args->positional[0]);
  if (!store.ok()) return ReportError(err, store.status());
  if (Status s = (*store)->Untag(args->positional[1]); !s.ok()) return ReportError(err, s);
  out << "removed tag '" << args->positional[1] << "'\n";
  return kExitOk;
}

}  // namespace ckptdb::cli
