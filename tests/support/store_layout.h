// The on-disk layout of a store directory, as the store suites inspect it: STORE/db/ is the RocksDB
// database, STORE/packs/ the pack files; plus the files under a directory picked by name suffix.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ckptdb::store_tests {

std::string DbDir(const std::string& store);
std::string PacksDir(const std::string& store);

// "00000000000000000042.pack": the pack id in twenty decimal digits, zero-padded.
std::string PackName(uint64_t pack_id);
std::string PackFile(const std::string& store, uint64_t pack_id);

// Every file in STORE/packs: file name -> size in bytes.
using Packs = std::map<std::string, uint64_t>;
Packs PackFiles(const std::string& store);

// The regular files under `dir` (recursively) whose names end with `suffix`, sorted.
std::vector<std::string> FilesEndingWith(const std::string& dir, const std::string& suffix);
// Sum of the sizes of the files under `dir` whose names end with `suffix`.
uint64_t BytesOfFilesEndingWith(const std::string& dir, const std::string& suffix);

}  // namespace ckptdb::store_tests
