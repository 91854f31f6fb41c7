/* Starting the cgroup write lock's grace period early.

   Moving a process between cgroups (a write to cgroup.procs) takes the
   kernel's global cgroup_threadgroup_rwsem for writing.  When nobody has
   written for a while, that first waits for an RCU grace period (rcu_sync:
   readers are switched to their slow path): 8-20 ms on a loaded machine,
   the largest wait of `create`.  A writer arriving while that grace period
   runs waits only for its end; one arriving soon after the last writer
   left does not wait at all.

   So `create` forks a helper that makes a write changing nothing (itself
   into the cgroup it is already in: the kernel finds nothing to move)
   before it parses the config; by the time init exists and is moved, the
   grace period is over or under way.  A process, not a thread: init is
   cloned with a raw clone(2), which would copy a lock (malloc's, the
   thread stack cache's) that a thread held at that moment, and hang on it.
   Failure is harmless: the real move then just pays the wait itself. */
#include "run.h"
#include "cgroup.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Our own cgroup.procs in the unified hierarchy (any hierarchy shares the
   lock; this one exists on v2 and on hybrid v1 hosts). */
static bool
own_procs_file (char *out, size_t size)
{
  cleanup_fclose FILE *f = fopen ("/proc/self/cgroup", "re");
  char line[4096];
  while (f && fgets (line, sizeof line, f))
    if (strncmp (line, "0::/", 4) == 0)
      {
        line[strcspn (line, "\n")] = '\0';
        const char *rel = line + 3;
        int n = snprintf (out, size, "%s%s%s/cgroup.procs", dk_cgroup_root (),
                          dk_cgroup_mode () == DK_CGROUP_V2 ? "" : "/unified",
                          strcmp (rel, "/") ? rel : "");
        return n > 0 && (size_t)n < size && access (out, W_OK) == 0;
      }
  return false;
}

pid_t
dk_cgroup_warm_start (void)
{
  char path[4200];
  if (!own_procs_file (path, sizeof path))
    return -1;
  pid_t pid = fork ();
  if (pid == 0)
    {
      int fd = open (path, O_WRONLY | O_CLOEXEC);
      /* "0" is the writing process itself */
      _exit (fd < 0 || write (fd, "0", 1) < 0);
    }
  return pid;
}

void
dk_cgroup_warm_reap (pid_t pid)
{
  if (pid > 0)
    waitpid (pid, NULL, 0);
}
