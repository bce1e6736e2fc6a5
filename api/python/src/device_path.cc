#include "api/python/src/device_path.h"

#ifdef CKPTDB_PY_GPU
#include "gpu/device_restore.h"
#include "gpu/device_saver.h"
#endif

namespace ckptdb::python {
namespace {

template <typename T>
const T* FirstOnDevice(std::span<const T> items) {
  for (const T& t : items)
    if (t.cuda_device != kHostMemory) return &t;
  return nullptr;
}

template <typename T>
Status NoGpuPath(const T& t) {
  return Status::FailedPrecondition("tensor '" + t.name + "' is in the memory of CUDA device " +
                                    std::to_string(t.cuda_device) +
                                    ", but this build of ckptdb has no GPU path (it was built without nvcc); "
                                    "move the tensors to the CPU first");
}

}  // namespace

#ifdef CKPTDB_PY_GPU
struct DevicePath::Saver {
  explicit Saver(Store& s) : saver(s) {}
  gpu::DeviceSaver saver;
};
bool HasGpuPath() { return true; }
#else
struct DevicePath::Saver {};
bool HasGpuPath() { return false; }
#endif

DevicePath::DevicePath(Store& store) : store_(store) {}
DevicePath::~DevicePath() = default;

#ifdef CKPTDB_PY_GPU
DevicePath::Saver& DevicePath::saver() {
  std::lock_guard<std::mutex> l(mu_);
  if (!saver_) saver_ = std::make_unique<Saver>(store_);
  return *saver_;
}
#endif

Result<SavedCheckpoint> DevicePath::Save(std::span<const TensorRef> tensors, const SaveOptions& options,
                                         uintptr_t stream) {
  const TensorRef* on_device = FirstOnDevice(tensors);
  if (!on_device) return store_.Save(tensors, options);
#ifdef CKPTDB_PY_GPU
  return saver().saver.Save(tensors, options, reinterpret_cast<void*>(stream));
#else
  (void)stream;
  return NoGpuPath(*on_device);
#endif
}

Result<SaveHandle> DevicePath::SaveAsync(std::span<const TensorRef> tensors, const SaveOptions& options,
                                         uintptr_t stream) {
  const TensorRef* on_device = FirstOnDevice(tensors);
  if (!on_device) return store_.SaveAsync(tensors, options);
#ifdef CKPTDB_PY_GPU
  return saver().saver.SaveAsync(tensors, options, reinterpret_cast<void*>(stream));
#else
  (void)stream;
  return NoGpuPath(*on_device);
#endif
}

Status DevicePath::RestoreInto(const Selector& which, std::span<const TensorBuffer> buffers, const ReadOptions& options) {
  const TensorBuffer* on_device = FirstOnDevice(buffers);
  if (!on_device) return store_.RestoreInto(which, buffers, options);
#ifdef CKPTDB_PY_GPU
  return gpu::RestoreIntoDevice(store_, which, buffers, options);
#else
  return NoGpuPath(*on_device);
#endif
}

}  // namespace ckptdb::python
