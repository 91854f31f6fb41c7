/* The checks Docker makes when a container is created, with its messages:
   restart policy, resources, namespace modes, mounts, capabilities,
   security options, ulimits.  All failures are code "invalid". */
#include "ocispec_internal.h"
#include "caps.h"
#include "cleanup.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MIN_MEMORY (6 * 1024 * 1024)

static int
invalid (dk_err_t *err, const char *fmt, const char *a, long long n)
{
  /* one %s and/or one %lld, in that order */
  if (strstr (fmt, "%s") && strstr (fmt, "%lld"))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, fmt, a, n);
  if (strstr (fmt, "%s"))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, fmt, a);
  if (strstr (fmt, "%lld"))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, fmt, n);
  return dk_make_error_code (err, DK_ECODE_INVALID, 0, "%s", fmt);
}

static const struct
{
  const char *name;
  int resource;
} ulimit_names[] = {
  { "core", RLIMIT_CORE },         { "cpu", RLIMIT_CPU },
  { "data", RLIMIT_DATA },         { "fsize", RLIMIT_FSIZE },
  { "locks", RLIMIT_LOCKS },       { "memlock", RLIMIT_MEMLOCK },
  { "msgqueue", RLIMIT_MSGQUEUE }, { "nice", RLIMIT_NICE },
  { "nofile", RLIMIT_NOFILE },     { "nproc", RLIMIT_NPROC },
  { "rss", RLIMIT_RSS },           { "rtprio", RLIMIT_RTPRIO },
  { "rttime", RLIMIT_RTTIME },     { "sigpending", RLIMIT_SIGPENDING },
  { "stack", RLIMIT_STACK },
};

static bool
have_sys_resource (void)
{
  cleanup_fclose FILE *f = fopen ("/proc/self/status", "re");
  char line[256];
  while (f && fgets (line, sizeof line, f))
    {
      uint64_t m;
      if (sscanf (line, "CapEff: %" SCNx64, &m) == 1)
        return m & (1ULL << 24);
    }
  return false;
}

int
dk_ocispec_validate_ulimits (jv ulimits, bool clamp, jv *out, dk_err_t *err)
{
  jv res = jv_array ();
  bool can_raise = have_sys_resource ();
  for (int i = 0; i < dk_json_len (ulimits); i++)
    {
      cleanup_jv jv u = jv_array_get (jv_copy (ulimits), i);
      const char *name = dk_json_str (u, "Name");
      int64_t soft = 0, hard = 0;
      int resource = -1;
      for (size_t k = 0; name && k < sizeof ulimit_names / sizeof ulimit_names[0]; k++)
        if (strcmp (ulimit_names[k].name, name) == 0)
          resource = ulimit_names[k].resource;
      if (resource < 0)
        {
          jv_free (res);
          return invalid (err, "invalid ulimit type: %s", name ? name : "", 0);
        }
      if (!dk_json_int (u, "Soft", &soft) || !dk_json_int (u, "Hard", &hard))
        {
          jv_free (res);
          return invalid (err, "invalid ulimit %s: Soft and Hard must be integers", name, 0);
        }
      if (soft > hard)
        {
          jv_free (res);
          return dk_make_error_code (
              err, DK_ECODE_INVALID, 0,
              "ulimit soft limit must be less than or equal to hard limit: %lld > %lld",
              (long long)soft, (long long)hard);
        }
      struct rlimit rl;
      /* -1 is unlimited; the runtime cannot raise a hard limit above ours
         without CAP_SYS_RESOURCE (which root in this environment may lack). */
      uint64_t want = hard < 0 ? RLIM_INFINITY : (uint64_t)hard;
      if (!can_raise && getrlimit (resource, &rl) == 0 && rl.rlim_max != RLIM_INFINITY
          && want > rl.rlim_max)
        {
          if (!clamp)
            {
              jv_free (res);
              return dk_make_error_code (
                  err, DK_ECODE_INVALID, 0,
                  "ulimit %s: hard limit %lld exceeds hard limit %llu of the daemon (raising it "
                  "needs CAP_SYS_RESOURCE)",
                  name, (long long)hard, (unsigned long long)rl.rlim_max);
            }
          hard = (int64_t)rl.rlim_max;
          if (soft < 0 || soft > hard)
            soft = hard;
        }
      jv o = jv_object_set (jv_object (), jv_string ("Name"), jv_string (name));
      o = jv_object_set (o, jv_string ("Soft"), dk_json_int64 (soft));
      o = jv_object_set (o, jv_string ("Hard"), dk_json_int64 (hard));
      res = jv_array_append (res, o);
    }
  *out = res;
  return 0;
}

