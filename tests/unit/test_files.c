/* atomicfile, lock and error */
#include "tap.h"
#include "atomicfile.h"
#include "lock.h"
#include "error.h"
#include "cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];

static int
count_entries (const char *path)
{
  DIR *d = opendir (path);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir (d)))
    if (strcmp (e->d_name, ".") && strcmp (e->d_name, ".."))
      n++;
  if (d)
    closedir (d);
  return n;
}

static void
test_atomic (void)
{
  dk_err_t err = NULL;
  cleanup_free char *p = xasprintf ("%s/meta.json", dir);
  ok (dk_atomic_write (p, "old", 3, 0644, &err) == 0, "atomicfile: first write");
  ok (dk_atomic_write (p, "new content", 11, 0600, &err) == 0, "atomicfile: overwrite");
  cleanup_free char *got = NULL;
  size_t len = 0;
  ok (dk_read_file (p, &got, &len, &err) == 0 && len == 11 && strcmp (got, "new content") == 0,
      "atomicfile: content is the last write");
  struct stat st;
  ok (stat (p, &st) == 0 && (st.st_mode & 0777) == 0600, "atomicfile: mode is applied");
  ok (count_entries (dir) == 1, "atomicfile: no temp file is left behind");

  jv o = jv_object ();
  o = jv_object_set (o, jv_string ("n"), dk_json_int64 (1LL << 60));
  cleanup_free char *j = xasprintf ("%s/x.json", dir);
  ok (dk_atomic_write_json (j, o, &err) == 0, "atomicfile: json write");
  jv back;
  int64_t n = 0;
  ok (dk_json_read_file (j, &back, &err) == 0 && dk_json_int (back, "n", &n) && n == (1LL << 60),
      "atomicfile: json reads back with its int64");
  jv_free (back);

  cleanup_free char *bad = xasprintf ("%s/no/such/dir/f", dir);
  ok (dk_atomic_write (bad, "x", 1, 0644, &err) < 0 && err && err->status == ENOENT,
      "atomicfile: missing directory is an error, not an abort");
  dk_error_release (&err);
  ok (count_entries (dir) == 2, "atomicfile: failed write leaves nothing");
  ok (dk_read_file (bad, &got, NULL, &err) < 0 && strcmp (err->code, "not_found") == 0,
      "atomicfile: reading a missing file is not_found");
  dk_error_release (&err);
}

static void
test_lock (void)
{
  dk_err_t err = NULL;
  cleanup_free char *p = xasprintf ("%s/lock", dir);
  int fd = dk_lock_acquire (p, true, &err);
  ok (fd >= 0, "lock: exclusive lock taken");
  int st = 0;
  pid_t pid = fork ();
  if (pid == 0)
    {
      dk_err_t e = NULL;
      int r = dk_lock_try (p, false, &e);
      _exit (r < 0 && e && strcmp (e->code, "conflict") == 0 ? 0 : 1);
    }
  waitpid (pid, &st, 0);
  ok (WIFEXITED (st) && WEXITSTATUS (st) == 0,
      "lock: a second process is refused by dk_lock_try with conflict");
  dk_lock_release (fd);
  pid = fork ();
  if (pid == 0)
    {
      dk_err_t e = NULL;
      int r = dk_lock_try (p, true, &e);
      _exit (r >= 0 ? 0 : 1);
    }
  waitpid (pid, &st, 0);
  ok (WIFEXITED (st) && WEXITSTATUS (st) == 0, "lock: released lock can be taken by another");
  int a = dk_lock_acquire (p, false, &err), b = dk_lock_try (p, false, &err);
  ok (a >= 0 && b >= 0, "lock: two shared locks coexist");
  dk_lock_release (a);
  dk_lock_release (b);
}

static void
test_error (void)
{
  dk_err_t err = NULL;
  ok (dk_make_error (&err, ENOENT, "open `%s`", "x") == -1, "error: make returns -1");
  is_str (err->msg, "open `x`: No such file or directory", "error: message with strerror");
  is_str (err->code, "not_found", "error: ENOENT is not_found");
  dk_error_wrap (&err, "apply layer %s", "sha256:1");
  is_str (err->msg, "apply layer sha256:1: open `x`: No such file or directory",
          "error: wrap prefixes");
  ok (err->status == ENOENT, "error: wrap keeps errno");
  dk_error_set_code (&err, "conflict");
  is_str (err->code, "conflict", "error: set code");
  dk_make_error_code (&err, DK_ECODE_UNAUTHORIZED, 0, "bad %s", "creds");
  is_str (err->msg, "bad creds", "error: a second error replaces the first");

  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&buf, &len);
  dk_make_error_code (&err, DK_ECODE_NOT_FOUND, 0, "No such image: \"q\"");
  dk_error_emit (f, err);
  fclose (f);
  is_str (buf,
          "{\"type\":\"error\",\"code\":\"not_found\",\"message\":\"No such image: \\\"q\\\"\"}\n",
          "error: emit writes the contract's error object");
  free (buf);
  dk_error_release (&err);
  ok (err == NULL, "error: release clears");
  dk_error_release (&err);
  ok (dk_error_wrap (&err, "nothing") == -1 && err == NULL, "error: wrap of no error is harmless");
  ok (dk_make_error (NULL, EINVAL, "x") == -1, "error: NULL err pointer is allowed");
}

int
main (void)
{
  snprintf (dir, sizeof dir, "/tmp/dk-files-XXXXXX");
  if (mkdtemp (dir) == NULL)
    abort ();
  test_atomic ();
  test_lock ();
  test_error ();
  dk_remove_tree (dir, NULL);
  return tap_done ();
}
