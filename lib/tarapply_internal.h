/* The parts of lib/tarapply.c kept in their own files: whiteouts
   (tarwhiteout.c) and entry metadata (tarmeta.c). */
#ifndef DK_TARAPPLY_INTERNAL_H
#define DK_TARAPPLY_INTERNAL_H

#include <archive.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "pathset.h"
#include "tarapply.h"

#define DK_WH_PREFIX ".wh."
#define DK_WH_META ".wh..wh."
#define DK_WH_OPAQUE ".wh..wh..opq"

/* Applies the whiteout entry base (starts with DK_WH_PREFIX) in directory
   dfd (dirrel, for messages and for created: under vfs an opaque directory
   keeps the paths this layer created). */
int dk_tar_whiteout (int dfd, const char *dirrel, const char *base, enum dk_whiteout_mode mode,
                     const struct dk_pathset *created, dk_err_t *err);

/* Removes every entry of directory dfd (dirrel inside the root, for
   messages; may be NULL when keep is) except those whose path is in keep
   (may be NULL) (lib/tarpath.c). */
int dk_remove_children (int dfd, const char *dirrel, const struct dk_pathset *keep, dk_err_t *err);

/* Owner, then mode, then xattrs (trusted.overlay.* skipped) of the node
   dfd/base, through fd when it is open (>= 0). name is the entry's name
   for messages. */
int dk_tar_set_owner_mode (struct archive_entry *e, int fd, int dfd, const char *base,
                           const char *rel, const char *name, uint32_t uid, uint32_t gid,
                           mode_t perm, dk_err_t *err);

/* The entry's atime (its mtime when it has none) and mtime. */
void dk_tar_entry_times (struct archive_entry *e, struct timespec ts[2]);

#endif
