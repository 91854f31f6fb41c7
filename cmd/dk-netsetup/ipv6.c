/* IPv6 of the default bridge (--ipv6 with --fixed-cidr-v6 and
   --default-gateway-v6): address helpers and the sequential IPAM of the
   v6 subnet.  Allocations share EXECROOT/ipam/NET.json with the IPv4 ones,
   keyed by the address in its canonical text form. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "netsetup.h"

int
parse_ip6 (const char *s, struct in6_addr *out)
{
  return s && inet_pton (AF_INET6, s, out) == 1 ? 0 : -1;
}

int
parse_cidr6 (const char *s, struct in6_addr *addr, int *plen)
{
  const char *slash = s ? strchr (s, '/') : NULL;
  if (slash == NULL || slash - s >= INET6_ADDRSTRLEN)
    return -1;
  char ip[INET6_ADDRSTRLEN];
  memcpy (ip, s, slash - s);
  ip[slash - s] = '\0';
  char *end;
  errno = 0;
  long l = strtol (slash + 1, &end, 10);
  if (errno || *end || end == slash + 1 || l < 0 || l > 128 || parse_ip6 (ip, addr) < 0)
    return -1;
  *plen = (int)l;
  return 0;
}

char *
fmt_ip6 (const struct in6_addr *a)
{
  char b[INET6_ADDRSTRLEN];
  inet_ntop (AF_INET6, a, b, sizeof b);
  return xstrdup (b);
}

void
mask6 (struct in6_addr *a, int plen)
{
  for (int i = 0; i < 16; i++)
    {
      int bits = plen - 8 * i;
      a->s6_addr[i] &= bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
    }
}

bool
in_subnet6 (const struct in6_addr *a, const struct in6_addr *net, int plen)
{
  struct in6_addr x = *a, y = *net;
  mask6 (&x, plen);
  mask6 (&y, plen);
  return memcmp (&x, &y, sizeof x) == 0;
}

/* a + 1; false when it wrapped around. */
static bool
inc6 (struct in6_addr *a)
{
  for (int i = 15; i >= 0; i--)
    if (++a->s6_addr[i] != 0)
      return true;
  return false;
}

int
ipam_alloc6 (struct ctx *c, const struct net *n, const struct in6_addr *want, const char *owner,
             struct in6_addr *out, dk_err_t *err)
{
  cleanup_jv jv alloc = ipam_load (c, n->name);
  struct in6_addr net = n->subnet6;
  mask6 (&net, n->plen6);
  if (want)
    {
      cleanup_free char *s = fmt_ip6 (want);
      if (!in_subnet6 (want, &n->subnet6, n->plen6))
        return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                   "no configured subnet or ip-range contain the IP address %s", s);
      if (!memcmp (want, &net, sizeof net) || !memcmp (want, &n->gateway6, sizeof net)
          || jv_object_has (jv_copy (alloc), jv_string (s)))
        return dk_make_error_code (err, DK_ECODE_CONFLICT, 0, "Address already in use");
      alloc = jv_object_set (alloc, jv_string (s), jv_string (owner));
      *out = *want;
      return ipam_save (c, n->name, jv_copy (alloc), err);
    }
  /* lowest free address after the subnet's own (the subnet-router anycast
     address), skipping the gateway; at most 2^20 tried */
  struct in6_addr a = net;
  for (long tries = 0; tries < (1L << 20) && inc6 (&a) && in_subnet6 (&a, &net, n->plen6); tries++)
    {
      if (!memcmp (&a, &n->gateway6, sizeof a))
        continue;
      cleanup_free char *s = fmt_ip6 (&a);
      if (jv_object_has (jv_copy (alloc), jv_string (s)))
        continue;
      alloc = jv_object_set (alloc, jv_string (s), jv_string (owner));
      *out = a;
      return ipam_save (c, n->name, jv_copy (alloc), err);
    }
  return dk_make_error_code (err, DK_ECODE_UNAVAILABLE, 0,
                             "no available IPv6 addresses on this network's address pools: %s",
                             n->name);
}

int
ipam_release_key (struct ctx *c, const char *net, const char *key, dk_err_t *err)
{
  jv alloc = ipam_load (c, net);
  alloc = jv_object_delete (alloc, jv_string (key));
  return ipam_save (c, net, alloc, err);
}

/* A unique local /64 (RFC 4193: fd00::/8 and a random 40-bit global ID). */
static void
ula64 (struct in6_addr *a)
{
  memset (a, 0, sizeof *a);
  a->s6_addr[0] = 0xfd;
  random_bytes (a->s6_addr + 1, 5);
}

int
net6_configure (const struct daemon_cfg *d, struct net *n, const struct net *old,
                const char *fixed6, const char *dgw6, dk_err_t *err)
{
  n->v6 = false;
  n->options = jv_object_delete (n->options, jv_string ("dk.default_gateway_v6"));
  if (!d->ipv6)
    return 0; /* as Docker: the v6 flags mean nothing without --ipv6 */
  if (fixed6 == NULL && old->name && old->v6)
    {
      /* the subnet of the last init: a restart keeps its addresses */
      n->subnet6 = old->subnet6;
      n->plen6 = old->plen6;
    }
  else if (fixed6 == NULL)
    {
      /* as Docker 27: a unique local /64 when no subnet is given */
      ula64 (&n->subnet6);
      n->plen6 = 64;
    }
  else if (parse_cidr6 (fixed6, &n->subnet6, &n->plen6) < 0 || n->plen6 > 126 || n->plen6 < 1)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid --fixed-cidr-v6: %s", fixed6);
  mask6 (&n->subnet6, n->plen6);
  n->gateway6 = n->subnet6;
  inc6 (&n->gateway6);
  if (dgw6)
    {
      struct in6_addr g;
      if (parse_ip6 (dgw6, &g) < 0)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid --default-gateway-v6: %s",
                                   dgw6);
      n->options
          = jv_object_set (n->options, jv_string ("dk.default_gateway_v6"), jv_string (dgw6));
    }
  n->v6 = true;
  return 0;
}
