// Specifies api/ckptdb/safetensors.h: importing files as one checkpoint and exporting one back, the
// inputs that are refused (FIFOs, directories, devices, files truncated mid-read) and the errors of
// an export. The export's memory bound is in safetensors_export_memory_test.cc.
#include "ckptdb/safetensors.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "ckptdb/ckptdb.h"
#include "store/interop/safetensors_file.h"
#include "store/interop/safetensors_writer.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

namespace fs = std::filesystem;
using testing::ReadFileOrDie;
using testing::ScratchDir;

struct Owned {
  std::string name;
  DType dtype;
  Shape shape;
  std::vector<uint8_t> bytes;
  TensorRef ref() const { return {name, dtype, shape, bytes.data(), bytes.size()}; }
};
Owned Random(std::string name, DType dtype, Shape shape, uint64_t seed) {
  const uint64_t n = ExpectedBytes(dtype, shape).value();
  Owned t{std::move(name), dtype, std::move(shape), testing::RandomBytes(seed, n)};
  if (dtype == DType::kBool)
    for (uint8_t& b : t.bytes) b &= 1;
  return t;
}
std::vector<TensorRef> Refs(const std::vector<Owned>& ts) {
  std::vector<TensorRef> r;
  for (const Owned& t : ts) r.push_back(t.ref());
  return r;
}

class SafetensorsInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.chunk_size = 64 << 10;  // the smallest, so small tensors span several chunks
    auto s = Store::Open(dir_.Join("store"), o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  std::string Write(const std::string& name, const std::vector<Owned>& ts, const std::map<std::string, std::string>& md = {}) {
    const std::string path = dir_.Join(name);
    EXPECT_TRUE(WriteSafetensors(path, Refs(ts), md).ok());
    return path;
  }
  size_t Checkpoints() { return store_->List().value().size(); }
  // `s` failed with `code` in one line that contains each of `names`.
  static void ExpectFails(const Status& s, Code code, const std::vector<std::string>& names) {
    EXPECT_EQ(s.code(), code) << s.ToString();
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
    for (const auto& n : names) EXPECT_NE(s.message().find(n), std::string::npos) << "no '" << n << "' in: " << s.message();
  }

  ScratchDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(SafetensorsInterop, ImportsSeveralFilesAsOneCheckpointWithTheirMetadata) {
  const std::vector<Owned> a = {Random("embed", DType::kF32, {100, 1000}, 1), Random("scalar", DType::kF64, {}, 2)};
  const std::vector<Owned> b = {Random("empty", DType::kI8, {0, 4}, 3), Random("mask", DType::kBool, {9}, 4)};
  const std::vector<std::string> files = {Write("a.safetensors", a, {{"format", "pt"}, {"a", "1"}}),
                                          Write("b.safetensors", b, {{"format", "pt"}})};
  SaveOptions o;
  o.step = 7;
  o.tags = {"imported"};
  o.metadata = {{"run", "r1"}, {"format", "pt"}};
  auto saved = ImportSafetensors(*store_, files, o);
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  EXPECT_EQ(saved->step, 7);
  EXPECT_EQ(saved->tensor_count, 4u);
  EXPECT_EQ(saved->tags, std::vector<std::string>{"imported"});
  auto m = store_->Describe(Selector::Id(saved->id));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->metadata, (std::map<std::string, std::string>{{"a", "1"}, {"format", "pt"}, {"run", "r1"}}));
  auto r = store_->Restore(Selector::Id(saved->id));
  ASSERT_TRUE(r.ok());
  std::vector<Owned> all = a;
  all.insert(all.end(), b.begin(), b.end());
  ASSERT_EQ(r->size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ((*r)[i].name, all[i].name);  // files in the order given, each in its byte order
    EXPECT_EQ((*r)[i].dtype, all[i].dtype);
    EXPECT_EQ((*r)[i].shape, all[i].shape);
    ASSERT_EQ((*r)[i].bytes.size(), all[i].bytes.size());
    EXPECT_EQ(std::memcmp((*r)[i].bytes.data(), all[i].bytes.data(), all[i].bytes.size()), 0) << all[i].name;
  }
}

