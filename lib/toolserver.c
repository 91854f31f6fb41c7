/* The warm fork server (toolserver.h, docs/toolserver.md). */
#include "toolserver.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "fdpass.h"
#include "json.h"
#include "log.h"

/* The area the kernel shows as /proc/PID/cmdline: the server's argv
   strings and, right after them, its environment's (setproctitle's trick:
   the environment moves to the heap first). */
struct title_area
{
  char *start;
  size_t len;
};

struct kid
{
  pid_t pid;
  double id;
};

struct server
{
  int ctl, sfd;
  sigset_t old_mask;
  dk_tool_main tool_main;
  struct title_area title;
  struct kid *kids;
  size_t nkids, cap;
  unsigned long served; /* requests run */
  char *buf;
};

/* Sends one reply; false when the caller is gone. */
static bool
reply (struct server *s, jv msg)
{
  cleanup_free char *text = dk_json_dump (msg);
  return send (s->ctl, text, strlen (text), MSG_NOSIGNAL) >= 0 || errno == ENOBUFS;
}

static jv
reply_head (const char *type, double id)
{
  jv m = jv_object_set (jv_object (), jv_string ("type"), jv_string (type));
  return jv_object_set (m, jv_string ("id"), jv_number (id));
}

static void
close_fds (int *fds, int n)
{
  for (int i = 0; i < n; i++)
    if (fds[i] >= 0)
      close (fds[i]);
}

static struct title_area
title_area (char **argv)
{
  struct title_area a = { argv[0], 0 };
  char *end = argv[0];
  for (int i = 0; argv[i] && argv[i] == end; i++)
    end = argv[i] + strlen (argv[i]) + 1;
  for (int i = 0; environ[i] && environ[i] == end; i++)
    end = environ[i] + strlen (environ[i]) + 1;
  a.len = end - a.start;
  return a;
}

/* In the child: ps shows the request's command line, not `serve`. */
static void
set_title (struct title_area a, char **argv)
{
  size_t n = 0;
  while (environ[n])
    n++;
  char **env = xzalloc ((n + 1) * sizeof *env);
  for (size_t i = 0; i < n; i++)
    env[i] = xstrdup (environ[i]);
  environ = env;
  size_t at = 0;
  for (int i = 0; argv[i] && at + 1 < a.len; i++)
    {
      size_t l = strlen (argv[i]);
      if (at + l + 1 >= a.len)
        l = a.len - at - 1;
      memcpy (a.start + at, argv[i], l);
      at += l;
      a.start[at++] = ' ';
    }
  if (at > 0)
    at--; /* the last space */
  memset (a.start + at, 0, a.len - at);
  /* glibc's name for messages pointed into the area */
  program_invocation_name = argv[0];
  program_invocation_short_name = basename (argv[0]);
}

/* In the child: the request's fds become 0, 1, 2 and the tool's main runs. */
static _Noreturn void
child_run (struct server *s, int fds[3], char **argv, int argc)
{
  close (s->sfd);
  sigprocmask (SIG_SETMASK, &s->old_mask, NULL);
  for (int i = 0; i < 3; i++)
    {
      /* a received fd may sit on 0-2; move it above them first */
      if (fds[i] < 3)
        {
          int moved = fcntl (fds[i], F_DUPFD_CLOEXEC, 3);
          if (moved < 0)
            _exit (125);
          close (fds[i]);
          fds[i] = moved;
        }
    }
  if (s->ctl >= 3)
    close (s->ctl);
  for (int i = 0; i < 3; i++)
    if (dup2 (fds[i], i) < 0)
      _exit (125);
  close_fds (fds, 3);
  if (s->title.start)
    set_title (s->title, argv);
  int rc = s->tool_main (argc, argv);
  fflush (NULL);
  _exit (rc & 0xff);
}

static int
parse_request (jv req, double *id, char ***argvp, int *argcp, const char **why)
{
  jv idv = jv_object_get (jv_copy (req), jv_string ("id"));
  *id = jv_get_kind (idv) == JV_KIND_NUMBER ? jv_number_value (idv) : -1;
  jv_free (idv);
  jv a = jv_object_get (jv_copy (req), jv_string ("argv"));
  int n = jv_get_kind (a) == JV_KIND_ARRAY ? jv_array_length (jv_copy (a)) : 0;
  if (n < 1)
    {
      jv_free (a);
      *why = "request without argv";
      return -1;
    }
  cleanup_strv char **argv = xzalloc ((n + 1) * sizeof *argv);
  for (int i = 0; i < n; i++)
    {
      jv e = jv_array_get (jv_copy (a), i);
      if (jv_get_kind (e) == JV_KIND_STRING)
        argv[i] = xstrdup (jv_string_value (e));
      jv_free (e);
      if (argv[i] == NULL)
        {
          jv_free (a);
          *why = "argv holds a value that is not a string";
          return -1;
        }
    }
  jv_free (a);
  *argvp = steal_ptr (&argv);
  *argcp = n;
  return 0;
}

