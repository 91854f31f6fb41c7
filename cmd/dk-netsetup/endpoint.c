/* connect / disconnect: a container's endpoint on a network. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cleanup.h"
#include "log.h"
#include "netlink.h"
#include "netsetup.h"

struct conn_opts
{
  const char *id, *network, *ip, *ip6, *mac, *hostname, *domainname, *name, *files_dir;
  bool publish_all;
  jv publish, expose, dns, dns_search, dns_opt, add_host, alias;
};

static int
parse_conn (int argc, char **argv, struct conn_opts *o, dk_err_t *err)
{
  static const struct option opts[]
      = { { "id", 1, 0, 'i' },          { "network", 1, 0, 'n' },  { "ip", 1, 0, 'I' },
          { "ip6", 1, 0, '6' },         { "mac", 1, 0, 'm' },      { "publish", 1, 0, 'p' },
          { "publish-all", 0, 0, 'P' }, { "expose", 1, 0, 'e' },   { "hostname", 1, 0, 'h' },
          { "domainname", 1, 0, 'D' },  { "dns", 1, 0, 'd' },      { "dns-search", 1, 0, 's' },
          { "dns-opt", 1, 0, 'o' },     { "add-host", 1, 0, 'a' }, { "alias", 1, 0, 'A' },
          { "files-dir", 1, 0, 'f' },   { "name", 1, 0, 'N' },     { 0, 0, 0, 0 } };
  int c;
  optind = 1;
  while ((c = getopt_long (argc, argv, "p:P", opts, NULL)) != -1)
    switch (c)
      {
      case 'i':
        o->id = optarg;
        break;
      case 'n':
        o->network = optarg;
        break;
      case 'I':
        o->ip = optarg;
        break;
      case '6':
        o->ip6 = optarg;
        break;
      case 'm':
        o->mac = optarg;
        break;
      case 'p':
        o->publish = jv_array_append (o->publish, jv_string (optarg));
        break;
      case 'P':
        o->publish_all = true;
        break;
      case 'e':
        o->expose = jv_array_append (o->expose, jv_string (optarg));
        break;
      case 'h':
        o->hostname = optarg;
        break;
      case 'D':
        o->domainname = optarg;
        break;
      case 'd':
        o->dns = jv_array_append (o->dns, jv_string (optarg));
        break;
      case 's':
        o->dns_search = jv_array_append (o->dns_search, jv_string (optarg));
        break;
      case 'o':
        o->dns_opt = jv_array_append (o->dns_opt, jv_string (optarg));
        break;
      case 'a':
        o->add_host = jv_array_append (o->add_host, jv_string (optarg));
        break;
      case 'A':
        o->alias = jv_array_append (o->alias, jv_string (optarg));
        break;
      case 'f':
        o->files_dir = optarg;
        break;
      case 'N':
        o->name = optarg;
        break;
      default:
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "connect: bad option");
      }
  if (o->id == NULL)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "connect: --id is required");
  if (!name_ok (o->id))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid container ID: %s", o->id);
  if (o->network == NULL)
    o->network = "bridge";
  return 0;
}

static int
parse_mac (const char *s, uint8_t mac[6])
{
  unsigned v[6];
  char tail;
  if (sscanf (s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
    return -1;
  for (int i = 0; i < 6; i++)
    {
      if (v[i] > 255)
        return -1;
      mac[i] = v[i];
    }
  return 0;
}

/* Next free ethN in the record. */
static char *
next_ifname (jv nets)
{
  for (int i = 0;; i++)
    {
      cleanup_free char *name = xasprintf ("eth%d", i);
      bool used = false;
      if (jv_get_kind (nets) == JV_KIND_OBJECT)
        jv_object_foreach (nets, k, nv)
        {
          const char *s = dk_json_str (nv, "ifname");
          if (s && !strcmp (s, name))
            used = true;
          jv_free (k);
          jv_free (nv);
        }
      if (!used)
        return steal_ptr (&name);
    }
}

static void
release_addrs (struct ctx *c, const char *net, uint32_t ip, const char *ip6)
{
  cleanup_error dk_err_t e = NULL;
  ipam_release (c, net, ip, &e);
  if (ip6)
    ipam_release_key (c, net, ip6, &e);
}

