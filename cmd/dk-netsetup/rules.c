/* Packet filtering like Docker's bridge driver, by running iptables:
   nat DOCKER (DNAT of published ports), POSTROUTING MASQUERADE, filter
   DOCKER / DOCKER-USER / DOCKER-ISOLATION-STAGE-1/2 and the icc rule. */
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "netlink.h"
#include "netsetup.h"

int
cmd_start (char *const argv[], const char *stdin_text, struct cmd_job *job, dk_err_t *err)
{
  int in[2] = { -1, -1 }, errp[2];
  job->pid = -1;
  job->err_fd = -1;
  job->name = argv[0];
  if (stdin_text && pipe2 (in, O_CLOEXEC) < 0)
    return dk_make_error (err, errno, "pipe");
  if (pipe2 (errp, O_CLOEXEC) < 0)
    {
      if (stdin_text)
        close (in[0]), close (in[1]);
      return dk_make_error (err, errno, "pipe");
    }
  pid_t pid = fork ();
  if (pid < 0)
    {
      if (stdin_text)
        close (in[0]), close (in[1]);
      close (errp[0]), close (errp[1]);
      return dk_make_error (err, errno, "fork");
    }
  if (pid == 0)
    {
      int nul = open ("/dev/null", O_RDWR);
      dup2 (stdin_text ? in[0] : nul, 0);
      dup2 (nul, 1);
      dup2 (errp[1], 2);
      signal (SIGPIPE, SIG_DFL);
      close_range (3, ~0U, 0); /* nothing of our caller's (bats' fd 3) */
      execvp (argv[0], argv);
      _exit (127);
    }
  close (errp[1]);
  job->pid = pid;
  job->err_fd = errp[0];
  if (stdin_text)
    {
      /* a rule set fits the pipe's buffer: this returns at once and the
         child works while the caller goes on */
      close (in[0]);
      size_t len = strlen (stdin_text), off = 0;
      while (off < len)
        {
          ssize_t w = write (in[1], stdin_text + off, len - off);
          if (w < 0 && errno == EINTR)
            continue;
          if (w <= 0)
            break;
          off += w;
        }
      close (in[1]);
    }
  return 0;
}

