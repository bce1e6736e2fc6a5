#include "store/thread_name.h"

#include <pthread.h>

#include <cstring>

namespace ckptdb {

void NameThisThread(const char* name) {
  char cut[16];
  std::strncpy(cut, name, sizeof cut - 1);
  cut[sizeof cut - 1] = '\0';
  (void)pthread_setname_np(pthread_self(), cut);  // ERANGE is impossible once cut; nothing else can fail
}

}  // namespace ckptdb