/* The record's per-container part, created or updated from the options. */
static jv
ep_base (jv ep, const struct conn_opts *o, const char *netns)
{
  if (jv_get_kind (ep) != JV_KIND_OBJECT)
    {
      jv_free (ep);
      cleanup_free char *h = xstrndup (o->id, 12);
      ep = JV_OBJECT (jv_string ("id"), jv_string (o->id), jv_string ("netns"), jv_string (netns),
                      jv_string ("hostname"), jv_string (h), jv_string ("networks"), jv_object ());
    }
  if (o->hostname)
    ep = jv_object_set (ep, jv_string ("hostname"), jv_string (o->hostname));
  if (o->domainname)
    ep = jv_object_set (ep, jv_string ("domainname"), jv_string (o->domainname));
  if (o->name)
    ep = jv_object_set (ep, jv_string ("name"),
                        jv_string (o->name[0] == '/' ? o->name + 1 : o->name));
  if (o->files_dir)
    ep = jv_object_set (ep, jv_string ("files_dir"), jv_string (o->files_dir));
  if (dk_json_len (o->add_host) > 0)
    ep = jv_object_set (ep, jv_string ("add_hosts"), jv_copy (o->add_host));
  return ep;
}

/* Whether the port rules of one family (v6) can go straight to nf_tables:
   tcp and udp only, at most NFT_MAX_PORTS with rules, iptables-nft. */
static bool
nft_direct (const struct daemon_cfg *d, const struct net *n, bool v6, jv ports)
{
  if (!d->iptables || (v6 && (!d->ip6tables || !n->v6)) || n->internal
      || getenv ("DK_NETSETUP_NO_NFT"))
    return false;
  bool ok = true;
  int count = 0;
  jv_array_foreach (ports, i, p)
  {
    const char *proto = dk_json_str (p, "proto");
    if (!proto || (strcmp (proto, "tcp") && strcmp (proto, "udp")))
      ok = false;
    count += port_has_rules (v6, dk_json_str (p, "host_ip"));
    jv_free (p);
  }
  return ok && count > 0 && count <= NFT_MAX_PORTS && nft_usable (v6 ? "ip6tables" : "iptables");
}

/* The port rules of one family (v6; addr: the container's address) straight
   over nf_tables, last in a connect: the xt targets of new rules wait in
   the kernel for the destruction of rules deleted before (an RCU grace
   period from the previous disconnect), and the links' time is taken off
   that wait.  0: the rules are in and recorded ("nft" or "nft6"); 1:
   nothing was added (ip(6)tables-restore instead); -1: failed, the rules
   may be in (the teardown removes them by text). */
static int
connect_nft (struct ctx *c, const char *id, const struct daemon_cfg *d, const struct net *n,
             bool v6, const char *addr, jv ports, jv *ep, jv *nets, dk_err_t *err)
{
  jv nft = jv_invalid ();
  cleanup_error dk_err_t e = NULL;
  int rc = nft_ports_add (d, n, v6, addr, ports, &nft, &e);
  if (rc == -1)
    {
      dk_warn ("%s; %s instead", e->msg, v6 ? "ip6tables-restore" : "iptables-restore");
      return 1;
    }
  if (rc < 0)
    {
      *err = steal_ptr (&e);
      return -1;
    }
  *nets = jv_object_set (*nets, jv_string (n->name),
                         jv_object_set (jv_object_get (jv_copy (*nets), jv_string (n->name)),
                                        jv_string (v6 ? "nft6" : "nft"), nft));
  *ep = jv_object_set (*ep, jv_string ("networks"), jv_copy (*nets));
  return ep_save (c, id, jv_copy (*ep), err);
}

/* Waits for both port rule jobs; the first failure is the error (r: the
   connect's state so far). */
static int
rules_finish (int r, struct rules_job *rj, struct rules_job *rj6, dk_err_t *err)
{
  cleanup_error dk_err_t e = NULL;
  if (rules_ports_finish (rj, r == 0 ? err : &e) < 0)
    r = -1;
  if (rules_ports_finish (rj6, r == 0 ? err : &e) < 0)
    r = -1;
  return r;
}

