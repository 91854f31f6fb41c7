#include "tap.h"
#include "toolserver.h"
#include "fdpass.h"
#include "cleanup.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The served tool: prints its argv, what it read from stdin and its
   command line as ps sees it; "die" kills itself; returns argc. */
static int
fake_main (int argc, char **argv)
{
  if (argc > 1 && !strcmp (argv[1], "die"))
    raise (SIGKILL);
  char in[64] = "";
  ssize_t n = read (0, in, sizeof in - 1);
  in[n > 0 ? n : 0] = 0;
  char title[256] = "";
  int fd = open ("/proc/self/cmdline", O_RDONLY);
  n = fd >= 0 ? read (fd, title, sizeof title - 1) : 0;
  title[n > 0 ? n : 0] = 0;
  if (fd >= 0)
    close (fd);
  for (int i = 0; i < argc; i++)
    printf ("%s%s", i ? " " : "", argv[i]);
  printf ("|%s|%s", in, title);
  fputs ("to stderr", stderr);
  return argc;
}

static char **server_argv;

static pid_t
start_server (int *ctl, int *out)
{
  int sv[2], o[2];
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 || pipe (o) < 0)
    abort ();
  pid_t pid = fork ();
  if (pid == 0)
    {
      close (sv[0]);
      close (o[0]);
      dup2 (o[1], 1);
      exit (dk_toolserver_run (sv[1], server_argv, fake_main));
    }
  close (sv[1]);
  close (o[1]);
  *ctl = sv[0];
  *out = o[0];
  return pid;
}

static void
send_req (int ctl, const char *text, const int *fds, int nfds)
{
  if (dk_send_fds (ctl, text, strlen (text), fds, nfds, 0) < 0)
    abort ();
}

static jv
reply (int ctl)
{
  char buf[4096];
  ssize_t n = recv (ctl, buf, sizeof buf, 0);
  jv v = jv_invalid ();
  dk_err_t err = NULL;
  if (n <= 0 || dk_json_parse (buf, n, &v, &err) < 0)
    dk_error_release (&err);
  return v;
}

static char *
read_all (int fd)
{
  char buf[4096];
  size_t len = 0;
  ssize_t n;
  while ((n = read (fd, buf + len, sizeof buf - 1 - len)) > 0)
    len += n;
  buf[len] = 0;
  close (fd);
  return xstrdup (buf);
}

/* Runs one request with "hello" on stdin; returns its exit reply. */
static jv
run (int ctl, const char *req, char **out, char **err)
{
  int in[2], o[2], e[2];
  if (pipe (in) < 0 || pipe (o) < 0 || pipe (e) < 0)
    abort ();
  if (write (in[1], "hello", 5) != 5)
    abort ();
  close (in[1]);
  int fds[3] = { in[0], o[1], e[1] };
  send_req (ctl, req, fds, 3);
  for (int i = 0; i < 3; i++)
    close (fds[i]);
  jv started = reply (ctl);
  ok (!strcmp (dk_json_str (started, "type") ?: "", "started"), "toolserver: started first");
  jv_free (started);
  *out = read_all (o[0]);
  *err = read_all (e[0]);
  return reply (ctl);
}

