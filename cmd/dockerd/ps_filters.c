/* The filters of GET /containers/json that read a container's inspect
   document: before, since, network, volume, publish, expose, health,
   is-task and isolation (Docker's meanings; no health checks and no swarm
   tasks exist here: health=none and is-task=false match every container;
   Isolation is matched as stored, "" on Linux as in moby). */
#include "container.h"
#include "cleanup.h"

#include <stdlib.h>
#include <string.h>

/* "80", "80/udp" or "8000-8002[/tcp]": a port or range, then an optional
   protocol (tcp when none); false when spec is not one */
static bool
port_range (const char *spec, long *lo, long *hi, const char **proto)
{
  char *end;
  if (*spec < '0' || *spec > '9')
    return false;
  *lo = *hi = strtol (spec, &end, 10);
  if (*end == '-')
    {
      if (end[1] < '0' || end[1] > '9')
        return false;
      *hi = strtol (end + 1, &end, 10);
    }
  *proto = *end == '/' ? end + 1 : "tcp";
  return (*end == 0 || *end == '/') && *lo <= *hi && *hi <= 65535;
}

/* the filter value spec contains the port key "N/proto" */
static bool
port_in (const char *spec, const char *key)
{
  long lo, hi, k, k2;
  const char *proto, *kproto;
  return port_range (spec, &lo, &hi, &proto) && port_range (key, &k, &k2, &kproto)
         && !strcmp (proto, kproto) && k >= lo && k <= hi;
}

static bool
keys_match (jv obj, const char *spec)
{
  bool hit = false;
  if (jv_get_kind (obj) == JV_KIND_OBJECT)
    jv_object_foreach (obj, k, v)
    {
      hit = hit || port_in (spec, jv_string_value (k));
      jv_free (k);
      jv_free (v);
    }
  jv_free (obj);
  return hit;
}

static bool
network_match (jv insp, const char *v)
{
  cleanup_jv jv ns = dk_json_get (insp, "NetworkSettings");
  jv nets = dk_json_get_kind (ns, "Networks", JV_KIND_OBJECT);
  bool hit = false;
  if (jv_is_valid (nets))
    jv_object_foreach (nets, k, e)
    {
      const char *id = dk_json_str (e, "NetworkID");
      hit = hit || !strcmp (jv_string_value (k), v) || (id && *v && !strncmp (id, v, strlen (v)));
      jv_free (k);
      jv_free (e);
    }
  jv_free (nets);
  return hit;
}

static bool
volume_match (jv insp, const char *v)
{
  cleanup_jv jv mounts = dk_json_get_kind (insp, "Mounts", JV_KIND_ARRAY);
  bool hit = false;
  if (jv_is_valid (mounts))
    jv_array_foreach (mounts, i, m)
    {
      const char *name = dk_json_str (m, "Name"), *dst = dk_json_str (m, "Destination");
      hit = hit || (name && !strcmp (name, v)) || (dst && !strcmp (dst, v));
      jv_free (m);
    }
  return hit;
}

static bool
one_match (const char *key, const char *v, struct container *c, jv insp)
{
  if (!strcmp (key, "network"))
    return network_match (insp, v);
  if (!strcmp (key, "volume"))
    return volume_match (insp, v);
  if (!strcmp (key, "publish"))
    {
      cleanup_jv jv hc = dk_json_get (insp, "HostConfig");
      return keys_match (dk_json_get (hc, "PortBindings"), v);
    }
  if (!strcmp (key, "expose"))
    {
      cleanup_jv jv conf = dk_json_get (insp, "Config");
      return keys_match (dk_json_get (conf, "ExposedPorts"), v);
    }
  if (!strcmp (key, "health"))
    return !strcmp (v, "none");
  if (!strcmp (key, "is-task"))
    return !strcmp (v, "false") || !strcmp (v, "0");
  if (!strcmp (key, "isolation"))
    {
      cleanup_jv jv hc = dk_json_get (insp, "HostConfig");
      const char *iso = dk_json_str (hc, "Isolation");
      return !strcmp (iso ? iso : "", v);
    }
  return true;
}

