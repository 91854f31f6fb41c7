/* The socket protocol's requests (docs/shim-protocol.md).  libjq is used
   here only, once per request, never on the stream path. */
#include "shim.h"
#include "cleanup.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>

static void
send_ok (struct client *c, jv extra)
{
  jv v = jv_object ();
  v = jv_object_set (v, jv_string ("type"), jv_string ("ok"));
  if (jv_get_kind (extra) == JV_KIND_OBJECT)
    v = jv_object_merge (v, extra);
  else
    jv_free (extra);
  client_send_line (c, v);
}

static int
error (struct client *c, const char *code, const char *fmt, const char *arg)
{
  dk_err_t err = NULL;
  dk_make_error_code (&err, code, 0, fmt, arg);
  client_send_error (c, err);
  dk_error_release (&err);
  return -1;
}

static void
send_status (struct shim *s, struct client *c)
{
  client_send_line (c, shim_status_json (s));
  if (s->status == ST_EXITED)
    c->exit_fetch = true;
  c->kind = C_DONE;
}

static int
resize (struct client *c, struct proc *p, jv req)
{
  int64_t h = 0, w = 0;
  if (!dk_json_int (req, "height", &h) || !dk_json_int (req, "width", &w) || h < 0 || w < 0
      || h > 65535 || w > 65535)
    return error (c, DK_ECODE_INVALID, "resize: height and width are numbers%s", "");
  if (p->master < 0)
    return error (c, DK_ECODE_CONFLICT, "resize: %s has no terminal",
                  p->exec_id ? "the exec'd process" : "the container");
  struct winsize ws = { .ws_row = (unsigned short)h, .ws_col = (unsigned short)w };
  if (ioctl (p->master, TIOCSWINSZ, &ws) < 0)
    return error (c, DK_ECODE_INTERNAL, "resize: %s", strerror (errno));
  send_ok (c, jv_null ());
  c->kind = C_DONE;
  return 0;
}

static int
do_exec (struct shim *s, struct client *c, jv req)
{
  const char *id = dk_json_str (req, "exec_id");
  jv process = dk_json_get_kind (req, "process", JV_KIND_OBJECT);
  if (id == NULL || *id == '\0' || !jv_is_valid (process))
    {
      jv_free (process);
      return error (c, DK_ECODE_INVALID, "exec: exec_id and process are required%s", "");
    }
  if (s->status != ST_RUNNING)
    {
      jv_free (process);
      return error (c, DK_ECODE_CONFLICT, "container %s is not running", s->o->id);
    }
  struct proc *old = shim_find_exec (s, id);
  if (old && !old->exited)
    {
      jv_free (process);
      return error (c, DK_ECODE_CONFLICT, "exec %s is already running", id);
    }
  if (old)
    old->exec_id[0] = '\0'; /* a finished exec of that id: the new one wins */
  bool detach = false, want_in = true;
  dk_json_bool (req, "detach", &detach);
  dk_json_bool (req, "stdin", &want_in);
  struct proc *p = NULL;
  dk_err_t err = NULL;
  if (shim_exec (s, id, process, detach, want_in && !detach, &p, &err) < 0)
    {
      client_send_error (c, err);
      dk_error_release (&err);
      return -1;
    }
  jv extra = jv_object ();
  extra = jv_object_set (extra, jv_string ("pid"), dk_json_int64 (p->pid));
  send_ok (c, extra);
  if (detach)
    {
      c->kind = C_DONE;
      return 0;
    }
  c->kind = C_EXEC;
  c->proc = p;
  c->want_in = p->in_fd >= 0;
  c->want_out = c->want_err = true;
  p->client = c;
  return 0;
}

static void
exec_status (struct shim *s, struct client *c, jv req)
{
  const char *id = dk_json_str (req, "exec_id");
  struct proc *p = id && *id ? shim_find_exec (s, id) : NULL;
  if (p == NULL)
    {
      error (c, DK_ECODE_NOT_FOUND, "no such exec: %s", id ? id : "");
      return;
    }
  jv v = jv_object ();
  v = jv_object_set (v, jv_string ("type"), jv_string ("exec-status"));
  v = jv_object_set (v, jv_string ("exec_id"), jv_string (p->exec_id));
  v = jv_object_set (v, jv_string ("running"), jv_bool (!p->finished));
  v = jv_object_set (v, jv_string ("pid"), dk_json_int64 (p->pid));
  if (p->finished)
    v = jv_object_set (v, jv_string ("exit_code"), dk_json_int64 (p->exit_code));
  client_send_line (c, v);
  c->kind = C_DONE;
}

