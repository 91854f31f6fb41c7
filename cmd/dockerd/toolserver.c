/* Warm fork servers for the tools dockerd runs on every container start
   and stop (docs/toolserver.md): `dk-netsetup serve` and `dk-graph serve`
   are each started once, on first use, with a seqpacket socket as stdin;
   each job is then a request carrying the job's argv and its three pipe
   ends, and the server forks a copy of itself that runs it.  The job sees
   the same stdout, stderr and exit status as from a spawned tool.  A tool
   whose server cannot be reached is spawned as before. */
#include "dockerd.h"
#include "cleanup.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdpass.h"
#include "toolserver.h"

struct tsrv_req
{
  int64_t id;
  tsrv_started_cb started;
  tsrv_exit_cb ended;
  void *ud;
  struct tsrv_req *next;
};

struct tsrv
{
  const char *name;
  bool disabled; /* its server died without ever answering: spawn instead */
  bool answered;
  bool retiring;  /* its binary was replaced: no new requests, ends after the last */
  struct stat st; /* the binary it was started from */
  int fd;
  uv_process_t proc;
  uv_poll_t poll;
  int open_handles;
  int64_t next_id;
  struct tsrv_req *reqs;
};

static struct tsrv servers[]
    = { { .name = "dk-netsetup", .fd = -1 }, { .name = "dk-graph", .fd = -1 } };

static struct tsrv *
find (const char *name)
{
  const char *env = getenv ("DK_TOOLSERVER");
  if (env && !strcmp (env, "0"))
    return NULL;
  for (size_t i = 0; i < sizeof servers / sizeof servers[0]; i++)
    if (!strcmp (servers[i].name, name) && !servers[i].disabled)
      return &servers[i];
  return NULL;
}

static struct tsrv_req *
take (struct tsrv *s, int64_t id, bool remove)
{
  for (struct tsrv_req **p = &s->reqs; *p; p = &(*p)->next)
    if ((*p)->id == id)
      {
        struct tsrv_req *r = *p;
        if (remove)
          *p = r->next;
        return r;
      }
  return NULL;
}

static void
on_closed (uv_handle_t *h)
{
  struct tsrv *s = h->data;
  s->open_handles--;
}

/* Closes our end: the server ends at the end of its input. */
static void
close_ctl (struct tsrv *s)
{
  uv_poll_stop (&s->poll);
  uv_close ((uv_handle_t *)&s->poll, on_closed);
  close (s->fd);
  s->fd = -1;
  s->retiring = false;
}

/* The server is gone: requests in flight end with an unknown status (the
   children go on and their pipes still close), the next job starts a new
   server. */
static void
lost (struct tsrv *s)
{
  if (s->fd < 0)
    return;
  close_ctl (s);
  if (!s->answered)
    {
      s->disabled = true;
      dk_warn ("%s serve did not answer: spawning %s for each job", s->name, s->name);
    }
  struct tsrv_req *r = steal_ptr (&s->reqs);
  while (r)
    {
      struct tsrv_req *next = r->next;
      r->ended (r->ud, -1);
      free (r);
      r = next;
    }
}

static void
on_server_exit (uv_process_t *p, int64_t status, int sig)
{
  struct tsrv *s = p->data;
  dk_debug ("%s serve ended (status %d, signal %d)", s->name, (int)status, sig);
  lost (s);
  uv_close ((uv_handle_t *)p, on_closed);
}

static void
on_reply (struct tsrv *s, jv m)
{
  const char *type = dk_json_str (m, "type");
  int64_t id = -1, num = -1;
  dk_json_int (m, "id", &id);
  s->answered = true;
  if (type && !strcmp (type, "started"))
    {
      struct tsrv_req *r = take (s, id, false);
      if (r && dk_json_int (m, "pid", &num))
        r->started (r->ud, (int)num);
      return;
    }
  struct tsrv_req *r = take (s, id, true);
  if (r == NULL)
    return;
  if (type && !strcmp (type, "exit") && dk_json_int (m, "status", &num))
    r->ended (r->ud, (int)num);
  else
    {
      const char *msg = dk_json_str (m, "message");
      dk_warn ("%s serve refused a request: %s", s->name, msg ? msg : "?");
      r->ended (r->ud, 127);
    }
  free (r);
  if (s->retiring && s->reqs == NULL && s->fd >= 0)
    close_ctl (s);
}