void
dk_ocispec_secopts_free (struct dk_secopts *o)
{
  free (o->seccomp);
  memset (o, 0, sizeof *o);
}

static int
parse_bool (const char *v, bool *out)
{
  static const char *const t[] = { "1", "t", "T", "TRUE", "true", "True", NULL };
  static const char *const f[] = { "0", "f", "F", "FALSE", "false", "False", NULL };
  for (int i = 0; t[i]; i++)
    if (strcmp (v, t[i]) == 0)
      return *out = true, 0;
  for (int i = 0; f[i]; i++)
    if (strcmp (v, f[i]) == 0)
      return *out = false, 0;
  return -1;
}

int
dk_ocispec_parse_secopts (jv hc, struct dk_secopts *o, dk_err_t *err)
{
  memset (o, 0, sizeof *o);
  cleanup_jv jv l = dk_json_get_kind (hc, "SecurityOpt", JV_KIND_ARRAY);
  for (int i = 0; i < dk_json_len (l); i++)
    {
      cleanup_jv jv e = jv_array_get (jv_copy (l), i);
      const char *opt = jv_get_kind (e) == JV_KIND_STRING ? jv_string_value (e) : "";
      if (strcmp (opt, "no-new-privileges") == 0)
        {
          o->no_new_privileges = true;
          continue;
        }
      if (strcmp (opt, "writable-cgroups") == 0)
        {
          o->writable_cgroups = o->writable_cgroups_set = true;
          continue;
        }
      if (strcmp (opt, "disable") == 0)
        continue;
      const char *sep = strchr (opt, '=');
      if (!sep)
        sep = strchr (opt, ':');
      if (!sep)
        {
          dk_ocispec_secopts_free (o);
          return invalid (err, "invalid --security-opt 1: \"%s\"", opt, 0);
        }
      cleanup_free char *k = xstrndup (opt, (size_t)(sep - opt));
      const char *v = sep + 1;
      bool b;
      if (strcmp (k, "label") == 0 || strcmp (k, "apparmor") == 0)
        continue; /* no SELinux/AppArmor here: accepted and ignored */
      else if (strcmp (k, "seccomp") == 0)
        {
          free (o->seccomp);
          o->seccomp = xstrdup (v);
        }
      else if (strcmp (k, "no-new-privileges") == 0 && parse_bool (v, &b) == 0)
        o->no_new_privileges = b;
      else if (strcmp (k, "writable-cgroups") == 0 && parse_bool (v, &b) == 0)
        o->writable_cgroups = b, o->writable_cgroups_set = true;
      else
        {
          dk_ocispec_secopts_free (o);
          return invalid (err, "invalid --security-opt 2: \"%s\"", opt, 0);
        }
    }
  return 0;
}

static bool
valid_mode (const char *m, bool allow_private, bool allow_shareable, bool allow_none,
            bool allow_container)
{
  if (!m || !*m || strcmp (m, "host") == 0)
    return true;
  if ((allow_private && strcmp (m, "private") == 0)
      || (allow_shareable && strcmp (m, "shareable") == 0)
      || (allow_none && strcmp (m, "none") == 0))
    return true;
  return allow_container && strncmp (m, "container:", 10) == 0 && m[10] != '\0';
}

static int
restart_policy (jv hc, dk_err_t *err)
{
  cleanup_jv jv rp = dk_json_get_kind (hc, "RestartPolicy", JV_KIND_OBJECT);
  const char *name = dk_json_str (rp, "Name");
  int64_t max = 0;
  dk_json_int (rp, "MaximumRetryCount", &max);
  if (!name || !*name)
    return 0;
  if (strcmp (name, "always") == 0 || strcmp (name, "unless-stopped") == 0
      || strcmp (name, "no") == 0)
    {
      if (max != 0)
        return invalid (err,
                        max < 0 ? "invalid restart policy: maximum retry count can only be used "
                                  "with 'on-failure' and cannot be negative"
                                : "invalid restart policy: maximum retry count can only be used "
                                  "with 'on-failure'",
                        NULL, 0);
      return 0;
    }
  if (strcmp (name, "on-failure") == 0)
    {
      if (max < 0)
        return invalid (err, "invalid restart policy: maximum retry count cannot be negative", NULL,
                        0);
      return 0;
    }
  return invalid (err,
                  "invalid restart policy: unknown policy '%s'; use one of 'no', 'always', "
                  "'on-failure', or 'unless-stopped'",
                  name, 0);
}

