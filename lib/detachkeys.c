#include "detachkeys.h"
#include "cleanup.h"

#include <string.h>

static int
one_key (const char *k, unsigned char *out)
{
  if (strlen (k) == 1)
    {
      *out = (unsigned char)k[0];
      return 0;
    }
  if (strncmp (k, "ctrl-", 5) != 0 || strlen (k) != 6)
    return -1;
  unsigned char c = (unsigned char)k[5];
  if (c >= 'a' && c <= 'z')
    *out = c - 'a' + 1;
  else if (c == '@')
    *out = 0;
  else if (c >= '[' && c <= '_')
    *out = c - '[' + 27; /* [ \ ] ^ _ */
  else
    return -1;
  return 0;
}

int
dk_detach_parse (const char *spec, struct dk_detach *d)
{
  memset (d, 0, sizeof *d);
  if (spec == NULL || *spec == '\0')
    spec = "ctrl-p,ctrl-q";
  cleanup_free char *copy = xstrdup (spec);
  char *save = NULL;
  for (char *k = strtok_r (copy, ",", &save); k; k = strtok_r (NULL, ",", &save))
    {
      if (d->len == DK_DETACH_MAX || one_key (k, &d->keys[d->len]) < 0)
        return -1;
      d->len++;
    }
  return d->len > 0 ? 0 : -1;
}

bool
dk_detach_feed (struct dk_detach *d, const char *in, size_t n, struct dk_buf *out)
{
  for (size_t i = 0; i < n; i++)
    {
      unsigned char b = (unsigned char)in[i];
      if (d->len && b == d->keys[d->matched])
        {
          if (++d->matched == d->len)
            {
              d->matched = 0;
              return true;
            }
          continue;
        }
      if (d->matched)
        {
          /* not the sequence after all: what was held back goes through */
          dk_buf_add (out, (const char *)d->keys, d->matched);
          d->matched = 0;
          if (d->len && b == d->keys[0])
            {
              d->matched = 1;
              if (d->len == 1)
                {
                  d->matched = 0;
                  return true;
                }
              continue;
            }
        }
      dk_buf_addc (out, (char)b);
    }
  return false;
}
