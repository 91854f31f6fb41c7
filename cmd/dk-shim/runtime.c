/* Driving the OCI runtime's command line (runc's): create, start, kill,
   delete, exec; receiving a pty master on the console socket. */
#include "shim.h"
#include "atomicfile.h"
#include "cleanup.h"
#include "scratchfile.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *
dk_shim_default_runtime (void)
{
  static char path[PATH_MAX + 16];
  const char *libexec = getenv ("DK_LIBEXEC");
  if (libexec && *libexec)
    {
      snprintf (path, sizeof path, "%s/dk-run", libexec);
      return path;
    }
  char self[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
  if (n > 0)
    {
      self[n] = '\0';
      char *slash = strrchr (self, '/');
      if (slash)
        {
          *slash = '\0';
          snprintf (path, sizeof path, "%s/dk-run", self);
          if (access (path, X_OK) == 0)
            return path;
        }
    }
  return "dk-run";
}

static void
set_nonblock (int fd)
{
  int fl = fcntl (fd, F_GETFL);
  if (fl >= 0)
    fcntl (fd, F_SETFL, fl | O_NONBLOCK);
}

/* Reads what is there; returns true at EOF. */
static bool
drain (int fd, struct dk_buf *b)
{
  char buf[4096];
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n == 0;
      if (b->len < 64 * 1024)
        dk_buf_add (b, buf, (size_t)n);
    }
}

int
rt_console_open (struct shim *s, dk_err_t *err)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  strcpy (addr.sun_path, "console.sock");
  unlink ("console.sock");
  cleanup_close int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return dk_make_error (err, errno, "socket");
  if (bind (fd, (struct sockaddr *)&addr, sizeof addr) < 0 || chmod ("console.sock", 0600) < 0
      || listen (fd, 4) < 0)
    return dk_make_error (err, errno, "console socket `%s/console.sock`", s->o->dir);
  s->console_fd = steal_fd (&fd);
  return 0;
}

void
rt_console_close (struct shim *s)
{
  if (s->console_fd >= 0)
    close (s->console_fd);
  s->console_fd = -1;
  unlink ("console.sock");
}

/* The runtime connects and sends the pty master with SCM_RIGHTS. */
static int
console_receive (struct shim *s)
{
  int conn = accept4 (s->console_fd, NULL, NULL, SOCK_CLOEXEC);
  if (conn < 0)
    return -1;
  char data[PATH_MAX];
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } u;
  struct iovec iov = { data, sizeof data };
  struct msghdr msg
      = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  struct pollfd pfd = { conn, POLLIN, 0 };
  poll (&pfd, 1, 5000);
  ssize_t n = recvmsg (conn, &msg, MSG_CMSG_CLOEXEC);
  close (conn);
  if (n < 0)
    return -1;
  struct cmsghdr *cm = CMSG_FIRSTHDR (&msg);
  if (cm == NULL || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
    return -1;
  int fd;
  memcpy (&fd, CMSG_DATA (cm), sizeof fd);
  return fd;
}

int
rt_error (dk_err_t *err, const char *what, int status, const char *output)
{
  /* the last line the runtime printed is its error (runc prints the
     plain message on stderr, its log goes to runtime.log) */
  const char *msg = NULL;
  size_t mlen = 0;
  const char *p = output ? output : "";
  while (*p)
    {
      const char *e = strchrnul (p, '\n');
      const char *q = p;
      while (q < e && (*q == ' ' || *q == '\t' || *q == '\r'))
        q++;
      if (q < e)
        {
          msg = q;
          mlen = (size_t)(e - q);
          while (mlen > 0 && (msg[mlen - 1] == '\r' || msg[mlen - 1] == ' '))
            mlen--;
        }
      p = *e ? e + 1 : e;
    }
  /* logrus text format: time="..." level=error msg="..." */
  if (msg)
    {
      const char *m = memmem (msg, mlen, "msg=\"", 5);
      if (m)
        {
          size_t skip = (size_t)(m + 5 - msg);
          msg += skip;
          mlen -= skip;
          const char *end = memchr (msg, '"', mlen);
          if (end)
            mlen = (size_t)(end - msg);
        }
    }
  const char *code = DK_ECODE_INTERNAL;
  if (msg
      && (memmem (msg, mlen, "not found in $PATH", 18)
          || memmem (msg, mlen, "no such file or directory", 25)))
    code = DK_ECODE_NOT_FOUND;
  if (msg)
    return dk_make_error_code (err, code, 0, "%.*s", (int)mlen, msg);
  if (status >= 128)
    return dk_make_error_code (err, code, 0, "runtime %s killed by signal %d", what, status - 128);
  return dk_make_error_code (err, code, 0, "runtime %s failed with exit status %d", what, status);
}

