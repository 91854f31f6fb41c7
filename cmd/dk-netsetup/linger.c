/* Lingerers: children that take over the kernel's slow tails so that
   dk-netsetup returns as soon as the change is visible (docs/network.md,
   "Performance").  A lingerer may run one blocking call (the RTM_DELLINK of
   a veth, whose answer waits for an RCU barrier after the link is already
   gone), and keeps netfilter sockets open
   until this process has exited, so that their last close (which waits
   for nf_tables' deferred destruction) happens there.  It closes every
   other fd, stdio included, so no caller waits for it and no lock or port
   stays held; it exits on its own, reparented to init.

   Later fds to keep go to the last lingerer over a socket pair
   (SCM_RIGHTS) instead of a new fork: it never reads them, the message
   queued on its end holds them until it exits. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdpass.h"
#include "netsetup.h"

static int hold_r = -1, hold_w = -1; /* hold_w lives until we exit */
static int hand = -1;                /* our end of the last lingerer's pair */
static void (*afterwards) (void);    /* what lingerers do once we have exited */

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

void
linger_detach (int *keep, int n)
{
  signal (SIGPIPE, SIG_IGN);
  int nul = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (nul >= 0)
    dup2 (nul, 0), dup2 (nul, 1), dup2 (nul, 2);
  close_all_but (keep, n);
}

void
linger_afterwards (void (*fn) (void))
{
  afterwards = fn;
}

static void
close_pair (int p[2])
{
  for (int i = 0; i < 2; i++)
    if (p[i] >= 0)
      close (p[i]);
}

int
linger_fork (int keep, int (*fn) (void *data, int out), void *data, int *res_fd, dk_err_t *err)
{
  if (hold_w < 0)
    {
      int p[2];
      if (pipe2 (p, O_CLOEXEC) < 0)
        return dk_make_error (err, errno, "pipe");
      hold_r = p[0];
      hold_w = p[1];
    }
  int res[2] = { -1, -1 }, sp[2] = { -1, -1 };
  if (res_fd && pipe2 (res, O_CLOEXEC) < 0)
    return dk_make_error (err, errno, "pipe");
  if (hand < 0 && socketpair (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp) < 0)
    sp[0] = sp[1] = -1; /* no hand-over: later fds get their own lingerer */
  pid_t pid = fork ();
  if (pid < 0)
    {
      int e = errno;
      close_pair (res);
      close_pair (sp);
      return dk_make_error (err, e, "fork");
    }
  if (pid == 0)
    {
      int k[4] = { keep, hold_r, res[1], sp[1] };
      linger_detach (k, 4);
      int r = fn ? fn (data, res[1]) : 0;
      if (res[1] >= 0)
        close (res[1]);
      char b;
      while (read (hold_r, &b, 1) < 0 && errno == EINTR)
        ;
      if (afterwards)
        {
          close_range (3, ~0U, 0);
          afterwards ();
        }
      _exit (r == 0 ? 0 : 1);
    }
  if (res_fd)
    {
      close (res[1]);
      *res_fd = res[0];
    }
  if (sp[1] >= 0)
    {
      close (sp[1]);
      hand = sp[0];
    }
  return 0;
}

int
linger_keep (int fd, dk_err_t *err)
{
  if (hand >= 0 && dk_send_fds (hand, "", 1, &fd, 1, MSG_DONTWAIT) == 1)
    return 0;
  return linger_fork (fd, NULL, NULL, NULL, err);
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
