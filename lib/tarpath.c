/* Confinement of layer paths (declared in tarapply.h): lexical cleaning of
   tar names, opening inside the root with openat2(RESOLVE_IN_ROOT) and
   removing without following symlinks. */
#include "cleanup.h"
#include "tarapply_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int
dk_openat_in_root (int rootfd, const char *path, int flags, mode_t mode)
{
  struct open_how how = {
    .flags = flags | O_CLOEXEC,
    .mode = (flags & O_CREAT) ? mode : 0,
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  if (*path == '\0')
    path = ".";
  int fd;
  do
    fd = syscall (SYS_openat2, rootfd, path, &how, sizeof how);
  while (fd < 0 && errno == EAGAIN);
  return fd;
}

char *
dk_tar_clean_path (const char *name)
{
  size_t len = strlen (name);
  char *out = xmalloc (len + 1);
  size_t o = 0;
  const char *p = name;
  while (*p)
    {
      while (*p == '/')
        p++;
      const char *e = strchrnul (p, '/');
      size_t l = e - p;
      if (l == 0 || (l == 1 && p[0] == '.'))
        ;
      else if (l == 2 && p[0] == '.' && p[1] == '.')
        {
          if (o == 0)
            {
              free (out);
              return NULL;
            }
          while (o > 0 && out[o - 1] != '/')
            o--;
          if (o > 0)
            o--;
        }
      else
        {
          if (o > 0)
            out[o++] = '/';
          memcpy (out + o, p, l);
          o += l;
        }
      p = e;
    }
  out[o] = '\0';
  return out;
}

int
dk_remove_children (int dfd, const char *dirrel, const struct dk_pathset *keep, dk_err_t *err)
{
  int fd2 = dup (dfd);
  if (fd2 < 0)
    return dk_make_error (err, errno, "dup");
  cleanup_closedir DIR *d = fdopendir (fd2);
  if (d == NULL)
    {
      close (fd2);
      return dirrel ? dk_make_error (err, errno, "opendir `%s`", dirrel)
                    : dk_make_error (err, errno, "opendir");
    }
  struct dirent *de;
  while ((de = readdir (d)))
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (keep)
        {
          cleanup_free char *p
              = *dirrel ? xasprintf ("%s/%s", dirrel, de->d_name) : xstrdup (de->d_name);
          if (dk_pathset_has (keep, p))
            continue;
        }
      if (dk_remove_at (dfd, de->d_name, err) < 0)
        return -1;
    }
  return 0;
}

int
dk_remove_at (int dirfd, const char *name, dk_err_t *err)
{
  if (unlinkat (dirfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return dk_make_error (err, errno, "remove `%s`", name);
  cleanup_close int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s`", name);
  if (dk_remove_children (fd, NULL, NULL, err) < 0)
    return dk_error_wrap (err, "remove `%s`", name);
  if (unlinkat (dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return dk_make_error (err, errno, "remove `%s`", name);
  return 0;
}
