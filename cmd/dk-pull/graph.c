#include "graph.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int
write_all (int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      p += n;
      len -= n;
    }
  return 0;
}

static char **
build_argv (const struct graph *g, const char *const *args)
{
  size_t n = 0;
  while (args[n])
    n++;
  char **argv = xzalloc ((n + 6) * sizeof *argv);
  size_t i = 0;
  argv[i++] = (char *)"dk-graph";
  argv[i++] = (char *)"--root";
  argv[i++] = (char *)g->root;
  if (g->driver)
    {
      argv[i++] = (char *)"--driver";
      argv[i++] = (char *)g->driver;
    }
  for (size_t k = 0; k < n; k++)
    argv[i++] = (char *)args[k];
  return argv;
}

int
graph_run (const struct graph *g, const char *const *args, int in_fd, jv *result, dk_err_t *err)
{
  cleanup_free char **argv = build_argv (g, args);
  return dk_run_tool (argv, in_fd, NULL, NULL, result, err);
}

int
graph_layer_exists (const struct graph *g, const char *chain_id, bool *exists, dk_err_t *err)
{
  const char *args[] = { "layer-exists", chain_id, NULL };
  cleanup_jv jv r = jv_invalid ();
  if (graph_run (g, args, -1, &r, err) < 0)
    return -1;
  *exists = false;
  dk_json_bool (r, "exists", exists);
  return 0;
}

void
graph_release_layers (const struct graph *g, char **chains, const bool *mine, int n)
{
  cleanup_free const char **args = xzalloc ((n + 2) * sizeof *args);
  int k = 0;
  args[k++] = "layer-release";
  for (int i = 0; i < n; i++)
    if (mine[i])
      args[k++] = chains[i];
  if (k == 1)
    return;
  cleanup_jv jv r = jv_invalid ();
  dk_err_t e = NULL;
  if (graph_run (g, args, -1, &r, &e) < 0)
    {
      fprintf (stderr, "dk-pull: warning: release the layers of the failed pull: %s\n", e->msg);
      dk_error_release (&e);
    }
}

static char **
register_argv (const struct graph *g, const char *parent, const char *wait, const char *diff_id,
               const char *digest, const char *args[12])
{
  size_t i = 0;
  args[i++] = "layer-register";
  if (parent)
    {
      args[i++] = "--parent";
      args[i++] = parent;
      if (wait)
        {
          args[i++] = "--parent-wait";
          args[i++] = wait;
        }
    }
  args[i++] = "--diff-id";
  args[i++] = diff_id;
  args[i++] = "--digest";
  args[i++] = digest;
  args[i++] = "-";
  args[i] = NULL;
  return build_argv (g, args);
}

int
graph_register_start (const struct graph *g, const char *parent, bool parent_wait,
                      const char *diff_id, const char *digest, struct dk_child *child,
                      dk_err_t *err)
{
  const char *args[12];
  /* a day: in practice the pull cancels a waiting register when a layer fails */
  cleanup_free char **argv
      = register_argv (g, parent, parent_wait ? "86400" : NULL, diff_id, digest, args);
  if (dk_spawn (argv, DK_SPAWN_STDIN | DK_SPAWN_STDOUT, NULL, child, err) < 0)
    return -1;
  /* fewer wake-ups of both sides for a stream of hundreds of MB */
  fcntl (child->stdin_fd, F_SETPIPE_SZ, 1 << 20);
  return 0;
}

struct reg_thread
{
  char **argv;
  int fd;
  jv result;
  dk_err_t err;
  int ret;
  int done;
};

