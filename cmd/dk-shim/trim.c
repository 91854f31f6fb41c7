/* Keeping an idle shim small.  Most of a dynamically linked process's RSS
   is clean pages of shared libraries (libc, libjq) that it touched once,
   during startup or a request.  When the loop has been idle a while we
   give back the heap's free memory and drop our mappings of clean file
   pages: MADV_DONTNEED on a private file mapping without anonymous (COW)
   pages only unmaps page-cache pages, which fault back in unchanged if
   they are used again.  Mappings with COW pages (relocated GOT, data) are
   left alone. */
#include "shim.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void
shim_trim_memory (void)
{
  /* collect first, then drop everything at once: what runs after the
     madvise calls (a few libc wrappers, the loop) faults back in */
  static struct
  {
    unsigned long start, end;
  } ranges[64];
  int n = 0;
  malloc_trim (0);
  FILE *f = fopen ("/proc/self/smaps", "re");
  if (f == NULL)
    return;
  char line[512];
  unsigned long start = 0, end = 0;
  bool candidate = false;
  while (fgets (line, sizeof line, f))
    {
      unsigned long a, b;
      char perms[8];
      unsigned long long off;
      int pathpos = 0;
      if (sscanf (line, "%lx-%lx %7s %llx %*s %*s %n", &a, &b, perms, &off, &pathpos) >= 4
          && strchr (line, '-') < strchr (line, ' '))
        {
          start = a;
          end = b;
          /* private, not writable, backed by a file: text and read-only data */
          candidate = pathpos > 0 && line[pathpos] == '/' && perms[1] != 'w' && perms[3] == 'p';
          continue;
        }
      if (candidate && strncmp (line, "Anonymous:", 10) == 0)
        {
          if (strtoul (line + 10, NULL, 10) == 0 && n < 64)
            {
              ranges[n].start = start;
              ranges[n].end = end;
              n++;
            }
          candidate = false;
        }
    }
  fclose (f);
  for (int i = 0; i < n; i++)
    {
      /* no fault-around (16 pages per fault) when the pages come back */
      madvise ((void *)ranges[i].start, ranges[i].end - ranges[i].start, MADV_RANDOM);
      madvise ((void *)ranges[i].start, ranges[i].end - ranges[i].start, MADV_DONTNEED);
    }
}
