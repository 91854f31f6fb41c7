/* spec.lx: namespaces by Docker's modes, cgroupsPath, resources
   (memory, cpu, blkio, pids, device rules), devices, sysctls; and
   process.rlimits from Ulimits merged with the daemon's defaults. */
#include "ocispec_internal.h"
#include "cleanup.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

bool
dk_ocispec_cgroup2 (void)
{
  return access ("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
}

static bool
prefixed (const char *s, const char *prefix)
{
  return s && strncmp (s, prefix, strlen (prefix)) == 0;
}

static jv
ns (const char *type, const char *path)
{
  jv n = jv_object_set (jv_object (), jv_string ("type"), jv_string (type));
  if (path)
    n = jv_object_set (n, jv_string ("path"), jv_string (path));
  return n;
}

static int
namespaces (struct dk_spec_ctx *c, jv *out, dk_err_t *err)
{
  const struct dk_spec_input *in = c->in;
  jv a = jv_array_append (jv_array (), ns ("mount", NULL));

  bool disabled = false;
  dk_json_bool (c->create, "NetworkDisabled", &disabled);
  const char *nm = c->network_mode;
  bool host_net
      = strcmp (nm, "host") == 0 || (in->netns_path && strcmp (in->netns_path, "host") == 0);
  if (disabled || !host_net)
    {
      if (!disabled && prefixed (nm, "container:") && !in->netns_path)
        {
          jv_free (a);
          return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                     "network mode %s needs the other container's network "
                                     "namespace path",
                                     nm);
        }
      a = jv_array_append (a, ns ("network", disabled ? NULL : in->netns_path));
    }

  const char *uts = dk_json_str (c->hc, "UTSMode");
  if (!uts || strcmp (uts, "host") != 0)
    a = jv_array_append (a, ns ("uts", NULL));

  const char *pid = dk_json_str (c->hc, "PidMode");
  if (prefixed (pid, "container:"))
    {
      if (!in->pid_ns_path)
        {
          jv_free (a);
          return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                     "failed to join PID namespace: %s is not supported yet", pid);
        }
      a = jv_array_append (a, ns ("pid", in->pid_ns_path));
    }
  else if (!pid || strcmp (pid, "host") != 0)
    a = jv_array_append (a, ns ("pid", NULL));

  const char *ipc = c->ipc_mode;
  if (prefixed (ipc, "container:"))
    {
      if (!in->ipc_ns_path)
        {
          jv_free (a);
          return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                     "failed to join IPC namespace: %s is not supported yet", ipc);
        }
      a = jv_array_append (a, ns ("ipc", in->ipc_ns_path));
    }
  else if (strcmp (ipc, "host") != 0)
    a = jv_array_append (a, ns ("ipc", NULL));

  /* Docker's default: a private cgroup namespace on cgroup v2, the host's
     on v1 (and for --privileged on v1). */
  const char *cg = dk_json_str (c->hc, "CgroupnsMode");
  bool private_cg = cg && *cg ? strcmp (cg, "private") == 0 : dk_ocispec_cgroup2 ();
  if (private_cg)
    a = jv_array_append (a, ns ("cgroup", NULL));
  *out = a;
  return 0;
}

static char *
cgroups_path (struct dk_spec_ctx *c)
{
  const struct dk_spec_input *in = c->in;
  bool systemd = in->cgroup_driver && strcmp (in->cgroup_driver, "systemd") == 0;
  const char *parent = systemd ? "system.slice" : "/docker";
  const char *hcp = dk_json_str (c->hc, "CgroupParent");
  if (hcp && *hcp)
    parent = hcp;
  else if (in->cgroup_parent && *in->cgroup_parent)
    parent = in->cgroup_parent;
  if (systemd)
    return xasprintf ("%s:docker:%s", parent, in->id);
  cleanup_free char *joined = xasprintf ("%s/%s", parent, in->id);
  return dk_ocispec_clean_path (joined);
}

static jv
set_int (jv o, const char *key, int64_t v)
{
  return jv_object_set (o, jv_string (key), dk_json_int64 (v));
}