static int
connect_locked (struct ctx *c, struct conn_opts *o, const struct daemon_cfg *d, struct net *n,
                jv req_ports, dk_err_t *err)
{
  cleanup_free char *netns = xasprintf ("%s/netns/%s", c->exec_root, o->id);
  cleanup_jv jv ep = ep_base (ep_load (c, o->id), o, netns);
  cleanup_jv jv nets = dk_json_get_kind (ep, "networks", JV_KIND_OBJECT);
  if (jv_object_has (jv_copy (nets), jv_string (n->name)))
    return dk_make_error_code (
        err, DK_ECODE_FORBIDDEN, 0, "endpoint with name %s already exists in network %s",
        dk_json_str (ep, "name") ? dk_json_str (ep, "name") : o->id, n->name);
  bool first = jv_object_length (jv_copy (nets)) == 0;
  uint32_t want = 0, ip;
  if (o->ip && parse_ip4 (o->ip, &want) < 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid IPv4 address: %s", o->ip);
  struct in6_addr want6, ip6 = { 0 };
  if (o->ip6 && (!n->v6 || parse_ip6 (o->ip6, &want6) < 0))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               n->v6 ? "invalid IPv6 address: %s"
                                     : "network has no IPv6 subnet for the address %s",
                               o->ip6);
  trace_step ("locked");
  if (ipam_alloc (c, n, want, o->id, &ip, err) < 0)
    return -1;
  trace_step ("ipam");
  cleanup_free char *ip6s = NULL, *gw6s = NULL;
  if (n->v6)
    {
      if (ipam_alloc6 (c, n, o->ip6 ? &want6 : NULL, o->id, &ip6, err) < 0)
        {
          cleanup_error dk_err_t e = NULL;
          ipam_release (c, n->name, ip, &e);
          return -1;
        }
      ip6s = fmt_ip6 (&ip6);
      gw6s = fmt_ip6 (&n->gateway6);
    }
  uint8_t mac[6] = { 0x02, 0x42, ip >> 24, ip >> 16, ip >> 8, ip };
  if (o->mac && parse_mac (o->mac, mac) < 0)
    {
      release_addrs (c, n->name, ip, ip6s);
      return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid MAC address: %s", o->mac);
    }
  jv ports = jv_invalid ();
  cleanup_free int *fds = NULL;
  if (n->internal)
    ports = jv_array (); /* an internal network publishes nothing */
  else if (ports_assign (c, o->id, req_ports, d->userland_proxy, n->v6, &ports, &fds, err) < 0)
    {
      release_addrs (c, n->name, ip, ip6s);
      return -1;
    }
  trace_step ("ports bound");
  cleanup_free char *ips = fmt_ip4 (ip);
  cleanup_free char *gws = fmt_ip4 (n->gateway);
  cleanup_free char *veth = random_veth ();
  cleanup_free char *ifname = next_ifname (nets);
  char macs[18];
  snprintf (macs, sizeof macs, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
            mac[4], mac[5]);
  cleanup_free char *epid = random_id ();
  jv nv
      = JV_OBJECT (jv_string ("ip"), jv_string (ips), jv_string ("prefix_len"),
                   dk_json_int64 (n->plen), jv_string ("gateway"), jv_string (gws),
                   jv_string ("mac"), jv_string (macs), jv_string ("veth"), jv_string (veth),
                   jv_string ("ifname"), jv_string (ifname), jv_string ("ports"), jv_copy (ports));
  nv = jv_object_set (nv, jv_string ("endpoint_id"), jv_string (epid));
  nv = jv_object_set (nv, jv_string ("default_bridge"), jv_bool (n->is_default));
  nv = jv_object_set (nv, jv_string ("aliases"), jv_copy (o->alias));
  if (ip6s)
    {
      nv = jv_object_set (nv, jv_string ("ip6"), jv_string (ip6s));
      nv = jv_object_set (nv, jv_string ("prefix_len6"), dk_json_int64 (n->plen6));
      nv = jv_object_set (nv, jv_string ("gateway6"), jv_string (gw6s));
    }
  nets = jv_object_set (nets, jv_string (n->name), nv);
  ep = jv_object_set (ep, jv_string ("networks"), jv_copy (nets));
  /* the record goes first: a crash from here on is undone by cleanup */
  int r = ep_save (c, o->id, jv_copy (ep), err);
  trace_step ("record");
  /* iptables-restore runs while the links are made (it needs no link);
     nf_tables directly when possible, after them (connect_nft) */
  struct rules_job rj = { .text = NULL }, rj6 = { .text = NULL };
  bool direct = r == 0 && nft_direct (d, n, false, ports);
  bool direct6 = r == 0 && ip6s && nft_direct (d, n, true, ports);
  if (r == 0 && !direct)
    r = rules_ports_start (d, n, ip, ports, true, &rj, err);
  bool tried6 = r == 0 && !direct6;
  if (r == 0 && !direct6)
    r = rules_ports6_start (d, n, ip6s, ports, true, &rj6, err);
  if (r == 0)
    {
      cleanup_free char *nsdir = xasprintf ("%s/netns", c->exec_root);
      if (access (netns, F_OK) < 0)
        {
          r = dk_mkdir_p (nsdir, 0711, err) < 0 ? -1 : nspool_claim (c, netns, err);
          if (r == 0)
            r = dk_netns_create (netns, err);
          r = r < 0 ? -1 : 0;
        }
      trace_step ("netns");
    }
  if (r == 0)
    {
      struct link_cfg l = { .veth = veth,
                            .ifname = ifname,
                            .mac = mac,
                            .ip = ip,
                            .plen = n->plen,
                            .route = first && !n->internal,
                            .v6 = n->v6,
                            .ip6 = ip6,
                            .plen6 = n->plen6 };
      link_gateways (n, &l);
      r = create_links (d, n, netns, &l, err);
      trace_step ("links");
    }
  if (r == 0 && dk_json_len (ports) > 0 && d->userland_proxy)
    r = proxy_add (c, o->id, n->name, ip, ip6s, ports, fds, err);
  trace_step ("proxy");
  bool rules_tried = !direct; /* iptables-restore started above */
  if (r == 0 && direct)
    {
      rules_tried = true;
      if ((r = connect_nft (c, o->id, d, n, false, ips, ports, &ep, &nets, err)) == 1)
        r = rules_ports_start (d, n, ip, ports, true, &rj, err);
    }
  if (r == 0 && direct6)
    {
      tried6 = true;
      if ((r = connect_nft (c, o->id, d, n, true, ip6s, ports, &ep, &nets, err)) == 1)
        r = rules_ports6_start (d, n, ip6s, ports, true, &rj6, err);
    }
  trace_step ("rules");
  r = rules_finish (r, &rj, &rj6, err);
  /* tests of crash cleanup: die with everything half set up */
  if (r == 0 && getenv ("DK_NETSETUP_TEST_CRASH"))
    _exit (99);
  for (int i = 0; fds && i < 2 * dk_json_len (ports); i++)
    if (fds[i] >= 0)
      close (fds[i]);
  if (r == 0 && o->files_dir)
    {
      r = dk_mkdir_p (o->files_dir, 0755, err);
      if (r == 0 && first)
        r = files_write_resolv (o->files_dir, o->dns, o->dns_search, o->dns_opt, err);
      if (r == 0)
        r = files_write_hostname (o->files_dir, dk_json_str (ep, "hostname"), err);
    }
  if (r == 0)
    r = n->is_default ? files_write_hosts (c, ep, err) : files_refresh_network (c, n->name, err);
  trace_step ("dns files");
  if (r < 0)
    {
      cleanup_error dk_err_t e = NULL;
      /* failed before the rules: none to remove */
      jv mine = jv_object_get (jv_copy (nets), jv_string (n->name));
      if (!rules_tried)
        mine = jv_object_set (mine, jv_string ("no_port_rules"), jv_true ());
      if (!tried6)
        mine = jv_object_set (mine, jv_string ("no_port_rules6"), jv_true ());
      ep = jv_object_set (ep, jv_string ("networks"),
                          jv_object_set (jv_copy (nets), jv_string (n->name), mine));
      endpoint_teardown (c, o->id, &ep, n->name, &e);
      if (first)
        {
          dk_netns_remove (netns, &e);
          ep_remove (c, o->id, &e);
        }
      jv_free (ports);
      return -1;
    }
  jv res = JV_OBJECT (jv_string ("type"), jv_string ("result"), jv_string ("netns"),
                      jv_string (netns), jv_string ("ip"), jv_string (ips),
                      jv_string ("prefix_len"), dk_json_int64 (n->plen), jv_string ("gateway"),
                      jv_string (gws), jv_string ("mac"), jv_string (macs));
  res = jv_object_set (res, jv_string ("endpoint_id"), jv_string (epid));
  res = jv_object_set (res, jv_string ("network_id"), jv_string (n->id));
  res = jv_object_set (res, jv_string ("ports"), ports);
  if (ip6s)
    {
      res = jv_object_set (res, jv_string ("ipv6"), jv_string (ip6s));
      res = jv_object_set (res, jv_string ("ipv6_prefix_len"), dk_json_int64 (n->plen6));
      res = jv_object_set (res, jv_string ("ipv6_gateway"), jv_string (gw6s));
    }
  dk_jsonl_write (stdout, res);
  return 0;
}

