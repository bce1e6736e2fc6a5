// SigpipeGuard: a write to a pipe whose reader has gone raises SIGPIPE, whose default action ends
// the process. A library must not: while a guard lives, SIGPIPE is blocked on the calling thread,
// so such a write fails with EPIPE (an error the caller reports) and the signal it raised is taken
// back before the thread's mask is restored. Whatever the process does with SIGPIPE is untouched.
//
// Thread safety: it changes the calling thread's signal mask only; make and destroy it on one thread.
#pragma once

#include <signal.h>

namespace ckptdb {

class SigpipeGuard {
 public:
  SigpipeGuard();
  ~SigpipeGuard();
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t old_mask_;
  bool was_pending_ = false;  // a SIGPIPE someone else raised stays theirs
};

}  // namespace ckptdb
