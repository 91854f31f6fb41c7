/* POST /containers/{id}/attach: the connection is hijacked (101 UPGRADED)
   and bridged to an attach stream on the shim socket.  An attach made
   before start waits (stdin buffered) until the shim exists; start
   connects it before the container runs, so no output is lost. */
#include "container.h"
#include "cleanup.h"
#include "detachkeys.h"
#include "jsonlog.h"
#include "log.h"
#include "stdcopy.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

struct attach
{
  struct http_req *req;
  struct container *c;
  struct shimc *s;
  bool want_in, want_out, want_err, tty;
  bool connected, in_eof, ended;
  bool detached;            /* the detach keys came before the shim stream existed */
  struct dk_buf pending_in; /* stdin before the shim stream exists */
  struct dk_buf frames;     /* partial stdcopy frame from the shim */
  struct dk_detach detach;  /* detachKeys (default ctrl-p,ctrl-q) */
  void (*ready) (struct attach *a);
  uv_timer_t *delay; /* logs=1: the replay waits a moment after the 101 */
  bool stream;
  struct attach *next;
};

static void
unlink_attach (struct attach *a)
{
  if (a->c == NULL)
    return;
  for (struct attach **pp = &a->c->attaches; *pp; pp = &(*pp)->next)
    if (*pp == a)
      {
        *pp = a->next;
        break;
      }
  a->c = NULL;
}

static void
attach_end (struct attach *a)
{
  if (a->ended)
    return;
  a->ended = true;
  unlink_attach (a);
  if (a->s)
    {
      shimc_close (a->s);
      a->s = NULL;
    }
  if (a->delay)
    {
      uv_close ((uv_handle_t *)a->delay, (uv_close_cb)free);
      a->delay = NULL;
    }
  a->req->on_abort = NULL;
  http_hijack_end (a->req);
  dk_buf_free (&a->pending_in);
  dk_buf_free (&a->frames);
  free (a);
}

/* shim -> client: stdcopy frames; raw payload when the container has a tty;
   control frames (3) stay here */
static void
from_shim (struct shimc *s, const char *data, ssize_t n, void *ud)
{
  struct attach *a = ud;
  if (n < 0)
    {
      a->s = NULL;
      shimc_close (s);
      attach_end (a);
      return;
    }
  dk_buf_add (&a->frames, data, n);
  size_t off = 0;
  while (a->frames.len - off >= 8)
    {
      const unsigned char *h = (const unsigned char *)a->frames.data + off;
      uint32_t size
          = ((uint32_t)h[4] << 24) | ((uint32_t)h[5] << 16) | ((uint32_t)h[6] << 8) | h[7];
      if (a->frames.len - off < 8 + (size_t)size)
        break;
      if (h[0] == 1 || h[0] == 2)
        {
          if (a->tty)
            http_raw_write (a->req, a->frames.data + off + 8, size);
          else
            http_raw_write (a->req, a->frames.data + off, 8 + size);
        }
      off += 8 + size;
    }
  dk_buf_consume (&a->frames, off);
}

static void
from_client (struct http_req *req, const char *data, ssize_t n, void *ud)
{
  struct attach *a = ud;
  if (n < 0)
    {
      a->in_eof = true;
      if (a->s && a->connected)
        shimc_shutdown (a->s);
      else if (a->s == NULL && !a->want_in && a->c == NULL)
        attach_end (a);
      return;
    }
  if (!a->want_in || a->detached)
    return;
  struct dk_buf in = DK_BUF_INIT;
  bool detached = dk_detach_feed (&a->detach, data, n, &in);
  if (a->s && a->connected)
    {
      if (in.len)
        shimc_write (a->s, in.data, in.len);
    }
  else
    dk_buf_add (&a->pending_in, in.data, in.len);
  dk_buf_free (&in);
  if (detached && !(a->s && a->connected))
    a->detached = true; /* ended once the stream exists and has the input */
  else if (detached)
    {
      /* the container runs on, as after moby's detach; what came before
         the keys still reaches it */
      shimc_finish (a->s);
      a->s = NULL;
      attach_end (a);
    }
}

static void
attach_abort (struct http_req *req, void *data)
{
  attach_end (data);
}

struct pending_ctx
{
  struct container *c;
  int outstanding;
  bool all_sent;
  void (*done) (struct container *, void *);
  void *ud;
};

static void
pending_dec (struct pending_ctx *p)
{
  if (p == NULL)
    return;
  if (--p->outstanding == 0 && p->all_sent)
    {
      p->done (p->c, p->ud);
      free (p);
    }
}

static void
shim_attached (struct shimc *s, jv reply, void *ud)
{
  struct attach *a = ud;
  struct pending_ctx *p = (struct pending_ctx *)a->ready;
  a->ready = NULL;
  const char *t = dk_json_str (reply, "type");
  if (!jv_is_valid (reply) || !t || strcmp (t, "ok"))
    {
      dk_warn ("attach: %s", dk_json_str (reply, "message") ? dk_json_str (reply, "message")
                                                            : "the shim refused the attach");
      pending_dec (p);
      attach_end (a);
      return;
    }
  a->connected = true;
  if (a->pending_in.len)
    shimc_write (s, a->pending_in.data, a->pending_in.len);
  dk_buf_reset (&a->pending_in);
  if (a->detached)
    {
      shimc_finish (s);
      a->s = NULL;
      pending_dec (p);
      attach_end (a);
      return;
    }
  if (a->in_eof)
    shimc_shutdown (s);
  pending_dec (p);
}

