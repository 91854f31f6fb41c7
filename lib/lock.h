/* flock(2) on a lock file, for stores two processes touch at once. */
#ifndef DK_LOCK_H
#define DK_LOCK_H

#include <stdbool.h>

#include "error.h"

/* Opens (creating) path and takes the lock; returns the fd (>= 0) to pass to
   dk_lock_release, or -1 with *err.  exclusive=false takes a shared lock. */
int dk_lock_acquire (const char *path, bool exclusive, dk_err_t *err);
/* Non-blocking: returns -1 with code "conflict" when someone else holds it. */
int dk_lock_try (const char *path, bool exclusive, dk_err_t *err);
void dk_lock_release (int fd);

#endif
