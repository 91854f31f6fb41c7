#include "resolve.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_SYMLINKS 40

static int force_fallback;
/* 1 once openat2 answered ENOSYS (old kernel) or EPERM (a seccomp filter). */
static int no_openat2;

void
dk_resolve_force_fallback (int on)
{
  force_fallback = on;
}

char *
dk_path_clean_in_root (const char *path)
{
  size_t n = strlen (path);
  char *out = xmalloc (n + 2);
  size_t len = 0;
  const char *p = path;
  while (*p)
    {
      while (*p == '/')
        p++;
      if (*p == '\0')
        break;
      const char *e = strchrnul (p, '/');
      size_t cl = (size_t)(e - p);
      if (cl == 1 && p[0] == '.')
        ;
      else if (cl == 2 && p[0] == '.' && p[1] == '.')
        {
          /* drop the last component; at the root ".." stays at the root */
          while (len > 0 && out[len - 1] != '/')
            len--;
          if (len > 0)
            len--;
        }
      else
        {
          if (len > 0)
            out[len++] = '/';
          memcpy (out + len, p, cl);
          len += cl;
        }
      p = e;
    }
  if (len == 0)
    out[len++] = '.';
  out[len] = '\0';
  return out;
}

/* A stack of directory fds from the root down to where the walk stands. */
struct walk
{
  int *fds;
  size_t n, cap;
};

static void
walk_push (struct walk *w, int fd)
{
  if (w->n == w->cap)
    {
      w->cap = w->cap ? 2 * w->cap : 16;
      w->fds = xrealloc (w->fds, w->cap * sizeof (int));
    }
  w->fds[w->n++] = fd;
}

static void
walk_pop_to (struct walk *w, size_t n)
{
  while (w->n > n)
    close (w->fds[--w->n]);
}

static void
walk_free (struct walk *w)
{
  walk_pop_to (w, 0);
  free (w->fds);
}

static char *
read_link (int linkfd)
{
  size_t cap = 256;
  for (;;)
    {
      char *buf = xmalloc (cap);
      ssize_t n = readlinkat (linkfd, "", buf, cap);
      if (n < 0)
        {
          free (buf);
          return NULL;
        }
      if ((size_t)n < cap)
        {
          buf[n] = '\0';
          return buf;
        }
      free (buf);
      cap *= 2;
    }
}

/* The walk for kernels without openat2: one component at a time with
   O_NOFOLLOW, symlinks expanded by hand, ".." never above the root. */
