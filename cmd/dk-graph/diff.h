/* Layer and container changes: the `docker diff` list and layer tars. */
#ifndef DK_GRAPH_DIFF_H
#define DK_GRAPH_DIFF_H

#include "error.h"
#include "json.h"

enum
{
  CHANGE_MODIFIED = 0,
  CHANGE_ADDED = 1,
  CHANGE_DELETED = 2
};

/* overlay2: the changes recorded in an upper directory; lowers (top first,
   n of them) tell Added from Modified.  *out: [{"Path","Kind"}] by path. */
int changes_overlay (const char *upper, char *const *lowers, int n, jv *out, dk_err_t *err);
/* vfs: new against old (old may be NULL: everything is Added). */
int changes_dirs (const char *newdir, const char *olddir, jv *out, dk_err_t *err);
/* Tar of an overlay upper/diff directory, whiteouts back to .wh. entries. */
int tar_overlay_dir (const char *dir, int out_fd, dk_err_t *err);
/* Tar of the given changes of dir (vfs): deletions become .wh. entries. */
int tar_changes (const char *dir, jv changes, int out_fd, dk_err_t *err);

#endif
