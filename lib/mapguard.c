#include "mapguard.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>

static __thread struct dk_mapguard *armed;

/* The one exception to "no work in signal handlers": a fault is delivered
   to the faulting thread, synchronously, so jumping out of it is the only
   way to survive it (pread instead of the mapping would cost the copy the
   mapping exists to save).  SA_NODEFER: the jump does not restore the
   signal mask, and SIGBUS must not stay blocked in this thread. */
static void
on_sigbus (int sig, siginfo_t *si, void *uc)
{
  (void)uc;
  struct dk_mapguard *g = armed;
  uintptr_t a = (uintptr_t)si->si_addr;
  if (g && si->si_code > 0 && a >= (uintptr_t)g->lo && a - (uintptr_t)g->lo < g->len)
    {
      armed = NULL;
      siglongjmp (g->jb, 1);
    }
  /* not ours: the default action, which a fault meets again on return */
  signal (sig, SIG_DFL);
  if (si->si_code <= 0)
    raise (sig);
}

static void
install (void)
{
  struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER };
  sigemptyset (&sa.sa_mask);
  if (sigaction (SIGBUS, &sa, NULL) < 0)
    abort ();
}

void
dk_mapguard_arm (struct dk_mapguard *g, const void *lo, size_t len)
{
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once (&once, install);
  g->lo = lo;
  g->len = len;
  armed = g;
  __atomic_signal_fence (__ATOMIC_SEQ_CST);
}

void
dk_mapguard_disarm (struct dk_mapguard *g)
{
  __atomic_signal_fence (__ATOMIC_SEQ_CST);
  if (armed == g)
    armed = NULL;
}

int
dk_mapguard_error (dk_err_t *err)
{
  return dk_make_error (err, 0, "read layer: the file shrank while it was read");
}
