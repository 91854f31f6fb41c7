/* start, wait, kill, stop, remove, resize endpoints; waiters; removal;
   reconnecting to running shims at daemon start (live-restore). */
#include "container.h"
#include "cleanup.h"
#include "log.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void container_watch (struct container *c);

static struct container *
lookup (struct http_req *req)
{
  struct container *c = container_find (req->params[0]);
  if (c == NULL)
    http_error (req, 404, "No such container: %s", req->params[0]);
  return c;
}

static bool
is_running (struct container *c)
{
  return c->state == C_RUNNING || c->state == C_PAUSED || c->state == C_RESTARTING;
}

/* ---- wait ---- */

static void
wait_answer (struct http_req *req, struct container *c)
{
  int64_t code = 0;
  jv st = dk_json_get (c->doc, "State");
  dk_json_int (st, "ExitCode", &code);
  const char *e = dk_json_str (st, "Error");
  jv body = jv_object_set (jv_object (), jv_string ("StatusCode"), dk_json_int64 (code));
  body = jv_object_set (body, jv_string ("Error"),
                        e && *e ? jv_object_set (jv_object (), jv_string ("Message"), jv_string (e))
                                : jv_null ());
  jv_free (st);
  req->on_abort = NULL;
  http_stream_json (req, body);
  http_stream_end (req);
}

static void
waiter_unlink (struct waiter *w)
{
  for (struct waiter **pp = &w->c->waiters; *pp; pp = &(*pp)->next)
    if (*pp == w)
      {
        *pp = w->next;
        return;
      }
}

static void
wait_abort (struct http_req *req, void *data)
{
  struct waiter *w = data;
  waiter_unlink (w);
  http_stream_end (req);
  free (w);
}

void
waiters_notify (struct container *c, bool removed)
{
  struct waiter **pp = &c->waiters;
  while (*pp)
    {
      struct waiter *w = *pp;
      if (w->cond == W_REMOVED && !removed)
        {
          pp = &w->next;
          continue;
        }
      *pp = w->next;
      wait_answer (w->req, c);
      free (w);
    }
}

void
h_container_wait (struct http_req *req)
{
  struct container *c = lookup (req);
  if (c == NULL)
    return;
  cleanup_free char *cond = http_query (req, "condition");
  enum wait_cond wc = W_NOT_RUNNING;
  if (cond && *cond)
    {
      if (!strcmp (cond, "next-exit"))
        wc = W_NEXT_EXIT;
      else if (!strcmp (cond, "removed"))
        wc = W_REMOVED;
      else if (strcmp (cond, "not-running"))
        {
          http_error (req, 400, "invalid condition: \"%s\"", cond);
          return;
        }
    }
  /* headers now: the CLI blocks on them before it starts the container */
  http_stream_begin (req, 200, "application/json");
  if (wc == W_NOT_RUNNING && !is_running (c) && !c->starting)
    {
      wait_answer (req, c);
      return;
    }
  struct waiter *w = xzalloc (sizeof *w);
  w->req = req;
  w->c = c;
  w->cond = wc;
  w->next = c->waiters;
  c->waiters = w;
  req->on_abort = wait_abort;
  req->abort_data = w;
}

/* ---- kill / stop ---- */

static void
kill_reply (struct shimc *s, jv reply, void *ud)
{
  shimc_close (s);
}

void
container_kill (struct container *c, int sig, dk_err_t *err)
{
  cleanup_free char *sock = shim_sock (c);
  jv r = jv_object_set (jv_object (), jv_string ("op"), jv_string ("kill"));
  r = jv_object_set (r, jv_string ("signal"), dk_json_int64 (sig));
  r = jv_object_set (r, jv_string ("all"), jv_false ());
  shimc_request (sock, r, kill_reply, NULL, NULL);
  container_event (c, "kill",
                   jv_object_set (jv_object (), jv_string ("signal"), jv_string_fmt ("%d", sig)));
}

static void stop_container (struct http_req *req, struct container *c, int sig, int64_t timeout,
                            bool then_remove, bool volumes);

