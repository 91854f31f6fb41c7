/* The kinds of POST /containers/create's body: a field of the wrong JSON
   kind is a 400 with the text moby's JSON decoder gives ("json: cannot
   unmarshal string into Go struct field ..."), instead of being ignored
   or misread at start.  null is accepted everywhere, as in Go.  A
   strslice given as one string (Cmd, Entrypoint) becomes an array. */
#include "container.h"

#include <string.h>

enum
{
  K_S = 1,  /* string */
  K_B = 2,  /* bool */
  K_N = 4,  /* number */
  K_A = 8,  /* array */
  K_O = 16, /* object */
  K_AS = 32 /* array of strings */
};

struct field
{
  const char *name;
  int kinds;
  const char *gotype;
};

static const struct field config_fields[] = {
  { "Hostname", K_S, "string" },
  { "Domainname", K_S, "string" },
  { "User", K_S, "string" },
  { "AttachStdin", K_B, "bool" },
  { "AttachStdout", K_B, "bool" },
  { "AttachStderr", K_B, "bool" },
  { "ExposedPorts", K_O, "nat.PortSet" },
  { "Tty", K_B, "bool" },
  { "OpenStdin", K_B, "bool" },
  { "StdinOnce", K_B, "bool" },
  { "Env", K_AS, "[]string" },
  { "Cmd", K_S | K_AS, "strslice.StrSlice" },
  { "Healthcheck", K_O, "container.HealthConfig" },
  { "ArgsEscaped", K_B, "bool" },
  { "Image", K_S, "string" },
  { "Volumes", K_O, "map[string]struct {}" },
  { "WorkingDir", K_S, "string" },
  { "Entrypoint", K_S | K_AS, "strslice.StrSlice" },
  { "NetworkDisabled", K_B, "bool" },
  { "MacAddress", K_S, "string" },
  { "OnBuild", K_AS, "[]string" },
  { "Labels", K_O, "map[string]string" },
  { "StopSignal", K_S, "string" },
  { "StopTimeout", K_N, "int" },
  { "Shell", K_AS, "strslice.StrSlice" },
  { "HostConfig", K_O, "container.HostConfig" },
  { "NetworkingConfig", K_O, "network.NetworkingConfig" },
  { NULL, 0, NULL },
};

static const struct field host_fields[] = {
  { "Binds", K_AS, "[]string" },
  { "ContainerIDFile", K_S, "string" },
  { "LogConfig", K_O, "container.LogConfig" },
  { "NetworkMode", K_S, "container.NetworkMode" },
  { "PortBindings", K_O, "nat.PortMap" },
  { "RestartPolicy", K_O, "container.RestartPolicy" },
  { "AutoRemove", K_B, "bool" },
  { "VolumeDriver", K_S, "string" },
  { "VolumesFrom", K_AS, "[]string" },
  { "Mounts", K_A, "[]mount.Mount" },
  { "CapAdd", K_AS, "strslice.StrSlice" },
  { "CapDrop", K_AS, "strslice.StrSlice" },
  { "CgroupnsMode", K_S, "container.CgroupnsMode" },
  { "Dns", K_AS, "[]string" },
  { "DnsOptions", K_AS, "[]string" },
  { "DnsSearch", K_AS, "[]string" },
  { "ExtraHosts", K_AS, "[]string" },
  { "GroupAdd", K_AS, "[]string" },
  { "IpcMode", K_S, "container.IpcMode" },
  { "Cgroup", K_S, "container.CgroupSpec" },
  { "Links", K_AS, "[]string" },
  { "OomScoreAdj", K_N, "int" },
  { "PidMode", K_S, "container.PidMode" },
  { "Privileged", K_B, "bool" },
  { "PublishAllPorts", K_B, "bool" },
  { "ReadonlyRootfs", K_B, "bool" },
  { "SecurityOpt", K_AS, "[]string" },
  { "StorageOpt", K_O, "map[string]string" },
  { "Tmpfs", K_O, "map[string]string" },
  { "UTSMode", K_S, "container.UTSMode" },
  { "UsernsMode", K_S, "container.UsernsMode" },
  { "ShmSize", K_N, "int64" },
  { "Sysctls", K_O, "map[string]string" },
  { "Runtime", K_S, "string" },
  { "Isolation", K_S, "container.Isolation" },
  { "CpuShares", K_N, "int64" },
  { "Memory", K_N, "int64" },
  { "NanoCpus", K_N, "int64" },
  { "CgroupParent", K_S, "string" },
  { "BlkioWeight", K_N, "uint16" },
  { "BlkioWeightDevice", K_A, "[]*blkiodev.WeightDevice" },
  { "BlkioDeviceReadBps", K_A, "[]*blkiodev.ThrottleDevice" },
  { "BlkioDeviceWriteBps", K_A, "[]*blkiodev.ThrottleDevice" },
  { "BlkioDeviceReadIOps", K_A, "[]*blkiodev.ThrottleDevice" },
  { "BlkioDeviceWriteIOps", K_A, "[]*blkiodev.ThrottleDevice" },
  { "CpuPeriod", K_N, "int64" },
  { "CpuQuota", K_N, "int64" },
  { "CpuRealtimePeriod", K_N, "int64" },
  { "CpuRealtimeRuntime", K_N, "int64" },
  { "CpusetCpus", K_S, "string" },
  { "CpusetMems", K_S, "string" },
  { "Devices", K_A, "[]container.DeviceMapping" },
  { "DeviceCgroupRules", K_AS, "[]string" },
  { "DeviceRequests", K_A, "[]container.DeviceRequest" },
  { "MemoryReservation", K_N, "int64" },
  { "MemorySwap", K_N, "int64" },
  { "MemorySwappiness", K_N, "int64" },
  { "OomKillDisable", K_B, "bool" },
  { "PidsLimit", K_N, "int64" },
  { "Ulimits", K_A, "[]*container.Ulimit" },
  { "CpuCount", K_N, "int64" },
  { "CpuPercent", K_N, "int64" },
  { "IOMaximumIOps", K_N, "uint64" },
  { "IOMaximumBandwidth", K_N, "uint64" },
  { "MaskedPaths", K_AS, "[]string" },
  { "ReadonlyPaths", K_AS, "[]string" },
  { "Init", K_B, "bool" },
  { "ConsoleSize", K_A, "[2]uint" },
  { NULL, 0, NULL },
};

