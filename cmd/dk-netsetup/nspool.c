/* A pool of ready network namespaces (docs/network.md, "Performance").
   Creating a namespace (unshare) is the dearest step of a connect.  A
   holder process makes one ahead of time and waits: the lingerer of a
   disconnect, once its parent has exited (no process is started for it),
   or a child of init.  The namespace is never mounted while it waits (its
   holder keeps it alive), so a spare leaves no mount behind; a connect
   that claims it bind-mounts it from /proc/PID/ns/net.

   EXECROOT/netns-spare/PID-INODE names a holder and the inode of its
   namespace.  A connect claims a spare by unlinking that file (so two
   never get one spare), checks the holder's namespace is still that inode,
   mounts it and tells the holder to go (SIGUSR1 through a pidfd).  A
   holder whose file is gone and who hears nothing exits after 10 s (its
   claimer died); an unclaimed one unlinks its file and exits after
   DK_NETSETUP_SPARE_TTL_MS (60 s), or within a second of its exec root
   being removed.  DK_NETSETUP_SPARES (1) is how many the pool keeps; 0
   turns it off. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cleanup.h"
#include "netlink.h"
#include "netsetup.h"

enum
{
  CLAIM_WAIT_MS = 10000, /* a claimer that died after the unlink */
  TICK_S = 1,
};

static long
env_long (const char *name, long dflt)
{
  const char *v = getenv (name);
  return v && *v ? atol (v) : dflt;
}

static char *
spare_dir (struct ctx *c)
{
  return xasprintf ("%s/netns-spare", c->exec_root);
}

static long
now_ms (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000L + t.tv_nsec / 1000000;
}

/* The holder named by a spare's file name, or 0 when it is not one. */
static pid_t
parse_spare (const char *name, ino_t *ino)
{
  int pid;
  uintmax_t i;
  char tail;
  if (sscanf (name, "%d-%ju%c", &pid, &i, &tail) != 2 || pid <= 0)
    return 0;
  *ino = (ino_t)i;
  return pid;
}

static bool
holder_alive (pid_t pid, ino_t ino)
{
  char src[64];
  snprintf (src, sizeof src, "/proc/%d/ns/net", (int)pid);
  struct stat st;
  return stat (src, &st) == 0 && st.st_ino == ino;
}

/* Mounts the namespace of holder pid (inode ino) on target; 1 when done,
   0 when the holder is not what its file says (the spare is skipped).
   The holder is told to go in every case. */
static int
claim_one (pid_t pid, ino_t ino, const char *target, dk_err_t *err)
{
  cleanup_close int pfd = pidfd_open (pid, 0);
  if (pfd < 0 || !holder_alive (pid, ino))
    return 0;
  int r = 0;
  cleanup_close int fd = open (target, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  char src[64];
  snprintf (src, sizeof src, "/proc/%d/ns/net", (int)pid);
  struct stat st;
  if (fd < 0)
    r = dk_make_error_code (err, errno == EEXIST ? DK_ECODE_CONFLICT : DK_ECODE_INTERNAL, errno,
                            "create `%s`", target);
  else if (mount (src, target, NULL, MS_BIND, NULL) == 0)
    {
      if (stat (target, &st) == 0 && st.st_ino == ino)
        r = 1;
      else
        umount2 (target, MNT_DETACH);
    }
  pidfd_send_signal (pfd, SIGUSR1, NULL, 0);
  if (r == 0)
    unlink (target);
  return r;
}

int
nspool_claim (struct ctx *c, const char *target, dk_err_t *err)
{
  cleanup_free char *dir = spare_dir (c);
  cleanup_closedir DIR *d = opendir (dir);
  struct dirent *de;
  while (d && (de = readdir (d)))
    {
      ino_t ino;
      pid_t pid = parse_spare (de->d_name, &ino);
      if (pid == 0 || unlinkat (dirfd (d), de->d_name, 0) < 0)
        continue; /* not a spare, or another claimer's */
      int r = claim_one (pid, ino, target, err);
      if (r != 0)
        return r;
    }
  return 0;
}

/* Live spares in dir; the files of dead holders are removed. */
static long
spares_live (const char *dir)
{
  long have = 0;
  cleanup_closedir DIR *d = opendir (dir);
  struct dirent *de;
  while (d && (de = readdir (d)))
    {
      ino_t ino;
      pid_t pid = parse_spare (de->d_name, &ino);
      if (pid > 0 && holder_alive (pid, ino))
        have++;
      else if (pid > 0)
        unlinkat (dirfd (d), de->d_name, 0);
    }
  return have;
}

/* Waits to be claimed, or for the time to run out. */
static void
hold (const char *dir, const char *file, long ttl_ms)
{
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGUSR1);
  struct timespec tick = { TICK_S, 0 };
  long until = now_ms () + ttl_ms, claimed_at = -1;
  for (;;)
    {
      if (sigtimedwait (&set, NULL, &tick) == SIGUSR1)
        return;
      long now = now_ms ();
      if (access (file, F_OK) == 0)
        {
          if (now >= until && unlink (file) == 0)
            return;
          continue;
        }
      if (access (dir, F_OK) < 0)
        return; /* the exec root was removed */
      if (claimed_at < 0)
        claimed_at = now;
      else if (now - claimed_at >= CLAIM_WAIT_MS)
        return;
    }
}

/* In a process of its own, every fd closed: becomes a holder when the pool
   is short. */
static void
holder_main (const char *dir)
{
  long want = env_long ("DK_NETSETUP_SPARES", 1);
  if (want <= 0 || spares_live (dir) >= want)
    return;
  setsid ();
  prctl (PR_SET_NAME, "dk-netns-spare");
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGUSR1);
  sigprocmask (SIG_BLOCK, &set, NULL);
  if (chdir ("/") < 0 || unshare (CLONE_NEWNET) < 0)
    return;
  /* lo is index 1 in a new namespace */
  cleanup_error dk_err_t e = NULL;
  cleanup_nl struct dk_nl *nl = NULL;
  if (dk_nl_open (&nl, &e) < 0 || dk_nl_link_set (nl, 1, true, 0, 0, &e) < 0)
    return;
  dk_nl_close (nl);
  nl = NULL;
  struct stat st;
  if (stat ("/proc/self/ns/net", &st) < 0)
    return;
  cleanup_free char *file = xasprintf ("%s/%d-%ju", dir, (int)getpid (), (uintmax_t)st.st_ino);
  int fd = open (file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return;
  close (fd);
  hold (dir, file, env_long ("DK_NETSETUP_SPARE_TTL_MS", 60000));
}

static char *pending_dir; /* for the lingerers of this process */

static void
hold_after_exit (void)
{
  holder_main (pending_dir);
}

void
nspool_refill_later (struct ctx *c)
{
  cleanup_error dk_err_t e = NULL;
  if (env_long ("DK_NETSETUP_SPARES", 1) <= 0 || pending_dir)
    return;
  pending_dir = spare_dir (c);
  if (dk_mkdir_p (pending_dir, 0700, &e) == 0)
    linger_afterwards (hold_after_exit);
}

void
nspool_refill (struct ctx *c)
{
  cleanup_free char *dir = spare_dir (c);
  cleanup_error dk_err_t e = NULL;
  long want = env_long ("DK_NETSETUP_SPARES", 1);
  if (want <= 0 || dk_mkdir_p (dir, 0700, &e) < 0 || spares_live (dir) >= want)
    return;
  fflush (NULL);
  if (fork () != 0)
    return; /* the holder is on its own; a failed fork only means no spare */
  int none = -1;
  linger_detach (&none, 1);
  holder_main (dir);
  _exit (0);
}
