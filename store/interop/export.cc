// ExportSafetensors: the header from the manifest, then the bytes one window of chunks at a time
// (store/stream_read.h) into a sink: the atomic file writer, a file descriptor or an ostream. Memory
// stays bounded by the window whatever the sink; every sink gets the same bytes.
#include <cerrno>
#include <cstring>
#include <optional>
#include <ostream>
#include <vector>

#include "ckptdb/safetensors.h"
#include "store/interop/safetensors_header.h"
#include "store/interop/safetensors_writer.h"
#include "store/interop/sigpipe_guard.h"
#include "store/no_throw.h"
#include "store/progress_reporter.h"
#include "store/stream_read.h"

namespace ckptdb {
namespace {

// Where an export's bytes go: Begin once with the layout, Append the data section in order, Finish.
class ExportSink {
 public:
  virtual ~ExportSink() = default;
  virtual Status Begin(std::span<const TensorRef> layout, const std::map<std::string, std::string>& metadata) = 0;
  virtual Status Append(std::span<const uint8_t> bytes) = 0;
  virtual Status Finish() = 0;
};

class FileSink final : public ExportSink {
 public:
  explicit FileSink(std::string path) : path_(std::move(path)) {}
  Status Begin(std::span<const TensorRef> layout, const std::map<std::string, std::string>& metadata) override {
    auto w = SafetensorsWriter::Create(path_, layout, metadata);
    if (!w.ok()) return w.status();
    writer_.emplace(std::move(w).value());
    return Status::OK();
  }
  Status Append(std::span<const uint8_t> bytes) override { return writer_->Append(bytes.data(), bytes.size()); }
  Status Finish() override { return writer_->Finish(); }

 private:
  const std::string path_;
  std::optional<SafetensorsWriter> writer_;
};

// A stream cannot be renamed into place: its bytes go out as they come, the header first.
class StreamSink : public ExportSink {
 public:
  explicit StreamSink(std::string name) : name_(std::move(name)) {}
  Status Begin(std::span<const TensorRef> layout, const std::map<std::string, std::string>& metadata) override {
    auto header = EncodeSafetensorsHeader(layout, metadata);
    if (!header.ok()) return header.status().WithContext(name_);
    return Append(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(header->data()), header->size()));
  }

 protected:
  const std::string name_;
};

class FdSink final : public StreamSink {
 public:
  explicit FdSink(int fd) : StreamSink(Name(fd)), fd_(fd) {}
  Status Append(std::span<const uint8_t> bytes) override {
    if (WriteAllToFd(fd_, bytes.data(), bytes.size())) return Status::OK();
    const int err = errno;
    return Status::IOError(name_ + ": cannot write: " + std::strerror(err));
  }
  Status Finish() override { return Status::OK(); }

 private:
  static std::string Name(int fd) {
    const char* std_names[] = {" (standard input)", " (standard output)", " (standard error)"};
    return "file descriptor " + std::to_string(fd) + (fd >= 0 && fd <= 2 ? std_names[fd] : "");
  }
  const int fd_;
};

class OstreamSink final : public StreamSink {
 public:
  explicit OstreamSink(std::ostream& out) : StreamSink("the output stream"), out_(out) {}
  Status Append(std::span<const uint8_t> bytes) override {
    errno = 0;
    if (out_) out_.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    return Check("cannot write");
  }
  Status Finish() override {
    errno = 0;
    if (out_) out_.flush();
    return Check("cannot flush");
  }

 private:
  // A stream keeps only a failure flag; errno, read at once, is the failed call's reason when the
  // stream is a file stream (what a C++ stream gives no better than this).
  Status Check(const char* what) {
    const int err = errno;
    if (out_) return Status::OK();
    return Status::IOError(name_ + ": " + what + (err != 0 ? std::string(": ") + std::strerror(err) : std::string()));
  }
  std::ostream& out_;
};

Result<CheckpointInfo> Export(Store& store, const Selector& which, const ExportOptions& options,
                              const std::string& doing, ExportSink& sink) {
  return NoThrow(store.path(), doing, [&]() -> Result<CheckpointInfo> {
    CheckpointInfo info;
    std::optional<ProgressReporter> progress;
    auto begin = [&](const CheckpointManifest& m) -> Status {
      info = m.info;
      std::vector<TensorRef> layout;  // the header needs names, dtypes, shapes and sizes only
      for (const TensorInfo& t : m.tensors) layout.push_back({t.name, t.dtype, t.shape, nullptr, t.size_bytes});
      progress.emplace(options.progress, m.info.logical_bytes);
      return sink.Begin(layout, m.metadata);
    };
    auto write = [&](std::span<const uint8_t> bytes) -> Status {
      if (Status s = sink.Append(bytes); !s.ok()) return s;
      progress->Add(bytes.size());
      return progress->status();
    };
    ReadOptions read;
    read.verify_chunks = options.verify_chunks;
    if (Status s = StreamCheckpoint(store, which, options.window_bytes, read, begin, write); !s.ok()) return s;
    if (Status s = sink.Finish(); !s.ok()) return s;
    progress->Finish().IgnoreError();  // written: the final call cannot undo the export
    return info;
  });
}

}  // namespace

Result<CheckpointInfo> ExportSafetensors(Store& store, const Selector& which, const std::string& path,
                                         const ExportOptions& options) {
  FileSink sink(path);
  return Export(store, which, options, "exporting a checkpoint to " + path, sink);
}

Result<CheckpointInfo> ExportSafetensors(Store& store, const Selector& which, std::ostream& out,
                                         const ExportOptions& options) {
  OstreamSink sink(out);
  SigpipeGuard no_sigpipe;  // an ostream over a pipe writes on this thread too
  return Export(store, which, options, "exporting a checkpoint to a stream", sink);
}

Result<CheckpointInfo> ExportSafetensorsToFd(Store& store, const Selector& which, int fd,
                                             const ExportOptions& options) {
  FdSink sink(fd);
  SigpipeGuard no_sigpipe;
  return Export(store, which, options, "exporting a checkpoint to file descriptor " + std::to_string(fd), sink);
}

}  // namespace ckptdb