static void
connect_one (struct attach *a)
{
  cleanup_free char *sock = shim_sock (a->c);
  jv r = jv_object_set (jv_object (), jv_string ("op"), jv_string ("attach"));
  r = jv_object_set (r, jv_string ("stdin"), jv_bool (a->want_in));
  r = jv_object_set (r, jv_string ("stdout"), jv_bool (a->want_out));
  r = jv_object_set (r, jv_string ("stderr"), jv_bool (a->want_err));
  a->s = shimc_request (sock, r, shim_attached, from_shim, a);
}

void
attach_connect_pending (struct container *c, void (*done) (struct container *c, void *ud), void *ud)
{
  struct pending_ctx *p = xzalloc (sizeof *p);
  p->c = c;
  p->done = done;
  p->ud = ud;
  p->outstanding = 1;
  for (struct attach *a = c->attaches; a; a = a->next)
    if (a->s == NULL)
      {
        p->outstanding++;
        a->ready = (void (*) (struct attach *))p;
        connect_one (a);
      }
  p->all_sent = true;
  pending_dec (p);
}

void
attach_close_all (struct container *c)
{
  while (c->attaches)
    attach_end (c->attaches);
}

/* logs=1: what the container wrote so far, before the live stream */
static void
replay_logs (struct attach *a)
{
  cleanup_free char *name = xasprintf ("%s-json.log", a->c->id);
  cleanup_free char *path = container_path (a->c, name);
  struct dk_jsonlog_read_opts o = { .tail = -1 };
  struct dk_jsonlog_reader *r = NULL;
  cleanup_error dk_err_t err = NULL;
  if (dk_jsonlog_reader_open (path, &o, &r, &err) < 0)
    return;
  struct dk_jsonlog_entry e;
  while (dk_jsonlog_next (r, &e, &err) == DK_JSONLOG_ENTRY)
    {
      if ((e.stream == 1 && !a->want_out) || (e.stream == 2 && !a->want_err))
        continue;
      if (a->tty)
        http_raw_write (a->req, e.log, e.len);
      else
        {
          cleanup_buf struct dk_buf f = DK_BUF_INIT;
          dk_stdcopy_frame (&f, e.stream, e.log, e.len);
          http_raw_write (a->req, f.data, f.len);
        }
    }
  dk_jsonlog_reader_free (r);
}

/* after the replay: the end (stream=0) or the live stream */
static void
attach_go (struct attach *a)
{
  struct container *c = a->c;
  if (!a->stream || c == NULL)
    {
      attach_end (a);
      return;
    }
  bool live = (c->state == C_RUNNING || c->state == C_PAUSED) && !c->starting;
  if (live && a->s == NULL)
    connect_one (a);
}

static void
replay_later (uv_timer_t *t)
{
  struct attach *a = t->data;
  uv_close ((uv_handle_t *)a->delay, (uv_close_cb)free);
  a->delay = NULL;
  if (a->c)
    replay_logs (a);
  attach_go (a);
}

void
h_container_attach (struct http_req *req)
{
  struct container *c = container_find (req->params[0]);
  if (c == NULL)
    {
      http_error (req, 404, "No such container: %s", req->params[0]);
      return;
    }
  if (c->removing)
    {
      http_error (req, 409, "container %s is being removed", req->params[0]);
      return;
    }
  struct dk_detach keys;
  cleanup_free char *spec = http_query (req, "detachKeys");
  if (dk_detach_parse (spec, &keys) < 0)
    {
      http_error (req, 400, "Invalid detach keys (%s) provided", spec);
      return;
    }
  struct attach *a = xzalloc (sizeof *a);
  a->detach = keys;
  a->req = req;
  a->c = c;
  a->tty = container_tty (c);
  a->want_in = http_query_bool (req, "stdin", false);
  a->want_out = http_query_bool (req, "stdout", false);
  a->want_err = http_query_bool (req, "stderr", false);
  bool stream = http_query_bool (req, "stream", false);
  const char *ctype = a->tty || req->api_minor < 42 ? "application/vnd.docker.raw-stream"
                                                    : "application/vnd.docker.multiplexed-stream";
  req->on_abort = attach_abort;
  req->abort_data = a;
  a->next = c->attaches;
  c->attaches = a;
  http_hijack (req, ctype, from_client, a);
  a->stream = stream;
  container_event (c, "attach", jv_object ()); /* moby: every attach, streamed or not */
  if (http_query_bool (req, "logs", false))
    {
      /* Clients that read the 101 with a buffered HTTP parser and then the
         raw socket (docker-py: http.client, then the socket under it) lose
         what arrives with the headers; moby's replay comes later by its own
         latency.  The replay (and the live stream after it) waits 20 ms. */
      a->delay = xzalloc (sizeof *a->delay);
      uv_timer_init (D.loop, a->delay);
      a->delay->data = a;
      uv_timer_start (a->delay, replay_later, 20, 0);
      return;
    }
  attach_go (a);
}