int
rt_run (struct shim *s, const char *const *args, int in, int out, int errfd, int err_read,
        int *master, dk_err_t *err)
{
  const char *argv[64];
  int n = 0;
  char logpath[PATH_MAX];
  snprintf (logpath, sizeof logpath, "%s/runtime.log", s->o->dir);
  argv[n++] = s->o->runtime;
  if (s->o->runtime_root)
    {
      argv[n++] = "--root";
      argv[n++] = s->o->runtime_root;
    }
  argv[n++] = "--log";
  argv[n++] = logpath;
  argv[n++] = "--log-format";
  argv[n++] = "json";
  for (int i = 0; i < s->o->n_runtime_args && n < 40; i++)
    argv[n++] = s->o->runtime_args[i];
  for (int i = 0; args[i] && n < 63; i++)
    argv[n++] = args[i];
  argv[n] = NULL;

  int cap[2] = { -1, -1 };
  if ((out < 0 || errfd < 0) && pipe2 (cap, O_CLOEXEC) < 0)
    return dk_make_error (err, errno, "pipe");
  pid_t pid = fork ();
  if (pid < 0)
    {
      int e = errno;
      if (cap[0] >= 0)
        close (cap[0]), close (cap[1]);
      return dk_make_error (err, e, "fork");
    }
  if (pid == 0)
    {
      sigset_t all;
      sigemptyset (&all);
      sigprocmask (SIG_SETMASK, &all, NULL);
      signal (SIGPIPE, SIG_DFL);
      signal (SIGHUP, SIG_DFL);
      int nul = open ("/dev/null", O_RDWR);
      int fd0 = in >= 0 ? in : nul;
      int fd1 = out >= 0 ? out : cap[1];
      int fd2 = errfd >= 0 ? errfd : cap[1];
      /* move them out of the way of 0-2 before placing them */
      fd0 = fcntl (fd0, F_DUPFD, 10);
      fd1 = fcntl (fd1, F_DUPFD, 10);
      fd2 = fcntl (fd2, F_DUPFD, 10);
      if (fd0 < 0 || fd1 < 0 || fd2 < 0 || dup2 (fd0, 0) < 0 || dup2 (fd1, 1) < 0
          || dup2 (fd2, 2) < 0)
        _exit (126);
      close_range (3, ~0U, 0);
      execvp (argv[0], (char *const *)argv);
      dprintf (2, "exec runtime `%s`: %s\n", argv[0], strerror (errno));
      _exit (127);
    }
  if (cap[1] >= 0)
    close (cap[1]);
  cleanup_buf struct dk_buf output = DK_BUF_INIT;
  int status = -1;
  bool want_console = master != NULL && s->console_fd >= 0;
  if (cap[0] >= 0)
    set_nonblock (cap[0]);
  /* a pidfd wakes us the moment the runtime exits; without one, poll */
  cleanup_close int pidfd = pidfd_open (pid, 0);
  for (;;)
    {
      struct pollfd pfd[3];
      int np = 0;
      if (cap[0] >= 0)
        pfd[np++] = (struct pollfd){ cap[0], POLLIN, 0 };
      if (want_console && *master < 0)
        pfd[np++] = (struct pollfd){ s->console_fd, POLLIN, 0 };
      if (pidfd >= 0)
        pfd[np++] = (struct pollfd){ pidfd, POLLIN, 0 };
      poll (pfd, (nfds_t)np, pidfd >= 0 ? 1000 : 20);
      if (cap[0] >= 0 && drain (cap[0], &output))
        {
          close (cap[0]);
          cap[0] = -1;
        }
      if (want_console && *master < 0)
        {
          int m = console_receive (s);
          if (m >= 0)
            *master = m;
        }
      int st;
      pid_t r = waitpid (pid, &st, WNOHANG);
      if (r == pid)
        {
          status = WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
          break;
        }
      if (r < 0 && errno != EINTR)
        break;
    }
  if (cap[0] >= 0)
    {
      drain (cap[0], &output);
      close (cap[0]);
    }
  if (want_console && *master < 0)
    *master = console_receive (s);
  if (status == 0)
    return 0;
  if (err_read >= 0)
    {
      /* our copy of the write end may still be open: never block here */
      set_nonblock (err_read);
      drain (err_read, &output);
    }
  return rt_error (err, args[0], status, output.data);
}

int
rt_read_pid (const char *file, pid_t *pid, dk_err_t *err)
{
  cleanup_free char *data = NULL;
  if (dk_read_file (file, &data, NULL, err) < 0)
    return dk_error_wrap (err, "runtime pid file");
  long v = strtol (data, NULL, 10);
  if (v <= 0)
    return dk_make_error (err, 0, "runtime pid file `%s`: no pid", file);
  *pid = (pid_t)v;
  return 0;
}

