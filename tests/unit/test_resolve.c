#include "tap.h"
#include "resolve.h"
#include "cleanup.h"
#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256], outside[300];
static int rootfd = -1;

/* What an fd points at, relative to the root ("/" prefix), or the full path
   when it is outside. */
static char *
where (int fd)
{
  char link[64], target[4096];
  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink (link, target, sizeof target - 1);
  if (n < 0)
    return xstrdup ("?");
  target[n] = '\0';
  size_t rl = strlen (root);
  if (strncmp (target, root, rl) == 0 && (target[rl] == '/' || target[rl] == '\0'))
    return xstrdup (target[rl] ? target + rl : "/");
  return xstrdup (target);
}

static void
setup (void)
{
  snprintf (root, sizeof root, "/tmp/dk-resolve-XXXXXX");
  if (mkdtemp (root) == NULL)
    abort ();
  snprintf (outside, sizeof outside, "%s.outside", root);
  mkdir (outside, 0755);
  char p[512];
  snprintf (p, sizeof p, "%s/secret", outside);
  dk_atomic_write (p, "host", 4, 0644, NULL);
  rootfd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  mkdirat (rootfd, "etc", 0755);
  mkdirat (rootfd, "a", 0755);
  mkdirat (rootfd, "a/b", 0755);
  dk_atomic_write_at (rootfd, "etc/passwd", "root", 4, 0644, NULL);
  dk_atomic_write_at (rootfd, "secret", "inside", 6, 0644, NULL);
  symlinkat ("/etc", rootfd, "abs");                    /* absolute link: the root's /etc */
  symlinkat ("../../../../../../..", rootfd, "a/b/up"); /* climbs past the root */
  snprintf (p, sizeof p, "%s/secret", outside);
  symlinkat (p, rootfd, "hostlink");            /* names a host path: stays inside */
  symlinkat ("a/b/up/secret", rootfd, "chain"); /* link through a link */
  symlinkat ("loop2", rootfd, "loop1");
  symlinkat ("loop1", rootfd, "loop2");
  symlinkat ("../etc/passwd", rootfd, "a/rel"); /* relative link */
  symlinkat ("/newdir/file", rootfd, "dangling");
  dk_atomic_write_at (rootfd, "a/plain", "x", 1, 0644, NULL);
}

static void
check (const char *mode, const char *path, const char *want)
{
  dk_err_t err = NULL;
  int fd = dk_open_in_root (rootfd, path, O_RDONLY, 0, &err);
  cleanup_free char *got = fd >= 0 ? where (fd) : xstrdup (err ? err->msg : "?");
  is_str (got, want, "resolve (%s): `%s` opens `%s`", mode, path, want);
  if (fd >= 0)
    close (fd);
  dk_error_release (&err);
}

static void
check_fails (const char *mode, const char *path, int want_errno)
{
  dk_err_t err = NULL;
  int fd = dk_open_in_root (rootfd, path, O_RDONLY, 0, &err);
  ok (fd < 0 && err && err->status == want_errno, "resolve (%s): `%s` fails with %s", mode, path,
      strerror (want_errno));
  if (fd >= 0)
    close (fd);
  else if (err && err->status != want_errno)
    printf ("#   got %s\n", err->msg);
  dk_error_release (&err);
}

