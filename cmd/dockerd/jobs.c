/* Child tools on the loop: uv_spawn with pipes, stdout read as JSON Lines
   (progress objects, then one final object) or raw bytes, stderr kept for
   the error message when a tool dies without a final object. */
#include "dockerd.h"
#include "cleanup.h"
#include "log.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct job
{
  uv_process_t proc;
  uv_pipe_t in, out, err;
  bool has_in, in_closed;
  int open_handles;
  bool exited, out_eof, done_called, detached, closed;
  bool served;    /* run by the tool's warm server (toolserver.c): no proc handle */
  bool lost;      /* its server died: the exit status is unknown */
  int pid;        /* a served job's pid, once known */
  int kill_after; /* a signal asked for before the pid was known */
  int64_t status;
  int term_signal;
  struct dk_jsonl_reader *rd;
  struct dk_buf errbuf;
  jv last; /* the last object read: the final one at the end */
  struct job_opts o;
  size_t in_queued;
  char *name, *sub;
  uint64_t t0;
};

struct jwrite
{
  uv_write_t w;
  struct job *j;
  size_t len;
  char data[];
};

char *
tool_path (const char *name)
{
  const char *dir = getenv ("DK_LIBEXEC");
  if (dir == NULL || *dir == 0)
    dir = D.bin_dir;
  if (dir)
    {
      char *p = xasprintf ("%s/%s", dir, name);
      if (access (p, X_OK) == 0)
        return p;
      free (p);
    }
  return xstrdup (name);
}

const char **
graph_argv (const char *const *tail)
{
  static const char **argv;
  static size_t cap;
  size_t n = 0;
  while (tail[n])
    n++;
  if (n + 6 > cap)
    {
      cap = n + 6;
      argv = xrealloc (argv, cap * sizeof *argv);
    }
  const char *head[] = { "dk-graph", "--root", D.data_root, "--driver", D.driver };
  memcpy (argv, head, sizeof head);
  memcpy (argv + 5, tail, n * sizeof *tail);
  argv[n + 5] = NULL;
  return argv;
}

static void
job_free (struct job *j)
{
  dk_jsonl_reader_free (j->rd);
  dk_buf_free (&j->errbuf);
  jv_free (j->last);
  free (j->name);
  free (j->sub);
  free (j);
}

static void
on_handle_close (uv_handle_t *h)
{
  struct job *j = h->data;
  if (--j->open_handles == 0)
    job_free (j);
}

/* The end of a job that has exited: its stdin pipe and its process handle,
   or for a served job the reference its request held (last: it may free j). */
static void
close_in_and_proc (struct job *j)
{
  if (j->has_in && !j->in_closed)
    {
      j->in_closed = true;
      uv_close ((uv_handle_t *)&j->in, on_handle_close);
    }
  if (!j->served)
    uv_close ((uv_handle_t *)&j->proc, on_handle_close);
  else if (--j->open_handles == 0)
    job_free (j);
}

