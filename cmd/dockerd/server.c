/* Listeners: -H unix://PATH, tcp://HOST:PORT, fd:// (systemd socket
   activation), several at once. */
#include "dockerd.h"
#include "cleanup.h"
#include "log.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LISTENERS 16

struct listener
{
  union
  {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  char *unix_path;
  bool tls;
};

static struct listener *listeners[MAX_LISTENERS];
static int nlisteners;

static void
on_conn (uv_stream_t *s, int status)
{
  struct listener *l = s->data;
  if (status < 0)
    {
      dk_warn ("accept: %s", uv_strerror (status));
      return;
    }
  http_conn_accept (s, l->tls);
}

static struct listener *
new_listener (void)
{
  struct listener *l = xzalloc (sizeof *l);
  l->h.handle.data = l;
  listeners[nlisteners++] = l;
  return l;
}

static int
listen_unix (uv_loop_t *loop, const char *path, dk_err_t *err)
{
  struct stat st;
  if (lstat (path, &st) == 0 && S_ISSOCK (st.st_mode))
    unlink (path);
  cleanup_free char *dir = xstrdup (path);
  char *slash = strrchr (dir, '/');
  if (slash && slash != dir)
    {
      *slash = 0;
      if (dk_mkdir_p (dir, 0755, err) < 0)
        return -1;
    }
  struct listener *l = new_listener ();
  uv_pipe_init (loop, &l->h.pipe, 0);
  int r = uv_pipe_bind (&l->h.pipe, path);
  if (r < 0)
    return dk_make_error (err, -r, "can't create unix socket %s", path);
  l->unix_path = xstrdup (path);
  /* 0660, group docker (root when the group does not exist) */
  const char *gname = cfg_str ("group");
  gid_t gid = 0;
  struct group *g = gname && *gname ? getgrnam (gname) : NULL;
  if (g)
    gid = g->gr_gid;
  else if (gname && *gname && strcmp (gname, "docker") != 0)
    return dk_make_error (err, 0, "group %s not found", gname);
  if (chown (path, 0, gid) < 0 && geteuid () == 0)
    return dk_make_error (err, errno, "chown %s", path);
  if (chmod (path, 0660) < 0)
    return dk_make_error (err, errno, "chmod %s", path);
  r = uv_listen (&l->h.stream, 511, on_conn);
  if (r < 0)
    return dk_make_error (err, -r, "listen on %s", path);
  dk_info ("API listen on %s", path);
  return 0;
}

static int
listen_tcp (uv_loop_t *loop, const char *addr, dk_err_t *err)
{
  bool tls = cfg_bool ("tls") || cfg_bool ("tlsverify");
  cleanup_free char *host = NULL;
  const char *colon = strrchr (addr, ':');
  int port = tls ? 2376 : 2375;
  if (addr[0] == '[')
    {
      const char *rb = strchr (addr, ']');
      if (rb == NULL)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid bind address format: %s",
                                   addr);
      host = xstrndup (addr + 1, rb - addr - 1);
      colon = rb[1] == ':' ? rb + 1 : NULL;
    }
  else
    host = colon ? xstrndup (addr, colon - addr) : xstrdup (addr);
  if (colon)
    {
      char *end;
      long p = strtol (colon + 1, &end, 10);
      if (*end || p < 0 || p > 65535 || end == colon + 1)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid bind address format: %s",
                                   addr);
      port = (int)p;
    }
  if (*host == 0)
    {
      free (host);
      host = xstrdup ("0.0.0.0");
    }
  struct sockaddr_storage ss;
  if (uv_ip4_addr (host, port, (struct sockaddr_in *)&ss) != 0
      && uv_ip6_addr (host, port, (struct sockaddr_in6 *)&ss) != 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid bind address format: %s", addr);
  struct listener *l = new_listener ();
  l->tls = tls;
  uv_tcp_init (loop, &l->h.tcp);
  int r = uv_tcp_bind (&l->h.tcp, (struct sockaddr *)&ss, 0);
  if (r == 0)
    r = uv_listen (&l->h.stream, 511, on_conn);
  if (r < 0)
    return dk_make_error (err, -r, "listen tcp %s:%d", host, port);
  if (!tls)
    dk_warn ("binding to %s:%d without TLS: anyone who can reach it can run containers as root",
             host, port);
  dk_info ("API listen on %s:%d", host, port);
  return 0;
}

