/* dk-netsetup's internal interfaces.  State layout (docs/network.md):
   STATE/lock, STATE/daemon.json, STATE/networks/NAME.json; runtime state
   in EXECROOT: ipam/NAME.json, endpoints/ID.json, netns/ID. */
#ifndef DK_NETSETUP_H
#define DK_NETSETUP_H

#include <stdbool.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "json.h"

struct dk_nl;

struct ctx
{
  const char *state_dir;
  const char *exec_root;
  int lock_fd; /* >= 0 while the state lock is held */
};

/* Daemon-wide settings written by init. */
struct daemon_cfg
{
  bool iptables, ip6tables, ip_forward, userland_proxy, ipv6;
  uint32_t default_bind_ip; /* --ip, host order; 0 = 0.0.0.0 */
  char *default_bridge;     /* NULL when --bridge none */
};

struct net
{
  char *name, *id, *bridge, *created;
  uint32_t subnet, gateway, range; /* host order */
  int plen, range_plen;
  bool internal, icc, masq, is_default, user_bridge; /* user_bridge: adopted, never deleted */
  unsigned mtu;
  bool v6; /* an IPv6 subnet too (default bridge with --ipv6) */
  struct in6_addr subnet6, gateway6;
  int plen6;
  jv labels, options;
};

/* addr.c: IPv4 helpers (host byte order). */
int parse_ip4 (const char *s, uint32_t *out);
int parse_cidr4 (const char *s, uint32_t *addr, int *plen);
char *fmt_ip4 (uint32_t a);
uint32_t mask4 (int plen);
bool in_subnet (uint32_t a, uint32_t net, int plen);
bool overlaps (uint32_t a, int alen, uint32_t b, int blen);
int parse_bool (const char *s, bool *out);

/* ipv6.c */
int parse_ip6 (const char *s, struct in6_addr *out);
int parse_cidr6 (const char *s, struct in6_addr *addr, int *plen);
char *fmt_ip6 (const struct in6_addr *a);
void mask6 (struct in6_addr *a, int plen);
bool in_subnet6 (const struct in6_addr *a, const struct in6_addr *net, int plen);
/* As ipam_alloc, in the network's IPv6 subnet (want may be NULL). */
int ipam_alloc6 (struct ctx *c, const struct net *n, const struct in6_addr *want, const char *owner,
                 struct in6_addr *out, dk_err_t *err);
int ipam_release_key (struct ctx *c, const char *net, const char *key, dk_err_t *err);
/* The default bridge's IPv6 settings from init's flags (old: the saved
   network, name NULL when none). */
int net6_configure (const struct daemon_cfg *d, struct net *n, const struct net *old,
                    const char *fixed6, const char *dgw6, dk_err_t *err);