static void
maybe_done (struct job *j)
{
  if (!j->exited || !j->out_eof || j->closed)
    return;
  j->closed = true;
  if (j->done_called)
    {
      close_in_and_proc (j);
      return;
    }
  j->done_called = true;
  dk_debug ("job %s %s: %.1f ms", j->name, j->sub ? j->sub : "", (uv_hrtime () - j->t0) / 1e6);
  int status = j->term_signal ? 128 + j->term_signal : (int)j->status;
  jv result = jv_copy (j->last);
  const char *type = dk_json_str (result, "type");
  if (j->lost) /* the final object tells how it went */
    status = type && !strcmp (type, "result") ? 0 : 1;
  if (j->o.on_raw == NULL
      && (!jv_is_valid (result) || (status != 0 && (!type || strcmp (type, "error")))))
    {
      /* no final object: make one from stderr */
      jv_free (result);
      char *msg = j->errbuf.len ? xstrndup (j->errbuf.data, j->errbuf.len) : NULL;
      if (msg)
        msg[strcspn (msg, "\n")] = 0; /* the first line says what failed */
      cleanup_free char *m2 = msg ? msg : xasprintf ("%s exited with status %d", j->name, status);
      result = jv_object_set (jv_object (), jv_string ("type"), jv_string ("error"));
      result = jv_object_set (result, jv_string ("code"),
                              jv_string (status ? "internal" : "internal"));
      result = jv_object_set (result, jv_string ("message"), jv_string (m2));
    }
  else if (j->o.on_raw && status != 0 && !(type && !strcmp (type, "error")))
    {
      jv_free (result);
      cleanup_free char *m = j->errbuf.len
                                 ? xstrndup (j->errbuf.data, j->errbuf.len)
                                 : xasprintf ("%s exited with status %d", j->name, status);
      m[strcspn (m, "\n")] = 0;
      result = jv_object_set (jv_object (), jv_string ("type"), jv_string ("error"));
      result = jv_object_set (result, jv_string ("code"), jv_string ("internal"));
      result = jv_object_set (result, jv_string ("message"), jv_string (m));
    }
  else if (!jv_is_valid (result))
    {
      jv_free (result);
      result = jv_object_set (jv_object (), jv_string ("type"), jv_string ("result"));
    }
  if (!j->detached && j->o.on_done)
    j->o.on_done (j, result, status, j->o.ud);
  jv_free (result);
  close_in_and_proc (j);
}

static void
on_exit_cb (uv_process_t *p, int64_t status, int sig)
{
  struct job *j = p->data;
  j->exited = true;
  j->status = status;
  j->term_signal = sig;
  maybe_done (j);
}

static void
on_served_started (void *ud, int pid)
{
  struct job *j = ud;
  j->pid = pid;
  if (j->kill_after && !j->exited)
    kill (pid, j->kill_after);
}

static void
on_served_exit (void *ud, int status)
{
  struct job *j = ud;
  j->exited = true;
  j->lost = status < 0;
  j->status = status < 0 ? 0 : status;
  maybe_done (j);
}

static void
alloc_cb (uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
  (void)h;
  (void)hint;
  buf->base = xmalloc (65536);
  buf->len = 65536;
}

static void
on_out (uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct job *j = s->data;
  if (n > 0)
    {
      if (j->o.on_raw)
        {
          if (!j->detached)
            j->o.on_raw (j, buf->base, n, j->o.ud);
        }
      else
        {
          dk_jsonl_feed (j->rd, buf->base, n);
          jv v;
          cleanup_error dk_err_t err = NULL;
          int r;
          while ((r = dk_jsonl_next (j->rd, false, &v, &err)) != 0)
            {
              if (r < 0)
                {
                  dk_warn ("%s: bad output line: %s", j->name, err->msg);
                  dk_error_release (&err);
                  continue;
                }
              /* every line may be the last; hand the previous one on as progress */
              if (jv_is_valid (j->last))
                {
                  if (!j->detached && j->o.on_line)
                    j->o.on_line (j, j->last, j->o.ud);
                  jv_free (j->last);
                }
              j->last = v;
              const char *type = dk_json_str (v, "type");
              if (j->o.early_final && type && strcmp (type, "progress") && strcmp (type, "event")
                  && !j->done_called)
                {
                  j->done_called = true;
                  dk_debug ("job %s %s: %.1f ms (final line)", j->name, j->sub ? j->sub : "",
                            (uv_hrtime () - j->t0) / 1e6);
                  if (!j->detached && j->o.on_done)
                    j->o.on_done (j, v, 0, j->o.ud);
                  j->detached = true;
                  continue;
                }
              if (type && (!strcmp (type, "progress") || !strcmp (type, "event")))
                {
                  if (!j->detached && j->o.on_line)
                    j->o.on_line (j, v, j->o.ud);
                  jv_free (j->last);
                  j->last = jv_invalid ();
                }
            }
        }
    }
  free (buf->base);
  if (n < 0)
    {
      if (!j->o.on_raw)
        {
          jv v;
          cleanup_error dk_err_t err = NULL;
          while (dk_jsonl_next (j->rd, true, &v, &err) > 0)
            {
              if (jv_is_valid (j->last) && !j->detached && j->o.on_line)
                j->o.on_line (j, j->last, j->o.ud);
              jv_free (j->last);
              j->last = v;
            }
        }
      else if (!j->detached)
        j->o.on_raw (j, NULL, -1, j->o.ud);
      uv_read_stop (s);
      j->out_eof = true;
      uv_close ((uv_handle_t *)s, on_handle_close);
      maybe_done (j);
    }
}