int
cmd_connect (struct ctx *c, int argc, char **argv, dk_err_t *err)
{
  struct conn_opts o = { .publish = jv_array (),
                         .expose = jv_array (),
                         .dns = jv_array (),
                         .dns_search = jv_array (),
                         .dns_opt = jv_array (),
                         .add_host = jv_array (),
                         .alias = jv_array () };
  struct daemon_cfg d = { 0 };
  struct net n = { .labels = jv_null (), .options = jv_null () };
  jv req = jv_invalid ();
  int r = parse_conn (argc, argv, &o, err);
  if (r == 0)
    r = daemon_load (c, &d, err);
  if (r == 0)
    r = net_find (c, o.network, &n, err);
  if (r == 0 && n.is_default && d.default_bridge == NULL)
    r = dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "network bridge not found");
  if (r == 0)
    r = ports_parse (o.publish, o.expose, o.publish_all, d.default_bind_ip, &req, err);
  if (r == 0)
    r = ctx_lock (c, err);
  if (r == 0)
    r = connect_locked (c, &o, &d, &n, req, err);
  ctx_unlock (c);
  jv_free (req);
  net_free (&n);
  daemon_free (&d);
  jv_free (o.publish), jv_free (o.expose), jv_free (o.dns), jv_free (o.dns_search);
  jv_free (o.dns_opt), jv_free (o.add_host), jv_free (o.alias);
  return r;
}

