/* Step timestamps for measuring where a command's time goes: with
   DK_NETSETUP_TRACE set, each step prints "dk-netsetup: +N.NNN ms STEP"
   (since main started) on stderr.  docs/network.md, "Performance". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "netsetup.h"

static double t0 = -1;

static double
now_ms (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

void
trace_step (const char *what)
{
  if (t0 < 0)
    {
      if (getenv ("DK_NETSETUP_TRACE") == NULL)
        {
          t0 = 0;
          return;
        }
      t0 = now_ms ();
    }
  if (t0 > 0)
    fprintf (stderr, "dk-netsetup: +%.3f ms %s\n", now_ms () - t0, what);
}
