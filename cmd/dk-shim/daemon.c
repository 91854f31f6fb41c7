/* Becoming a daemon, reporting readiness, the socket and the state files. */
#include "shim.h"
#include "atomicfile.h"
#include "cleanup.h"
#include "scratchfile.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static bool created_dir;

/* The foreground process: wait for the daemon's first line and print it,
   so that `dk-shim ...` in a shell returns once the container exists. */
static void __attribute__ ((noreturn)) wait_for_report (pid_t child, int rfd, const char *dir)
{
  struct dk_buf b = DK_BUF_INIT;
  char buf[4096];
  ssize_t n;
  waitpid (child, NULL, 0);
  while ((n = read (rfd, buf, sizeof buf)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        break;
      dk_buf_add (&b, buf, (size_t)n);
    }
  if (b.len == 0)
    {
      dk_err_t err = NULL;
      dk_make_error (&err, 0, "dk-shim exited before reporting (see `%s/shim.log`)", dir);
      dk_error_emit (stdout, err);
      dk_error_print ("dk-shim", err);
      exit (1);
    }
  fwrite (b.data, 1, b.len, stdout);
  fflush (stdout);
  bool ready = strstr (b.data, "\"type\":\"ready\"") != NULL;
  if (!ready)
    {
      /* tell the person too */
      jv v;
      dk_err_t perr = NULL;
      if (dk_json_parse (b.data, b.len, &v, &perr) == 0)
        {
          const char *m = dk_json_str (v, "message");
          if (m)
            fprintf (stderr, "dk-shim: error: %s\n", m);
          jv_free (v);
        }
      dk_error_release (&perr);
    }
  exit (ready ? 0 : 1);
}

int
shim_daemonize (struct shim_opts *o, int *report_fd, dk_err_t *err)
{
  struct stat st;
  if (stat (o->dir, &st) < 0)
    {
      if (dk_mkdir_p (o->dir, 0711, err) < 0)
        return -1;
      created_dir = true;
    }
  else if (!S_ISDIR (st.st_mode))
    return dk_make_error_code (err, DK_ECODE_INVALID, ENOTDIR, "state dir `%s`", o->dir);
  if (chdir (o->dir) < 0)
    return dk_make_error (err, errno, "chdir `%s`", o->dir);
  if (o->foreground)
    {
      *report_fd = dup (1);
      return 0;
    }
  int p[2];
  if (pipe2 (p, O_CLOEXEC) < 0)
    return dk_make_error (err, errno, "pipe");
  fflush (NULL);
  pid_t pid = fork ();
  if (pid < 0)
    return dk_make_error (err, errno, "fork");
  if (pid > 0)
    {
      close (p[1]);
      wait_for_report (pid, p[0], o->dir);
    }
  close (p[0]);
  if (setsid () < 0)
    _exit (1);
  pid = fork ();
  if (pid < 0)
    _exit (1);
  if (pid > 0)
    _exit (0);
  int nul = open ("/dev/null", O_RDWR | O_CLOEXEC);
  int logfd = open ("shim.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (nul >= 0)
    {
      dup2 (nul, 0);
      dup2 (nul, 1);
      dup2 (logfd >= 0 ? logfd : nul, 2);
      close (nul);
    }
  if (logfd >= 0)
    close (logfd);
  *report_fd = p[1];
  return 0;
}

void
shim_report (struct shim *s, int *report_fd, jv msg)
{
  cleanup_free char *line = dk_json_dump (msg);
  size_t len = strlen (line);
  line[len] = '\n'; /* dk_json_dump's buffer ends in a NUL we may reuse */
  int fds[2] = { *report_fd, s->o->notify_fd };
  for (int i = 0; i < 2; i++)
    {
      if (fds[i] < 0)
        continue;
      ssize_t n = write (fds[i], line, len + 1);
      (void)n;
      close (fds[i]);
    }
  *report_fd = -1;
  s->o->notify_fd = -1;
}

/* A shim of an earlier run of this container may still be there, waiting
   for someone to fetch the exit status (a restart right after the exit):
   fetch it, which lets that shim go.  Returns true when it is leaving. */
static bool
previous_shim_leaving (int fd)
{
  static const char req[] = "{\"op\":\"status\"}\n";
  char buf[1024];
  size_t have = 0;
  struct pollfd p = { fd, POLLOUT, 0 };
  if (poll (&p, 1, 2000) <= 0 || send (fd, req, sizeof req - 1, MSG_NOSIGNAL) < 0)
    return false;
  while (have < sizeof buf - 1)
    {
      p = (struct pollfd){ fd, POLLIN, 0 };
      if (poll (&p, 1, 2000) <= 0)
        return false;
      ssize_t n = recv (fd, buf + have, sizeof buf - 1 - have, 0);
      if (n <= 0)
        break;
      have += (size_t)n;
      if (memchr (buf, '\n', have))
        break;
    }
  buf[have] = '\0';
  return strstr (buf, "\"status\":\"exited\"") != NULL;
}

static int
try_connect (const struct sockaddr_un *addr)
{
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (connect (fd, (const struct sockaddr *)addr, sizeof *addr) == 0)
    return fd;
  int e = errno;
  close (fd);
  errno = e;
  return -1;
}

int
shim_listen (struct shim *s, dk_err_t *err)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  strcpy (addr.sun_path, "shim.sock");
  cleanup_close int fd = try_connect (&addr);
  if (fd >= 0)
    {
      if (!previous_shim_leaving (fd))
        return dk_make_error_code (err, DK_ECODE_CONFLICT, 0, "a shim is already running in `%s`",
                                   s->o->dir);
      close (fd);
      /* it removes shim.sock last, as it exits */
      for (int i = 0; i < 200 && (fd = try_connect (&addr)) >= 0; i++)
        {
          close (fd);
          fd = -1;
          usleep (10000);
        }
      if (fd >= 0)
        return dk_make_error_code (err, DK_ECODE_CONFLICT, 0,
                                   "the shim of the previous run in `%s` does not exit", s->o->dir);
    }
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return dk_make_error (err, errno, "socket");
  unlink ("shim.sock");
  if (bind (fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    return dk_make_error (err, errno, "bind `%s/shim.sock`", s->o->dir);
  /* whoever connects can exec into the container: owner only */
  if (chmod ("shim.sock", 0600) < 0)
    return dk_make_error (err, errno, "chmod `%s/shim.sock`", s->o->dir);
  if (listen (fd, 64) < 0)
    return dk_make_error (err, errno, "listen");
  s->listen_fd = steal_fd (&fd);
  return 0;
}

void
shim_cleanup_files (struct shim *s, bool all)
{
  unlink ("shim.pid");
  unlink ("console.sock");
  unlink ("container.pid");
  /* last: a new shim for the same directory waits for it to go */
  unlink ("shim.sock");
  if (!all)
    return;
  /* nothing of a container that never existed stays behind */
  unlink ("runtime.log");
  unlink ("shim.log");
  struct stat st;
  if (s->o->log_path && stat (s->o->log_path, &st) == 0 && st.st_size == 0)
    unlink (s->o->log_path);
  if (created_dir)
    {
      if (chdir ("/") == 0)
        rmdir (s->o->dir);
    }
}

int
shim_write_exit (struct shim *s, dk_err_t *err)
{
  char fin[48], start[48];
  dk_time_format_rfc3339nano (s->finished_at, fin, sizeof fin);
  jv v = jv_object ();
  v = jv_object_set (v, jv_string ("exit_code"), dk_json_int64 (s->ctr.exit_code));
  v = jv_object_set (v, jv_string ("finished_at"), jv_string (fin));
  v = jv_object_set (v, jv_string ("oom_killed"), jv_bool (s->oom_killed));
  v = jv_object_set (v, jv_string ("pid"), dk_json_int64 (s->ctr.pid));
  if (s->started_at)
    {
      dk_time_format_rfc3339nano (s->started_at, start, sizeof start);
      v = jv_object_set (v, jv_string ("started_at"), jv_string (start));
    }
  return dk_scratch_write_json ("exit.json", v, err);
}

static int
write_pid_file (dk_err_t *err)
{
  char buf[32];
  int n = snprintf (buf, sizeof buf, "%d\n", (int)getpid ());
  return dk_scratch_write ("shim.pid", buf, (size_t)n, 0644, err);
}

static int
setup_signals (struct shim *s, dk_err_t *err)
{
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGCHLD);
  if (sigprocmask (SIG_BLOCK, &set, NULL) < 0)
    return dk_make_error (err, errno, "sigprocmask");
  s->sig_fd = signalfd (-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (s->sig_fd < 0)
    return dk_make_error (err, errno, "signalfd");
  signal (SIGPIPE, SIG_IGN);
  signal (SIGHUP, SIG_IGN);
  return 0;
}

static int
fail (struct shim *s, int *report_fd, dk_err_t *err, bool container_exists)
{
  if (container_exists)
    shim_delete (s);
  shim_cleanup_files (s, true);
  dk_errorf ("%s", (*err)->msg);
  jv e = jv_object ();
  e = jv_object_set (e, jv_string ("type"), jv_string ("error"));
  e = jv_object_set (e, jv_string ("code"), jv_string ((*err)->code));
  e = jv_object_set (e, jv_string ("message"), jv_string ((*err)->msg));
  shim_report (s, report_fd, e);
  dk_error_release (err);
  return 1;
}

int
shim_main (struct shim *s, int *report_fd)
{
  dk_err_t err = NULL;
  /* orphans of the runtime (the container's init once `create` returns,
     exec'd processes) become our children, so we learn their exit */
  if (prctl (PR_SET_CHILD_SUBREAPER, 1) < 0)
    {
      dk_make_error (&err, errno, "set child subreaper");
      return fail (s, report_fd, &err, false);
    }
  if (setup_signals (s, &err) < 0 || shim_listen (s, &err) < 0)
    {
      if (err->code && strcmp (err->code, DK_ECODE_CONFLICT) == 0)
        {
          /* another shim owns this directory: touch nothing of it */
          jv e = jv_object ();
          e = jv_object_set (e, jv_string ("type"), jv_string ("error"));
          e = jv_object_set (e, jv_string ("code"), jv_string (err->code));
          e = jv_object_set (e, jv_string ("message"), jv_string (err->msg));
          shim_report (s, report_fd, e);
          return 1;
        }
      return fail (s, report_fd, &err, false);
    }
  unlink ("exit.json");
  if (shim_create (s, &err) < 0)
    return fail (s, report_fd, &err, false);
  if (s->o->log_path
      && dk_jsonlog_writer_open (s->o->log_path, s->o->log_max_size, s->o->log_max_file, &s->log,
                                 &err)
             < 0)
    return fail (s, report_fd, &err, true);
  if (s->o->start && shim_start (s, &err) < 0)
    return fail (s, report_fd, &err, true);
  if (write_pid_file (&err) < 0)
    return fail (s, report_fd, &err, true);
  jv ready = jv_object ();
  ready = jv_object_set (ready, jv_string ("type"), jv_string ("ready"));
  ready = jv_object_set (ready, jv_string ("pid"), dk_json_int64 (s->ctr.pid));
  shim_report (s, report_fd, ready);
  return shim_loop (s);
}
