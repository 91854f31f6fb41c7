/* Loads from a file mapping that another process may shrink.  A load past
   the file's new end raises SIGBUS, which would end the process; inside a
   guard the faulting thread jumps back to where the guard was armed and the
   caller turns it into an error:

     struct dk_mapguard g;
     dk_mapguard_arm (&g, map, len);
     if (sigsetjmp (g.jb, 0))
       return dk_mapguard_error (err);     (the guard is already disarmed)
     ... loads from map ...
     dk_mapguard_disarm (&g);

   The guard belongs to the arming thread; the window may move (set lo and
   len again) while it is armed.  Only a fault inside [lo, lo + len) jumps;
   any other SIGBUS keeps its default action.  Between the arm and the jump
   the code must take no lock and allocate nothing it cannot lose. */
#ifndef DK_MAPGUARD_H
#define DK_MAPGUARD_H

#include <setjmp.h>
#include <stddef.h>

#include "error.h"

struct dk_mapguard
{
  sigjmp_buf jb;
  const char *volatile lo;
  volatile size_t len;
};

void dk_mapguard_arm (struct dk_mapguard *g, const void *lo, size_t len);
void dk_mapguard_disarm (struct dk_mapguard *g);
/* "read layer: the file shrank while it was read"; returns -1. */
int dk_mapguard_error (dk_err_t *err);

#endif