/* The tool on disk is no longer the one the server runs (`make install`):
   the server finishes what it has and goes; jobs are spawned meanwhile,
   and the first job after it is gone starts the new binary's server. */
static bool
retired (struct tsrv *s, const char *path)
{
  struct stat now;
  if (!s->retiring
      && (stat (path, &now) < 0
          || (now.st_dev == s->st.st_dev && now.st_ino == s->st.st_ino
              && now.st_mtim.tv_sec == s->st.st_mtim.tv_sec
              && now.st_mtim.tv_nsec == s->st.st_mtim.tv_nsec)))
    return false;
  if (!s->retiring)
    dk_info ("%s was replaced: its server ends after its last request", s->name);
  s->retiring = true;
  if (s->reqs == NULL)
    close_ctl (s);
  return true;
}

static void
on_readable (uv_poll_t *p, int status, int events)
{
  struct tsrv *s = p->data;
  char buf[4096];
  for (;;)
    {
      ssize_t n = recv (s->fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
      if (n <= 0)
        {
          lost (s);
          return;
        }
      jv m = jv_invalid ();
      cleanup_error dk_err_t err = NULL;
      if (dk_json_parse (buf, n, &m, &err) == 0)
        on_reply (s, m);
      else
        dk_warn ("%s serve: %s", s->name, err->msg);
      jv_free (m);
      if (s->fd < 0)
        return;
    }
}

static int
start_server (struct tsrv *s, const char *path)
{
  int sv[2];
  if (s->open_handles > 0 || socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return -1;
  char *args[] = { (char *)path, "serve", NULL };
  uv_stdio_container_t stdio[3] = { { .flags = UV_INHERIT_FD, .data.fd = sv[1] },
                                    { .flags = UV_IGNORE },
                                    { .flags = UV_INHERIT_FD, .data.fd = 2 } };
  uv_process_options_t po
      = { .file = path, .args = args, .exit_cb = on_server_exit, .stdio = stdio, .stdio_count = 3 };
  s->proc.data = s;
  int r = uv_spawn (D.loop, &s->proc, &po);
  close (sv[1]);
  s->open_handles++;
  if (r < 0)
    {
      close (sv[0]);
      uv_close ((uv_handle_t *)&s->proc, on_closed);
      s->disabled = true;
      return -1;
    }
  uv_unref ((uv_handle_t *)&s->proc);
  s->fd = sv[0];
  s->answered = false;
  if (stat (path, &s->st) < 0)
    memset (&s->st, 0, sizeof s->st);
  s->poll.data = s;
  uv_poll_init (D.loop, &s->poll, s->fd);
  s->open_handles++;
  uv_poll_start (&s->poll, UV_READABLE | UV_DISCONNECT, on_readable);
  uv_unref ((uv_handle_t *)&s->poll);
  return 0;
}

bool
toolserver_serves (const char *name)
{
  return find (name) != NULL;
}

int
toolserver_run (const char *name, const char *path, char *const *argv, const int fds[3],
                tsrv_started_cb started, tsrv_exit_cb ended, void *ud)
{
  struct tsrv *s = find (name);
  if (s == NULL || (s->fd >= 0 && retired (s, path)) || (s->fd < 0 && start_server (s, path) < 0))
    return -1;
  int64_t id = ++s->next_id;
  jv a = jv_array ();
  for (int i = 0; argv[i]; i++)
    a = jv_array_append (a, jv_string (argv[i]));
  jv req = jv_object_set (jv_object (), jv_string ("id"), dk_json_int64 (id));
  cleanup_free char *text = dk_json_dump (jv_object_set (req, jv_string ("argv"), a));
  size_t len = strlen (text);
  if (len > DK_TOOLSERVER_MAX || dk_send_fds (s->fd, text, len, fds, 3, MSG_DONTWAIT) < 0)
    return -1;
  struct tsrv_req *r = xzalloc (sizeof *r);
  *r = (struct tsrv_req){ .id = id, .started = started, .ended = ended, .ud = ud, .next = s->reqs };
  s->reqs = r;
  return 0;
}
