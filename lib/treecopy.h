/* A full copy of a directory tree (the vfs driver's layers): owners, modes,
   times, xattrs, hard links, symlinks, devices and fifos are kept. */
#ifndef DK_TREECOPY_H
#define DK_TREECOPY_H

#include "error.h"

/* Copies the contents of src into the existing directory dst. */
int dk_tree_copy (const char *src, const char *dst, dk_err_t *err);

#endif
