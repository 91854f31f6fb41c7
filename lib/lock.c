#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

static int
take (const char *path, int op, dk_err_t *err)
{
  int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return dk_make_error (err, errno, "open lock `%s`", path);
  int r;
  do
    r = flock (fd, op);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    {
      int e = errno;
      close (fd);
      if (e == EWOULDBLOCK)
        return dk_make_error_code (err, DK_ECODE_CONFLICT, 0, "`%s` is locked by another process",
                                   path);
      return dk_make_error (err, e, "lock `%s`", path);
    }
  return fd;
}

int
dk_lock_acquire (const char *path, bool exclusive, dk_err_t *err)
{
  return take (path, exclusive ? LOCK_EX : LOCK_SH, err);
}

int
dk_lock_try (const char *path, bool exclusive, dk_err_t *err)
{
  return take (path, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB, err);
}

void
dk_lock_release (int fd)
{
  if (fd >= 0)
    close (fd);
}
