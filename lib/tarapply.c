#include "tarapply.h"
#include "cleanup.h"
#include "filepool.h"
#include "tarapply_internal.h"

#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct dirtime
{
  char *path;
  struct timespec ts[2];
};

struct applier
{
  int rootfd;
  const struct dk_tarapply_opts *o;
  struct dk_pathset created;
  struct dirtime *dirs;
  size_t n_dirs, cap_dirs;
  /* the directory of the previous entry, kept open: layers list a
     directory's entries together */
  char *cache_path;
  int cache_fd;
  /* small regular files are created by these workers (lib/filepool.h) */
  struct dk_filepool *pool;
  /* every directory this layer has used (with its ancestors): a file of
     that name would replace a directory the workers may still fill, so it
     is not queued */
  struct dk_pathset usedirs;
};

static void
dirs_add (struct applier *ap, const char *path, size_t len)
{
  if (ap->pool == NULL)
    return;
  cleanup_free char *p = xstrndup (path, len);
  for (char *slash; *p && !dk_pathset_has (&ap->usedirs, p);)
    {
      dk_pathset_add (&ap->usedirs, p);
      if ((slash = strrchr (p, '/')) == NULL)
        break;
      *slash = '\0';
    }
}

/* files up to this size are read into memory and queued to the pool */
#define POOL_MAX_FILE (1 << 20)

static int
shard_of (struct applier *ap, const char *rel, const char *base)
{
  return dk_filepool_shard (ap->pool, rel, base > rel ? (size_t)(base - rel - 1) : 0);
}

static void
cache_drop (struct applier *ap)
{
  free (ap->cache_path);
  ap->cache_path = NULL;
  if (ap->cache_fd >= 0)
    close (ap->cache_fd);
  ap->cache_fd = -1;
}

/* Opens directory rel (relative, cleaned) inside the root, creating missing
   directories 0755 as Docker does for parents a layer does not list. */
static int
open_dir (struct applier *ap, const char *rel, dk_err_t *err)
{
  int fd = dk_openat_in_root (ap->rootfd, rel, O_RDONLY | O_DIRECTORY, 0);
  if (fd >= 0 || errno != ENOENT)
    {
      if (fd < 0)
        return dk_make_error (err, errno, "open directory `%s`", rel);
      return fd;
    }
  const char *slash = strrchr (rel, '/');
  cleanup_free char *parent = slash ? xstrndup (rel, slash - rel) : xstrdup ("");
  const char *base = slash ? slash + 1 : rel;
  cleanup_close int pfd = open_dir (ap, parent, err);
  if (pfd < 0)
    return -1;
  if (mkdirat (pfd, base, 0755) < 0 && errno != EEXIST)
    return dk_make_error (err, errno, "mkdir `%s`", rel);
  fd = dk_openat_in_root (ap->rootfd, rel, O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0)
    return dk_make_error (err, errno, "open directory `%s`", rel);
  return fd;
}

/* The parent directory of rel as a borrowed fd (cached). */
static int
parent_fd (struct applier *ap, const char *rel, const char **base, dk_err_t *err)
{
  const char *slash = strrchr (rel, '/');
  size_t plen = slash ? (size_t)(slash - rel) : 0;
  *base = slash ? slash + 1 : rel;
  if (ap->cache_path && strlen (ap->cache_path) == plen && memcmp (ap->cache_path, rel, plen) == 0)
    return ap->cache_fd;
  cache_drop (ap);
  cleanup_free char *parent = xstrndup (rel, plen);
  int fd = open_dir (ap, parent, err);
  if (fd < 0)
    return -1;
  dirs_add (ap, parent, plen);
  ap->cache_fd = fd;
  ap->cache_path = steal_ptr (&parent);
  return fd;
}

static int
write_data (struct archive *a, int fd, int64_t size, const char *rel, dk_err_t *err)
{
  const void *buf;
  size_t len;
  la_int64_t off;
  int64_t end = 0;
  int r;
  while ((r = archive_read_data_block (a, &buf, &len, &off)) == ARCHIVE_OK)
    {
      const char *p = buf;
      while (len > 0)
        {
          ssize_t w = pwrite (fd, p, len, off);
          if (w < 0)
            {
              if (errno == EINTR)
                continue;
              return dk_make_error (err, errno, "write `%s`", rel);
            }
          p += w;
          len -= w;
          off += w;
        }
      if (off > end)
        end = off;
    }
  if (r != ARCHIVE_EOF)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "read `%s` from layer: %s", rel,
                               archive_error_string (a));
  if (end < size && ftruncate (fd, size) < 0)
    return dk_make_error (err, errno, "truncate `%s`", rel);
  return 0;
}

/* Creates the entry's node at dfd/base without following anything: 0 (fd
   set for files and directories), -errno of the failing call (-EEXIST:
   something is there), 1 with *err for a bad entry. */
