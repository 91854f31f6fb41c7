#include "pathset.h"
#include "cleanup.h"

#include <stdlib.h>
#include <string.h>

static size_t
hash_str (const char *s)
{
  size_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

bool
dk_pathset_has (const struct dk_pathset *ps, const char *s)
{
  if (ps->cap == 0)
    return false;
  for (size_t i = hash_str (s) & (ps->cap - 1);; i = (i + 1) & (ps->cap - 1))
    {
      if (ps->slot[i] == NULL)
        return false;
      if (strcmp (ps->slot[i], s) == 0)
        return true;
    }
}

void
dk_pathset_add (struct dk_pathset *ps, const char *s)
{
  if ((ps->n + 1) * 2 > ps->cap)
    {
      size_t ncap = ps->cap ? ps->cap * 2 : 256;
      char **ns = xzalloc (ncap * sizeof *ns);
      for (size_t i = 0; i < ps->cap; i++)
        if (ps->slot[i])
          {
            size_t j = hash_str (ps->slot[i]) & (ncap - 1);
            while (ns[j])
              j = (j + 1) & (ncap - 1);
            ns[j] = ps->slot[i];
          }
      free (ps->slot);
      ps->slot = ns;
      ps->cap = ncap;
    }
  if (dk_pathset_has (ps, s))
    return;
  size_t j = hash_str (s) & (ps->cap - 1);
  while (ps->slot[j])
    j = (j + 1) & (ps->cap - 1);
  ps->slot[j] = xstrdup (s);
  ps->n++;
}

void
dk_pathset_free (struct dk_pathset *ps)
{
  for (size_t i = 0; i < ps->cap; i++)
    free (ps->slot[i]);
  free (ps->slot);
}
