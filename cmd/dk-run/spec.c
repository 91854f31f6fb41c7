/* spec: writes a starter config.json into a bundle, with the fields and
   values runc's `spec` writes (every runc integration test makes its bundle
   this way), or their rootless variant with --rootless. */
#include "run.h"
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

static const char default_config[]
    = "{\"ociVersion\":\"1.0.2-dev\","
      "\"process\":{\"terminal\":true,\"user\":{\"uid\":0,\"gid\":0},\"args\":[\"sh\"],"
      "\"env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\","
      "\"TERM=xterm\"],\"cwd\":\"/\","
      "\"capabilities\":{\"bounding\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
      "\"effective\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
      "\"permitted\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"]},"
      "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1024,\"soft\":1024}],"
      "\"noNewPrivileges\":true},"
      "\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
      "\"hostname\":\"runc\","
      "\"mounts\":["
      "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
      "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
      "\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
      "{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\","
      "\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\","
      "\"gid=5\"]},"
      "{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\","
      "\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"mode=1777\",\"size=65536k\"]},"
      "{\"destination\":\"/dev/mqueue\",\"type\":\"mqueue\",\"source\":\"mqueue\","
      "\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},"
      "{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\","
      "\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"ro\"]},"
      "{\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\",\"source\":\"cgroup\","
      "\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"relatime\",\"ro\"]}],"
      "\"linux\":{\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]},"
      "\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"},{\"type\":\"ipc\"},"
      "{\"type\":\"uts\"},{\"type\":\"mount\"}],"
      "\"maskedPaths\":[\"/proc/acpi\",\"/proc/asound\",\"/proc/kcore\",\"/proc/keys\","
      "\"/proc/latency_stats\",\"/proc/timer_list\",\"/proc/timer_stats\",\"/proc/sched_debug\","
      "\"/sys/firmware\",\"/proc/scsi\"],"
      "\"readonlyPaths\":[\"/proc/bus\",\"/proc/fs\",\"/proc/irq\",\"/proc/sys\","
      "\"/proc/sysrq-trigger\"]}}";

static jv
id_map (unsigned host)
{
  jv m = jv_object ();
  m = jv_object_set (m, jv_string ("containerID"), jv_number (0));
  m = jv_object_set (m, jv_string ("hostID"), jv_number (host));
  m = jv_object_set (m, jv_string ("size"), jv_number (1));
  return jv_array_append (jv_array (), m);
}

/* A rootless container has no network namespace of its own to set up, a
   user namespace mapping the caller to root, the host's /sys bound (sysfs
   cannot be mounted there), no uid=/gid= mount options and no cgroup limits. */
static jv
rootless_namespaces (jv nss)
{
  jv out = jv_array ();
  jv_array_foreach (nss, i, n)
  {
    const char *t = dk_json_str (n, "type");
    if (t && strcmp (t, "network") != 0 && strcmp (t, "user") != 0)
      out = jv_array_append (out, n);
    else
      jv_free (n);
  }
  jv_free (nss);
  return jv_array_append (out,
                          jv_object_set (jv_object (), jv_string ("type"), jv_string ("user")));
}

static jv
rootless_mount (jv m)
{
  const char *dest = dk_json_str (m, "destination");
  if (dest && strcmp (dest, "/sys") == 0)
    {
      jv_free (m);
      static const char sys[] = "{\"destination\":\"/sys\",\"type\":\"none\",\"source\":\"/sys\","
                                "\"options\":[\"rbind\",\"nosuid\",\"noexec\",\"nodev\",\"ro\"]}";
      jv v;
      dk_json_parse (sys, sizeof sys - 1, &v, NULL);
      return v;
    }
  jv opts = dk_json_get_kind (m, "options", JV_KIND_ARRAY);
  if (!jv_is_valid (opts))
    return m;
  jv kept = jv_array ();
  jv_array_foreach (opts, i, o)
  {
    const char *s = jv_get_kind (o) == JV_KIND_STRING ? jv_string_value (o) : "";
    if (strncmp (s, "uid=", 4) != 0 && strncmp (s, "gid=", 4) != 0)
      kept = jv_array_append (kept, o);
    else
      jv_free (o);
  }
  jv_free (opts);
  return jv_object_set (m, jv_string ("options"), kept);
}

static jv
to_rootless (jv spec)
{
  jv lx = dk_json_get_kind (spec, "linux", JV_KIND_OBJECT);
  lx = jv_object_set (lx, jv_string ("namespaces"),
                      rootless_namespaces (dk_json_get_kind (lx, "namespaces", JV_KIND_ARRAY)));
  lx = jv_object_set (lx, jv_string ("uidMappings"), id_map (geteuid ()));
  lx = jv_object_set (lx, jv_string ("gidMappings"), id_map (getegid ()));
  lx = jv_object_delete (lx, jv_string ("resources"));
  jv mounts = dk_json_get_kind (spec, "mounts", JV_KIND_ARRAY);
  jv out = jv_array ();
  jv_array_foreach (mounts, i, m) out = jv_array_append (out, rootless_mount (m));
  jv_free (mounts);
  spec = jv_object_set (spec, jv_string ("mounts"), out);
  return jv_object_set (spec, jv_string ("linux"), lx);
}

static jv
build_spec (bool rootless)
{
  jv spec;
  dk_json_parse (default_config, sizeof default_config - 1, &spec, NULL);
  /* runc adds a cgroup namespace where the hierarchy is cgroup v2 alone */
  if (dk_cgroup_mode () == DK_CGROUP_V2)
    {
      jv lx = dk_json_get_kind (spec, "linux", JV_KIND_OBJECT);
      jv nss = dk_json_get_kind (lx, "namespaces", JV_KIND_ARRAY);
      nss = jv_array_append (
          nss, jv_object_set (jv_object (), jv_string ("type"), jv_string ("cgroup")));
      lx = jv_object_set (lx, jv_string ("namespaces"), nss);
      spec = jv_object_set (spec, jv_string ("linux"), lx);
    }
  return rootless ? to_rootless (spec) : spec;
}

static int
write_spec (const char *bundle, jv spec, dk_err_t *err)
{
  cleanup_free char *path = xasprintf ("%s/config.json", bundle ? bundle : ".");
  /* O_EXCL: runc never overwrites a config */
  cleanup_close int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0 && errno == EEXIST)
    return dk_make_error_code (err, DK_ECODE_CONFLICT, 0,
                               "File config.json exists. Remove it first");
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s`", path);
  jv s = jv_dump_string (spec, JV_PRINT_PRETTY | JV_PRINT_TAB);
  const char *text = jv_string_value (s);
  int r = 0;
  if (dk_write_all (fd, text, strlen (text)) < 0)
    r = dk_make_error (err, errno, "write `%s`", path);
  jv_free (s);
  if (r < 0)
    unlink (path);
  return r;
}

int
dk_cmd_spec (int argc, char **argv, dk_err_t *err)
{
  static const struct option opts[] = { { "bundle", required_argument, 0, 'b' },
                                        { "rootless", no_argument, 0, 'r' },
                                        { 0, 0, 0, 0 } };
  const char *bundle = NULL;
  bool rootless = false;
  int c;
  optind = 0;
  while ((c = getopt_long_only (argc, argv, "+b:", opts, NULL)) != -1)
    switch (c)
      {
      case 'b':
        bundle = optarg;
        break;
      case 'r':
        rootless = true;
        break;
      default:
        return dk_make_error_code (err, "usage", 0, "spec: bad option");
      }
  if (optind < argc)
    return dk_make_error_code (err, "usage", 0, "\"spec\" requires exactly 0 arguments");
  return write_spec (bundle, build_spec (rootless), err);
}
