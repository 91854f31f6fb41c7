/* Published ports: -p specs, -P, host port allocation and binding. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "netlink.h"
#include "netsetup.h"

static int
bad_spec (const char *spec, dk_err_t *err)
{
  return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid port specification: \"%s\"", spec);
}

/* "N" or "N-M" into lo/hi; 0 for empty. */
static int
parse_range (const char *s, size_t len, long *lo, long *hi)
{
  *lo = *hi = 0;
  if (len == 0)
    return 0;
  char buf[32];
  if (len >= sizeof buf)
    return -1;
  memcpy (buf, s, len);
  buf[len] = '\0';
  char *end;
  errno = 0;
  *lo = strtol (buf, &end, 10);
  if (errno || end == buf)
    return -1;
  *hi = *lo;
  if (*end == '-')
    {
      char *e2;
      *hi = strtol (end + 1, &e2, 10);
      if (e2 == end + 1 || *e2)
        return -1;
    }
  else if (*end)
    return -1;
  if (*lo < 1 || *hi > 65535 || *lo > *hi)
    return -1;
  return 0;
}

static jv
mapping (const char *proto, const char *ip, long hp_lo, long hp_hi, long cp)
{
  return JV_OBJECT (jv_string ("proto"), jv_string (proto), jv_string ("host_ip"), jv_string (ip),
                    jv_string ("host_port"), dk_json_int64 (hp_lo), jv_string ("host_port_end"),
                    dk_json_int64 (hp_hi), jv_string ("container_port"), dk_json_int64 (cp));
}

static int
parse_one (const char *spec, uint32_t default_ip, jv *out, dk_err_t *err)
{
  cleanup_free char *s = xstrdup (spec);
  const char *proto = "tcp";
  char *slash = strrchr (s, '/');
  if (slash)
    {
      *slash = '\0';
      proto = slash + 1;
      if (strcmp (proto, "tcp") && strcmp (proto, "udp") && strcmp (proto, "sctp"))
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid proto: %s", proto);
    }
  int colons = 0;
  for (const char *q = s; *q; q++)
    colons += *q == ':';
  if (s[0] == '[' || colons > 2)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "IPv6 host addresses are not supported yet: \"%s\"", spec);
  char *parts[3] = { NULL, NULL, NULL };
  int n = 0;
  char *p = s;
  for (char *c = strchr (p, ':'); c && n < 2; c = strchr (p, ':'))
    {
      *c = '\0';
      parts[n++] = p;
      p = c + 1;
    }
  if (strchr (p, ':'))
    return bad_spec (spec, err);
  parts[n++] = p;
  const char *ip_s = n == 3 ? parts[0] : NULL;
  const char *hp_s = n >= 2 ? parts[n - 2] : "";
  const char *cp_s = parts[n - 1];
  long hlo, hhi, clo, chi;
  if (parse_range (hp_s, strlen (hp_s), &hlo, &hhi) < 0
      || parse_range (cp_s, strlen (cp_s), &clo, &chi) < 0 || clo == 0)
    return bad_spec (spec, err);
  uint32_t ip = default_ip;
  if (ip_s && *ip_s && parse_ip4 (ip_s, &ip) < 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid IP address: %s", ip_s);
  cleanup_free char *ips = fmt_ip4 (ip);
  if (hlo && hhi - hlo != chi - clo && clo != chi)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "invalid ranges specified for container and host Ports: %s", spec);
  for (long cp = clo; cp <= chi; cp++)
    {
      long a = 0, b = 0;
      if (hlo && clo == chi)
        a = hlo, b = hhi; /* one container port, any host port of the range */
      else if (hlo)
        a = b = hlo + (cp - clo);
      *out = jv_array_append (*out, mapping (proto, ips, a, b, cp));
    }
  return 0;
}

