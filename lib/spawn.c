#include "spawn.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

char *
dk_tool_path (const char *name)
{
  if (strchr (name, '/'))
    return xstrdup (name);
  const char *dir = getenv ("DK_LIBEXEC");
  if (dir && *dir)
    {
      char *p = xasprintf ("%s/%s", dir, name);
      if (access (p, X_OK) == 0)
        return p;
      free (p);
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
          char *p = xasprintf ("%s/%s", self, name);
          if (access (p, X_OK) == 0)
            return p;
          free (p);
        }
    }
  return xstrdup (name);
}

static int
cmp_int (const void *a, const void *b)
{
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

static void
close_range_compat (unsigned lo, unsigned hi)
{
#ifdef SYS_close_range
  if (syscall (SYS_close_range, lo, hi, 0) == 0)
    return;
#endif
  long max = sysconf (_SC_OPEN_MAX);
  if (max < 0 || max > 65536)
    max = 65536;
  for (long fd = lo; fd <= (long)hi && fd < max; fd++)
    close ((int)fd);
}

static int
lift (int fd)
{
  /* moves fd above 2 so that dup2 onto 0..2 never clobbers another one */
  return fd < 0 ? -1 : fcntl (fd, F_DUPFD_CLOEXEC, 3);
}

/* In the child: only async-signal-safe calls from here to exec.  keep has
   room for nkeep + 1 entries, sorted. */
static void __attribute__ ((noreturn))
child_exec (const char *path, char *const argv[], int in, int out, int errfd, int *keep,
            size_t nkeep, int report)
{
  sigset_t all;
  sigemptyset (&all);
  sigprocmask (SIG_SETMASK, &all, NULL);
  signal (SIGPIPE, SIG_DFL);

  int rep = lift (report);
  in = lift (in);
  out = lift (out);
  errfd = lift (errfd);
  if (rep < 0 || (in >= 0 && dup2 (in, 0) < 0) || (out >= 0 && dup2 (out, 1) < 0)
      || (errfd >= 0 && dup2 (errfd, 2) < 0))
    goto fail;

  /* The kept fds lose FD_CLOEXEC; the report pipe keeps it (exec closes it)
     and survives the sweep; everything else from 3 upward is closed. */
  for (size_t i = 0; i < nkeep; i++)
    if (keep[i] > 2)
      {
        int fl = fcntl (keep[i], F_GETFD);
        if (fl >= 0)
          fcntl (keep[i], F_SETFD, fl & ~FD_CLOEXEC);
      }
  size_t pos = nkeep;
  while (pos > 0 && keep[pos - 1] > rep)
    {
      keep[pos] = keep[pos - 1];
      pos--;
    }
  keep[pos] = rep;
  nkeep++;
  unsigned lo = 3;
  for (size_t i = 0; i < nkeep; i++)
    {
      if (keep[i] < (int)lo)
        continue;
      if ((unsigned)keep[i] > lo)
        close_range_compat (lo, (unsigned)keep[i] - 1);
      lo = (unsigned)keep[i] + 1;
    }
  close_range_compat (lo, ~0U);

  if (strchr (path, '/'))
    execv (path, argv);
  else
    execvp (path, argv);
fail:;
  int e = errno;
  if (rep >= 0)
    {
      ssize_t w = write (rep, &e, sizeof e);
      (void)w;
    }
  _exit (127);
}

static int
make_pipe (int p[2], dk_err_t *err)
{
  if (pipe2 (p, O_CLOEXEC) < 0)
    return dk_make_error (err, errno, "pipe");
  return 0;
}

static void
close_pair (int p[2])
{
  for (int i = 0; i < 2; i++)
    if (p[i] >= 0)
      {
        close (p[i]);
        p[i] = -1;
      }
}

/* in_fd >= 0 becomes the child's stdin (overrides the stdin flags). */
static int
spawn_full (char *const argv[], int flags, int in_fd, const int *keep_fds, struct dk_child *child,
            dk_err_t *err)
{
  child->pid = -1;
  child->stdin_fd = child->stdout_fd = child->stderr_fd = -1;
  if (argv == NULL || argv[0] == NULL)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "spawn: empty command");

  size_t nkeep = 0;
  while (keep_fds && keep_fds[nkeep] >= 0)
    nkeep++;
  cleanup_free int *keep = xmalloc ((nkeep + 1) * sizeof (int));
  if (nkeep)
    memcpy (keep, keep_fds, nkeep * sizeof (int));
  qsort (keep, nkeep, sizeof (int), cmp_int);

  int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 }, rep[2] = { -1, -1 };
  cleanup_close int devnull = -1;
  int child_in = in_fd;
  if (in_fd < 0 && (flags & DK_SPAWN_STDIN))
    {
      if (make_pipe (pin, err) < 0)
        return -1;
      child_in = pin[0];
    }
  else if (in_fd < 0 && (flags & DK_SPAWN_NULL_IN))
    {
      devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);
      if (devnull < 0)
        return dk_make_error (err, errno, "open /dev/null");
      child_in = devnull;
    }
  if (((flags & DK_SPAWN_STDOUT) && make_pipe (pout, err) < 0)
      || ((flags & DK_SPAWN_STDERR) && make_pipe (perr, err) < 0) || make_pipe (rep, err) < 0)
    {
      close_pair (pin);
      close_pair (pout);
      close_pair (perr);
      return -1;
    }

  cleanup_free char *path = dk_tool_path (argv[0]);
  pid_t pid = fork ();
  if (pid < 0)
    {
      int e = errno;
      close_pair (pin);
      close_pair (pout);
      close_pair (perr);
      close_pair (rep);
      return dk_make_error (err, e, "fork");
    }
  if (pid == 0)
    child_exec (path, argv, child_in, pout[1], perr[1], keep, nkeep, rep[1]);

  close (rep[1]);
  rep[1] = -1;
  if (pin[0] >= 0)
    close (pin[0]);
  if (pout[1] >= 0)
    close (pout[1]);
  if (perr[1] >= 0)
    close (perr[1]);

  int e = 0;
  ssize_t n;
  do
    n = read (rep[0], &e, sizeof e);
  while (n < 0 && errno == EINTR);
  close (rep[0]);
  if (n == (ssize_t)sizeof e)
    {
      int st;
      while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
        ;
      if (pin[1] >= 0)
        close (pin[1]);
      if (pout[0] >= 0)
        close (pout[0]);
      if (perr[0] >= 0)
        close (perr[0]);
      return dk_make_error (err, e, "exec `%s`", path);
    }
  child->pid = pid;
  child->stdin_fd = pin[1];
  child->stdout_fd = pout[0];
  child->stderr_fd = perr[0];
  return 0;
}

