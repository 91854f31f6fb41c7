/* GET /containers/{id}/logs: the json-file log read with lib/jsonlog
   (tail, since, until), framed with stdcopy unless the container has a
   tty; with follow, the reader's inotify fd and a timer drive it until the
   container has exited and everything was sent. */
#include "container.h"
#include "cleanup.h"
#include "jsonlog.h"
#include "log.h"
#include "stdcopy.h"

#include <stdlib.h>
#include <string.h>

struct logs
{
  struct http_req *req;
  char id[65];
  struct dk_jsonlog_reader *r;
  bool tty, want_out, want_err, timestamps, follow, done;
  uv_poll_t poll;
  uv_timer_t timer;
  bool poll_on;
  int closing;
};

static void
logs_closed (uv_handle_t *h)
{
  struct logs *l = h->data;
  if (--l->closing == 0)
    {
      dk_jsonlog_reader_free (l->r);
      free (l);
    }
}

static void
logs_finish (struct logs *l)
{
  if (l->done)
    return;
  l->done = true;
  if (l->req)
    {
      l->req->on_abort = NULL;
      http_stream_end (l->req);
      l->req = NULL;
    }
  l->closing = 1;
  if (l->poll_on)
    {
      l->closing++;
      uv_close ((uv_handle_t *)&l->poll, logs_closed);
    }
  uv_close ((uv_handle_t *)&l->timer, logs_closed);
}

static void
logs_abort (struct http_req *req, void *data)
{
  struct logs *l = data;
  logs_finish (l);
}

static void
pump (struct logs *l)
{
  while (!l->done && l->req && http_write_queue (l->req) < (1 << 20))
    {
      struct dk_jsonlog_entry e;
      cleanup_error dk_err_t err = NULL;
      int r = dk_jsonlog_next (l->r, &e, &err);
      if (r < 0)
        {
          dk_warn ("logs: %s", err->msg);
          logs_finish (l);
          return;
        }
      if (r == DK_JSONLOG_END)
        {
          logs_finish (l);
          return;
        }
      if (r == DK_JSONLOG_AGAIN)
        {
          struct container *c = container_find (l->id);
          bool running = c && (c->state == C_RUNNING || c->state == C_PAUSED || c->starting);
          if (!running)
            logs_finish (l);
          return;
        }
      if ((e.stream == 1 && !l->want_out) || (e.stream == 2 && !l->want_err))
        continue;
      cleanup_buf struct dk_buf line = DK_BUF_INIT;
      if (l->timestamps)
        {
          char ts[48];
          dk_time_format_rfc3339nano (e.time_ns, ts, sizeof ts);
          dk_buf_printf (&line, "%s ", ts);
        }
      dk_buf_add (&line, e.log, e.len);
      if (l->tty)
        http_stream_write (l->req, line.data, line.len);
      else
        {
          cleanup_buf struct dk_buf f = DK_BUF_INIT;
          dk_stdcopy_frame (&f, e.stream, line.data, line.len);
          http_stream_write (l->req, f.data, f.len);
        }
    }
}

static void
on_poll (uv_poll_t *p, int status, int events)
{
  pump (p->data);
}

static void
on_tick (uv_timer_t *t)
{
  pump (t->data);
}

void
h_container_logs (struct http_req *req)
{
  struct container *c = container_find (req->params[0]);
  if (c == NULL)
    {
      http_error (req, 404, "No such container: %s", req->params[0]);
      return;
    }
  cleanup_jv jv hc = container_hostconfig (c);
  cleanup_jv jv lc = log_config_of (hc);
  if (!strcmp (dk_json_str (lc, "Type"), "none"))
    {
      http_error (req, 501, "configured logging driver does not support reading");
      return;
    }
  bool out = http_query_bool (req, "stdout", false), errs = http_query_bool (req, "stderr", false);
  if (!out && !errs)
    {
      http_error (req, 400, "Bad parameters: you must choose at least one stream");
      return;
    }
  cleanup_free char *tail = http_query (req, "tail");
  cleanup_free char *since = http_query (req, "since");
  cleanup_free char *until = http_query (req, "until");
  struct dk_jsonlog_read_opts o = { .tail = -1 };
  if (tail && *tail && strcmp (tail, "all"))
    {
      char *end;
      o.tail = strtoll (tail, &end, 10);
      if (*end || o.tail < 0)
        o.tail = -1;
    }
  if ((since && *since && strcmp (since, "0") && dk_time_parse (since, &o.since_ns) < 0)
      || (until && *until && strcmp (until, "0") && dk_time_parse (until, &o.until_ns) < 0))
    {
      http_error (req, 400, "invalid value for since/until");
      return;
    }
  bool running = c->state == C_RUNNING || c->state == C_PAUSED || c->starting;
  o.follow = http_query_bool (req, "follow", false) && running && o.until_ns == 0;
  cleanup_free char *name = xasprintf ("%s-json.log", c->id);
  cleanup_free char *path = container_path (c, name);
  struct logs *l = xzalloc (sizeof *l);
  cleanup_error dk_err_t err = NULL;
  if (dk_jsonlog_reader_open (path, &o, &l->r, &err) < 0)
    {
      free (l);
      http_error_err (req, err);
      return;
    }
  l->req = req;
  memcpy (l->id, c->id, 65);
  l->tty = container_tty (c);
  l->want_out = out;
  l->want_err = errs;
  l->timestamps = http_query_bool (req, "timestamps", false);
  l->follow = o.follow;
  http_stream_begin (req, 200,
                     l->tty || req->api_minor < 42 ? "application/vnd.docker.raw-stream"
                                                   : "application/vnd.docker.multiplexed-stream");
  req->on_abort = logs_abort;
  req->abort_data = l;
  uv_timer_init (D.loop, &l->timer);
  l->timer.data = l;
  int fd = dk_jsonlog_reader_fd (l->r);
  if (fd >= 0)
    {
      uv_poll_init (D.loop, &l->poll, fd);
      l->poll.data = l;
      uv_poll_start (&l->poll, UV_READABLE, on_poll);
      l->poll_on = true;
    }
  /* the timer resumes after backpressure and notices the container's exit */
  uv_timer_start (&l->timer, on_tick, 100, 100);
  pump (l);
}