static int
open_fallback (int rootfd, const char *path, int flags, mode_t mode, dk_err_t *err)
{
  struct walk w = { NULL, 0, 0 };
  int r = fcntl (rootfd, F_DUPFD_CLOEXEC, 3);
  if (r < 0)
    return dk_make_error (err, errno, "dup root fd");
  walk_push (&w, r);
  char *rem = xstrdup (path);
  size_t off = 0;
  int links = 0, ret = -1;
  for (;;)
    {
      while (rem[off] == '/')
        off++;
      int top = w.fds[w.n - 1];
      if (rem[off] == '\0')
        {
          /* the path names a directory already open: reopen it */
          ret = openat (top, ".", (flags & ~(O_CREAT | O_EXCL)) | O_CLOEXEC, mode);
          if (ret < 0)
            dk_make_error (err, errno, "open `%s`", path);
          break;
        }
      char *comp = rem + off;
      char *end = strchrnul (comp, '/');
      size_t next = (size_t)(end - rem);
      bool last = true;
      for (const char *q = end; *q; q++)
        if (*q != '/')
          {
            last = false;
            break;
          }
      char saved = *end;
      *end = '\0';
      if (strcmp (comp, ".") == 0 || strcmp (comp, "..") == 0)
        {
          if (comp[1] == '.' && w.n > 1)
            walk_pop_to (&w, w.n - 1);
          *end = saved;
          off = next;
          continue;
        }
      int fd = openat (top, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0 && errno == ENOENT && last && (flags & O_CREAT))
        {
          ret = openat (top, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
          if (ret < 0)
            dk_make_error (err, errno, "open `%s`", path);
          break;
        }
      if (fd < 0)
        {
          dk_make_error (err, errno, "open `%s`", path);
          break;
        }
      struct stat st;
      if (fstat (fd, &st) < 0)
        {
          dk_make_error (err, errno, "stat `%s`", path);
          close (fd);
          break;
        }
      if (last && (flags & O_CREAT) && (flags & O_EXCL))
        {
          /* as the kernel: O_EXCL never follows a final symlink */
          close (fd);
          dk_make_error (err, EEXIST, "open `%s`", path);
          break;
        }
      if (S_ISLNK (st.st_mode) && !(last && (flags & O_NOFOLLOW)))
        {
          char *target = ++links > MAX_SYMLINKS ? NULL : read_link (fd);
          close (fd);
          if (target == NULL)
            {
              dk_make_error (err, links > MAX_SYMLINKS ? ELOOP : errno, "open `%s`", path);
              break;
            }
          *end = saved;
          char *nrem = rem[next] ? xasprintf ("%s%s", target, rem + next) : xstrdup (target);
          if (target[0] == '/')
            walk_pop_to (&w, 1);
          free (target);
          free (rem);
          rem = nrem;
          off = 0;
          continue;
        }
      if (last)
        {
          close (fd);
          if (saved == '/')
            flags |= O_DIRECTORY;
          ret = openat (top, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
          if (ret < 0)
            dk_make_error (err, errno, "open `%s`", path);
          break;
        }
      if (!S_ISDIR (st.st_mode))
        {
          close (fd);
          dk_make_error (err, ENOTDIR, "open `%s`", path);
          break;
        }
      walk_push (&w, fd);
      *end = saved;
      off = next;
    }
  free (rem);
  walk_free (&w);
  return ret;
}

int
dk_open_in_root (int rootfd, const char *path, int flags, mode_t mode, dk_err_t *err)
{
  if (path[0] == '\0')
    path = ".";
  if (!force_fallback && !no_openat2)
    {
      struct open_how how = { 0 };
      how.flags = (unsigned long long)(flags | O_CLOEXEC);
      how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
      how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
      for (int tries = 0; tries < 16; tries++)
        {
          long fd = syscall (SYS_openat2, rootfd, path, &how, sizeof how);
          if (fd >= 0)
            return (int)fd;
          if (errno == EAGAIN || errno == EINTR)
            continue;
          if (errno == ENOSYS || errno == EPERM)
            {
              no_openat2 = 1;
              break;
            }
          return dk_make_error (err, errno, "open `%s`", path);
        }
      if (!no_openat2)
        return dk_make_error (err, EAGAIN, "open `%s`", path);
    }
  return open_fallback (rootfd, path, flags, mode, err);
}

int
dk_open_parent_in_root (int rootfd, const char *path, mode_t mkdir_mode, char **base, dk_err_t *err)
{
  *base = NULL;
  cleanup_free char *clean = dk_path_clean_in_root (path);
  /* the root itself: the root and "." (never "..": the base is safe to
     use with *at() calls on the returned fd) */
  char *slash = strrchr (clean, '/');
  const char *last = slash ? slash + 1 : clean;
  cleanup_close int dirfd = fcntl (rootfd, F_DUPFD_CLOEXEC, 3);
  if (dirfd < 0)
    return dk_make_error (err, errno, "dup root fd");
  if (slash)
    {
      *slash = '\0';
      /* prefix by prefix, each resolved from the root, so that a missing
         directory can be made inside the (resolved) one before it */
      char *comp = clean;
      for (;;)
        {
          char *e = strchrnul (comp, '/');
          char saved = *e;
          *e = '\0';
          cleanup_error dk_err_t e1 = NULL;
          int fd = dk_open_in_root (rootfd, clean, O_PATH | O_DIRECTORY, 0, &e1);
          if (fd < 0 && mkdir_mode != 0 && e1->status == ENOENT)
            {
              dk_error_release (&e1);
              if (mkdirat (dirfd, comp, mkdir_mode) < 0 && errno != EEXIST)
                return dk_make_error (err, errno, "mkdir `%s`", clean);
              fd = dk_open_in_root (rootfd, clean, O_PATH | O_DIRECTORY, 0, &e1);
            }
          if (fd < 0)
            {
              if (err)
                {
                  dk_error_release (err);
                  *err = steal_ptr (&e1);
                }
              return dk_error_wrap (err, "parent of `%s`", path);
            }
          close (dirfd);
          dirfd = fd;
          *e = saved;
          if (saved == '\0')
            break;
          comp = e + 1;
        }
    }
  *base = xstrdup (last);
  return steal_fd (&dirfd);
}
