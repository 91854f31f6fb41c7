/* User-defined bridge networks: network-create, -rm, -ls, -inspect. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include <unistd.h>

#include "cleanup.h"
#include "netlink.h"
#include "netsetup.h"

static int
kv_set (jv *obj, const char *kv, dk_err_t *err)
{
  const char *eq = strchr (kv, '=');
  if (eq == NULL || eq == kv)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid key=value: %s", kv);
  *obj = jv_object_set (*obj, jv_string_sized (kv, eq - kv), jv_string (eq + 1));
  return 0;
}

static int
check_overlap (struct ctx *c, const struct net *n, dk_err_t *err)
{
  cleanup_strv char **names = net_names (c);
  for (char **p = names; *p; p++)
    {
      struct net o;
      cleanup_error dk_err_t e = NULL;
      bool clash = net_load (c, *p, &o, &e) == 0 && overlaps (o.subnet, o.plen, n->subnet, n->plen);
      if (!clash && o.v6 && n->v6)
        clash = in_subnet6 (&o.subnet6, &n->subnet6, n->plen6)
                || in_subnet6 (&n->subnet6, &o.subnet6, o.plen6);
      net_free (&o);
      if (clash)
        return dk_make_error_code (err, DK_ECODE_FORBIDDEN, 0,
                                   "invalid pool request: Pool overlaps with other one on this "
                                   "address space");
    }
  return 0;
}

static int
opt_bool (jv opts, const char *key, bool *out, dk_err_t *err)
{
  const char *v = dk_json_str (opts, key);
  if (v && parse_bool (v, out) < 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid value for %s: %s", key, v);
  return 0;
}

/* The IPv6 subnet and gateway of a user network (--ipv6 --subnet V6). */
static int
create6 (struct net *n, const char *subnet6, const char *gw6, dk_err_t *err)
{
  if (subnet6 == NULL)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "--ipv6 needs an IPv6 --subnet (there is no default IPv6 pool)");
  if (parse_cidr6 (subnet6, &n->subnet6, &n->plen6) < 0 || n->plen6 > 126 || n->plen6 < 1)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid subnet %s", subnet6);
  struct in6_addr m = n->subnet6;
  mask6 (&m, n->plen6);
  if (memcmp (&m, &n->subnet6, sizeof m))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid subnet %s: host bits set",
                               subnet6);
  n->gateway6 = n->subnet6;
  n->gateway6.s6_addr[15] |= 1;
  if (gw6
      && (parse_ip6 (gw6, &n->gateway6) < 0 || !in_subnet6 (&n->gateway6, &n->subnet6, n->plen6)))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "no matching subnet for gateway %s", gw6);
  n->v6 = true;
  return 0;
}

