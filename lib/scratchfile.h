/* Atomic writes without fsync: temp file in the same directory, rename.
   A reader never sees half a file, but after a power loss the file may be
   missing, old or empty.  For files that are rebuilt anyway (the bundle,
   /etc files of a container, anything under the exec root, disposable
   container layers); lib/atomicfile for everything that must survive. */
#ifndef DK_SCRATCHFILE_H
#define DK_SCRATCHFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "json.h"

int dk_scratch_write (const char *path, const void *data, size_t len, mode_t mode, dk_err_t *err);
/* Consumes v; writes its compact serialisation plus a newline. */
int dk_scratch_write_json (const char *path, jv v, dk_err_t *err);

#endif
