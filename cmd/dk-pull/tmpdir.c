#include "tmpdir.h"
#include "atomicfile.h"
#include "cleanup.h"
#include "lock.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int
tmpdir_create (const char *root, char **out, int *lockfd, dk_err_t *err)
{
  cleanup_free char *parent = xasprintf ("%s/tmp", root);
  if (dk_mkdir_p (parent, 0700, err) < 0)
    return -1;
  char *t = xasprintf ("%s/dk-pull-XXXXXX", parent);
  if (mkdtemp (t) == NULL)
    {
      int e = errno;
      free (t);
      return dk_make_error (err, e, "mkdtemp in `%s`", parent);
    }
  cleanup_free char *lock = xasprintf ("%s.lock", t);
  *lockfd = dk_lock_acquire (lock, true, err);
  if (*lockfd < 0)
    {
      rmdir (t);
      free (t);
      return -1;
    }
  *out = t;
  return 0;
}

void
tmpdir_remove (const char *path, int lockfd)
{
  dk_err_t e = NULL;
  dk_remove_tree (path, &e);
  dk_error_release (&e);
  cleanup_free char *lock = xasprintf ("%s.lock", path);
  unlink (lock);
  dk_lock_release (lockfd);
}
