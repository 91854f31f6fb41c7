/* The links of an endpoint: the veth pair (one end on the bridge, the
   other created as ethN inside the container's namespace) with its
   addresses and default routes, and its deletion. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "netlink.h"
#include "netsetup.h"

char *
random_veth (void)
{
  unsigned char b[4];
  random_bytes (b, sizeof b);
  return xasprintf ("veth%02x%02x%02x%x", b[0], b[1], b[2], b[3] & 15);
}

struct inside
{
  const struct link_cfg *l;
  const char *ifname;
};

static int
configure_inside (void *data, dk_err_t *err)
{
  const struct inside *in = data;
  const struct link_cfg *l = in->l;
  cleanup_nl struct dk_nl *nl = NULL;
  if (dk_nl_open (&nl, err) < 0)
    return -1;
  int lo = dk_nl_link_index (nl, "lo", err);
  int idx = dk_nl_link_index (nl, in->ifname, err);
  if (lo < 0 || idx <= 0)
    return idx == 0 ? dk_make_error (err, 0, "%s not found in the namespace", in->ifname) : -1;
  /* IPv6 off on a link without an IPv6 address, as Docker (before it is
     up: no link-local address, no DAD); a kernel without IPv6 has no key */
  cleanup_free char *k = xasprintf ("net/ipv6/conf/%s/disable_ipv6", in->ifname);
  cleanup_error dk_err_t e = NULL;
  if (dk_sysctl_set (k, l->v6 ? "0" : "1", &e) < 0 && (l->v6 || e->status != ENOENT))
    {
      *err = steal_ptr (&e);
      return -1;
    }
  /* lo and the link up, the addresses, the routes: one write (in this
     order: a gateway must be reachable) */
  uint32_t a = htonl (l->ip), g = htonl (l->gw);
  struct dk_nl_batch b;
  dk_nl_batch_init (&b);
  dk_nl_batch_link_set (&b, lo, true, 0, 0);
  dk_nl_batch_link_set (&b, idx, true, 0, 0);
  dk_nl_batch_addr_add (&b, idx, AF_INET, &a, l->plen);
  if (l->v6)
    dk_nl_batch_addr_add (&b, idx, AF_INET6, &l->ip6, l->plen6);
  if (l->route)
    dk_nl_batch_route_default (&b, AF_INET, &g, idx);
  if (l->route && l->v6)
    dk_nl_batch_route_default (&b, AF_INET6, &l->gw6, idx);
  if (dk_nl_batch_send (nl, &b, err) < 0)
    return dk_error_wrap (err, "configure %s", in->ifname);
  return 0;
}

int
create_links (const struct daemon_cfg *d, const struct net *n, const char *netns,
              const struct link_cfg *l, dk_err_t *err)
{
  cleanup_nl struct dk_nl *nl = NULL;
  if (dk_nl_open (&nl, err) < 0)
    return -1;
  int br = dk_nl_link_index (nl, n->bridge, err);
  if (br <= 0)
    return br < 0 ? -1
                  : dk_make_error_code (err, DK_ECODE_UNAVAILABLE, 0, "bridge %s not found",
                                        n->bridge);
  cleanup_close int nsfd = open (netns, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0)
    return dk_make_error (err, errno, "open `%s`", netns);
  /* one request: the pair, the host end up and on the bridge */
  struct dk_nl_veth v = { l->veth, l->ifname, nsfd, l->mac, n->mtu, br, true };
  if (dk_nl_veth_create (nl, &v, err) < 0)
    return -1;
  /* without the proxy, a container reaches its own published port by
     hairpin NAT: out of its port and back in */
  if (!d->userland_proxy)
    {
      int idx = dk_nl_link_index (nl, l->veth, err);
      if (idx <= 0)
        return idx < 0 ? -1 : dk_make_error (err, 0, "veth %s vanished", l->veth);
      if (dk_nl_brport_hairpin (nl, idx, true, err) < 0)
        return -1;
    }
  struct inside in = { l, l->ifname };
  return dk_netns_run (netns, configure_inside, &in, err);
}