static int
create (struct ctx *c, struct net *n, const char *subnet, const char *gw, const char *range,
        bool ipv6, const char *subnet6, const char *gw6, dk_err_t *err)
{
  if (!ipv6 && (subnet6 || gw6))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "an IPv6 subnet or gateway needs --ipv6");
  if (ipv6 && create6 (n, subnet6, gw6, err) < 0)
    return -1;
  struct daemon_cfg d = { 0 };
  cleanup_error dk_err_t e = NULL;
  if (net_load (c, n->name, &(struct net){ 0 }, &e) == 0 || !strcmp (n->name, "host")
      || !strcmp (n->name, "none"))
    return dk_make_error_code (err, DK_ECODE_CONFLICT, 0, "network with name %s already exists",
                               n->name);
  cleanup_nl struct dk_nl *nl = NULL;
  if (dk_nl_open (&nl, err) < 0)
    return -1;
  if (subnet)
    {
      if (parse_cidr4 (subnet, &n->subnet, &n->plen) < 0 || n->plen > 30)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid subnet %s", subnet);
      if ((n->subnet & mask4 (n->plen)) != n->subnet)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                   "invalid subnet %s: it should be %s/%d", subnet,
                                   fmt_ip4 (n->subnet & mask4 (n->plen)), n->plen);
      if (check_overlap (c, n, err) < 0)
        return -1;
    }
  else if (subnet_pick (c, nl, &n->subnet, &n->plen, err) < 0)
    return -1;
  else if (n->v6 && check_overlap (c, n, err) < 0)
    return -1;
  n->gateway = n->subnet + 1;
  if (gw && (parse_ip4 (gw, &n->gateway) < 0 || !in_subnet (n->gateway, n->subnet, n->plen)))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "no matching subnet for gateway %s", gw);
  n->range = n->subnet;
  n->range_plen = n->plen;
  if (range
      && (parse_cidr4 (range, &n->range, &n->range_plen) < 0 || n->range_plen < n->plen
          || !in_subnet (n->range, n->subnet, n->plen)))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "no matching subnet for range %s", range);
  const char *br = dk_json_str (n->options, "com.docker.network.bridge.name");
  n->bridge = br ? xstrdup (br) : xasprintf ("br-%.12s", n->id);
  if (strlen (n->bridge) > 15)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "bridge name too long: %s", n->bridge);
  const char *mtu = dk_json_str (n->options, "com.docker.network.driver.mtu");
  if (mtu)
    n->mtu = (unsigned)strtoul (mtu, NULL, 10);
  if (opt_bool (n->options, "com.docker.network.bridge.enable_icc", &n->icc, err) < 0
      || opt_bool (n->options, "com.docker.network.bridge.enable_ip_masquerade", &n->masq, err) < 0)
    return -1;
  if (br && dk_nl_link_index (nl, br, &e) > 0)
    n->user_bridge = true; /* an existing bridge is adopted and left in place */
  daemon_load (c, &d, err);
  int r = bridge_ensure (c, &d, n, err);
  if (r == 0)
    r = net_save (c, n, err);
  if (r < 0)
    {
      rules_network (&d, n, false, &e);
      if (!n->user_bridge)
        dk_nl_link_del (nl, n->bridge, &e);
    }
  daemon_free (&d);
  return r;
}