static void
on_err (uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct job *j = s->data;
  if (n > 0)
    {
      if (j->errbuf.len < 65536)
        dk_buf_add (&j->errbuf, buf->base, n);
      if (dk_log_get_level () == DK_LOG_DEBUG)
        fprintf (stderr, "%.*s", (int)n, buf->base);
    }
  free (buf->base);
  if (n < 0)
    {
      uv_read_stop (s);
      uv_close ((uv_handle_t *)s, on_handle_close);
    }
}

static void
on_in_write (uv_write_t *w, int status)
{
  struct jwrite *jw = (struct jwrite *)w;
  struct job *j = jw->j;
  size_t before = j->in_queued;
  j->in_queued -= jw->len;
  free (jw);
  (void)status;
  if (before >= (1 << 20) && j->in_queued < (1 << 20) && !j->detached && j->o.on_drain)
    j->o.on_drain (j, j->o.ud);
}

void
job_write (struct job *j, const void *data, size_t len)
{
  if (!j->has_in || j->in_closed || len == 0)
    return;
  struct jwrite *jw = xmalloc (sizeof *jw + len);
  memcpy (jw->data, data, len);
  jw->j = j;
  jw->len = len;
  j->in_queued += len;
  uv_buf_t b = uv_buf_init (jw->data, len);
  if (uv_write (&jw->w, (uv_stream_t *)&j->in, &b, 1, on_in_write) < 0)
    {
      j->in_queued -= len;
      free (jw);
    }
}

size_t
job_stdin_queue (struct job *j)
{
  return j->in_queued;
}

static void
on_in_shutdown (uv_shutdown_t *s, int status)
{
  struct job *j = s->data;
  (void)status;
  free (s);
  if (!j->in_closed)
    {
      j->in_closed = true;
      uv_close ((uv_handle_t *)&j->in, on_handle_close);
    }
}

void
job_close_stdin (struct job *j)
{
  if (!j->has_in || j->in_closed)
    return;
  uv_shutdown_t *s = xmalloc (sizeof *s);
  s->data = j;
  if (uv_shutdown (s, (uv_stream_t *)&j->in, on_in_shutdown) < 0)
    {
      free (s);
      j->in_closed = true;
      uv_close ((uv_handle_t *)&j->in, on_handle_close);
    }
}

void
job_kill (struct job *j, int sig)
{
  if (j->exited)
    return;
  if (!j->served)
    uv_process_kill (&j->proc, sig);
  else if (j->pid > 0)
    kill (j->pid, sig);
  else
    j->kill_after = sig;
}

void
job_detach (struct job *j)
{
  j->detached = true;
  job_close_stdin (j);
  /* a tool working for a client that left is stopped: it leaves no half
     state by the tool contract */
  job_kill (j, SIGTERM);
}

/* Through the tool's warm server (toolserver.c): the job's pipes are made
   here and their far ends go with the request. */
static int
start_served (struct job *j, char **args, bool want_in)
{
  if (!toolserver_serves (j->name))
    return -1;
  /* the tool's stdin, stdout, stderr: its ends, and ours (-1: none) */
  int theirs[3] = { -1, -1, -1 }, ours[3] = { -1, -1, -1 }, p[2];
  if (!want_in)
    theirs[0] = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  else if (uv_pipe (p, 0, UV_NONBLOCK_PIPE) == 0)
    theirs[0] = p[0], ours[0] = p[1];
  for (int i = 1; i < 3; i++)
    if (uv_pipe (p, UV_NONBLOCK_PIPE, 0) == 0)
      ours[i] = p[0], theirs[i] = p[1];
  int r
      = theirs[0] < 0 || theirs[1] < 0 || theirs[2] < 0
            ? -1
            : toolserver_run (j->name, args[0], args, theirs, on_served_started, on_served_exit, j);
  for (int i = 0; i < 3; i++)
    {
      if (theirs[i] >= 0)
        close (theirs[i]);
      if (r < 0 && ours[i] >= 0)
        close (ours[i]);
    }
  if (r < 0)
    return -1;
  j->served = true;
  uv_pipe_init (D.loop, &j->out, 0);
  uv_pipe_init (D.loop, &j->err, 0);
  uv_pipe_open (&j->out, ours[1]);
  uv_pipe_open (&j->err, ours[2]);
  if (want_in)
    {
      uv_pipe_init (D.loop, &j->in, 0);
      uv_pipe_open (&j->in, ours[0]);
    }
  return 0;
}

