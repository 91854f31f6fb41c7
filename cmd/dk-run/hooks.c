/* OCI hooks: each runs with the container state on stdin, with an optional
   timeout; a failing hook fails the operation (poststop ones only warn). */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int
run_one (jv hook, const char *kind, int index, const char *state, dk_err_t *err)
{
  const char *path = dk_json_str (hook, "path");
  if (path == NULL)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "%s hook #%d has no path", kind, index);
  cleanup_jv jv args = dk_json_get_kind (hook, "args", JV_KIND_ARRAY);
  cleanup_jv jv env = dk_json_get_kind (hook, "env", JV_KIND_ARRAY);
  int64_t timeout = 0;
  dk_json_int (hook, "timeout", &timeout);
  int na = dk_json_len (args), ne = dk_json_len (env);
  cleanup_free char **argv = xzalloc (sizeof (char *) * (na > 0 ? na + 1 : 2));
  cleanup_free char **envp = xzalloc (sizeof (char *) * (ne > 0 ? ne + 1 : 1));
  argv[0] = (char *)path;
  for (int i = 0; i < na; i++)
    {
      jv s = jv_array_get (jv_copy (args), i);
      argv[i] = jv_get_kind (s) == JV_KIND_STRING ? (char *)jv_string_value (s) : (char *)"";
      jv_free (s); /* the strings stay alive inside args */
    }
  for (int i = 0, k = 0; i < ne; i++)
    {
      jv s = jv_array_get (jv_copy (env), i);
      if (jv_get_kind (s) == JV_KIND_STRING)
        envp[k++] = (char *)jv_string_value (s);
      jv_free (s);
    }
  int pfd[2];
  if (pipe2 (pfd, O_CLOEXEC) < 0)
    return dk_make_error (err, errno, "pipe");
  pid_t pid = fork ();
  if (pid < 0)
    return dk_make_error (err, errno, "fork");
  if (pid == 0)
    {
      dup2 (pfd[0], 0);
      execve (path, argv, envp);
      _exit (127);
    }
  close (pfd[0]);
  signal (SIGPIPE, SIG_IGN);
  dk_write_all (pfd[1], state, strlen (state));
  close (pfd[1]);
  struct timespec start;
  clock_gettime (CLOCK_MONOTONIC, &start);
  int status;
  for (;;)
    {
      pid_t r = waitpid (pid, &status, timeout > 0 ? WNOHANG : 0);
      if (r == pid)
        break;
      if (r < 0 && errno != EINTR)
        return dk_make_error (err, errno, "wait for hook");
      struct timespec now;
      clock_gettime (CLOCK_MONOTONIC, &now);
      if (timeout > 0 && now.tv_sec - start.tv_sec >= timeout)
        {
          kill (pid, SIGKILL);
          waitpid (pid, &status, 0);
          return dk_make_error (err, 0, "error running %s hook #%d: timeout after %lld seconds",
                                kind, index, (long long)timeout);
        }
      nanosleep (&(struct timespec){ 0, 2 * 1000 * 1000 }, NULL);
    }
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    return dk_make_error (err, 0, "error running %s hook #%d: exit status %d", kind, index,
                          WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status));
  return 0;
}

int
dk_hooks_run (jv config, const char *kind, jv state, dk_err_t *err)
{
  cleanup_jv jv hooks = dk_json_get_kind (config, "hooks", JV_KIND_OBJECT);
  cleanup_jv jv list = dk_json_get_kind (hooks, kind, JV_KIND_ARRAY);
  int n = dk_json_len (list);
  if (n <= 0)
    return 0;
  cleanup_free char *s = dk_json_dump (jv_copy (state));
  for (int i = 0; i < n; i++)
    {
      cleanup_jv jv h = jv_array_get (jv_copy (list), i);
      if (run_one (h, kind, i, s, err) < 0)
        return -1;
    }
  return 0;
}
