/* The files a container needs: resolv.conf, hosts, hostname. */
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"
#include "buf.h"
#include "cleanup.h"
#include "netsetup.h"

static bool
loopback_ns (const char *a)
{
  return !strncmp (a, "127.", 4) || !strcmp (a, "::1");
}

int
files_write_resolv (const char *dir, jv dns, jv search, jv opts, dk_err_t *err)
{
  const char *src = getenv ("DK_HOST_RESOLV_CONF");
  cleanup_free char *host = NULL;
  cleanup_error dk_err_t e = NULL;
  dk_read_file (src ? src : "/etc/resolv.conf", &host, NULL, &e);
  struct dk_buf out = DK_BUF_INIT, ns = DK_BUF_INIT;
  cleanup_free char *srch = NULL, *opt = NULL;
  char *save = NULL;
  for (char *l = host ? strtok_r (host, "\n", &save) : NULL; l; l = strtok_r (NULL, "\n", &save))
    {
      char word[32], val[256];
      if (sscanf (l, "%31s %255s", word, val) != 2)
        continue;
      if (!strcmp (word, "nameserver") && !loopback_ns (val))
        dk_buf_printf (&ns, "nameserver %s\n", val);
      else if (!strcmp (word, "search") || !strcmp (word, "domain"))
        {
          free (srch);
          srch = xstrdup (l + strlen (word));
        }
      else if (!strcmp (word, "options"))
        {
          free (opt);
          opt = xstrdup (l + strlen (word));
        }
    }
  if (dk_json_len (dns) > 0)
    {
      dk_buf_reset (&ns);
      jv_array_foreach (dns, i, s)
      {
        if (jv_get_kind (s) == JV_KIND_STRING)
          dk_buf_printf (&ns, "nameserver %s\n", jv_string_value (s));
        jv_free (s);
      }
    }
  if (ns.len == 0) /* Docker's fallback when only loopback servers remain */
    dk_buf_adds (&ns, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
  if (dk_json_len (search) > 0)
    {
      dk_buf_adds (&out, "search");
      jv_array_foreach (search, i, s)
      {
        if (jv_get_kind (s) == JV_KIND_STRING)
          dk_buf_printf (&out, " %s", jv_string_value (s));
        jv_free (s);
      }
      dk_buf_adds (&out, "\n");
    }
  else if (srch)
    dk_buf_printf (&out, "search%s\n", srch);
  dk_buf_add (&out, ns.data, ns.len);
  if (dk_json_len (opts) > 0)
    {
      dk_buf_adds (&out, "options");
      jv_array_foreach (opts, i, s)
      {
        if (jv_get_kind (s) == JV_KIND_STRING)
          dk_buf_printf (&out, " %s", jv_string_value (s));
        jv_free (s);
      }
      dk_buf_adds (&out, "\n");
    }
  else if (opt)
    dk_buf_printf (&out, "options%s\n", opt);
  dk_buf_free (&ns);
  cleanup_free char *p = xasprintf ("%s/resolv.conf", dir);
  int r = write_runtime_file (p, out.data, out.len, err);
  dk_buf_free (&out);
  return r;
}

int
files_write_hostname (const char *dir, const char *hostname, dk_err_t *err)
{
  cleanup_free char *p = xasprintf ("%s/hostname", dir);
  cleanup_free char *s = xasprintf ("%s\n", hostname);
  return write_runtime_file (p, s, strlen (s), err);
}

/* "IP name alias..." of a member of a user-defined network, for its IPv4
   or IPv6 address. */
static void
member_line (struct dk_buf *b, jv ep, jv nv, const char *ip)
{
  if (ip == NULL)
    return;
  dk_buf_adds (b, ip);
  const char *name = dk_json_str (ep, "name");
  const char *host = dk_json_str (ep, "hostname");
  if (name && *name)
    dk_buf_printf (b, "\t%s", name);
  cleanup_jv jv aliases = dk_json_get_kind (nv, "aliases", JV_KIND_ARRAY);
  if (jv_is_valid (aliases))
    jv_array_foreach (aliases, i, a)
    {
      if (jv_get_kind (a) == JV_KIND_STRING)
        dk_buf_printf (b, "\t%s", jv_string_value (a));
      jv_free (a);
    }
  if (host && (!name || strcmp (host, name)))
    dk_buf_printf (b, "\t%s", host);
  dk_buf_adds (b, "\n");
}

int
files_write_hosts (struct ctx *c, jv ep, dk_err_t *err)
{
  const char *dir = dk_json_str (ep, "files_dir");
  const char *id = dk_json_str (ep, "id");
  if (dir == NULL || id == NULL)
    return 0;
  struct dk_buf b = DK_BUF_INIT;
  dk_buf_adds (&b, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                   "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
                   "ff02::2\tip6-allrouters\n");
  cleanup_jv jv extra = dk_json_get_kind (ep, "add_hosts", JV_KIND_ARRAY);
  if (jv_is_valid (extra))
    jv_array_foreach (extra, i, h)
    {
      const char *s = jv_get_kind (h) == JV_KIND_STRING ? jv_string_value (h) : "";
      const char *colon = strchr (s, ':');
      if (colon)
        dk_buf_printf (&b, "%s\t%.*s\n", colon + 1, (int)(colon - s), s);
      jv_free (h);
    }
  const char *host = dk_json_str (ep, "hostname");
  const char *dom = dk_json_str (ep, "domainname");
  cleanup_jv jv nets = dk_json_get_kind (ep, "networks", JV_KIND_OBJECT);
  cleanup_strv char **ids = NULL;
  if (jv_is_valid (nets))
    jv_object_foreach (nets, k, nv)
    {
      const char *ips[2] = { dk_json_str (nv, "ip"), dk_json_str (nv, "ip6") };
      for (int i = 0; i < 2; i++)
        if (ips[i] && host)
          {
            if (dom && *dom)
              dk_buf_printf (&b, "%s\t%s.%s %s\n", ips[i], host, dom, host);
            else
              dk_buf_printf (&b, "%s\t%s\n", ips[i], host);
          }
      bool is_default = false;
      dk_json_bool (nv, "default_bridge", &is_default);
      if (!is_default)
        {
          if (ids == NULL)
            ids = ep_ids (c);
          for (char **o = ids; *o; o++)
            {
              if (!strcmp (*o, id))
                continue;
              cleanup_jv jv other = ep_load (c, *o);
              cleanup_jv jv onets = dk_json_get_kind (other, "networks", JV_KIND_OBJECT);
              cleanup_jv jv onv = dk_json_get (onets, jv_string_value (k));
              if (jv_get_kind (onv) == JV_KIND_OBJECT)
                {
                  member_line (&b, other, onv, dk_json_str (onv, "ip"));
                  member_line (&b, other, onv, dk_json_str (onv, "ip6"));
                }
            }
        }
      jv_free (k);
      jv_free (nv);
    }
  cleanup_free char *p = xasprintf ("%s/hosts", dir);
  int r = write_runtime_file (p, b.data, b.len, err);
  dk_buf_free (&b);
  return r;
}

int
files_refresh_network (struct ctx *c, const char *net, dk_err_t *err)
{
  cleanup_strv char **ids = ep_ids (c);
  for (char **id = ids; *id; id++)
    {
      cleanup_jv jv ep = ep_load (c, *id);
      cleanup_jv jv nets = dk_json_get_kind (ep, "networks", JV_KIND_OBJECT);
      cleanup_jv jv nv = dk_json_get (nets, net);
      if (jv_get_kind (nv) == JV_KIND_OBJECT && files_write_hosts (c, ep, err) < 0)
        return -1;
    }
  return 0;
}
