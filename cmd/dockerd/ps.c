/* GET /containers/json (docker ps) with Docker's filters and status texts. */
#include "container.h"
#include "cleanup.h"
#include "log.h"
#include "ocispec.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

jv container_inspect_json (struct container *c);

static time_t
parse_ts (const char *s)
{
  struct tm tm = { 0 };
  if (s == NULL || strptime (s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
    return 0;
  return timegm (&tm);
}

/* Go's units.HumanDuration */
static char *
human (time_t secs)
{
  if (secs < 1)
    return xstrdup ("Less than a second");
  if (secs == 1)
    return xstrdup ("1 second");
  if (secs < 60)
    return xasprintf ("%ld seconds", (long)secs);
  long m = secs / 60;
  if (m == 1)
    return xstrdup ("About a minute");
  if (m < 60)
    return xasprintf ("%ld minutes", m);
  long h = (long)(secs / 3600.0 + 0.5);
  if (h == 1)
    return xstrdup ("About an hour");
  if (h < 48)
    return xasprintf ("%ld hours", h);
  if (h < 24 * 7 * 2)
    return xasprintf ("%ld days", h / 24);
  if (h < 24 * 30 * 2)
    return xasprintf ("%ld weeks", h / 24 / 7);
  if (h < 24 * 365 * 2)
    return xasprintf ("%ld months", h / 24 / 30);
  return xasprintf ("%ld years", h / 24 / 365);
}

static char *
status_text (struct container *c, jv state)
{
  time_t now = time (NULL);
  switch (c->state)
    {
    case C_RUNNING:
    case C_PAUSED:
      {
        cleanup_free char *d = human (now - parse_ts (dk_json_str (state, "StartedAt")));
        return xasprintf ("Up %s%s", d, c->state == C_PAUSED ? " (Paused)" : "");
      }
    case C_EXITED:
      {
        int64_t code = 0;
        dk_json_int (state, "ExitCode", &code);
        cleanup_free char *d = human (now - parse_ts (dk_json_str (state, "FinishedAt")));
        return xasprintf ("Exited (%lld) %s ago", (long long)code, d);
      }
    case C_REMOVING:
      return xstrdup ("Removal In Progress");
    case C_DEAD:
      return xstrdup ("Dead");
    case C_RESTARTING:
      return xstrdup ("Restarting");
    default:
      return xstrdup ("Created");
    }
}

static bool
any_match (jv filters, const char *key, bool (*pred) (struct container *, const char *),
           struct container *c)
{
  jv l = dk_json_get_kind (filters, key, JV_KIND_ARRAY);
  if (!jv_is_valid (l) || jv_array_length (jv_copy (l)) == 0)
    {
      jv_free (l);
      return true;
    }
  bool hit = false;
  jv_array_foreach (l, i, e)
  {
    if (!hit && pred (c, jv_string_value (e)))
      hit = true;
    jv_free (e);
  }
  jv_free (l);
  return hit;
}

static bool
p_id (struct container *c, const char *v)
{
  return !strncmp (c->id, v, strlen (v));
}

static bool
p_name (struct container *c, const char *v)
{
  /* Docker matches names as a regexp; a substring covers the common use */
  return strstr (container_name (c), v[0] == '/' ? v + 1 : v) != NULL;
}

static bool
p_status (struct container *c, const char *v)
{
  return !strcmp (cstate_name (c->state), v);
}

static bool
p_exited (struct container *c, const char *v)
{
  int64_t code = -1;
  jv st = dk_json_get (c->doc, "State");
  dk_json_int (st, "ExitCode", &code);
  jv_free (st);
  return c->state == C_EXITED && code == strtoll (v, NULL, 10);
}

static bool
p_ancestor (struct container *c, const char *v)
{
  const char *in = dk_json_str (c->doc, "ImageName"), *iid = dk_json_str (c->doc, "Image");
  if (in && !strcmp (in, v))
    return true;
  if (in && !strchr (v, ':') && !strncmp (in, v, strlen (v))
      && !strcmp (in + strlen (v), ":latest"))
    return true;
  if (iid && (!strcmp (iid, v) || (!strncmp (iid + 7, v, strlen (v)) && strlen (v) >= 4)))
    return true;
  return false;
}

static bool
p_label (struct container *c, const char *v)
{
  jv create = container_create_body (c);
  jv labels = dk_json_get_kind (create, "Labels", JV_KIND_OBJECT);
  const char *eq = strchr (v, '=');
  cleanup_free char *k = eq ? xstrndup (v, eq - v) : xstrdup (v);
  const char *val = dk_json_str (labels, k);
  bool ok = val && (!eq || !strcmp (val, eq + 1));
  jv_free (labels);
  jv_free (create);
  return ok;
}

static jv
summary (struct container *c, jv insp)
{
  jv s = jv_object ();
  s = jv_object_set (s, jv_string ("Id"), jv_string (c->id));
  s = jv_object_set (s, jv_string ("Names"),
                     jv_array_append (jv_array (), jv_string (container_name (c))));
  s = jv_object_set (s, jv_string ("Image"), dk_json_get (c->doc, "ImageName"));
  s = jv_object_set (s, jv_string ("ImageID"), dk_json_get (c->doc, "Image"));
  jv path = dk_json_get (insp, "Path"), args = dk_json_get (insp, "Args");
  struct dk_buf cmd = DK_BUF_INIT;
  dk_buf_adds (&cmd, jv_get_kind (path) == JV_KIND_STRING ? jv_string_value (path) : "");
  jv_array_foreach (args, i, a)
  {
    dk_buf_printf (&cmd, " %s", jv_string_value (a));
    jv_free (a);
  }
  jv_free (path);
  jv_free (args);
  s = jv_object_set (s, jv_string ("Command"), jv_string (cmd.data ? cmd.data : ""));
  dk_buf_free (&cmd);
  s = jv_object_set (s, jv_string ("Created"),
                     dk_json_int64 (parse_ts (dk_json_str (c->doc, "Created"))));
  jv ns = dk_json_get (insp, "NetworkSettings");
  jv ports = dk_json_get_kind (ns, "Ports", JV_KIND_OBJECT);
  jv plist = jv_array ();
  if (jv_is_valid (ports))
    {
      jv_object_foreach (ports, k, binds)
      {
        int pn = atoi (jv_string_value (k));
        const char *slash = strchr (jv_string_value (k), '/');
        const char *proto = slash ? slash + 1 : "tcp";
        if (jv_get_kind (binds) != JV_KIND_ARRAY || jv_array_length (jv_copy (binds)) == 0)
          {
            jv p = jv_object_set (jv_object (), jv_string ("PrivatePort"), dk_json_int64 (pn));
            plist
                = jv_array_append (plist, jv_object_set (p, jv_string ("Type"), jv_string (proto)));
          }
        else
          jv_array_foreach (binds, i, b)
          {
            jv p = jv_object_set (jv_object (), jv_string ("IP"), dk_json_get (b, "HostIp"));
            p = jv_object_set (p, jv_string ("PrivatePort"), dk_json_int64 (pn));
            const char *hp = dk_json_str (b, "HostPort");
            p = jv_object_set (p, jv_string ("PublicPort"), dk_json_int64 (hp ? atoi (hp) : 0));
            plist
                = jv_array_append (plist, jv_object_set (p, jv_string ("Type"), jv_string (proto)));
            jv_free (b);
          }
        jv_free (k);
        jv_free (binds);
      }
    }
  jv_free (ports);
  s = jv_object_set (s, jv_string ("Ports"), plist);
  jv conf = dk_json_get (insp, "Config");
  jv labels = dk_json_get_kind (conf, "Labels", JV_KIND_OBJECT);
  s = jv_object_set (s, jv_string ("Labels"),
                     jv_is_valid (labels) ? labels : (jv_free (labels), jv_object ()));
  jv_free (conf);
  s = jv_object_set (s, jv_string ("State"), jv_string (cstate_name (c->state)));
  jv state = dk_json_get (c->doc, "State");
  cleanup_free char *st = status_text (c, state);
  jv_free (state);
  s = jv_object_set (s, jv_string ("Status"), jv_string (st));
  jv hc = dk_json_get (insp, "HostConfig");
  s = jv_object_set (
      s, jv_string ("HostConfig"),
      jv_object_set (jv_object (), jv_string ("NetworkMode"), dk_json_get (hc, "NetworkMode")));
  jv_free (hc);
  s = jv_object_set (
      s, jv_string ("NetworkSettings"),
      jv_object_set (jv_object (), jv_string ("Networks"), dk_json_get (ns, "Networks")));
  jv_free (ns);
  s = jv_object_set (s, jv_string ("Mounts"), dk_json_get (insp, "Mounts"));
  return s;
}

static int
by_created_desc (const void *a, const void *b)
{
  struct container *x = *(struct container **)a, *y = *(struct container **)b;
  const char *cx = dk_json_str (x->doc, "Created"), *cy = dk_json_str (y->doc, "Created");
  return strcmp (cy ? cy : "", cx ? cx : "");
}

static void
list_send (struct http_req *req, jv list, void *ud)
{
  http_respond_json (req, 200, list);
}

void
h_containers_list (struct http_req *req)
{
  cleanup_free char *filt = http_query (req, "filters");
  jv filters;
  cleanup_error dk_err_t err = NULL;
  static const char *const known[]
      = { "id",     "name",   "status",  "exited",  "ancestor",  "label",   "before", "since",
          "expose", "health", "is-task", "network", "isolation", "publish", "volume", NULL };
  struct ps_bounds bounds = { NULL, NULL };
  if (parse_filters (filt, &filters, &err) < 0
      || filters_check_keys (filters, known, NULL, &err) < 0
      || ps_filters_prepare (filters, &bounds, &err) < 0)
    {
      jv_free (filters);
      http_error_err (req, err);
      return;
    }
  jv ex = dk_json_get_kind (filters, "exited", JV_KIND_ARRAY);
  if (jv_is_valid (ex))
    jv_array_foreach (ex, i, e)
    {
      char *end;
      const char *v = jv_string_value (e);
      strtoll (v, &end, 10);
      if (!err && (*v == 0 || *end))
        dk_make_error_code (&err, DK_ECODE_INVALID, 0, "invalid filter 'exited=%s'", v);
      jv_free (e);
    }
  jv_free (ex);
  long long limit = -1;
  if (err || !http_query_int (req, "limit", &limit))
    {
      if (err)
        http_error_err (req, err);
      jv_free (filters);
      return;
    }
  bool all = http_query_bool (req, "all", false);
  if (limit > 0)
    all = true;
  int n = 0;
  for (struct container *c = containers; c; c = c->next)
    n++;
  struct container **arr = xzalloc ((n + 1) * sizeof *arr);
  n = 0;
  for (struct container *c = containers; c; c = c->next)
    arr[n++] = c;
  qsort (arr, n, sizeof *arr, by_created_desc);
  jv status_f = dk_json_get_kind (filters, "status", JV_KIND_ARRAY);
  bool has_status = jv_is_valid (status_f) && jv_array_length (jv_copy (status_f)) > 0;
  jv_free (status_f);
  jv out = jv_array ();
  int count = 0;
  for (int i = 0; i < n && (limit <= 0 || count < limit); i++)
    {
      struct container *c = arr[i];
      if (!all && !has_status && c->state != C_RUNNING && c->state != C_PAUSED
          && c->state != C_RESTARTING)
        continue;
      if (!any_match (filters, "id", p_id, c) || !any_match (filters, "name", p_name, c)
          || !any_match (filters, "status", p_status, c)
          || !any_match (filters, "exited", p_exited, c)
          || !any_match (filters, "ancestor", p_ancestor, c)
          || !any_match (filters, "label", p_label, c))
        continue;
      jv insp = container_inspect_json (c);
      if (ps_filters_match (filters, &bounds, c, insp))
        {
          out = jv_array_append (out, summary (c, insp));
          count++;
        }
      jv_free (insp);
    }
  free (arr);
  jv_free (filters);
  if (http_query_bool (req, "size", false))
    containers_with_sizes (req, out, list_send, NULL);
  else
    list_send (req, out, NULL);
}

jv
container_summary (struct container *c)
{
  jv insp = container_inspect_json (c);
  jv s = summary (c, insp);
  jv_free (insp);
  return s;
}
