/* Passing fds over a unix socket (fdpass.h). */
#include "fdpass.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

union cbuf
{
  char buf[CMSG_SPACE (sizeof (int) * DK_FDS_MAX)];
  struct cmsghdr align;
};

ssize_t
dk_send_fds (int sock, const void *data, size_t len, const int *fds, int nfds, int flags)
{
  struct iovec iov = { (void *)data, len };
  union cbuf u;
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (nfds < 0 || nfds > DK_FDS_MAX)
    return errno = EINVAL, -1;
  if (nfds > 0)
    {
      memset (&u, 0, sizeof u);
      m.msg_control = u.buf;
      m.msg_controllen = CMSG_SPACE (sizeof (int) * nfds);
      struct cmsghdr *c = CMSG_FIRSTHDR (&m);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int) * nfds);
      memcpy (CMSG_DATA (c), fds, sizeof (int) * nfds);
    }
  return sendmsg (sock, &m, flags | MSG_NOSIGNAL);
}

ssize_t
dk_recv_fds (int sock, void *buf, size_t len, int *fds, int max, int *nfds, int *mflags)
{
  struct iovec iov = { buf, len };
  union cbuf u;
  struct msghdr m
      = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  *nfds = 0;
  ssize_t n = recvmsg (sock, &m, MSG_CMSG_CLOEXEC);
  if (n < 0)
    return n;
  bool extra = false;
  for (struct cmsghdr *c = CMSG_FIRSTHDR (&m); c; c = CMSG_NXTHDR (&m, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN (0)) / sizeof (int); i++)
        {
          int fd;
          memcpy (&fd, CMSG_DATA (c) + i * sizeof (int), sizeof fd);
          if (*nfds < max)
            fds[(*nfds)++] = fd;
          else
            {
              close (fd);
              extra = true;
            }
        }
  if (mflags)
    *mflags = m.msg_flags | (extra ? MSG_CTRUNC : 0);
  return n;
}
