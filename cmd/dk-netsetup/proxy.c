/* The userland proxy: one long-lived process relays every published port
   (TCP and UDP) from the host to its container, so that localhost reaches
   published ports without route_localnet.  connect binds the listening
   sockets itself (a taken port is its error) and hands them over on the
   control socket EXECROOT/dk-proxy-v2.sock with SCM_RIGHTS; the proxy exits
   when its last port is removed.  The socket's name carries the version of
   the requests: a proxy of an older dk-netsetup, still serving its
   containers' ports after an upgrade, keeps its own (dk-proxy.sock, one
   socket per request, IPv4 targets only) and is only ever asked to remove
   ports. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cleanup.h"
#include "lock.h"
#include "fdpass.h"
#include "netsetup.h"

/* ---- client side (connect, disconnect) ---- */

#define PROXY_SOCK "dk-proxy-v2.sock"
#define PROXY_SOCK_V1 "dk-proxy.sock" /* of an older dk-netsetup's proxy */
#define PROXY_PID "proxy-v2.pid"

static int
sock_addr (struct ctx *c, const char *name, struct sockaddr_un *sa, dk_err_t *err)
{
  memset (sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if ((size_t)snprintf (sa->sun_path, sizeof sa->sun_path, "%s/%s", c->exec_root, name)
      >= sizeof sa->sun_path)
    return dk_make_error (err, ENAMETOOLONG, "proxy socket in `%s`", c->exec_root);
  return 0;
}

static int
ctl_connect_to (struct ctx *c, const char *name, dk_err_t *err)
{
  struct sockaddr_un sa;
  if (sock_addr (c, name, &sa, err) < 0)
    return -1;
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return dk_make_error (err, errno, "socket");
  if (connect (fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    {
      int e = errno;
      close (fd);
      return -e;
    }
  return fd;
}

static int
ctl_connect (struct ctx *c, dk_err_t *err)
{
  return ctl_connect_to (c, PROXY_SOCK, err);
}

/* Starts the proxy on a listening socket we create, so requests queue
   until it runs. */
static int
proxy_spawn (struct ctx *c, dk_err_t *err)
{
  struct sockaddr_un sa;
  if (sock_addr (c, PROXY_SOCK, &sa, err) < 0)
    return -1;
  unlink (sa.sun_path);
  cleanup_close int lfd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0 || bind (lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen (lfd, 64) < 0)
    return dk_make_error (err, errno, "proxy socket `%s`", sa.sun_path);
  pid_t pid = fork ();
  if (pid < 0)
    return dk_make_error (err, errno, "fork");
  if (pid == 0)
    {
      /* detached grandchild: no pipe of our caller stays open in it */
      setsid ();
      if (fork () != 0)
        _exit (0);
      int nul = open ("/dev/null", O_RDWR);
      dup2 (nul, 0);
      dup2 (nul, 1);
      dup2 (nul, 2);
      dup2 (lfd, 3);
      /* fds our caller gave us (dockerd's pipes, bats' fd 3) must not live on */
      close_range (4, ~0u, 0);
      char *argv[] = { (char *)"dk-netsetup", (char *)"--state-dir", (char *)c->state_dir,
                       (char *)"--exec-root", (char *)c->exec_root,  (char *)"proxy",
                       (char *)"--listen-fd", (char *)"3",           NULL };
      execv ("/proc/self/exe", argv);
      _exit (127);
    }
  int st;
  while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
    ;
  return 0;
}

/* One request and its one-line answer ("ok" or an error text). */
static int
ctl_request (int fd, jv msg, const int *fds, int nfds, dk_err_t *err)
{
  cleanup_free char *line = dk_json_dump (msg);
  size_t len = strlen (line);
  line[len] = '\n';
  if (dk_send_fds (fd, line, len + 1, fds, nfds, 0) < 0)
    return dk_make_error (err, errno, "talk to the userland proxy");
  char ans[512];
  size_t got = 0;
  while (got < sizeof ans - 1)
    {
      ssize_t n = read (fd, ans + got, sizeof ans - 1 - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += n;
      if (memchr (ans, '\n', got))
        break;
    }
  ans[got] = '\0';
  char *nl = strchr (ans, '\n');
  if (nl)
    *nl = '\0';
  if (strcmp (ans, "ok") != 0)
    return dk_make_error (err, 0, "userland proxy: %s", got ? ans : "no answer");
  return 0;
}

/* Sends the listeners of one request (their sockets attached, in order). */
static int
proxy_send (struct ctx *c, const char *key, jv listeners, const int *fds, int nfds, dk_err_t *err)
{
  jv msg = JV_OBJECT (jv_string ("op"), jv_string ("add"), jv_string ("key"), jv_string (key),
                      jv_string ("listeners"), listeners);
  /* one request per connection: the proxy answers and hangs up */
  int fd = ctl_connect (c, err);
  if (fd == -ENOENT || fd == -ECONNREFUSED)
    {
      if (proxy_spawn (c, err) < 0)
        {
          jv_free (msg);
          return -1;
        }
      fd = ctl_connect (c, err);
    }
  if (fd < 0)
    {
      jv_free (msg);
      return fd == -1 ? -1 : dk_make_error (err, -fd, "connect to the userland proxy");
    }
  cleanup_close int cfd = fd;
  return ctl_request (cfd, msg, fds, nfds, err);
}

int
proxy_add (struct ctx *c, const char *id, const char *net, uint32_t ip, const char *ip6, jv ports,
           const int *fds, dk_err_t *err)
{
  cleanup_free char *key = xasprintf ("%s/%s", id, net);
  cleanup_free char *ips = fmt_ip4 (ip);
  int n = dk_json_len (ports), batch[DK_FDS_MAX], nb = 0;
  jv listeners = jv_array ();
  /* the sockets go DK_FDS_MAX to a request (one for most containers) */
  for (int i = 0; i < 2 * n; i++)
    {
      if (fds[i] < 0)
        continue;
      cleanup_jv jv p = dk_json_at (ports, i % n);
      int64_t cp = 0;
      dk_json_int (p, "container_port", &cp);
      /* an IPv6 listener ([::], or an IPv6 host address) relays to the
         container's IPv6 address when it has one, as Docker */
      const char *hip = dk_json_str (p, "host_ip");
      bool v6 = i >= n || (hip && strchr (hip, ':'));
      listeners = jv_array_append (
          listeners,
          JV_OBJECT (jv_string ("proto"), jv_string (dk_json_str (p, "proto")), jv_string ("ip"),
                     jv_string (v6 && ip6 ? ip6 : ips), jv_string ("port"), dk_json_int64 (cp)));
      batch[nb++] = fds[i];
      if (nb == DK_FDS_MAX)
        {
          if (proxy_send (c, key, listeners, batch, nb, err) < 0)
            return -1;
          listeners = jv_array ();
          nb = 0;
        }
    }
  if (nb == 0)
    return jv_free (listeners), 0;
  return proxy_send (c, key, listeners, batch, nb, err);
}

int
proxy_remove (struct ctx *c, const char *id, const char *net, dk_err_t *err)
{
  cleanup_free char *key = xasprintf ("%s/%s", id, net);
  /* ours, and an older dk-netsetup's proxy (the same request) if one is
     still there: the ports may be its own */
  const char *names[] = { PROXY_SOCK, PROXY_SOCK_V1 };
  for (int i = 0; i < 2; i++)
    {
      int fd = ctl_connect_to (c, names[i], err);
      if (fd == -1)
        return -1;
      if (fd < 0)
        continue; /* no proxy: nothing to remove */
      cleanup_close int cfd = fd;
      if (ctl_request (cfd,
                       JV_OBJECT (jv_string ("op"), jv_string ("remove"), jv_string ("key"),
                                  jv_string (key)),
                       NULL, 0, err)
          < 0)
        return -1;
    }
  return 0;
}

/* ---- the proxy process ---- */

enum kind
{
  K_CTL,
  K_LISTEN,
  K_CONN,
  K_FLOW
};

struct obj
{
  enum kind kind;
  int fd;
  char *key; /* the endpoint ("ID/NET") it serves */
  struct obj *next;
  /* K_LISTEN */
  bool udp;
  struct sockaddr_in6 target; /* or a sockaddr_in (target_len) */
  socklen_t target_len;
  /* K_CONN: one side of a TCP pair; K_FLOW: a UDP client's socket */
  struct obj *peer;
  char *buf; /* data read from this side, to write to peer */
  size_t len, off;
  bool eof, connecting, shut;
  struct obj *listener;       /* K_FLOW */
  struct sockaddr_in6 client; /* or a sockaddr_in (client_len) */
  socklen_t client_len;
  time_t last;
};

static int ep_fd;
static struct obj *objs;

static void
watch (struct obj *o, int op, uint32_t ev)
{
  struct epoll_event e = { .events = ev, .data.ptr = o };
  epoll_ctl (ep_fd, op, o->fd, &e);
}

static struct obj *
obj_new (enum kind k, int fd, const char *key)
{
  struct obj *o = xzalloc (sizeof *o);
  o->kind = k;
  o->fd = fd;
  o->key = key ? xstrdup (key) : NULL;
  o->next = objs;
  objs = o;
  watch (o, EPOLL_CTL_ADD, EPOLLIN);
  return o;
}

static void
obj_close (struct obj *o)
{
  if (o->fd < 0)
    return;
  epoll_ctl (ep_fd, EPOLL_CTL_DEL, o->fd, NULL);
  close (o->fd);
  o->fd = -1; /* freed by reap (), after the events of this round */
}

static void
reap (void)
{
  for (struct obj **p = &objs; *p;)
    {
      struct obj *o = *p;
      if (o->fd >= 0)
        {
          p = &o->next;
          continue;
        }
      *p = o->next;
      for (struct obj *x = objs; x; x = x->next)
        {
          if (x->peer == o)
            x->peer = NULL;
          if (x->listener == o)
            x->listener = NULL;
        }
      free (o->key);
      free (o->buf);
      free (o);
    }
}

static int
listeners (void)
{
  int n = 0;
  for (struct obj *o = objs; o; o = o->next)
    n += o->kind == K_LISTEN && o->fd >= 0;
  return n;
}

static void
conn_update (struct obj *o)
{
  if (o->fd < 0)
    return;
  uint32_t ev = 0;
  if (!o->eof && o->len == 0 && !o->connecting)
    ev |= EPOLLIN;
  if (o->connecting || (o->peer && o->peer->len > o->peer->off))
    ev |= EPOLLOUT;
  watch (o, EPOLL_CTL_MOD, ev);
}

static void
pair_close (struct obj *o)
{
  if (o->peer)
    obj_close (o->peer);
  obj_close (o);
}

/* Writes what peer read into o; half-closes o once peer is at EOF. */
static void
conn_flush (struct obj *o)
{
  struct obj *src = o->peer;
  if (src == NULL)
    return;
  while (src->off < src->len)
    {
      ssize_t w = send (o->fd, src->buf + src->off, src->len - src->off, MSG_NOSIGNAL);
      if (w < 0 && errno == EAGAIN)
        break;
      if (w <= 0)
        return pair_close (o);
      src->off += w;
    }
  if (src->off == src->len)
    src->off = src->len = 0;
  if (src->eof && src->len == 0 && !o->shut)
    {
      shutdown (o->fd, SHUT_WR);
      o->shut = true;
    }
  if (o->shut && src->shut)
    return pair_close (o);
  conn_update (o);
  conn_update (src);
}

static void
on_conn (struct obj *o, uint32_t ev)
{
  if (o->connecting && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
    {
      int e = 0;
      socklen_t l = sizeof e;
      getsockopt (o->fd, SOL_SOCKET, SO_ERROR, &e, &l);
      if (e)
        return pair_close (o);
      o->connecting = false;
    }
  if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !o->eof && o->len == 0 && !o->connecting)
    {
      if (o->buf == NULL)
        o->buf = xmalloc (65536);
      ssize_t n = recv (o->fd, o->buf, 65536, 0);
      if (n < 0 && errno != EAGAIN)
        return pair_close (o);
      if (n == 0)
        o->eof = true;
      if (n > 0)
        o->len = n, o->off = 0;
    }
  if (o->peer == NULL)
    return pair_close (o);
  conn_flush (o->peer);
  if (o->fd >= 0)
    conn_flush (o);
}

static void
on_accept (struct obj *l)
{
  int cfd = accept4 (l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (cfd < 0)
    return;
  int tfd = socket (l->target.sin6_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (tfd < 0)
    {
      close (cfd);
      return;
    }
  struct obj *a = obj_new (K_CONN, cfd, l->key), *b = obj_new (K_CONN, tfd, l->key);
  a->peer = b;
  b->peer = a;
  if (connect (tfd, (struct sockaddr *)&l->target, l->target_len) < 0 && errno != EINPROGRESS)
    return pair_close (a);
  b->connecting = true;
  conn_update (a);
  conn_update (b);
}

static void
on_udp (struct obj *l)
{
  char buf[65536];
  struct sockaddr_in6 from = { 0 }; /* a sockaddr_in on an IPv4 listener */
  socklen_t fl = sizeof from;
  ssize_t n = recvfrom (l->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
  if (n < 0 || fl > sizeof from)
    return;
  struct obj *f = NULL;
  for (struct obj *o = objs; o && !f; o = o->next)
    if (o->kind == K_FLOW && o->fd >= 0 && o->listener == l && o->client_len == fl
        && !memcmp (&o->client, &from, fl))
      f = o;
  if (f == NULL)
    {
      int fd = socket (l->target.sin6_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0)
        return;
      if (connect (fd, (struct sockaddr *)&l->target, l->target_len) < 0)
        {
          close (fd);
          return;
        }
      f = obj_new (K_FLOW, fd, l->key);
      f->listener = l;
      f->client = from;
      f->client_len = fl;
    }
  f->last = time (NULL);
  send (f->fd, buf, n, 0);
}

static void
on_flow (struct obj *f)
{
  char buf[65536];
  ssize_t n = recv (f->fd, buf, sizeof buf, 0);
  if (n < 0 && errno == EAGAIN)
    return;
  if (n < 0 || f->listener == NULL)
    return obj_close (f);
  f->last = time (NULL);
  sendto (f->listener->fd, buf, n, 0, (struct sockaddr *)&f->client, f->client_len);
}

/* The container's address a listener relays to: IPv4 or IPv6 text. */
static void
target_set (struct obj *l, const char *ip, int64_t port)
{
  struct sockaddr_in *t4 = (struct sockaddr_in *)&l->target;
  uint32_t a = 0;
  if (ip && strchr (ip, ':') && parse_ip6 (ip, &l->target.sin6_addr) == 0)
    {
      l->target.sin6_family = AF_INET6;
      l->target.sin6_port = htons (port);
      l->target_len = sizeof l->target;
      return;
    }
  parse_ip4 (ip, &a);
  t4->sin_family = AF_INET;
  t4->sin_port = htons (port);
  t4->sin_addr.s_addr = htonl (a);
  l->target_len = sizeof *t4;
}

/* One control request with its fds; answers one line. */
static void
on_ctl_client (int cfd)
{
  char buf[4096];
  int fds[DK_FDS_MAX], nfds = 0;
  ssize_t n = dk_recv_fds (cfd, buf, sizeof buf - 1, fds, DK_FDS_MAX, &nfds, NULL);
  if (n <= 0)
    return;
  buf[n] = '\0';
  jv msg = jv_parse (buf);
  const char *op = dk_json_str (msg, "op"), *key = dk_json_str (msg, "key");
  cleanup_jv jv ls = dk_json_get_kind (msg, "listeners", JV_KIND_ARRAY);
  const char *answer = "ok\n";
  /* add: the listening sockets attached, one per element of "listeners"
     (proto, the container's ip and port to relay to) */
  if (op && key && !strcmp (op, "add") && nfds > 0 && dk_json_len (ls) == nfds)
    {
      for (int i = 0; i < nfds; i++)
        {
          cleanup_jv jv one = dk_json_at (ls, i);
          int64_t port = 0;
          dk_json_int (one, "port", &port);
          struct obj *l = obj_new (K_LISTEN, fds[i], key);
          l->udp = dk_json_str (one, "proto") && !strcmp (dk_json_str (one, "proto"), "udp");
          target_set (l, dk_json_str (one, "ip"), port);
        }
      nfds = 0;
    }
  else if (op && key && !strcmp (op, "remove"))
    {
      for (struct obj *o = objs; o; o = o->next)
        if (o->key && !strcmp (o->key, key))
          obj_close (o);
    }
  else
    answer = "bad request\n";
  for (int i = 0; i < nfds; i++)
    close (fds[i]);
  jv_free (msg);
  if (write (cfd, answer, strlen (answer)) < 0)
    {
      /* the client gave up; nothing to tell it */
    }
}

/* Leaves when no port is left.  Every client talks to us while holding the
   state lock and until our answer, so once we hold the lock nobody waits on
   us: the socket goes, and the next connect starts a new proxy. */
static bool
idle_exit (struct ctx *c, const char *sock_path)
{
  cleanup_free char *lockp = state_path (c, "lock");
  cleanup_error dk_err_t e = NULL;
  int l = dk_lock_try (lockp, true, &e);
  if (l < 0)
    return false;
  unlink (sock_path);
  cleanup_free char *pidf = xasprintf ("%s/" PROXY_PID, c->state_dir);
  unlink (pidf);
  return true; /* the lock goes with the process */
}

int
cmd_proxy (struct ctx *c, int argc, char **argv, dk_err_t *err)
{
  /* a while without ports before leaving, so that a container restarting
     or the next `docker run -p` does not pay for a new proxy */
  const char *lg = getenv ("DK_PROXY_LINGER_MS");
  long linger_ms = lg ? atol (lg) : 2000, idle_since = 0;
  int lfd = -1;
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp (argv[i], "--listen-fd"))
      lfd = atoi (argv[i + 1]);
  struct sockaddr_un sa;
  if (sock_addr (c, PROXY_SOCK, &sa, err) < 0)
    return -1;
  if (lfd < 0)
    {
      unlink (sa.sun_path);
      lfd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (lfd < 0 || bind (lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen (lfd, 64) < 0)
        return dk_make_error (err, errno, "proxy socket `%s`", sa.sun_path);
    }
  fcntl (lfd, F_SETFD, FD_CLOEXEC);
  signal (SIGPIPE, SIG_IGN);
  cleanup_free char *pidf = xasprintf ("%s/" PROXY_PID, c->state_dir);
  cleanup_free char *pid = xasprintf ("%d\n", (int)getpid ());
  if (write_runtime_file (pidf, pid, strlen (pid), err) < 0)
    return -1;
  struct stat sst;
  if (fstat (lfd, &sst) < 0 || stat (sa.sun_path, &sst) < 0)
    return dk_make_error (err, errno, "proxy socket `%s`", sa.sun_path);
  ino_t sock_ino = sst.st_ino;
  ep_fd = epoll_create1 (EPOLL_CLOEXEC);
  obj_new (K_CTL, lfd, NULL);
  for (;;)
    {
      struct epoll_event evs[64];
      int idle = listeners () == 0;
      int n = epoll_wait (ep_fd, evs, 64, idle ? 200 : 5000);
      if (n < 0 && errno != EINTR)
        return dk_make_error (err, errno, "epoll_wait");
      time_t now = time (NULL);
      struct timespec ts;
      clock_gettime (CLOCK_MONOTONIC, &ts);
      long ms = ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
      if (!idle)
        idle_since = 0;
      else if (idle_since == 0)
        idle_since = ms;
      else if (ms - idle_since >= linger_ms && idle_exit (c, sa.sun_path))
        return 0;
      /* our socket removed or replaced (the exec root deleted by a test, a
         new proxy after we hung): nobody can reach us any more */
      struct stat st;
      if (stat (sa.sun_path, &st) < 0 || st.st_ino != sock_ino)
        return 0;
      for (int i = 0; i < n; i++)
        {
          struct obj *o = evs[i].data.ptr;
          if (o->fd < 0)
            continue;
          switch (o->kind)
            {
            case K_CTL:
              {
                int cfd = accept4 (o->fd, NULL, NULL, SOCK_CLOEXEC);
                if (cfd < 0)
                  break;
                on_ctl_client (cfd);
                close (cfd);
                break;
              }
            case K_LISTEN:
              o->udp ? on_udp (o) : on_accept (o);
              break;
            case K_CONN:
              on_conn (o, evs[i].events);
              break;
            case K_FLOW:
              on_flow (o);
              break;
            }
        }
      for (struct obj *o = objs; o; o = o->next)
        if (o->kind == K_FLOW && o->fd >= 0 && now - o->last > 60)
          obj_close (o);
      reap ();
    }
}