/* Deletes the port rules of one family that connect_nft recorded in nv
   (borrowed); false when there are none or they must go by text. */
static bool
nft_record_del (jv nv, bool v6)
{
  cleanup_jv jv rec = dk_json_get_kind (nv, v6 ? "nft6" : "nft", JV_KIND_OBJECT);
  cleanup_error dk_err_t e = NULL;
  if (!jv_is_valid (rec))
    return false;
  if (nft_ports_del (rec, &e) == 0)
    return true;
  dk_debug ("nf_tables: %s; %s instead", e->msg, v6 ? "ip6tables-restore" : "iptables-restore");
  return false;
}

int
endpoint_teardown (struct ctx *c, const char *id, jv *ep, const char *netname, dk_err_t *err)
{
  cleanup_jv jv nets = dk_json_get_kind (*ep, "networks", JV_KIND_OBJECT);
  cleanup_jv jv nv = dk_json_get (nets, netname);
  if (jv_get_kind (nv) != JV_KIND_OBJECT)
    return 0;
  struct daemon_cfg d = { 0 };
  struct net n;
  daemon_load (c, &d, err);
  cleanup_error dk_err_t e = NULL;
  bool have_net = net_load (c, netname, &n, &e) == 0;
  uint32_t ip = 0;
  parse_ip4 (dk_json_str (nv, "ip"), &ip);
  cleanup_jv jv ports = dk_json_get_kind (nv, "ports", JV_KIND_ARRAY);
  /* the veth goes first and the rules and proxy ports while the kernel
     unlists it (links.c) */
  struct veth_del vd = { .mon = NULL };
  const char *veth = dk_json_str (nv, "veth");
  trace_step ("loaded");
  if (veth)
    veth_delete_start (veth, &vd, &e);
  trace_step ("dellink started");
  struct rules_job rj = { .text = NULL };
  bool nft_done = nft_record_del (nv, false);
  bool no_rules = false; /* (in memory only) a connect undone before its rules */
  dk_json_bool (nv, "no_port_rules", &no_rules);
  if (dk_json_len (ports) > 0 && have_net && !nft_done && !no_rules)
    {
      cleanup_error dk_err_t e2 = NULL;
      rules_ports_start (&d, &n, ip, ports, false, &rj, &e2);
    }
  struct rules_job rj6 = { .text = NULL };
  const char *ip6 = dk_json_str (nv, "ip6");
  bool nft6_done = nft_record_del (nv, true);
  bool no_rules6 = false;
  dk_json_bool (nv, "no_port_rules6", &no_rules6);
  if (ip6 && dk_json_len (ports) > 0 && have_net && !nft6_done && !no_rules6)
    {
      cleanup_error dk_err_t e2 = NULL;
      rules_ports6_start (&d, &n, ip6, ports, false, &rj6, &e2);
    }
  trace_step ("rules removed");
  if (dk_json_len (ports) > 0)
    proxy_remove (c, id, netname, &e);
  trace_step ("proxy");
  veth_delete_finish (&vd, &e);
  trace_step ("veth gone");
  {
    cleanup_error dk_err_t e2 = NULL;
    rules_finish (0, &rj, &rj6, &e2);
  }
  if (ip)
    ipam_release (c, netname, ip, &e);
  if (ip6)
    ipam_release_key (c, netname, ip6, &e);
  trace_step ("ipam");
  nets = jv_object_delete (nets, jv_string (netname));
  *ep = jv_object_set (*ep, jv_string ("networks"), jv_copy (nets));
  int r = 0;
  if (jv_object_length (jv_copy (nets)) > 0)
    r = ep_save (c, id, jv_copy (*ep), err);
  else
    r = ep_remove (c, id, err);
  if (r == 0 && have_net && !n.is_default)
    files_refresh_network (c, netname, &e);
  if (have_net)
    net_free (&n);
  daemon_free (&d);
  return r;
}

