/* Lingerers: children that take over the kernel's slow tails so that
   dk-netsetup returns as soon as the change is visible (docs/network.md,
   "Performance").  A lingerer may run one blocking call (the RTM_DELLINK of
   a veth, whose answer waits for an RCU barrier after the link is already
   gone), and keeps a netfilter socket open until this process has
   exited, so that its last close (which waits for nf_tables' deferred
   destruction) happens there.  It closes every other fd, stdio included, so
   no caller waits for it and no lock or port stays held; it exits on its
   own, reparented to init. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "netsetup.h"

static int hold_r = -1, hold_w = -1; /* hold_w lives until we exit */

static int
cmp_int (const void *a, const void *b)
{
  return *(const int *)a - *(const int *)b;
}

/* Closes every fd >= 3 but the n of keep (-1 entries ignored). */
static void
close_all_but (int *keep, int n)
{
  qsort (keep, n, sizeof *keep, cmp_int);
  unsigned from = 3;
  for (int i = 0; i < n; i++)
    {
      if (keep[i] < (int)from)
        continue;
      if ((unsigned)keep[i] > from)
        close_range (from, keep[i] - 1, 0);
      from = keep[i] + 1;
    }
  close_range (from, ~0U, 0);
}

int
linger_fork (int keep, int (*fn) (void *data), void *data, int *res_fd, dk_err_t *err)
{
  if (hold_w < 0)
    {
      int p[2];
      if (pipe2 (p, O_CLOEXEC) < 0)
        return dk_make_error (err, errno, "pipe");
      hold_r = p[0];
      hold_w = p[1];
    }
  int res[2] = { -1, -1 };
  if (res_fd && pipe2 (res, O_CLOEXEC) < 0)
    return dk_make_error (err, errno, "pipe");
  pid_t pid = fork ();
  if (pid < 0)
    {
      int e = errno;
      if (res_fd)
        close (res[0]), close (res[1]);
      return dk_make_error (err, e, "fork");
    }
  if (pid == 0)
    {
      signal (SIGPIPE, SIG_IGN);
      int nul = open ("/dev/null", O_RDWR | O_CLOEXEC);
      if (nul >= 0)
        dup2 (nul, 0), dup2 (nul, 1), dup2 (nul, 2);
      int k[3] = { keep, hold_r, res[1] };
      close_all_but (k, 3);
      int r = fn ? fn (data) : 0;
      if (res[1] >= 0)
        {
          if (write (res[1], &r, sizeof r) < 0)
            r = errno;
          close (res[1]);
        }
      char b;
      while (read (hold_r, &b, 1) < 0 && errno == EINTR)
        ;
      _exit (0);
    }
  if (res_fd)
    {
      close (res[1]);
      *res_fd = res[0];
    }
  return 0;
}

int
linger_result (int res_fd, int *result)
{
  ssize_t n;
  while ((n = read (res_fd, result, sizeof *result)) < 0 && errno == EINTR)
    ;
  if (n != sizeof *result)
    *result = EIO; /* the lingerer died before answering */
  return 0;
}