static const char *const inspect_keys[]
    = { "network", "volume", "publish", "expose", "health", "is-task", "isolation", NULL };

int
ps_filters_prepare (jv filters, struct ps_bounds *b, dk_err_t *err)
{
  static const char *const health[] = { "starting", "healthy", "unhealthy", "none", NULL };
  cleanup_jv jv hl = dk_json_get_kind (filters, "health", JV_KIND_ARRAY);
  int rc = 0;
  if (jv_is_valid (hl))
    jv_array_foreach (hl, i, e)
    {
      bool ok = false;
      for (int k = 0; health[k]; k++)
        ok = ok || !strcmp (jv_string_value (e), health[k]);
      if (!ok && rc == 0)
        rc = dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                 "Unrecognised filter value for health: %s", jv_string_value (e));
      jv_free (e);
    }
  static const char *const ports[] = { "publish", "expose" };
  for (int k = 0; k < 2 && rc == 0; k++)
    {
      cleanup_jv jv l = dk_json_get_kind (filters, ports[k], JV_KIND_ARRAY);
      if (jv_is_valid (l))
        jv_array_foreach (l, i, e)
        {
          long lo, hi;
          const char *proto;
          if (rc == 0 && strchr (jv_string_value (e), ':'))
            rc = dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                     "filter for '%s' should not contain ':': %s", ports[k],
                                     jv_string_value (e));
          else if (rc == 0 && !port_range (jv_string_value (e), &lo, &hi, &proto))
            rc = dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                     "error while looking up for %s %s: invalid port range",
                                     ports[k], jv_string_value (e));
          jv_free (e);
        }
    }
  /* a bool filter as moby's: 1/true or 0/false, not both, else
     "invalid filter 'is-task=[v ...]'" (Go's form of the value list) */
  cleanup_jv jv task = dk_json_get_kind (filters, "is-task", JV_KIND_ARRAY);
  if (rc == 0 && jv_is_valid (task))
    {
      bool t = false, f = false;
      struct dk_buf vals = DK_BUF_INIT;
      jv_array_foreach (task, i, e)
      {
        const char *v = jv_string_value (e);
        t = t || !strcmp (v, "true") || !strcmp (v, "1");
        f = f || !strcmp (v, "false") || !strcmp (v, "0");
        dk_buf_printf (&vals, "%s%s", i ? " " : "", v);
        jv_free (e);
      }
      if (t == f)
        rc = dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid filter 'is-task=[%s]'",
                                 vals.data ? vals.data : "");
      dk_buf_free (&vals);
    }
  static const char *const bounds[] = { "before", "since" };
  for (int k = 0; k < 2 && rc == 0; k++)
    {
      cleanup_jv jv l = dk_json_get_kind (filters, bounds[k], JV_KIND_ARRAY);
      if (!jv_is_valid (l) || jv_array_length (jv_copy (l)) == 0)
        continue;
      cleanup_jv jv ref = jv_array_get (jv_copy (l), 0);
      struct container *c = container_find (jv_string_value (ref));
      if (c == NULL)
        return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "No such container: %s",
                                   jv_string_value (ref));
      const char *created = dk_json_str (c->doc, "Created");
      *(k == 0 ? &b->before : &b->since) = created ? created : "";
    }
  return rc;
}

bool
ps_filters_match (jv filters, const struct ps_bounds *b, struct container *c, jv insp)
{
  const char *created = dk_json_str (c->doc, "Created");
  if (created == NULL)
    created = "";
  if ((b->before && strcmp (created, b->before) >= 0)
      || (b->since && strcmp (created, b->since) <= 0))
    return false;
  for (int k = 0; inspect_keys[k]; k++)
    {
      cleanup_jv jv l = dk_json_get_kind (filters, inspect_keys[k], JV_KIND_ARRAY);
      if (!jv_is_valid (l) || jv_array_length (jv_copy (l)) == 0)
        continue;
      bool hit = false;
      jv_array_foreach (l, i, e)
      {
        hit = hit || one_match (inspect_keys[k], jv_string_value (e), c, insp);
        jv_free (e);
      }
      if (!hit)
        return false;
    }
  return true;
}