/* Engine API Network object. */
static jv
inspect (struct ctx *c, const struct net *n)
{
  cleanup_free char *sub = fmt_ip4 (n->subnet);
  cleanup_free char *gw = fmt_ip4 (n->gateway);
  jv cfg = JV_OBJECT (jv_string ("Subnet"), jv_string_fmt ("%s/%d", sub, n->plen),
                      jv_string ("Gateway"), jv_string (gw));
  if (n->range != n->subnet || n->range_plen != n->plen)
    {
      cleanup_free char *r = fmt_ip4 (n->range);
      cfg = jv_object_set (cfg, jv_string ("IPRange"), jv_string_fmt ("%s/%d", r, n->range_plen));
    }
  jv containers = jv_object ();
  cleanup_strv char **ids = ep_ids (c);
  for (char **id = ids; *id; id++)
    {
      cleanup_jv jv ep = ep_load (c, *id);
      cleanup_jv jv nets = dk_json_get_kind (ep, "networks", JV_KIND_OBJECT);
      cleanup_jv jv nv = dk_json_get (nets, n->name);
      if (jv_get_kind (nv) != JV_KIND_OBJECT)
        continue;
      int64_t plen = 0;
      dk_json_int (nv, "prefix_len", &plen);
      const char *name = dk_json_str (ep, "name"), *epid = dk_json_str (nv, "endpoint_id");
      const char *mac = dk_json_str (nv, "mac");
      const char *ip6 = dk_json_str (nv, "ip6");
      int64_t plen6 = 0;
      dk_json_int (nv, "prefix_len6", &plen6);
      jv o = JV_OBJECT (jv_string ("Name"), jv_string (name ? name : ""), jv_string ("EndpointID"),
                        jv_string (epid ? epid : ""), jv_string ("MacAddress"),
                        jv_string (mac ? mac : ""), jv_string ("IPv4Address"),
                        jv_string_fmt ("%s/%d", dk_json_str (nv, "ip"), (int)plen),
                        jv_string ("IPv6Address"),
                        ip6 ? jv_string_fmt ("%s/%d", ip6, (int)plen6) : jv_string (""));
      containers = jv_object_set (containers, jv_string (*id), o);
    }
  jv opts = jv_copy (n->options);
  opts = jv_object_delete (opts, jv_string ("dk.default_gateway"));
  opts = jv_object_delete (opts, jv_string ("dk.default_gateway_v6"));
  if (n->is_default)
    {
      opts = jv_object_set (opts, jv_string ("com.docker.network.bridge.default_bridge"),
                            jv_string ("true"));
      opts = jv_object_set (opts, jv_string ("com.docker.network.bridge.enable_icc"),
                            jv_string (n->icc ? "true" : "false"));
      opts = jv_object_set (opts, jv_string ("com.docker.network.bridge.enable_ip_masquerade"),
                            jv_string (n->masq ? "true" : "false"));
      opts = jv_object_set (opts, jv_string ("com.docker.network.bridge.name"),
                            jv_string (n->bridge));
      opts = jv_object_set (opts, jv_string ("com.docker.network.driver.mtu"),
                            jv_string_fmt ("%u", n->mtu ? n->mtu : 1500));
    }
  jv o = jv_object ();
  o = jv_object_set (o, jv_string ("Name"), jv_string (n->name));
  o = jv_object_set (o, jv_string ("Id"), jv_string (n->id));
  o = jv_object_set (o, jv_string ("Created"), jv_string (n->created));
  o = jv_object_set (o, jv_string ("Scope"), jv_string ("local"));
  o = jv_object_set (o, jv_string ("Driver"), jv_string ("bridge"));
  o = jv_object_set (o, jv_string ("EnableIPv4"), jv_true ());
  o = jv_object_set (o, jv_string ("EnableIPv6"), jv_bool (n->v6));
  jv cfgs = JV_ARRAY (cfg);
  if (n->v6)
    {
      cleanup_free char *s6 = fmt_ip6 (&n->subnet6);
      cleanup_free char *g6 = fmt_ip6 (&n->gateway6);
      cfgs = jv_array_append (cfgs, JV_OBJECT (jv_string ("Subnet"),
                                               jv_string_fmt ("%s/%d", s6, n->plen6),
                                               jv_string ("Gateway"), jv_string (g6)));
    }
  o = jv_object_set (o, jv_string ("IPAM"),
                     JV_OBJECT (jv_string ("Driver"), jv_string ("default"), jv_string ("Options"),
                                jv_null (), jv_string ("Config"), cfgs));
  o = jv_object_set (o, jv_string ("Internal"), jv_bool (n->internal));
  o = jv_object_set (o, jv_string ("Attachable"), jv_false ());
  o = jv_object_set (o, jv_string ("Ingress"), jv_false ());
  o = jv_object_set (o, jv_string ("ConfigFrom"),
                     JV_OBJECT (jv_string ("Network"), jv_string ("")));
  o = jv_object_set (o, jv_string ("ConfigOnly"), jv_false ());
  o = jv_object_set (o, jv_string ("Containers"), containers);
  o = jv_object_set (o, jv_string ("Options"), opts);
  o = jv_object_set (o, jv_string ("Labels"), jv_copy (n->labels));
  return o;
}

int
cmd_network_create (struct ctx *c, int argc, char **argv, dk_err_t *err)
{
  static const struct option opts[] = { { "subnet", 1, 0, 's' },   { "gateway", 1, 0, 'g' },
                                        { "ip-range", 1, 0, 'r' }, { "internal", 0, 0, 'i' },
                                        { "label", 1, 0, 'l' },    { "opt", 1, 0, 'o' },
                                        { "driver", 1, 0, 'd' },   { "attachable", 0, 0, 'a' },
                                        { "ipv6", 0, 0, '6' },     { 0, 0, 0, 0 } };
  const char *subnet = NULL, *gw = NULL, *range = NULL, *subnet6 = NULL, *gw6 = NULL;
  bool ipv6 = false;
  struct net n = { .labels = jv_object (), .options = jv_object (), .icc = true, .masq = true };
  int o, r = 0;
  optind = 1;
  while (r == 0 && (o = getopt_long (argc, argv, "o:", opts, NULL)) != -1)
    switch (o)
      {
      case 's': /* one IPv4 and one IPv6 subnet (and gateway) at most */
        *(strchr (optarg, ':') ? &subnet6 : &subnet) = optarg;
        break;
      case 'g':
        *(strchr (optarg, ':') ? &gw6 : &gw) = optarg;
        break;
      case '6':
        ipv6 = true;
        break;
      case 'r':
        range = optarg;
        break;
      case 'i':
        n.internal = true;
        break;
      case 'a':
        break;
      case 'l':
        r = kv_set (&n.labels, optarg, err);
        break;
      case 'o':
        r = kv_set (&n.options, optarg, err);
        break;
      case 'd':
        if (strcmp (optarg, "bridge"))
          r = dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "plugin \"%s\" not found", optarg);
        break;
      default:
        r = dk_make_error_code (err, DK_ECODE_INVALID, 0, "network-create: bad option");
      }
  if (r == 0 && optind >= argc)
    r = dk_make_error_code (err, DK_ECODE_INVALID, 0, "network-create: NAME is required");
  if (r == 0 && !name_ok (argv[optind]))
    r = dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid network name: %s", argv[optind]);
  if (r == 0)
    {
      n.name = xstrdup (argv[optind]);
      n.id = random_id ();
      n.created = now_rfc3339 ();
      r = ctx_lock (c, err);
    }
  if (r == 0)
    r = create (c, &n, subnet, gw, range, ipv6, subnet6, gw6, err);
  if (r == 0)
    dk_jsonl_write (stdout, JV_OBJECT (jv_string ("type"), jv_string ("result"), jv_string ("id"),
                                       jv_string (n.id), jv_string ("network"), inspect (c, &n)));
  ctx_unlock (c);
  net_free (&n);
  return r;
}

