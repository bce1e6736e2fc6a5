// ReadRange and Diff (store_reads.h).
#include "api/python/src/store_reads.h"

#include <pybind11/stl.h>

#include <utility>

#include "api/python/src/convert.h"
#include "api/python/src/dlpack_bridge.h"

namespace py = pybind11;

namespace ckptdb::python {

py::tuple ReadRange(Store& store, const py::tuple& which, const std::string& name, uint64_t offset, uint64_t length,
                    bool verify) {
  const Selector sel = ToSelector(which);
  ReadOptions ro;
  ro.verify_chunks = verify;
  Buffer bytes;
  Result<RangeReadReport> r = Status::Internal("unread");
  {
    py::gil_scoped_release nogil;
    bytes = Buffer::Allocate(length);
    r = store.ReadTensorRange(sel, name, offset, {bytes.data(), length}, ro);
  }
  const RangeReadReport report = Check(std::move(r));
  return py::make_tuple(ExportBytes(std::move(bytes)), report.chunks_read, report.bytes_read);
}

py::dict Diff(Store& store, const py::tuple& a, const py::tuple& b, bool stats, bool verify) {
  const Selector sa = ToSelector(a), sb = ToSelector(b);
  ReadOptions ro;
  ro.verify_chunks = verify;
  Result<CheckpointManifest> ma = Status::Internal("undescribed"), mb = Status::Internal("undescribed");
  ManifestDiff d;
  Status status;
  {
    py::gil_scoped_release nogil;
    ma = store.Describe(sa);
    if (ma.ok()) mb = store.Describe(sb);
    if (ma.ok() && mb.ok()) {
      d = DiffManifests(*ma, *mb);
      if (stats) status = AddDiffStats(store, *ma, *mb, d, ro);
    }
  }
  Check(std::move(ma));
  Check(std::move(mb));
  Check(status);
  py::dict out;
  out["added"] = d.added;
  out["removed"] = d.removed;
  out["unchanged"] = d.unchanged;
  py::list changed;
  for (const TensorChange& c : d.changed) {
    py::dict e;
    e["name"] = c.name;
    e["chunks_changed"] = c.chunks_changed;
    e["bytes_changed"] = c.bytes_changed;
    if (c.max_abs_diff) e["max_abs_diff"] = *c.max_abs_diff;
    if (c.l2_diff) e["l2_diff"] = *c.l2_diff;
    changed.append(e);
  }
  out["changed"] = changed;
  return out;
}

}  // namespace ckptdb::python
