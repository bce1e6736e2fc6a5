// ckptdb._ckptdb: the native half of the Python package. It binds ckptdb::Store with plain Python
// values (dicts, lists, tuples) in and out; the package (api/python/ckptdb/) turns tensors into
// byte views and back and gives the records their Python types.
//
// The GIL is released while a store call runs (hashing, writing, reading, verifying), so other
// Python threads keep running beside a save. save_async releases it while it captures the bytes,
// its handle's wait while it waits; the persist runs on the store's own thread and never takes it.
// A progress callable (progress.h) takes the GIL only for each of its calls, on the store thread
// that reports. Errors raise the ckptdb.errors class of their code, carrying the store's one-line
// message.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <string>
#include <vector>

#include "api/python/src/convert.h"
#include "api/python/src/dlpack_bridge.h"
#include "api/python/src/device_path.h"
#include "api/python/src/progress.h"
#include "api/python/src/fingerprint.h"
#include "api/python/src/state_tree.h"
#include "api/python/src/store_reads.h"
#include "ckptdb/ckptdb.h"

namespace py = pybind11;

namespace ckptdb::python {
namespace {

py::dict ManifestDict(const CheckpointManifest& m) {
  py::dict d = InfoDict(m.info);
  d["chunk_size"] = m.chunk_size;
  d["metadata"] = m.metadata;
  d["structure"] = py::bytes(m.structure);
  py::list tensors;
  for (const TensorInfo& t : m.tensors) {
    py::dict e;
    e["name"] = t.name;
    e["dtype"] = std::string(DTypeName(t.dtype));
    e["shape"] = py::tuple(py::cast(t.shape));
    e["bytes"] = t.size_bytes;
    e["chunks"] = t.chunks.size();
    tensors.append(e);
  }
  d["tensor_list"] = tensors;
  return d;
}

py::dict PolicyDict(const RetentionPolicy& p) {
  py::dict d;
  d["max_to_keep"] = p.max_to_keep;
  d["keep_every_steps"] = p.keep_every_steps;
  d["keep_every_hours"] = p.keep_every_hours;
  if (p.keep_best) {
    py::dict b;
    b["metric"] = p.keep_best->metric;
    b["mode"] = p.keep_best->maximize ? "max" : "min";
    b["count"] = p.keep_best->count;
    d["keep_best"] = b;
  } else {
    d["keep_best"] = py::none();
  }
  return d;
}

// The byte views of tensors `names` (dtype names `dtypes`, parsed into `types`), as the package
// passes them to save and restore_into. Raises ValueError for lists of unequal length, an unknown
// dtype, or a view that is not a flat CPU uint8 array. REQUIRES: the GIL.
std::vector<ImportedBytes> ImportViews(const std::string& call, const std::vector<std::string>& names,
                                       const std::vector<std::string>& dtypes, const std::vector<Shape>& shapes,
                                       const py::list& views, std::vector<DType>& types) {
  const size_t n = names.size();
  if (dtypes.size() != n || shapes.size() != n || views.size() != n)
    throw py::value_error(call + ": names, dtypes, shapes and views differ in length");
  std::vector<ImportedBytes> bytes;
  bytes.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto dtype = ParseDType(dtypes[i]);
    if (!dtype) throw py::value_error("tensor '" + names[i] + "': unknown dtype " + dtypes[i]);
    types.push_back(*dtype);
    if (views[i].is_none())
      bytes.emplace_back();
    else
      bytes.emplace_back(views[i], "tensor '" + names[i] + "'");
  }
  return bytes;
}

// The digests packed 32 bytes each in `packed` (as save returns them). ValueError otherwise.
std::vector<Digest> DigestsFrom(const std::string& packed, const std::string& name) {
  if (packed.size() % 32 != 0)
    throw py::value_error("tensor '" + name + "': known chunks must be 32-byte digests, got " +
                          std::to_string(packed.size()) + " bytes");
  std::vector<Digest> out(packed.size() / 32);
  for (size_t k = 0; k < out.size(); ++k) std::memcpy(out[k].bytes.data(), packed.data() + 32 * k, 32);
  return out;
}

// What save returns: the checkpoint's info, the checkpoints its retention retired, and per tensor
// its chunk digests concatenated (what a later save passes as `known`). REQUIRES: the GIL.
py::dict SavedDict(const SavedCheckpoint& c) {
  py::dict d = InfoDict(c);
  d["retired"] = InfoList(c.retired);
  py::list chunks;
  for (const std::vector<Digest>& list : c.chunks) {
    std::string packed;
    for (const Digest& digest : list) packed.append(reinterpret_cast<const char*>(digest.bytes.data()), 32);
    chunks.append(py::bytes(packed));
  }
  d["chunks"] = chunks;
  return d;
}

// save's and save_async's arguments as TensorRefs and SaveOptions. The refs point into `bytes` and
// `digests`, so the SaveInput must outlive the store call. Raises ValueError for malformed input.
// REQUIRES: the GIL (to build; the store call may then run without it).
struct SaveInput {
  SaveInput(const std::string& call, const std::vector<std::string>& names, const std::vector<std::string>& dtypes,
            const std::vector<Shape>& shapes, const py::list& views, int64_t step,
            const std::map<std::string, double>& metrics, const std::vector<std::string>& tags,
            const std::map<std::string, std::string>& metadata, const py::bytes& structure, const py::list& known)
      : bytes(ImportViews(call, names, dtypes, shapes, views, types)), digests(names.size()) {
    if (known.size() != names.size()) throw py::value_error(call + ": names and known chunk lists differ in length");
    for (size_t i = 0; i < names.size(); ++i) {
      refs.push_back({names[i], types[i], shapes[i], bytes[i].data(), bytes[i].size()});
      refs.back().cuda_device = bytes[i].cuda_device();
      if (known[i].is_none()) {
        if (views[i].is_none()) throw py::value_error("tensor '" + names[i] + "': neither bytes nor known chunks");
        continue;
      }
      digests[i] = DigestsFrom(known[i].cast<std::string>(), names[i]);
      refs[i].known_chunks = digests[i];
      if (views[i].is_none()) refs[i].size_bytes = ExpectedBytes(types[i], shapes[i]).value_or(0);
    }
    options.step = step;
    options.metrics = metrics;
    options.tags = tags;
    options.metadata = metadata;
    options.structure = std::string(structure);
  }

