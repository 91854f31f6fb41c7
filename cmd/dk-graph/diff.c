#include "diff.h"
#include "cleanup.h"
#include "tarapply.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static bool
is_whiteout (const struct stat *st)
{
  return S_ISCHR (st->st_mode) && st->st_rdev == makedev (0, 0);
}

static bool
is_opaque (int dirfd)
{
  char v[4];
  ssize_t n = fgetxattr (dirfd, "trusted.overlay.opaque", v, sizeof v);
  return n == 1 && v[0] == 'y';
}

static int
cmp_names (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

static int
sorted_names (int dirfd, char ***names, dk_err_t *err)
{
  int fd2 = dup (dirfd);
  if (fd2 < 0)
    return dk_make_error (err, errno, "dup");
  DIR *d = fdopendir (fd2);
  if (d == NULL)
    {
      close (fd2);
      return dk_make_error (err, errno, "opendir");
    }
  char **v = NULL;
  int n = 0;
  struct dirent *de;
  while ((de = readdir (d)))
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      v = xrealloc (v, (n + 2) * sizeof *v);
      v[n++] = xstrdup (de->d_name);
    }
  closedir (d);
  if (v == NULL)
    v = xzalloc (sizeof *v);
  v[n] = NULL;
  qsort (v, n, sizeof *v, cmp_names);
  *names = v;
  return n;
}

static jv
change (const char *path, int kind)
{
  jv o = jv_object_set (jv_object (), jv_string ("Path"), jv_string_fmt ("/%s", path));
  return jv_object_set (o, jv_string ("Kind"), jv_number (kind));
}

static char *
join (const char *a, const char *b)
{
  return *a ? xasprintf ("%s/%s", a, b) : xstrdup (b);
}

