#include "tap.h"
#include "spawn.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

struct lines
{
  int n;
  char last_status[64];
};

static void
on_line (jv line, void *data)
{
  struct lines *l = data;
  l->n++;
  const char *s = dk_json_str (line, "status");
  snprintf (l->last_status, sizeof l->last_status, "%s", s ? s : "");
}

static void
test_lines (void)
{
  char *argv[] = { "/bin/sh", "-c",
                   "echo '{\"type\":\"progress\",\"status\":\"one\"}';"
                   "printf '{\"type\":\"progress\",\"status\":\"two\"}\\n\\n';"
                   "printf '{\"type\":\"result\",\"id\":\"sha256:x\",\"size\":100000000000}'",
                   NULL };
  struct lines l = { 0, "" };
  jv result;
  dk_err_t err = NULL;
  int rc = dk_run_tool (argv, -1, on_line, &l, &result, &err);
  ok (rc == 0, "spawn: a child printing JSON lines succeeds");
  ok (l.n == 2 && strcmp (l.last_status, "two") == 0, "spawn: both progress lines were seen");
  is_str (dk_json_str (result, "id"), "sha256:x", "spawn: the last object is the result");
  int64_t size = 0;
  ok (dk_json_int (result, "size", &size) && size == 100000000000LL,
      "spawn: a result without final newline is read");
  jv_free (result);
  dk_error_release (&err);
}

static void
test_failures (void)
{
  char *fail[] = { "/bin/sh", "-c", "exit 3", NULL };
  jv result;
  dk_err_t err = NULL;
  ok (dk_run_tool (fail, -1, NULL, NULL, &result, &err) < 0 && err
          && strstr (err->msg, "exited with status 3"),
      "spawn: a failing child without an error object is an error");
  ok (jv_get_kind (result) == JV_KIND_INVALID, "spawn: no result on failure");
  dk_error_release (&err);

  char *errobj[] = { "/bin/sh", "-c",
                     "echo '{\"type\":\"progress\",\"status\":\"x\"}';"
                     "echo '{\"type\":\"error\",\"code\":\"not_found\",\"message\":\"No such "
                     "image: busybox:latest\"}'; exit 1",
                     NULL };
  ok (dk_run_tool (errobj, -1, NULL, NULL, &result, &err) < 0 && err
          && strcmp (err->code, "not_found") == 0
          && strcmp (err->msg, "No such image: busybox:latest") == 0,
      "spawn: an error object becomes the error (code and message)");
  dk_error_release (&err);

  char *missing[] = { "dk-no-such-tool-here", NULL };
  ok (dk_run_tool (missing, -1, NULL, NULL, &result, &err) < 0 && err && err->status == ENOENT,
      "spawn: a missing program is ENOENT");
  dk_error_release (&err);

  char *garbage[] = { "/bin/sh", "-c", "echo 'not json'; echo '{\"type\":\"result\"}'", NULL };
  ok (dk_run_tool (garbage, -1, NULL, NULL, &result, &err) < 0 && err
          && strstr (err->msg, "malformed output"),
      "spawn: a malformed line is reported");
  dk_error_release (&err);

  char *killed[] = { "/bin/sh", "-c", "kill -9 $$", NULL };
  struct dk_child c;
  ok (dk_spawn (killed, DK_SPAWN_NULL_IN, NULL, &c, &err) == 0 && dk_child_wait (&c, &err) == 137,
      "spawn: a child killed by SIGKILL reports 137");
  dk_child_close (&c);
  dk_error_release (&err);
}

static void
test_stdin (void)
{
  char *argv[]
      = { "/bin/sh", "-c",
          "read a; read b; echo \"{\\\"type\\\":\\\"result\\\",\\\"got\\\":\\\"$a-$b\\\"}\"",
          NULL };
  struct dk_child c;
  dk_err_t err = NULL;
  ok (dk_spawn (argv, DK_SPAWN_STDIN | DK_SPAWN_STDOUT, NULL, &c, &err) == 0,
      "spawn: child with stdin and stdout pipes");
  ssize_t w = write (c.stdin_fd, "x\ny\n", 4);
  close (c.stdin_fd);
  c.stdin_fd = -1;
  char buf[256] = "";
  size_t len = 0;
  ssize_t n;
  while ((n = read (c.stdout_fd, buf + len, sizeof buf - 1 - len)) > 0)
    len += (size_t)n;
  buf[len] = '\0';
  ok (w == 4 && strcmp (buf, "{\"type\":\"result\",\"got\":\"x-y\"}\n") == 0,
      "spawn: stdin is piped to the child");
  ok (dk_child_wait (&c, &err) == 0, "spawn: child exits 0");
  dk_child_close (&c);

  /* dk_run_tool with a file as stdin */
  char path[] = "/tmp/dk-spawn-XXXXXX";
  int fd = mkstemp (path);
  w = write (fd, "p\nq\n", 4);
  lseek (fd, 0, SEEK_SET);
  jv result;
  ok (dk_run_tool (argv, fd, NULL, NULL, &result, &err) == 0
          && strcmp (dk_json_str (result, "got") ? dk_json_str (result, "got") : "", "p-q") == 0,
      "spawn: run_tool reads stdin from the given fd");
  jv_free (result);
  close (fd);
  unlink (path);
  dk_error_release (&err);
}

