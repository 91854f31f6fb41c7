#include "netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <arpa/inet.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

#define NL_BUFSZ 32768

struct dk_nl
{
  struct mnl_socket *sock;
  unsigned seq;
  unsigned portid;
};

int
dk_nl_open (struct dk_nl **out, dk_err_t *err)
{
  struct mnl_socket *s = mnl_socket_open2 (NETLINK_ROUTE, SOCK_CLOEXEC);
  if (s == NULL)
    return dk_make_error (err, errno, "open netlink socket");
  if (mnl_socket_bind (s, 0, MNL_SOCKET_AUTOPID) < 0)
    {
      int e = errno;
      mnl_socket_close (s);
      return dk_make_error (err, e, "bind netlink socket");
    }
  struct dk_nl *nl = xzalloc (sizeof *nl);
  nl->sock = s;
  nl->portid = mnl_socket_get_portid (s);
  nl->seq = (unsigned)time (NULL);
  *out = nl;
  return 0;
}

int
dk_nl_open_netns (const char *nspath, struct dk_nl **out, dk_err_t *err)
{
  cleanup_close int self = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0)
    return dk_make_error (err, errno, "open `/proc/self/ns/net`");
  cleanup_close int target = open (nspath, O_RDONLY | O_CLOEXEC);
  if (target < 0)
    return dk_make_error (err, errno, "open network namespace `%s`", nspath);
  if (setns (target, CLONE_NEWNET) < 0)
    return dk_make_error (err, errno, "join network namespace `%s`", nspath);
  int r = dk_nl_open (out, err);
  if (setns (self, CLONE_NEWNET) < 0)
    abort (); /* we would go on configuring the wrong namespace */
  return r;
}

void
dk_nl_close (struct dk_nl *nl)
{
  if (nl == NULL)
    return;
  mnl_socket_close (nl->sock);
  free (nl);
}

void
dk_cleanup_nlp (struct dk_nl **nl)
{
  dk_nl_close (*nl);
  *nl = NULL;
}

/* Sends one request and reads the answers until the ack (or the dump's
   end); cb sees every data message. */
static int
talk (struct dk_nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data, const char *what,
      dk_err_t *err)
{
  nlh->nlmsg_seq = ++nl->seq;
  /* NLM_F_DUMP's bits are shared with NLM_F_EXCL and NLM_F_REPLACE: go by type */
  bool get = nlh->nlmsg_type == RTM_GETLINK || nlh->nlmsg_type == RTM_GETADDR
             || nlh->nlmsg_type == RTM_GETROUTE;
  if (!get)
    nlh->nlmsg_flags |= NLM_F_ACK;
  /* a get of one object is answered by one message, no ack */
  bool single = get && (nlh->nlmsg_flags & NLM_F_DUMP) != NLM_F_DUMP;
  if (mnl_socket_sendto (nl->sock, nlh, nlh->nlmsg_len) < 0)
    return dk_make_error (err, errno, "%s", what);
  cleanup_free char *buf = xmalloc (NL_BUFSZ);
  int ret;
  for (;;)
    {
      ssize_t n = mnl_socket_recvfrom (nl->sock, buf, NL_BUFSZ);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return dk_make_error (err, errno, "%s", what);
        }
      ret = mnl_cb_run (buf, n, nlh->nlmsg_seq, nl->portid, cb, data);
      if (ret <= MNL_CB_STOP || single)
        break;
    }
  if (ret < 0)
    return dk_make_error (err, errno, "%s", what);
  return 0;
}

static struct nlmsghdr *
put_link_header (char *buf, int type, int flags, int family, int index, struct ifinfomsg **ifmp)
{
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header (nlh, sizeof *ifm);
  ifm->ifi_family = family;
  ifm->ifi_index = index;
  if (ifmp)
    *ifmp = ifm;
  return nlh;
}