static jv
memory (struct dk_spec_ctx *c)
{
  jv m = jv_object ();
  bool v2 = dk_ocispec_cgroup2 ();
  int64_t mem = dk_spec_int (c->hc, "Memory");
  int64_t res = dk_spec_int (c->hc, "MemoryReservation");
  int64_t swap = dk_spec_int (c->hc, "MemorySwap");
  if (mem > 0 && swap == 0)
    swap = mem * 2;
  /* cgroup v1 without swap accounting: Docker discards the swap limit. */
  if (!v2 && access ("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) < 0)
    swap = -1;
  if (mem > 0)
    m = set_int (m, "limit", mem);
  if (res > 0)
    m = set_int (m, "reservation", res);
  if (swap > 0)
    m = set_int (m, "swap", swap);
  int64_t swappiness;
  if (!v2 && dk_json_int (c->hc, "MemorySwappiness", &swappiness) && swappiness >= 0)
    m = set_int (m, "swappiness", swappiness);
  if (!v2)
    {
      bool oom_disable = false;
      dk_json_bool (c->hc, "OomKillDisable", &oom_disable);
      m = jv_object_set (m, jv_string ("disableOOMKiller"), jv_bool (oom_disable));
    }
  return m;
}

static jv
cpu (struct dk_spec_ctx *c)
{
  jv o = jv_object ();
  int64_t shares = dk_spec_int (c->hc, "CpuShares");
  if (shares > 0)
    o = set_int (o, "shares", shares);
  int64_t nano = dk_spec_int (c->hc, "NanoCpus");
  if (nano > 0)
    {
      o = set_int (o, "quota", nano * 100000 / 1000000000);
      o = set_int (o, "period", 100000);
    }
  int64_t period = dk_spec_int (c->hc, "CpuPeriod");
  if (period != 0)
    o = set_int (o, "period", period);
  int64_t quota = dk_spec_int (c->hc, "CpuQuota");
  if (quota != 0)
    o = set_int (o, "quota", quota);
  int64_t rtp = dk_spec_int (c->hc, "CpuRealtimePeriod");
  if (rtp != 0)
    o = set_int (o, "realtimePeriod", rtp);
  int64_t rtr = dk_spec_int (c->hc, "CpuRealtimeRuntime");
  if (rtr != 0)
    o = set_int (o, "realtimeRuntime", rtr);
  const char *cpus = dk_json_str (c->hc, "CpusetCpus");
  if (cpus && *cpus)
    o = jv_object_set (o, jv_string ("cpus"), jv_string (cpus));
  const char *mems = dk_json_str (c->hc, "CpusetMems");
  if (mems && *mems)
    o = jv_object_set (o, jv_string ("mems"), jv_string (mems));
  return o;
}

/* Blkio device lists: [{Path, Weight|Rate}] -> [{major, minor, weight|rate}]. */
static int
blkio_devices (jv hc, const char *key, const char *valkey, const char *outkey, jv *out,
               dk_err_t *err)
{
  cleanup_jv jv l = dk_json_get_kind (hc, key, JV_KIND_ARRAY);
  jv a = jv_array ();
  for (int i = 0; i < dk_json_len (l); i++)
    {
      cleanup_jv jv d = jv_array_get (jv_copy (l), i);
      const char *path = dk_json_str (d, "Path");
      struct stat st;
      if (!path || stat (path, &st) < 0)
        {
          jv_free (a);
          return dk_make_error_code (err, DK_ECODE_INVALID, errno ? errno : EINVAL, "stat %s",
                                     path ? path : "(no Path)");
        }
      jv o = set_int (jv_object (), "major", major (st.st_rdev));
      o = set_int (o, "minor", minor (st.st_rdev));
      o = set_int (o, outkey, dk_spec_int (d, valkey));
      a = jv_array_append (a, o);
    }
  *out = a;
  return 0;
}

static int
blockio (struct dk_spec_ctx *c, jv *out, dk_err_t *err)
{
  static const struct
  {
    const char *key, *val, *out, *spec;
  } lists[] = {
    { "BlkioWeightDevice", "Weight", "weight", "weightDevice" },
    { "BlkioDeviceReadBps", "Rate", "rate", "throttleReadBpsDevice" },
    { "BlkioDeviceWriteBps", "Rate", "rate", "throttleWriteBpsDevice" },
    { "BlkioDeviceReadIOps", "Rate", "rate", "throttleReadIOPSDevice" },
    { "BlkioDeviceWriteIOps", "Rate", "rate", "throttleWriteIOPSDevice" },
  };
  jv b = jv_object ();
  int64_t w = dk_spec_int (c->hc, "BlkioWeight");
  if (w != 0)
    b = set_int (b, "weight", w);
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
    {
      jv l = jv_invalid ();
      if (blkio_devices (c->hc, lists[i].key, lists[i].val, lists[i].out, &l, err) < 0)
        {
          jv_free (b);
          return -1;
        }
      if (dk_json_len (l) > 0)
        b = jv_object_set (b, jv_string (lists[i].spec), l);
      else
        jv_free (l);
    }
  *out = b;
  return 0;
}

static jv
dev_rule (bool allow, const char *type, int64_t maj, int64_t min, const char *access)
{
  jv r = jv_object_set (jv_object (), jv_string ("allow"), jv_bool (allow));
  if (type)
    r = jv_object_set (r, jv_string ("type"), jv_string (type));
  if (maj >= 0)
    r = set_int (r, "major", maj);
  if (min >= 0)
    r = set_int (r, "minor", min);
  return jv_object_set (r, jv_string ("access"), jv_string (access));
}

static jv
default_dev_rules (void)
{
  jv a = jv_array ();
  a = jv_array_append (a, dev_rule (false, NULL, -1, -1, "rwm"));
  a = jv_array_append (a, dev_rule (true, "c", 1, 5, "rwm"));
  a = jv_array_append (a, dev_rule (true, "c", 1, 3, "rwm"));
  a = jv_array_append (a, dev_rule (true, "c", 1, 9, "rwm"));
  a = jv_array_append (a, dev_rule (true, "c", 1, 8, "rwm"));
  a = jv_array_append (a, dev_rule (true, "c", 5, 0, "rwm"));
  a = jv_array_append (a, dev_rule (true, "c", 5, 1, "rwm"));
  a = jv_array_append (a, dev_rule (false, "c", 10, 229, "rwm"));
  return a;
}

/* "c 1:3 rwm", "a *:* m": Docker's --device-cgroup-rule syntax. */
static int
cgroup_rule (const char *s, jv *out, dk_err_t *err)
{
  char type, acc[8] = "";
  char majs[24] = "", mins[24] = "";
  int n = 0;
  if (sscanf (s, "%c %23[0-9*]:%23[0-9*] %7[rwm]%n", &type, majs, mins, acc, &n) != 4
      || s[n] != '\0' || strlen (acc) > 3 || !strchr ("acb", type) || (majs[0] == '*' && majs[1])
      || (mins[0] == '*' && mins[1]) || (strchr (majs, '*') && majs[0] != '*')
      || (strchr (mins, '*') && mins[0] != '*'))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid device cgroup rule format: '%s'",
                               s);
  /* Docker writes a wildcard as -1 (the runtimes read it as "*"). */
  jv r = jv_object_set (jv_object (), jv_string ("allow"), jv_true ());
  r = jv_object_set (r, jv_string ("type"), jv_string_fmt ("%c", type));
  r = set_int (r, "major", majs[0] == '*' ? -1 : atoll (majs));
  r = set_int (r, "minor", mins[0] == '*' ? -1 : atoll (mins));
  *out = jv_object_set (r, jv_string ("access"), jv_string (acc));
  return 0;
}

static jv
device_obj (const char *path, struct stat *st)
{
  jv d = jv_object_set (jv_object (), jv_string ("path"), jv_string (path));
  d = jv_object_set (d, jv_string ("type"), jv_string (S_ISBLK (st->st_mode) ? "b" : "c"));
  d = set_int (d, "major", major (st->st_rdev));
  d = set_int (d, "minor", minor (st->st_rdev));
  d = set_int (d, "fileMode", st->st_mode & 07777);
  d = set_int (d, "uid", st->st_uid);
  return set_int (d, "gid", st->st_gid);
}

/* Device nodes under a host path (recursively for a directory). */
static void
gather_devices (const char *host, const char *ctr, const char *perms, bool host_all, jv *devs,
                jv *rules, int level)
{
  struct stat st;
  if (lstat (host, &st) < 0 || level > 8)
    return;
  if (S_ISCHR (st.st_mode) || S_ISBLK (st.st_mode))
    {
      *devs = jv_array_append (*devs, device_obj (ctr, &st));
      if (rules)
        *rules = jv_array_append (*rules, dev_rule (true, S_ISBLK (st.st_mode) ? "b" : "c",
                                                    major (st.st_rdev), minor (st.st_rdev), perms));
      return;
    }
  if (!S_ISDIR (st.st_mode))
    return;
  cleanup_closedir DIR *d = opendir (host);
  struct dirent *e;
  while (d && (e = readdir (d)))
    {
      const char *n = e->d_name;
      if (strcmp (n, ".") == 0 || strcmp (n, "..") == 0)
        continue;
      if (host_all
          && (strcmp (n, "pts") == 0 || strcmp (n, "shm") == 0 || strcmp (n, "fd") == 0
              || strcmp (n, "mqueue") == 0 || strcmp (n, ".lxc") == 0
              || strcmp (n, ".lxd-mounts") == 0 || strcmp (n, ".udev") == 0
              || strcmp (n, "console") == 0))
        continue;
      cleanup_free char *h = xasprintf ("%s/%s", host, n);
      cleanup_free char *c = xasprintf ("%s/%s", ctr, n);
      gather_devices (h, c, perms, host_all, devs, rules, level + 1);
    }
}

static int
devices (struct dk_spec_ctx *c, jv *devs_out, jv *rules_out, dk_err_t *err)
{
  jv devs = jv_array ();
  jv rules = default_dev_rules ();
  cleanup_jv jv mappings = dk_json_get_kind (c->hc, "Devices", JV_KIND_ARRAY);
  if (c->privileged)
    {
      gather_devices ("/dev", "/dev", "rwm", true, &devs, NULL, 0);
      jv_free (rules);
      rules = jv_array_append (jv_array (), dev_rule (true, NULL, -1, -1, "rwm"));
    }
  for (int i = 0; i < dk_json_len (mappings); i++)
    {
      cleanup_jv jv m = jv_array_get (jv_copy (mappings), i);
      const char *host = dk_json_str (m, "PathOnHost");
      const char *ctr = dk_json_str (m, "PathInContainer");
      const char *perms = dk_json_str (m, "CgroupPermissions");
      if (!ctr || !*ctr)
        ctr = host;
      if (!perms || !*perms || c->privileged)
        perms = "rwm";
      struct stat st;
      if (!host || stat (host, &st) < 0)
        {
          jv_free (devs);
          jv_free (rules);
          return dk_make_error_code (err, DK_ECODE_INVALID, errno,
                                     "error gathering device information while adding custom "
                                     "device \"%s\"",
                                     host ? host : "");
        }
      if (!S_ISDIR (st.st_mode) && !S_ISCHR (st.st_mode) && !S_ISBLK (st.st_mode))
        {
          jv_free (devs);
          jv_free (rules);
          return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                     "error gathering device information while adding custom "
                                     "device \"%s\": not a device node",
                                     host);
        }
      if (c->privileged && strcmp (host, ctr) == 0)
        continue;
      gather_devices (host, ctr, perms, false, &devs, c->privileged ? NULL : &rules, 0);
    }
  cleanup_jv jv crules = dk_json_get_kind (c->hc, "DeviceCgroupRules", JV_KIND_ARRAY);
  for (int i = 0; !c->privileged && i < dk_json_len (crules); i++)
    {
      cleanup_jv jv r = jv_array_get (jv_copy (crules), i);
      jv rule = jv_invalid ();
      if (jv_get_kind (r) != JV_KIND_STRING || cgroup_rule (jv_string_value (r), &rule, err) < 0)
        {
          if (jv_get_kind (r) != JV_KIND_STRING)
            dk_make_error_code (err, DK_ECODE_INVALID, 0, "DeviceCgroupRules must be strings");
          jv_free (devs);
          jv_free (rules);
          return -1;
        }
      rules = jv_array_append (rules, rule);
    }
  *devs_out = devs;
  *rules_out = rules;
  return 0;
}