/* Receives one request; false when the caller has gone. */
static bool
serve_one (struct server *s)
{
  int fds[DK_FDS_MAX], nfds = 0, mflags = 0;
  ssize_t n = dk_recv_fds (s->ctl, s->buf, DK_TOOLSERVER_MAX, fds, 3, &nfds, &mflags);
  if (n < 0)
    return errno == EINTR || errno == EAGAIN;
  if (n == 0)
    return false;
  double id = -1;
  const char *why = NULL;
  cleanup_strv char **argv = NULL;
  int argc = 0;
  jv req = jv_invalid ();
  cleanup_error dk_err_t err = NULL;
  if (mflags & MSG_TRUNC)
    why = "request too large";
  else if (dk_json_parse (s->buf, n, &req, &err) < 0 || jv_get_kind (req) != JV_KIND_OBJECT)
    why = "request is not a JSON object";
  else if (parse_request (req, &id, &argv, &argc, &why) < 0)
    ;
  else if (nfds != 3 || (mflags & MSG_CTRUNC))
    why = "request without its three fds";
  jv_free (req);
  if (why)
    {
      close_fds (fds, nfds);
      return reply (
          s, jv_object_set (reply_head ("error", id), jv_string ("message"), jv_string (why)));
    }
  fflush (NULL);
  pid_t pid = fork ();
  if (pid == 0)
    child_run (s, fds, argv, argc);
  int fork_errno = errno;
  close_fds (fds, 3);
  if (pid < 0)
    return reply (s, jv_object_set (reply_head ("error", id), jv_string ("message"),
                                    jv_string (strerror (fork_errno))));
  if (s->nkids == s->cap)
    {
      s->cap = s->cap ? 2 * s->cap : 16;
      s->kids = xrealloc (s->kids, s->cap * sizeof *s->kids);
    }
  s->kids[s->nkids++] = (struct kid){ .pid = pid, .id = id };
  s->served++;
  return reply (s, jv_object_set (reply_head ("started", id), jv_string ("pid"), jv_number (pid)));
}

/* Reaps every ended child and reports it; false when the caller is gone. */
static bool
reap (struct server *s)
{
  struct signalfd_siginfo si;
  while (read (s->sfd, &si, sizeof si) == sizeof si)
    ;
  int st;
  pid_t pid;
  bool ok = true;
  while ((pid = waitpid (-1, &st, WNOHANG)) > 0)
    for (size_t i = 0; i < s->nkids; i++)
      if (s->kids[i].pid == pid)
        {
          int status = WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
          jv m = jv_object_set (reply_head ("exit", s->kids[i].id), jv_string ("pid"),
                                jv_number (pid));
          ok = reply (s, jv_object_set (m, jv_string ("status"), jv_number (status))) && ok;
          s->kids[i] = s->kids[--s->nkids];
          break;
        }
  return ok;
}

/* The server cannot start: the tool contract's error, exit status 1. */
static int
refuse (dk_err_t err)
{
  dk_error_print (dk_log_prog (), err);
  dk_error_emit (stdout, err);
  return 1;
}

int
dk_toolserver_run (int ctl, char **server_argv, dk_tool_main tool_main)
{
  int type = 0;
  socklen_t len = sizeof type;
  cleanup_error dk_err_t err = NULL;
  if (getsockopt (ctl, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET)
    {
      dk_make_error_code (&err, DK_ECODE_INVALID, 0,
                          "serve: stdin must be a unix SOCK_SEQPACKET socket");
      return refuse (err);
    }
  struct server s = { .ctl = ctl, .tool_main = tool_main, .title = title_area (server_argv) };
  sigset_t chld;
  sigemptyset (&chld);
  sigaddset (&chld, SIGCHLD);
  sigprocmask (SIG_BLOCK, &chld, &s.old_mask);
  s.sfd = signalfd (-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (s.sfd < 0)
    {
      dk_make_error (&err, errno, "serve: signalfd");
      return refuse (err);
    }
  s.buf = xmalloc (DK_TOOLSERVER_MAX);
  for (;;)
    {
      struct pollfd p[2] = { { .fd = ctl, .events = POLLIN }, { .fd = s.sfd, .events = POLLIN } };
      if (poll (p, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (p[1].revents && !reap (&s))
        break;
      if ((p[0].revents & POLLIN) && !serve_one (&s))
        break;
      if (!(p[0].revents & POLLIN) && (p[0].revents & (POLLHUP | POLLERR)))
        break;
    }
  /* the children go on: each one finishes its command on its own */
  free (s.buf);
  free (s.kids);
  close (s.sfd);
  dk_jsonl_write (
      stdout, jv_object_set (jv_object_set (jv_object (), jv_string ("type"), jv_string ("result")),
                             jv_string ("served"), jv_number (s.served)));
  return 0;
}
