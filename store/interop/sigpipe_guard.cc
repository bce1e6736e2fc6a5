#include "store/interop/sigpipe_guard.h"

#include <pthread.h>

#include <cerrno>
#include <ctime>

namespace ckptdb {
namespace {

sigset_t OnlySigpipe() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGPIPE);
  return s;
}

bool SigpipePending() {
  sigset_t pending;
  sigemptyset(&pending);
  return sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
}

}  // namespace

SigpipeGuard::SigpipeGuard() {
  was_pending_ = SigpipePending();
  const sigset_t block = OnlySigpipe();
  pthread_sigmask(SIG_BLOCK, &block, &old_mask_);
}

SigpipeGuard::~SigpipeGuard() {
  if (!was_pending_ && SigpipePending()) {
    const sigset_t block = OnlySigpipe();
    const timespec now{0, 0};
    while (sigtimedwait(&block, nullptr, &now) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

}  // namespace ckptdb