int
ports_parse (jv specs, jv exposes, bool publish_all, uint32_t default_ip, jv *out, dk_err_t *err)
{
  jv res = jv_array ();
  int r = 0;
  jv_array_foreach (specs, i, s)
  {
    if (r == 0 && jv_get_kind (s) == JV_KIND_STRING)
      r = parse_one (jv_string_value (s), default_ip, &res, err);
    jv_free (s);
  }
  if (r == 0 && publish_all)
    jv_array_foreach (exposes, i, s)
    {
      if (r == 0 && jv_get_kind (s) == JV_KIND_STRING)
        {
          const char *v = jv_string_value (s);
          /* already published explicitly: -p wins */
          cleanup_free char *spec = xstrdup (v);
          jv one = jv_array ();
          r = parse_one (spec, default_ip, &one, err);
          jv_array_foreach (one, k, m)
          {
            bool dup = false;
            jv_array_foreach (res, j, x)
            {
              int64_t a, b;
              if (dk_json_int (x, "container_port", &a) && dk_json_int (m, "container_port", &b)
                  && a == b && !strcmp (dk_json_str (x, "proto"), dk_json_str (m, "proto")))
                dup = true;
              jv_free (x);
            }
            if (!dup)
              res = jv_array_append (res, jv_copy (m));
            jv_free (m);
          }
          jv_free (one);
        }
      jv_free (s);
    }
  if (r < 0)
    {
      jv_free (res);
      return -1;
    }
  *out = res;
  return 0;
}

struct used_port
{
  char proto[8];
  uint32_t ip;
  long port;
};

struct used_set
{
  struct used_port *v;
  size_t n;
};

static void
used_add (struct used_set *u, const char *proto, uint32_t ip, long port)
{
  u->v = xrealloc (u->v, (u->n + 1) * sizeof *u->v);
  snprintf (u->v[u->n].proto, sizeof u->v[u->n].proto, "%s", proto);
  u->v[u->n].ip = ip;
  u->v[u->n++].port = port;
}

static bool
used_has (struct used_set *u, const char *proto, uint32_t ip, long port)
{
  for (size_t i = 0; i < u->n; i++)
    if (u->v[i].port == port && !strcmp (u->v[i].proto, proto)
        && (u->v[i].ip == ip || u->v[i].ip == 0 || ip == 0))
      return true;
  return false;
}

static void
collect_used (struct ctx *c, struct used_set *u)
{
  cleanup_strv char **ids = ep_ids (c);
  for (char **id = ids; *id; id++)
    {
      cleanup_jv jv ep = ep_load (c, *id);
      cleanup_jv jv nets = dk_json_get_kind (ep, "networks", JV_KIND_OBJECT);
      if (!jv_is_valid (nets))
        continue;
      jv_object_foreach (nets, k, nv)
      {
        cleanup_jv jv ports = dk_json_get_kind (nv, "ports", JV_KIND_ARRAY);
        if (jv_is_valid (ports))
          jv_array_foreach (ports, i, p)
          {
            uint32_t ip = 0;
            int64_t hp = 0;
            parse_ip4 (dk_json_str (p, "host_ip"), &ip);
            if (dk_json_int (p, "host_port", &hp) && dk_json_str (p, "proto"))
              used_add (u, dk_json_str (p, "proto"), ip, hp);
            jv_free (p);
          }
        jv_free (k);
        jv_free (nv);
      }
    }
}

/* A listening socket for the userland proxy; -errno when taken.  v6: on
   [::] (IPv6 only, the IPv4 side has its own socket). */
