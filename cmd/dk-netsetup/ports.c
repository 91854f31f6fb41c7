/* Published ports: -p specs, -P, host port allocation and binding. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

/* A host address in its canonical text (IPv4 dotted, IPv6 RFC 5952), or
   NULL when s is neither. */
static char *
host_ip_canon (const char *s)
{
  uint32_t a;
  struct in6_addr a6;
  if (parse_ip4 (s, &a) == 0)
    return fmt_ip4 (a);
  if (strchr (s, ':') && parse_ip6 (s, &a6) == 0)
    return fmt_ip6 (&a6);
  return NULL;
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
  /* [IP:][hostPort:]containerPort: the ports are the last two fields, the
     rest is the IP (an IPv6 one bare or in brackets, as Docker's parser) */
  char *cp_s = strrchr (s, ':'), *hp_s = "", *ip_s = NULL;
  if (cp_s)
    {
      *cp_s++ = '\0';
      hp_s = strrchr (s, ':');
      if (hp_s)
        {
          *hp_s++ = '\0';
          ip_s = s;
        }
      else
        hp_s = s;
    }
  else
    cp_s = s;
  long hlo, hhi, clo, chi;
  if (parse_range (hp_s, strlen (hp_s), &hlo, &hhi) < 0
      || parse_range (cp_s, strlen (cp_s), &clo, &chi) < 0 || clo == 0)
    return bad_spec (spec, err);
  cleanup_free char *ips = NULL;
  if (ip_s && *ip_s)
    {
      size_t len = strlen (ip_s);
      if (ip_s[0] == '[' && len > 2 && ip_s[len - 1] == ']')
        ip_s[len - 1] = '\0', ip_s++;
      ips = host_ip_canon (ip_s);
      if (ips == NULL)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid IP address: %s", ip_s);
    }
  else
    ips = fmt_ip4 (default_ip);
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

/* A host address of a published port: IPv4 (ip, 0 = any) or IPv6 (a6,
   all zeroes = any). */
struct host_addr
{
  bool v6;
  uint32_t ip;
  struct in6_addr a6;
};

static struct host_addr
host_addr_of (const char *s)
{
  struct host_addr h = { .v6 = false };
  if (s && strchr (s, ':'))
    h.v6 = parse_ip6 (s, &h.a6) == 0;
  else
    parse_ip4 (s, &h.ip);
  return h;
}

static bool
host_addr_any (const struct host_addr *h)
{
  return h->v6 ? IN6_IS_ADDR_UNSPECIFIED (&h->a6) : h->ip == 0;
}

/* Two bindings of one port collide: the same address or a wildcard of its
   family, and 0.0.0.0 with any IPv6 one (on a network with IPv6 it binds
   [::] too). */
static bool
host_addr_clash (const struct host_addr *a, const struct host_addr *b)
{
  if (a->v6 != b->v6)
    return a->v6 ? host_addr_any (b) : host_addr_any (a);
  if (host_addr_any (a) || host_addr_any (b))
    return true;
  return a->v6 ? IN6_ARE_ADDR_EQUAL (&a->a6, &b->a6) : a->ip == b->ip;
}

struct used_port
{
  char proto[8];
  struct host_addr h;
  long port;
};

struct used_set
{
  struct used_port *v;
  size_t n;
};

static void
used_add (struct used_set *u, const char *proto, const struct host_addr *h, long port)
{
  u->v = xrealloc (u->v, (u->n + 1) * sizeof *u->v);
  snprintf (u->v[u->n].proto, sizeof u->v[u->n].proto, "%s", proto);
  u->v[u->n].h = *h;
  u->v[u->n++].port = port;
}

static bool
used_has (struct used_set *u, const char *proto, const struct host_addr *h, long port)
{
  for (size_t i = 0; i < u->n; i++)
    if (u->v[i].port == port && !strcmp (u->v[i].proto, proto) && host_addr_clash (&u->v[i].h, h))
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
            struct host_addr h = host_addr_of (dk_json_str (p, "host_ip"));
            int64_t hp = 0;
            if (dk_json_int (p, "host_port", &hp) && dk_json_str (p, "proto"))
              used_add (u, dk_json_str (p, "proto"), &h, hp);
            jv_free (p);
          }
        jv_free (k);
        jv_free (nv);
      }
    }
}

/* A listening socket for the userland proxy on h; -errno when taken.  An
   IPv6 socket is IPv6 only (the IPv4 side has its own socket). */
