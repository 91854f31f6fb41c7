#include "scratchfile.h"
#include "buf.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
dk_scratch_write (const char *path, const void *data, size_t len, mode_t mode, dk_err_t *err)
{
  const char *slash = strrchr (path, '/');
  cleanup_free char *tmp
      = slash ? xasprintf ("%.*s/.%s.tmp.%d", (int)(slash - path), path, slash + 1, (int)getpid ())
              : xasprintf (".%s.tmp.%d", path, (int)getpid ());
  cleanup_close int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return dk_make_error (err, errno, "create `%s`", tmp);
  const char *p = data;
  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          unlink (tmp);
          return dk_make_error (err, e, "write `%s`", path);
        }
      p += n;
      len -= (size_t)n;
    }
  if (fchmod (fd, mode) < 0 || rename (tmp, path) < 0)
    {
      int e = errno;
      unlink (tmp);
      return dk_make_error (err, e, "rename to `%s`", path);
    }
  return 0;
}

int
dk_scratch_write_json (const char *path, jv v, dk_err_t *err)
{
  struct dk_buf b = DK_BUF_INIT;
  dk_json_dump_buf (&b, v);
  jv_free (v);
  dk_buf_addc (&b, '\n');
  int r = dk_scratch_write (path, b.data, b.len, 0644, err);
  dk_buf_free (&b);
  return r;
}
