/* An entry's metadata, in the order that keeps it: owner first (chown
   clears setuid bits and security.capability), then mode, then xattrs; the
   times come last (tarapply.c, directories' at the very end). */
#include "cleanup.h"
#include "tarapply_internal.h"

#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static int
set_xattrs (struct archive_entry *e, int fd, int dirfd, const char *base, const char *rel,
            dk_err_t *err)
{
  if (archive_entry_xattr_reset (e) == 0)
    return 0;
  const char *name;
  const void *val;
  size_t sz;
  cleanup_free char *procpath = NULL;
  while (archive_entry_xattr_next (e, &name, &val, &sz) == ARCHIVE_OK)
    {
      /* overlay's own attributes come only from our whiteout handling */
      if (strncmp (name, "trusted.overlay.", 16) == 0)
        continue;
      int r;
      if (fd >= 0)
        r = fsetxattr (fd, name, val, sz, 0);
      else
        {
          if (procpath == NULL)
            procpath = xasprintf ("/proc/self/fd/%d/%s", dirfd, base);
          r = lsetxattr (procpath, name, val, sz, 0);
        }
      if (r < 0 && errno != ENOTSUP && !(errno == EPERM && fd < 0))
        return dk_make_error (err, errno, "set xattr %s on `%s`", name, rel);
    }
  return 0;
}

int
dk_tar_set_owner_mode (struct archive_entry *e, int fd, int dfd, const char *base, const char *rel,
                       const char *name, uint32_t uid, uint32_t gid, mode_t perm, dk_err_t *err)
{
  if ((fd >= 0 ? fchown (fd, uid, gid) : fchownat (dfd, base, uid, gid, AT_SYMLINK_NOFOLLOW)) < 0)
    return dk_make_error (err, errno, "layer entry `%s`: chown", name);
  if (fd >= 0)
    {
      if (fchmod (fd, perm) < 0)
        return dk_make_error (err, errno, "layer entry `%s`: chmod", name);
    }
  else if (archive_entry_filetype (e) != AE_IFLNK && fchmodat (dfd, base, perm, 0) < 0)
    return dk_make_error (err, errno, "layer entry `%s`: chmod", name);
  return set_xattrs (e, fd, dfd, base, rel, err);
}

void
dk_tar_entry_times (struct archive_entry *e, struct timespec ts[2])
{
  bool a = archive_entry_atime_is_set (e);
  ts[0].tv_sec = a ? archive_entry_atime (e) : archive_entry_mtime (e);
  ts[0].tv_nsec = a ? archive_entry_atime_nsec (e) : archive_entry_mtime_nsec (e);
  ts[1].tv_sec = archive_entry_mtime (e);
  ts[1].tv_nsec = archive_entry_mtime_nsec (e);
}
