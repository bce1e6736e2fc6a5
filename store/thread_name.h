// Names the calling thread, so that `top -H`, `ps -L`, gdb and py-spy show which of the store's
// threads is busy (as RocksDB's "rocksdb:low" does): ckptdb:save and ckptdb:read (the pools),
// ckptdb:persist (asynchronous saves), ckptdb:writer (a save's pack writes), ckptdb:gc.
#pragma once

namespace ckptdb {

// `name`: at most 15 characters (Linux's limit; longer ones are cut). Best effort: a platform that
// cannot name threads leaves them as they are.
void NameThisThread(const char* name);

}  // namespace ckptdb
