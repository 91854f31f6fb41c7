/* lib/netlink over libmnl, in a private network namespace of the test
   process (needs root; skipped otherwise). */
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cleanup.h"
#include "netlink.h"

struct seen
{
  int count;
  uint32_t addr;
  int plen;
};

static void
on_addr (int index, int family, const void *addr, int plen, void *data)
{
  struct seen *s = data;
  if (family != AF_INET)
    return;
  s->count++;
  memcpy (&s->addr, addr, 4);
  s->plen = plen;
}

static void
on_route (int oif, int family, const void *dst, int plen, void *data)
{
  struct seen *s = data;
  if (family == AF_INET && plen == 0)
    s->count++;
}

static void
test_links (const char *tmp)
{
  cleanup_error dk_err_t err = NULL;
  cleanup_nl struct dk_nl *nl = NULL;
  ok (dk_nl_open (&nl, &err) == 0, "netlink: open a socket");
  ok (dk_nl_link_index (nl, "dktbr0", &err) == 0, "netlink: an absent link has index 0");
  ok (dk_nl_bridge_add (nl, "dktbr0", 1400, &err) == 0, "netlink: create a bridge");
  int br = dk_nl_link_index (nl, "dktbr0", &err);
  ok (br > 0, "netlink: the bridge has an index");
  char kind[16];
  ok (dk_nl_link_kind (nl, "dktbr0", kind, &err) == 0, "netlink: read the link kind");
  is_str (kind, "bridge", "netlink: the link is a bridge");
  ok (dk_nl_bridge_add (nl, "dktbr0", 0, &err) < 0 && err->status == EEXIST,
      "netlink: creating it twice is EEXIST");
  dk_error_release (&err);

  uint32_t gw = htonl (0x0a090001);
  ok (dk_nl_addr_add (nl, br, AF_INET, &gw, 24, &err) == 0, "netlink: add 10.9.0.1/24");
  ok (dk_nl_link_set (nl, br, true, 0, 0, &err) == 0, "netlink: bridge up");
  struct seen s = { 0 };
  ok (dk_nl_addr_list (nl, AF_INET, br, on_addr, &s, &err) == 0 && s.count == 1 && s.addr == gw
          && s.plen == 24,
      "netlink: list the bridge's address");

  cleanup_free char *nsp = xasprintf ("%s/ns1", tmp);
  ok (dk_netns_create (nsp, &err) == 0, "netlink: create a persistent netns");
  ok (dk_netns_create (nsp, &err) < 0 && strcmp (err->code, DK_ECODE_CONFLICT) == 0,
      "netlink: the netns path is taken");
  dk_error_release (&err);
  int nsfd = open (nsp, O_RDONLY | O_CLOEXEC);
  uint8_t mac[6] = { 0x02, 0x42, 0x0a, 0x09, 0x00, 0x02 };
  ok (dk_nl_veth_add (nl, "dktv0", "eth0", nsfd, mac, 0, &err) == 0,
      "netlink: veth with its peer inside the netns");
  close (nsfd);
  int v = dk_nl_link_index (nl, "dktv0", &err);
  ok (v > 0 && dk_nl_link_set (nl, v, true, br, 0, &err) == 0, "netlink: veth on the bridge");
  ok (dk_nl_brport_isolated (nl, v, true, &err) == 0, "netlink: isolate the bridge port");
  ok (dk_nl_brport_hairpin (nl, v, true, &err) == 0, "netlink: hairpin mode on the bridge port");
  ok (dk_nl_link_index (nl, "eth0", &err) == 0, "netlink: eth0 is not here");

  cleanup_nl struct dk_nl *in = NULL;
  ok (dk_nl_open_netns (nsp, &in, &err) == 0, "netlink: a socket inside the netns");
  int e0 = dk_nl_link_index (in, "eth0", &err);
  ok (e0 > 0, "netlink: eth0 is inside");
  uint32_t ip = htonl (0x0a090002);
  ok (dk_nl_addr_add (in, e0, AF_INET, &ip, 24, &err) == 0
          && dk_nl_link_set (in, e0, true, 0, 0, &err) == 0,
      "netlink: address and up inside");
  ok (dk_nl_route_add_default (in, AF_INET, &gw, e0, &err) == 0, "netlink: default route");
  struct seen r = { 0 };
  ok (dk_nl_route_list (in, AF_INET, on_route, &r, &err) == 0 && r.count == 1,
      "netlink: the default route is listed");

  cleanup_strv char **names = NULL;
  ok (dk_nl_link_names (nl, &names, &err) == 0, "netlink: list links");
  int found = 0;
  for (char **p = names; p && *p; p++)
    found += !strcmp (*p, "dktbr0") + !strcmp (*p, "dktv0");
  ok (found == 2, "netlink: bridge and veth are listed");

  ok (dk_nl_link_del (nl, "dktv0", &err) == 1, "netlink: delete the veth");
  ok (dk_nl_link_del (nl, "dktv0", &err) == 0, "netlink: deleting an absent link is no error");
  ok (dk_nl_link_index (in, "eth0", &err) == 0, "netlink: the peer went with it");
  ok (dk_netns_remove (nsp, &err) == 0 && access (nsp, F_OK) < 0, "netlink: remove the netns");
  ok (dk_netns_remove (nsp, &err) == 0, "netlink: removing it twice is no error");
  ok (dk_nl_link_del (nl, "dktbr0", &err) == 1, "netlink: delete the bridge");
}

static void
test_sysctl (void)
{
  cleanup_error dk_err_t err = NULL;
  char buf[32];
  ok (dk_sysctl_set ("net/ipv4/ip_forward", "1", &err) == 0, "sysctl: set ip_forward");
  ok (dk_sysctl_get ("net/ipv4/ip_forward", buf, sizeof buf, &err) == 0 && !strcmp (buf, "1"),
      "sysctl: read it back");
  ok (dk_sysctl_get ("net/ipv4/nosuch", buf, sizeof buf, &err) < 0, "sysctl: unknown key");
}

int
main (void)
{
  /* a private mount namespace too: the netns bind mounts never reach the
     host, even when a test fails half-way */
  if (geteuid () != 0 || unshare (CLONE_NEWNET | CLONE_NEWNS) < 0
      || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    {
      skip ("needs root (a private network namespace)", "netlink");
      return tap_done ();
    }
  char tmpl[] = "/tmp/dk-test-netlink-XXXXXX";
  char *tmp = mkdtemp (tmpl);
  test_links (tmp);
  test_sysctl ();
  cleanup_error dk_err_t err = NULL;
  dk_remove_tree (tmp, &err);
  return tap_done ();
}