int
dk_nl_link_index (struct dk_nl *nl, const char *name, dk_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = put_link_header (buf, RTM_GETLINK, 0, AF_UNSPEC, 0, NULL);
  mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
  struct ifinfomsg found = { 0 };
  nlh->nlmsg_seq = ++nl->seq;
  if (mnl_socket_sendto (nl->sock, nlh, nlh->nlmsg_len) < 0)
    return dk_make_error (err, errno, "look up link `%s`", name);
  ssize_t n = mnl_socket_recvfrom (nl->sock, buf, sizeof buf);
  if (n < 0)
    return dk_make_error (err, errno, "look up link `%s`", name);
  struct nlmsghdr *h = (struct nlmsghdr *)buf;
  if (h->nlmsg_type == NLMSG_ERROR)
    {
      struct nlmsgerr *e = mnl_nlmsg_get_payload (h);
      if (e->error == -ENODEV)
        return 0;
      return dk_make_error (err, -e->error, "look up link `%s`", name);
    }
  memcpy (&found, mnl_nlmsg_get_payload (h), sizeof found);
  return found.ifi_index;
}

struct kind_data
{
  char *kind;
};

static int
kind_info_cb (const struct nlattr *a, void *data)
{
  struct kind_data *kd = data;
  if (mnl_attr_get_type (a) == IFLA_INFO_KIND)
    snprintf (kd->kind, 16, "%s", mnl_attr_get_str (a));
  return MNL_CB_OK;
}

static int
kind_attr_cb (const struct nlattr *a, void *data)
{
  if (mnl_attr_get_type (a) == IFLA_LINKINFO)
    mnl_attr_parse_nested (a, kind_info_cb, data);
  return MNL_CB_OK;
}

static int
kind_msg_cb (const struct nlmsghdr *nlh, void *data)
{
  mnl_attr_parse (nlh, sizeof (struct ifinfomsg), kind_attr_cb, data);
  return MNL_CB_OK;
}

int
dk_nl_link_kind (struct dk_nl *nl, const char *name, char kind[16], dk_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = put_link_header (buf, RTM_GETLINK, 0, AF_UNSPEC, 0, NULL);
  mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
  kind[0] = '\0';
  struct kind_data kd = { kind };
  return talk (nl, nlh, kind_msg_cb, &kd, "look up link", err);
}

int
dk_nl_bridge_add (struct dk_nl *nl, const char *name, unsigned mtu, dk_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh
      = put_link_header (buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0, NULL);
  mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
  if (mtu)
    mnl_attr_put_u32 (nlh, IFLA_MTU, mtu);
  struct nlattr *li = mnl_attr_nest_start (nlh, IFLA_LINKINFO);
  mnl_attr_put_strz (nlh, IFLA_INFO_KIND, "bridge");
  mnl_attr_nest_end (nlh, li);
  if (talk (nl, nlh, NULL, NULL, "create bridge", err) < 0)
    return dk_error_wrap (err, "%s", name);
  return 0;
}

int
dk_nl_veth_add (struct dk_nl *nl, const char *name, const char *peer, int peer_nsfd,
                const uint8_t *mac, unsigned mtu, dk_err_t *err)
{
  struct dk_nl_veth v = { name, peer, peer_nsfd, mac, mtu, 0, false };
  return dk_nl_veth_create (nl, &v, err);
}

