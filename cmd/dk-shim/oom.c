/* Was the container OOM-killed?  The kernel counts OOM kills per memory
   cgroup: `oom_kill N` in memory.oom_control (cgroup v1, kernel >= 4.13)
   or in memory.events (v2).  We find the container's memory cgroup from
   /proc/PID/cgroup once it exists, remember the count, and compare after
   it exits, before the runtime's delete removes the cgroup. */
#include "shim.h"
#include "cleanup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t
read_oom_kill (const char *file)
{
  cleanup_fclose FILE *f = fopen (file, "re");
  char line[256];
  if (f == NULL)
    return -1;
  while (fgets (line, sizeof line, f))
    if (strncmp (line, "oom_kill ", 9) == 0)
      return strtoll (line + 9, NULL, 10);
  return -1;
}

static bool
has_controller (const char *list, size_t len, const char *name)
{
  size_t nl = strlen (name);
  const char *p = list, *end = list + len;
  while (p < end)
    {
      const char *comma = memchr (p, ',', (size_t)(end - p));
      const char *e = comma ? comma : end;
      if ((size_t)(e - p) == nl && memcmp (p, name, nl) == 0)
        return true;
      p = e + 1;
    }
  return false;
}

void
shim_oom_setup (struct shim *s)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/cgroup", (int)s->ctr.pid);
  cleanup_fclose FILE *f = fopen (path, "re");
  char line[4096];
  char *v1 = NULL, *v2 = NULL;
  while (f && fgets (line, sizeof line, f))
    {
      line[strcspn (line, "\n")] = '\0';
      char *c1 = strchr (line, ':');
      char *c2 = c1 ? strchr (c1 + 1, ':') : NULL;
      if (c2 == NULL)
        continue;
      if (has_controller (c1 + 1, (size_t)(c2 - c1 - 1), "memory"))
        {
          free (v1);
          v1 = xasprintf ("/sys/fs/cgroup/memory%s/memory.oom_control", c2 + 1);
        }
      else if (c1 == line + 1 && line[0] == '0' && c2 == c1 + 1)
        {
          free (v2);
          v2 = xasprintf ("/sys/fs/cgroup%s/memory.events", c2 + 1);
        }
    }
  if (v1 && access (v1, R_OK) == 0)
    s->oom_file = v1, v1 = NULL;
  else if (v2 && access (v2, R_OK) == 0)
    s->oom_file = v2, v2 = NULL;
  free (v1);
  free (v2);
  s->oom_base = s->oom_file ? read_oom_kill (s->oom_file) : -1;
}

bool
shim_oom_check (struct shim *s)
{
  if (s->oom_file == NULL || s->oom_base < 0)
    return false;
  int64_t n = read_oom_kill (s->oom_file);
  return n > s->oom_base;
}