static void
run (const char *mode)
{
  check (mode, "etc/passwd", "/etc/passwd");
  check (mode, "/etc/passwd", "/etc/passwd");
  check (mode, "../../../../secret", "/secret");
  check (mode, "a/b/../../secret", "/secret");
  check (mode, "abs/passwd", "/etc/passwd");
  check (mode, "a/b/up/secret", "/secret");
  check_fails (mode, "hostlink", ENOENT); /* the host's file is not reachable */
  check (mode, "chain", "/secret");
  check (mode, "a/rel", "/etc/passwd");
  check (mode, "a/./b/../plain", "/a/plain");
  check (mode, "", "/");
  check (mode, "/", "/");
  check_fails (mode, "loop1", ELOOP);
  check_fails (mode, "a/plain/x", ENOTDIR);
  check_fails (mode, "nope", ENOENT);

  /* create through a dangling absolute link: lands inside the root */
  dk_err_t err = NULL;
  mkdirat (rootfd, "newdir", 0755);
  int fd = dk_open_in_root (rootfd, "dangling", O_WRONLY | O_CREAT, 0600, &err);
  cleanup_free char *w = fd >= 0 ? where (fd) : xstrdup ("error");
  is_str (w, "/newdir/file", "resolve (%s): O_CREAT through a dangling link stays inside", mode);
  if (fd >= 0)
    close (fd);
  unlinkat (rootfd, "newdir/file", 0);
  unlinkat (rootfd, "newdir", AT_REMOVEDIR);
  dk_error_release (&err);

  fd = dk_open_in_root (rootfd, "dangling", O_WRONLY | O_CREAT | O_EXCL, 0600, &err);
  ok (fd < 0 && err && err->status == EEXIST,
      "resolve (%s): O_CREAT|O_EXCL on a dangling link is EEXIST", mode);
  if (fd >= 0)
    close (fd);
  dk_error_release (&err);

  fd = dk_open_in_root (rootfd, "a/plain", O_WRONLY | O_CREAT | O_EXCL, 0600, &err);
  ok (fd < 0 && err && err->status == EEXIST, "resolve (%s): O_EXCL on a file is EEXIST", mode);
  if (fd >= 0)
    close (fd);
  dk_error_release (&err);

  fd = dk_open_in_root (rootfd, "a/b/up/created", O_WRONLY | O_CREAT | O_EXCL, 0600, &err);
  struct stat cst;
  char outp[512];
  snprintf (outp, sizeof outp, "%s/created", outside);
  ok (fd >= 0 && fstatat (rootfd, "created", &cst, 0) == 0 && stat (outp, &cst) < 0,
      "resolve (%s): a file created through an escaping link lands in the root", mode);
  if (fd >= 0)
    close (fd);
  unlinkat (rootfd, "created", 0);
  dk_error_release (&err);

  fd = dk_open_in_root (rootfd, "abs", O_PATH | O_NOFOLLOW, 0, &err);
  struct stat st;
  ok (fd >= 0 && fstat (fd, &st) == 0 && S_ISLNK (st.st_mode),
      "resolve (%s): O_NOFOLLOW opens the link itself", mode);
  if (fd >= 0)
    close (fd);
  dk_error_release (&err);
}

static void
parents (void)
{
  dk_err_t err = NULL;
  cleanup_free char *base = NULL;
  int fd = dk_open_parent_in_root (rootfd, "a/b/up/x/y/file", 0755, &base, &err);
  cleanup_free char *w = fd >= 0 ? where (fd) : xstrdup (err ? err->msg : "?");
  is_str (w, "/x/y", "resolve: parent through an escaping link is made inside the root");
  is_str (base, "file", "resolve: base name of the path");
  if (fd >= 0)
    close (fd);
  struct stat st;
  char p[512];
  snprintf (p, sizeof p, "%s/x/y", outside);
  ok (stat (p, &st) < 0, "resolve: nothing was made outside the root");

  free (steal_ptr (&base));
  fd = dk_open_parent_in_root (rootfd, "no/such/file", 0, &base, &err);
  ok (fd < 0 && err && err->status == ENOENT && base == NULL,
      "resolve: missing parent without mkdir is ENOENT");
  dk_error_release (&err);

  fd = dk_open_parent_in_root (rootfd, "a/..", 0, &base, &err);
  cleanup_free char *w3 = fd >= 0 ? where (fd) : xstrdup ("error");
  is_str (w3, "/", "resolve: the parent of a path naming the root is the root");
  is_str (base, ".", "resolve: ... and its base is \".\", never \"..\"");
  if (fd >= 0)
    close (fd);
  free (steal_ptr (&base));

  fd = dk_open_parent_in_root (rootfd, "no/such/file", 0, &base, NULL);
  ok (fd < 0 && base == NULL, "resolve: a NULL error pointer is allowed");
  ok (dk_open_in_root (rootfd, "nope", O_RDONLY, 0, NULL) < 0, "resolve: NULL err in open");

  fd = dk_open_parent_in_root (rootfd, "/secret", 0, &base, &err);
  cleanup_free char *w2 = fd >= 0 ? where (fd) : xstrdup ("error");
  is_str (w2, "/", "resolve: parent of /secret is the root");
  is_str (base, "secret", "resolve: base of /secret");
  if (fd >= 0)
    close (fd);
}

static void
clean (void)
{
  const char *cases[][2] = {
    { "a/../../b", "b" },   { "/a/b/", "a/b" }, { "", "." },       { "..", "." },
    { "/../x/./y", "x/y" }, { "a//b", "a/b" },  { "a/b/..", "a" }, { "./", "." },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      cleanup_free char *c = dk_path_clean_in_root (cases[i][0]);
      is_str (c, cases[i][1], "resolve: clean `%s` -> `%s`", cases[i][0], cases[i][1]);
    }
}

int
main (void)
{
  setup ();
  run ("openat2");
  dk_resolve_force_fallback (1);
  run ("fallback");
  dk_resolve_force_fallback (0);
  parents ();
  clean ();
  close (rootfd);
  dk_remove_tree (root, NULL);
  dk_remove_tree (outside, NULL);
  return tap_done ();
}