int
dk_nl_veth_create (struct dk_nl *nl, const struct dk_nl_veth *v, dk_err_t *err)
{
  const char *name = v->name, *peer = v->peer;
  int peer_nsfd = v->peer_nsfd;
  const uint8_t *mac = v->mac;
  unsigned mtu = v->mtu;
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct ifinfomsg *ifm;
  struct nlmsghdr *nlh
      = put_link_header (buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0, &ifm);
  if (v->up)
    ifm->ifi_change = ifm->ifi_flags = IFF_UP;
  mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
  if (v->master > 0)
    mnl_attr_put_u32 (nlh, IFLA_MASTER, v->master);
  if (mtu)
    mnl_attr_put_u32 (nlh, IFLA_MTU, mtu);
  /* one queue each way, on both ends: with the kernel's default (one per
     CPU) veth setup shrinks the real number of queues again, which waits
     for an RCU grace period (~1-2 ms) */
  mnl_attr_put_u32 (nlh, IFLA_NUM_TX_QUEUES, 1);
  mnl_attr_put_u32 (nlh, IFLA_NUM_RX_QUEUES, 1);
  struct nlattr *li = mnl_attr_nest_start (nlh, IFLA_LINKINFO);
  mnl_attr_put_strz (nlh, IFLA_INFO_KIND, "veth");
  struct nlattr *data = mnl_attr_nest_start (nlh, IFLA_INFO_DATA);
  struct nlattr *pi = mnl_attr_nest_start (nlh, VETH_INFO_PEER);
  struct ifinfomsg *pifm = mnl_nlmsg_put_extra_header (nlh, sizeof *pifm);
  pifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz (nlh, IFLA_IFNAME, peer);
  if (peer_nsfd >= 0)
    mnl_attr_put_u32 (nlh, IFLA_NET_NS_FD, peer_nsfd);
  if (mac)
    mnl_attr_put (nlh, IFLA_ADDRESS, 6, mac);
  if (mtu)
    mnl_attr_put_u32 (nlh, IFLA_MTU, mtu);
  mnl_attr_put_u32 (nlh, IFLA_NUM_TX_QUEUES, 1);
  mnl_attr_put_u32 (nlh, IFLA_NUM_RX_QUEUES, 1);
  mnl_attr_nest_end (nlh, pi);
  mnl_attr_nest_end (nlh, data);
  mnl_attr_nest_end (nlh, li);
  if (talk (nl, nlh, NULL, NULL, "create veth pair", err) < 0)
    return dk_error_wrap (err, "%s", name);
  return 0;
}

void
dk_nl_batch_init (struct dk_nl_batch *b)
{
  b->len = 0;
  b->n = 0;
}

/* Room for the next request of the batch (a request is < 512 bytes). */
static char *
batch_slot (struct dk_nl_batch *b)
{
  if (b->len + 512 > sizeof b->buf)
    abort ();
  return b->buf + b->len;
}

static void
batch_commit (struct dk_nl_batch *b, struct nlmsghdr *nlh)
{
  nlh->nlmsg_flags |= NLM_F_ACK;
  b->len += NLMSG_ALIGN (nlh->nlmsg_len);
  b->n++;
}

int
dk_nl_batch_send (struct dk_nl *nl, struct dk_nl_batch *b, dk_err_t *err)
{
  unsigned seq0 = nl->seq;
  for (size_t off = 0; off < b->len;)
    {
      struct nlmsghdr *h = (struct nlmsghdr *)(b->buf + off);
      h->nlmsg_seq = ++nl->seq;
      off += NLMSG_ALIGN (h->nlmsg_len);
    }
  if (b->n == 0)
    return 0;
  if (mnl_socket_sendto (nl->sock, b->buf, b->len) < 0)
    return dk_make_error (err, errno, "netlink");
  cleanup_free char *buf = xmalloc (NL_BUFSZ);
  unsigned acks = 0;
  int first = 0;
  while (acks < b->n)
    {
      ssize_t n = mnl_socket_recvfrom (nl->sock, buf, NL_BUFSZ);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return dk_make_error (err, errno, "netlink");
        }
      int len = n;
      for (struct nlmsghdr *h = (struct nlmsghdr *)buf; mnl_nlmsg_ok (h, len);
           h = mnl_nlmsg_next (h, &len))
        if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq > seq0 && h->nlmsg_seq <= nl->seq)
          {
            const struct nlmsgerr *e = mnl_nlmsg_get_payload (h);
            acks++;
            if (e->error && first == 0)
              first = -e->error;
          }
    }
  b->len = b->n = 0;
  if (first)
    return dk_make_error (err, first, "netlink");
  return 0;
}

