/* The default bridge (init) and the Linux bridge behind every network. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cleanup.h"
#include "netlink.h"
#include "netsetup.h"

struct used
{
  uint32_t a[512];
  int l[512];
  int n;
};

static void
collect (int index, int family, const void *addr, int plen, void *data)
{
  struct used *u = data;
  if (family != AF_INET || plen == 0 || u->n >= 512)
    return;
  uint32_t a;
  memcpy (&a, addr, 4);
  u->a[u->n] = ntohl (a);
  u->l[u->n++] = plen;
}

/* Docker's default pools: 172.17-31.0.0/16, then 192.168.0.0/20 steps. */
int
subnet_pick (struct ctx *c, struct dk_nl *nl, uint32_t *subnet, int *plen, dk_err_t *err)
{
  struct used u = { .n = 0 };
  if (dk_nl_addr_list (nl, AF_INET, 0, collect, &u, err) < 0
      || dk_nl_route_list (nl, AF_INET, collect, &u, err) < 0)
    return -1;
  cleanup_strv char **names = net_names (c);
  for (char **p = names; *p; p++)
    {
      struct net n;
      cleanup_error dk_err_t e = NULL;
      if (net_load (c, *p, &n, &e) == 0 && u.n < 512)
        {
          u.a[u.n] = n.subnet;
          u.l[u.n++] = n.plen;
        }
      net_free (&n);
    }
  for (int i = 0; i < 15 + 16; i++)
    {
      uint32_t cand = i < 15 ? (172u << 24 | (17u + i) << 16)
                             : (192u << 24 | 168u << 16 | (uint32_t)(i - 15) << 12);
      int cl = i < 15 ? 16 : 20;
      bool busy = false;
      for (int k = 0; k < u.n && !busy; k++)
        busy = overlaps (cand, cl, u.a[k], u.l[k]);
      if (!busy)
        {
          *subnet = cand;
          *plen = cl;
          return 0;
        }
    }
  return dk_make_error_code (err, DK_ECODE_UNAVAILABLE, 0,
                             "could not find an available, non-overlapping IPv4 address pool "
                             "among the defaults to assign to the network");
}

struct first_addr
{
  uint32_t a;
  int plen;
};

static void
first_cb (int index, int family, const void *addr, int plen, void *data)
{
  struct first_addr *f = data;
  if (family == AF_INET && f->plen == 0)
    {
      uint32_t a;
      memcpy (&a, addr, 4);
      f->a = ntohl (a);
      f->plen = plen;
    }
}

static void
has_cb (int index, int family, const void *addr, int plen, void *data)
{
  struct first_addr *f = data;
  uint32_t a;
  if (family != AF_INET)
    return;
  memcpy (&a, addr, 4);
  if (ntohl (a) == f->a && plen == f->plen)
    f->plen = -1;
}

