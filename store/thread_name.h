// Names the store's threads, so that `top -H`, `ps -L`, gdb and py-spy show which of them is busy
// (as RocksDB's "rocksdb:low" does): ckptdb:save and ckptdb:read (the pools), ckptdb:persist
// (asynchronous saves), ckptdb:writer (a save's pack writes), ckptdb:gc.
#pragma once

#include <thread>

namespace ckptdb {

// Names `t` by its creator, right after it starts: the name is there as soon as the thread is,
// whatever the thread has run. `name`: at most 15 characters (Linux's limit; longer ones are
// cut). Best effort: a platform that cannot name threads leaves them as they are.
void NameThread(std::thread& t, const char* name);

}  // namespace ckptdb