void
dk_nl_batch_link_set (struct dk_nl_batch *b, int index, bool up, int master, unsigned mtu)
{
  struct ifinfomsg *ifm;
  struct nlmsghdr *nlh = put_link_header (batch_slot (b), RTM_NEWLINK, 0, AF_UNSPEC, index, &ifm);
  ifm->ifi_change = IFF_UP;
  ifm->ifi_flags = up ? IFF_UP : 0;
  if (master > 0)
    mnl_attr_put_u32 (nlh, IFLA_MASTER, master);
  else if (master < 0)
    mnl_attr_put_u32 (nlh, IFLA_MASTER, 0);
  if (mtu)
    mnl_attr_put_u32 (nlh, IFLA_MTU, mtu);
  batch_commit (b, nlh);
}

int
dk_nl_link_set (struct dk_nl *nl, int index, bool up, int master, unsigned mtu, dk_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct ifinfomsg *ifm;
  struct nlmsghdr *nlh = put_link_header (buf, RTM_NEWLINK, 0, AF_UNSPEC, index, &ifm);
  ifm->ifi_change = IFF_UP;
  ifm->ifi_flags = up ? IFF_UP : 0;
  if (master > 0)
    mnl_attr_put_u32 (nlh, IFLA_MASTER, master);
  else if (master < 0)
    mnl_attr_put_u32 (nlh, IFLA_MASTER, 0);
  if (mtu)
    mnl_attr_put_u32 (nlh, IFLA_MTU, mtu);
  return talk (nl, nlh, NULL, NULL, "configure link", err);
}

int
dk_nl_link_del (struct dk_nl *nl, const char *name, dk_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = put_link_header (buf, RTM_DELLINK, 0, AF_UNSPEC, 0, NULL);
  mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
  cleanup_error dk_err_t e = NULL;
  if (talk (nl, nlh, NULL, NULL, "delete link", &e) < 0)
    {
      if (e->status == ENODEV)
        return 0;
      *err = steal_ptr (&e);
      return dk_error_wrap (err, "%s", name);
    }
  return 1;
}

static int
brport_flag (struct dk_nl *nl, int index, int attr, bool on, dk_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = put_link_header (buf, RTM_SETLINK, 0, AF_BRIDGE, index, NULL);
  struct nlattr *pi = mnl_attr_nest_start (nlh, IFLA_PROTINFO);
  mnl_attr_put_u8 (nlh, attr, on ? 1 : 0);
  mnl_attr_nest_end (nlh, pi);
  return talk (nl, nlh, NULL, NULL, "set bridge port flag", err);
}

int
dk_nl_brport_isolated (struct dk_nl *nl, int index, bool on, dk_err_t *err)
{
  return brport_flag (nl, index, IFLA_BRPORT_ISOLATED, on, err);
}

int
dk_nl_brport_hairpin (struct dk_nl *nl, int index, bool on, dk_err_t *err)
{
  return brport_flag (nl, index, IFLA_BRPORT_MODE, on, err);
}

static int
alen (int family)
{
  return family == AF_INET6 ? 16 : 4;
}

static struct nlmsghdr *
put_addr_add (char *buf, int index, int family, const void *addr, int prefix_len)
{
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  nlh->nlmsg_type = RTM_NEWADDR;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE;
  struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header (nlh, sizeof *ifa);
  ifa->ifa_family = family;
  ifa->ifa_prefixlen = prefix_len;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = index;
  if (family == AF_INET6)
    ifa->ifa_flags = IFA_F_NODAD; /* usable at once, not tentative */
  mnl_attr_put (nlh, IFA_LOCAL, alen (family), addr);
  mnl_attr_put (nlh, IFA_ADDRESS, alen (family), addr);
  if (family == AF_INET && prefix_len < 31)
    {
      uint32_t a, mask = prefix_len ? htonl (~0u << (32 - prefix_len)) : 0;
      memcpy (&a, addr, 4);
      uint32_t bcast = a | ~mask;
      mnl_attr_put (nlh, IFA_BROADCAST, 4, &bcast);
    }
  return nlh;
}

int
dk_nl_addr_add (struct dk_nl *nl, int index, int family, const void *addr, int prefix_len,
                dk_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = put_addr_add (buf, index, family, addr, prefix_len);
  return talk (nl, nlh, NULL, NULL, "add address", err);
}