/* Creates (or adopts) the bridge with its address, up, and its rules. */
int
bridge_ensure (struct ctx *c, const struct daemon_cfg *d, struct net *n, dk_err_t *err)
{
  cleanup_nl struct dk_nl *nl = NULL;
  if (dk_nl_open (&nl, err) < 0)
    return -1;
  int idx = dk_nl_link_index (nl, n->bridge, err);
  if (idx < 0)
    return -1;
  if (idx == 0)
    {
      if (n->user_bridge)
        return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "bridge %s not found", n->bridge);
      if (dk_nl_bridge_add (nl, n->bridge, n->mtu, err) < 0)
        return -1;
      idx = dk_nl_link_index (nl, n->bridge, err);
      if (idx <= 0)
        return idx < 0 ? -1 : dk_make_error (err, 0, "bridge %s vanished", n->bridge);
    }
  struct first_addr f = { n->gateway, n->plen };
  if (dk_nl_addr_list (nl, AF_INET, idx, has_cb, &f, err) < 0)
    return -1;
  if (f.plen != -1)
    {
      uint32_t a = htonl (n->gateway);
      if (dk_nl_addr_add (nl, idx, AF_INET, &a, n->plen, err) < 0)
        return dk_error_wrap (err, "bridge %s", n->bridge);
    }
  if (dk_nl_link_set (nl, idx, true, 0, n->user_bridge ? 0 : n->mtu, err) < 0)
    return -1;
  if (d->ip_forward && dk_sysctl_set ("net/ipv4/ip_forward", "1", err) < 0)
    return -1;
  if (n->v6)
    {
      /* the gateway address, without duplicate address detection (it
         would keep the address tentative for a second or more) */
      cleanup_free char *k = xasprintf ("net/ipv6/conf/%s/disable_ipv6", n->bridge);
      if (dk_sysctl_set (k, "0", err) < 0
          || dk_nl_addr_add (nl, idx, AF_INET6, &n->gateway6, n->plen6, err) < 0)
        return dk_error_wrap (err, "bridge %s", n->bridge);
      if (d->ip_forward && dk_sysctl_set ("net/ipv6/conf/all/forwarding", "1", err) < 0)
        return -1;
    }
  if (d->iptables)
    {
      /* bridged traffic through iptables, as Docker's br_netfilter setup */
      cleanup_error dk_err_t e = NULL;
      dk_sysctl_set ("net/bridge/bridge-nf-call-iptables", "1", &e);
      if (n->v6 && d->ip6tables)
        dk_sysctl_set ("net/bridge/bridge-nf-call-ip6tables", "1", &e);
    }
  if (!d->userland_proxy)
    {
      cleanup_free char *k = xasprintf ("net/ipv4/conf/%s/route_localnet", n->bridge);
      if (dk_sysctl_set (k, "1", err) < 0)
        return -1;
    }
  return rules_network (d, n, true, err);
}

void
random_bytes (void *buf, size_t n)
{
  for (size_t got = 0; got < n;)
    {
      ssize_t r = getrandom ((char *)buf + got, n - got, 0);
      if (r < 0 && errno != EINTR)
        abort ();
      if (r > 0)
        got += r;
    }
}

char *
random_id (void)
{
  unsigned char b[32];
  random_bytes (b, sizeof b);
  char *s = xmalloc (65);
  for (int i = 0; i < 32; i++)
    sprintf (s + 2 * i, "%02x", b[i]);
  return s;
}