static void *
run_register (void *arg)
{
  struct reg_thread *t = arg;
  t->ret = dk_run_tool (t->argv, t->fd, NULL, NULL, &t->result, &t->err);
  __atomic_store_n (&t->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

static int
check_result (jv res, const char *chain_id, dk_err_t *err)
{
  const char *got = dk_json_str (res, "chain_id");
  if (chain_id && got && strcmp (got, chain_id) != 0)
    return dk_make_error_code (err, DK_ECODE_INTERNAL, 0,
                               "register layer: chain ID %s, expected %s", got, chain_id);
  return 0;
}

int
graph_register_file (const struct graph *g, const char *parent, const char *diff_id,
                     const char *digest, int fd, const char *chain_id, graph_progress_fn progress,
                     void *ud, dk_err_t *err)
{
  const char *args[12];
  cleanup_free char **argv = register_argv (g, parent, NULL, diff_id, digest, args);
  struct reg_thread t = { .argv = argv, .fd = fd, .result = jv_invalid () };
  pthread_t th;
  if (pthread_create (&th, NULL, run_register, &t) != 0)
    run_register (&t);
  else
    {
      /* the child reads the file through our open file description: its
         offset is the progress */
      while (!__atomic_load_n (&t.done, __ATOMIC_ACQUIRE))
        {
          struct timespec ts = { 0, 100 * 1000000L };
          nanosleep (&ts, NULL);
          off_t off = lseek (fd, 0, SEEK_CUR);
          if (progress && off > 0)
            progress (off, ud);
        }
      pthread_join (th, NULL);
    }
  int ret = t.ret;
  if (ret < 0)
    {
      dk_error_release (err);
      *err = steal_ptr (&t.err);
      dk_error_wrap (err, "register layer");
    }
  else
    ret = check_result (t.result, chain_id, err);
  jv_free (t.result);
  dk_error_release (&t.err);
  return ret;
}

/* Reads the child's JSON Lines to EOF; the last non-progress object is the
   result.  Returns 1 without waiting further when *cancel becomes true. */
static int
read_result (int fd, jv *final, const int *cancel)
{
  struct dk_jsonl_reader *r = dk_jsonl_reader_new ();
  char buf[8192];
  bool eof = false;
  *final = jv_invalid ();
  while (!eof)
    {
      if (cancel)
        {
          struct pollfd p = { .fd = fd, .events = POLLIN };
          int pr = poll (&p, 1, 100);
          if (pr == 0 || (pr < 0 && errno == EINTR))
            {
              if (__atomic_load_n (cancel, __ATOMIC_ACQUIRE))
                {
                  dk_jsonl_reader_free (r);
                  return 1;
                }
              continue;
            }
        }
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        eof = true;
      else
        dk_jsonl_feed (r, buf, n);
      for (;;)
        {
          jv v;
          dk_err_t lerr = NULL;
          int got = dk_jsonl_next (r, eof, &v, &lerr);
          dk_error_release (&lerr);
          if (got == 0)
            break;
          if (got < 0)
            continue;
          const char *type = dk_json_str (v, "type");
          if (type && strcmp (type, "progress") == 0)
            {
              jv_free (v);
              continue;
            }
          jv_free (*final);
          *final = v;
        }
    }
  dk_jsonl_reader_free (r);
  return 0;
}

int
graph_register_finish (struct dk_child *child, const char *chain_id, const int *cancel,
                       dk_err_t *err)
{
  if (child->stdin_fd >= 0)
    {
      close (child->stdin_fd);
      child->stdin_fd = -1;
    }
  cleanup_jv jv res = jv_invalid ();
  if (read_result (child->stdout_fd, &res, cancel) == 1)
    {
      graph_register_abort (child);
      return dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "register layer: cancelled");
    }
  dk_child_close (child);
  int status = dk_child_wait (child, err);
  if (status < 0)
    return -1;
  const char *type = dk_json_str (res, "type");
  if (type && strcmp (type, "error") == 0)
    {
      const char *code = dk_json_str (res, "code");
      const char *msg = dk_json_str (res, "message");
      return dk_make_error_code (err, code ? code : DK_ECODE_INTERNAL, 0, "register layer: %s",
                                 msg ? msg : "failed");
    }
  if (status != 0)
    return dk_make_error_code (err, DK_ECODE_INTERNAL, 0,
                               "register layer: dk-graph exited with status %d", status);
  return check_result (res, chain_id, err);
}

void
graph_register_abort (struct dk_child *child)
{
  if (child->pid > 0)
    kill (child->pid, SIGKILL);
  dk_child_close (child);
  if (child->pid > 0)
    {
      dk_err_t e = NULL;
      dk_child_wait (child, &e);
      dk_error_release (&e);
    }
}

char *
graph_resolve (const struct graph *g, const char *ref)
{
  /* "No such image" is an answer here, not an error for the user's stderr */
  const char *args[] = { "resolve", ref, NULL };
  cleanup_free char **argv = build_argv (g, args);
  struct dk_child child;
  dk_err_t e = NULL;
  if (dk_spawn (argv, DK_SPAWN_STDOUT | DK_SPAWN_STDERR | DK_SPAWN_NULL_IN, NULL, &child, &e) < 0)
    {
      dk_error_release (&e);
      return NULL;
    }
  close (child.stderr_fd);
  child.stderr_fd = -1;
  cleanup_jv jv r = jv_invalid ();
  read_result (child.stdout_fd, &r, NULL);
  dk_child_close (&child);
  int st = dk_child_wait (&child, &e);
  dk_error_release (&e);
  const char *id = st == 0 ? dk_json_str (r, "id") : NULL;
  return id ? xstrdup (id) : NULL;
}