  std::vector<DType> types;  // before `bytes`: ImportViews fills it while `bytes` is built
  std::vector<ImportedBytes> bytes;
  std::vector<std::vector<Digest>> digests;
  std::vector<TensorRef> refs;
  SaveOptions options;
};

// An asynchronous save's persist (ckptdb::SaveHandle). Valid after its store is closed: Close
// finishes (or abandon_pending_saves drops) every pending persist, and the handle keeps the result.
class NativeSaveHandle {
 public:
  explicit NativeSaveHandle(SaveHandle h) : h_(std::move(h)) {}

  // Waits (without the GIL) at most `timeout_seconds` (None: until the persist ends); None if it
  // has not ended by then, else save's dict. Raises the save's error as a ckptdb error.
  py::object Wait(std::optional<double> timeout_seconds) const {
    Result<SavedCheckpoint> r = Status::Internal("not waited");
    bool ended = true;
    {
      py::gil_scoped_release nogil;
      // Beyond ~292 years nanoseconds overflow: such a limit waits without one.
      if (timeout_seconds && *timeout_seconds < 1e9)
        ended = h_.WaitFor(std::chrono::nanoseconds(static_cast<int64_t>(std::max(0.0, *timeout_seconds) * 1e9)));
      if (ended) r = h_.Wait();
    }
    if (!ended) return py::none();
    return SavedDict(Check(std::move(r)));
  }
  bool Done() const { return h_.Done(); }
  int64_t step() const { return h_.step(); }

 private:
  SaveHandle h_;
};

class NativeStore {
 public:
  static std::unique_ptr<NativeStore> Open(const std::string& path, bool create, uint64_t chunk_size, int threads,
                                           bool read_only, uint64_t staging_bytes, int max_pending_saves) {
    StoreOptions o;
    o.create_if_missing = create;
    if (chunk_size) o.chunk_size = chunk_size;
    o.threads = threads;
    o.staging_bytes = staging_bytes;
    o.max_pending_saves = max_pending_saves;
    Result<std::unique_ptr<Store>> s = Status::Internal("unopened");
    {
      py::gil_scoped_release nogil;
      s = read_only ? Store::OpenReadOnly(path, o) : Store::Open(path, o);
    }
    return std::unique_ptr<NativeStore>(new NativeStore(Check(std::move(s))));
  }