void
dk_nl_batch_addr_add (struct dk_nl_batch *b, int index, int family, const void *addr,
                      int prefix_len)
{
  batch_commit (b, put_addr_add (batch_slot (b), index, family, addr, prefix_len));
}

int
dk_nl_addr_del (struct dk_nl *nl, int index, int family, const void *addr, int prefix_len,
                dk_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  nlh->nlmsg_type = RTM_DELADDR;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header (nlh, sizeof *ifa);
  ifa->ifa_family = family;
  ifa->ifa_prefixlen = prefix_len;
  ifa->ifa_index = index;
  mnl_attr_put (nlh, IFA_LOCAL, alen (family), addr);
  cleanup_error dk_err_t e = NULL;
  if (talk (nl, nlh, NULL, NULL, "delete address", &e) < 0)
    {
      if (e->status == EADDRNOTAVAIL || e->status == ENODEV)
        return 0;
      *err = steal_ptr (&e);
      return -1;
    }
  return 1;
}

struct list_data
{
  int family;
  int index;
  dk_nl_addr_cb cb;
  void *data;
};

static int
addr_attr_cb (const struct nlattr *a, void *data)
{
  const struct nlattr **tb = data;
  int t = mnl_attr_get_type (a);
  if (t <= IFA_MAX)
    tb[t] = a;
  return MNL_CB_OK;
}

static int
addr_msg_cb (const struct nlmsghdr *nlh, void *data)
{
  struct list_data *ld = data;
  struct ifaddrmsg *ifa = mnl_nlmsg_get_payload (nlh);
  const struct nlattr *tb[IFA_MAX + 1] = { 0 };
  if (ld->index && (int)ifa->ifa_index != ld->index)
    return MNL_CB_OK;
  if (ld->family && ifa->ifa_family != ld->family)
    return MNL_CB_OK;
  mnl_attr_parse (nlh, sizeof *ifa, addr_attr_cb, tb);
  const struct nlattr *a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
  if (a && mnl_attr_get_payload_len (a) >= (uint16_t)alen (ifa->ifa_family))
    ld->cb (ifa->ifa_index, ifa->ifa_family, mnl_attr_get_payload (a), ifa->ifa_prefixlen,
            ld->data);
  return MNL_CB_OK;
}

int
dk_nl_addr_list (struct dk_nl *nl, int family, int index, dk_nl_addr_cb cb, void *data,
                 dk_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  nlh->nlmsg_type = RTM_GETADDR;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header (nlh, sizeof *ifa);
  ifa->ifa_family = family;
  struct list_data ld = { family, index, cb, data };
  return talk (nl, nlh, addr_msg_cb, &ld, "list addresses", err);
}

static int
route_attr_cb (const struct nlattr *a, void *data)
{
  const struct nlattr **tb = data;
  int t = mnl_attr_get_type (a);
  if (t <= RTA_MAX)
    tb[t] = a;
  return MNL_CB_OK;
}

static int
route_msg_cb (const struct nlmsghdr *nlh, void *data)
{
  struct list_data *ld = data;
  struct rtmsg *rtm = mnl_nlmsg_get_payload (nlh);
  const struct nlattr *tb[RTA_MAX + 1] = { 0 };
  if (rtm->rtm_table != RT_TABLE_MAIN || rtm->rtm_type != RTN_UNICAST)
    return MNL_CB_OK;
  mnl_attr_parse (nlh, sizeof *rtm, route_attr_cb, tb);
  uint8_t zero[16] = { 0 };
  const void *dst = zero;
  if (tb[RTA_DST] && mnl_attr_get_payload_len (tb[RTA_DST]) >= (uint16_t)alen (rtm->rtm_family))
    dst = mnl_attr_get_payload (tb[RTA_DST]);
  int oif = tb[RTA_OIF] ? (int)mnl_attr_get_u32 (tb[RTA_OIF]) : 0;
  ld->cb (oif, rtm->rtm_family, dst, rtm->rtm_dst_len, ld->data);
  return MNL_CB_OK;
}

