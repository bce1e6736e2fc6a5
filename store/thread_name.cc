#include "store/thread_name.h"

#include <pthread.h>

#include <cstring>

namespace ckptdb {

void NameThread(std::thread& t, const char* name) {
  char cut[16];
  std::strncpy(cut, name, sizeof cut - 1);
  cut[sizeof cut - 1] = '\0';
  (void)pthread_setname_np(t.native_handle(), cut);  // ERANGE is impossible once cut; nothing else can fail
}

}  // namespace ckptdb