  py::dict Save(const std::vector<std::string>& names, const std::vector<std::string>& dtypes,
                const std::vector<Shape>& shapes, const py::list& views, int64_t step,
                const std::map<std::string, double>& metrics, const std::vector<std::string>& tags,
                const std::map<std::string, std::string>& metadata, const py::bytes& structure,
                const py::list& known, const py::object& progress, uintptr_t stream) {
    store();  // raises FailedPreconditionError once closed (device_ is gone then)
    const PyProgress pg(progress);
    SaveInput in("save", names, dtypes, shapes, views, step, metrics, tags, metadata, structure, known);
    in.options.progress = pg.fn();
    Result<SavedCheckpoint> saved = Status::Internal("unsaved");
    {
      py::gil_scoped_release nogil;
      saved = device_->Save(in.refs, in.options, stream);
    }
    pg.RaiseIfRaised();
    return SavedDict(Check(std::move(saved)));
  }

  // save's arguments; captures the bytes (without the GIL) and returns the handle of the persist.
  // Once it returns, the tensors behind `views` may change: the store holds its own copy.
  NativeSaveHandle SaveAsync(const std::vector<std::string>& names, const std::vector<std::string>& dtypes,
                             const std::vector<Shape>& shapes, const py::list& views, int64_t step,
                             const std::map<std::string, double>& metrics, const std::vector<std::string>& tags,
                             const std::map<std::string, std::string>& metadata, const py::bytes& structure,
                             const py::list& known, uintptr_t stream) {
    store();  // raises FailedPreconditionError once closed (device_ is gone then)
    const SaveInput in("save_async", names, dtypes, shapes, views, step, metrics, tags, metadata, structure, known);
    Result<SaveHandle> handle = Status::Internal("unsubmitted");
    {
      py::gil_scoped_release nogil;
      handle = device_->SaveAsync(in.refs, in.options, stream);
    }
    return NativeSaveHandle(Check(std::move(handle)));
  }

  // Takes and touches staging memory for asynchronous saves now (Store::ReserveStaging).
  void ReserveStaging(const std::vector<uint64_t>& tensor_bytes) {
    CallStatus([&](Store& s) { return s.ReserveStaging(tensor_bytes); });
  }

  // The steps of the pending asynchronous saves dropped, in submission order.
  std::vector<int64_t> AbandonPendingSaves() {
    return Call([&](Store& s) { return s.AbandonPendingSaves(); });
  }

  // The safetensors files `files` saved as one checkpoint (ckptdb/safetensors.h).
  py::dict ImportSafetensors(const std::vector<std::string>& files, int64_t step,
                             const std::map<std::string, double>& metrics, const std::vector<std::string>& tags,
                             const std::map<std::string, std::string>& metadata, const py::object& progress) {
    const PyProgress pg(progress);
    SaveOptions o = ImportOptions(step, metrics, tags, metadata);
    o.progress = pg.fn();
    return SavedDict(Call(pg, [&](Store& s) { return ckptdb::ImportSafetensors(s, files, o); }));
  }

  // Writes the checkpoint `which` selects to the safetensors file `path`; returns its info.
  py::dict ExportSafetensors(const py::tuple& which, const std::string& path, const py::object& progress) {
    const Selector sel = ToSelector(which);
    const PyProgress pg(progress);
    ExportOptions o;
    o.progress = pg.fn();
    return InfoDict(Call(pg, [&](Store& s) { return ckptdb::ExportSafetensors(s, sel, path, o); }));
  }

  // The save_pretrained directory `dir` saved as one checkpoint (ckptdb/hf_layout.h).
  py::dict ImportHf(const std::string& dir, int64_t step, const std::map<std::string, double>& metrics,
                    const std::vector<std::string>& tags, const std::map<std::string, std::string>& metadata) {
    const SaveOptions o = ImportOptions(step, metrics, tags, metadata);
    return SavedDict(Call([&](Store& s) { return ckptdb::ImportHf(s, dir, o); }));
  }