int
cmd_network_rm (struct ctx *c, int argc, char **argv, dk_err_t *err)
{
  if (argc < 2)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "network-rm: NAME is required");
  struct net n;
  if (ctx_lock (c, err) < 0 || net_find (c, argv[1], &n, err) < 0)
    return -1;
  int r = 0;
  cleanup_jv jv info = inspect (c, &n);
  cleanup_jv jv members = dk_json_get (info, "Containers");
  if (n.is_default)
    r = dk_make_error_code (err, DK_ECODE_FORBIDDEN, 0,
                            "bridge is a pre-defined network and cannot be removed");
  else if (jv_object_length (jv_copy (members)) > 0)
    r = dk_make_error_code (err, DK_ECODE_FORBIDDEN, 0,
                            "error while removing network: network %s id %s has active endpoints",
                            n.name, n.id);
  if (r == 0)
    {
      struct daemon_cfg d = { 0 };
      daemon_load (c, &d, err);
      rules_network (&d, &n, false, err);
      daemon_free (&d);
      cleanup_nl struct dk_nl *nl = NULL;
      if (!n.user_bridge && (r = dk_nl_open (&nl, err)) == 0)
        r = dk_nl_link_del (nl, n.bridge, err) < 0 ? -1 : 0;
    }
  if (r == 0)
    {
      cleanup_free char *p = state_path (c, "networks/%s.json", n.name);
      cleanup_free char *q = run_path (c, "ipam/%s.json", n.name);
      unlink (q);
      if (unlink (p) < 0)
        r = dk_make_error (err, errno, "remove `%s`", p);
    }
  if (r == 0)
    dk_jsonl_write (stdout, JV_OBJECT (jv_string ("type"), jv_string ("result"), jv_string ("id"),
                                       jv_string (n.id)));
  net_free (&n);
  return r;
}

int
cmd_network_ls (struct ctx *c, int argc, char **argv, dk_err_t *err)
{
  jv all = jv_array ();
  cleanup_strv char **names = net_names (c);
  for (char **p = names; *p; p++)
    {
      struct net n;
      cleanup_error dk_err_t e = NULL;
      if (net_load (c, *p, &n, &e) == 0)
        all = jv_array_append (all, inspect (c, &n));
      net_free (&n);
    }
  dk_jsonl_write (
      stdout, JV_OBJECT (jv_string ("type"), jv_string ("result"), jv_string ("networks"), all));
  return 0;
}

int
cmd_network_inspect (struct ctx *c, int argc, char **argv, dk_err_t *err)
{
  if (argc < 2)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "network-inspect: NAME is required");
  struct net n;
  if (net_find (c, argv[1], &n, err) < 0)
    return -1;
  dk_jsonl_write (stdout, JV_OBJECT (jv_string ("type"), jv_string ("result"),
                                     jv_string ("network"), inspect (c, &n)));
  net_free (&n);
  return 0;
}