void
h_container_kill (struct http_req *req)
{
  struct container *c = lookup (req);
  if (c == NULL)
    return;
  cleanup_free char *s = http_query (req, "signal");
  int sig = s && *s ? signal_parse (s) : SIGKILL;
  if (sig < 0)
    {
      http_error (req, 400, "Invalid signal: %s", s);
      return;
    }
  if (!is_running (c))
    {
      http_error (req, 409, "Cannot kill container: %s: Container %s is not running",
                  req->params[0], c->id);
      return;
    }
  if (sig == SIGKILL)
    {
      /* as moby: a SIGKILL is answered once the container has stopped */
      stop_container (req, c, SIGKILL, -1, false, false);
      return;
    }
  cleanup_error dk_err_t err = NULL;
  container_kill (c, sig, &err);
  http_respond_empty (req, 204);
}

struct stopper
{
  struct http_req *req;
  char id[65];
  uv_timer_t timer;
  struct waiter *w;
  bool then_remove, remove_volumes;
};

static void
stopper_closed (uv_handle_t *h)
{
  free (h->data);
}

void remove_now (struct http_req *req, struct container *c, bool volumes);

static void
stop_check (uv_timer_t *t)
{
  struct stopper *s = t->data;
  struct container *c = container_find (s->id);
  if (c && (is_running (c) || c->starting))
    return;
  uv_timer_stop (t);
  if (c && !s->then_remove)
    container_event (c, "stop", jv_object ());
  if (s->req)
    {
      s->req->on_abort = NULL;
      if (s->then_remove && c)
        remove_now (s->req, c, s->remove_volumes);
      else
        http_respond_empty (s->req, 204);
    }
  uv_close ((uv_handle_t *)&s->timer, stopper_closed);
}

static void
stop_abort (struct http_req *req, void *data)
{
  struct stopper *s = data;
  s->req = NULL;
  http_respond_empty (req, 500);
}

struct stop_kill
{
  uv_timer_t timer;
  char id[65];
};

static void
sk_closed (uv_handle_t *h)
{
  free (h->data);
}

static void
stop_escalate (uv_timer_t *t)
{
  struct stop_kill *k = t->data;
  struct container *c = container_find (k->id);
  if (c && is_running (c))
    {
      cleanup_error dk_err_t err = NULL;
      container_kill (c, SIGKILL, &err);
    }
  uv_close ((uv_handle_t *)t, sk_closed);
}

/* Sends the stop signal and, after timeout seconds, SIGKILL; the response
   goes out once the container has exited (polled on a short timer). */
static void
stop_container (struct http_req *req, struct container *c, int sig, int64_t timeout,
                bool then_remove, bool volumes)
{
  cleanup_error dk_err_t err = NULL;
  container_kill (c, sig, &err);
  if (timeout >= 0)
    {
      struct stop_kill *k = xzalloc (sizeof *k);
      memcpy (k->id, c->id, 65);
      uv_timer_init (D.loop, &k->timer);
      k->timer.data = k;
      uv_timer_start (&k->timer, stop_escalate, (uint64_t)timeout * 1000, 0);
    }
  struct stopper *s = xzalloc (sizeof *s);
  s->req = req;
  memcpy (s->id, c->id, 65);
  s->then_remove = then_remove;
  s->remove_volumes = volumes;
  uv_timer_init (D.loop, &s->timer);
  s->timer.data = s;
  uv_timer_start (&s->timer, stop_check, 10, 10);
  req->on_abort = stop_abort;
  req->abort_data = s;
}

void
h_container_stop (struct http_req *req)
{
  struct container *c = lookup (req);
  if (c == NULL)
    return;
  long long t = LLONG_MIN;
  if (!http_query_int (req, "t", &t))
    return;
  if (!is_running (c))
    {
      http_respond_empty (req, 304);
      return;
    }
  cleanup_free char *ss = http_query (req, "signal");
  jv create = container_create_body (c);
  jv iconf = dk_json_get (c->doc, "ImageConfig");
  const char *cs = dk_json_str (create, "StopSignal");
  if (cs == NULL || !*cs)
    cs = dk_json_str (iconf, "StopSignal");
  int sig = ss && *ss ? signal_parse (ss) : cs ? signal_parse (cs) : SIGTERM;
  int64_t timeout = 10;
  dk_json_int (create, "StopTimeout", &timeout);
  jv_free (create);
  jv_free (iconf);
  if (t != LLONG_MIN)
    timeout = t;
  if (sig < 0)
    {
      http_error (req, 400, "Invalid signal: %s", ss);
      return;
    }
  stop_container (req, c, sig, timeout, false, false);
}

