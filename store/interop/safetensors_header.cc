#include "tools/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "tools/json.h"

namespace ckptdb {
namespace {

constexpr std::string_view kMetadataKey = "__metadata__";

std::string Num(uint64_t v) { return std::to_string(v); }
// Built by appending: GCC 12 at -O3 misreads `"x" + std::string` as an overlapping copy (-Wrestrict).
std::string Quoted(std::string_view name) {
  std::string s(1, '\'');
  s.append(json::Printable(name)).push_back('\'');
  return s;
}
std::string Offsets(uint64_t b, uint64_t e) {
  std::string s(1, '[');
  s.append(Num(b)).append(", ").append(Num(e)).push_back(']');
  return s;
}

std::string_view TypeName(const json::Value& v) {
  static constexpr std::string_view kNames[] = {"null", "bool", "number", "string", "array", "object"};
  return kNames[static_cast<int>(v.type())];
}
// A JSON value as it would appear in the file, kept short for a one-line message.
std::string Show(const json::Value& v) { return json::Printable(json::ToJson(v), 40); }

struct ParsedHeader {
  std::vector<SafetensorsEntry> tensors;
  std::map<std::string, std::string> metadata;
};

// One tensor's header entry, checked on its own; `data_size` is the data section's length.
Result<SafetensorsEntry> ParseEntry(const std::string& name, const json::Value& v, uint64_t data_size) {
  const std::string who = "tensor " + Quoted(name);
  auto bad = [&](const std::string& what) { return Status::Corruption(who + ": " + what); };
  if (name.empty()) return Status::Corruption("a tensor has an empty name");
  if (!v.is_object()) return bad("entry is " + std::string(TypeName(v)) + ", not an object");
  for (const auto& [field, unused] : v.as_object())
    if (field != "dtype" && field != "shape" && field != "data_offsets") return bad("unexpected field " + Quoted(field));
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!v.find(field)) return bad(std::string("missing field '") + field + "'");

  SafetensorsEntry e;
  e.name = name;
  const json::Value& dtype = *v.find("dtype");
  if (!dtype.is_string()) return bad("dtype is " + Show(dtype) + ", not a string");
  auto parsed = ParseDType(dtype.as_string());
  if (!parsed) return Status::Corruption("unknown dtype " + Quoted(dtype.as_string()) + " for " + who);
  e.dtype = *parsed;

  const json::Value& shape = *v.find("shape");
  if (!shape.is_array()) return bad("shape is " + Show(shape) + ", not an array");
  for (const json::Value& d : shape.as_array()) {
    // Integer literals only: the reference reads usize and rejects 2.0 and -1 alike.
    if (!d.is_int64() || d.as_int64() < 0)
      return bad("shape " + Show(shape) + " has entry " + Show(d) + ", not a non-negative integer");
    e.shape.push_back(d.as_int64());
  }

  const json::Value& offsets = *v.find("data_offsets");
  const auto& o = offsets.as_array();
  if (o.size() != 2 || !o[0].is_uint64() || !o[1].is_uint64())
    return bad("data_offsets " + Show(offsets) + " is not [begin, end] with two non-negative integers");
  e.begin = o[0].as_uint64();
  e.end = o[1].as_uint64();
  const std::string where = "data_offsets " + Offsets(e.begin, e.end);
  if (e.end < e.begin) return bad(where + " end before they begin");
  const std::string what = "shape " + ShapeToString(e.shape) + " of " + std::string(DTypeName(e.dtype));
  auto need = ExpectedBytes(e.dtype, e.shape);
  if (!need) return bad(what + " has more than 2^64 bytes");
  if (e.end - e.begin != *need)
    return bad(where + " hold " + Num(e.end - e.begin) + " bytes but " + what + " needs " + Num(*need));
  if (e.end > data_size)
    return bad(where + " run past the end of the data section (" + Num(data_size) +
               " bytes; is the file truncated?)");
  return e;
}

// Validates a whole file image (`size` >= 8 bytes at `base`). Messages lack the path prefix.
Result<ParsedHeader> ParseFile(const uint8_t* base, uint64_t size, uint64_t* header_length) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | base[i];  // little-endian, whatever the host
  if (n > kSafetensorsMaxHeaderBytes)
    return Status::Corruption("header length " + Num(n) + " exceeds the " + Num(kSafetensorsMaxHeaderBytes) +
                              "-byte limit");
  if (n > size - 8)
    return Status::Corruption("header length " + Num(n) + " runs past the end of the file (" + Num(size) +
                              " bytes)");
  *header_length = n;
  std::string_view text(reinterpret_cast<const char*>(base + 8), n);
  // The reference requires '{' first; JSON alone would also allow leading whitespace.
  if (text.empty() || text[0] != '{') return Status::Corruption("header does not start with '{'");
  auto root = json::Parse(text);
  if (!root.ok()) {
    std::string msg = root.status().message();
    if (msg.rfind("JSON: ", 0) == 0) msg.erase(0, 6);
    return Status::Corruption("header is not valid JSON: " + msg + " of the header");
  }
  const uint64_t data_size = size - 8 - n;
  ParsedHeader out;
  for (const auto& [key, v] : root->as_object()) {
    if (key == kMetadataKey) {
      if (!v.is_object())
        return Status::Corruption("__metadata__ is " + std::string(TypeName(v)) + ", not an object");
      for (const auto& [mk, mv] : v.as_object()) {
        if (!mv.is_string())
          return Status::Corruption("__metadata__ value for key " + Quoted(mk) + " is " + Show(mv) +
                                    ", not a string");
        out.metadata.emplace(mk, mv.as_string());
      }
      continue;
    }
    auto entry = ParseEntry(key, v, data_size);
    if (!entry.ok()) return entry.status();
    out.tensors.push_back(std::move(entry).value());
  }