  // What both imports save with (they return SavedDict, as save does).
  static SaveOptions ImportOptions(int64_t step, const std::map<std::string, double>& metrics,
                                   const std::vector<std::string>& tags,
                                   const std::map<std::string, std::string>& metadata) {
    SaveOptions o;
    o.step = step;
    o.metrics = metrics;
    o.tags = tags;
    o.metadata = metadata;
    return o;
  }

  // Writes the checkpoint `which` selects as a from_pretrained directory `dir` (prefix None: auto);
  // returns its info plus "prefix", "files", "total_size".
  py::dict ExportHf(const py::tuple& which, const std::string& dir, uint64_t max_shard_size,
                    const std::optional<std::string>& prefix) {
    const Selector sel = ToSelector(which);
    HfExportOptions o;
    o.max_shard_size = max_shard_size;
    o.prefix = prefix;
    const HfExport e = Call([&](Store& s) { return ckptdb::ExportHf(s, sel, dir, o); });
    py::dict d = InfoDict(e.info);
    d["prefix"] = e.prefix;
    d["files"] = e.files;
    d["total_size"] = e.total_size;
    return d;
  }

  // Reads the tensors `names` of the checkpoint `which` straight into the memory of `views`
  // (writable flat uint8 views of tensors of `dtypes` and `shapes`). A dtype, shape or size that
  // differs from the saved one raises InvalidArgumentError naming the tensor before anything is
  // written.
  void RestoreInto(const py::tuple& which, const std::vector<std::string>& names,
                   const std::vector<std::string>& dtypes, const std::vector<Shape>& shapes, const py::list& views,
                   bool verify, const py::object& progress) {
    store();  // raises FailedPreconditionError once closed (device_ is gone then)
    const Selector sel = ToSelector(which);
    const PyProgress pg(progress);
    std::vector<DType> types;
    const std::vector<ImportedBytes> bytes = ImportViews("restore_into", names, dtypes, shapes, views, types);
    std::vector<TensorBuffer> buffers;
    for (size_t i = 0; i < names.size(); ++i)
      buffers.push_back({names[i], types[i], shapes[i], bytes[i].writable(), bytes[i].size(), bytes[i].cuda_device()});
    ReadOptions ro;
    ro.verify_chunks = verify;
    ro.progress = pg.fn();
    Status status;
    {
      py::gil_scoped_release nogil;
      status = device_->RestoreInto(sel, buffers, ro);
    }
    pg.RaiseIfRaised();
    Check(status);
  }