/* ---- remove ---- */

struct rm_ctx
{
  struct container *c;
  void (*done) (struct container *, void *);
  void *ud;
};

/* The end of a removal, once container-rm has run: the container's
   directories, the daemon's record, `destroy`, waiters. */
void
container_remove_finish (struct container *c, void (*done) (struct container *, void *), void *ud)
{
  cleanup_free char *dir = container_dir (c);
  cleanup_free char *edir = container_exec_dir (c);
  cleanup_error dk_err_t err = NULL;
  if (dk_remove_tree (edir, &err) < 0)
    dk_error_release (&err);
  if (dk_remove_tree (dir, &err) < 0)
    dk_warn ("container %.12s: %s", c->id, err->msg);
  container_unlink (c);
  container_event (c, "destroy", jv_object ());
  attach_close_all (c);
  waiters_notify (c, true);
  if (done)
    done (c, ud);
  container_free (c);
}

static void
rm_done (struct job *j, jv result, int status, void *ud)
{
  struct rm_ctx *x = ud;
  struct container *c = x->c;
  const char *t = dk_json_str (result, "type");
  if (t && !strcmp (t, "error"))
    dk_warn ("container %.12s: removing its layer: %s", c->id, dk_json_str (result, "message"));
  container_remove_finish (c, x->done, x->ud);
  free (x);
}

void
container_remove (struct container *c, bool volumes, void (*done) (struct container *, void *),
                  void *ud)
{
  c->removing = true;
  container_transition (c, C_REMOVING, NULL, jv_null ());
  struct rm_ctx *x = xzalloc (sizeof *x);
  x->c = c;
  x->done = done;
  x->ud = ud;
  const char *tail[] = { "container-rm", c->id, NULL };
  struct job_opts o = { .on_done = rm_done, .ud = x };
  cleanup_error dk_err_t err = NULL;
  if (job_start (graph_argv (tail), &o, &err) == NULL)
    rm_done (NULL, jv_null (), 0, x);
}

void
container_rm_reply (struct container *c, void *ud)
{
  struct http_req *req = ud;
  req->on_abort = NULL;
  http_respond_empty (req, 204);
}

static void
rm_abort (struct http_req *req, void *data)
{
  http_respond_empty (req, 500);
}

void
remove_now (struct http_req *req, struct container *c, bool volumes)
{
  if (c->cleaning && !c->rm_after)
    {
      /* the exit's unmount runs: remove once it is done */
      c->rm_after = req;
      req->on_abort = NULL;
      return;
    }
  if (c->removing)
    {
      http_error (req, 409, "removal of container %s is already in progress", c->id);
      return;
    }
  req->on_abort = rm_abort;
  container_remove (c, volumes, container_rm_reply, req);
}

void
h_container_delete (struct http_req *req)
{
  struct container *c = lookup (req);
  if (c == NULL)
    return;
  bool force = http_query_bool (req, "force", false), v = http_query_bool (req, "v", false);
  if (c->removing)
    {
      http_error (req, 409, "removal of container %s is already in progress", req->params[0]);
      return;
    }
  if (is_running (c) || c->starting)
    {
      if (!force)
        {
          http_error (req, 409,
                      "cannot remove container \"%s\": container is running: stop the container "
                      "before removing or force remove",
                      container_name (c));
          return;
        }
      stop_container (req, c, SIGKILL, -1, true, v);
      return;
    }
  remove_now (req, c, v);
}

void
h_container_start (struct http_req *req)
{
  struct container *c = lookup (req);
  if (c == NULL)
    return;
  if (is_running (c) || c->starting)
    {
      http_respond_empty (req, 304);
      return;
    }
  if (c->removing)
    {
      http_error (req, 409, "container is marked for removal and cannot be started");
      return;
    }
  if (c->cleaning)
    {
      if (c->start_after)
        {
          http_respond_empty (req, 304);
          return;
        }
      c->start_after = req; /* started once the last run's cleanup is done */
      return;
    }
  container_start (c, req);
}