  // As the reference does: order by offsets, then demand an exact tiling of the data section.
  auto& t = out.tensors;
  std::stable_sort(t.begin(), t.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].begin > covered)
      return Status::Corruption("bytes [" + Num(covered) + ", " + Num(t[i].begin) + ")" +
                                " of the data section belong to no tensor (a hole before tensor " +
                                Quoted(t[i].name) + ")");
    if (t[i].begin < covered)
      return Status::Corruption("tensor " + Quoted(t[i].name) + " data_offsets " + Offsets(t[i].begin, t[i].end) +
                                " overlap tensor " + Quoted(t[i - 1].name) + " data_offsets " +
                                Offsets(t[i - 1].begin, t[i - 1].end));
    covered = t[i].end;
  }
  if (covered != data_size)
    return Status::Corruption("the data section is " + Num(data_size) + " bytes but the tensors cover only " +
                              Num(covered) + " (trailing bytes after the last tensor)");
  return out;
}

// Writes all of [p, p + n), retrying short writes and EINTR. On failure errno tells why.
bool WriteAll(int fd, const void* p, uint64_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, b, std::min<uint64_t>(n, 1u << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = EIO;
      return false;
    }
    b += w;
    n -= uint64_t(w);
  }
  return true;
}

// The temporary file of an atomic write: closed, and removed unless it was renamed into place.
struct TempFile {
  std::string name;
  int fd = -1;
  bool renamed = false;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!renamed) ::unlink(name.c_str());
  }
};

}  // namespace

Result<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  auto fail = [&](Code code, const std::string& what) { return Status(code, path + ": " + what); };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return fail(err == ENOENT ? Code::kNotFound : Code::kIOError, std::string("cannot open: ") + std::strerror(err));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return fail(Code::kIOError, std::string("cannot stat: ") + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(Code::kIOError, "not a regular file");
  }
  const uint64_t size = uint64_t(st.st_size);
  if (size < 8) {
    ::close(fd);
    return fail(Code::kCorruption, "file is " + Num(size) + " bytes, shorter than the 8-byte header length");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (map == MAP_FAILED) return fail(Code::kIOError, std::string("cannot mmap: ") + std::strerror(err));

  SafetensorsFile f;  // owns the mapping from here on, so every return below unmaps on error
  f.path_ = path;
  f.map_ = map;
  f.map_size_ = size;
  auto parsed = ParseFile(static_cast<const uint8_t*>(map), size, &f.header_length_);
  if (!parsed.ok()) return parsed.status().WithContext(path);
  f.tensors_ = std::move(parsed->tensors);
  f.metadata_ = std::move(parsed->metadata);
  f.data_ = static_cast<const uint8_t*>(map) + 8 + f.header_length_;
  return f;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept { *this = std::move(other); }

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    Unmap();
    path_ = std::move(other.path_);
    map_ = std::exchange(other.map_, nullptr);
    map_size_ = std::exchange(other.map_size_, 0);
    data_ = std::exchange(other.data_, nullptr);
    header_length_ = other.header_length_;
    tensors_ = std::move(other.tensors_);
    metadata_ = std::move(other.metadata_);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() { Unmap(); }

void SafetensorsFile::Unmap() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
  map_ = nullptr;
}

