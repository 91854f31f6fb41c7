/* The socket's clients: accepting, reading requests and stdin, queueing
   and writing output, dropping the ones that leave or do not read. */
#include "shim.h"
#include "cleanup.h"
#include "log.h"
#include "stdcopy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CLIENT_OUT_MAX (8 << 20) /* a client that reads slower is dropped */

void
client_send_line (struct client *c, jv msg)
{
  cleanup_free char *s = dk_json_dump (msg);
  dk_buf_adds (&c->out, s);
  dk_buf_addc (&c->out, '\n');
}

void
client_send_error (struct client *c, dk_err_t err)
{
  jv e = jv_object ();
  e = jv_object_set (e, jv_string ("type"), jv_string ("error"));
  e = jv_object_set (e, jv_string ("code"), jv_string (err->code ? err->code : "internal"));
  e = jv_object_set (e, jv_string ("message"), jv_string (err->msg));
  client_send_line (c, e);
  c->kind = C_DONE;
}

void
client_drop (struct client *c)
{
  if (c->fd >= 0)
    close (c->fd);
  c->fd = -1;
  if (c->proc && c->proc->client == c)
    c->proc->client = NULL;
  c->proc = NULL;
  dk_buf_free (&c->in);
  dk_buf_free (&c->out);
}

void
client_flush (struct shim *s, struct client *c)
{
  while (c->fd >= 0 && c->out.len > 0)
    {
      ssize_t n = send (c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      if (n < 0)
        {
          client_drop (c);
          return;
        }
      dk_buf_consume (&c->out, (size_t)n);
    }
  if (c->fd < 0 || c->out.len > 0)
    return;
  if (c->out.cap > 64 * 1024)
    dk_buf_free (&c->out);
  if (c->exit_fetch)
    s->exit_fetched = true;
  if (c->kind == C_DONE)
    client_drop (c);
}

void
client_frame (struct shim *s, struct client *c, int stream, const char *data, size_t len)
{
  if (c->fd < 0)
    return;
  dk_stdcopy_frame (&c->out, stream, data, len);
  if (c->out.len > CLIENT_OUT_MAX)
    {
      dk_warn ("dropping a client that does not read its output");
      client_drop (c);
      return;
    }
  client_flush (s, c);
}

void
client_stdin_eof (struct shim *s, struct client *c)
{
  c->in_closed = true;
  if (!c->want_in || c->proc == NULL)
    return;
  if (c->kind == C_EXEC || (c->kind == C_ATTACH && s->o->stdin_once))
    proc_request_close_in (c->proc);
}

void
read_client (struct shim *s, struct client *c)
{
  char buf[16384];
  ssize_t n = recv (c->fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return;
  if (n <= 0)
    {
      if (c->kind == C_REQUEST)
        client_drop (c);
      else
        client_stdin_eof (s, c);
      return;
    }
  if (c->kind == C_REQUEST)
    {
      dk_buf_add (&c->in, buf, (size_t)n);
      char *nl = memchr (c->in.data, '\n', c->in.len);
      if (nl == NULL)
        {
          if (c->in.len > 64 * 1024)
            {
              dk_err_t err = NULL;
              dk_make_error_code (&err, DK_ECODE_INVALID, 0, "request line too long");
              client_send_error (c, err);
              dk_error_release (&err);
              client_flush (s, c);
            }
          return;
        }
      size_t len = (size_t)(nl - c->in.data);
      cleanup_free char *line = xstrndup (c->in.data, len);
      dk_buf_consume (&c->in, len + 1);
      shim_handle_request (s, c, line, len);
      if (c->fd >= 0 && c->in.len > 0 && c->want_in && c->proc && c->proc->in_fd >= 0)
        dk_buf_add (&c->proc->inbuf, c->in.data, c->in.len);
      dk_buf_free (&c->in);
      if (c->fd >= 0 && c->proc)
        proc_write_stdin (c->proc);
      client_flush (s, c);
      return;
    }
  if (c->want_in && c->proc && c->proc->in_fd >= 0)
    {
      dk_buf_add (&c->proc->inbuf, buf, (size_t)n);
      proc_write_stdin (c->proc);
    }
}

void
accept_clients (struct shim *s)
{
  for (;;)
    {
      int fd = accept4 (s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0)
        return;
      struct client *c = xzalloc (sizeof *c);
      c->fd = fd;
      c->kind = C_REQUEST;
      c->next = s->clients;
      s->clients = c;
    }
}

void
sweep_clients (struct shim *s)
{
  for (struct client **cp = &s->clients; *cp;)
    {
      struct client *c = *cp;
      if (c->fd < 0)
        {
          *cp = c->next;
          client_drop (c);
          free (c);
          continue;
        }
      cp = &c->next;
    }
}