static void
ok_reply (struct shimc *s, jv reply, void *ud)
{
  struct http_req *req = ud;
  shimc_close (s);
  const char *t = dk_json_str (reply, "type");
  req->on_abort = NULL;
  if (jv_is_valid (reply) && t && !strcmp (t, "ok"))
    http_respond_empty (req, 200);
  else
    {
      const char *m = dk_json_str (reply, "message");
      http_error (req, 500, "%s", m ? m : "the shim did not answer");
    }
}

static void
ok_abort (struct http_req *req, void *data)
{
  struct shimc *s = data;
  shimc_close (s);
  http_respond_empty (req, 500);
}

void
h_container_resize (struct http_req *req)
{
  struct container *c = lookup (req);
  if (c == NULL)
    return;
  if (!is_running (c))
    {
      http_error (req, 409, "Container %s is not running", req->params[0]);
      return;
    }
  cleanup_free char *h = http_query (req, "h");
  cleanup_free char *w = http_query (req, "w");
  jv r = jv_object_set (jv_object (), jv_string ("op"), jv_string ("resize"));
  r = jv_object_set (r, jv_string ("height"), dk_json_int64 (h ? atoll (h) : 0));
  r = jv_object_set (r, jv_string ("width"), dk_json_int64 (w ? atoll (w) : 0));
  cleanup_free char *sock = shim_sock (c);
  struct shimc *s = shimc_request (sock, r, ok_reply, NULL, req);
  req->on_abort = ok_abort;
  req->abort_data = s;
}

/* ---- live-restore ---- */

static void
restore_reply (struct shimc *s, jv reply, void *ud)
{
  struct container *c = ud;
  shimc_close (s);
  const char *st = dk_json_str (reply, "status");
  if (jv_is_valid (reply) && st && (!strcmp (st, "running") || !strcmp (st, "created")))
    {
      dk_info ("container %.12s: reconnected to its shim", c->id);
      container_watch (c);
      return;
    }
  if (jv_is_valid (reply) && st && !strcmp (st, "exited"))
    {
      container_exited (c, reply);
      return;
    }
  /* no shim: what it left on disk, else unknown */
  cleanup_free char *ed = container_exec_dir (c);
  cleanup_free char *p = xasprintf ("%s/exit.json", ed);
  jv ex;
  cleanup_error dk_err_t err = NULL;
  if (dk_json_read_file (p, &ex, &err) == 0)
    {
      container_exited (c, ex);
      jv_free (ex);
      return;
    }
  container_shim_died (c);
}

static void
discard_done (struct job *j, jv result, int status, void *ud)
{
  char *id = ud;
  cleanup_free char *dir = xasprintf ("%s/containers/%s", D.data_root, id);
  cleanup_free char *edir = xasprintf ("%s/c/%s", D.exec_root, id);
  cleanup_error dk_err_t err = NULL;
  if (dk_remove_tree (edir, &err) < 0)
    dk_error_release (&err);
  if (dk_remove_tree (dir, &err) < 0)
    dk_warn ("container %.12s: %s", id, err->msg);
  free (id);
}

void
container_discard (const char *id)
{
  const char *tail[] = { "container-rm", id, NULL };
  struct job_opts o = { .on_done = discard_done, .ud = xstrdup (id) };
  cleanup_error dk_err_t err = NULL;
  if (job_start (graph_argv (tail), &o, &err) == NULL)
    {
      dk_warn ("container %.12s: %s", id, err->msg);
      free (o.ud);
    }
}

static bool
autoremove (struct container *c)
{
  jv hc = container_hostconfig (c);
  bool autorm = false;
  dk_json_bool (hc, "AutoRemove", &autorm);
  jv_free (hc);
  return autorm;
}

void
containers_restore (void)
{
  containers_load ();
  struct container *next;
  for (struct container *c = containers; c; c = next)
    {
      next = c->next; /* a removal unlinks c (later, from its job's end) */
      if (c->state == C_REMOVING)
        c->state = C_EXITED;
      if (!is_running (c))
        {
          /* AutoRemove containers that are not running go, as in moby */
          if (autoremove (c))
            container_remove (c, true, NULL, NULL);
          continue;
        }
      cleanup_free char *sock = shim_sock (c);
      shimc_request (sock, jv_object_set (jv_object (), jv_string ("op"), jv_string ("status")),
                     restore_reply, NULL, c);
    }
}