static int
create_node (struct applier *ap, struct archive_entry *e, int dfd, const char *base, mode_t type,
             mode_t perm, const char *hardlink, int *fd, dk_err_t *err)
{
  if (hardlink)
    {
      cleanup_free char *trel = dk_tar_clean_path (hardlink);
      if (trel == NULL || *trel == '\0')
        {
          dk_make_error_code (err, DK_ECODE_INVALID, 0,
                              "hard link target `%s` is outside of the target", hardlink);
          return 1;
        }
      const char *tslash = strrchr (trel, '/');
      cleanup_free char *tdir = tslash ? xstrndup (trel, tslash - trel) : xstrdup ("");
      cleanup_close int tfd = dk_openat_in_root (ap->rootfd, tdir, O_PATH | O_DIRECTORY, 0);
      if (tfd < 0 || linkat (tfd, tslash ? tslash + 1 : trel, dfd, base, 0) < 0)
        {
          if (errno == EEXIST)
            return -EEXIST;
          dk_make_error (err, errno, "hard link to `%s`", hardlink);
          return 1;
        }
      return 0;
    }
  switch (type)
    {
    case AE_IFREG:
      *fd = openat (dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      return *fd < 0 ? -errno : 0;
    case AE_IFDIR:
      if (mkdirat (dfd, base, 0700) < 0)
        return -errno;
      *fd = openat (dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (*fd < 0)
        {
          dk_make_error (err, errno, "open");
          return 1;
        }
      return 0;
    case AE_IFLNK:
      {
        const char *target = archive_entry_symlink (e);
        if (target == NULL)
          {
            dk_make_error_code (err, DK_ECODE_INVALID, 0, "symlink without a target");
            return 1;
          }
        return symlinkat (target, dfd, base) < 0 ? -errno : 0;
      }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
      return mknodat (dfd, base, type | perm, archive_entry_rdev (e)) < 0 ? -errno : 0;
    default:
      dk_make_error_code (err, DK_ECODE_INVALID, 0, "unsupported type 0%o", (unsigned)type);
      return 1;
    }
}

static int
apply_entry (struct applier *ap, struct archive *a, struct archive_entry *e, uint64_t *size,
             dk_err_t *err)
{
  const char *name = archive_entry_pathname (e);
  if (name == NULL)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "layer entry without a name");
  cleanup_free char *rel = dk_tar_clean_path (name);
  if (rel == NULL)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "layer entry `%s`: path is outside of the target", name);
  if (*rel == '\0')
    return 0; /* "./": the target itself */

  const char *base;
  int dfd = parent_fd (ap, rel, &base, err);
  if (dfd < 0)
    return dk_error_wrap (err, "layer entry `%s`", name);

  if (strncmp (base, DK_WH_PREFIX, strlen (DK_WH_PREFIX)) == 0)
    {
      /* removals may reach files still queued, anywhere below */
      if (ap->pool && dk_filepool_wait (ap->pool, -1, err) < 0)
        return -1;
      cleanup_free char *dirrel = xstrndup (rel, base - rel ? base - rel - 1 : 0);
      int r = dk_tar_whiteout (dfd, dirrel, base, ap->o->whiteouts, &ap->created, err);
      cache_drop (ap);
      return r < 0 ? dk_error_wrap (err, "layer entry `%s`", name) : 0;
    }

  uint32_t uid, gid;
  if (dk_idmap_map (ap->o->uidmap, ap->o->n_uidmap, archive_entry_uid (e), &uid) < 0
      || dk_idmap_map (ap->o->gidmap, ap->o->n_gidmap, archive_entry_gid (e), &gid) < 0)
    return dk_make_error_code (
        err, DK_ECODE_INVALID, 0, "layer entry `%s`: owner %lld:%lld cannot be mapped to a host id",
        name, (long long)archive_entry_uid (e), (long long)archive_entry_gid (e));

  const char *hardlink = archive_entry_hardlink (e);
  mode_t type = archive_entry_filetype (e);
  mode_t perm = archive_entry_perm (e) & 07777;

  if (ap->o->whiteouts == DK_WHITEOUT_DELETE)
    dk_pathset_add (&ap->created, rel);

  if (ap->pool)
    {
      if (type == AE_IFREG && !hardlink && archive_entry_sparse_count (e) == 0
          && archive_entry_size (e) >= 0 && archive_entry_size (e) <= POOL_MAX_FILE
          && !dk_pathset_has (&ap->usedirs, rel))
        {
          if (dk_filepool_submit_entry (ap->pool, shard_of (ap, rel, base), a, e, dfd, rel, base,
                                        uid, gid, perm, err)
              < 0)
            return -1;
          *size += archive_entry_size (e);
          if (ap->o->on_file && archive_entry_size (e) > 0)
            ap->o->on_file (ap->o->on_file_data, rel);
          return 0;
        }
      /* whatever else happens in this directory comes after the files
         queued before it; a hard link's target may be in any directory, a
         directory replaced by a file may have files queued anywhere below */
      bool any = hardlink || dk_pathset_has (&ap->usedirs, rel);
      if (dk_filepool_wait (ap->pool, any ? -1 : shard_of (ap, rel, base), err) < 0)
        return -1;
      if (type == AE_IFDIR)
        dirs_add (ap, rel, strlen (rel));
    }

  /* create first; only when something is in the way (EEXIST: a later entry
     of the same name, or a parent layer's file under vfs) look at it and
     remove it, never following it.  A fresh overlay2 layer directory never
     pays for the lookup. */
  cleanup_close int fd = -1;
  for (int attempt = 0;; attempt++)
    {
      int r = create_node (ap, e, dfd, base, type, perm, hardlink, &fd, err);
      if (r > 0)
        return dk_error_wrap (err, "layer entry `%s`", name);
      if (r == 0)
        break;
      if (r != -EEXIST || attempt > 0)
        return dk_make_error (err, -r, "layer entry `%s`: create", name);
      struct stat st;
      if (fstatat (dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return dk_make_error (err, errno, "layer entry `%s`: stat", name);
      if (type == AE_IFDIR && !hardlink && S_ISDIR (st.st_mode))
        {
          fd = openat (dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (fd < 0)
            return dk_make_error (err, errno, "layer entry `%s`: open", name);
          break;
        }
      if (ap->pool && dk_filepool_wait (ap->pool, -1, err) < 0)
        return -1;
      if (dk_remove_at (dfd, base, err) < 0)
        return dk_error_wrap (err, "layer entry `%s`", name);
      if (S_ISDIR (st.st_mode))
        cache_drop (ap), dfd = parent_fd (ap, rel, &base, err);
      if (dfd < 0)
        return -1;
    }
  if (hardlink)
    return 0;
  if (type == AE_IFREG)
    {
      if (write_data (a, fd, archive_entry_size (e), rel, err) < 0)
        return -1;
      *size += archive_entry_size (e);
      if (ap->o->on_file && archive_entry_size (e) > 0 && archive_entry_sparse_count (e) == 0)
        ap->o->on_file (ap->o->on_file_data, rel);
    }

  /* owner first (chown clears setuid bits and security.capability), then
     mode and xattrs (lib/tarmeta.c), times last */
  if (dk_tar_set_owner_mode (e, fd, dfd, base, rel, name, uid, gid, perm, err) < 0)
    return -1;
  struct timespec ts[2];
  dk_tar_entry_times (e, ts);
  if (type == AE_IFDIR)
    {
      if (ap->n_dirs == ap->cap_dirs)
        {
          ap->cap_dirs = ap->cap_dirs ? ap->cap_dirs * 2 : 64;
          ap->dirs = xrealloc (ap->dirs, ap->cap_dirs * sizeof *ap->dirs);
        }
      ap->dirs[ap->n_dirs++] = (struct dirtime){ steal_ptr (&rel), { ts[0], ts[1] } };
    }
  else if ((fd >= 0 ? futimens (fd, ts) : utimensat (dfd, base, ts, AT_SYMLINK_NOFOLLOW)) < 0)
    return dk_make_error (err, errno, "layer entry `%s`: set times", name);
  return 0;
}

int
dk_tar_apply (struct archive *a, int rootfd, const struct dk_tarapply_opts *o, uint64_t *size,
              dk_err_t *err)
{
  struct applier ap = { .rootfd = rootfd, .o = o, .cache_fd = -1 };
  /* DK_UNPACK_THREADS: workers creating files (default: one per CPU, at
     most 4; 1 or less: none) */
  const char *th = getenv ("DK_UNPACK_THREADS");
  long nth = th ? strtol (th, NULL, 10) : sysconf (_SC_NPROCESSORS_ONLN);
  if (nth > 1)
    ap.pool = dk_filepool_new (nth > 4 ? 4 : (int)nth);
  struct archive_entry *e;
  int ret = 0, r;
  *size = 0;
  while ((r = archive_read_next_header (a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)
    if ((ret = apply_entry (&ap, a, e, size, err)) < 0)
      break;
  if (ret == 0 && r != ARCHIVE_EOF)
    ret = dk_make_error_code (err, DK_ECODE_INVALID, 0, "read layer: %s",
                              archive_error_string (a) ? archive_error_string (a) : "bad tar");
  if (ap.pool && dk_filepool_wait (ap.pool, -1, ret < 0 ? NULL : err) < 0)
    ret = -1;
  dk_filepool_free (ap.pool);
  cache_drop (&ap);
  /* directory times last: creating their entries changed them */
  for (size_t i = ap.n_dirs; i-- > 0;)
    {
      if (ret == 0)
        {
          cleanup_close int fd
              = dk_openat_in_root (rootfd, ap.dirs[i].path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
          if (fd >= 0 && futimens (fd, ap.dirs[i].ts) < 0)
            ret = dk_make_error (err, errno, "set times of `%s`", ap.dirs[i].path);
        }
      free (ap.dirs[i].path);
    }
  free (ap.dirs);
  dk_pathset_free (&ap.created);
  dk_pathset_free (&ap.usedirs);
  return ret;
}