TEST_F(SafetensorsInterop, ReadMergesFilesAndRefusesATensorOrMetadataKeyTheyDisagreeOn) {
  const std::string a = Write("a.safetensors", {Random("w", DType::kU8, {3}, 1)}, {{"k", "1"}});
  const std::string b = Write("b.safetensors", {Random("v", DType::kU8, {2}, 2)}, {{"k", "1"}, {"j", "2"}});
  const std::vector<std::string> ab = {a, b};
  auto read = SafetensorsFiles::Read(ab);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->tensors().size(), 2u);
  EXPECT_EQ(read->tensors()[0].name, "w");
  EXPECT_EQ(read->tensors()[1].name, "v");
  EXPECT_EQ(read->metadata(), (std::map<std::string, std::string>{{"j", "2"}, {"k", "1"}}));
  const std::string c = Write("c.safetensors", {Random("w", DType::kU8, {3}, 3)});
  const std::string d = Write("d.safetensors", {Random("x", DType::kU8, {1}, 4)}, {{"k", "2"}});
  const std::vector<std::string> ac = {a, c}, ad = {a, d};
  ExpectFails(SafetensorsFiles::Read(ac).status(), Code::kInvalidArgument, {"tensor 'w'", a, c});
  ExpectFails(SafetensorsFiles::Read(ad).status(), Code::kInvalidArgument, {"metadata key 'k'", a, d});
  ExpectFails(ImportSafetensors(*store_, ad, {}).status(), Code::kInvalidArgument, {"metadata key 'k'", a, d});
  EXPECT_EQ(Checkpoints(), 0u);
}

TEST_F(SafetensorsInterop, ImportRefusesMetadataThatDiffersFromTheOptionsAndSavesNothing) {
  const std::string a = Write("a.safetensors", {Random("w", DType::kU8, {3}, 1)}, {{"epoch", "1"}});
  SaveOptions o;
  o.metadata = {{"epoch", "2"}};
  const std::vector<std::string> files = {a};
  ExpectFails(ImportSafetensors(*store_, files, o).status(), Code::kInvalidArgument, {"metadata key 'epoch'", a});
  EXPECT_EQ(Checkpoints(), 0u);
}

TEST_F(SafetensorsInterop, ImportOfNoFilesOrAMissingOneFailsAndSavesNothing) {
  ExpectFails(ImportSafetensors(*store_, std::vector<std::string>{}, {}).status(), Code::kInvalidArgument, {"no safetensors files"});
  const std::vector<std::string> missing = {dir_.Join("absent.safetensors")};
  ExpectFails(ImportSafetensors(*store_, missing, {}).status(), Code::kNotFound, {missing[0]});
  EXPECT_EQ(Checkpoints(), 0u);
}

// A FIFO would block an open for reading until some writer appears. If the code under test does
// block, a helper opens the FIFO after a while to release it, so the failure is reported, not hung.
TEST_F(SafetensorsInterop, AFifoIsRefusedWithoutBlocking) {
  const std::string fifo = dir_.Join("pipe.safetensors");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0) << std::strerror(errno);
  std::atomic<bool> done{false}, released{false};
  std::thread unblocker([&] {
    for (int i = 0; i < 100 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (done) return;
    released = true;
    int fd = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (fd >= 0) ::close(fd);
  });
  const std::vector<std::string> files = {fifo};
  Status s = ImportSafetensors(*store_, files, {}).status();
  done = true;
  unblocker.join();
  EXPECT_FALSE(released) << "reading the FIFO blocked until a writer opened it";
  ExpectFails(s, Code::kInvalidArgument, {fifo + ": is a FIFO, not a regular file"});
  EXPECT_EQ(Checkpoints(), 0u);
}

TEST_F(SafetensorsInterop, ADirectoryADeviceOrASocketIsRefused) {
  const std::string d = dir_.Join("dir.safetensors");
  fs::create_directory(d);
  const std::string sock = dir_.Join("s.safetensors");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, sock.c_str(), sock.size() + 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  const std::vector<std::string> dir = {d}, dev = {"/dev/zero"}, socket = {sock};
  ExpectFails(SafetensorsFiles::Read(dir).status(), Code::kInvalidArgument, {d + ": is a directory, not a regular file"});
  ExpectFails(SafetensorsFiles::Read(dev).status(), Code::kInvalidArgument, {"/dev/zero: is a character device"});
  ExpectFails(SafetensorsFiles::Read(socket).status(), Code::kInvalidArgument, {sock + ": is a socket"});
  ::close(fd);
}

// The data section is held in memory: one larger than memory allows is ResourceExhausted, not a
// crash. The file is sparse (a 1 GiB tensor of zeros takes no disk), the child's address space small.
uint64_t AddressSpaceBytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) << 10;  // "VmSize:   1234 kB"
  return 0;
}