/* store.c */
bool name_ok (const char *name);
int state_init (struct ctx *c, dk_err_t *err);
int write_runtime_file (const char *path, const void *data, size_t len, dk_err_t *err);
int ctx_lock (struct ctx *c, dk_err_t *err);
void ctx_unlock (struct ctx *c);
char *state_path (struct ctx *c, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
char *run_path (struct ctx *c, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
int daemon_load (struct ctx *c, struct daemon_cfg *d, dk_err_t *err);
int daemon_save (struct ctx *c, const struct daemon_cfg *d, dk_err_t *err);
void daemon_free (struct daemon_cfg *d);
/* 0 and *n set, or -1 with not_found "network NAME not found". */
int net_load (struct ctx *c, const char *name, struct net *n, dk_err_t *err);
int net_save (struct ctx *c, const struct net *n, dk_err_t *err);
/* By name, full ID or unique ID prefix. */
int net_find (struct ctx *c, const char *ref, struct net *n, dk_err_t *err);
void net_free (struct net *n);
jv net_to_json (const struct net *n);
/* Names of every saved network (malloc'd strv). */
char **net_names (struct ctx *c);
/* IPAM: allocations of a network, {"IP":"owner"}. */
jv ipam_load (struct ctx *c, const char *net);
int ipam_save (struct ctx *c, const char *net, jv alloc, dk_err_t *err);
/* Allocates want (0: first free in the range) for owner; under the lock. */
int ipam_alloc (struct ctx *c, const struct net *n, uint32_t want, const char *owner, uint32_t *out,
                dk_err_t *err);
int ipam_release (struct ctx *c, const char *net, uint32_t ip, dk_err_t *err);
/* Endpoint records; jv_null() when absent. */
jv ep_load (struct ctx *c, const char *id);
int ep_save (struct ctx *c, const char *id, jv ep, dk_err_t *err);
int ep_remove (struct ctx *c, const char *id, dk_err_t *err);
char **ep_ids (struct ctx *c);

/* bridge.c */
int cmd_init (struct ctx *c, int argc, char **argv, dk_err_t *err);
int bridge_ensure (struct ctx *c, const struct daemon_cfg *d, struct net *n, dk_err_t *err);
int cmd_network_create (struct ctx *c, int argc, char **argv, dk_err_t *err);
int cmd_network_rm (struct ctx *c, int argc, char **argv, dk_err_t *err);
int cmd_network_ls (struct ctx *c, int argc, char **argv, dk_err_t *err);
int cmd_network_inspect (struct ctx *c, int argc, char **argv, dk_err_t *err);

int subnet_pick (struct ctx *c, struct dk_nl *nl, uint32_t *subnet, int *plen, dk_err_t *err);
/* n random bytes (getrandom; aborts when the kernel has none to give). */
void random_bytes (void *buf, size_t n);
char *random_id (void);
char *now_rfc3339 (void);

/* rules.c: iptables */
/* Whether a port published on host address hip (NULL: every one) has
   rules in the IPv4 or IPv6 (v6) tables. */
bool port_has_rules (bool v6, const char *hip);
/* Whether hip (NULL, 0.0.0.0 or ::) stands for every address. */
bool host_ip_any (const char *hip);
/* With n->v6 the IPv6 rules too, by ip6tables; rules_network6: only those. */
int rules_network (const struct daemon_cfg *d, const struct net *n, bool add, dk_err_t *err);
int rules_network6 (const struct daemon_cfg *d, const struct net *n, bool add, dk_err_t *err);
/* ports: array of {"proto","host_ip","host_port","container_port"} (borrowed). */
int rules_ports (const struct daemon_cfg *d, const struct net *n, uint32_t ip, jv ports, bool add,
                 dk_err_t *err);
/* The same in two steps, so that the caller works while the rules go in:
   start spawns iptables-restore, finish waits for it (and on teardown
   falls back to removing rule by rule).  finish is a no-op when start had
   nothing to do. */
struct cmd_job
{
  pid_t pid; /* -1: nothing running */
  int err_fd;
  const char *name;
};
struct rules_job
{
  char *text;   /* NULL: nothing started */
  bool add, v6; /* v6: ip6tables-restore */
  struct cmd_job cmd;
  struct dk_nl *mon; /* nf_tables events, NULL when unavailable */
  int commits;       /* commits of cmd.pid still to be seen on mon */
};
int rules_ports_start (const struct daemon_cfg *d, const struct net *n, uint32_t ip, jv ports,
                       bool add, struct rules_job *job, dk_err_t *err);
/* The same for the container's IPv6 address ip6 (text; NULL: nothing),
   for the ports published on every address. */
int rules_ports6_start (const struct daemon_cfg *d, const struct net *n, const char *ip6, jv ports,
                        bool add, struct rules_job *job, dk_err_t *err);
int rules_ports_finish (struct rules_job *job, dk_err_t *err);
/* Runs argv (argv[0] looked up on PATH); stdin_text may be NULL.  quiet:
   no error set, -status returned. */
int run_cmd (char *const argv[], const char *stdin_text, bool quiet, dk_err_t *err);
/* run_cmd in two steps: start spawns, finish reads stderr and waits. */
int cmd_start (char *const argv[], const char *stdin_text, struct cmd_job *job, dk_err_t *err);
int cmd_finish (struct cmd_job *job, bool quiet, dk_err_t *err);

/* nftrules.c: the port rules over nf_tables directly (iptables-nft only). */
/* Whether tool ("iptables", "ip6tables") on PATH is the nf_tables one. */
bool nft_usable (const char *tool);
/* Ports of one endpoint that go in one batch (more: iptables-restore). */
#define NFT_MAX_PORTS 16
/* Adds the rules of ports (tcp/udp only) of the container at addr (IPv4
   text, or IPv6 with v6); *out: the record to delete them.  -1: nothing
   was added; -2: the outcome is unknown (rules may be in). */
int nft_ports_add (const struct daemon_cfg *d, const struct net *n, bool v6, const char *addr,
                   jv ports, jv *out, dk_err_t *err);
/* Deletes the rules of a record of nft_ports_add (borrowed). */
int nft_ports_del (jv rec, dk_err_t *err);

/* ports.c */
/* Parses -p specs and -P exposes into requested mappings. */
int ports_parse (jv specs, jv exposes, bool publish_all, uint32_t default_ip, jv *out,
                 dk_err_t *err);
/* Assigns host ports (under the lock), binding them when bind (the
   userland proxy); fds[i] matches element i of the result, fds[n + i] its
   socket on [::] (v6net and ports on every address) or -1 (n: the result's
   length).  An IPv6 host address without the proxy on a network without
   IPv6 is left out of the result, as Docker. */
int ports_assign (struct ctx *c, const char *self_id, jv req, bool bind, bool v6net, jv *out,
                  int **fds, dk_err_t *err);

/* proxy.c */
/* fds as ports_assign's (2n, -1 where none). */
int proxy_add (struct ctx *c, const char *id, const char *net, uint32_t ip, const char *ip6,
               jv ports, const int *fds, dk_err_t *err);
int proxy_remove (struct ctx *c, const char *id, const char *net, dk_err_t *err);
int cmd_proxy (struct ctx *c, int argc, char **argv, dk_err_t *err);

/* dnsfiles.c */
int files_write_resolv (const char *dir, jv dns, jv search, jv opts, dk_err_t *err);
int files_write_hostname (const char *dir, const char *hostname, dk_err_t *err);
/* Rewrites the hosts file of the endpoint from its record and the other
   members of its user-defined networks (under the lock). */
int files_write_hosts (struct ctx *c, jv ep, dk_err_t *err);
/* Rewrites the hosts files of every member of network net. */
int files_refresh_network (struct ctx *c, const char *net, dk_err_t *err);

/* linger.c: a child that outlives us (see there).  It runs fn (may be
   NULL), which may write its result on out (a pipe whose read end is
   *res_fd, when res_fd is not NULL; out is -1 otherwise); it keeps fd
   keep (-1: none) open until this process has exited. */
int linger_fork (int keep, int (*fn) (void *data, int out), void *data, int *res_fd, dk_err_t *err);
/* In a child that outlives us: stdio on /dev/null, every other fd closed
   but the n of keep (-1 entries ignored), SIGPIPE ignored. */
void linger_detach (int *keep, int n);
/* Lingerers forked from now on run fn, every fd closed, once this process
   has exited (and their own work is done). */
void linger_afterwards (void (*fn) (void));
/* Keeps fd open until this process has exited, in the last lingerer when
   there is one (no fork), else in a new one.  The caller still closes its
   own copy. */
int linger_keep (int fd, dk_err_t *err);
/* Reads an int result (an errno, 0 for success) from res_fd (blocks); EIO
   when the child died first. */
int linger_result (int res_fd, int *result);

/* links.c */
struct link_cfg
{
  const char *veth, *ifname; /* host side, container side */
  const uint8_t *mac;
  uint32_t ip, gw; /* host order */
  int plen;
  bool route; /* default route(s) through this link */
  bool v6;
  struct in6_addr ip6, gw6;
  int plen6;
};
char *random_veth (void);
/* The gateways a container uses: the bridge's, or the --default-gateway(-v6). */
void link_gateways (const struct net *n, struct link_cfg *l);
/* The veth pair of an endpoint, on n's bridge and configured inside netns. */
int create_links (const struct daemon_cfg *d, const struct net *n, const char *netns,
                  const struct link_cfg *l, dk_err_t *err);
/* Deletes a veth pair; returns when it is gone from the link list.  In two
   steps, so that the caller works while the kernel does. */
int veth_delete (const char *veth, dk_err_t *err);
struct veth_del
{
  struct dk_nl *mon; /* NULL: nothing to wait for */
  int rfd, index;
  const char *veth;
};
int veth_delete_start (const char *veth, struct veth_del *vd, dk_err_t *err);
int veth_delete_finish (struct veth_del *vd, dk_err_t *err);

/* trace.c: with DK_NETSETUP_TRACE set, prints the time since the first
   call and what on stderr (the first call, in main, starts the clock). */
void trace_step (const char *what);

/* endpoint.c */
int cmd_connect (struct ctx *c, int argc, char **argv, dk_err_t *err);
int cmd_disconnect (struct ctx *c, int argc, char **argv, dk_err_t *err);
/* Tears down one endpoint of record ep on network name (ep borrowed). */
int endpoint_teardown (struct ctx *c, const char *id, jv *ep, const char *net, dk_err_t *err);
int cmd_cleanup (struct ctx *c, int argc, char **argv, dk_err_t *err);

/* nspool.c: ready network namespaces.  nspool_claim bind-mounts a spare
   on target (created): 1 when it did, 0 when there was none. */
int nspool_claim (struct ctx *c, const char *target, dk_err_t *err);
/* A holder of a new spare when the pool is short: a child of ours now
   (refill), or this process's lingerers once it has exited (refill_later,
   no process of its own). */
void nspool_refill (struct ctx *c);
void nspool_refill_later (struct ctx *c);

#endif
