/* Whiteout entries of a layer: overlay2 keeps them as overlayfs reads them
   (0/0 character device, opaque xattr), vfs applies them. */
#include "cleanup.h"
#include "tarapply_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

int
dk_tar_whiteout (int dfd, const char *dirrel, const char *base, enum dk_whiteout_mode mode,
                 const struct dk_pathset *created, dk_err_t *err)
{
  if (strcmp (base, DK_WH_OPAQUE) == 0)
    {
      if (mode == DK_WHITEOUT_OVERLAY)
        {
          if (fsetxattr (dfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
            return dk_make_error (err, errno, "set opaque xattr on `%s`", dirrel);
          return 0;
        }
      return dk_remove_children (dfd, dirrel, created, err);
    }
  if (strncmp (base, DK_WH_META, strlen (DK_WH_META)) == 0)
    return 0; /* aufs metadata (.wh..wh.plnk, .wh..wh.aufs): not content */
  const char *victim = base + strlen (DK_WH_PREFIX);
  if (*victim == '\0' || strcmp (victim, ".") == 0 || strcmp (victim, "..") == 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid whiteout `%s`", base);
  if (dk_remove_at (dfd, victim, err) < 0)
    return -1;
  if (mode == DK_WHITEOUT_OVERLAY)
    {
      if (mknodat (dfd, victim, S_IFCHR | 0, makedev (0, 0)) < 0)
        return dk_make_error (err, errno, "create whiteout for `%s`", victim);
      if (fchownat (dfd, victim, 0, 0, AT_SYMLINK_NOFOLLOW) < 0)
        return dk_make_error (err, errno, "chown whiteout `%s`", victim);
    }
  return 0;
}