void
link_gateways (const struct net *n, struct link_cfg *l)
{
  l->gw = n->gateway;
  cleanup_jv jv dgw = dk_json_get_kind (n->options, "dk.default_gateway", JV_KIND_STRING);
  if (jv_is_valid (dgw))
    parse_ip4 (jv_string_value (dgw), &l->gw);
  l->gw6 = n->gateway6;
  cleanup_jv jv dgw6 = dk_json_get_kind (n->options, "dk.default_gateway_v6", JV_KIND_STRING);
  if (jv_is_valid (dgw6))
    parse_ip6 (jv_string_value (dgw6), &l->gw6);
}

/* In a lingerer: the errno of the deletion (0: done) on out. */
static int
dellink (void *data, int out)
{
  cleanup_error dk_err_t e = NULL;
  cleanup_nl struct dk_nl *nl = NULL;
  int r = 0;
  if (dk_nl_open (&nl, &e) < 0 || dk_nl_link_del (nl, data, &e) < 0)
    r = e->status ? e->status : EIO;
  if (write (out, &r, sizeof r) < 0)
    return errno;
  return r;
}

struct gone
{
  int index;
  bool seen;
};

static void
note_dellink (const struct nlmsghdr *nlh, void *data)
{
  struct gone *g = data;
  if (dk_nl_event_dellink (nlh) == g->index)
    g->seen = true;
}

/* Deleting the veth pair returns once the kernel has unlisted it, which is
   ~15 ms before its answer to RTM_DELLINK (an RCU barrier): a lingerer
   sends the request and waits for that answer, we wait for the link's
   RTM_DELLINK event (or the lingerer's answer, whichever comes first). */
int
veth_delete_start (const char *veth, struct veth_del *vd, dk_err_t *err)
{
  *vd = (struct veth_del){ .rfd = -1 };
  cleanup_nl struct dk_nl *nl = NULL;
  if (dk_nl_open (&nl, err) < 0)
    return -1;
  int idx = dk_nl_link_index (nl, veth, err);
  if (idx <= 0)
    return idx;
  cleanup_error dk_err_t e = NULL;
  if (dk_nl_open_monitor (NETLINK_ROUTE, RTNLGRP_LINK, &vd->mon, &e) < 0
      || linger_fork (-1, dellink, (void *)veth, &vd->rfd, &e) < 0)
    {
      dk_nl_close (vd->mon);
      vd->mon = NULL;
      return dk_nl_link_del (nl, veth, err) < 0 ? -1 : 0;
    }
  vd->index = idx;
  vd->veth = veth;
  return 0;
}

int
veth_delete_finish (struct veth_del *vd, dk_err_t *err)
{
  if (vd->mon == NULL)
    return 0;
  cleanup_nl struct dk_nl *mon = vd->mon;
  cleanup_close int rfd = vd->rfd;
  vd->mon = NULL;
  vd->rfd = -1;
  struct gone g = { vd->index, false };
  struct pollfd p[2] = { { dk_nl_fd (mon), POLLIN, 0 }, { rfd, POLLIN, 0 } };
  while (!g.seen)
    {
      if (poll (p, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          return dk_make_error (err, errno, "poll");
        }
      if (p[0].revents && dk_nl_monitor_read (mon, note_dellink, &g, err) < 0)
        return -1;
      if (!g.seen && p[1].revents)
        {
          int r;
          linger_result (rfd, &r);
          if (r == 0 || r == ENODEV)
            return 0;
          return dk_make_error (err, r, "delete link %s", vd->veth);
        }
    }
  return 0;
}

int
veth_delete (const char *veth, dk_err_t *err)
{
  struct veth_del vd;
  if (veth_delete_start (veth, &vd, err) < 0)
    return -1;
  return veth_delete_finish (&vd, err);
}
