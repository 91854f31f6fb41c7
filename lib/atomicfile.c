#include "atomicfile.h"
#include "scratchfile.h"
#include "cleanup.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
write_all (int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      p += n;
      len -= (size_t)n;
    }
  return 0;
}

/* Temp file in the target's directory, rename over the target; with
   durable, fsync of the file before and of the directory after. */
static int
replace_at (int dirfd, const char *name, const void *data, size_t len, mode_t mode, bool durable,
            dk_err_t *err)
{
  const char *slash = strrchr (name, '/');
  cleanup_free char *tmp
      = slash ? xasprintf ("%.*s/.%s.tmp.%d", (int)(slash - name), name, slash + 1, (int)getpid ())
              : xasprintf (".%s.tmp.%d", name, (int)getpid ());
  cleanup_close int fd = openat (dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return dk_make_error (err, errno, "create `%s`", tmp);
  if (write_all (fd, data, len) < 0 || (durable && fsync (fd) < 0))
    {
      int e = errno;
      unlinkat (dirfd, tmp, 0);
      return dk_make_error (err, e, "write `%s`", name);
    }
  if (fchmod (fd, mode) < 0 || renameat (dirfd, tmp, dirfd, name) < 0)
    {
      int e = errno;
      unlinkat (dirfd, tmp, 0);
      return dk_make_error (err, e, "rename to `%s`", name);
    }
  if (!durable)
    return 0;
  cleanup_free char *dir = slash ? xstrndup (name, (size_t)(slash - name)) : xstrdup (".");
  int dfd = openat (dirfd, dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0)
    {
      fsync (dfd);
      close (dfd);
    }
  return 0;
}

int
dk_atomic_write_at (int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                    dk_err_t *err)
{
  return replace_at (dirfd, name, data, len, mode, true, err);
}

int
dk_atomic_write (const char *path, const void *data, size_t len, mode_t mode, dk_err_t *err)
{
  return replace_at (AT_FDCWD, path, data, len, mode, true, err);
}

int
dk_scratch_write (const char *path, const void *data, size_t len, mode_t mode, dk_err_t *err)
{
  return replace_at (AT_FDCWD, path, data, len, mode, false, err);
}

static int
write_json (const char *path, jv v, bool durable, dk_err_t *err)
{
  struct dk_buf b = DK_BUF_INIT;
  dk_json_dump_buf (&b, v);
  jv_free (v);
  dk_buf_addc (&b, '\n');
  int r = replace_at (AT_FDCWD, path, b.data, b.len, 0644, durable, err);
  dk_buf_free (&b);
  return r;
}

int
dk_atomic_write_json (const char *path, jv v, dk_err_t *err)
{
  return write_json (path, v, true, err);
}

int
dk_scratch_write_json (const char *path, jv v, dk_err_t *err)
{
  return write_json (path, v, false, err);
}

int
dk_read_file (const char *path, char **out, size_t *len, dk_err_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s`", path);
  struct dk_buf b = DK_BUF_INIT;
  char chunk[65536];
  for (;;)
    {
      ssize_t n = read (fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          dk_buf_free (&b);
          return dk_make_error (err, errno, "read `%s`", path);
        }
      if (n == 0)
        break;
      dk_buf_add (&b, chunk, (size_t)n);
    }
  if (len)
    *len = b.len;
  *out = dk_buf_steal (&b);
  return 0;
}

int
dk_mkdir_p (const char *path, mode_t mode, dk_err_t *err)
{
  cleanup_free char *p = xstrdup (path);
  for (char *s = p + 1; *s; s++)
    {
      if (*s != '/')
        continue;
      *s = '\0';
      if (mkdir (p, mode) < 0 && errno != EEXIST)
        return dk_make_error (err, errno, "mkdir `%s`", p);
      *s = '/';
    }
  if (mkdir (p, mode) < 0 && errno != EEXIST)
    return dk_make_error (err, errno, "mkdir `%s`", p);
  return 0;
}

static int
rm_cb (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)ftw;
  int r = (flag == FTW_DP) ? rmdir (path) : unlink (path);
  if (r < 0 && errno != ENOENT)
    return -1;
  return 0;
}

int
dk_remove_tree (const char *path, dk_err_t *err)
{
  struct stat st;
  if (lstat (path, &st) < 0)
    return errno == ENOENT ? 0 : dk_make_error (err, errno, "stat `%s`", path);
  if (!S_ISDIR (st.st_mode))
    {
      if (unlink (path) < 0 && errno != ENOENT)
        return dk_make_error (err, errno, "remove `%s`", path);
      return 0;
    }
  if (nftw (path, rm_cb, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
    return dk_make_error (err, errno, "remove `%s`", path);
  return 0;
}

int
dk_fsync_dir (const char *path, dk_err_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync (fd) < 0)
    return dk_make_error (err, errno, "fsync `%s`", path);
  return 0;
}