// No store is open here (the fixture's would have threads): the child must be forked from one thread.
TEST(SafetensorsFilesMemory, AFileLargerThanMemoryAllowsIsResourceExhausted) {
  ScratchDir dir;
  const std::string path = dir.Join("huge.safetensors");
  std::string header = R"({"z":{"dtype":"U8","shape":[1073741824],"data_offsets":[0,1073741824]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = char(uint8_t(header.size() >> (8 * i)));
  testing::WriteFileOrDie(path, prefix + header);
  fs::resize_file(path, 8 + header.size() + (1ull << 30));
  const std::string got = testing::InChild([&] {
    const rlimit limit{AddressSpaceBytes() + (256 << 20), RLIM_INFINITY};
    if (::setrlimit(RLIMIT_AS, &limit) != 0) return std::string("cannot set RLIMIT_AS");
    const std::vector<std::string> files = {path};
    return SafetensorsFiles::Read(files).status().ToString();
  });
  EXPECT_NE(got.find("Resource exhausted: out of memory reading safetensors files"), std::string::npos) << got;
  EXPECT_NE(got.find(path), std::string::npos) << got;
}

TEST_F(SafetensorsInterop, AFileTruncatedWhileBeingReadIsAnIOErrorNamingIt) {
  const std::string path = Write("t.safetensors", {Random("w", DType::kF32, {1000}, 1)});
  const uint64_t size = fs::file_size(path);
  auto f = SafetensorsFile::OpenWithHook(path, [&] { fs::resize_file(path, size - 100); });
  ASSERT_FALSE(f.ok());
  ExpectFails(f.status(), Code::kIOError, {path + ": truncated while being read", std::to_string(size)});
}

TEST_F(SafetensorsInterop, ExportWritesExactlyWhatTheWholeFileWriterWrites) {
  // 300,000 bytes span five 64 KiB chunks, and a 1-byte window is raised to one chunk: the export
  // is read in many pieces, splitting tensors, and must still match the whole-file writer byte for byte.
  const std::vector<Owned> ts = {Random("big", DType::kBF16, {150000}, 1), Random("s", DType::kI64, {}, 2),
                                 Random("e", DType::kF16, {0}, 3), Random("tail", DType::kU8, {70000}, 4)};
  SaveOptions o;
  o.step = 3;
  o.metadata = {{"format", "pt"}};
  auto saved = store_->Save(Refs(ts), o);
  ASSERT_TRUE(saved.ok());
  const std::string want = Write("want.safetensors", ts, o.metadata);
  for (uint64_t window : {uint64_t(1), uint64_t(200000), uint64_t(64) << 20}) {
    SCOPED_TRACE(window);
    const std::string out = dir_.Join("out.safetensors");
    ExportOptions eo;
    eo.window_bytes = window;
    auto info = ExportSafetensors(*store_, Selector::Latest(), out, eo);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->id, saved->id);
    EXPECT_EQ(info->step, 3);
    EXPECT_EQ(info->tensor_count, 4u);
    EXPECT_EQ(ReadFileOrDie(out), ReadFileOrDie(want));
  }
}

TEST_F(SafetensorsInterop, ExportFromAReadOnlyStore) {
  const std::vector<Owned> ts = {Random("w", DType::kF32, {5}, 1)};
  ASSERT_TRUE(store_->Save(Refs(ts), {}).ok());
  auto reader = Store::OpenReadOnly(dir_.Join("store"));
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const std::string out = dir_.Join("ro.safetensors");
  ASSERT_TRUE(ExportSafetensors(**reader, Selector::Latest(), out).ok());
  EXPECT_EQ(ReadFileOrDie(out), ReadFileOrDie(Write("want.safetensors", ts)));
}

TEST_F(SafetensorsInterop, ExportErrorsNameTheirCauseAndLeaveNoFile) {
  const std::string out = dir_.Join("x.safetensors");
  ExpectFails(ExportSafetensors(*store_, Selector::Step(5), out).status(), Code::kNotFound, {"step 5", dir_.Join("store")});
  ASSERT_TRUE(store_->Save(std::vector<TensorRef>{Random("w", DType::kU8, {2}, 1).ref()}, {}).ok());
  const std::string nowhere = dir_.Join("no/such/dir/x.safetensors");
  ExpectFails(ExportSafetensors(*store_, Selector::Latest(), nowhere).status(), Code::kIOError, {nowhere});
  const Owned reserved = Random("__metadata__", DType::kU8, {2}, 2);
  ASSERT_TRUE(store_->Save(std::vector<TensorRef>{reserved.ref()}, {}).ok());
  testing::WriteFileOrDie(out, "the old file");
  ExpectFails(ExportSafetensors(*store_, Selector::Latest(), out).status(), Code::kInvalidArgument, {out, "'__metadata__'"});
  EXPECT_EQ(ReadFileOrDie(out), "the old file");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_.path()), fs::directory_iterator()), 2) << "a temporary was left";
}