  py::list List() { return InfoList(Call([&](Store& s) { return s.List(); })); }
  py::dict Describe(const py::tuple& which) {
    const Selector sel = ToSelector(which);
    return ManifestDict(Call([&](Store& s) { return s.Describe(sel); }));
  }
  py::object Head() {
    const auto h = Call([&](Store& s) { return s.Head(); });
    return h ? py::cast(*h) : py::none();
  }
  void Tag(const py::tuple& which, const std::string& name) {
    const Selector sel = ToSelector(which);
    CallStatus([&](Store& s) { return s.Tag(sel, name); });
  }
  void Untag(const std::string& name) {
    CallStatus([&](Store& s) { return s.Untag(name); });
  }
  py::dict Remove(const py::tuple& which) {
    const Selector sel = ToSelector(which);
    return InfoDict(Call([&](Store& s) { return s.Remove(sel); }));
  }
  // With dry_run, what a collection would do, changing nothing (GcOptions::dry_run).
  py::dict Gc(bool dry_run, const py::object& progress) {
    const PyProgress pg(progress);
    GcOptions o;
    o.dry_run = dry_run;
    o.progress = pg.fn();
    const GcReport r = Call(pg, [&](Store& s) { return s.CollectGarbage(o); });
    py::dict d;
    d["dry_run"] = dry_run;
    d["bytes_copied"] = r.bytes_copied;
    d["reclaimed_bytes"] = r.reclaimed_bytes;
    d["chunks_deleted"] = r.chunks_deleted;
    d["packs_deleted"] = r.packs_deleted;
    d["packs_rewritten"] = r.packs_rewritten;
    d["packs_deferred"] = r.packs_deferred;
    d["live_bytes"] = r.live_bytes;
    d["checkpoints_removed"] = InfoList(r.checkpoints_removed);
    return d;
  }
  py::dict Verify(const py::object& progress) {
    const PyProgress pg(progress);
    VerifyOptions o;
    o.progress = pg.fn();
    const VerifyReport r = Call(pg, [&](Store& s) { return s.Verify(o); });
    py::dict d;
    d["checkpoints"] = r.checkpoints;
    d["chunks_checked"] = r.chunks_checked;
    d["bytes_checked"] = r.bytes_checked;
    py::list damage;
    for (const Damage& x : r.damage) {
      py::dict e;
      e["id"] = x.id;
      e["step"] = x.step;
      e["tensor"] = x.tensor;
      e["chunk_index"] = x.chunk_index;
      e["chunk"] = x.chunk.ToHex();
      e["problem"] = x.problem;
      damage.append(e);
    }
    d["damage"] = damage;
    return d;
  }
  py::dict Space() {
    const SpaceReport r = Call([&](Store& s) { return s.Space(); });
    py::dict d;
    d["logical_bytes"] = r.logical_bytes;
    d["unique_bytes"] = r.unique_bytes;
    d["disk_bytes"] = r.disk_bytes;
    d["dedup_ratio"] = r.dedup_ratio;
    py::list cps;
    for (const auto& c : r.checkpoints) {
      py::dict e;
      e["id"] = c.id;
      e["step"] = c.step;
      e["reclaimable_bytes"] = c.reclaimable_bytes;
      cps.append(e);
    }
    d["checkpoints"] = cps;
    return d;
  }
  py::dict GetPolicy() { return PolicyDict(Call([&](Store& s) { return s.GetRetention(); })); }
  void SetPolicy(uint64_t max_to_keep, uint64_t keep_every_steps, double keep_every_hours,
                 const std::optional<std::string>& best_metric, bool best_max, uint64_t best_count) {
    RetentionPolicy p;
    p.max_to_keep = max_to_keep;
    p.keep_every_steps = keep_every_steps;
    p.keep_every_hours = keep_every_hours;
    if (best_metric) p.keep_best = KeepBest{*best_metric, best_max, best_count};
    CallStatus([&](Store& s) { return s.SetRetention(p); });
  }
  py::dict Rollback(const py::tuple& which, bool discard) {
    const Selector sel = ToSelector(which);
    const RollbackReport r = Call([&](Store& s) { return s.Rollback(sel, discard); });
    py::dict d;
    d["head"] = InfoDict(r.head);
    d["abandoned"] = InfoList(r.abandoned);
    d["discarded"] = InfoList(r.discarded);
    return d;
  }
  void Close() {
    if (!store_) return;
    Status s;
    {
      py::gil_scoped_release nogil;
      s = store_->Close();
    }
    device_.reset();  // it refers to the store
    store_.reset();
    Check(s);
  }
  bool closed() const { return !store_; }
  std::string path() const { return path_; }
  bool read_only() const { return read_only_; }
  // The open store; raises FailedPreconditionError once closed.
  Store& store() {
    if (!store_) Raise(Status::FailedPrecondition("store " + path_ + " is closed"));
    return *store_;
  }

 private:
  explicit NativeStore(std::unique_ptr<Store> s)
      : store_(std::move(s)),
        device_(std::make_unique<DevicePath>(*store_)),
        path_(store_->path()),
        read_only_(store_->read_only()) {}
  // Runs f(store) without the GIL and returns its value, raising its error: first the exception
  // the progress callable of `pg` raised, if it did (the store's error is then its Aborted).
  template <typename F>
  auto Call(const PyProgress& pg, F&& f) -> decltype(Check(std::declval<std::invoke_result_t<F&, Store&>>())) {
    Store& s = store();
    std::invoke_result_t<F&, Store&> r = Status::Internal("not run");
    {
      py::gil_scoped_release nogil;
      r = f(s);
    }
    pg.RaiseIfRaised();
    return Check(std::move(r));
  }
  template <typename F>
  auto Call(F&& f) -> decltype(Check(std::declval<std::invoke_result_t<F&, Store&>>())) {
    return Call(PyProgress(py::none()), std::forward<F>(f));
  }
  template <typename F>
  void CallStatus(F&& f) {
    Store& s = store();
    Status r;
    {
      py::gil_scoped_release nogil;
      r = f(s);
    }
    Check(r);
  }