static bool
sysctl_exists (const char *name)
{
  cleanup_free char *p = xasprintf ("/proc/sys/%s", name);
  for (char *s = p + 10; *s; s++)
    if (*s == '.')
      *s = '/';
  return access (p, F_OK) == 0;
}

static jv
sysctls (struct dk_spec_ctx *c)
{
  jv s = jv_object ();
  const char *nm = c->network_mode;
  if (strcmp (nm, "host") != 0 && !prefixed (nm, "container:")
      && !(c->in->netns_path && strcmp (c->in->netns_path, "host") == 0))
    {
      if (sysctl_exists ("net.ipv4.ping_group_range"))
        s = jv_object_set (s, jv_string ("net.ipv4.ping_group_range"), jv_string ("0 2147483647"));
      if (sysctl_exists ("net.ipv4.ip_unprivileged_port_start"))
        s = jv_object_set (s, jv_string ("net.ipv4.ip_unprivileged_port_start"), jv_string ("0"));
    }
  const char *dn = dk_json_str (c->create, "Domainname");
  const char *uts = dk_json_str (c->hc, "UTSMode");
  if (dn && *dn && !(uts && strcmp (uts, "host") == 0))
    s = jv_object_set (s, jv_string ("kernel.domainname"), jv_string (dn));
  cleanup_jv jv user = dk_json_get_kind (c->hc, "Sysctls", JV_KIND_OBJECT);
  if (jv_is_valid (user))
    {
      jv_object_foreach (user, k, v)
      {
        if (jv_get_kind (v) == JV_KIND_STRING)
          s = jv_object_set (s, k, v);
        else
          {
            jv_free (k);
            jv_free (v);
          }
      }
    }
  return s;
}