/* Does rel exist in the lower layers (top first)? */
static bool
in_lowers (char *const *lowers, int n, const char *rel)
{
  for (int i = 0; i < n; i++)
    {
      cleanup_close int root = open (lowers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (root < 0)
        continue;
      cleanup_close int fd = dk_openat_in_root (root, rel, O_PATH | O_NOFOLLOW, 0);
      if (fd < 0)
        continue;
      struct stat st;
      if (fstat (fd, &st) == 0)
        return !is_whiteout (&st);
    }
  return false;
}

static int
walk_overlay (int dfd, const char *rel, char *const *lowers, int n, jv *out, dk_err_t *err)
{
  cleanup_strv char **names = NULL;
  if (sorted_names (dfd, &names, err) < 0)
    return -1;
  for (char **p = names; *p; p++)
    {
      struct stat st;
      if (fstatat (dfd, *p, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return dk_make_error (err, errno, "stat `%s`", *p);
      cleanup_free char *sub = join (rel, *p);
      if (is_whiteout (&st))
        {
          *out = jv_array_append (*out, change (sub, CHANGE_DELETED));
          continue;
        }
      bool existed = in_lowers (lowers, n, sub);
      *out = jv_array_append (*out, change (sub, existed ? CHANGE_MODIFIED : CHANGE_ADDED));
      if (S_ISDIR (st.st_mode))
        {
          cleanup_close int sfd = openat (dfd, *p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (sfd < 0)
            return dk_make_error (err, errno, "open `%s`", sub);
          if (walk_overlay (sfd, sub, is_opaque (sfd) ? NULL : lowers, is_opaque (sfd) ? 0 : n, out,
                            err)
              < 0)
            return -1;
        }
    }
  return 0;
}

int
changes_overlay (const char *upper, char *const *lowers, int n, jv *out, dk_err_t *err)
{
  cleanup_close int fd = open (upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s`", upper);
  *out = jv_array ();
  return walk_overlay (fd, "", lowers, n, out, err);
}

static bool
same (const struct stat *a, const struct stat *b, int afd, int bfd, const char *name)
{
  if ((a->st_mode != b->st_mode) || a->st_uid != b->st_uid || a->st_gid != b->st_gid
      || a->st_rdev != b->st_rdev || a->st_mtim.tv_sec != b->st_mtim.tv_sec
      || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec)
    return false;
  if (S_ISDIR (a->st_mode))
    return true;
  if (a->st_size != b->st_size)
    return false;
  if (S_ISLNK (a->st_mode))
    {
      char x[4096], y[4096];
      ssize_t nx = readlinkat (afd, name, x, sizeof x), ny = readlinkat (bfd, name, y, sizeof y);
      return nx == ny && nx >= 0 && memcmp (x, y, nx) == 0;
    }
  return true;
}

static int
walk_dirs (int nfd, int ofd, const char *rel, jv *out, dk_err_t *err)
{
  cleanup_strv char **names = NULL;
  if (sorted_names (nfd, &names, err) < 0)
    return -1;
  cleanup_strv char **onames = NULL;
  if (ofd >= 0 && sorted_names (ofd, &onames, err) < 0)
    return -1;
  /* merge the two sorted lists */
  char **p = names, **q = onames;
  while (*p || (q && *q))
    {
      int c = !*p ? 1 : (!q || !*q) ? -1 : strcmp (*p, *q);
      const char *name = c <= 0 ? *p : *q;
      cleanup_free char *sub = join (rel, name);
      if (c > 0)
        {
          *out = jv_array_append (*out, change (sub, CHANGE_DELETED));
          q++;
          continue;
        }
      struct stat ns, os;
      if (fstatat (nfd, name, &ns, AT_SYMLINK_NOFOLLOW) < 0)
        return dk_make_error (err, errno, "stat `%s`", sub);
      bool old = c == 0 && fstatat (ofd, name, &os, AT_SYMLINK_NOFOLLOW) == 0;
      if (!old)
        *out = jv_array_append (*out, change (sub, CHANGE_ADDED));
      else if (!same (&ns, &os, nfd, ofd, name))
        *out = jv_array_append (*out, change (sub, CHANGE_MODIFIED));
      if (S_ISDIR (ns.st_mode))
        {
          cleanup_close int sn
              = openat (nfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          cleanup_close int so
              = old && S_ISDIR (os.st_mode)
                    ? openat (ofd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    : -1;
          if (sn < 0)
            return dk_make_error (err, errno, "open `%s`", sub);
          if (walk_dirs (sn, so, sub, out, err) < 0)
            return -1;
        }
      p++;
      if (c == 0)
        q++;
    }
  return 0;
}

int
changes_dirs (const char *newdir, const char *olddir, jv *out, dk_err_t *err)
{
  cleanup_close int nfd = open (newdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (nfd < 0)
    return dk_make_error (err, errno, "open `%s`", newdir);
  cleanup_close int ofd = olddir ? open (olddir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  if (olddir && ofd < 0)
    return dk_make_error (err, errno, "open `%s`", olddir);
  *out = jv_array ();
  return walk_dirs (nfd, ofd, "", out, err);
}

/* ---- tar writing ---- */

struct tarw
{
  struct archive *a;
  jv links; /* "dev:ino" -> first path */
};

static int
tar_fail (struct tarw *w, dk_err_t *err)
{
  return dk_make_error (err, archive_errno (w->a) > 0 ? archive_errno (w->a) : 0, "write tar: %s",
                        archive_error_string (w->a) ? archive_error_string (w->a) : "failed");
}

static int
tar_whiteout (struct tarw *w, const char *path, const struct stat *st, dk_err_t *err)
{
  struct archive_entry *e = archive_entry_new ();
  archive_entry_set_pathname (e, path);
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0);
  archive_entry_set_size (e, 0);
  if (st)
    archive_entry_set_mtime (e, st->st_mtim.tv_sec, 0);
  int r = archive_write_header (w->a, e);
  archive_entry_free (e);
  return r < ARCHIVE_WARN ? tar_fail (w, err) : 0;
}

static int
tar_entry (struct tarw *w, int dfd, const char *name, const char *path, const struct stat *st,
           dk_err_t *err)
{
  struct archive_entry *e = archive_entry_new ();
  int ret = 0;
  archive_entry_copy_stat (e, st);
  archive_entry_set_pathname (e, path);
  archive_entry_unset_atime (e);
  archive_entry_unset_ctime (e);
  cleanup_close int fd = -1;
  if (S_ISLNK (st->st_mode))
    {
      char target[4097];
      ssize_t n = readlinkat (dfd, name, target, sizeof target - 1);
      if (n < 0)
        {
          archive_entry_free (e);
          return dk_make_error (err, errno, "readlink `%s`", path);
        }
      target[n] = '\0';
      archive_entry_set_symlink (e, target);
    }
  else if (!S_ISDIR (st->st_mode) && st->st_nlink > 1)
    {
      cleanup_free char *key
          = xasprintf ("%lu:%lu", (unsigned long)st->st_dev, (unsigned long)st->st_ino);
      const char *first = dk_json_str (w->links, key);
      if (first)
        {
          archive_entry_set_hardlink (e, first);
          archive_entry_set_size (e, 0);
        }
      else
        w->links = jv_object_set (w->links, jv_string (key), jv_string (path));
    }
  if (S_ISREG (st->st_mode) && archive_entry_hardlink (e) == NULL)
    {
      fd = openat (dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        {
          archive_entry_free (e);
          return dk_make_error (err, errno, "open `%s`", path);
        }
    }
  /* xattrs (not overlay's own) */
  char list[16384];
  cleanup_free char *proc = xasprintf ("/proc/self/fd/%d/%s", dfd, name);
  ssize_t nl = llistxattr (proc, list, sizeof list);
  for (char *k = list; nl > 0 && k < list + nl; k += strlen (k) + 1)
    {
      if (strncmp (k, "trusted.overlay.", 16) == 0)
        continue;
      char val[65536];
      ssize_t vl = lgetxattr (proc, k, val, sizeof val);
      if (vl >= 0)
        archive_entry_xattr_add_entry (e, k, val, vl);
    }
  if (archive_write_header (w->a, e) < ARCHIVE_WARN)
    ret = tar_fail (w, err);
  archive_entry_free (e);
  if (ret == 0 && fd >= 0)
    {
      char buf[65536];
      ssize_t n;
      while ((n = read (fd, buf, sizeof buf)) > 0)
        if (archive_write_data (w->a, buf, n) < 0)
          return tar_fail (w, err);
      if (n < 0)
        return dk_make_error (err, errno, "read `%s`", path);
    }
  return ret;
}

static int
tar_walk_overlay (struct tarw *w, int dfd, const char *rel, dk_err_t *err)
{
  cleanup_strv char **names = NULL;
  if (sorted_names (dfd, &names, err) < 0)
    return -1;
  for (char **p = names; *p; p++)
    {
      struct stat st;
      if (fstatat (dfd, *p, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return dk_make_error (err, errno, "stat `%s`", *p);
      if (is_whiteout (&st))
        {
          cleanup_free char *wh = xasprintf ("%s%s.wh.%s", rel, *rel ? "/" : "", *p);
          if (tar_whiteout (w, wh, &st, err) < 0)
            return -1;
          continue;
        }
      cleanup_free char *sub = join (rel, *p);
      if (tar_entry (w, dfd, *p, sub, &st, err) < 0)
        return -1;
      if (S_ISDIR (st.st_mode))
        {
          cleanup_close int sfd = openat (dfd, *p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (sfd < 0)
            return dk_make_error (err, errno, "open `%s`", sub);
          if (is_opaque (sfd))
            {
              cleanup_free char *wh = xasprintf ("%s/.wh..wh..opq", sub);
              if (tar_whiteout (w, wh, &st, err) < 0)
                return -1;
            }
          if (tar_walk_overlay (w, sfd, sub, err) < 0)
            return -1;
        }
    }
  return 0;
}

static int
tar_open (struct tarw *w, int out_fd, dk_err_t *err)
{
  w->a = archive_write_new ();
  w->links = jv_object ();
  archive_write_set_format_pax_restricted (w->a);
  archive_write_set_bytes_in_last_block (w->a, 1);
  if (archive_write_open_fd (w->a, out_fd) != ARCHIVE_OK)
    return tar_fail (w, err);
  return 0;
}

static int
tar_close (struct tarw *w, int ret, dk_err_t *err)
{
  if (archive_write_close (w->a) != ARCHIVE_OK && ret == 0)
    ret = tar_fail (w, err);
  archive_write_free (w->a);
  jv_free (w->links);
  return ret;
}

int
tar_overlay_dir (const char *dir, int out_fd, dk_err_t *err)
{
  cleanup_close int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s`", dir);
  struct tarw w;
  if (tar_open (&w, out_fd, err) < 0)
    return tar_close (&w, -1, err);
  return tar_close (&w, tar_walk_overlay (&w, fd, "", err), err);
}

int
tar_changes (const char *dir, jv changes, int out_fd, dk_err_t *err)
{
  cleanup_close int root = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return dk_make_error (err, errno, "open `%s`", dir);
  struct tarw w;
  if (tar_open (&w, out_fd, err) < 0)
    return tar_close (&w, -1, err);
  int ret = 0;
  jv_array_foreach (changes, i, c)
  {
    if (ret == 0)
      {
        const char *path = dk_json_str (c, "Path") + 1;
        int64_t kind = 0;
        dk_json_int (c, "Kind", &kind);
        const char *slash = strrchr (path, '/');
        cleanup_free char *parent = slash ? xstrndup (path, slash - path) : xstrdup ("");
        const char *base = slash ? slash + 1 : path;
        if (kind == CHANGE_DELETED)
          {
            cleanup_free char *wh = xasprintf ("%s%s.wh.%s", parent, *parent ? "/" : "", base);
            ret = tar_whiteout (&w, wh, NULL, err);
          }
        else
          {
            cleanup_close int pfd = dk_openat_in_root (root, parent, O_RDONLY | O_DIRECTORY, 0);
            struct stat st;
            if (pfd < 0 || fstatat (pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
              ret = dk_make_error (err, errno, "stat `%s`", path);
            else
              ret = tar_entry (&w, pfd, base, path, &st, err);
          }
      }
    jv_free (c);
  }
  return tar_close (&w, ret, err);
}