int
dk_spawn (char *const argv[], int flags, const int *keep_fds, struct dk_child *child, dk_err_t *err)
{
  return spawn_full (argv, flags, -1, keep_fds, child, err);
}

int
dk_child_wait (struct dk_child *child, dk_err_t *err)
{
  if (child->pid <= 0)
    return dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "wait: no child");
  int st;
  while (waitpid (child->pid, &st, 0) < 0)
    if (errno != EINTR)
      return dk_make_error (err, errno, "wait for %d", (int)child->pid);
  child->pid = -1;
  if (WIFEXITED (st))
    return WEXITSTATUS (st);
  if (WIFSIGNALED (st))
    return 128 + WTERMSIG (st);
  return 255;
}

void
dk_child_close (struct dk_child *child)
{
  int *fds[] = { &child->stdin_fd, &child->stdout_fd, &child->stderr_fd };
  for (size_t i = 0; i < 3; i++)
    if (*fds[i] >= 0)
      {
        close (*fds[i]);
        *fds[i] = -1;
      }
}

/* Progress objects go to on_line as they come; any other object is the
   candidate final one (an earlier candidate is passed on as a line). */
static void
take_value (jv v, dk_line_cb on_line, void *data, jv *final)
{
  const char *type = dk_json_str (v, "type");
  if (type && strcmp (type, "progress") == 0)
    {
      if (on_line)
        on_line (v, data);
      jv_free (v);
      return;
    }
  if (jv_is_valid (*final) && on_line)
    on_line (*final, data);
  jv_free (*final);
  *final = v;
}

int
dk_run_tool (char *const argv[], int in_fd, dk_line_cb on_line, void *data, jv *result,
             dk_err_t *err)
{
  *result = jv_invalid ();
  struct dk_child child;
  int flags = DK_SPAWN_STDOUT | (in_fd < 0 ? DK_SPAWN_NULL_IN : 0);
  if (spawn_full (argv, flags, in_fd, NULL, &child, err) < 0)
    return -1;

  struct dk_jsonl_reader *r = dk_jsonl_reader_new ();
  jv final = jv_invalid ();
  cleanup_error dk_err_t bad_line = NULL;
  char buf[65536];
  bool eof = false;
  while (!eof)
    {
      ssize_t n = read (child.stdout_fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        eof = true;
      else
        dk_jsonl_feed (r, buf, (size_t)n);
      for (;;)
        {
          jv v;
          dk_err_t lerr = NULL;
          int got = dk_jsonl_next (r, eof, &v, &lerr);
          if (got == 0)
            break;
          if (got < 0)
            {
              if (bad_line == NULL)
                bad_line = steal_ptr (&lerr);
              dk_error_release (&lerr);
              continue;
            }
          take_value (v, on_line, data, &final);
        }
    }
  dk_jsonl_reader_free (r);
  dk_child_close (&child);
  int status = dk_child_wait (&child, err);
  if (status < 0)
    {
      jv_free (final);
      return -1;
    }

  const char *type = dk_json_str (final, "type");
  if (type && strcmp (type, "error") == 0)
    {
      const char *code = dk_json_str (final, "code");
      const char *msg = dk_json_str (final, "message");
      dk_make_error_code (err, code ? code : DK_ECODE_INTERNAL, 0, "%s",
                          msg ? msg : "unknown error");
      jv_free (final);
      return -1;
    }
  if (status != 0)
    {
      jv_free (final);
      return dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "%s exited with status %d", argv[0],
                                 status);
    }
  if (bad_line)
    {
      jv_free (final);
      dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "%s: malformed output: %s", argv[0],
                          bad_line->msg);
      return -1;
    }
  *result = jv_is_valid (final) ? final : (jv_free (final), jv_null ());
  return 0;
}
