/* rtnetlink over libmnl: links (bridge, veth), addresses, routes, network
   namespaces.  Never runs `ip`.  A socket works in the network namespace it
   was opened in, so one process can configure the host side and a
   container's namespace at once. */
#ifndef DK_NETLINK_H
#define DK_NETLINK_H

#include <linux/netlink.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct dk_nl;

/* A socket in the caller's current network namespace. */
int dk_nl_open (struct dk_nl **out, dk_err_t *err);
/* A socket in the namespace bind-mounted (or /proc/PID/ns/net) at path. */
int dk_nl_open_netns (const char *nspath, struct dk_nl **out, dk_err_t *err);
void dk_nl_close (struct dk_nl *nl);
void dk_cleanup_nlp (struct dk_nl **nl);
#define cleanup_nl __attribute__ ((cleanup (dk_cleanup_nlp)))

/* Interface index of name in the socket's namespace; 0 when absent. */
int dk_nl_link_index (struct dk_nl *nl, const char *name, dk_err_t *err);
/* Kind ("bridge", "veth", ...) of a link into kind[16]; "" when it has none. */
int dk_nl_link_kind (struct dk_nl *nl, const char *name, char kind[16], dk_err_t *err);
int dk_nl_bridge_add (struct dk_nl *nl, const char *name, unsigned mtu, dk_err_t *err);
/* A veth pair: name here, peer created directly in the namespace open as
   peer_nsfd (or here when -1), with mac (6 bytes, may be NULL). */
int dk_nl_veth_add (struct dk_nl *nl, const char *name, const char *peer, int peer_nsfd,
                    const uint8_t *mac, unsigned mtu, dk_err_t *err);
/* The same, with more: this end created up and on bridge master (> 0);
   the peer cannot be created up (veth_open needs the pair complete). */
struct dk_nl_veth
{
  const char *name, *peer;
  int peer_nsfd;
  const uint8_t *mac;
  unsigned mtu;
  int master;
  bool up;
};
int dk_nl_veth_create (struct dk_nl *nl, const struct dk_nl_veth *v, dk_err_t *err);
/* Sets up/down, master (0: leave, -1: none) and mtu (0: leave). */
int dk_nl_link_set (struct dk_nl *nl, int index, bool up, int master, unsigned mtu, dk_err_t *err);
/* Deletes the link; absent is not an error (returns 0, 1 when deleted). */
int dk_nl_link_del (struct dk_nl *nl, const char *name, dk_err_t *err);
/* IFLA_BRPORT_ISOLATED on a bridge port. */
int dk_nl_brport_isolated (struct dk_nl *nl, int index, bool on, dk_err_t *err);
/* Hairpin mode: frames may leave by the port they came in (a container
   reaching its own published port through the host's address). */
int dk_nl_brport_hairpin (struct dk_nl *nl, int index, bool on, dk_err_t *err);

/* An IPv6 address is added without duplicate address detection. */
int dk_nl_addr_add (struct dk_nl *nl, int index, int family, const void *addr, int prefix_len,
                    dk_err_t *err);
/* Absent is not an error (returns 0, 1 when deleted). */
int dk_nl_addr_del (struct dk_nl *nl, int index, int family, const void *addr, int prefix_len,
                    dk_err_t *err);
/* Calls cb for every address (of index, or all when index is 0). */
typedef void (*dk_nl_addr_cb) (int index, int family, const void *addr, int prefix_len, void *data);
int dk_nl_addr_list (struct dk_nl *nl, int family, int index, dk_nl_addr_cb cb, void *data,
                     dk_err_t *err);
/* Calls cb for every IPv4/IPv6 route of the main table (dst, dst_len). */
int dk_nl_route_list (struct dk_nl *nl, int family, dk_nl_addr_cb cb, void *data, dk_err_t *err);
int dk_nl_route_add_default (struct dk_nl *nl, int family, const void *gw, int oif, dk_err_t *err);

/* Several requests in one write, each acknowledged; the first error is
   reported (the kernel goes on with the requests after a failed one). */
struct dk_nl_batch
{
  char buf[4096];
  size_t len;
  unsigned n;
};
void dk_nl_batch_init (struct dk_nl_batch *b);
void dk_nl_batch_link_set (struct dk_nl_batch *b, int index, bool up, int master, unsigned mtu);
void dk_nl_batch_addr_add (struct dk_nl_batch *b, int index, int family, const void *addr,
                           int prefix_len);
void dk_nl_batch_route_default (struct dk_nl_batch *b, int family, const void *gw, int oif);
int dk_nl_batch_send (struct dk_nl *nl, struct dk_nl_batch *b, dk_err_t *err);

/* Link names of the namespace (malloc'd, NULL-terminated). */
int dk_nl_link_names (struct dk_nl *nl, char ***out, dk_err_t *err);

/* Creates a new network namespace and bind-mounts it on path (created).
   The caller's namespace is unchanged. */
int dk_netns_create (const char *path, dk_err_t *err);
/* Unmounts and removes path; absent is not an error. */
int dk_netns_remove (const char *path, dk_err_t *err);
/* Runs fn inside the namespace at path and comes back. */
int dk_netns_run (const char *path, int (*fn) (void *data, dk_err_t *err), void *data,
                  dk_err_t *err);

/* Event sockets.  One receiving multicast group of protocol (NETLINK_ROUTE:
   RTNLGRP_*, NETLINK_NETFILTER: NFNLGRP_*) in the caller's namespace; it is
   bound to a port id (the kernel sends no event to an unbound one), so the
   release of a netfilter one flushes nf_tables' deferred destruction, an RCU
   grace period (docs/network.md): let another process close it last. */
int dk_nl_open_monitor (int proto, int group, struct dk_nl **out, dk_err_t *err);
int dk_nl_fd (const struct dk_nl *nl);
/* Reads what is queued without blocking and calls cb for every message
   (EAGAIN and ENOBUFS, events lost, are not errors). */
typedef void (*dk_nl_event_cb) (const struct nlmsghdr *nlh, void *data);
int dk_nl_monitor_read (struct dk_nl *nl, dk_nl_event_cb cb, void *data, dk_err_t *err);
/* The index of the link an RTM_DELLINK event removes; 0 for other events. */
int dk_nl_event_dellink (const struct nlmsghdr *nlh);
/* The pid of the process whose nf_tables commit an NFT_MSG_NEWGEN event
   reports (pid of the initial pid namespace); -1 for other events. */
int dk_nl_event_nft_commit (const struct nlmsghdr *nlh);

/* "/proc/sys/..." writes, e.g. dk_sysctl_set ("net/ipv4/ip_forward", "1"). */
int dk_sysctl_set (const char *key, const char *value, dk_err_t *err);
int dk_sysctl_get (const char *key, char *buf, size_t len, dk_err_t *err);

#endif
