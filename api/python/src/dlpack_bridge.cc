// DLPack in and out (dlpack_bridge.h). The capsule rules are the protocol's: a consumer renames a
// "dltensor" capsule to "used_dltensor" and from then on owns the DLManagedTensor (calls its
// deleter); a capsule still named "dltensor" when it dies was never consumed and frees its tensor.
#include "api/python/src/dlpack_bridge.h"

#include <dlpack/dlpack.h>

#include <memory>
#include <utility>

namespace py = pybind11;

namespace ckptdb::python {
namespace {

constexpr const char* kCapsule = "dltensor";
constexpr const char* kUsedCapsule = "used_dltensor";

// What an exported DLManagedTensor owns: the bytes and the one-element shape array.
struct ExportContext {
  Buffer bytes;
  int64_t shape[1];
  DLManagedTensor managed;
};

void DeleteExport(DLManagedTensor* self) { delete static_cast<ExportContext*>(self->manager_ctx); }

void DeleteUnconsumedCapsule(PyObject* capsule) {
  if (!PyCapsule_IsValid(capsule, kCapsule)) return;  // consumed: the importer owns it now
  auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, kCapsule));
  if (managed && managed->deleter) managed->deleter(managed);
}

// The Python face of ExportBytes: hands its bytes to the first importer.
class Exported {
 public:
  explicit Exported(Buffer bytes) : bytes_(std::make_unique<Buffer>(std::move(bytes))) {}

  py::object DlPack(const py::args&, const py::kwargs&) {
    if (!bytes_) throw py::value_error("ckptdb: these restored bytes were already handed to an importer");
    auto ctx = std::make_unique<ExportContext>();
    ctx->bytes = std::move(*bytes_);
    bytes_.reset();
    ctx->shape[0] = int64_t(ctx->bytes.size());
    DLTensor& t = ctx->managed.dl_tensor;
    t.data = ctx->bytes.data();
    t.device = {kDLCPU, 0};
    t.ndim = 1;
    t.dtype = {kDLUInt, 8, 1};
    t.shape = ctx->shape;
    t.strides = nullptr;  // compact
    t.byte_offset = 0;
    ctx->managed.manager_ctx = ctx.get();
    ctx->managed.deleter = DeleteExport;
    DLManagedTensor* managed = &ctx->managed;
    PyObject* capsule = PyCapsule_New(managed, kCapsule, DeleteUnconsumedCapsule);
    if (!capsule) throw py::error_already_set();
    ctx.release();  // the capsule, then its importer, owns it
    return py::reinterpret_steal<py::object>(capsule);
  }
  py::tuple Device() const { return py::make_tuple(int(kDLCPU), 0); }

 private:
  std::unique_ptr<Buffer> bytes_;
};

}  // namespace

ImportedBytes::ImportedBytes(const py::handle& obj, const std::string& what) {
  py::object capsule = obj.attr("__dlpack__")();
  if (!PyCapsule_IsValid(capsule.ptr(), kCapsule))
    throw py::value_error(what + ": __dlpack__ did not return a DLPack capsule");
  auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), kCapsule));
  if (!managed) throw py::error_already_set();
  if (PyCapsule_SetName(capsule.ptr(), kUsedCapsule) != 0) throw py::error_already_set();
  managed_ = managed;  // ours from here on: the destructor runs its deleter
  const DLTensor& t = managed->dl_tensor;
  if (t.device.device_type == kDLCUDA)
    cuda_device_ = t.device.device_id;
  else if (t.device.device_type != kDLCPU && t.device.device_type != kDLCUDAHost)
    throw py::value_error(what + ": only CPU and CUDA memory can be saved (DLPack device type " +
                          std::to_string(int(t.device.device_type)) + ")");
  if (t.ndim != 1 || t.dtype.code != kDLUInt || t.dtype.bits != 8 || t.dtype.lanes != 1)
    throw py::value_error(what + ": expected a flat uint8 view of the tensor's bytes");
  if (t.strides && t.shape[0] > 1 && t.strides[0] != 1)
    throw py::value_error(what + ": the byte view is not contiguous");
  data_ = static_cast<const uint8_t*>(t.data) + t.byte_offset;
  size_ = uint64_t(t.shape[0]);
}

ImportedBytes::ImportedBytes(ImportedBytes&& other) noexcept
    : managed_(std::exchange(other.managed_, nullptr)),
      data_(other.data_),
      size_(other.size_),
      cuda_device_(other.cuda_device_) {}

ImportedBytes::~ImportedBytes() {
  auto* managed = static_cast<DLManagedTensor*>(managed_);
  if (managed && managed->deleter) managed->deleter(managed);
}

py::object ExportBytes(Buffer bytes) { return py::cast(Exported(std::move(bytes))); }

void BindDlpack(py::module_& m) {
  py::class_<Exported>(m, "_RestoredBytes")
      .def("__dlpack__", &Exported::DlPack)
      .def("__dlpack_device__", &Exported::Device);
}

}  // namespace ckptdb::python