static int
bind_port (const char *proto, uint32_t ip, long port, bool v6)
{
  int tcp = !strcmp (proto, "tcp");
  if (!tcp && strcmp (proto, "udp"))
    return -EPROTONOSUPPORT;
  int fd = socket (v6 ? AF_INET6 : AF_INET,
                   (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -errno;
  int one = 1;
  if (tcp)
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa
      = { .sin_family = AF_INET, .sin_port = htons (port), .sin_addr.s_addr = htonl (ip) };
  struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6, .sin6_port = htons (port) };
  if (v6)
    setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  int b = v6 ? bind (fd, (struct sockaddr *)&sa6, sizeof sa6)
             : bind (fd, (struct sockaddr *)&sa, sizeof sa);
  if (b < 0 || (tcp && listen (fd, 128) < 0))
    {
      int e = errno;
      close (fd);
      return -e;
    }
  return fd;
}

int
ports_assign (struct ctx *c, const char *self_id, jv req, bool bind, bool bind6, jv *out,
              int **fdsp, dk_err_t *err)
{
  struct used_set u = { NULL, 0 };
  collect_used (c, &u);
  long elo = 32768, ehi = 60999;
  char buf[64];
  cleanup_error dk_err_t e = NULL;
  if (dk_sysctl_get ("net/ipv4/ip_local_port_range", buf, sizeof buf, &e) == 0)
    sscanf (buf, "%ld %ld", &elo, &ehi);
  int n = dk_json_len (req);
  int *fds = xmalloc ((n > 0 ? 2 * n : 1) * sizeof *fds);
  for (int i = 0; i < 2 * n; i++)
    fds[i] = -1;
  jv res = jv_array ();
  int r = 0;
  for (int i = 0; i < n && r == 0; i++)
    {
      cleanup_jv jv m = dk_json_at (req, i);
      const char *proto = dk_json_str (m, "proto");
      const char *ips = dk_json_str (m, "host_ip");
      uint32_t ip = 0;
      parse_ip4 (ips, &ip);
      int64_t lo = 0, hi = 0, cp = 0;
      dk_json_int (m, "host_port", &lo);
      dk_json_int (m, "host_port_end", &hi);
      dk_json_int (m, "container_port", &cp);
      bool ephemeral = lo == 0;
      if (ephemeral)
        lo = elo, hi = ehi;
      long got = 0;
      int last_errno = 0;
      for (long p = lo; p <= hi && !got; p++)
        {
          if (used_has (&u, proto, ip, p))
            {
              last_errno = -1;
              continue;
            }
          if (bind && (!strcmp (proto, "tcp") || !strcmp (proto, "udp")))
            {
              int fd = bind_port (proto, ip, p, false);
              if (fd < 0)
                {
                  last_errno = -fd;
                  continue;
                }
              /* and on [::] for a network with IPv6, as Docker */
              bool want6 = bind6 && ip == 0;
              int fd6 = want6 ? bind_port (proto, 0, p, true) : -1;
              if (want6 && fd6 < 0)
                {
                  close (fd);
                  last_errno = -fd6;
                  continue;
                }
              fds[i] = fd;
              fds[n + i] = fd6;
            }
          got = p;
        }
      if (!got)
        {
          if (ephemeral)
            r = dk_make_error_code (err, DK_ECODE_UNAVAILABLE, 0,
                                    "no free host port for %s/%s in %ld-%ld", ips, proto, elo, ehi);
          else if (last_errno == -1)
            r = dk_make_error_code (err, DK_ECODE_CONFLICT, 0,
                                    "Bind for %s:%lld failed: port is already allocated", ips,
                                    (long long)lo);
          else
            r = dk_make_error_code (err, DK_ECODE_CONFLICT, 0,
                                    "failed to bind host port %s:%lld/%s: %s", ips, (long long)lo,
                                    proto, strerror (last_errno));
          break;
        }
      used_add (&u, proto, ip, got);
      res = jv_array_append (res, JV_OBJECT (jv_string ("container_port"), dk_json_int64 (cp),
                                             jv_string ("proto"), jv_string (proto),
                                             jv_string ("host_ip"), jv_string (ips),
                                             jv_string ("host_port"), dk_json_int64 (got)));
    }
  free (u.v);
  (void)self_id;
  if (r < 0)
    {
      for (int i = 0; i < 2 * n; i++)
        if (fds[i] >= 0)
          close (fds[i]);
      free (fds);
      jv_free (res);
      return -1;
    }
  *out = res;
  *fdsp = fds;
  return 0;
}