int
dk_ocispec_rlimits (struct dk_spec_ctx *c, jv *out, dk_err_t *err)
{
  cleanup_jv jv mine = jv_invalid (), defs = jv_invalid ();
  cleanup_jv jv ul = dk_json_get_kind (c->hc, "Ulimits", JV_KIND_ARRAY);
  if (dk_ocispec_validate_ulimits (ul, false, &mine, err) < 0)
    return -1;
  if (dk_ocispec_validate_ulimits (c->in->default_ulimits, true, &defs, err) < 0)
    return dk_error_wrap (err, "daemon default ulimits");
  jv all = jv_copy (mine);
  jv_array_foreach (defs, i, d)
  {
    bool seen = false;
    jv_array_foreach (mine, k, m)
    {
      if (!seen && strcmp (dk_json_str (m, "Name"), dk_json_str (d, "Name")) == 0)
        seen = true;
      jv_free (m);
    }
    if (seen)
      jv_free (d);
    else
      all = jv_array_append (all, d);
  }
  jv r = jv_array ();
  jv_array_foreach (all, i, u)
  {
    const char *name = dk_json_str (u, "Name");
    char type[64];
    int n = snprintf (type, sizeof type, "RLIMIT_%s", name);
    for (int k = 7; k < n && k < (int)sizeof type; k++)
      type[k] = (char)toupper ((unsigned char)type[k]);
    jv o = jv_object_set (jv_object (), jv_string ("type"), jv_string (type));
    o = set_int (o, "hard", dk_spec_int (u, "Hard"));
    o = set_int (o, "soft", dk_spec_int (u, "Soft"));
    r = jv_array_append (r, o);
    jv_free (u);
  }
  jv_free (all);
  *out = r;
  return 0;
}