void
shim_handle_request (struct shim *s, struct client *c, const char *line, size_t len)
{
  jv req;
  dk_err_t err = NULL;
  if (dk_json_parse (line, len, &req, &err) < 0)
    {
      dk_error_set_code (&err, DK_ECODE_INVALID);
      client_send_error (c, err);
      dk_error_release (&err);
      return;
    }
  const char *op = dk_json_str (req, "op");
  if (op == NULL)
    error (c, DK_ECODE_INVALID, "request without \"op\"%s", "");
  else if (strcmp (op, "status") == 0)
    send_status (s, c);
  else if (strcmp (op, "wait") == 0)
    {
      if (s->status == ST_EXITED)
        send_status (s, c);
      else
        c->kind = C_WAIT;
    }
  else if (strcmp (op, "start") == 0)
    {
      if (s->status != ST_CREATED)
        error (c, DK_ECODE_CONFLICT, "container %s was already started", s->o->id);
      else if (shim_start (s, &err) < 0)
        {
          client_send_error (c, err);
          dk_error_release (&err);
        }
      else
        {
          send_ok (c, jv_null ());
          c->kind = C_DONE;
        }
    }
  else if (strcmp (op, "kill") == 0)
    {
      int64_t sig = SIGTERM;
      bool all = false;
      dk_json_bool (req, "all", &all);
      if (jv_is_valid (dk_json_get (req, "signal")) && !dk_json_int (req, "signal", &sig))
        error (c, DK_ECODE_INVALID, "kill: signal must be a number%s", "");
      else if (sig < 1 || sig > 64)
        error (c, DK_ECODE_INVALID, "kill: invalid signal%s", "");
      else if (s->status == ST_EXITED || s->ctr.exited)
        error (c, DK_ECODE_CONFLICT, "container %s is not running", s->o->id);
      else if (shim_kill (s, (int)sig, all, &err) < 0)
        {
          client_send_error (c, err);
          dk_error_release (&err);
        }
      else
        {
          send_ok (c, jv_null ());
          c->kind = C_DONE;
        }
    }
  else if (strcmp (op, "resize") == 0)
    resize (c, &s->ctr, req);
  else if (strcmp (op, "resize-exec") == 0)
    {
      const char *id = dk_json_str (req, "exec_id");
      struct proc *p = id && *id ? shim_find_exec (s, id) : NULL;
      if (p == NULL || p->finished)
        error (c, DK_ECODE_NOT_FOUND, "no running exec: %s", id ? id : "");
      else
        resize (c, p, req);
    }
  else if (strcmp (op, "close-stdin") == 0)
    {
      proc_request_close_in (&s->ctr);
      send_ok (c, jv_null ());
      c->kind = C_DONE;
    }
  else if (strcmp (op, "attach") == 0)
    {
      bool in = false, out = false, errs = false;
      dk_json_bool (req, "stdin", &in);
      dk_json_bool (req, "stdout", &out);
      dk_json_bool (req, "stderr", &errs);
      send_ok (c, jv_null ());
      if (s->status == ST_EXITED)
        c->kind = C_DONE;
      else
        {
          c->kind = C_ATTACH;
          c->proc = &s->ctr;
          c->want_in = in && s->ctr.in_fd >= 0;
          c->want_out = out;
          c->want_err = errs;
        }
    }
  else if (strcmp (op, "exec") == 0)
    do_exec (s, c, req);
  else if (strcmp (op, "exec-status") == 0)
    exec_status (s, c, req);
  else if (strcmp (op, "release") == 0)
    {
      s->release = true;
      send_ok (c, jv_null ());
      c->kind = C_DONE;
    }
  else
    error (c, DK_ECODE_INVALID, "unknown op \"%s\"", op);
  jv_free (req);
}
