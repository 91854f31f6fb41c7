/* Client of a dk-shim socket on the loop (docs/shim-protocol.md): send one
   JSON line, read one JSON line back, then bytes of the stream if any. */
#include "container.h"
#include "cleanup.h"
#include "log.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct shimc
{
  uv_pipe_t pipe;
  uv_connect_t connect;
  struct dk_buf in;
  char *request;
  bool replied, closed;
  shimc_reply_cb on_reply;
  shimc_data_cb on_data;
  void *ud;
};

struct swrite
{
  uv_write_t w;
  char data[];
};

char *
shim_sock (struct container *c)
{
  return xasprintf ("%s/c/%s/shim.sock", D.exec_root, c->id);
}

static void
on_close (uv_handle_t *h)
{
  struct shimc *s = h->data;
  dk_buf_free (&s->in);
  free (s->request);
  free (s);
}

void
shimc_close (struct shimc *s)
{
  if (s == NULL || s->closed)
    return;
  s->closed = true;
  s->on_reply = NULL;
  s->on_data = NULL;
  uv_close ((uv_handle_t *)&s->pipe, on_close);
}

static void
fail (struct shimc *s)
{
  shimc_reply_cb cb = s->on_reply;
  shimc_data_cb dcb = s->on_data;
  void *ud = s->ud;
  bool replied = s->replied;
  shimc_close (s);
  if (!replied && cb)
    cb (s, jv_invalid (), ud);
  else if (replied && dcb)
    dcb (s, NULL, -1, ud);
}

static void
on_write (uv_write_t *w, int status)
{
  free (w);
}

void
shimc_write (struct shimc *s, const void *data, size_t len)
{
  if (s->closed || len == 0)
    return;
  struct swrite *w = xmalloc (sizeof *w + len);
  memcpy (w->data, data, len);
  uv_buf_t b = uv_buf_init (w->data, len);
  if (uv_write (&w->w, (uv_stream_t *)&s->pipe, &b, 1, on_write) < 0)
    free (w);
}

static void
on_shutdown (uv_shutdown_t *r, int status)
{
  free (r);
}

static void
on_finish_shutdown (uv_shutdown_t *r, int status)
{
  struct shimc *s = r->data;
  free (r);
  if (!uv_is_closing ((uv_handle_t *)&s->pipe))
    uv_close ((uv_handle_t *)&s->pipe, on_close);
}

void
shimc_finish (struct shimc *s)
{
  if (s == NULL || s->closed)
    return;
  s->closed = true;
  s->on_reply = NULL;
  s->on_data = NULL;
  uv_read_stop ((uv_stream_t *)&s->pipe);
  uv_shutdown_t *r = xmalloc (sizeof *r);
  r->data = s;
  if (uv_shutdown (r, (uv_stream_t *)&s->pipe, on_finish_shutdown) < 0)
    {
      free (r);
      uv_close ((uv_handle_t *)&s->pipe, on_close);
    }
}

void
shimc_shutdown (struct shimc *s)
{
  if (s->closed)
    return;
  uv_shutdown_t *r = xmalloc (sizeof *r);
  if (uv_shutdown (r, (uv_stream_t *)&s->pipe, on_shutdown) < 0)
    free (r);
}

static void
alloc_cb (uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
  static char slab[65536];
  *buf = uv_buf_init (slab, sizeof slab);
}

static void
on_read (uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
  struct shimc *s = st->data;
  if (n < 0)
    {
      fail (s);
      return;
    }
  if (s->replied)
    {
      if (s->on_data)
        s->on_data (s, buf->base, n, s->ud);
      return;
    }
  dk_buf_add (&s->in, buf->base, n);
  char *nl = memchr (s->in.data, '\n', s->in.len);
  if (nl == NULL)
    return;
  size_t linelen = nl - s->in.data;
  jv reply;
  cleanup_error dk_err_t err = NULL;
  if (dk_json_parse (s->in.data, linelen, &reply, &err) < 0)
    reply = jv_object_set (jv_object_set (jv_object (), jv_string ("type"), jv_string ("error")),
                           jv_string ("message"), jv_string ("bad reply from the shim"));
  s->replied = true;
  dk_buf_consume (&s->in, linelen + 1);
  if (s->on_reply)
    s->on_reply (s, reply, s->ud);
  jv_free (reply);
  if (!s->closed && s->in.len && s->on_data)
    s->on_data (s, s->in.data, s->in.len, s->ud);
  if (!s->closed)
    dk_buf_reset (&s->in);
}

static void
on_connect (uv_connect_t *r, int status)
{
  struct shimc *s = r->data;
  if (s->closed)
    return;
  if (status < 0)
    {
      fail (s);
      return;
    }
  shimc_write (s, s->request, strlen (s->request));
  uv_read_start ((uv_stream_t *)&s->pipe, alloc_cb, on_read);
}

struct shimc *
shimc_request (const char *sock_path, jv request, shimc_reply_cb on_reply, shimc_data_cb on_data,
               void *ud)
{
  struct shimc *s = xzalloc (sizeof *s);
  struct dk_buf b = DK_BUF_INIT;
  dk_json_dump_buf (&b, request);
  jv_free (request);
  dk_buf_addc (&b, '\n');
  s->request = dk_buf_steal (&b);
  s->on_reply = on_reply;
  s->on_data = on_data;
  s->ud = ud;
  uv_pipe_init (D.loop, &s->pipe, 0);
  s->pipe.data = s;
  s->connect.data = s;
  /* sun_path holds 108 bytes; long state dirs are reached through an
     O_PATH descriptor of the directory (the shim binds relative to it too) */
  cleanup_close int dfd = -1;
  cleanup_free char *shortp = NULL;
  const char *slash = strrchr (sock_path, '/');
  if (strlen (sock_path) >= 100 && slash)
    {
      cleanup_free char *dir = xstrndup (sock_path, slash - sock_path);
      dfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (dfd >= 0)
        shortp = xasprintf ("/proc/self/fd/%d/%s", dfd, slash + 1);
    }
  /* the connect(2) happens inside the call for unix sockets */
  uv_pipe_connect (&s->connect, &s->pipe, shortp ? shortp : sock_path, on_connect);
  return s;
}

static const struct
{
  const char *name;
  int sig;
} sigs[]
    = { { "HUP", SIGHUP },       { "INT", SIGINT },   { "QUIT", SIGQUIT },   { "ILL", SIGILL },
        { "TRAP", SIGTRAP },     { "ABRT", SIGABRT }, { "BUS", SIGBUS },     { "FPE", SIGFPE },
        { "KILL", SIGKILL },     { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV },   { "USR2", SIGUSR2 },
        { "PIPE", SIGPIPE },     { "ALRM", SIGALRM }, { "TERM", SIGTERM },   { "CHLD", SIGCHLD },
        { "CONT", SIGCONT },     { "STOP", SIGSTOP }, { "TSTP", SIGTSTP },   { "TTIN", SIGTTIN },
        { "TTOU", SIGTTOU },     { "URG", SIGURG },   { "XCPU", SIGXCPU },   { "XFSZ", SIGXFSZ },
        { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO },
        { "PWR", SIGPWR },       { "SYS", SIGSYS } };

int
signal_parse (const char *s)
{
  if (s == NULL || *s == 0)
    return -1;
  char *end;
  long n = strtol (s, &end, 10);
  if (*end == 0)
    return n > 0 && n < 65 ? (int)n : -1;
  if (!strncasecmp (s, "SIG", 3))
    s += 3;
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (!strcasecmp (s, sigs[i].name))
      return sigs[i].sig;
  return -1;
}