int
dk_nl_route_list (struct dk_nl *nl, int family, dk_nl_addr_cb cb, void *data, dk_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  nlh->nlmsg_type = RTM_GETROUTE;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  struct rtmsg *rtm = mnl_nlmsg_put_extra_header (nlh, sizeof *rtm);
  rtm->rtm_family = family;
  struct list_data ld = { family, 0, cb, data };
  return talk (nl, nlh, route_msg_cb, &ld, "list routes", err);
}

static struct nlmsghdr *
put_route_default (char *buf, int family, const void *gw, int oif)
{
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  nlh->nlmsg_type = RTM_NEWROUTE;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE;
  struct rtmsg *rtm = mnl_nlmsg_put_extra_header (nlh, sizeof *rtm);
  rtm->rtm_family = family;
  rtm->rtm_dst_len = 0;
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = RTPROT_BOOT;
  rtm->rtm_scope = RT_SCOPE_UNIVERSE;
  rtm->rtm_type = RTN_UNICAST;
  mnl_attr_put (nlh, RTA_GATEWAY, alen (family), gw);
  if (oif)
    mnl_attr_put_u32 (nlh, RTA_OIF, oif);
  return nlh;
}

int
dk_nl_route_add_default (struct dk_nl *nl, int family, const void *gw, int oif, dk_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  return talk (nl, put_route_default (buf, family, gw, oif), NULL, NULL, "add default route", err);
}

void
dk_nl_batch_route_default (struct dk_nl_batch *b, int family, const void *gw, int oif)
{
  batch_commit (b, put_route_default (batch_slot (b), family, gw, oif));
}

struct names
{
  char **v;
  size_t n;
};

static int
name_attr_cb (const struct nlattr *a, void *data)
{
  struct names *ns = data;
  if (mnl_attr_get_type (a) == IFLA_IFNAME)
    {
      ns->v = xrealloc (ns->v, (ns->n + 2) * sizeof *ns->v);
      ns->v[ns->n++] = xstrdup (mnl_attr_get_str (a));
      ns->v[ns->n] = NULL;
    }
  return MNL_CB_OK;
}

static int
name_msg_cb (const struct nlmsghdr *nlh, void *data)
{
  mnl_attr_parse (nlh, sizeof (struct ifinfomsg), name_attr_cb, data);
  return MNL_CB_OK;
}

int
dk_nl_link_names (struct dk_nl *nl, char ***out, dk_err_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = put_link_header (buf, RTM_GETLINK, NLM_F_DUMP, AF_UNSPEC, 0, NULL);
  struct names ns = { xzalloc (sizeof (char *)), 0 };
  if (talk (nl, nlh, name_msg_cb, &ns, "list links", err) < 0)
    {
      dk_cleanup_strvp (&ns.v);
      return -1;
    }
  *out = ns.v;
  return 0;
}

int
dk_netns_create (const char *path, dk_err_t *err)
{
  cleanup_close int self = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0)
    return dk_make_error (err, errno, "open `/proc/self/ns/net`");
  cleanup_close int fd = open (path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0)
    return dk_make_error_code (err, errno == EEXIST ? DK_ECODE_CONFLICT : DK_ECODE_INTERNAL, errno,
                               "create `%s`", path);
  if (unshare (CLONE_NEWNET) < 0)
    {
      int e = errno;
      unlink (path);
      return dk_make_error (err, e, "unshare network namespace");
    }
  int r = mount ("/proc/self/ns/net", path, NULL, MS_BIND, NULL);
  int e = errno;
  if (setns (self, CLONE_NEWNET) < 0)
    abort ();
  if (r < 0)
    {
      unlink (path);
      return dk_make_error (err, e, "bind-mount network namespace on `%s`", path);
    }
  return 0;
}

