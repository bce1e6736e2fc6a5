// ckptdb import: safetensors files -> one checkpoint. Every input is validated before the store is
// opened or created, so bad input never changes the store.

#include "ckptdb/safetensors.h"
#include "tools/command_line.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/import_flags.h"

namespace ckptdb::cli {

int Import(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  CommandLine cl("import",
                 "Save the tensors of one or more safetensors files as one checkpoint (an optimizer's file "
                 "beside the model's, say). Only chunks the store does not hold are written. Every file is "
                 "read and checked before the store is opened, so bad input changes nothing. Creates the store "
                 "when STORE does not exist, and says so.");
  std::string path;
  std::vector<std::string> files;
  ImportFlags flags;
  cl.Positional("STORE", &path, "the store directory");
  cl.Positionals("FILE", &files, "safetensors files; their tensor names must be distinct");
  flags.Declare(cl);
  cl.Footer("Example:\n  ckptdb import runs/gpt model.safetensors optimizer.safetensors --step 1200 --metric "
            "eval_loss=2.31");
  if (auto rc = cl.Parse(argv, out, err)) return *rc;
  auto in = ParseImportFlags(cl, flags);
  if (!in.ok()) return cl.UsageError(err, in.status().message());
  if (path.empty() || files.empty()) return cl.UsageError(err, "give STORE and at least one FILE.safetensors");
  // Every input is read and validated before the store is touched (exit 1 on failure).
  auto read = SafetensorsFiles::Read(files);
  if (!read.ok()) return cl.Fail(err, read.status());
  std::vector<std::string> names;
  for (const TensorRef& t : read->tensors()) names.push_back(t.name);
  const SaveFn save = [&](Store& store, const SaveOptions& o) { return ImportSafetensors(store, *read, o); };
  return SaveImport(cl, flags, *in, path, names, "import", save, "", out, err);
}

}  // namespace ckptdb::cli