  std::unique_ptr<Store> store_;
  std::unique_ptr<DevicePath> device_;  // after store_: destroyed before it
  std::string path_;
  bool read_only_;
};

}  // namespace
}  // namespace ckptdb::python

PYBIND11_MODULE(_ckptdb, m) {
  using namespace ckptdb::python;
  m.doc() = "ckptdb's native half; use the ckptdb package";
  // True when built with CUDA: CUDA tensors then save and restore through the GPU path.
  m.attr("has_gpu_path") = HasGpuPath();
  BindDlpack(m);
  BindStateTree(m);
  BindFingerprint(m);
  py::class_<NativeSaveHandle>(m, "_SaveHandle")
      .def("wait", &NativeSaveHandle::Wait, py::arg("timeout_seconds") = py::none())
      .def("done", &NativeSaveHandle::Done)
      .def_property_readonly("step", &NativeSaveHandle::step);
  py::class_<NativeStore>(m, "_Store")
      .def_static("open", &NativeStore::Open, py::arg("path"), py::arg("create"), py::arg("chunk_size"),
                  py::arg("threads"), py::arg("read_only"), py::arg("staging_bytes") = 0,
                  py::arg("max_pending_saves") = 1)
      .def("save", &NativeStore::Save, py::arg("names"), py::arg("dtypes"), py::arg("shapes"), py::arg("views"),
           py::arg("step"), py::arg("metrics"), py::arg("tags"), py::arg("metadata"), py::arg("structure"),
           py::arg("known"), py::arg("progress") = py::none(), py::arg("stream") = 0)
      .def("save_async", &NativeStore::SaveAsync, py::arg("names"), py::arg("dtypes"), py::arg("shapes"),
           py::arg("views"), py::arg("step"), py::arg("metrics"), py::arg("tags"), py::arg("metadata"),
           py::arg("structure"), py::arg("known"), py::arg("stream") = 0)
      .def("abandon_pending_saves", &NativeStore::AbandonPendingSaves)
      .def("reserve_staging", &NativeStore::ReserveStaging, py::arg("tensor_bytes"))
      .def("restore_into", &NativeStore::RestoreInto, py::arg("which"), py::arg("names"), py::arg("dtypes"),
           py::arg("shapes"), py::arg("views"), py::arg("verify"), py::arg("progress") = py::none())
      .def("read_range",
           [](NativeStore& self, const py::tuple& which, const std::string& name, uint64_t offset, uint64_t length,
              bool verify) { return ReadRange(self.store(), which, name, offset, length, verify); })
      .def("diff", [](NativeStore& self, const py::tuple& a, const py::tuple& b, bool stats,
                      bool verify) { return Diff(self.store(), a, b, stats, verify); })
      .def("import_safetensors", &NativeStore::ImportSafetensors, py::arg("files"), py::arg("step"),
           py::arg("metrics"), py::arg("tags"), py::arg("metadata"), py::arg("progress") = py::none())
      .def("export_safetensors", &NativeStore::ExportSafetensors, py::arg("which"), py::arg("path"),
           py::arg("progress") = py::none())
      .def("import_hf", &NativeStore::ImportHf)
      .def("export_hf", &NativeStore::ExportHf)
      .def("list", &NativeStore::List)
      .def("describe", &NativeStore::Describe)
      .def("head", &NativeStore::Head)
      .def("tag", &NativeStore::Tag)
      .def("untag", &NativeStore::Untag)
      .def("remove", &NativeStore::Remove)
      .def("gc", &NativeStore::Gc, py::arg("dry_run") = false, py::arg("progress") = py::none())
      .def("verify", &NativeStore::Verify, py::arg("progress") = py::none())
      .def("space", &NativeStore::Space)
      .def("get_policy", &NativeStore::GetPolicy)
      .def("set_policy", &NativeStore::SetPolicy)
      .def("rollback", &NativeStore::Rollback)
      .def("close", &NativeStore::Close)
      .def_property_readonly("closed", &NativeStore::closed)
      .def_property_readonly("path", &NativeStore::path)
      .def_property_readonly("read_only", &NativeStore::read_only);
}
