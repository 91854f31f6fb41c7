/* start, delete, kill and the foreground `run`. */
#include "run.h"
#include "cgroup.h"

#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static bool
alive (const struct dk_state *st)
{
  return st->pid > 0 && dk_proc_start_time (st->pid) == st->start_time;
}

int
dk_container_start (const char *id, dk_err_t *err)
{
  struct dk_state st;
  if (dk_state_load (id, &st, err) < 0)
    return -1;
  const char *status = dk_state_status (&st);
  int ret = 0;
  if (strcmp (status, "stopped") == 0)
    ret = dk_make_error_code (err, DK_ECODE_CONFLICT, 0,
                              "cannot start a container that has stopped");
  else if (strcmp (status, "running") == 0)
    ret = dk_make_error_code (err, DK_ECODE_CONFLICT, 0,
                              "cannot start an already running container");
  cleanup_free char *fifo = xasprintf ("%s/exec.fifo", st.dir);
  cleanup_close int fd = ret < 0 ? -1 : open (fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (ret == 0 && fd < 0)
    ret = dk_make_error (err, errno, "open exec fifo");
  /* init writes one byte once it has the fifo open: then it goes on to exec */
  while (ret == 0)
    {
      struct pollfd p = { fd, POLLIN, 0 };
      int r = poll (&p, 1, 100);
      if (r < 0 && errno != EINTR)
        ret = dk_make_error (err, errno, "poll exec fifo");
      else if (r > 0)
        {
          char b;
          if (read (fd, &b, 1) == 1)
            break;
          ret = dk_make_error (err, 0, "cannot start a container that has stopped");
        }
      else if (!alive (&st))
        ret = dk_make_error (err, 0, "cannot start a container that has stopped");
    }
  if (ret == 0)
    {
      unlink (fifo);
      cleanup_jv jv s = dk_state_json (&st, "running");
      dk_err_t herr = NULL;
      if (dk_hooks_run (st.config, "poststart", s, &herr) < 0)
        {
          /* runc: a failing poststart hook takes the container down */
          kill (st.pid, SIGKILL);
          ret = -1;
          *err = herr;
        }
    }
  dk_state_free (&st);
  return ret;
}

static void
wait_dead (const struct dk_state *st)
{
  for (int i = 0; i < 1000 && alive (st); i++)
    {
      waitpid (st->pid, NULL, WNOHANG);
      nanosleep (&(struct timespec){ 0, 2 * 1000 * 1000 }, NULL);
    }
}

int
dk_container_delete (const char *id, bool force, dk_err_t *err)
{
  struct dk_state st;
  if (dk_state_load (id, &st, err) < 0)
    return -1;
  const char *status = dk_state_status (&st);
  bool paused = strcmp (status, "paused") == 0;
  if ((strcmp (status, "running") == 0 || paused) && !force)
    {
      dk_state_free (&st);
      return dk_make_error_code (err, DK_ECODE_CONFLICT, 0,
                                 "cannot delete container %s that is not stopped: %s", id, status);
    }
  if (strcmp (status, "stopped") != 0)
    {
      kill (st.pid, SIGKILL);
      /* a frozen task only dies once thawed */
      if (paused)
        dk_cgroup_freeze (st.cgroup, false, NULL);
      wait_dead (&st);
    }
  int ret = dk_cgroup_destroy (st.cgroup, true, err);
  cleanup_jv jv s = dk_state_json (&st, "stopped");
  dk_err_t herr = NULL;
  if (dk_hooks_run (st.config, "poststop", s, &herr) < 0)
    {
      fprintf (stderr, "dk-run: warning: %s\n", herr->msg);
      dk_error_release (&herr);
    }
  if (dk_remove_tree (st.dir, ret < 0 ? NULL : err) < 0)
    ret = -1;
  dk_state_free (&st);
  return ret;
}

static int
parse_signal (const char *s, dk_err_t *err)
{
  if (s == NULL)
    return SIGTERM;
  char *end;
  long n = strtol (s, &end, 10);
  if (*s && *end == '\0' && n > 0 && n < NSIG)
    return (int)n;
  const char *name = strncasecmp (s, "SIG", 3) == 0 ? s + 3 : s;
  for (int i = 1; i < NSIG; i++)
    {
      const char *abbrev = sigabbrev_np (i);
      if (abbrev && strcasecmp (abbrev, name) == 0)
        return i;
    }
  return dk_make_error_code (err, DK_ECODE_INVALID, 0, "unknown signal \"%s\"", s);
}

int
dk_container_kill (const char *id, const char *signame, bool all, dk_err_t *err)
{
  int sig = parse_signal (signame, err);
  if (sig < 0)
    return -1;
  struct dk_state st;
  if (dk_state_load (id, &st, err) < 0)
    return -1;
  int ret = 0;
  if (strcmp (dk_state_status (&st), "stopped") == 0)
    ret = dk_make_error_code (err, DK_ECODE_CONFLICT, 0, "container not running");
  else if (all)
    {
      cleanup_free pid_t *pids = NULL;
      size_t n = 0;
      ret = dk_cgroup_pids (st.cgroup, &pids, &n, err);
      for (size_t i = 0; ret == 0 && i < n; i++)
        kill (pids[i], sig);
    }
  else if (kill (st.pid, sig) < 0)
    ret = dk_make_error (err, errno, "kill");
  dk_state_free (&st);
  return ret;
}

int
dk_container_pause (const char *id, bool pause, dk_err_t *err)
{
  struct dk_state st;
  if (dk_state_load (id, &st, err) < 0)
    return -1;
  const char *status = dk_state_status (&st);
  int ret = 0;
  if (pause && strcmp (status, "running") != 0)
    ret = dk_make_error_code (err, DK_ECODE_CONFLICT, 0, "container not running");
  else if (!pause && strcmp (status, "paused") != 0)
    ret = dk_make_error_code (err, DK_ECODE_CONFLICT, 0, "container not paused");
  else
    ret = dk_cgroup_freeze (st.cgroup, pause, err);
  dk_state_free (&st);
  return ret;
}

int
dk_container_update (const char *id, jv resources, dk_err_t *err)
{
  struct dk_state st;
  if (dk_state_load (id, &st, err) < 0)
    return -1;
  int ret = 0;
  if (strcmp (dk_state_status (&st), "stopped") == 0)
    ret = dk_make_error_code (err, DK_ECODE_CONFLICT, 0, "container not running");
  else
    ret = dk_cgroup_update (st.cgroup, resources, err);
  dk_state_free (&st);
  return ret;
}
