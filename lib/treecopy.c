#include "treecopy.h"
#include "cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

struct inode_link
{
  dev_t dev;
  ino_t ino;
  char *path; /* of the first copy, relative to the destination root */
};

struct copier
{
  int droot;
  struct inode_link *links;
  size_t n_links, cap_links;
};

static int
copy_xattrs (int sfd, int dfd, const char *sproc, const char *dproc, const char *name,
             dk_err_t *err)
{
  char list[16384];
  ssize_t n
      = sfd >= 0 ? flistxattr (sfd, list, sizeof list) : llistxattr (sproc, list, sizeof list);
  if (n < 0)
    return (errno == ENOTSUP || errno == ENODATA)
               ? 0
               : dk_make_error (err, errno, "list xattrs of `%s`", name);
  char val[65536];
  for (char *k = list; k < list + n; k += strlen (k) + 1)
    {
      ssize_t vl
          = sfd >= 0 ? fgetxattr (sfd, k, val, sizeof val) : lgetxattr (sproc, k, val, sizeof val);
      if (vl < 0)
        continue;
      int r = dfd >= 0 ? fsetxattr (dfd, k, val, vl, 0) : lsetxattr (dproc, k, val, vl, 0);
      if (r < 0 && errno != ENOTSUP && !(errno == EPERM && dfd < 0))
        return dk_make_error (err, errno, "set xattr %s on `%s`", k, name);
    }
  return 0;
}

static int copy_dir (struct copier *c, int sdir, int ddir, const char *path, dk_err_t *err);

static int
copy_data (int sfd, int dfd, off_t size, const char *name, dk_err_t *err)
{
  off_t left = size;
  while (left > 0)
    {
      ssize_t n = copy_file_range (sfd, NULL, dfd, NULL, left > (1 << 30) ? (1 << 30) : left, 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL))
        {
          char buf[65536];
          n = read (sfd, buf, sizeof buf);
          if (n > 0 && write (dfd, buf, n) != n)
            return dk_make_error (err, errno ? errno : EIO, "copy `%s`", name);
        }
      if (n < 0)
        return dk_make_error (err, errno, "copy `%s`", name);
      if (n == 0)
        break;
      left -= n;
    }
  return 0;
}

static int
copy_entry (struct copier *c, int sdir, int ddir, const char *name, const char *path, dk_err_t *err)
{
  struct stat st;
  if (fstatat (sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return dk_make_error (err, errno, "stat `%s`", path);
  if (!S_ISDIR (st.st_mode) && st.st_nlink > 1)
    for (size_t i = 0; i < c->n_links; i++)
      if (c->links[i].dev == st.st_dev && c->links[i].ino == st.st_ino)
        {
          if (linkat (c->droot, c->links[i].path, ddir, name, 0) < 0)
            return dk_make_error (err, errno, "link `%s`", path);
          return 0;
        }
  cleanup_close int sfd = -1;
  cleanup_close int dfd = -1;
  switch (st.st_mode & S_IFMT)
    {
    case S_IFREG:
      sfd = openat (sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      dfd = openat (ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (sfd < 0 || dfd < 0)
        return dk_make_error (err, errno, "open `%s`", path);
      if (copy_data (sfd, dfd, st.st_size, path, err) < 0)
        return -1;
      break;
    case S_IFDIR:
      if (mkdirat (ddir, name, 0700) < 0)
        return dk_make_error (err, errno, "mkdir `%s`", path);
      sfd = openat (sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      dfd = openat (ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sfd < 0 || dfd < 0)
        return dk_make_error (err, errno, "open `%s`", path);
      if (copy_dir (c, sfd, dfd, path, err) < 0)
        return -1;
      break;
    case S_IFLNK:
      {
        char target[PATH_MAX + 1];
        ssize_t n = readlinkat (sdir, name, target, PATH_MAX);
        if (n < 0)
          return dk_make_error (err, errno, "readlink `%s`", path);
        target[n] = '\0';
        if (symlinkat (target, ddir, name) < 0)
          return dk_make_error (err, errno, "symlink `%s`", path);
        break;
      }
    default:
      if (mknodat (ddir, name, st.st_mode, st.st_rdev) < 0)
        return dk_make_error (err, errno, "mknod `%s`", path);
    }
  if (fchownat (ddir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
    return dk_make_error (err, errno, "chown `%s`", path);
  if (dfd >= 0 ? fchmod (dfd, st.st_mode & 07777) < 0
               : (!S_ISLNK (st.st_mode) && fchmodat (ddir, name, st.st_mode & 07777, 0) < 0))
    return dk_make_error (err, errno, "chmod `%s`", path);
  cleanup_free char *sproc = xasprintf ("/proc/self/fd/%d/%s", sdir, name);
  cleanup_free char *dproc = xasprintf ("/proc/self/fd/%d/%s", ddir, name);
  if (copy_xattrs (sfd, dfd, sproc, dproc, path, err) < 0)
    return -1;
  struct timespec ts[2] = { st.st_atim, st.st_mtim };
  if (utimensat (ddir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
    return dk_make_error (err, errno, "set times of `%s`", path);
  if (!S_ISDIR (st.st_mode) && st.st_nlink > 1)
    {
      if (c->n_links == c->cap_links)
        {
          c->cap_links = c->cap_links ? c->cap_links * 2 : 16;
          c->links = xrealloc (c->links, c->cap_links * sizeof *c->links);
        }
      c->links[c->n_links++] = (struct inode_link){ st.st_dev, st.st_ino, xstrdup (path) };
    }
  return 0;
}

static int
copy_dir (struct copier *c, int sdir, int ddir, const char *path, dk_err_t *err)
{
  int fd2 = dup (sdir);
  if (fd2 < 0)
    return dk_make_error (err, errno, "dup");
  cleanup_closedir DIR *d = fdopendir (fd2);
  if (d == NULL)
    {
      close (fd2);
      return dk_make_error (err, errno, "opendir `%s`", path);
    }
  struct dirent *de;
  while ((de = readdir (d)))
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      cleanup_free char *sub = *path ? xasprintf ("%s/%s", path, de->d_name) : xstrdup (de->d_name);
      if (copy_entry (c, sdir, ddir, de->d_name, sub, err) < 0)
        return -1;
    }
  return 0;
}

int
dk_tree_copy (const char *src, const char *dst, dk_err_t *err)
{
  cleanup_close int sfd = open (src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (sfd < 0)
    return dk_make_error (err, errno, "open `%s`", src);
  cleanup_close int dfd = open (dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return dk_make_error (err, errno, "open `%s`", dst);
  struct copier c = { .droot = dfd };
  int ret = copy_dir (&c, sfd, dfd, "", err);
  for (size_t i = 0; i < c.n_links; i++)
    free (c.links[i].path);
  if (ret < 0)
    dk_error_wrap (err, "copy `%s`", src);
  free (c.links);
  if (ret < 0)
    return -1;
  struct stat st;
  if (fstat (sfd, &st) == 0)
    {
      struct timespec ts[2] = { st.st_atim, st.st_mtim };
      if (fchown (dfd, st.st_uid, st.st_gid) < 0 || fchmod (dfd, st.st_mode & 07777) < 0
          || futimens (dfd, ts) < 0)
        return dk_make_error (err, errno, "set attributes of `%s`", dst);
    }
  return 0;
}