static void
test_requests (void)
{
  int ctl, sout;
  pid_t pid = start_server (&ctl, &sout);
  cleanup_free char *out = NULL;
  cleanup_free char *err = NULL;
  jv r = run (ctl, "{\"id\":7,\"argv\":[\"tool\",\"a\",\"b c\"]}", &out, &err);
  int64_t st = -1, id = -1;
  ok (dk_json_int (r, "status", &st) && st == 3, "toolserver: the exit status is main's return");
  ok (dk_json_int (r, "id", &id) && id == 7, "toolserver: replies carry the request's id");
  jv_free (r);
  is_str (out, "tool a b c|hello|tool a b c",
          "toolserver: argv, stdin and the command line for ps");
  is_str (err, "to stderr", "toolserver: stderr is the request's");
  free (steal_ptr (&out));
  free (steal_ptr (&err));
  r = run (ctl, "{\"id\":8,\"argv\":[\"tool\",\"die\"]}", &out, &err);
  ok (dk_json_int (r, "status", &st) && st == 128 + SIGKILL, "toolserver: killed is 128+signal");
  jv_free (r);
  const char *bad[]
      = { "{", "{\"id\":1}", "{\"id\":2,\"argv\":[]}", "{\"id\":3,\"argv\":[1]}", "[\"tool\"]" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      int fds[3] = { open ("/dev/null", O_RDONLY), open ("/dev/null", O_RDONLY),
                     open ("/dev/null", O_RDONLY) };
      send_req (ctl, bad[i], fds, 3);
      for (int k = 0; k < 3; k++)
        close (fds[k]);
      jv e = reply (ctl);
      ok (!strcmp (dk_json_str (e, "type") ?: "", "error") && dk_json_str (e, "message"),
          "toolserver: refused: %s", bad[i]);
      jv_free (e);
    }
  int one = open ("/dev/null", O_RDONLY);
  send_req (ctl, "{\"id\":4,\"argv\":[\"tool\"]}", &one, 1);
  close (one);
  jv e = reply (ctl);
  is_str (dk_json_str (e, "message"), "request without its three fds",
          "toolserver: a request needs three fds");
  jv_free (e);
  int four[4];
  for (int k = 0; k < 4; k++)
    four[k] = open ("/dev/null", O_RDONLY);
  send_req (ctl, "{\"id\":9,\"argv\":[\"tool\"]}", four, 4);
  for (int k = 0; k < 4; k++)
    close (four[k]);
  e = reply (ctl);
  is_str (dk_json_str (e, "message"), "request without its three fds",
          "toolserver: four fds are refused too");
  jv_free (e);
  send_req (ctl, "{\"id\":5,\"argv\":[\"tool\"]}", NULL, 0);
  e = reply (ctl);
  ok (!strcmp (dk_json_str (e, "type") ?: "", "error"), "toolserver: no fds at all is refused");
  jv_free (e);
  close (ctl);
  int ws = 0;
  waitpid (pid, &ws, 0);
  cleanup_free char *res = read_all (sout);
  ok (WIFEXITED (ws) && WEXITSTATUS (ws) == 0, "toolserver: the server ends at its input's end");
  is_str (res, "{\"type\":\"result\",\"served\":2}\n", "toolserver: and says how many it ran");
}

static void
test_not_seqpacket (void)
{
  int p[2];
  if (pipe (p) < 0)
    abort ();
  ok (dk_toolserver_run (p[0], server_argv, fake_main) == 1,
      "toolserver: stdin that is no seqpacket socket is refused");
  close (p[0]);
  close (p[1]);
}

/* dk_recv_fds keeps at most max fds, closes the rest and says so */
static void
test_fdpass (void)
{
  int sv[2], p[2];
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 || pipe (p) < 0)
    abort ();
  int five[5] = { p[1], p[1], p[1], p[1], p[1] };
  ok (dk_send_fds (sv[0], "x", 1, five, 5, 0) == 1, "fdpass: five fds sent");
  ok (dk_send_fds (sv[0], "x", 1, five, DK_FDS_MAX + 1, 0) < 0 && errno == EINVAL,
      "fdpass: more than DK_FDS_MAX is refused");
  close (p[1]);
  char buf[8];
  int got[DK_FDS_MAX], n = -1, fl = 0;
  ok (dk_recv_fds (sv[1], buf, sizeof buf, got, 2, &n, &fl) == 1 && n == 2 && (fl & MSG_CTRUNC),
      "fdpass: two kept, the cut said");
  ok (fcntl (got[0], F_GETFD) & FD_CLOEXEC, "fdpass: received fds are close-on-exec");
  close (got[0]);
  close (got[1]);
  /* the three others were closed: the pipe's write end is gone */
  ok (read (p[0], buf, 1) == 0, "fdpass: the fds beyond max were closed");
  close (p[0]);
  close (sv[0]);
  close (sv[1]);
}

int
main (int argc, char **argv)
{
  server_argv = argv;
  test_requests ();
  test_not_seqpacket ();
  test_fdpass ();
  return tap_done ();
}
