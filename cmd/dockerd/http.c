/* HTTP/1.1 connections on the loop: http-parser for requests, keep-alive,
   one request at a time per connection (the next is parsed once the
   response is done), chunked responses, hijacking for attach. */
#include "http_internal.h"
#include "cleanup.h"
#include "log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct wreq
{
  uv_write_t w;
  struct http_conn *c;
  size_t len;
  char data[];
};

static void conn_process (struct http_conn *c);
static void alloc_cb (uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

const char *
status_text (int s)
{
  switch (s)
    {
    case 101:
      return "UPGRADED";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Request Entity Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
    }
}

static void
on_close (uv_handle_t *h)
{
  struct http_conn *c = h->data;
  dk_buf_free (&c->in);
  dk_buf_free (&c->hname);
  tls_conn_free (c->tls);
  free (c);
}

static void
req_detach (struct http_conn *c)
{
  struct http_req *r = c->cur;
  if (r == NULL)
    return;
  c->cur = NULL;
  r->conn = NULL;
  if (r->state != 2 && r->on_abort)
    {
      http_abort_cb cb = r->on_abort;
      r->on_abort = NULL;
      cb (r, r->abort_data);
    }
  http_req_unref (r);
}

void
conn_close (struct http_conn *c)
{
  if (uv_is_closing (&c->h.handle))
    return;
  req_detach (c);
  uv_close (&c->h.handle, on_close);
}

void
http_req_unref (struct http_req *r)
{
  if (--r->refs > 0)
    return;
  free (r->url);
  free (r->path);
  for (int i = 0; i < r->nhdrs; i++)
    {
      free (r->hdrs[i].name);
      free (r->hdrs[i].value);
    }
  free (r->hdrs);
  for (int i = 0; i < r->nparams; i++)
    free (r->params[i]);
  dk_buf_free (&r->body);
  free (r);
}

static void
on_write (uv_write_t *w, int status)
{
  struct wreq *wr = (struct wreq *)w;
  struct http_conn *c = wr->c;
  c->queued -= wr->len;
  free (wr);
  if (status < 0)
    {
      conn_close (c);
      return;
    }
  if (c->closing && c->queued == 0 && !uv_is_closing (&c->h.handle))
    conn_close (c);
}

void
raw_write (struct http_conn *c, const void *data, size_t len)
{
  if (c == NULL || uv_is_closing (&c->h.handle) || len == 0)
    return;
  struct wreq *wr = xmalloc (sizeof *wr + len);
  memcpy (wr->data, data, len);
  wr->c = c;
  wr->len = len;
  c->queued += len;
  uv_buf_t b = uv_buf_init (wr->data, len);
  if (uv_write (&wr->w, &c->h.stream, &b, 1, on_write) < 0)
    {
      c->queued -= len;
      free (wr);
      conn_close (c);
    }
}

void
conn_write (struct http_conn *c, const void *data, size_t len)
{
  if (c == NULL || c->tls == NULL)
    {
      raw_write (c, data, len);
      return;
    }
  cleanup_buf struct dk_buf out = DK_BUF_INIT;
  if (tls_encrypt (c->tls, data, len, &out) < 0)
    {
      conn_close (c);
      return;
    }
  raw_write (c, out.data, out.len);
}

size_t
http_write_queue (struct http_req *req)
{
  return req->conn ? req->conn->queued : 0;
}

/* ---- request parsing ---- */

static int
on_message_begin (http_parser *p)
{
  struct http_conn *c = p->data;
  struct http_req *r = xzalloc (sizeof *r);
  r->refs = 1;
  r->conn = c;
  r->api_minor = API_MAX_MINOR;
  c->cur = r;
  c->header_bytes = 0;
  c->in_value = false;
  dk_buf_reset (&c->hname);
  return 0;
}

static int
on_url (http_parser *p, const char *at, size_t n)
{
  struct http_conn *c = p->data;
  struct http_req *r = c->cur;
  c->header_bytes += n;
  if (c->header_bytes > MAX_HEADER_BYTES)
    return -1;
  size_t old = r->url ? strlen (r->url) : 0;
  r->url = xrealloc (r->url, old + n + 1);
  memcpy (r->url + old, at, n);
  r->url[old + n] = 0;
  return 0;
}

static int
on_header_field (http_parser *p, const char *at, size_t n)
{
  struct http_conn *c = p->data;
  c->header_bytes += n;
  if (c->header_bytes > MAX_HEADER_BYTES)
    return -1;
  if (c->in_value)
    {
      c->in_value = false;
      dk_buf_reset (&c->hname);
    }
  dk_buf_add (&c->hname, at, n);
  return 0;
}

static int
on_header_value (http_parser *p, const char *at, size_t n)
{
  struct http_conn *c = p->data;
  struct http_req *r = c->cur;
  c->header_bytes += n;
  if (c->header_bytes > MAX_HEADER_BYTES)
    return -1;
  if (!c->in_value)
    {
      c->in_value = true;
      r->hdrs = xrealloc (r->hdrs, (r->nhdrs + 1) * sizeof *r->hdrs);
      r->hdrs[r->nhdrs].name = xstrdup (c->hname.data ? c->hname.data : "");
      r->hdrs[r->nhdrs].value = xstrdup ("");
      r->nhdrs++;
    }
  struct http_hdr *h = &r->hdrs[r->nhdrs - 1];
  size_t old = strlen (h->value);
  h->value = xrealloc (h->value, old + n + 1);
  memcpy (h->value + old, at, n);
  h->value[old + n] = 0;
  return 0;
}

static int
on_headers_complete (http_parser *p)
{
  struct http_conn *c = p->data;
  struct http_req *r = c->cur;
  r->method = p->method;
  r->keep_alive = http_should_keep_alive (p);
  r->upgrade = p->upgrade;
  struct http_parser_url u;
  http_parser_url_init (&u);
  if (r->url == NULL || http_parser_parse_url (r->url, strlen (r->url), 0, &u) != 0
      || !(u.field_set & (1 << UF_PATH)))
    {
      r->path = xstrdup ("/");
      return 0;
    }
  r->path = url_decode (r->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
  if (u.field_set & (1 << UF_QUERY))
    r->query = r->url + u.field_data[UF_QUERY].off;
  if (router_streams_body (r))
    {
      /* the handler runs now and takes the body as it arrives */
      r->body_streamed = true;
      c->dispatch_pending = true;
      http_parser_pause (p, 1);
    }
  return 0;
}

static int
on_body (http_parser *p, const char *at, size_t n)
{
  struct http_conn *c = p->data;
  struct http_req *r = c->cur;
  if (r->body_streamed && r->on_body)
    {
      r->on_body (r, at, n, r->body_ud);
      return 0;
    }
  if (r->body.len + n > MAX_BODY_BYTES)
    return -1;
  dk_buf_add (&r->body, at, n);
  return 0;
}

static int
on_message_complete (http_parser *p)
{
  struct http_conn *c = p->data;
  struct http_req *r = c->cur;
  if (r->body_streamed)
    {
      r->body_done = true;
      c->streaming = false;
      if (r->on_body)
        r->on_body (r, NULL, -1, r->body_ud);
    }
  else
    c->dispatch_pending = true;
  http_parser_pause (p, 1);
  return 0;
}

static const http_parser_settings settings = {
  .on_message_begin = on_message_begin,
  .on_url = on_url,
  .on_header_field = on_header_field,
  .on_header_value = on_header_value,
  .on_headers_complete = on_headers_complete,
  .on_body = on_body,
  .on_message_complete = on_message_complete,
};

static void
bad_request (struct http_conn *c, int status, const char *msg)
{
  /* the request could not be read: answer and close */
  cleanup_free char *body = xasprintf ("{\"message\":\"%s\"}\n", msg);
  cleanup_free char *resp
      = xasprintf ("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                   "Api-Version: " API_VERSION_MAX "\r\nOstype: linux\r\n"
                   "Docker-Experimental: false\r\nServer: Docker/" SERVER_VERSION
                   " (linux)\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                   status, status_text (status), strlen (body), body);
  conn_write (c, resp, strlen (resp));
  c->closing = true;
  uv_read_stop (&c->h.stream);
  req_detach (c);
  if (c->queued == 0)
    conn_close (c);
}

static void
conn_process (struct http_conn *c)
{
  while ((!c->busy || c->streaming) && !c->closing && !c->hijacked && c->in.len > 0
         && !uv_is_closing (&c->h.handle))
    {
      size_t n = http_parser_execute (&c->parser, &settings, c->in.data, c->in.len);
      enum http_errno e = HTTP_PARSER_ERRNO (&c->parser);
      if (e != HPE_OK && e != HPE_PAUSED)
        {
          bool big = c->header_bytes > MAX_HEADER_BYTES || e == HPE_HEADER_OVERFLOW;
          bool bigbody = e == HPE_CB_body;
          cleanup_free char *m = xasprintf ("%s", big       ? "request header too large"
                                                  : bigbody ? "request body too large"
                                                            : http_errno_description (e));
          c->streaming = false;
          bad_request (c, big ? 431 : bigbody ? 413 : 400, m);
          return;
        }
      dk_buf_consume (&c->in, n);
      if (c->dispatch_pending)
        {
          struct http_req *r = c->cur;
          c->dispatch_pending = false;
          c->busy = true;
          c->streaming = r->body_streamed && !r->body_done;
          r->refs++; /* the handler's reference, dropped when it finishes */
          router_dispatch (r);
          if (c->streaming && c->cur == r)
            {
              /* what came with the headers, then the rest as it arrives */
              if (r->body.len && r->on_body)
                {
                  r->on_body (r, r->body.data, r->body.len, r->body_ud);
                  dk_buf_reset (&r->body);
                }
              http_parser_pause (&c->parser, 0);
            }
          continue;
        }
      if (!c->busy)
        break;
    }
  if (c->eof && !c->busy && !c->hijacked)
    {
      c->closing = true;
      if (c->queued == 0)
        conn_close (c);
    }
}

void
http_body_pause (struct http_req *req, bool pause)
{
  struct http_conn *c = req->conn;
  if (c == NULL || uv_is_closing (&c->h.handle) || c->eof)
    return;
  if (pause)
    uv_read_stop (&c->h.stream);
  else
    uv_read_start (&c->h.stream, alloc_cb, on_read);
}

/* The handler finished its response: drop its reference; the connection
   moves on to the next request or closes. */
void
req_finish (struct http_req *r)
{
  struct http_conn *c = r->conn;
  r->state = 2;
  if (c == NULL)
    {
      http_req_unref (r);
      return;
    }
  /* a body still arriving cannot be skipped in step: close instead */
  bool keep = r->keep_alive && !c->hijacked && !c->streaming;
  c->streaming = false;
  c->cur = NULL;
  r->conn = NULL;
  http_req_unref (r); /* connection's */
  http_req_unref (r); /* handler's */
  c->busy = false;
  if (!keep)
    {
      c->closing = true;
      uv_read_stop (&c->h.stream);
      if (c->queued == 0)
        conn_close (c);
      return;
    }
  http_parser_pause (&c->parser, 0);
  conn_process (c);
}

static void
alloc_cb (uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
  static char slab[65536];
  (void)h;
  (void)hint;
  *buf = uv_buf_init (slab, sizeof slab);
}

static void
conn_eof (struct http_conn *c)
{
  c->eof = true;
  uv_read_stop (&c->h.stream);
  if (c->hijacked)
    {
      if (c->cur && c->cur->on_data)
        c->cur->on_data (c->cur, NULL, -1, c->cur->data_ud);
      return;
    }
  if (c->busy)
    {
      /* the client went away while we answer: abort the handler */
      conn_close (c);
      return;
    }
  c->closing = true;
  if (c->queued == 0)
    conn_close (c);
}

static void
conn_input (struct http_conn *c, const char *data, size_t n)
{
  if (c->hijacked)
    {
      if (c->cur && c->cur->on_data)
        c->cur->on_data (c->cur, data, n, c->cur->data_ud);
      return;
    }
  dk_buf_add (&c->in, data, n);
  if (c->busy && c->in.len > MAX_HEADER_BYTES + MAX_BODY_BYTES)
    uv_read_stop (&c->h.stream);
  conn_process (c);
}

static void
on_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct http_conn *c = s->data;
  if (n < 0)
    {
      conn_eof (c);
      return;
    }
  if (n == 0)
    return;
  if (c->tls == NULL)
    {
      conn_input (c, buf->base, n);
      return;
    }
  cleanup_buf struct dk_buf plain = DK_BUF_INIT;
  cleanup_buf struct dk_buf out = DK_BUF_INIT;
  int r = tls_feed (c->tls, buf->base, n, &plain, &out);
  raw_write (c, out.data, out.len);
  if (r < 0)
    {
      /* a failed handshake (no or a bad client certificate): the alert
         goes out, then the connection closes */
      c->closing = true;
      uv_read_stop (s);
      req_detach (c);
      if (c->queued == 0)
        conn_close (c);
      return;
    }
  if (plain.len)
    conn_input (c, plain.data, plain.len);
  if (r == 1 && !uv_is_closing (&c->h.handle))
    conn_eof (c);
}

void
http_conn_accept (uv_stream_t *server, bool tls)
{
  struct http_conn *c = xzalloc (sizeof *c);
  if (tls)
    c->tls = tls_conn_new ();
  if (server->type == UV_TCP)
    uv_tcp_init (server->loop, &c->h.tcp);
  else
    uv_pipe_init (server->loop, &c->h.pipe, 0);
  c->h.handle.data = c;
  if (uv_accept (server, &c->h.stream) < 0)
    {
      uv_close (&c->h.handle, on_close);
      return;
    }
  if (server->type == UV_TCP)
    uv_tcp_nodelay (&c->h.tcp, 1);
  http_parser_set_max_header_size (MAX_HEADER_BYTES);
  http_parser_init (&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  uv_read_start (&c->h.stream, alloc_cb, on_read);
}

/* ---- request accessors ---- */

const char *
http_header (struct http_req *req, const char *name)
{
  for (int i = 0; i < req->nhdrs; i++)
    if (strcasecmp (req->hdrs[i].name, name) == 0)
      return req->hdrs[i].value;
  return NULL;
}

/* Calls fn for each value of key in the query, in order; stops when fn
   returns false.  Values are decoded and passed malloc'd to fn. */
static void
query_each (struct http_req *req, const char *key, bool (*fn) (char *v, void *ud), void *ud)
{
  const char *q = req->query;
  size_t kl = strlen (key);
  while (q && *q)
    {
      const char *amp = strchr (q, '&');
      size_t n = amp ? (size_t)(amp - q) : strlen (q);
      const char *eq = memchr (q, '=', n);
      size_t nl = eq ? (size_t)(eq - q) : n;
      cleanup_free char *name = url_decode (q, nl);
      if (strlen (name) == kl && memcmp (name, key, kl) == 0
          && !fn (eq ? url_decode (eq + 1, n - nl - 1) : xstrdup (""), ud))
        return;
      q = amp ? amp + 1 : NULL;
    }
}

static bool
take_first (char *v, void *ud)
{
  *(char **)ud = v;
  return false;
}

char *
http_query (struct http_req *req, const char *key)
{
  char *v = NULL;
  query_each (req, key, take_first, &v);
  return v;
}

struct strv_acc
{
  char **v;
  size_t n;
};

static bool
take_all (char *v, void *ud)
{
  struct strv_acc *a = ud;
  a->v = xrealloc (a->v, (a->n + 2) * sizeof *a->v);
  a->v[a->n++] = v;
  a->v[a->n] = NULL;
  return true;
}

char **
http_query_all (struct http_req *req, const char *key)
{
  struct strv_acc a = { xzalloc (sizeof (char *)), 0 };
  query_each (req, key, take_all, &a);
  return a.v;
}

bool
http_query_bool (struct http_req *req, const char *key, bool def)
{
  cleanup_free char *v = http_query (req, key);
  if (v == NULL)
    return def;
  /* Docker: "", "0", "no", "false", "none" are false */
  return !(v[0] == 0 || !strcmp (v, "0") || !strcasecmp (v, "no") || !strcasecmp (v, "false")
           || !strcasecmp (v, "none"));
}