static int
resources (jv hc, dk_err_t *err)
{
  int64_t mem = dk_spec_int (hc, "Memory"), swap = dk_spec_int (hc, "MemorySwap");
  int64_t res = dk_spec_int (hc, "MemoryReservation");
  int64_t nano = dk_spec_int (hc, "NanoCpus"), period = dk_spec_int (hc, "CpuPeriod");
  int64_t quota = dk_spec_int (hc, "CpuQuota"), shares = dk_spec_int (hc, "CpuShares");
  int64_t blkio = dk_spec_int (hc, "BlkioWeight"), swappiness;
  if (mem != 0 && mem < MIN_MEMORY)
    return invalid (err, "Minimum memory limit allowed is 6MB", NULL, 0);
  if (mem > 0 && swap > 0 && swap < mem)
    return invalid (err, "Minimum memoryswap limit should be larger than memory limit, see usage",
                    NULL, 0);
  if (mem == 0 && swap > 0)
    return invalid (err,
                    "You should always set the Memory limit when using Memoryswap limit, see "
                    "usage",
                    NULL, 0);
  if (dk_json_int (hc, "MemorySwappiness", &swappiness) && swappiness != -1
      && (swappiness < 0 || swappiness > 100))
    return invalid (err, "Invalid value: %lld, valid memory swappiness range is 0-100", NULL,
                    swappiness);
  if (res != 0 && res < MIN_MEMORY)
    return invalid (err, "Minimum memory reservation allowed is 6MB", NULL, 0);
  if (mem > 0 && res > 0 && mem < res)
    return invalid (err,
                    "Minimum memory limit can not be less than memory reservation limit, see "
                    "usage",
                    NULL, 0);
  if (nano > 0 && period > 0)
    return invalid (err, "Conflicting options: Nano CPUs and CPU Period cannot both be set", NULL,
                    0);
  if (nano > 0 && quota > 0)
    return invalid (err, "Conflicting options: Nano CPUs and CPU Quota cannot both be set", NULL,
                    0);
  long ncpu = sysconf (_SC_NPROCESSORS_ONLN);
  if (nano != 0 && (nano < 0 || nano > ncpu * 1000000000LL))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "range of CPUs is from 0.01 to %ld.00, as there are only %ld CPUs "
                               "available",
                               ncpu, ncpu);
  if (shares < 0)
    return invalid (err, "invalid CPU shares (%lld): value must be a positive integer", NULL,
                    shares);
  if (period != 0 && (period < 1000 || period > 1000000))
    return invalid (err,
                    "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s "
                    "(i.e. 1000000)",
                    NULL, 0);
  if (quota > 0 && quota < 1000)
    return invalid (err, "CPU cfs quota can not be less than 1ms (i.e. 1000)", NULL, 0);
  if (blkio > 0 && (blkio < 10 || blkio > 1000))
    return invalid (err, "Range of blkio weight is from 10 to 1000", NULL, 0);
  if (blkio < 0)
    return invalid (err, "Range of blkio weight is from 10 to 1000", NULL, 0);
  if (dk_spec_int (hc, "IOMaximumBandwidth") != 0 || dk_spec_int (hc, "IOMaximumIOps") != 0)
    return invalid (err,
                    "Invalid QoS settings: linux does not support Maximum IO Bandwidth or "
                    "Maximum IO IOps",
                    NULL, 0);
  return 0;
}

static int
modes (jv hc, dk_err_t *err)
{
  const char *ipc = dk_json_str (hc, "IpcMode"), *pid = dk_json_str (hc, "PidMode");
  const char *uts = dk_json_str (hc, "UTSMode"), *cg = dk_json_str (hc, "CgroupnsMode");
  if (!valid_mode (ipc, true, true, true, true))
    return invalid (err, "invalid IPC mode: %s", ipc, 0);
  if (!valid_mode (pid, false, false, false, true))
    return invalid (err, "invalid PID mode: %s", pid, 0);
  if (!valid_mode (uts, false, false, false, false))
    return invalid (err, "invalid UTS mode: %s", uts, 0);
  if (!valid_mode (cg, true, false, false, false))
    return invalid (err, "invalid cgroup namespace mode: %s", cg, 0);
  const char *userns = dk_json_str (hc, "UsernsMode");
  if (userns && *userns && strcmp (userns, "host") != 0)
    return invalid (err, "user namespaces (UsernsMode %s) are not supported yet", userns, 0);
  if (dk_spec_int (hc, "ShmSize") < 0)
    return invalid (err, "SHM size can not be less than 0", NULL, 0);
  int64_t oom = dk_spec_int (hc, "OomScoreAdj");
  if (oom < -1000 || oom > 1000)
    return invalid (err, "Invalid value %lld, range for oom score adj is [-1000, 1000]", NULL, oom);
  bool init = false;
  if (dk_json_bool (hc, "Init", &init) && init)
    return invalid (err, "Init (--init) is not supported yet", NULL, 0);
  return 0;
}

