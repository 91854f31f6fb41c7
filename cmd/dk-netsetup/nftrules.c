/* The rules of published ports straight over nf_tables, when iptables is
   iptables-nft: the very expressions iptables-nft makes for the rules of
   rules_ports_start (so `iptables -t nat -L`, iptables-save and
   `iptables -D` see them as their own), sent in one batch from this
   process instead of running iptables-restore.  The rules' handles, echoed
   by the kernel, go into the endpoint record; teardown deletes by handle
   after checking that the tables are still the ones the handles belong to.
   The socket is closed last by a lingerer (linger.c): closing it after a
   deletion waits for an RCU grace period (docs/network.md). */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <limits.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/x_tables.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "netsetup.h"

#define BATCH_SZ 16384

bool
nft_usable (const char *tool)
{
  const char *path = getenv ("PATH");
  cleanup_free char *copy = xstrdup (path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  char *save = NULL;
  for (char *dir = strtok_r (copy, ":", &save); dir; dir = strtok_r (NULL, ":", &save))
    {
      cleanup_free char *p = xasprintf ("%s/%s", dir, tool);
      char real[PATH_MAX];
      if (access (p, X_OK) == 0)
        return realpath (p, real) && strstr (strrchr (real, '/'), "nft") != NULL;
    }
  return false;
}

/* What differs between the IPv4 and IPv6 rules: the nf_tables family and
   where the addresses are in the network header. */
struct fam
{
  uint8_t nfproto;
  uint32_t saddr_off, daddr_off, alen;
};
static const struct fam FAM4 = { NFPROTO_IPV4, 12, 16, 4 };
static const struct fam FAM6 = { NFPROTO_IPV6, 8, 24, 16 };

struct batch
{
  char *buf;
  size_t len;
  uint32_t seq0, seq;
};

static struct nlmsghdr *
put_msg (struct batch *b, int type, int flags, int family, uint16_t res_id)
{
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (b->buf + b->len);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = ++b->seq;
  struct nfgenmsg *g = mnl_nlmsg_put_extra_header (nlh, sizeof *g);
  g->nfgen_family = family;
  g->version = NFNETLINK_V0;
  g->res_id = htons (res_id);
  return nlh;
}

static void
end_msg (struct batch *b, struct nlmsghdr *nlh)
{
  b->len += NLMSG_ALIGN (nlh->nlmsg_len);
}

static void
u32_attr (struct nlmsghdr *nlh, int type, uint32_t v)
{
  mnl_attr_put_u32 (nlh, type, htonl (v));
}

static struct nlattr *
expr_begin (struct nlmsghdr *nlh, const char *name, struct nlattr **data)
{
  struct nlattr *elem = mnl_attr_nest_start (nlh, NFTA_LIST_ELEM);
  mnl_attr_put_strz (nlh, NFTA_EXPR_NAME, name);
  *data = mnl_attr_nest_start (nlh, NFTA_EXPR_DATA);
  return elem;
}

static void
expr_end (struct nlmsghdr *nlh, struct nlattr *elem, struct nlattr *data)
{
  mnl_attr_nest_end (nlh, data);
  mnl_attr_nest_end (nlh, elem);
}

static void
e_meta (struct nlmsghdr *nlh, uint32_t key)
{
  struct nlattr *d, *e = expr_begin (nlh, "meta", &d);
  u32_attr (nlh, NFTA_META_KEY, key);
  u32_attr (nlh, NFTA_META_DREG, NFT_REG_1);
  expr_end (nlh, e, d);
}

static void
e_payload (struct nlmsghdr *nlh, uint32_t base, uint32_t off, uint32_t len)
{
  struct nlattr *d, *e = expr_begin (nlh, "payload", &d);
  u32_attr (nlh, NFTA_PAYLOAD_DREG, NFT_REG_1);
  u32_attr (nlh, NFTA_PAYLOAD_BASE, base);
  u32_attr (nlh, NFTA_PAYLOAD_OFFSET, off);
  u32_attr (nlh, NFTA_PAYLOAD_LEN, len);
  expr_end (nlh, e, d);
}

static void
e_cmp (struct nlmsghdr *nlh, uint32_t op, const void *v, size_t len)
{
  struct nlattr *d, *e = expr_begin (nlh, "cmp", &d);
  u32_attr (nlh, NFTA_CMP_SREG, NFT_REG_1);
  u32_attr (nlh, NFTA_CMP_OP, op);
  struct nlattr *data = mnl_attr_nest_start (nlh, NFTA_CMP_DATA);
  mnl_attr_put (nlh, NFTA_DATA_VALUE, len, v);
  mnl_attr_nest_end (nlh, data);
  expr_end (nlh, e, d);
}

/* -i / -o NAME (! when neq), as iptables-nft matches a name without '+' */
static void
e_ifname (struct nlmsghdr *nlh, uint32_t key, const char *name, bool neq)
{
  e_meta (nlh, key);
  e_cmp (nlh, neq ? NFT_CMP_NEQ : NFT_CMP_EQ, name, strlen (name) + 1);
}

/* [-s SRC/32|128] [-d DST/32|128] -p PROTO -m PROTO --dport PORT: meta
   l4proto, network and transport payloads (iptables-nft's order) */
static void
e_proto_dport (struct nlmsghdr *nlh, const struct fam *f, uint8_t proto, const void *src,
               const void *dst, uint16_t port)
{
  e_meta (nlh, NFT_META_L4PROTO);
  e_cmp (nlh, NFT_CMP_EQ, &proto, 1);
  if (src)
    {
      e_payload (nlh, NFT_PAYLOAD_NETWORK_HEADER, f->saddr_off, f->alen);
      e_cmp (nlh, NFT_CMP_EQ, src, f->alen);
    }
  if (dst)
    {
      e_payload (nlh, NFT_PAYLOAD_NETWORK_HEADER, f->daddr_off, f->alen);
      e_cmp (nlh, NFT_CMP_EQ, dst, f->alen);
    }
  uint16_t p = htons (port);
  e_payload (nlh, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
  e_cmp (nlh, NFT_CMP_EQ, &p, 2);
}

static void
e_counter (struct nlmsghdr *nlh)
{
  struct nlattr *d, *e = expr_begin (nlh, "counter", &d);
  mnl_attr_put_u64 (nlh, NFTA_COUNTER_BYTES, 0);
  mnl_attr_put_u64 (nlh, NFTA_COUNTER_PACKETS, 0);
  expr_end (nlh, e, d);
}

static void
e_target (struct nlmsghdr *nlh, const char *name, uint32_t rev, const void *info, size_t len)
{
  struct nlattr *d, *e = expr_begin (nlh, "target", &d);
  mnl_attr_put_strz (nlh, NFTA_TARGET_NAME, name);
  u32_attr (nlh, NFTA_TARGET_REV, rev);
  mnl_attr_put (nlh, NFTA_TARGET_INFO, len, info);
  expr_end (nlh, e, d);
}

static void
e_accept (struct nlmsghdr *nlh)
{
  struct nlattr *d, *e = expr_begin (nlh, "immediate", &d);
  u32_attr (nlh, NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
  struct nlattr *data = mnl_attr_nest_start (nlh, NFTA_IMMEDIATE_DATA);
  struct nlattr *v = mnl_attr_nest_start (nlh, NFTA_DATA_VERDICT);
  u32_attr (nlh, NFTA_VERDICT_CODE, NF_ACCEPT);
  mnl_attr_nest_end (nlh, v);
  mnl_attr_nest_end (nlh, data);
  expr_end (nlh, e, d);
}

static struct nlmsghdr *
rule_begin (struct batch *b, const struct fam *f, const char *table, const char *chain,
            struct nlattr **exprs)
{
  struct nlmsghdr *nlh
      = put_msg (b, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE,
                 NLM_F_CREATE | NLM_F_APPEND | NLM_F_ECHO | NLM_F_ACK, f->nfproto, 0);
  mnl_attr_put_strz (nlh, NFTA_RULE_TABLE, table);
  mnl_attr_put_strz (nlh, NFTA_RULE_CHAIN, chain);
  *exprs = mnl_attr_nest_start (nlh, NFTA_RULE_EXPRESSIONS);
  return nlh;
}

static void
rule_end (struct batch *b, struct nlmsghdr *nlh, struct nlattr *exprs, uint8_t proto)
{
  mnl_attr_nest_end (nlh, exprs);
  struct nlattr *c = mnl_attr_nest_start (nlh, NFTA_RULE_COMPAT);
  u32_attr (nlh, NFTA_RULE_COMPAT_PROTO, proto);
  u32_attr (nlh, NFTA_RULE_COMPAT_FLAGS, 0);
  mnl_attr_nest_end (nlh, c);
  end_msg (b, nlh);
}

/* The address of a container or host, in the family's bytes. */
union addr
{
  uint32_t v4;
  struct in6_addr v6;
};

/* The three rules of one published port (see rules_ports_start); hip NULL
   for every host address. */
static void
port_rules (struct batch *b, const struct fam *f, const struct daemon_cfg *d, const struct net *n,
            const union addr *cip, uint8_t proto, const union addr *hip, uint16_t hp, uint16_t cp)
{
  struct nlattr *x;
  /* nat DOCKER: [-d HIP] [! -i BR] -p P -m P --dport HP -j DNAT --to-destination CIP:CP */
  struct nlmsghdr *nlh = rule_begin (b, f, "nat", "DOCKER", &x);
  if (d->userland_proxy)
    e_ifname (nlh, NFT_META_IIFNAME, n->bridge, true);
  e_proto_dport (nlh, f, proto, NULL, hip, hp);
  e_counter (nlh);
  struct nf_nat_range2 r = { 0 };
  char info[XT_ALIGN (sizeof (struct nf_nat_range2))] = { 0 };
  r.flags = NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED;
  if (f == &FAM6)
    r.min_addr.in6 = r.max_addr.in6 = cip->v6;
  else
    r.min_addr.ip = r.max_addr.ip = cip->v4;
  r.min_proto.all = r.max_proto.all = htons (cp);
  memcpy (info, &r, sizeof r);
  e_target (nlh, "DNAT", 2, info, sizeof info);
  rule_end (b, nlh, x, proto);
  /* nat POSTROUTING: -s CIP -d CIP -p P -m P --dport CP -j MASQUERADE (its
     IPv4 revision 0 takes the old multi-range, the IPv6 one a range) */
  nlh = rule_begin (b, f, "nat", "POSTROUTING", &x);
  e_proto_dport (nlh, f, proto, cip, cip, cp);
  e_counter (nlh);
  struct nf_nat_ipv4_multi_range_compat m = { .rangesize = 1 };
  char minfo[XT_ALIGN (sizeof m)] = { 0 }, minfo6[XT_ALIGN (sizeof (struct nf_nat_range))] = { 0 };
  memcpy (minfo, &m, sizeof m);
  if (f == &FAM6)
    e_target (nlh, "MASQUERADE", 0, minfo6, sizeof minfo6);
  else
    e_target (nlh, "MASQUERADE", 0, minfo, sizeof minfo);
  rule_end (b, nlh, x, proto);
  /* filter DOCKER: -d CIP ! -i BR -o BR -p P -m P --dport CP -j ACCEPT */
  nlh = rule_begin (b, f, "filter", "DOCKER", &x);
  e_ifname (nlh, NFT_META_IIFNAME, n->bridge, true);
  e_ifname (nlh, NFT_META_OIFNAME, n->bridge, false);
  e_proto_dport (nlh, f, proto, NULL, cip, cp);
  e_counter (nlh);
  e_accept (nlh);
  rule_end (b, nlh, x, proto);
}

struct reply
{
  uint32_t seq0, seq;   /* requests seq0 < s <= seq */
  int acks, err;        /* acks seen; first error (errno) */
  jv rules;             /* [[table, chain, handle]] from echoes */
  int64_t table_handle; /* from a NEWTABLE answer */
};

static int
rule_attr_cb (const struct nlattr *a, void *data)
{
  const struct nlattr **tb = data;
  int t = mnl_attr_get_type (a);
  if (t <= NFTA_RULE_MAX)
    tb[t] = a;
  return MNL_CB_OK;
}

static int
table_attr_cb (const struct nlattr *a, void *data)
{
  const struct nlattr **tb = data;
  int t = mnl_attr_get_type (a);
  if (t <= NFTA_TABLE_MAX)
    tb[t] = a;
  return MNL_CB_OK;
}

static void
on_msg (const struct nlmsghdr *h, struct reply *r)
{
  if (h->nlmsg_seq <= r->seq0 || h->nlmsg_seq > r->seq)
    return;
  if (h->nlmsg_type == NLMSG_ERROR)
    {
      const struct nlmsgerr *e = mnl_nlmsg_get_payload (h);
      r->acks++;
      if (e->error && r->err == 0)
        r->err = -e->error;
      return;
    }
  int msg = h->nlmsg_type & 0xff;
  if ((h->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES)
    return;
  if (msg == NFT_MSG_NEWRULE)
    {
      const struct nlattr *tb[NFTA_RULE_MAX + 1] = { 0 };
      mnl_attr_parse (h, sizeof (struct nfgenmsg), rule_attr_cb, tb);
      if (tb[NFTA_RULE_TABLE] && tb[NFTA_RULE_CHAIN] && tb[NFTA_RULE_HANDLE])
        r->rules = jv_array_append (
            r->rules, JV_ARRAY (jv_string (mnl_attr_get_str (tb[NFTA_RULE_TABLE])),
                                jv_string (mnl_attr_get_str (tb[NFTA_RULE_CHAIN])),
                                jv_number (be64toh (mnl_attr_get_u64 (tb[NFTA_RULE_HANDLE])))));
    }
  else if (msg == NFT_MSG_NEWTABLE)
    {
      const struct nlattr *tb[NFTA_TABLE_MAX + 1] = { 0 };
      mnl_attr_parse (h, sizeof (struct nfgenmsg), table_attr_cb, tb);
      if (tb[NFTA_TABLE_HANDLE])
        r->table_handle = be64toh (mnl_attr_get_u64 (tb[NFTA_TABLE_HANDLE]));
    }
}

/* Sends b and reads until every request in it is acknowledged: 0, -1
   (nothing was done, or the kernel refused the batch: nothing committed)
   or -2 when the answers were lost (the batch may have been committed). */
static int
talk (struct mnl_socket *s, struct batch *b, int want_acks, struct reply *r, dk_err_t *err)
{
  r->seq0 = b->seq0;
  r->seq = b->seq;
  if (mnl_socket_sendto (s, b->buf, b->len) < 0)
    return dk_make_error (err, errno, "nf_tables: send");
  cleanup_free char *buf = xmalloc (BATCH_SZ);
  while (r->acks < want_acks)
    {
      ssize_t n = mnl_socket_recvfrom (s, buf, BATCH_SZ);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if ((errno == EAGAIN || errno == EWOULDBLOCK) && r->err)
            break; /* a failed batch may leave requests unanswered */
          dk_make_error (err, errno, "nf_tables: receive");
          return -2;
        }
      int len = n;
      for (struct nlmsghdr *h = (struct nlmsghdr *)buf; mnl_nlmsg_ok (h, len);
           h = mnl_nlmsg_next (h, &len))
        on_msg (h, r);
      if (r->err)
        {
          struct timeval tv = { 0, 200000 };
          setsockopt (mnl_socket_get_fd (s), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        }
    }
  if (r->err)
    return dk_make_error (err, r->err, "nf_tables");
  return 0;
}

static int
sock_open (struct mnl_socket **out, dk_err_t *err)
{
  struct mnl_socket *s = mnl_socket_open2 (NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (s == NULL)
    return dk_make_error (err, errno, "open nf_tables socket");
  if (mnl_socket_bind (s, 0, MNL_SOCKET_AUTOPID) < 0)
    {
      int e = errno;
      mnl_socket_close (s);
      return dk_make_error (err, e, "bind nf_tables socket");
    }
  struct timeval tv = { 5, 0 }; /* never hang on a lost answer */
  setsockopt (mnl_socket_get_fd (s), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int one = 1; /* acks without a copy of the request */
  setsockopt (mnl_socket_get_fd (s), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  *out = s;
  return 0;
}

/* Closing is left to a lingerer (when it cannot start, we wait here). */
static void
sock_close (struct mnl_socket *s)
{
  cleanup_error dk_err_t e = NULL;
  linger_keep (mnl_socket_get_fd (s), &e);
  mnl_socket_close (s);
}

static int
table_handle (struct mnl_socket *s, uint32_t seq, const struct fam *f, const char *table,
              int64_t *out, dk_err_t *err)
{
  char buf[512];
  struct batch b = { buf, 0, seq, seq };
  struct nlmsghdr *nlh
      = put_msg (&b, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, NLM_F_ACK, f->nfproto, 0);
  mnl_attr_put_strz (nlh, NFTA_TABLE_NAME, table);
  end_msg (&b, nlh);
  struct reply r = { .rules = jv_null (), .table_handle = -1 };
  int rc = talk (s, &b, 1, &r, err);
  jv_free (r.rules);
  *out = r.table_handle;
  return rc;
}

static void
batch_begin (struct batch *b)
{
  end_msg (b, put_msg (b, NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES));
}

static void
batch_end (struct batch *b)
{
  end_msg (b, put_msg (b, NFNL_MSG_BATCH_END, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES));
}

int
nft_ports_add (const struct daemon_cfg *d, const struct net *n, bool v6, const char *addr, jv ports,
               jv *out, dk_err_t *err)
{
  const struct fam *f = v6 ? &FAM6 : &FAM4;
  union addr cip = { 0 };
  if (v6 ? parse_ip6 (addr, &cip.v6) < 0 : parse_ip4 (addr, &cip.v4) < 0)
    return dk_make_error (err, EINVAL, "nf_tables: bad address %s", addr);
  if (!v6)
    cip.v4 = htonl (cip.v4);
  int count = 0;
  jv_array_foreach (ports, i, p)
  {
    count += port_has_rules (v6, dk_json_str (p, "host_ip"));
    jv_free (p);
  }
  if (count > NFT_MAX_PORTS)
    return dk_make_error (err, E2BIG, "nf_tables: too many ports for one batch");
  struct mnl_socket *s;
  if (sock_open (&s, err) < 0)
    return -1;
  uint32_t seq = (uint32_t)time (NULL);
  int64_t th_nat, th_filter;
  if (table_handle (s, seq, f, "nat", &th_nat, err) != 0
      || table_handle (s, seq + 10, f, "filter", &th_filter, err) != 0)
    return sock_close (s), -1;
  /* a rule is < 700 bytes (the largest, DNAT with -d and ! -i, ~560) */
  cleanup_free char *buf = xzalloc (count * 3 * 700 + 256);
  struct batch b = { buf, 0, seq + 20, seq + 20 };
  batch_begin (&b);
  jv_array_foreach (ports, i, p)
  {
    const char *proto = dk_json_str (p, "proto");
    const char *hips = dk_json_str (p, "host_ip");
    union addr hip = { 0 };
    bool one = !host_ip_any (hips);
    if (one && v6)
      parse_ip6 (hips, &hip.v6);
    else if (one)
      parse_ip4 (hips, &hip.v4), hip.v4 = htonl (hip.v4);
    int64_t hp = 0, cp = 0;
    dk_json_int (p, "host_port", &hp);
    dk_json_int (p, "container_port", &cp);
    if (port_has_rules (v6, hips))
      port_rules (&b, f, d, n, &cip, !strcmp (proto, "udp") ? IPPROTO_UDP : IPPROTO_TCP,
                  one ? &hip : NULL, hp, cp);
    jv_free (p);
  }
  batch_end (&b);
  struct reply r = { .rules = jv_array (), .table_handle = -1 };
  int rc = talk (s, &b, count * 3, &r, err);
  /* committed: its xt targets waited for the deferred destruction, so
     nothing is left for the close to wait for (but a deletion by another
     process since then): no lingerer needed */
  if (rc == 0)
    mnl_socket_close (s);
  else
    sock_close (s);
  if (rc == 0 && jv_array_length (jv_copy (r.rules)) != count * 3)
    {
      dk_make_error (err, 0, "nf_tables: %d rule handles echoed, %d expected",
                     jv_array_length (jv_copy (r.rules)), count * 3);
      rc = -2; /* committed, but not all handles are known */
    }
  if (rc < 0)
    {
      jv_free (r.rules);
      return rc;
    }
  *out = JV_OBJECT (jv_string ("nat"), jv_number (th_nat), jv_string ("filter"),
                    jv_number (th_filter), jv_string ("rules"), r.rules);
  if (v6)
    *out = jv_object_set (*out, jv_string ("family"), jv_number (6));
  return 0;
}

int
nft_ports_del (jv rec, dk_err_t *err)
{
  jv rules = jv_object_get (jv_copy (rec), jv_string ("rules"));
  if (jv_get_kind (rules) != JV_KIND_ARRAY)
    {
      jv_free (rules);
      return dk_make_error (err, EINVAL, "nf_tables: bad rule record");
    }
  struct mnl_socket *s;
  if (sock_open (&s, err) < 0)
    return jv_free (rules), -1;
  uint32_t seq = (uint32_t)time (NULL);
  int64_t th_nat, th_filter, want_nat = -2, want_filter = -2, family = 4;
  dk_json_int (rec, "nat", &want_nat);
  dk_json_int (rec, "filter", &want_filter);
  dk_json_int (rec, "family", &family);
  const struct fam *f = family == 6 ? &FAM6 : &FAM4;
  int rc = 0;
  if (table_handle (s, seq, f, "nat", &th_nat, err) != 0
      || table_handle (s, seq + 10, f, "filter", &th_filter, err) != 0)
    rc = -1;
  else if (th_nat != want_nat || th_filter != want_filter)
    rc = dk_make_error (err, ESTALE, "nf_tables: the tables were recreated");
  cleanup_free char *buf = xzalloc (BATCH_SZ);
  struct batch b = { buf, 0, seq + 20, seq + 20 };
  int count = 0;
  if (rc == 0)
    {
      batch_begin (&b);
      jv_array_foreach (rules, i, x)
      {
        jv t = jv_array_get (jv_copy (x), 0), ch = jv_array_get (jv_copy (x), 1);
        jv h = jv_array_get (jv_copy (x), 2);
        if (jv_get_kind (t) == JV_KIND_STRING && jv_get_kind (ch) == JV_KIND_STRING
            && jv_get_kind (h) == JV_KIND_NUMBER && b.len + 256 < BATCH_SZ)
          {
            struct nlmsghdr *nlh = put_msg (&b, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELRULE,
                                            NLM_F_ACK, f->nfproto, 0);
            mnl_attr_put_strz (nlh, NFTA_RULE_TABLE, jv_string_value (t));
            mnl_attr_put_strz (nlh, NFTA_RULE_CHAIN, jv_string_value (ch));
            mnl_attr_put_u64 (nlh, NFTA_RULE_HANDLE, htobe64 ((uint64_t)jv_number_value (h)));
            end_msg (&b, nlh);
            count++;
          }
        jv_free (t), jv_free (ch), jv_free (h), jv_free (x);
      }
      batch_end (&b);
      struct reply r = { .rules = jv_null (), .table_handle = -1 };
      rc = talk (s, &b, count, &r, err);
      jv_free (r.rules);
    }
  sock_close (s);
  jv_free (rules);
  return rc;
}