char *
now_rfc3339 (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r (&ts.tv_sec, &tm);
  char b[40];
  strftime (b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
  return xasprintf ("%s.%09ldZ", b, ts.tv_nsec);
}

static int
bool_opt (const char *name, const char *v, bool *out, dk_err_t *err)
{
  if (parse_bool (v, out) < 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid value for --%s: %s", name, v);
  return 0;
}

/* The default network's addresses: --bip, the bridge's own address, the
   saved one, or the first free pool. */
static int
init_addresses (struct ctx *c, struct net *n, const struct net *old, const char *bridge,
                const char *bip, const char *fixed, const char *dgw, dk_err_t *err)
{
  cleanup_nl struct dk_nl *nl = NULL;
  if (dk_nl_open (&nl, err) < 0)
    return -1;
  if (bip)
    {
      if (parse_cidr4 (bip, &n->gateway, &n->plen) < 0 || n->plen > 30)
        {
          dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid --bip: %s", bip);
          return -1;
        }
      n->subnet = n->gateway & mask4 (n->plen);
    }
  else
    {
      struct first_addr f = { 0, 0 };
      int idx = dk_nl_link_index (nl, bridge, err);
      if (idx < 0 || (idx > 0 && dk_nl_addr_list (nl, AF_INET, idx, first_cb, &f, err) < 0))
        return -1;
      if (f.plen > 0)
        {
          n->gateway = f.a;
          n->plen = f.plen;
          n->subnet = f.a & mask4 (f.plen);
        }
      else if (old->name && old->plen)
        {
          n->gateway = old->gateway;
          n->plen = old->plen;
          n->subnet = old->subnet;
        }
      else
        {
          if (subnet_pick (c, nl, &n->subnet, &n->plen, err) < 0)
            return -1;
          n->gateway = n->subnet + 1;
        }
    }
  n->range = n->subnet;
  n->range_plen = n->plen;
  if (fixed)
    {
      if (parse_cidr4 (fixed, &n->range, &n->range_plen) < 0 || n->range_plen < n->plen
          || !in_subnet (n->range, n->subnet, n->plen))
        {
          dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid --fixed-cidr: %s", fixed);
          return -1;
        }
      n->range &= mask4 (n->range_plen);
    }
  if (dgw)
    {
      uint32_t g;
      if (parse_ip4 (dgw, &g) < 0)
        {
          dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid --default-gateway: %s", dgw);
          return -1;
        }
      n->options = jv_object_set (n->options, jv_string ("dk.default_gateway"), jv_string (dgw));
    }
  return 0;
}

/* A restart with another --bip or --bridge: the old address and the rules
   of the old subnet go (the old bridge itself stays, as with Docker). */
static int
forget_old (const struct daemon_cfg *d, const struct net *old, const struct net *n, dk_err_t *err)
{
  if (old->name == NULL || old->plen == 0)
    return 0;
  bool same_br = !strcmp (old->bridge, n->bridge);
  bool same4 = same_br && old->gateway == n->gateway && old->plen == n->plen;
  bool same6 = !old->v6
               || (same_br && n->v6 && old->plen6 == n->plen6
                   && !memcmp (&old->gateway6, &n->gateway6, sizeof n->gateway6));
  if (same4 && same6)
    return 0;
  cleanup_nl struct dk_nl *nl = NULL;
  if (dk_nl_open (&nl, err) < 0)
    return -1;
  int idx = dk_nl_link_index (nl, old->bridge, err);
  if (idx < 0)
    return -1;
  if (!same6 && idx > 0 && dk_nl_addr_del (nl, idx, AF_INET6, &old->gateway6, old->plen6, err) < 0)
    return -1;
  cleanup_error dk_err_t e = NULL;
  if (same4)
    {
      rules_network6 (d, old, false, &e); /* the old v6 subnet's rules */
      return 0;
    }
  rules_network (d, old, false, &e);
  uint32_t a = htonl (old->gateway);
  if (idx > 0 && dk_nl_addr_del (nl, idx, AF_INET, &a, old->plen, err) < 0)
    return -1;
  return 0;
}

int
cmd_init (struct ctx *c, int argc, char **argv, dk_err_t *err)
{
  static const struct option opts[] = { { "bridge", 1, 0, 'b' },
                                        { "bip", 1, 0, 'B' },
                                        { "fixed-cidr", 1, 0, 'f' },
                                        { "fixed-cidr-v6", 1, 0, 'F' },
                                        { "default-gateway", 1, 0, 'g' },
                                        { "mtu", 1, 0, 'm' },
                                        { "icc", 1, 0, 'i' },
                                        { "ip", 1, 0, 'I' },
                                        { "ip-forward", 1, 0, 'w' },
                                        { "ip-masq", 1, 0, 'q' },
                                        { "iptables", 1, 0, 't' },
                                        { "ip6tables", 1, 0, 'T' },
                                        { "ipv6", 1, 0, '6' },
                                        { "userland-proxy", 1, 0, 'u' },
                                        { "default-gateway-v6", 1, 0, 'G' },
                                        { 0, 0, 0, 0 } };
  struct daemon_cfg d
      = { .iptables = true, .ip6tables = true, .ip_forward = true, .userland_proxy = true };
  const char *bridge = "docker0", *bip = NULL, *fixed = NULL, *dgw = NULL;
  const char *fixed6 = NULL, *dgw6 = NULL;
  bool icc = true, masq = true;
  long mtu = 0;
  int o;
  optind = 1;
  while ((o = getopt_long (argc, argv, "b:", opts, NULL)) != -1)
    {
      int r = 0;
      switch (o)
        {
        case 'b':
          bridge = optarg;
          break;
        case 'B':
          bip = optarg;
          break;
        case 'f':
          fixed = optarg;
          break;
        case 'g':
          dgw = optarg;
          break;
        case 'F':
          fixed6 = optarg;
          break;
        case 'G':
          dgw6 = optarg;
          break;
        case 'm':
          mtu = strtol (optarg, NULL, 10);
          if (mtu < 68 || mtu > 65535)
            return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid MTU: %s", optarg);
          break;
        case 'i':
          r = bool_opt ("icc", optarg, &icc, err);
          break;
        case 'I':
          if (parse_ip4 (optarg, &d.default_bind_ip) < 0)
            return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid --ip: %s", optarg);
          break;
        case 'w':
          r = bool_opt ("ip-forward", optarg, &d.ip_forward, err);
          break;
        case 'q':
          r = bool_opt ("ip-masq", optarg, &masq, err);
          break;
        case 't':
          r = bool_opt ("iptables", optarg, &d.iptables, err);
          break;
        case 'T':
          r = bool_opt ("ip6tables", optarg, &d.ip6tables, err);
          break;
        case '6':
          r = bool_opt ("ipv6", optarg, &d.ipv6, err);
          break;
        case 'u':
          r = bool_opt ("userland-proxy", optarg, &d.userland_proxy, err);
          break;
        default:
          return dk_make_error_code (err, DK_ECODE_INVALID, 0, "init: bad option");
        }
      if (r < 0)
        return -1;
    }
  if (ctx_lock (c, err) < 0)
    return -1;
  bool none = !strcmp (bridge, "none");
  d.default_bridge = none ? NULL : xstrdup (bridge);
  int r = daemon_save (c, &d, err);
  if (r < 0 || none)
    {
      daemon_free (&d);
      if (r == 0)
        dk_jsonl_write (stdout, JV_OBJECT (jv_string ("type"), jv_string ("result"),
                                           jv_string ("bridge"), jv_null ()));
      return r;
    }
  struct net n = { .labels = jv_object (), .options = jv_object () };
  n.name = xstrdup ("bridge");
  n.bridge = xstrdup (bridge);
  n.is_default = true;
  n.icc = icc;
  n.masq = masq;
  n.mtu = (unsigned)mtu;
  n.user_bridge = strcmp (bridge, "docker0") != 0;
  struct net old;
  cleanup_error dk_err_t e = NULL;
  if (net_load (c, "bridge", &old, &e) == 0)
    {
      n.id = xstrdup (old.id);
      n.created = xstrdup (old.created);
    }
  else
    {
      n.id = random_id ();
      n.created = now_rfc3339 ();
    }
  if (init_addresses (c, &n, &old, bridge, bip, fixed, dgw, err) < 0
      || net6_configure (&d, &n, &old, fixed6, dgw6, err) < 0 || forget_old (&d, &old, &n, err) < 0
      || bridge_ensure (c, &d, &n, err) < 0 || net_save (c, &n, err) < 0)
    r = -1;
  else
    {
      cleanup_free char *sub = fmt_ip4 (n.subnet);
      cleanup_free char *gw = fmt_ip4 (n.gateway);
      jv res
          = JV_OBJECT (jv_string ("type"), jv_string ("result"), jv_string ("bridge"),
                       jv_string (n.bridge), jv_string ("subnet"),
                       jv_string_fmt ("%s/%d", sub, n.plen), jv_string ("gateway"), jv_string (gw));
      if (n.v6)
        {
          cleanup_free char *s6 = fmt_ip6 (&n.subnet6);
          cleanup_free char *g6 = fmt_ip6 (&n.gateway6);
          res = jv_object_set (res, jv_string ("subnet6"), jv_string_fmt ("%s/%d", s6, n.plen6));
          res = jv_object_set (res, jv_string ("gateway6"), jv_string (g6));
        }
      dk_jsonl_write (stdout, res);
      nspool_refill (c); /* a namespace ready for the first connect */
    }
  net_free (&n);
  net_free (&old);
  daemon_free (&d);
  return r;
}