const SafetensorsEntry* SafetensorsFile::find(std::string_view name) const {
  for (const auto& e : tensors_)
    if (e.name == name) return &e;
  return nullptr;
}

TensorRef SafetensorsFile::ref(const SafetensorsEntry& e) const {
  return TensorRef{e.name, e.dtype, e.shape, data(e), e.end - e.begin};
}

Status WriteSafetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  auto bad = [&](const std::string& what) { return Status::InvalidArgument(path + ": " + what); };
  std::unordered_set<std::string_view> names;
  for (const TensorRef& t : tensors) {
    if (Status s = ValidateTensorRef(t); !s.ok()) return s.WithContext(path);
    // The reference would read "__metadata__" as the metadata map, and keep one of two duplicates.
    if (t.name == kMetadataKey) return bad("tensor name '__metadata__' is reserved for the metadata map");
    if (!names.insert(t.name).second) return bad("duplicate tensor name " + Quoted(t.name));
  }
  for (const auto& [k, v] : metadata)
    if (!IsValidUtf8(k) || !IsValidUtf8(v)) return bad("metadata key " + Quoted(k) + " or its value is not valid UTF-8");

  json::Writer w;
  w.BeginObject();
  if (!metadata.empty()) {
    w.Key(kMetadataKey).BeginObject();
    for (const auto& [k, v] : metadata) w.Key(k).String(v);
    w.EndObject();
  }
  uint64_t offset = 0;
  for (const TensorRef& t : tensors) {
    w.Key(t.name).BeginObject().Key("dtype").String(DTypeName(t.dtype)).Key("shape").BeginArray();
    for (int64_t d : t.shape) w.Int(d);
    uint64_t end;
    if (__builtin_add_overflow(offset, t.size_bytes, &end)) return bad("tensors total more than 2^64 bytes");
    w.EndArray().Key("data_offsets").BeginArray().Uint(offset).Uint(end).EndArray().EndObject();
    offset = end;
  }
  w.EndObject();
  std::string header = w.str();
  header.append((8 - header.size() % 8) % 8, ' ');  // spaces are JSON whitespace: aligns the data
  if (header.size() > kSafetensorsMaxHeaderBytes)
    return bad("header would be " + Num(header.size()) + " bytes, over the " + Num(kSafetensorsMaxHeaderBytes) +
               "-byte limit readers enforce");
  uint8_t prefix[8];
  for (int i = 0; i < 8; ++i) prefix[i] = uint8_t(uint64_t(header.size()) >> (8 * i));

  // Reads errno before building any string, so the message reports the failing call's error.
  auto io = [&](std::string_view what, std::string_view name = {}) {
    int err = errno;
    return Status::IOError(path + ": " + std::string(what) + std::string(name) + ": " + std::strerror(err));
  };
  TempFile tmp{path + ".tmp-XXXXXX"};
  tmp.fd = ::mkostemp(tmp.name.data(), O_CLOEXEC);
  if (tmp.fd < 0) {
    tmp.renamed = true;  // nothing was created, so nothing to remove
    return io("cannot create a temporary file in its directory");
  }
  // mkostemp makes the file 0600; an exported checkpoint should be as readable as any other file.
  if (::fchmod(tmp.fd, 0644) != 0) return io("cannot chmod ", tmp.name);
  if (!WriteAll(tmp.fd, prefix, 8) || !WriteAll(tmp.fd, header.data(), header.size())) return io("cannot write");
  for (const TensorRef& t : tensors)
    if (!WriteAll(tmp.fd, t.data, t.size_bytes)) return io("cannot write tensor ", t.name);
  if (::fsync(tmp.fd) != 0) return io("cannot fsync ", tmp.name);
  int fd = std::exchange(tmp.fd, -1);
  if (::close(fd) != 0) return io("cannot close ", tmp.name);
  if (::rename(tmp.name.c_str(), path.c_str()) != 0) return io("cannot rename over it from ", tmp.name);
  tmp.renamed = true;
  // The rename is durable only once the directory entry is on disk.
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return io("cannot open directory to fsync it: ", dir);
  bool synced = ::fsync(dfd) == 0;
  int err = errno;
  ::close(dfd);
  errno = err;
  return synced ? Status::OK() : io("cannot fsync directory ", dir);
}

}  // namespace ckptdb