int
cmd_disconnect (struct ctx *c, int argc, char **argv, dk_err_t *err)
{
  static const struct option opts[]
      = { { "id", 1, 0, 'i' }, { "network", 1, 0, 'n' }, { "force", 0, 0, 'f' }, { 0, 0, 0, 0 } };
  const char *id = NULL, *net = NULL;
  int o;
  optind = 1;
  while ((o = getopt_long (argc, argv, "", opts, NULL)) != -1)
    {
      if (o == 'i')
        id = optarg;
      else if (o == 'n')
        net = optarg;
      else if (o != 'f')
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "disconnect: bad option");
    }
  if (id == NULL)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "disconnect: --id is required");
  if (!name_ok (id))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid container ID: %s", id);
  if (ctx_lock (c, err) < 0)
    return -1;
  cleanup_jv jv ep = ep_load (c, id);
  cleanup_jv jv nets = dk_json_get_kind (ep, "networks", JV_KIND_OBJECT);
  int r = 0;
  struct net nn;
  cleanup_error dk_err_t e = NULL;
  if (net && net_find (c, net, &nn, &e) == 0)
    {
      /* the record knows networks by name; accept an ID too */
      if (!jv_object_has (jv_copy (nets), jv_string (net)) && jv_is_valid (nets))
        net = nn.name;
    }
  else
    nn = (struct net){ .labels = jv_null (), .options = jv_null () };
  if (net)
    {
      if (!jv_is_valid (nets) || !jv_object_has (jv_copy (nets), jv_string (net)))
        r = dk_make_error_code (err, DK_ECODE_FORBIDDEN, 0,
                                "container %s is not connected to network %s", id, net);
      else
        r = endpoint_teardown (c, id, &ep, net, err);
    }
  else
    {
      /* the namespace goes: its lingerer leaves a new one for the next
         connect */
      nspool_refill_later (c);
      if (jv_is_valid (nets))
        jv_object_foreach (nets, k, nv)
        {
          if (r == 0)
            r = endpoint_teardown (c, id, &ep, jv_string_value (k), err);
          jv_free (k);
          jv_free (nv);
        }
      cleanup_free char *netns = xasprintf ("%s/netns/%s", c->exec_root, id);
      trace_step ("record");
      if (r == 0)
        r = dk_netns_remove (netns, err);
      trace_step ("netns");
      if (r == 0)
        r = ep_remove (c, id, err);
    }
  ctx_unlock (c);
  net_free (&nn);
  if (r == 0)
    dk_jsonl_write (stdout, JV_OBJECT (jv_string ("type"), jv_string ("result")));
  return r;
}