/* Through uv_spawn, with libuv's pipes. */
static int
start_spawned (struct job *j, char **args, bool want_in)
{
  uv_pipe_init (D.loop, &j->out, 0);
  uv_pipe_init (D.loop, &j->err, 0);
  if (want_in)
    uv_pipe_init (D.loop, &j->in, 0);
  uv_stdio_container_t stdio[3];
  if (want_in)
    {
      stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
      stdio[0].data.stream = (uv_stream_t *)&j->in;
    }
  else
    stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&j->out;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&j->err;
  uv_process_options_t po = { 0 };
  po.file = args[0];
  po.args = args;
  po.exit_cb = on_exit_cb;
  po.stdio = stdio;
  po.stdio_count = 3;
  j->proc.data = j;
  return uv_spawn (D.loop, &j->proc, &po);
}

struct job *
job_start (const char *const *argv, const struct job_opts *o, dk_err_t *err)
{
  struct job *j = xzalloc (sizeof *j);
  j->o = *o;
  j->last = jv_invalid ();
  j->rd = dk_jsonl_reader_new ();
  j->name = xstrdup (argv[0]);
  j->t0 = uv_hrtime ();
  for (int i = 1; argv[i]; i++)
    if (argv[i][0] != '-' && argv[i - 1][0] != '-')
      {
        j->sub = xstrdup (argv[i]);
        break;
      }
  cleanup_free char *path = tool_path (argv[0]);
  int n = 0;
  while (argv[n])
    n++;
  char **args = xzalloc ((n + 1) * sizeof *args);
  args[0] = path;
  for (int i = 1; i < n; i++)
    args[i] = (char *)argv[i];
  if (dk_log_get_level () == DK_LOG_DEBUG)
    {
      struct dk_buf b = DK_BUF_INIT;
      for (int i = 0; i < n; i++)
        dk_buf_printf (&b, " %s", argv[i]);
      dk_debug ("job:%s", b.data);
      dk_buf_free (&b);
    }
  bool want_in = o->want_stdin || o->stdin_data;
  j->has_in = want_in;
  int r = start_served (j, args, want_in) == 0 ? 0 : start_spawned (j, args, want_in);
  free (args);
  j->out.data = j;
  j->err.data = j;
  j->in.data = j;
  j->open_handles = 3 + (want_in ? 1 : 0); /* a served job's request counts as its proc */
  if (r < 0)
    {
      dk_make_error_code (err, DK_ECODE_INTERNAL, -r, "cannot run %s", argv[0]);
      j->detached = true;
      j->exited = j->out_eof = j->done_called = j->closed = true;
      j->in_closed = true;
      uv_close ((uv_handle_t *)&j->proc, on_handle_close);
      uv_close ((uv_handle_t *)&j->out, on_handle_close);
      uv_close ((uv_handle_t *)&j->err, on_handle_close);
      if (want_in)
        uv_close ((uv_handle_t *)&j->in, on_handle_close);
      return NULL;
    }
  uv_read_start ((uv_stream_t *)&j->out, alloc_cb, on_out);
  uv_read_start ((uv_stream_t *)&j->err, alloc_cb, on_err);
  if (o->stdin_data)
    {
      job_write (j, o->stdin_data, o->stdin_len);
      job_close_stdin (j);
    }
  return j;
}
