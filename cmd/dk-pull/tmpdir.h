/* Scratch directories under ROOT/tmp/, by the store's rule (docs/store.md):
   ROOT/tmp/dk-pull-XXXXXX is held by the flock of its ".lock" sibling, so
   dk-graph removes it if we die. */
#ifndef DK_PULL_TMPDIR_H
#define DK_PULL_TMPDIR_H

#include "error.h"

int tmpdir_create (const char *root, char **path, int *lockfd, dk_err_t *err);
void tmpdir_remove (const char *path, int lockfd);

#endif
