// ckptdb rm: delete one checkpoint (its chunks stay until garbage collection).
#include "tools/args.h"
#include "tools/command_util.h"
#include "tools/format.h"

namespace ckptdb::cli {

int Rm(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  auto args = ParseArgs("rm", argv, kSelectorFlags);
  if (!args.ok()) return ReportError(err, args.status(), kExitUsage);
  if (args->positional.size() != 1)
    return ReportError(err, Status::InvalidArgument("ckptdb rm: give exactly one STORE"), kExitUsage);
  auto which = ParseSelector("rm", *args);
  if (!which.ok()) return ReportError(err, which.status(), kExitUsage);
  auto store = OpenExisting(args->positional[0]);
  if (!store.ok()) return ReportError(err, store.status());
  auto removed = (*store)->Remove(*which);
  if (!removed.ok()) return ReportError(err, removed.status());
  out << "removed checkpoint " << removed->id << " (step " << removed->step << "), "
      << HumanBytes(removed->logical_bytes) << "\n";
  return kExitOk;
}

}  // namespace ckptdb::cli
