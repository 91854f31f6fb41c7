/* A set of strings (open addressing; the layer applier's sets of paths). A
   zeroed struct is an empty set. */
#ifndef DK_PATHSET_H
#define DK_PATHSET_H

#include <stdbool.h>
#include <stddef.h>

struct dk_pathset
{
  char **slot;
  size_t cap, n;
};

bool dk_pathset_has (const struct dk_pathset *ps, const char *s);
/* Adds a copy of s (nothing when it is there already). */
void dk_pathset_add (struct dk_pathset *ps, const char *s);
void dk_pathset_free (struct dk_pathset *ps);

#endif