static int
check_bundle (struct shim *s, dk_err_t *err)
{
  cleanup_free char *cfg = xasprintf ("%s/config.json", s->o->bundle);
  jv spec;
  if (dk_json_read_file (cfg, &spec, err) < 0)
    {
      dk_error_set_code (err, DK_ECODE_INVALID);
      return dk_error_wrap (err, "bundle `%s`", s->o->bundle);
    }
  const char *root = NULL;
  jv r = dk_json_get_kind (spec, "root", JV_KIND_OBJECT);
  if (jv_is_valid (r))
    root = dk_json_str (r, "path");
  int ret = 0;
  if (root == NULL)
    ret = dk_make_error_code (err, DK_ECODE_INVALID, 0, "bundle `%s`: config.json has no root.path",
                              s->o->bundle);
  else
    {
      cleanup_free char *rp
          = root[0] == '/' ? xstrdup (root) : xasprintf ("%s/%s", s->o->bundle, root);
      struct stat st;
      if (stat (rp, &st) < 0 || !S_ISDIR (st.st_mode))
        ret = dk_make_error_code (err, DK_ECODE_INVALID, errno ? errno : ENOTDIR,
                                  "bundle `%s`: rootfs `%s`", s->o->bundle, rp);
    }
  jv_free (r);
  jv_free (spec);
  return ret;
}

static int
pipe_pair (int p[2], dk_err_t *err)
{
  if (pipe2 (p, O_CLOEXEC) < 0)
    return dk_make_error (err, errno, "pipe");
  return 0;
}

int
shim_create (struct shim *s, dk_err_t *err)
{
  if (check_bundle (s, err) < 0)
    return -1;
  struct proc *c = &s->ctr;
  c->master = c->in_fd = c->out_fd = c->err_fd = -1;
  c->tty = s->o->terminal;
  cleanup_close int in_r = -1, out_w = -1, err_w = -1;
  if (c->tty)
    {
      if (rt_console_open (s, err) < 0)
        return -1;
    }
  else
    {
      int p[2];
      if (s->o->open_stdin)
        {
          if (pipe_pair (p, err) < 0)
            return -1;
          in_r = p[0];
          c->in_fd = p[1];
        }
      if (pipe_pair (p, err) < 0)
        return -1;
      c->out_fd = p[0];
      out_w = p[1];
      if (pipe_pair (p, err) < 0)
        return -1;
      c->err_fd = p[0];
      err_w = p[1];
      set_nonblock (c->out_fd);
      set_nonblock (c->err_fd);
      if (c->in_fd >= 0)
        set_nonblock (c->in_fd);
    }
  char pidfile[PATH_MAX], sock[PATH_MAX];
  snprintf (pidfile, sizeof pidfile, "%s/container.pid", s->o->dir);
  snprintf (sock, sizeof sock, "%s/console.sock", s->o->dir);
  const char *args[] = { "create",
                         "--bundle",
                         s->o->bundle,
                         "--pid-file",
                         pidfile,
                         c->tty ? "--console-socket" : s->o->id,
                         c->tty ? sock : NULL,
                         c->tty ? s->o->id : NULL,
                         NULL };
  int master = -1;
  int r = rt_run (s, args, in_r, out_w, err_w, c->err_fd, c->tty ? &master : NULL, err);
  rt_console_close (s);
  if (r < 0 || rt_read_pid (pidfile, &c->pid, err) < 0)
    {
      if (master >= 0)
        close (master);
      proc_close_fds (c);
      /* a runtime that failed half-way may have left its state */
      const char *del[] = { "delete", "--force", s->o->id, NULL };
      dk_err_t ignore = NULL;
      rt_run (s, del, -1, -1, -1, -1, NULL, &ignore);
      dk_error_release (&ignore);
      return -1;
    }
  if (c->tty)
    {
      if (master < 0)
        {
          shim_delete (s);
          return dk_make_error (err, 0, "runtime did not send the terminal on the console socket");
        }
      set_nonblock (master);
      c->master = c->out_fd = master;
      if (s->o->open_stdin)
        c->in_fd = master;
    }
  shim_oom_setup (s);
  return 0;
}

int
shim_start (struct shim *s, dk_err_t *err)
{
  const char *args[] = { "start", s->o->id, NULL };
  if (rt_run (s, args, -1, -1, -1, -1, NULL, err) < 0)
    return -1;
  s->status = ST_RUNNING;
  s->started_at = dk_time_now_ns ();
  return 0;
}

