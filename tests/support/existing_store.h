// Opening a store that must already exist, as the tests that inspect a store made by the CLI do.
#pragma once

#include <memory>
#include <string>

#include "ckptdb/ckptdb.h"

namespace ckptdb::testing {

inline Result<std::unique_ptr<Store>> OpenExisting(const std::string& path) {
  StoreOptions o;
  o.create_if_missing = false;
  return Store::Open(path, o);
}

}  // namespace ckptdb::testing