static void
test_fds (void)
{
  int p[2];
  if (pipe2 (p, O_CLOEXEC) < 0)
    abort ();
  int leak = open ("/dev/null", O_RDONLY); /* not CLOEXEC: must still not reach the child */
  char script[128];
  snprintf (script, sizeof script, "echo kept >&%d; ls /proc/self/fd | tr '\\n' ' '", p[1]);
  char *argv[] = { "/bin/sh", "-c", script, NULL };
  int keep[] = { p[1], -1 };
  struct dk_child c;
  dk_err_t err = NULL;
  ok (dk_spawn (argv, DK_SPAWN_STDOUT | DK_SPAWN_NULL_IN, keep, &c, &err) == 0,
      "spawn: child with a kept fd");
  close (p[1]);
  char buf[256] = "", fds[256] = "";
  ssize_t n = read (p[0], buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = '\0';
  size_t len = 0;
  while ((n = read (c.stdout_fd, fds + len, sizeof fds - 1 - len)) > 0)
    len += (size_t)n;
  fds[len] = '\0';
  dk_child_wait (&c, &err);
  dk_child_close (&c);
  ok (strcmp (buf, "kept\n") == 0, "spawn: the kept fd reaches the child at its number");
  char leakname[16];
  snprintf (leakname, sizeof leakname, " %d ", leak);
  char padded[300];
  snprintf (padded, sizeof padded, " %s", fds);
  ok (strstr (padded, leakname) == NULL, "spawn: an inherited fd is closed in the child (fds: %s)",
      fds);
  close (leak);
  close (p[0]);
}

static void
test_stderr (void)
{
  char *argv[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 4", NULL };
  struct dk_child c;
  dk_err_t err = NULL;
  ok (dk_spawn (argv, DK_SPAWN_STDOUT | DK_SPAWN_STDERR | DK_SPAWN_NULL_IN, NULL, &c, &err) == 0
          && c.stdin_fd == -1,
      "spawn: child with stdout and stderr pipes, stdin from /dev/null");
  char o[64] = "", e[64] = "";
  ssize_t n = read (c.stdout_fd, o, sizeof o - 1);
  o[n > 0 ? n : 0] = '\0';
  n = read (c.stderr_fd, e, sizeof e - 1);
  e[n > 0 ? n : 0] = '\0';
  ok (strcmp (o, "out\n") == 0 && strcmp (e, "err\n") == 0, "spawn: stdout and stderr apart");
  ok (dk_child_wait (&c, &err) == 4, "spawn: exit status 4");
  ok (dk_child_wait (&c, &err) < 0 && err, "spawn: waiting twice is an error, not a hang");
  dk_error_release (&err);
  dk_child_close (&c);
  ok (c.stdout_fd == -1 && c.stderr_fd == -1, "spawn: close resets the fds");
}

static void
test_tool_path (void)
{
  setenv ("DK_LIBEXEC", "/bin", 1);
  cleanup_free char *p = dk_tool_path ("sh");
  is_str (p, "/bin/sh", "spawn: DK_LIBEXEC is searched first");
  unsetenv ("DK_LIBEXEC");
  cleanup_free char *q = dk_tool_path ("dk-not-here");
  is_str (q, "dk-not-here", "spawn: an unknown tool is left to PATH");
  cleanup_free char *r = dk_tool_path ("/x/y");
  is_str (r, "/x/y", "spawn: a path is kept");
}

int
main (void)
{
  test_lines ();
  test_failures ();
  test_stdin ();
  test_fds ();
  test_stderr ();
  test_tool_path ();
  return tap_done ();
}
