/* Opening paths inside a root without escaping it, whatever symlinks or
   ".." the path holds: openat2(RESOLVE_IN_ROOT), with a fallback that walks
   the components itself on kernels without openat2. */
#ifndef DK_RESOLVE_H
#define DK_RESOLVE_H

#include <sys/types.h>

#include "error.h"

/* Opens path (relative or absolute, interpreted inside rootfd) with flags
   (O_CLOEXEC is added).  Symlinks are resolved as if rootfd were "/". */
int dk_open_in_root (int rootfd, const char *path, int flags, mode_t mode, dk_err_t *err);
/* Opens the parent directory of path inside the root (creating missing
   directories with mkdir_mode when mkdir_mode != 0) and returns its fd; the
   last component is returned in *base (malloc'd): never "..", and "." when
   path names the root itself (then the root is returned).  The path is
   cleaned lexically first ("a/../b" is "b"). */
int dk_open_parent_in_root (int rootfd, const char *path, mode_t mkdir_mode, char **base,
                            dk_err_t *err);
/* Lexically cleans a path: "a/../../b" -> "b"; never leaves the root. */
char *dk_path_clean_in_root (const char *path);
/* For tests: force the fallback walk even when openat2 exists. */
void dk_resolve_force_fallback (int on);

#endif