int
dk_ocispec_linux (struct dk_spec_ctx *c, jv *spec, dk_err_t *err)
{
  jv lx = dk_json_get_kind (*spec, "linux", JV_KIND_OBJECT);
  jv nss = jv_invalid (), devs = jv_invalid (), rules = jv_invalid (), bio = jv_invalid ();
  if (namespaces (c, &nss, err) < 0)
    {
      jv_free (lx);
      return -1;
    }
  lx = jv_object_set (lx, jv_string ("namespaces"), nss);
  if (devices (c, &devs, &rules, err) < 0 || blockio (c, &bio, err) < 0)
    {
      jv_free (devs);
      jv_free (rules);
      jv_free (lx);
      return -1;
    }
  if (dk_json_len (devs) > 0)
    lx = jv_object_set (lx, jv_string ("devices"), devs);
  else
    jv_free (devs);

  jv res = jv_object ();
  res = jv_object_set (res, jv_string ("devices"), rules);
  jv mem = memory (c);
  if (jv_object_length (jv_copy (mem)) > 0)
    res = jv_object_set (res, jv_string ("memory"), mem);
  else
    jv_free (mem);
  jv cp = cpu (c);
  if (jv_object_length (jv_copy (cp)) > 0)
    res = jv_object_set (res, jv_string ("cpu"), cp);
  else
    jv_free (cp);
  res = jv_object_set (res, jv_string ("blockIO"), bio);
  /* 0 and -1 both mean unlimited in the API; Docker then sets nothing. */
  int64_t pids;
  if (dk_json_int (c->hc, "PidsLimit", &pids) && pids > 0)
    res = jv_object_set (res, jv_string ("pids"), set_int (jv_object (), "limit", pids));
  lx = jv_object_set (lx, jv_string ("resources"), res);

  cleanup_free char *cgp = cgroups_path (c);
  lx = jv_object_set (lx, jv_string ("cgroupsPath"), jv_string (cgp));
  jv sc = sysctls (c);
  if (jv_object_length (jv_copy (sc)) > 0)
    lx = jv_object_set (lx, jv_string ("sysctl"), sc);
  else
    jv_free (sc);
  *spec = jv_object_set (*spec, jv_string ("linux"), lx);
  return 0;
}