static const char *
kind_word (jv v)
{
  switch (jv_get_kind (v))
    {
    case JV_KIND_STRING:
      return "string";
    case JV_KIND_NUMBER:
      return "number";
    case JV_KIND_TRUE:
    case JV_KIND_FALSE:
      return "bool";
    case JV_KIND_ARRAY:
      return "array";
    case JV_KIND_OBJECT:
      return "object";
    default:
      return "value";
    }
}

static bool
kind_ok (jv v, int kinds)
{
  switch (jv_get_kind (v))
    {
    case JV_KIND_NULL:
      return true;
    case JV_KIND_STRING:
      return kinds & K_S;
    case JV_KIND_TRUE:
    case JV_KIND_FALSE:
      return kinds & K_B;
    case JV_KIND_NUMBER:
      return kinds & K_N;
    case JV_KIND_OBJECT:
      return kinds & K_O;
    case JV_KIND_ARRAY:
      if (kinds & K_A)
        return true;
      if (!(kinds & K_AS))
        return false;
      {
        bool ok = true;
        jv_array_foreach (v, i, e)
        {
          if (jv_get_kind (e) != JV_KIND_STRING)
            ok = false;
          jv_free (e);
        }
        return ok;
      }
    default:
      return false;
    }
}

static int
check_fields (jv obj, const struct field *fields, const char *structname, dk_err_t *err)
{
  for (const struct field *f = fields; f->name; f++)
    {
      jv v = jv_object_get (jv_copy (obj), jv_string (f->name));
      if (!jv_is_valid (v))
        {
          jv_free (v);
          continue;
        }
      bool ok = kind_ok (v, f->kinds);
      const char *what = kind_word (v);
      if (!ok && jv_get_kind (v) == JV_KIND_ARRAY && (f->kinds & K_AS))
        jv_array_foreach (v, i, e)
        {
          /* Go names the element that did not fit */
          if (jv_get_kind (e) != JV_KIND_STRING && !strcmp (what, "array"))
            what = kind_word (e);
          jv_free (e);
        }
      if (ok && jv_get_kind (v) == JV_KIND_OBJECT && !strcmp (f->gotype, "map[string]string"))
        {
          /* map[string]string: every value a string */
          jv_object_foreach (v, k, e)
          {
            if (ok && jv_get_kind (e) != JV_KIND_STRING && jv_get_kind (e) != JV_KIND_NULL)
              {
                ok = false;
                what = kind_word (e);
              }
            jv_free (k);
            jv_free (e);
          }
        }
      jv_free (v);
      if (!ok)
        return dk_make_error_code (
            err, DK_ECODE_INVALID, 0,
            "json: cannot unmarshal %s into Go struct field %s.%s of type %s", what, structname,
            f->name, f->gotype);
    }
  return 0;
}