static int
mounts (jv hc, dk_err_t *err)
{
  cleanup_jv jv binds = dk_json_get_kind (hc, "Binds", JV_KIND_ARRAY);
  cleanup_jv jv seen = jv_array ();
  for (int i = 0; i < dk_json_len (binds); i++)
    {
      cleanup_jv jv b = jv_array_get (jv_copy (binds), i);
      struct dk_bind bind;
      if (jv_get_kind (b) != JV_KIND_STRING)
        return invalid (err, "Binds entries must be strings", NULL, 0);
      if (dk_ocispec_parse_bind (jv_string_value (b), &bind, err) < 0)
        return -1;
      bool dup = dk_spec_has_str (seen, bind.target);
      if (dup)
        invalid (err, "Duplicate mount point: %s", bind.target, 0);
      else
        seen = jv_array_append (seen, jv_string (bind.target));
      dk_ocispec_bind_free (&bind);
      if (dup)
        return -1;
    }
  cleanup_jv jv ml = dk_json_get_kind (hc, "Mounts", JV_KIND_ARRAY);
  for (int i = 0; i < dk_json_len (ml); i++)
    {
      cleanup_jv jv m = jv_array_get (jv_copy (ml), i);
      const char *target = dk_json_str (m, "Target");
      if (!target)
        continue;
      cleanup_free char *c = dk_ocispec_clean_path (target);
      if (dk_spec_has_str (seen, c))
        return invalid (err, "Duplicate mount point: %s", target, 0);
      seen = jv_array_append (seen, jv_string (c));
    }
  cleanup_jv jv t = dk_json_get_kind (hc, "Tmpfs", JV_KIND_OBJECT);
  int r = 0;
  if (jv_is_valid (t))
    jv_object_foreach (t, k, v)
    {
      const char *d = jv_string_value (k);
      cleanup_free char *c = dk_ocispec_clean_path (d);
      if (r == 0 && strcmp (c, "/") == 0)
        r = invalid (err, "invalid specification: destination can't be '/'", NULL, 0);
      else if (r == 0 && d[0] != '/')
        r = invalid (err, "invalid mount path: '%s' mount path must be absolute", d, 0);
      jv_free (k);
      jv_free (v);
    }
  return r;
}

static int
capabilities (jv hc, dk_err_t *err)
{
  cleanup_jv jv adds = dk_json_get (hc, "CapAdd"), drops = dk_json_get (hc, "CapDrop");
  cleanup_jv jv a = jv_invalid (), d = jv_invalid ();
  if (dk_caps_normalize (adds, &a, err) < 0)
    return dk_error_wrap (err, "invalid CapAdd");
  if (dk_caps_normalize (drops, &d, err) < 0)
    return dk_error_wrap (err, "invalid CapDrop");
  return 0;
}

int
dk_ocispec_validate (jv create, dk_err_t *err)
{
  if (jv_get_kind (create) != JV_KIND_OBJECT)
    return invalid (err, "the container configuration must be a JSON object", NULL, 0);
  cleanup_jv jv hc = dk_json_get_kind (create, "HostConfig", JV_KIND_OBJECT);
  /* Docker's order: the Config, the generic HostConfig checks, then the
     Linux ones; Binds are parsed when the mounts are registered. */
  if (dk_ocispec_validate_config (create, hc, err) < 0)
    return -1;
  if (jv_is_valid (hc)
      && (restart_policy (hc, err) < 0 || capabilities (hc, err) < 0
          || dk_ocispec_validate_host_misc (hc, err) < 0))
    return -1;
  const char *hn = dk_json_str (create, "Hostname");
  if (hn && strlen (hn) > 64)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "hostname \"%s\" is too long (maximum 64 bytes)", hn);
  if (!jv_is_valid (hc))
    return 0;
  if (resources (hc, err) < 0 || modes (hc, err) < 0 || mounts (hc, err) < 0)
    return -1;
  struct dk_secopts so;
  if (dk_ocispec_parse_secopts (hc, &so, err) < 0)
    return -1;
  dk_ocispec_secopts_free (&so);
  cleanup_jv jv ul = dk_json_get_kind (hc, "Ulimits", JV_KIND_ARRAY);
  cleanup_jv jv checked = jv_invalid ();
  if (dk_ocispec_validate_ulimits (ul, false, &checked, err) < 0)
    return -1;
  return 0;
}