// A damaged chunk fails the export as it fails a restore, and leaves PATH alone; without
// verify_chunks the bytes are exported as they are read.
TEST_F(SafetensorsInterop, ADamagedChunkIsCorruptionUnlessVerificationIsOff) {
  const Owned w = Random("w", DType::kU8, {64 << 10}, 1);  // one chunk, at the start of the only pack
  ASSERT_TRUE(store_->Save(std::vector<TensorRef>{w.ref()}, {}).ok());
  std::vector<fs::path> packs;
  for (const auto& e : fs::directory_iterator(dir_.Join("store/packs"))) packs.push_back(e.path());
  ASSERT_EQ(packs.size(), 1u);
  std::string pack = ReadFileOrDie(packs[0].string());
  pack[10] ^= 1;
  testing::WriteFileOrDie(packs[0].string(), pack);
  const std::string out = dir_.Join("x.safetensors");
  testing::WriteFileOrDie(out, "the old file");
  ExpectFails(ExportSafetensors(*store_, Selector::Latest(), out).status(), Code::kCorruption,
              {"tensor 'w'", "chunk 0", "does not match its digest"});
  EXPECT_EQ(ReadFileOrDie(out), "the old file");
  ExportOptions unverified;
  unverified.verify_chunks = false;
  ASSERT_TRUE(ExportSafetensors(*store_, Selector::Latest(), out, unverified).ok());
  Owned damaged = w;
  damaged.bytes[10] ^= 1;
  EXPECT_EQ(ReadFileOrDie(out), ReadFileOrDie(Write("want.safetensors", {damaged})));
}

// A Store that is not the library's own (a caller's wrapper) cannot be streamed from.
class Wrapper final : public Store {
 public:
  explicit Wrapper(Store& s) : s_(s) {}
  Result<SavedCheckpoint> Save(std::span<const TensorRef> t, const SaveOptions& o) override { return s_.Save(t, o); }
  Result<SaveHandle> SaveAsync(std::span<const TensorRef> t, const SaveOptions& o) override {
    return s_.SaveAsync(t, o);
  }
  Status ReserveStaging(std::span<const uint64_t> b) override { return s_.ReserveStaging(b); }
  Result<std::vector<int64_t>> AbandonPendingSaves() override { return s_.AbandonPendingSaves(); }
  Result<std::vector<CheckpointInfo>> List() override { return s_.List(); }
  Result<CheckpointManifest> Describe(const Selector& w) override { return s_.Describe(w); }
  Result<std::vector<Tensor>> Restore(const Selector& w, const ReadOptions& o) override { return s_.Restore(w, o); }
  Status RestoreInto(const Selector& w, std::span<const TensorBuffer> b, const ReadOptions& o) override {
    return s_.RestoreInto(w, b, o);
  }
  Result<RangeReadReport> ReadTensorRange(const Selector& w, const std::string& n, uint64_t off, std::span<uint8_t> dst,
                                          const ReadOptions& o) override {
    return s_.ReadTensorRange(w, n, off, dst, o);
  }
  Status Tag(const Selector& w, const std::string& n) override { return s_.Tag(w, n); }
  Status Untag(const std::string& n) override { return s_.Untag(n); }
  Result<CheckpointInfo> Remove(const Selector& w) override { return s_.Remove(w); }
  Result<GcReport> CollectGarbage(const GcOptions& o) override { return s_.CollectGarbage(o); }
  Result<RetentionPolicy> GetRetention() override { return s_.GetRetention(); }
  Status SetRetention(const RetentionPolicy& p) override { return s_.SetRetention(p); }
  Result<std::optional<CheckpointId>> Head() override { return s_.Head(); }
  Result<RollbackReport> Rollback(const Selector& w, bool d) override { return s_.Rollback(w, d); }
  Result<VerifyReport> Verify(const VerifyOptions& o) override { return s_.Verify(o); }
  Result<SpaceReport> Space() override { return s_.Space(); }
  Status WaitForBackgroundWork() override { return s_.WaitForBackgroundWork(); }
  Status Refresh() override { return s_.Refresh(); }
  bool read_only() const override { return s_.read_only(); }
  Status Close() override { return Status::OK(); }
  const std::string& path() const override { return s_.path(); }
  uint64_t chunk_size() const override { return s_.chunk_size(); }

 private:
  Store& s_;
};

TEST_F(SafetensorsInterop, ExportNeedsAStoreTheLibraryOpened) {
  ASSERT_TRUE(store_->Save(std::vector<TensorRef>{Random("w", DType::kU8, {1}, 1).ref()}, {}).ok());
  Wrapper w(*store_);
  const std::string out = dir_.Join("x.safetensors");
  ExpectFails(ExportSafetensors(w, Selector::Latest(), out).status(), Code::kInvalidArgument, {"Store::Open"});
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace ckptdb
