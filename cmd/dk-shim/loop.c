/* The event loop: container and exec stdio, clients, SIGCHLD.  No threads
   and no libjq on the output path: bytes go from a 16 KiB stack buffer to
   the log writer and to each attached client's queue. */
#include "shim.h"
#include "cleanup.h"
#include "log.h"
#include "stdcopy.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define STDIN_HIGH (256 << 10) /* stop reading clients' stdin above this */
#define DRAIN_NS 2000000000LL  /* after an exit, wait this long for EOF */
#define KEEP_EXECS 64          /* finished execs remembered for exec-status */

enum slot_kind
{
  S_LISTEN,
  S_SIGNAL,
  S_OUT,
  S_ERR,
  S_IN,
  S_CLIENT,
};

struct slot
{
  enum slot_kind kind;
  struct proc *proc;
  struct client *client;
};

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

void
proc_close_fds (struct proc *p)
{
  if (p->master >= 0)
    {
      if (p->in_fd == p->master)
        p->in_fd = -1;
      if (p->out_fd == p->master)
        p->out_fd = -1;
    }
  close_fd (&p->master);
  close_fd (&p->in_fd);
  close_fd (&p->out_fd);
  close_fd (&p->err_fd);
  dk_buf_free (&p->inbuf);
}

static void
proc_close_in (struct proc *p)
{
  dk_buf_free (&p->inbuf);
  p->close_in = false;
  if (p->in_fd < 0)
    return;
  if (p->in_fd == p->master)
    {
      /* a pty has no half-close: only stop forwarding */
      p->in_fd = -1;
      return;
    }
  close_fd (&p->in_fd);
}

static void
proc_close_out (struct proc *p, int stream)
{
  int *fd = stream == 2 ? &p->err_fd : &p->out_fd;
  if (*fd >= 0 && *fd == p->master)
    {
      if (p->in_fd == p->master)
        p->in_fd = -1;
      *fd = -1;
      close_fd (&p->master);
      return;
    }
  close_fd (fd);
}

jv
shim_status_json (struct shim *s)
{
  static const char *const names[] = { "created", "running", "exited" };
  char t[48];
  jv v = jv_object ();
  v = jv_object_set (v, jv_string ("type"), jv_string ("status"));
  v = jv_object_set (v, jv_string ("status"), jv_string (names[s->status]));
  v = jv_object_set (v, jv_string ("pid"), dk_json_int64 (s->ctr.pid));
  if (s->started_at)
    {
      dk_time_format_rfc3339nano (s->started_at, t, sizeof t);
      v = jv_object_set (v, jv_string ("started_at"), jv_string (t));
    }
  if (s->status == ST_EXITED)
    {
      dk_time_format_rfc3339nano (s->finished_at, t, sizeof t);
      v = jv_object_set (v, jv_string ("exit_code"), dk_json_int64 (s->ctr.exit_code));
      v = jv_object_set (v, jv_string ("finished_at"), jv_string (t));
      v = jv_object_set (v, jv_string ("oom_killed"), jv_bool (s->oom_killed));
    }
  return v;
}

struct proc *
shim_find_exec (struct shim *s, const char *exec_id)
{
  for (struct proc *p = s->execs; p; p = p->next)
    if (strcmp (p->exec_id, exec_id) == 0)
      return p;
  return NULL;
}

static void
on_output (struct shim *s, struct proc *p, int stream, const char *data, size_t len)
{
  if (p == &s->ctr)
    {
      if (s->log)
        {
          dk_err_t err = NULL;
          if (dk_jsonlog_feed (s->log, stream, data, len, dk_time_now_ns (), &err) < 0)
            {
              dk_warn ("%s", err->msg);
              dk_error_release (&err);
            }
        }
      for (struct client *c = s->clients; c; c = c->next)
        if (c->kind == C_ATTACH && (stream == 2 ? c->want_err : c->want_out))
          client_frame (s, c, stream, data, len);
    }
  else if (p->client)
    client_frame (s, p->client, stream, data, len);
}

static void
read_output (struct shim *s, struct proc *p, int stream)
{
  char buf[16384];
  int fd = stream == 2 ? p->err_fd : p->out_fd;
  for (int rounds = 0; rounds < 4; rounds++)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return;
      if (n <= 0)
        {
          /* EOF, or EIO on a pty master once every slave fd is closed */
          if (p == &s->ctr && s->log)
            {
              dk_err_t err = NULL;
              if (dk_jsonlog_flush (s->log, stream, dk_time_now_ns (), &err) < 0)
                dk_error_release (&err);
            }
          proc_close_out (p, stream);
          return;
        }
      on_output (s, p, stream, buf, (size_t)n);
      if ((size_t)n < sizeof buf)
        return;
    }
}

