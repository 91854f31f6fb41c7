/* The event stream: a ring of recent events for `since`, and the clients
   following GET /events with their filters. */
#include "dockerd.h"
#include "cleanup.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING 1024

static jv ring[RING];
static int64_t ring_ns[RING];
static int ring_start, ring_len;

struct sub
{
  struct http_req *req;
  jv filters;
  int64_t until_ns;
  uv_timer_t timer;
  bool timer_on;
  struct sub *next;
};
static struct sub *subs;

static int64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Docker's time arguments: seconds[.fraction], RFC3339, or a Go duration
   ("10m") counted back from now.  0: absent; -1: invalid. */
static int
parse_time (const char *s, int64_t *out)
{
  if (s == NULL || *s == 0)
    return 0;
  char *end;
  double d = strtod (s, &end);
  if (end != s && *end == 0)
    {
      *out = (int64_t)(d * 1e9);
      return 1;
    }
  if (end != s && (*end == 's' || *end == 'm' || *end == 'h') && end[1] == 0)
    {
      double mult = *end == 's' ? 1 : *end == 'm' ? 60 : 3600;
      *out = now_ns () - (int64_t)(d * mult * 1e9);
      return 1;
    }
  struct tm tm = { 0 };
  const char *p = strptime (s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (p == NULL)
    return -1;
  double frac = 0;
  if (*p == '.')
    frac = strtod (p, (char **)&p);
  if (*p != 'Z' && *p != 0)
    return -1;
  *out = (int64_t)timegm (&tm) * 1000000000 + (int64_t)(frac * 1e9);
  return 1;
}

static bool
in_list (jv filters, const char *key, const char *val, bool absent_ok)
{
  jv l = dk_json_get_kind (filters, key, JV_KIND_ARRAY);
  if (!jv_is_valid (l) || jv_array_length (jv_copy (l)) == 0)
    {
      jv_free (l);
      return absent_ok;
    }
  bool hit = false;
  jv_array_foreach (l, i, e)
  {
    const char *s = jv_string_value (e);
    if (val && (!strcmp (s, val) || (strlen (s) >= 3 && !strncmp (s, val, strlen (s)))))
      hit = true;
    jv_free (e);
  }
  jv_free (l);
  return hit;
}

static bool
matches (jv filters, jv ev)
{
  const char *type = dk_json_str (ev, "Type"), *action = dk_json_str (ev, "Action");
  jv actor = dk_json_get (ev, "Actor");
  jv attrs = dk_json_get (actor, "Attributes");
  const char *id = dk_json_str (actor, "ID"), *name = dk_json_str (attrs, "name");
  bool ok = in_list (filters, "type", type, true);
  if (ok && action)
    {
      /* "exec_start: sh" matches the filter "exec_start" */
      cleanup_free char *a = xstrndup (action, strcspn (action, ":"));
      ok = in_list (filters, "event", a, true);
    }
  struct
  {
    const char *key;
  } objs[] = { { "container" }, { "image" }, { "network" }, { "volume" }, { "daemon" } };
  for (size_t i = 0; ok && i < sizeof objs / sizeof objs[0]; i++)
    {
      jv l = dk_json_get_kind (filters, objs[i].key, JV_KIND_ARRAY);
      bool present = jv_is_valid (l) && jv_array_length (jv_copy (l)) > 0;
      jv_free (l);
      if (!present)
        continue;
      if (type && strcmp (type, objs[i].key) != 0
          && !(strcmp (objs[i].key, "image") == 0 && type && !strcmp (type, "container")))
        {
          ok = false;
          break;
        }
      const char *img = !strcmp (objs[i].key, "image") ? dk_json_str (attrs, "image") : NULL;
      ok = in_list (filters, objs[i].key, id, false) || in_list (filters, objs[i].key, name, false)
           || (img && in_list (filters, objs[i].key, img, false));
    }
  jv labels = dk_json_get_kind (filters, "label", JV_KIND_ARRAY);
  if (ok && jv_is_valid (labels))
    {
      jv_array_foreach (labels, i, e)
      {
        const char *s = jv_string_value (e);
        const char *eq = strchr (s, '=');
        cleanup_free char *k = eq ? xstrndup (s, eq - s) : xstrdup (s);
        const char *v = dk_json_str (attrs, k);
        if (v == NULL || (eq && strcmp (v, eq + 1)))
          ok = false;
        jv_free (e);
      }
    }
  jv_free (labels);
  jv_free (attrs);
  jv_free (actor);
  return ok;
}

static void
on_timer_close (uv_handle_t *h)
{
  struct sub *s = h->data;
  jv_free (s->filters);
  free (s);
}

static void
sub_end (struct sub *s)
{
  for (struct sub **pp = &subs; *pp; pp = &(*pp)->next)
    if (*pp == s)
      {
        *pp = s->next;
        break;
      }
  s->req->on_abort = NULL;
  http_stream_end (s->req);
  uv_close ((uv_handle_t *)&s->timer, on_timer_close);
}

static void
sub_abort (struct http_req *req, void *data)
{
  sub_end (data);
}

static void
on_until (uv_timer_t *t)
{
  sub_end (t->data);
}

void
events_emit (const char *type, const char *action, const char *id, jv attrs)
{
  int64_t ns = now_ns ();
  if (jv_get_kind (attrs) != JV_KIND_OBJECT)
    {
      jv_free (attrs);
      attrs = jv_object ();
    }
  jv ev = jv_object ();
  if (!strcmp (type, "container") || !strcmp (type, "image"))
    {
      ev = jv_object_set (ev, jv_string ("status"), jv_string (action));
      ev = jv_object_set (ev, jv_string ("id"), jv_string (id));
      const char *img = dk_json_str (attrs, "image");
      if (!strcmp (type, "container") && img)
        ev = jv_object_set (ev, jv_string ("from"), jv_string (img));
    }
  ev = jv_object_set (ev, jv_string ("Type"), jv_string (type));
  ev = jv_object_set (ev, jv_string ("Action"), jv_string (action));
  jv actor = jv_object_set (jv_object (), jv_string ("ID"), jv_string (id));
  actor = jv_object_set (actor, jv_string ("Attributes"), attrs);
  ev = jv_object_set (ev, jv_string ("Actor"), actor);
  ev = jv_object_set (ev, jv_string ("scope"), jv_string ("local"));
  ev = jv_object_set (ev, jv_string ("time"), dk_json_int64 (ns / 1000000000));
  ev = jv_object_set (ev, jv_string ("timeNano"), dk_json_int64 (ns));
  int slot;
  if (ring_len < RING)
    slot = (ring_start + ring_len++) % RING;
  else
    {
      slot = ring_start;
      ring_start = (ring_start + 1) % RING;
      jv_free (ring[slot]);
    }
  ring[slot] = jv_copy (ev);
  ring_ns[slot] = ns;
  for (struct sub *s = subs, *next; s; s = next)
    {
      next = s->next;
      if (matches (s->filters, ev))
        http_stream_json (s->req, jv_copy (ev));
    }
  jv_free (ev);
}

void
h_events (struct http_req *req)
{
  cleanup_free char *since_s = http_query (req, "since");
  cleanup_free char *until_s = http_query (req, "until");
  cleanup_free char *filt = http_query (req, "filters");
  int64_t since = 0, until = 0;
  int rs = parse_time (since_s, &since), ru = parse_time (until_s, &until);
  if (rs < 0 || ru < 0)
    {
      http_error (req, 400, "invalid timestamp: %s", rs < 0 ? since_s : until_s);
      return;
    }
  jv filters;
  cleanup_error dk_err_t err = NULL;
  if (parse_filters (filt, &filters, &err) < 0)
    {
      jv_free (filters);
      http_error_err (req, err);
      return;
    }
  http_stream_begin (req, 200, "application/json");
  int64_t now = now_ns ();
  if (rs > 0)
    for (int i = 0; i < ring_len; i++)
      {
        int slot = (ring_start + i) % RING;
        if (ring_ns[slot] < since || (ru > 0 && ring_ns[slot] > until))
          continue;
        if (matches (filters, ring[slot]))
          http_stream_json (req, jv_copy (ring[slot]));
      }
  if (ru > 0 && until <= now)
    {
      jv_free (filters);
      http_stream_end (req);
      return;
    }
  struct sub *s = xzalloc (sizeof *s);
  s->req = req;
  s->filters = filters;
  s->until_ns = until;
  uv_timer_init (D.loop, &s->timer);
  s->timer.data = s;
  if (ru > 0)
    uv_timer_start (&s->timer, on_until, (uint64_t)((until - now) / 1000000) + 1, 0);
  s->next = subs;
  subs = s;
  req->on_abort = sub_abort;
  req->abort_data = s;
}

int
events_listeners (void)
{
  int n = 0;
  for (struct sub *s = subs; s; s = s->next)
    n++;
  return n;
}