int
shim_kill (struct shim *s, int sig, bool all, dk_err_t *err)
{
  char num[16];
  snprintf (num, sizeof num, "%d", sig);
  const char *args[]
      = { "kill", all ? "--all" : s->o->id, all ? s->o->id : num, all ? num : NULL, NULL };
  return rt_run (s, args, -1, -1, -1, -1, NULL, err);
}

void
shim_delete (struct shim *s)
{
  dk_err_t err = NULL;
  const char *args[] = { "delete", s->o->id, NULL };
  if (rt_run (s, args, -1, -1, -1, -1, NULL, &err) == 0)
    return;
  dk_error_release (&err);
  const char *force[] = { "delete", "--force", s->o->id, NULL };
  if (rt_run (s, force, -1, -1, -1, -1, NULL, &err) < 0)
    {
      dk_warn ("delete container %s: %s", s->o->id, err->msg);
      dk_error_release (&err);
    }
}

int
shim_exec (struct shim *s, const char *exec_id, jv process, bool detach, bool want_in,
           struct proc **out, dk_err_t *err)
{
  unsigned seq = ++s->exec_seq;
  char pfile[64], pidfile[PATH_MAX], sock[PATH_MAX];
  snprintf (pfile, sizeof pfile, "exec-%u.json", seq);
  snprintf (pidfile, sizeof pidfile, "%s/exec-%u.pid", s->o->dir, seq);
  snprintf (sock, sizeof sock, "%s/console.sock", s->o->dir);
  bool tty = false;
  dk_json_bool (process, "terminal", &tty);
  if (detach)
    tty = false, process = jv_object_set (process, jv_string ("terminal"), jv_false ());
  cleanup_free char *doc = dk_json_dump (jv_copy (process));
  if (dk_scratch_write (pfile, doc, strlen (doc), 0600, err) < 0)
    return -1;
  struct proc *p = xzalloc (sizeof *p);
  p->exec_id = xstrdup (exec_id);
  p->tty = tty;
  p->master = p->in_fd = p->out_fd = p->err_fd = -1;
  int in_r = -1, out_w = -1, err_w = -1, pp[2];
  int ret = 0;
  if (tty && rt_console_open (s, err) < 0)
    ret = -1;
  if (ret == 0 && !tty && !detach)
    {
      if (want_in && pipe_pair (pp, err) == 0)
        in_r = pp[0], p->in_fd = pp[1];
      if (pipe_pair (pp, err) == 0)
        p->out_fd = pp[0], out_w = pp[1];
      if (pipe_pair (pp, err) == 0)
        p->err_fd = pp[0], err_w = pp[1];
      if (p->out_fd < 0 || p->err_fd < 0 || (want_in && p->in_fd < 0))
        ret = -1;
    }
  if (ret == 0)
    {
      int nul = -1;
      if (detach)
        nul = open ("/dev/null", O_RDWR | O_CLOEXEC);
      const char *args[] = { "exec",
                             "--process",
                             pfile,
                             "--detach",
                             "--pid-file",
                             pidfile,
                             tty ? "--console-socket" : s->o->id,
                             tty ? sock : NULL,
                             tty ? s->o->id : NULL,
                             NULL };
      int master = -1;
      ret = rt_run (s, args, detach ? nul : in_r, detach ? nul : out_w, detach ? nul : err_w,
                    p->err_fd, tty ? &master : NULL, err);
      if (nul >= 0)
        close (nul);
      if (ret == 0 && tty)
        {
          if (master < 0)
            ret = dk_make_error (err, 0, "runtime did not send the exec's terminal");
          else
            {
              set_nonblock (master);
              p->master = p->out_fd = master;
              if (want_in)
                p->in_fd = master;
            }
        }
      if (ret == 0)
        ret = rt_read_pid (pidfile, &p->pid, err);
    }
  rt_console_close (s);
  for (int *fd = (int[]){ in_r, out_w, err_w }, i = 0; i < 3; i++)
    if (fd[i] >= 0)
      close (fd[i]);
  unlink (pfile);
  unlink (pidfile);
  jv_free (process);
  if (ret < 0)
    {
      proc_close_fds (p);
      free (p->exec_id);
      free (p);
      return -1;
    }
  if (p->out_fd >= 0 && p->out_fd != p->master)
    set_nonblock (p->out_fd);
  if (p->err_fd >= 0)
    set_nonblock (p->err_fd);
  if (p->in_fd >= 0 && p->in_fd != p->master)
    set_nonblock (p->in_fd);
  p->next = s->execs;
  s->execs = p;
  s->n_execs++;
  *out = p;
  return 0;
}