static int
bind_port (const char *proto, const struct host_addr *h, long port)
{
  int tcp = !strcmp (proto, "tcp");
  if (!tcp && strcmp (proto, "udp"))
    return -EPROTONOSUPPORT;
  int fd = socket (h->v6 ? AF_INET6 : AF_INET,
                   (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -errno;
  int one = 1;
  if (tcp)
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa
      = { .sin_family = AF_INET, .sin_port = htons (port), .sin_addr.s_addr = htonl (h->ip) };
  struct sockaddr_in6 sa6
      = { .sin6_family = AF_INET6, .sin6_port = htons (port), .sin6_addr = h->a6 };
  if (h->v6)
    setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  int b = h->v6 ? bind (fd, (struct sockaddr *)&sa6, sizeof sa6)
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
ports_assign (struct ctx *c, const char *self_id, jv req, bool bind, bool v6net, jv *out,
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
      struct host_addr h = host_addr_of (ips);
      bool every = !h.v6 && h.ip == 0; /* 0.0.0.0: [::] too */
      cleanup_free char *ipd = h.v6 ? xasprintf ("[%s]", ips) : xstrdup (ips);
      int64_t lo = 0, hi = 0, cp = 0;
      dk_json_int (m, "host_port", &lo);
      dk_json_int (m, "host_port_end", &hi);
      dk_json_int (m, "container_port", &cp);
      /* an IPv6 host address reaches an IPv4-only container only through
         the proxy: without it Docker leaves the binding out */
      if (h.v6 && !bind && !v6net)
        {
          fprintf (stderr,
                   "dk-netsetup: cannot map from IPv6 to an IPv4-only container because the "
                   "userland proxy is disabled: %s:%lld/%s\n",
                   ipd, (long long)lo, proto);
          continue;
        }
      bool ephemeral = lo == 0;
      if (ephemeral)
        lo = elo, hi = ehi;
      long got = 0;
      int last_errno = 0;
      bool bound6 = false, failed6 = false; /* failed6: the last try, on [::] */
      for (long p = lo; p <= hi && !got; p++)
        {
          if (used_has (&u, proto, &h, p))
            {
              last_errno = -1;
              continue;
            }
          if (bind && (!strcmp (proto, "tcp") || !strcmp (proto, "udp")))
            {
              int fd = bind_port (proto, &h, p);
              if (fd < 0)
                {
                  last_errno = -fd;
                  continue;
                }
              /* and on [::], as Docker 27's proxy (to the container's
                 IPv6 address, or to its IPv4 one when it has none); a
                 kernel without IPv6 has no [::] to bind */
              struct host_addr any6 = { .v6 = true, .a6 = IN6ADDR_ANY_INIT };
              int fd6 = every ? bind_port (proto, &any6, p) : -1;
              if (every && fd6 < 0 && (v6net || (fd6 != -EAFNOSUPPORT && fd6 != -EADDRNOTAVAIL)))
                {
                  close (fd);
                  last_errno = -fd6;
                  failed6 = true;
                  continue;
                }
              failed6 = false;
              bound6 = fd6 >= 0;
              int k = jv_array_length (jv_copy (res)); /* this one's index */
              fds[k] = fd;
              fds[n + k] = fd6;
            }
          got = p;
        }
      if (!got)
        {
          if (ephemeral)
            r = dk_make_error_code (err, DK_ECODE_UNAVAILABLE, 0,
                                    "no free host port for %s/%s in %ld-%ld", ipd, proto, elo, ehi);
          else if (last_errno == -1)
            r = dk_make_error_code (err, DK_ECODE_CONFLICT, 0,
                                    "Bind for %s:%lld failed: port is already allocated", ipd,
                                    (long long)lo);
          else
            r = dk_make_error_code (
                err, DK_ECODE_CONFLICT, 0, "failed to bind host port %s:%lld/%s: %s",
                failed6 ? "[::]" : ipd, (long long)lo, proto, strerror (last_errno));
          break;
        }
      used_add (&u, proto, &h, got);
      jv one = JV_OBJECT (jv_string ("container_port"), dk_json_int64 (cp), jv_string ("proto"),
                          jv_string (proto), jv_string ("host_ip"), jv_string (ips),
                          jv_string ("host_port"), dk_json_int64 (got));
      /* published on [::] too: by the proxy, or by the v6 DNAT of a network
         with IPv6 without it (Docker lists it as a binding of its own) */
      if (bound6 || (v6net && !bind && every))
        one = jv_object_set (one, jv_string ("host_ip6"), jv_string ("::"));
      res = jv_array_append (res, one);
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
  /* the [::] sockets follow the result's length */
  int m = jv_array_length (jv_copy (res));
  if (m < n)
    memmove (fds + m, fds + n, m * sizeof *fds);
  *out = res;
  *fdsp = fds;
  return 0;
}