int
dk_netns_remove (const char *path, dk_err_t *err)
{
  if (umount2 (path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    return dk_make_error (err, errno, "unmount `%s`", path);
  if (unlink (path) < 0 && errno != ENOENT)
    return dk_make_error (err, errno, "remove `%s`", path);
  return 0;
}

int
dk_netns_run (const char *path, int (*fn) (void *data, dk_err_t *err), void *data, dk_err_t *err)
{
  cleanup_close int self = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0)
    return dk_make_error (err, errno, "open `/proc/self/ns/net`");
  cleanup_close int target = open (path, O_RDONLY | O_CLOEXEC);
  if (target < 0)
    return dk_make_error (err, errno, "open network namespace `%s`", path);
  if (setns (target, CLONE_NEWNET) < 0)
    return dk_make_error (err, errno, "join network namespace `%s`", path);
  int r = fn (data, err);
  if (setns (self, CLONE_NEWNET) < 0)
    abort ();
  return r;
}

int
dk_sysctl_set (const char *key, const char *value, dk_err_t *err)
{
  cleanup_free char *path = xasprintf ("/proc/sys/%s", key);
  cleanup_close int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s`", path);
  size_t len = strlen (value);
  if (write (fd, value, len) != (ssize_t)len)
    return dk_make_error (err, errno, "write `%s`", path);
  return 0;
}

int
dk_sysctl_get (const char *key, char *buf, size_t len, dk_err_t *err)
{
  cleanup_free char *path = xasprintf ("/proc/sys/%s", key);
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s`", path);
  ssize_t n = read (fd, buf, len - 1);
  if (n < 0)
    return dk_make_error (err, errno, "read `%s`", path);
  buf[n] = '\0';
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
    buf[--n] = '\0';
  return 0;
}

int
dk_nl_open_monitor (int proto, int group, struct dk_nl **out, dk_err_t *err)
{
  struct mnl_socket *s = mnl_socket_open2 (proto, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (s == NULL)
    return dk_make_error (err, errno, "open netlink socket");
  if (mnl_socket_bind (s, 0, MNL_SOCKET_AUTOPID) < 0
      || mnl_socket_setsockopt (s, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0)
    {
      int e = errno;
      mnl_socket_close (s);
      return dk_make_error (err, e, "subscribe to netlink group %d", group);
    }
  struct dk_nl *nl = xzalloc (sizeof *nl);
  nl->sock = s;
  nl->portid = mnl_socket_get_portid (s);
  *out = nl;
  return 0;
}

int
dk_nl_fd (const struct dk_nl *nl)
{
  return mnl_socket_get_fd (nl->sock);
}

int
dk_nl_monitor_read (struct dk_nl *nl, dk_nl_event_cb cb, void *data, dk_err_t *err)
{
  cleanup_free char *buf = xmalloc (NL_BUFSZ);
  for (;;)
    {
      ssize_t n = mnl_socket_recvfrom (nl->sock, buf, NL_BUFSZ);
      if (n < 0)
        {
          if (errno == EINTR || errno == ENOBUFS)
            continue;
          if (errno == EAGAIN)
            return 0;
          return dk_make_error (err, errno, "read netlink events");
        }
      int len = n;
      for (struct nlmsghdr *h = (struct nlmsghdr *)buf; mnl_nlmsg_ok (h, len);
           h = mnl_nlmsg_next (h, &len))
        cb (h, data);
    }
}

int
dk_nl_event_dellink (const struct nlmsghdr *nlh)
{
  if (nlh->nlmsg_type != RTM_DELLINK || nlh->nlmsg_len < NLMSG_LENGTH (sizeof (struct ifinfomsg)))
    return 0;
  const struct ifinfomsg *ifm = mnl_nlmsg_get_payload (nlh);
  return ifm->ifi_index;
}

static int
gen_attr_cb (const struct nlattr *a, void *data)
{
  int *pid = data;
  if (mnl_attr_get_type (a) == NFTA_GEN_PROC_PID && mnl_attr_get_payload_len (a) == 4)
    *pid = ntohl (mnl_attr_get_u32 (a));
  return MNL_CB_OK;
}

int
dk_nl_event_nft_commit (const struct nlmsghdr *nlh)
{
  if (nlh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN)
      || nlh->nlmsg_len < NLMSG_LENGTH (sizeof (struct nfgenmsg)))
    return -1;
  int pid = -1;
  mnl_attr_parse (nlh, sizeof (struct nfgenmsg), gen_attr_cb, &pid);
  return pid;
}