void
proc_write_stdin (struct proc *p)
{
  while (p->in_fd >= 0 && p->inbuf.len > 0)
    {
      ssize_t n = write (p->in_fd, p->inbuf.data, p->inbuf.len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return;
      if (n < 0)
        {
          /* the process closed its stdin: drop what is queued */
          proc_close_in (p);
          return;
        }
      dk_buf_consume (&p->inbuf, (size_t)n);
    }
  if (p->inbuf.len == 0)
    {
      if (p->inbuf.cap > 64 * 1024)
        dk_buf_free (&p->inbuf);
      if (p->close_in)
        proc_close_in (p);
    }
}

void
proc_request_close_in (struct proc *p)
{
  if (p->inbuf.len == 0)
    proc_close_in (p);
  else
    p->close_in = true;
}

static void
reap (struct shim *s)
{
  struct signalfd_siginfo si;
  while (read (s->sig_fd, &si, sizeof si) == sizeof si)
    ;
  int st;
  pid_t pid;
  while ((pid = waitpid (-1, &st, WNOHANG)) > 0)
    {
      int code = WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
      struct proc *p = NULL;
      if (pid == s->ctr.pid)
        p = &s->ctr;
      for (struct proc *e = s->execs; p == NULL && e; e = e->next)
        if (e->pid == pid && !e->exited)
          p = e;
      if (p == NULL || p->exited)
        continue;
      p->exited = true;
      p->exit_code = code;
      p->exited_at = dk_time_now_ns ();
    }
}

static void
finish_exec (struct shim *s, struct proc *p)
{
  p->finished = true;
  proc_close_fds (p);
  if (p->client)
    {
      struct client *c = p->client;
      char msg[64];
      int n = snprintf (msg, sizeof msg, "{\"exit_code\":%d}", p->exit_code);
      c->kind = C_DONE;
      client_frame (s, c, DK_STDCOPY_SYSTEM, msg, (size_t)n);
      if (c->fd >= 0)
        client_flush (s, c);
      p->client = NULL;
      c->proc = NULL;
    }
}

static void
finish_container (struct shim *s)
{
  struct proc *p = &s->ctr;
  dk_err_t err = NULL;
  int64_t now = dk_time_now_ns ();
  if (s->log)
    {
      dk_jsonlog_flush (s->log, 1, now, &err);
      dk_error_release (&err);
      dk_jsonlog_flush (s->log, 2, now, &err);
      dk_error_release (&err);
      dk_jsonlog_writer_free (s->log);
      s->log = NULL;
    }
  proc_close_fds (p);
  p->finished = true;
  s->oom_killed = shim_oom_check (s);
  s->finished_at = p->exited_at;
  s->status = ST_EXITED;
  if (shim_write_exit (s, &err) < 0)
    {
      dk_errorf ("%s", err->msg);
      dk_error_release (&err);
    }
  for (struct client *c = s->clients; c; c = c->next)
    {
      if (c->fd < 0)
        continue;
      if (c->kind == C_WAIT)
        {
          client_send_line (c, shim_status_json (s));
          c->exit_fetch = true;
          c->kind = C_DONE;
        }
      else if (c->kind == C_ATTACH)
        c->kind = C_DONE;
      if (c->kind == C_DONE)
        client_flush (s, c);
    }
  /* the runtime's state and cgroup go after the waiters have their answer
     (the OOM count was read above): dockerd's cleanup overlaps with this */
  shim_delete (s);
}

void
shim_finish_if_exited (struct shim *s)
{
  int64_t now = dk_time_now_ns ();
  struct proc *c = &s->ctr;
  if (c->exited && !c->finished
      && ((c->out_fd < 0 && c->err_fd < 0) || now - c->exited_at > DRAIN_NS))
    finish_container (s);
  int finished = 0;
  for (struct proc **pp = &s->execs; *pp;)
    {
      struct proc *p = *pp;
      if (p->exited && !p->finished
          && ((p->out_fd < 0 && p->err_fd < 0) || now - p->exited_at > DRAIN_NS))
        finish_exec (s, p);
      if (p->finished && ++finished > KEEP_EXECS)
        {
          *pp = p->next;
          free (p->exec_id);
          free (p);
          s->n_execs--;
          continue;
        }
      pp = &p->next;
    }
}

static bool
may_exit (struct shim *s)
{
  if (s->status != ST_EXITED || !(s->exit_fetched || s->release))
    return false;
  for (struct client *c = s->clients; c; c = c->next)
    if (c->fd >= 0 && (c->kind != C_REQUEST || c->out.len > 0))
      return false;
  return true;
}

#define TRIM_AFTER_MS 3000 /* idle time before giving memory back */
static bool active = true;

static int
poll_timeout (struct shim *s)
{
  int64_t now = dk_time_now_ns (), next = -1;
  if (active)
    next = now + TRIM_AFTER_MS * 1000000LL;
  struct proc *c = &s->ctr;
  if (c->exited && !c->finished && (next < 0 || c->exited_at + DRAIN_NS < next))
    next = c->exited_at + DRAIN_NS;
  for (struct proc *p = s->execs; p; p = p->next)
    if (p->exited && !p->finished && (next < 0 || p->exited_at + DRAIN_NS < next))
      next = p->exited_at + DRAIN_NS;
  if (next < 0)
    return -1;
  int64_t ms = (next - now) / 1000000 + 1;
  return ms < 0 ? 0 : (int)ms;
}

static void
add_proc (struct pollfd *pfd, struct slot *slots, int *n, struct proc *p)
{
  if (p->finished)
    return;
  if (p->out_fd >= 0)
    {
      pfd[*n] = (struct pollfd){ p->out_fd, POLLIN, 0 };
      slots[(*n)++] = (struct slot){ S_OUT, p, NULL };
    }
  if (p->err_fd >= 0)
    {
      pfd[*n] = (struct pollfd){ p->err_fd, POLLIN, 0 };
      slots[(*n)++] = (struct slot){ S_ERR, p, NULL };
    }
  if (p->in_fd >= 0 && p->inbuf.len > 0 && p->in_fd != p->out_fd)
    {
      pfd[*n] = (struct pollfd){ p->in_fd, POLLOUT, 0 };
      slots[(*n)++] = (struct slot){ S_IN, p, NULL };
    }
  else if (p->in_fd >= 0 && p->inbuf.len > 0)
    pfd[*n - 1].events |= POLLOUT; /* the pty master: one fd both ways */
}

int
shim_loop (struct shim *s)
{
  struct pollfd *pfd = NULL;
  struct slot *slots = NULL;
  size_t cap = 0;
  for (;;)
    {
      shim_finish_if_exited (s);
      sweep_clients (s);
      if (may_exit (s))
        break;
      size_t want = 4 + 3 * (size_t)(s->n_execs + 1);
      for (struct client *c = s->clients; c; c = c->next)
        want++;
      if (want > cap)
        {
          cap = want + 8;
          pfd = xrealloc (pfd, cap * sizeof *pfd);
          slots = xrealloc (slots, cap * sizeof *slots);
        }
      int n = 0;
      pfd[n] = (struct pollfd){ s->listen_fd, POLLIN, 0 };
      slots[n++] = (struct slot){ S_LISTEN, NULL, NULL };
      pfd[n] = (struct pollfd){ s->sig_fd, POLLIN, 0 };
      slots[n++] = (struct slot){ S_SIGNAL, NULL, NULL };
      add_proc (pfd, slots, &n, &s->ctr);
      for (struct proc *p = s->execs; p; p = p->next)
        add_proc (pfd, slots, &n, p);
      for (struct client *c = s->clients; c; c = c->next)
        {
          short ev = 0;
          bool throttled = c->want_in && c->proc && c->proc->inbuf.len > STDIN_HIGH;
          if (!c->in_closed && !throttled)
            ev |= POLLIN;
          if (c->out.len > 0)
            ev |= POLLOUT;
          pfd[n] = (struct pollfd){ c->fd, ev, 0 };
          slots[n++] = (struct slot){ S_CLIENT, NULL, c };
        }
      int r = poll (pfd, (nfds_t)n, poll_timeout (s));
      if (r < 0 && errno != EINTR)
        {
          dk_errorf ("poll: %s", strerror (errno));
          return 1;
        }
      if (r == 0 && active)
        {
          shim_trim_memory ();
          active = false;
        }
      else if (r > 0)
        active = true;
      for (int i = 0; r > 0 && i < n; i++)
        {
          short re = pfd[i].revents;
          if (re == 0)
            continue;
          struct slot *sl = &slots[i];
          switch (sl->kind)
            {
            case S_LISTEN:
              accept_clients (s);
              break;
            case S_SIGNAL:
              reap (s);
              break;
            case S_OUT:
            case S_ERR:
              if (re & POLLOUT)
                proc_write_stdin (sl->proc);
              if ((re & (POLLIN | POLLHUP | POLLERR))
                  && (sl->kind == S_OUT ? sl->proc->out_fd : sl->proc->err_fd) >= 0)
                read_output (s, sl->proc, sl->kind == S_OUT ? 1 : 2);
              break;
            case S_IN:
              if (re & (POLLERR | POLLHUP))
                proc_close_in (sl->proc);
              else
                proc_write_stdin (sl->proc);
              break;
            case S_CLIENT:
              {
                struct client *c = sl->client;
                if (c->fd < 0)
                  break;
                if (re & POLLOUT)
                  client_flush (s, c);
                if (c->fd >= 0 && (re & POLLIN))
                  read_client (s, c);
                else if (c->fd >= 0 && (re & (POLLHUP | POLLERR)))
                  {
                    if (!c->in_closed)
                      client_stdin_eof (s, c);
                    client_drop (c);
                  }
                break;
              }
            }
        }
    }
  free (pfd);
  free (slots);
  shim_cleanup_files (s, false);
  malloc_trim (0);
  return 0;
}