int
cmd_finish (struct cmd_job *job, bool quiet, dk_err_t *err)
{
  if (job->pid < 0)
    return 0;
  struct dk_buf out = DK_BUF_INIT;
  char buf[1024];
  ssize_t n;
  while ((n = read (job->err_fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0 && out.len < 4096)
      dk_buf_add (&out, buf, n);
  close (job->err_fd);
  int st;
  while (waitpid (job->pid, &st, 0) < 0 && errno == EINTR)
    ;
  job->pid = -1;
  job->err_fd = -1;
  int rc = WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
  if (rc != 0)
    {
      while (out.len && (out.data[out.len - 1] == '\n'))
        out.data[--out.len] = '\0';
      if (!quiet)
        dk_make_error (err, 0, "%s failed (status %d): %s", job->name, rc,
                       out.data ? out.data : "");
      dk_buf_free (&out);
      return quiet ? -rc : -1;
    }
  dk_buf_free (&out);
  return 0;
}

int
run_cmd (char *const argv[], const char *stdin_text, bool quiet, dk_err_t *err)
{
  struct cmd_job job;
  if (cmd_start (argv, stdin_text, &job, err) < 0)
    return -1;
  return cmd_finish (&job, quiet, err);
}

/* iptables -t TABLE ARGS... where args is a space-separated rule (ip6tables
   when v6). */
static int
ipt (bool v6, const char *table, const char *op, const char *chain, const char *rule, bool quiet,
     dk_err_t *err)
{
  cleanup_free char *copy = xstrdup (rule ? rule : "");
  char *argv[64];
  int n = 0;
  argv[n++] = (char *)(v6 ? "ip6tables" : "iptables");
  argv[n++] = (char *)"-w";
  argv[n++] = (char *)"-t";
  argv[n++] = (char *)table;
  argv[n++] = (char *)op;
  argv[n++] = (char *)chain;
  char *save = NULL;
  for (char *t = strtok_r (copy, " ", &save); t && n < 62; t = strtok_r (NULL, " ", &save))
    argv[n++] = t;
  argv[n] = NULL;
  return run_cmd (argv, NULL, quiet, err);
}

static int
chain_ensure (bool v6, const char *table, const char *chain, dk_err_t *err)
{
  cleanup_error dk_err_t e = NULL;
  if (ipt (v6, table, "-L", chain, "-n", true, &e) == 0)
    return 0;
  return ipt (v6, table, "-N", chain, NULL, false, err);
}

/* Appends (or inserts at the top) unless present; deletes when !add. */
static int rule (bool v6, bool add, bool insert, const char *table, const char *chain,
                 dk_err_t *err, const char *fmt, ...) __attribute__ ((format (printf, 7, 8)));

static int
rule (bool v6, bool add, bool insert, const char *table, const char *chain, dk_err_t *err,
      const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *r = NULL;
  if (vasprintf (&r, fmt, ap) < 0)
    abort ();
  va_end (ap);
  cleanup_error dk_err_t e = NULL;
  bool present = ipt (v6, table, "-C", chain, r, true, &e) == 0;
  if (add && !present)
    return ipt (v6, table, insert ? "-I" : "-A", chain, r, false, err);
  if (!add && present)
    return ipt (v6, table, "-D", chain, r, false, err);
  return 0;
}

/* The rules of network n in one family: sub is its subnet ("a/len"), lo
   the loopback range. */
static int
network_rules (bool v6, const struct daemon_cfg *d, const struct net *n, const char *sub,
               const char *lo, bool add, dk_err_t *err)
{
  const char *br = n->bridge;
  if (add)
    {
      cleanup_free char *notlo = xasprintf ("! -d %s ", lo);
      if (chain_ensure (v6, "nat", "DOCKER", err) < 0
          || chain_ensure (v6, "filter", "DOCKER", err) < 0
          || chain_ensure (v6, "filter", "DOCKER-USER", err) < 0
          || chain_ensure (v6, "filter", "DOCKER-ISOLATION-STAGE-1", err) < 0
          || chain_ensure (v6, "filter", "DOCKER-ISOLATION-STAGE-2", err) < 0)
        return -1;
      if (rule (v6, true, false, "nat", "PREROUTING", err, "-m addrtype --dst-type LOCAL -j DOCKER")
              < 0
          || rule (v6, true, false, "nat", "OUTPUT", err,
                   "%s-m addrtype --dst-type LOCAL -j DOCKER", d->userland_proxy ? notlo : "")
                 < 0
          /* the variant of the other --userland-proxy setting goes */
          || rule (v6, false, false, "nat", "OUTPUT", err,
                   "%s-m addrtype --dst-type LOCAL -j DOCKER", d->userland_proxy ? "" : notlo)
                 < 0
          || rule (v6, true, true, "filter", "FORWARD", err, "-j DOCKER-ISOLATION-STAGE-1") < 0
          || rule (v6, true, true, "filter", "FORWARD", err, "-j DOCKER-USER") < 0)
        return -1;
    }
  int r = 0;
  if (n->internal)
    {
      r |= rule (v6, add, false, "filter", "DOCKER-ISOLATION-STAGE-1", err, "! -s %s -o %s -j DROP",
                 sub, br);
      r |= rule (v6, add, false, "filter", "DOCKER-ISOLATION-STAGE-1", err, "! -d %s -i %s -j DROP",
                 sub, br);
    }
  else
    {
      /* evaluated either way, so that a changed setting drops a stale rule */
      r |= rule (v6, add && n->masq, false, "nat", "POSTROUTING", err,
                 "-s %s ! -o %s -j MASQUERADE", sub, br);
      r |= rule (v6, add && !d->userland_proxy, false, "nat", "POSTROUTING", err,
                 "-o %s -m addrtype --src-type LOCAL -j MASQUERADE", br);
      /* with hairpin NAT (no proxy) traffic from the bridge must reach DNAT */
      r |= rule (v6, add && d->userland_proxy, true, "nat", "DOCKER", err, "-i %s -j RETURN", br);
      r |= rule (v6, add, false, "filter", "FORWARD", err,
                 "-o %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", br);
      r |= rule (v6, add, false, "filter", "FORWARD", err, "-o %s -j DOCKER", br);
      r |= rule (v6, add, false, "filter", "FORWARD", err, "-i %s ! -o %s -j ACCEPT", br, br);
      r |= rule (v6, add, true, "filter", "DOCKER-ISOLATION-STAGE-1", err,
                 "-i %s ! -o %s -j DOCKER-ISOLATION-STAGE-2", br, br);
      r |= rule (v6, add, true, "filter", "DOCKER-ISOLATION-STAGE-2", err, "-o %s -j DROP", br);
    }
  /* icc: both variants are removed on teardown, whichever was set */
  r |= rule (v6, add && n->icc, false, "filter", "FORWARD", err, "-i %s -o %s -j ACCEPT", br, br);
  r |= rule (v6, add && !n->icc, false, "filter", "FORWARD", err, "-i %s -o %s -j DROP", br, br);
  return r ? -1 : 0;
}

int
rules_network6 (const struct daemon_cfg *d, const struct net *n, bool add, dk_err_t *err)
{
  if (!d->iptables || !n->v6)
    return 0;
  struct in6_addr a = n->subnet6;
  mask6 (&a, n->plen6);
  cleanup_free char *s = fmt_ip6 (&a);
  cleanup_free char *sub = xasprintf ("%s/%d", s, n->plen6);
  return network_rules (true, d, n, sub, "::1/128", add, err);
}

int
rules_network (const struct daemon_cfg *d, const struct net *n, bool add, dk_err_t *err)
{
  if (!d->iptables)
    return 0;
  cleanup_free char *s = fmt_ip4 (n->subnet & mask4 (n->plen));
  cleanup_free char *sub = xasprintf ("%s/%d", s, n->plen);
  int r = network_rules (false, d, n, sub, "127.0.0.0/8", add, err);
  if (n->v6 && (r == 0 || !add))
    {
      /* a removal goes on after a failure, as the IPv4 one does; with
         --ip6tables false the rules of an earlier init go (quietly: there
         may be no ip6tables at all) */
      bool add6 = add && d->ip6tables;
      cleanup_error dk_err_t e = NULL;
      if (rules_network6 (d, n, add6, add6 && r == 0 ? err : &e) < 0 && add6 == add)
        r = -1;
    }
  return r;
}

bool
host_ip_any (const char *hip)
{
  return !hip || !strcmp (hip, "0.0.0.0") || !strcmp (hip, "::");
}

bool
port_has_rules (bool v6, const char *hip)
{
  /* a port on one address has rules in that address's family only, and
     none on ::1 (the proxy's: IPv6 has no route_localnet) */
  bool hip6 = hip && strchr (hip, ':');
  return v6 ? host_ip_any (hip) || (hip6 && strcmp (hip, "::1")) : !hip6;
}

/* The port rules of a container at addr ("a.b.c.d" or "a:b::c") in
   iptables-restore's text; NULL when no port has a rule in this family. */
static char *
ports_text (bool v6, const struct daemon_cfg *d, const struct net *n, const char *addr, jv ports,
            bool add)
{
  cleanup_free char *to = v6 ? xasprintf ("[%s]", addr) : xstrdup (addr);
  cleanup_free char *host = xasprintf ("%s/%d", addr, v6 ? 128 : 32);
  struct dk_buf nat = DK_BUF_INIT, filt = DK_BUF_INIT;
  const char *op = add ? "-A" : "-D";
  jv_array_foreach (ports, i, p)
  {
    const char *proto = dk_json_str (p, "proto");
    const char *hip = dk_json_str (p, "host_ip");
    int64_t hp = 0, cp = 0;
    dk_json_int (p, "host_port", &hp);
    dk_json_int (p, "container_port", &cp);
    bool any = host_ip_any (hip);
    if (!port_has_rules (v6, hip))
      {
        jv_free (p);
        continue;
      }
    cleanup_free char *dst = !any ? xasprintf ("-d %s/%d ", hip, v6 ? 128 : 32) : xstrdup ("");
    /* without the proxy, containers reach published ports by hairpin NAT */
    cleanup_free char *notin = d->userland_proxy ? xasprintf ("! -i %s ", n->bridge) : xstrdup ("");
    dk_buf_printf (&nat,
                   "%s DOCKER %s%s-p %s -m %s --dport %lld -j DNAT --to-destination %s:%lld\n", op,
                   dst, notin, proto, proto, (long long)hp, to, (long long)cp);
    dk_buf_printf (&nat, "%s POSTROUTING -s %s -d %s -p %s -m %s --dport %lld -j MASQUERADE\n", op,
                   host, host, proto, proto, (long long)cp);
    dk_buf_printf (&filt, "%s DOCKER -d %s ! -i %s -o %s -p %s -m %s --dport %lld -j ACCEPT\n", op,
                   host, n->bridge, n->bridge, proto, proto, (long long)cp);
    jv_free (p);
  }
  char *text
      = nat.len ? xasprintf ("*nat\n%sCOMMIT\n*filter\n%sCOMMIT\n", nat.data, filt.data) : NULL;
  dk_buf_free (&nat);
  dk_buf_free (&filt);
  return text;
}

static int
ports_start (bool v6, const struct daemon_cfg *d, const struct net *n, const char *addr, jv ports,
             bool add, struct rules_job *job, dk_err_t *err)
{
  job->text = NULL;
  job->add = add;
  job->v6 = v6;
  job->cmd.pid = -1;
  job->mon = NULL;
  job->commits = 0;
  if (!d->iptables || (v6 && !d->ip6tables) || n->internal || addr == NULL
      || dk_json_len (ports) <= 0)
    return 0;
  job->text = ports_text (v6, d, n, addr, ports, add);
  if (job->text == NULL)
    return 0;
  job->commits = 2; /* one per table */
  /* the commits are seen as nf_tables events, before iptables-restore's
     exit (which waits, see docs/network.md); a lingerer closes the event
     socket last.  Without it, the exit is waited for. */
  cleanup_error dk_err_t e = NULL;
  if (dk_nl_open_monitor (NETLINK_NETFILTER, NFNLGRP_NFTABLES, &job->mon, &e) == 0
      && linger_keep (dk_nl_fd (job->mon), &e) < 0)
    {
      dk_nl_close (job->mon);
      job->mon = NULL;
    }
  char *argv[] = { (char *)(v6 ? "ip6tables-restore" : "iptables-restore"), (char *)"-w",
                   (char *)"--noflush", NULL };
  if (cmd_start (argv, job->text, &job->cmd, err) < 0)
    {
      free (job->text);
      job->text = NULL;
      dk_nl_close (job->mon);
      job->mon = NULL;
      return -1;
    }
  return 0;
}

int
rules_ports_start (const struct daemon_cfg *d, const struct net *n, uint32_t ip, jv ports, bool add,
                   struct rules_job *job, dk_err_t *err)
{
  cleanup_free char *addr = fmt_ip4 (ip);
  return ports_start (false, d, n, addr, ports, add, job, err);
}

int
rules_ports6_start (const struct daemon_cfg *d, const struct net *n, const char *ip6, jv ports,
                    bool add, struct rules_job *job, dk_err_t *err)
{
  /* not n->v6: a teardown after `init --ipv6 false` still removes them */
  return ports_start (true, d, n, ip6, ports, add, job, err);
}

static void
count_commit (const struct nlmsghdr *nlh, void *data)
{
  struct rules_job *job = data;
  if (job->commits > 0 && dk_nl_event_nft_commit (nlh) == job->cmd.pid)
    job->commits--;
}

/* Waits for the commits of the job's iptables-restore: true when all were
   seen (it is left to exit on its own), false when it exited first or
   there is no event socket (then cmd_finish tells how it went). */
static bool
commits_seen (struct rules_job *job)
{
  if (job->mon == NULL)
    return false;
  struct pollfd p[2] = { { dk_nl_fd (job->mon), POLLIN, 0 }, { job->cmd.err_fd, POLLIN, 0 } };
  while (job->commits > 0)
    {
      if (poll (p, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      cleanup_error dk_err_t e = NULL;
      if (p[0].revents && dk_nl_monitor_read (job->mon, count_commit, job, &e) < 0)
        break;
      if (job->commits > 0 && p[1].revents)
        break; /* stderr output or its exit */
    }
  dk_nl_close (job->mon);
  job->mon = NULL;
  if (job->commits > 0)
    return false;
  close (job->cmd.err_fd);
  job->cmd.err_fd = -1;
  job->cmd.pid = -1; /* init reaps it once we are gone */
  return true;
}

int
rules_ports_finish (struct rules_job *job, dk_err_t *err)
{
  if (job->text == NULL)
    return 0;
  cleanup_free char *text = job->text;
  job->text = NULL;
  if (commits_seen (job))
    return 0;
  if (job->add)
    return cmd_finish (&job->cmd, false, err);
  /* teardown must go on when some rule is already gone: one by one then */
  if (cmd_finish (&job->cmd, true, err) == 0)
    return 0;
  const char *table = "nat";
  char *save = NULL;
  for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      if (line[0] == '*')
        table = line + 1;
      if (strncmp (line, "-D ", 3))
        continue;
      char *chain = line + 3, *sp = strchr (chain, ' ');
      *sp = '\0';
      cleanup_error dk_err_t e2 = NULL;
      ipt (job->v6, table, "-D", chain, sp + 1, true, &e2);
    }
  return 0;
}

int
rules_ports (const struct daemon_cfg *d, const struct net *n, uint32_t ip, jv ports, bool add,
             dk_err_t *err)
{
  struct rules_job job;
  if (rules_ports_start (d, n, ip, ports, add, &job, err) < 0)
    return -1;
  return rules_ports_finish (&job, err);
}
