/* lib/filepool: files created by worker threads, in order per shard, with
   their metadata; a failing job fails the pool. */
#include "tap.h"
#include "atomicfile.h"
#include "cleanup.h"
#include "filepool.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static struct dk_filejob *
job (int dirfd, const char *name, const char *content, mode_t perm)
{
  struct dk_filejob *j = xzalloc (sizeof *j);
  j->dirfd = fcntl (dirfd, F_DUPFD_CLOEXEC, 3);
  j->base = xstrdup (name);
  j->rel = xstrdup (name);
  j->size = strlen (content);
  j->data = xmalloc (j->size + 1);
  memcpy (j->data, content, j->size);
  j->uid = getuid ();
  j->gid = getgid ();
  j->perm = perm;
  j->ts[0].tv_sec = j->ts[1].tv_sec = 1000000000;
  return j;
}

static char *
slurp (int dirfd, const char *name)
{
  cleanup_close int fd = openat (dirfd, name, O_RDONLY | O_CLOEXEC);
  char buf[64] = "";
  if (fd < 0 || read (fd, buf, sizeof buf - 1) < 0)
    return xstrdup ("(unreadable)");
  return xstrdup (buf);
}

int
main (void)
{
  char tmpl[] = "/tmp/dk-test-filepool.XXXXXX";
  ok (mkdtemp (tmpl) != NULL, "temp dir");
  cleanup_close int root = open (tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  struct dk_filepool *p = dk_filepool_new (3);
  ok (p != NULL, "pool of 3 workers");
  /* 600 files over 3 shards (more than the queue holds at once), and one
     name given three times in a shard: the last content wins */
  for (int i = 0; i < 600; i++)
    {
      char name[32];
      snprintf (name, sizeof name, "f%d", i);
      dk_filepool_submit (p, i % 3, job (root, name, name, 0640));
    }
  const char *dups[] = { "one", "two", "three" };
  for (int i = 0; i < 3; i++)
    dk_filepool_submit (p, 1, job (root, "dup", dups[i], 0600 | (i == 2 ? 04000 : 0)));
  cleanup_error dk_err_t err = NULL;
  ok (dk_filepool_wait (p, -1, &err) == 0, "all jobs done");
  int good = 0;
  for (int i = 0; i < 600; i++)
    {
      char name[32];
      snprintf (name, sizeof name, "f%d", i);
      cleanup_free char *c = slurp (root, name);
      struct stat st;
      good += strcmp (c, name) == 0 && fstatat (root, name, &st, 0) == 0
              && (st.st_mode & 07777) == 0640 && st.st_mtime == 1000000000;
    }
  ok (good == 600, "600 files with their content, mode and mtime (%d)", good);
  cleanup_free char *d = slurp (root, "dup");
  is_str (d, "three", "a name given three times ends as the last job says");
  struct stat st;
  ok (fstatat (root, "dup", &st, 0) == 0 && (st.st_mode & 07777) == 04600,
      "and with its mode (setuid after chown)");

  /* a job that cannot be done (its directory fd is not a directory) */
  cleanup_close int file = openat (root, "f1", O_RDONLY | O_CLOEXEC);
  dk_filepool_submit (p, 0, job (file, "x", "x", 0644));
  ok (dk_filepool_wait (p, 0, &err) < 0 && err && strstr (err->msg, "create"),
      "a failed job fails the pool: %s", err ? err->msg : "(none)");
  dk_filepool_free (p);

  dk_err_t e = NULL;
  dk_remove_tree (tmpl, &e);
  dk_error_release (&e);
  return tap_done ();
}