/* systemd socket activation: fds 3 .. 3+LISTEN_FDS-1 */
static int
listen_fd (uv_loop_t *loop, const char *spec, dk_err_t *err)
{
  const char *pid = getenv ("LISTEN_PID"), *nfds = getenv ("LISTEN_FDS");
  if (nfds == NULL || (pid && atol (pid) != getpid ()))
    return dk_make_error (err, 0,
                          "no sockets found via socket activation: make sure the service was "
                          "started by systemd");
  int n = atoi (nfds);
  int want = *spec ? atoi (spec) : -1;
  int found = 0;
  for (int fd = 3; fd < 3 + n; fd++)
    {
      if (want >= 0 && fd != want)
        continue;
      int type = 0;
      socklen_t tl = sizeof type;
      struct sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      if (getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM
          || getsockname (fd, (struct sockaddr *)&ss, &sl) < 0)
        continue;
      struct listener *l = new_listener ();
      int r;
      if (ss.ss_family == AF_UNIX)
        {
          uv_pipe_init (loop, &l->h.pipe, 0);
          r = uv_pipe_open (&l->h.pipe, fd);
        }
      else
        {
          uv_tcp_init (loop, &l->h.tcp);
          r = uv_tcp_open (&l->h.tcp, fd);
        }
      if (r == 0)
        r = uv_listen (&l->h.stream, 511, on_conn);
      if (r < 0)
        return dk_make_error (err, -r, "listen on fd %d", fd);
      found++;
    }
  unsetenv ("LISTEN_PID");
  unsetenv ("LISTEN_FDS");
  if (found == 0)
    return dk_make_error (err, 0, "no listening stream socket among the activated fds");
  return 0;
}

static int
listen_one (uv_loop_t *loop, const char *h, dk_err_t *err)
{
  if (nlisteners >= MAX_LISTENERS - 4)
    return dk_make_error (err, 0, "too many -H");
  if (!strncmp (h, "unix://", 7))
    return listen_unix (loop, h[7] ? h + 7 : "/var/run/docker.sock", err);
  if (!strncmp (h, "tcp://", 6))
    return listen_tcp (loop, h + 6, err);
  if (!strncmp (h, "fd://", 5))
    return listen_fd (loop, h + 5, err);
  if (h[0] == '/')
    return listen_unix (loop, h, err);
  if (strstr (h, "://") == NULL)
    return listen_tcp (loop, h, err);
  return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid bind address format: %s", h);
}

int
server_listen (uv_loop_t *loop, jv hosts, dk_err_t *err)
{
  if (jv_get_kind (hosts) != JV_KIND_ARRAY || jv_array_length (jv_copy (hosts)) == 0)
    return listen_one (loop, "unix:///var/run/docker.sock", err);
  int ret = 0;
  jv_array_foreach (hosts, i, h)
  {
    if (ret == 0 && listen_one (loop, jv_string_value (h), err) < 0)
      ret = -1;
    jv_free (h);
  }
  return ret;
}

static void
on_lclose (uv_handle_t *h)
{
  struct listener *l = h->data;
  free (l->unix_path);
  free (l);
}

void
server_close (void)
{
  for (int i = 0; i < nlisteners; i++)
    {
      if (listeners[i]->unix_path)
        unlink (listeners[i]->unix_path);
      uv_close (&listeners[i]->h.handle, on_lclose);
    }
  nlisteners = 0;
}
