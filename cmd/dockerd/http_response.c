/* HTTP answers: whole responses with Docker's headers, JSON errors,
   chunked streams, and the hijacked connections of attach. */
#include "http_internal.h"
#include "cleanup.h"
#include "log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- responses ---- */

static void
send_head (struct http_req *req, int status, const char *ctype, const char *extra, ssize_t clen)
{
  struct http_conn *c = req->conn;
  if (c == NULL)
    return;
  char date[64];
  time_t t = time (NULL);
  struct tm tm;
  gmtime_r (&t, &tm);
  strftime (date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  cleanup_buf struct dk_buf b = DK_BUF_INIT;
  dk_buf_printf (&b, "HTTP/1.1 %d %s\r\n", status, status_text (status));
  dk_buf_printf (&b,
                 "Api-Version: %s\r\nDocker-Experimental: %s\r\nOstype: linux\r\n"
                 "Server: Docker/%s (linux)\r\nDate: %s\r\n",
                 API_VERSION_MAX, cfg_bool ("experimental") ? "true" : "false", SERVER_VERSION,
                 date);
  const char *cors = cfg_str ("api-cors-header");
  if (cors && *cors)
    dk_buf_printf (&b,
                   "Access-Control-Allow-Origin: %s\r\nAccess-Control-Allow-Headers: Origin, "
                   "X-Requested-With, Content-Type, Accept, X-Registry-Auth\r\n"
                   "Access-Control-Allow-Methods: HEAD, GET, POST, DELETE, PUT, OPTIONS\r\n",
                   cors);
  if (ctype)
    dk_buf_printf (&b, "Content-Type: %s\r\n", ctype);
  if (extra)
    dk_buf_adds (&b, extra);
  if (clen >= 0)
    dk_buf_printf (&b, "Content-Length: %zd\r\n", clen);
  else if (clen == -1)
    dk_buf_adds (&b, "Transfer-Encoding: chunked\r\n");
  if (!req->keep_alive && status != 101)
    dk_buf_adds (&b, "Connection: close\r\n");
  dk_buf_adds (&b, "\r\n");
  conn_write (c, b.data, b.len);
}

void
http_respond_ex (struct http_req *req, int status, const char *ctype, const char *extra,
                 const char *body, size_t len)
{
  if (req->state != 0)
    return;
  bool head = req->method == HTTP_HEAD;
  send_head (req, status, status == 204 || status == 304 ? NULL : ctype, extra,
             status == 204 || status == 304 ? -2 : (ssize_t)len);
  if (!head && status != 204 && status != 304)
    conn_write (req->conn, body, len);
  req_finish (req);
}

void
http_respond (struct http_req *req, int status, const char *ctype, const char *body, size_t len)
{
  http_respond_ex (req, status, ctype, NULL, body, len);
}

void
http_respond_json (struct http_req *req, int status, jv v)
{
  cleanup_buf struct dk_buf b = DK_BUF_INIT;
  dk_json_dump_buf (&b, v);
  jv_free (v);
  dk_buf_addc (&b, '\n');
  http_respond (req, status, "application/json", b.data, b.len);
}

void
http_respond_empty (struct http_req *req, int status)
{
  http_respond (req, status, NULL, "", 0);
}

void
http_error (struct http_req *req, int status, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *msg = NULL;
  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  va_end (ap);
  if (status >= 500)
    dk_errorf ("%s %s: %s", http_method_str (req->method), req->url ? req->url : "", msg);
  else
    dk_debug ("%s %s: %d %s", http_method_str (req->method), req->url ? req->url : "", status, msg);
  if (req->state == 1)
    {
      /* headers already went out: report in-band */
      jv e = jv_object_set (jv_object (), jv_string ("errorDetail"),
                            jv_object_set (jv_object (), jv_string ("message"), jv_string (msg)));
      e = jv_object_set (e, jv_string ("error"), jv_string (msg));
      http_stream_json (req, e);
      http_stream_end (req);
      return;
    }
  http_respond_json (req, status,
                     jv_object_set (jv_object (), jv_string ("message"), jv_string (msg)));
}

int
http_status_for_code (const char *code)
{
  if (code == NULL)
    return 500;
  if (!strcmp (code, DK_ECODE_INVALID))
    return 400;
  if (!strcmp (code, DK_ECODE_NOT_FOUND))
    return 404;
  if (!strcmp (code, DK_ECODE_CONFLICT))
    return 409;
  if (!strcmp (code, DK_ECODE_UNAUTHORIZED))
    return 401;
  if (!strcmp (code, DK_ECODE_FORBIDDEN))
    return 403;
  if (!strcmp (code, DK_ECODE_UNAVAILABLE))
    return 503;
  return 500;
}

void
http_error_err (struct http_req *req, dk_err_t err)
{
  http_error (req, http_status_for_code (err ? err->code : NULL), "%s",
              err && err->msg ? err->msg : "internal error");
}

void
http_stream_begin (struct http_req *req, int status, const char *ctype)
{
  if (req->state != 0)
    return;
  req->state = 1;
  send_head (req, status, ctype, NULL, req->method == HTTP_HEAD ? 0 : -1);
}

void
http_stream_write (struct http_req *req, const void *data, size_t len)
{
  if (req->state != 1 || req->conn == NULL || len == 0 || req->method == HTTP_HEAD)
    return;
  char hdr[32];
  int n = snprintf (hdr, sizeof hdr, "%zx\r\n", len);
  struct dk_buf b = DK_BUF_INIT;
  dk_buf_add (&b, hdr, n);
  dk_buf_add (&b, data, len);
  dk_buf_add (&b, "\r\n", 2);
  conn_write (req->conn, b.data, b.len);
  dk_buf_free (&b);
}

void
http_stream_json (struct http_req *req, jv v)
{
  cleanup_buf struct dk_buf b = DK_BUF_INIT;
  dk_json_dump_buf (&b, v);
  jv_free (v);
  dk_buf_addc (&b, '\n');
  http_stream_write (req, b.data, b.len);
}

void
http_stream_end (struct http_req *req)
{
  if (req->state != 1)
    return;
  if (req->conn && req->method != HTTP_HEAD)
    conn_write (req->conn, "0\r\n\r\n", 5);
  req_finish (req);
}

void
http_hijack (struct http_req *req, const char *ctype, hijack_data_cb cb, void *ud)
{
  struct http_conn *c = req->conn;
  if (req->state != 0)
    return;
  req->state = 3;
  req->on_data = cb;
  req->data_ud = ud;
  if (c == NULL)
    return;
  if (req->upgrade)
    send_head (req, 101, ctype, "Connection: Upgrade\r\nUpgrade: tcp\r\n", -2);
  else
    send_head (req, 200, ctype, NULL, -2);
  c->hijacked = true;
  /* bytes that came after the request are the start of the stream */
  if (c->in.len && cb)
    {
      cb (req, c->in.data, c->in.len, ud);
      dk_buf_reset (&c->in);
    }
  if (c->eof && cb)
    cb (req, NULL, -1, ud);
}

void
http_raw_write (struct http_req *req, const void *data, size_t len)
{
  if (req->state == 3 && req->conn)
    conn_write (req->conn, data, len);
}

static void
on_shutdown (uv_shutdown_t *s, int status)
{
  struct http_conn *c = s->data;
  (void)status;
  free (s);
  conn_close (c);
}

void
http_hijack_end (struct http_req *req)
{
  struct http_conn *c = req->conn;
  req->on_data = NULL;
  if (c == NULL)
    {
      req->state = 2;
      http_req_unref (req);
      return;
    }
  c->cur = NULL;
  req->conn = NULL;
  req->state = 2;
  http_req_unref (req);
  http_req_unref (req);
  if (c->tls && !uv_is_closing (&c->h.handle))
    {
      cleanup_buf struct dk_buf out = DK_BUF_INIT;
      tls_close_notify (c->tls, &out);
      raw_write (c, out.data, out.len);
    }
  uv_shutdown_t *s = xmalloc (sizeof *s);
  s->data = c;
  if (uv_is_closing (&c->h.handle) || uv_shutdown (s, &c->h.stream, on_shutdown) < 0)
    {
      free (s);
      conn_close (c);
    }
}
