/* uid/gid maps of --userns-remap (declared in tarapply.h). */
#include "cleanup.h"
#include "tarapply.h"

#include <stdio.h>

int
dk_idmap_parse (const char *s, struct dk_idmap **maps, size_t *n, dk_err_t *err)
{
  unsigned long c, h, sz;
  char tail;
  if (sscanf (s, "%lu:%lu:%lu%c", &c, &h, &sz, &tail) != 3 || sz == 0 || c > UINT32_MAX
      || h > UINT32_MAX || sz > UINT32_MAX)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid id map `%s` (want C:H:N)", s);
  *maps = xrealloc (*maps, (*n + 1) * sizeof **maps);
  (*maps)[*n] = (struct dk_idmap){ c, h, sz };
  (*n)++;
  return 0;
}

int
dk_idmap_map (const struct dk_idmap *m, size_t n, int64_t id, uint32_t *out)
{
  if (n == 0)
    {
      *out = id;
      return 0;
    }
  for (size_t i = 0; i < n; i++)
    if (id >= m[i].container && id - m[i].container < m[i].size)
      {
        *out = m[i].host + (id - m[i].container);
        return 0;
      }
  return -1;
}