/* json-file, local (kept as json-file) and none are served; Docker's
   other drivers are refused as such, unknown names with moby's text */
static int
check_log_driver (jv hc, dk_err_t *err)
{
  jv lc = jv_object_get (jv_copy (hc), jv_string ("LogConfig"));
  const char *t = dk_json_str (lc, "Type");
  static const char *const served[] = { "json-file", "local", "none", NULL };
  static const char *const docker[] = { "syslog", "journald", "gelf",    "fluentd",    "awslogs",
                                        "splunk", "etwlogs",  "gcplogs", "logentries", NULL };
  int rc = 0;
  if (t && *t)
    {
      bool ok = false, known = false;
      for (int i = 0; served[i]; i++)
        ok = ok || !strcmp (t, served[i]);
      for (int i = 0; docker[i]; i++)
        known = known || !strcmp (t, docker[i]);
      if (!ok)
        rc = known ? dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                         "log driver %s is not supported by this daemon yet", t)
                   : dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                         "logger: no log driver named '%s' is registered", t);
    }
  jv_free (lc);
  return rc;
}

/* LogConfig.Config of json-file (and local): max-size and max-file are
   served, its other documented options refused as not yet, unknown ones
   with moby's text. */
static int
log_opts_check (jv hc, dk_err_t *err)
{
  cleanup_jv jv lc = dk_json_get_kind (hc, "LogConfig", JV_KIND_OBJECT);
  const char *type = dk_json_str (lc, "Type");
  if (type == NULL || *type == '\0')
    type = cfg_str ("log-driver"); /* options alone go to the default driver */
  if (strcmp (type, "json-file") && strcmp (type, "local"))
    return 0; /* none takes any (moby); other names are check_log_driver's */
  cleanup_jv jv opts = dk_json_get_kind (lc, "Config", JV_KIND_OBJECT);
  if (!jv_is_valid (opts))
    return 0;
  static const char *const later[]
      = { "compress", "labels", "labels-regex", "env", "env-regex", "tag", NULL };
  int rc = 0;
  jv_object_foreach (opts, k, v)
  {
    const char *ks = jv_string_value (k);
    bool later_opt = false;
    for (int i = 0; later[i]; i++)
      later_opt |= strcmp (ks, later[i]) == 0;
    if (rc == 0 && later_opt)
      rc = dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "log opt '%s' of the %s log driver is not supported yet", ks, type);
    else if (rc == 0 && strcmp (ks, "max-size") && strcmp (ks, "max-file"))
      rc = dk_make_error_code (err, DK_ECODE_INVALID, 0, "unknown log opt '%s' for %s log driver",
                               ks, type);
    jv_free (k);
    jv_free (v);
  }
  return rc;
}

int
container_create_check (jv *bodyp, dk_err_t *err)
{
  jv body = *bodyp;
  if (check_fields (body, config_fields, "Config", err) < 0)
    return -1;
  /* a strslice may be one string: stored as the array it means */
  static const char *const slices[] = { "Cmd", "Entrypoint", NULL };
  for (int i = 0; slices[i]; i++)
    {
      jv v = jv_object_get (jv_copy (body), jv_string (slices[i]));
      if (jv_get_kind (v) == JV_KIND_STRING)
        body = jv_object_set (body, jv_string (slices[i]), jv_array_append (jv_array (), v));
      else
        jv_free (v);
    }
  *bodyp = body;
  jv hc = jv_object_get (jv_copy (body), jv_string ("HostConfig"));
  int rc
      = jv_get_kind (hc) == JV_KIND_OBJECT ? check_fields (hc, host_fields, "HostConfig", err) : 0;
  if (rc == 0 && jv_get_kind (hc) == JV_KIND_OBJECT)
    rc = check_log_driver (hc, err);
  if (rc == 0 && jv_get_kind (hc) == JV_KIND_OBJECT)
    rc = log_opts_check (hc, err);
  jv_free (hc);
  return rc;
}
