/* Atomic metadata writes: temp file in the same directory, fsync, rename,
   fsync of the directory.  A reader never sees half a file. */
#ifndef DK_ATOMICFILE_H
#define DK_ATOMICFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "json.h"

int dk_atomic_write (const char *path, const void *data, size_t len, mode_t mode, dk_err_t *err);
/* Same, relative to a directory fd. */
int dk_atomic_write_at (int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                        dk_err_t *err);
/* Consumes v; writes its compact serialisation plus a newline. */
int dk_atomic_write_json (const char *path, jv v, dk_err_t *err);
/* Reads a whole file (NUL-terminated); *len may be NULL. */
int dk_read_file (const char *path, char **out, size_t *len, dk_err_t *err);
/* mkdir -p with the given mode for created directories. */
int dk_mkdir_p (const char *path, mode_t mode, dk_err_t *err);
/* rm -rf that stays on one filesystem and never follows symlinks. */
int dk_remove_tree (const char *path, dk_err_t *err);
int dk_fsync_dir (const char *path, dk_err_t *err);

#endif
