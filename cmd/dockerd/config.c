/* dockerd's options: command-line flags and daemon.json, merged under
   Docker's rule (a setting given both ways refuses to start; unknown keys in
   the file are an error).  Values are kept as a jv object keyed by the
   daemon.json names, so flags and file compare directly. */
#include "dockerd.h"
#include "cleanup.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum kind
{
  K_BOOL,
  K_STR,
  K_INT,
  K_LIST,    /* repeatable flag, array in the file */
  K_OPTMAP,  /* --log-opt k=v: object of strings in the file */
  K_ULIMIT,  /* --default-ulimit name=soft[:hard]: object of {Name,Soft,Hard} */
  K_RUNTIME, /* --add-runtime name=path: runtimes object */
  K_FILEOBJ, /* file only object */
};

enum
{
  F_UNSUP = 1,  /* parsed, refused when set: later work */
  F_NOFILE = 2, /* flag only */
  F_NOFLAG = 4, /* file only */
  F_RELOAD = 8, /* reloaded on SIGHUP */
};

struct opt
{
  const char *flag; /* long name */
  char shortc;
  const char *key; /* daemon.json key */
  enum kind kind;
  const char *def;
  int flags;
  const char *help;
};

static const struct opt opts[] = {
  { "add-runtime", 0, "runtimes", K_RUNTIME, NULL, F_RELOAD, "Register an additional OCI runtime" },
  { "allow-nondistributable-artifacts", 0, "allow-nondistributable-artifacts", K_LIST, NULL, 0,
    "Allow push of nondistributable artifacts to registry" },
  { "api-cors-header", 0, "api-cors-header", K_STR, NULL, 0, "Set CORS headers in the Engine API" },
  { "authorization-plugin", 0, "authorization-plugins", K_LIST, NULL, F_UNSUP,
    "Authorization plugins to load" },
  { "bip", 0, "bip", K_STR, NULL, 0, "Specify network bridge IP" },
  { "bridge", 'b', "bridge", K_STR, NULL, 0, "Attach containers to a network bridge" },
  { "cgroup-parent", 0, "cgroup-parent", K_STR, NULL, 0, "Set parent cgroup for all containers" },
  { "cluster-advertise", 0, "cluster-advertise", K_STR, NULL, F_UNSUP,
    "Address or interface name to advertise" },
  { "cluster-store", 0, "cluster-store", K_STR, NULL, F_UNSUP,
    "URL of the distributed storage backend" },
  { "cluster-store-opt", 0, "cluster-store-opts", K_OPTMAP, NULL, F_UNSUP,
    "Set cluster store options" },
  { "config-file", 0, "config-file", K_STR, "/etc/docker/daemon.json", F_NOFILE,
    "Daemon configuration file" },
  { "containerd", 0, "containerd", K_STR, NULL, 0, "containerd grpc address (accepted, unused)" },
  { "data-root", 0, "data-root", K_STR, "/var/lib/docker", 0,
    "Root directory of persistent state" },
  { "debug", 'D', "debug", K_BOOL, "false", F_RELOAD, "Enable debug mode" },
  { "default-cgroupns-mode", 0, "default-cgroupns-mode", K_STR, "private", 0,
    "Default mode for containers cgroup namespace" },
  { "default-gateway", 0, "default-gateway", K_STR, NULL, 0,
    "Container default gateway IPv4 address" },
  { "default-gateway-v6", 0, "default-gateway-v6", K_STR, NULL, 0,
    "Container default gateway IPv6 address" },
  { "default-ipc-mode", 0, "default-ipc-mode", K_STR, "private", 0,
    "Default mode for containers ipc" },
  { "default-runtime", 0, "default-runtime", K_STR, "runc", F_RELOAD,
    "Default OCI runtime for containers" },
  { "default-shm-size", 0, "default-shm-size", K_STR, "64M", 0, "Default shm size for containers" },
  { "default-ulimit", 0, "default-ulimits", K_ULIMIT, NULL, 0, "Default ulimits for containers" },
  { "disable-legacy-registry", 0, "disable-legacy-registry", K_BOOL, "true", 0,
    "Accepted; only the v2 registry protocol exists" },
  { "dns", 0, "dns", K_LIST, NULL, 0, "DNS server to use" },
  { "dns-opt", 0, "dns-opts", K_LIST, NULL, 0, "DNS options to use" },
  { "dns-search", 0, "dns-search", K_LIST, NULL, 0, "DNS search domains to use" },
  { "exec-opt", 0, "exec-opts", K_LIST, NULL, 0, "Runtime execution options" },
  { "exec-root", 0, "exec-root", K_STR, "/var/run/docker", 0,
    "Root directory for execution state" },
  { "experimental", 0, "experimental", K_BOOL, "false", 0, "Enable experimental features" },
  { "fixed-cidr", 0, "fixed-cidr", K_STR, NULL, 0, "IPv4 subnet for fixed IPs" },
  { "fixed-cidr-v6", 0, "fixed-cidr-v6", K_STR, NULL, 0, "IPv6 subnet for fixed IPs" },
  { "graph", 'g', "graph", K_STR, NULL, 0, "Root of the Docker runtime (deprecated: --data-root)" },
  { "group", 'G', "group", K_STR, "docker", 0, "Group for the unix socket" },
  { "host", 'H', "hosts", K_LIST, NULL, 0, "Daemon socket(s) to connect to" },
  { "icc", 0, "icc", K_BOOL, "true", 0, "Enable inter-container communication" },
  { "init", 0, "init", K_BOOL, "false", 0, "Run an init in the container" },
  { "init-path", 0, "init-path", K_STR, NULL, 0, "Path to the docker-init binary" },
  { "insecure-registry", 0, "insecure-registries", K_LIST, NULL, 0,
    "Enable insecure registry communication" },
  { "ip", 0, "ip", K_STR, "0.0.0.0", 0, "Default IP when binding container ports" },
  { "ip-forward", 0, "ip-forward", K_BOOL, "true", 0, "Enable net.ipv4.ip_forward" },
  { "ip-masq", 0, "ip-masq", K_BOOL, "true", 0, "Enable IP masquerading" },
  { "ip6tables", 0, "ip6tables", K_BOOL, "true", 0, "Enable addition of ip6tables rules" },
  { "iptables", 0, "iptables", K_BOOL, "true", 0, "Enable addition of iptables rules" },
  { "ipv6", 0, "ipv6", K_BOOL, "false", 0, "Enable IPv6 networking" },
  { "label", 0, "labels", K_LIST, NULL, F_RELOAD, "Set key=value labels to the daemon" },
  { "live-restore", 0, "live-restore", K_BOOL, "false", 0,
    "Enable live restore of docker when containers are still running" },
  { "log-driver", 0, "log-driver", K_STR, "json-file", 0, "Default driver for container logs" },
  { "log-level", 'l', "log-level", K_STR, "info", 0, "Set the logging level" },
  { "log-opt", 0, "log-opts", K_OPTMAP, NULL, 0, "Default log driver options for containers" },
  { "max-concurrent-downloads", 0, "max-concurrent-downloads", K_INT, "3", F_RELOAD,
    "Set the max concurrent downloads for each pull" },
  { "max-concurrent-uploads", 0, "max-concurrent-uploads", K_INT, "5", F_RELOAD,
    "Set the max concurrent uploads for each push" },
  { "max-download-attempts", 0, "max-download-attempts", K_INT, "5", 0,
    "Set the max download attempts for each pull" },
  { "mtu", 0, "mtu", K_INT, "0", 0, "Set the containers network MTU" },
  { "no-new-privileges", 0, "no-new-privileges", K_BOOL, "false", 0,
    "Set no-new-privileges by default for new containers" },
  { "oom-score-adjust", 0, "oom-score-adjust", K_INT, "0", 0,
    "Set the oom_score_adj for the daemon" },
  { "pidfile", 'p', "pidfile", K_STR, "/var/run/docker.pid", 0, "Path to use for daemon PID file" },
  { "raw-logs", 0, "raw-logs", K_BOOL, "false", 0, "Full timestamps without ANSI coloring" },
  { "registry-mirror", 0, "registry-mirrors", K_LIST, NULL, 0, "Preferred registry mirror" },
  { NULL, 0, "runtimes", K_FILEOBJ, NULL, F_NOFLAG | F_RELOAD, NULL },
  { "seccomp-profile", 0, "seccomp-profile", K_STR, NULL, 0, "Path to seccomp profile" },
  { "selinux-enabled", 0, "selinux-enabled", K_BOOL, "false", F_UNSUP, "Enable selinux support" },
  { "shutdown-timeout", 0, "shutdown-timeout", K_INT, "15", 0,
    "Default shutdown timeout in seconds" },
  { "storage-driver", 's', "storage-driver", K_STR, NULL, 0, "Storage driver to use" },
  { "storage-opt", 0, "storage-opts", K_LIST, NULL, 0, "Storage driver options" },
  { "swarm-default-advertise-addr", 0, "swarm-default-advertise-addr", K_STR, NULL, F_UNSUP,
    "Set default address or interface for swarm advertised address" },
  { "tls", 0, "tls", K_BOOL, "false", 0, "Use TLS; implied by --tlsverify" },
  { "tlscacert", 0, "tlscacert", K_STR, "~/.docker/ca.pem", 0,
    "Trust certs signed only by this CA" },
  { "tlscert", 0, "tlscert", K_STR, "~/.docker/cert.pem", 0, "Path to TLS certificate file" },
  { "tlskey", 0, "tlskey", K_STR, "~/.docker/key.pem", 0, "Path to TLS key file" },
  { "tlsverify", 0, "tlsverify", K_BOOL, "false", 0, "Use TLS and verify the remote" },
  { "userland-proxy", 0, "userland-proxy", K_BOOL, "true", 0,
    "Use userland proxy for loopback traffic" },
  { "userland-proxy-path", 0, "userland-proxy-path", K_STR, NULL, 0,
    "Path to the userland proxy binary" },
  { "userns-remap", 0, "userns-remap", K_STR, NULL, F_UNSUP,
    "User/Group setting for user namespaces" },
};
#define NOPTS (sizeof opts / sizeof opts[0])

static struct dk_config *the_cfg;

static const struct opt *
find_flag (const char *name, size_t n, char shortc)
{
  for (size_t i = 0; i < NOPTS; i++)
    {
      if (opts[i].flag == NULL)
        continue;
      if (shortc ? opts[i].shortc == shortc
                 : (strlen (opts[i].flag) == n && strncmp (opts[i].flag, name, n) == 0))
        return &opts[i];
    }
  return NULL;
}

static const struct opt *
find_key (const char *key)
{
  for (size_t i = 0; i < NOPTS; i++)
    if (strcmp (opts[i].key, key) == 0)
      return &opts[i];
  return NULL;
}

static int
parse_bool (const char *s, bool *out)
{
  if (!strcmp (s, "1") || !strcasecmp (s, "true") || !strcmp (s, "t"))
    *out = true;
  else if (!strcmp (s, "0") || !strcasecmp (s, "false") || !strcmp (s, "f"))
    *out = false;
  else
    return -1;
  return 0;
}

static int
parse_ulimit (const char *s, jv *obj, dk_err_t *err)
{
  const char *eq = strchr (s, '=');
  if (eq == NULL || eq == s)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid ulimit argument: %s", s);
  char *end;
  errno = 0;
  long long soft = strtoll (eq + 1, &end, 10), hard = soft;
  if (errno || end == eq + 1 || (*end && *end != ':'))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid ulimit argument: %s", s);
  if (*end == ':')
    {
      const char *h = end + 1;
      hard = strtoll (h, &end, 10);
      if (errno || end == h || *end)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid ulimit argument: %s", s);
    }
  if (soft > hard)
    return dk_make_error_code (
        err, DK_ECODE_INVALID, 0,
        "ulimit soft limit must be less than or equal to hard limit: %lld > %lld", soft, hard);
  cleanup_free char *name = xstrndup (s, eq - s);
  jv u = jv_object ();
  u = jv_object_set (u, jv_string ("Name"), jv_string (name));
  u = jv_object_set (u, jv_string ("Hard"), dk_json_int64 (hard));
  u = jv_object_set (u, jv_string ("Soft"), dk_json_int64 (soft));
  *obj = jv_object_set (*obj, jv_string (name), u);
  return 0;
}

/* Applies one flag value to cfg->flags. */
static int
set_flag (struct dk_config *cfg, const struct opt *o, const char *val, dk_err_t *err)
{
  jv cur = dk_json_get (cfg->flags, o->key);
  switch (o->kind)
    {
    case K_BOOL:
      {
        jv_free (cur);
        bool b;
        if (parse_bool (val, &b) < 0)
          return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                     "invalid argument \"%s\" for \"--%s\" flag: strconv.ParseBool",
                                     val, o->flag);
        cfg->flags = jv_object_set (cfg->flags, jv_string (o->key), jv_bool (b));
        return 0;
      }
    case K_STR:
      jv_free (cur);
      cfg->flags = jv_object_set (cfg->flags, jv_string (o->key), jv_string (val));
      return 0;
    case K_INT:
      {
        jv_free (cur);
        char *end;
        errno = 0;
        long long n = strtoll (val, &end, 10);
        if (errno || *val == 0 || *end)
          return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                     "invalid argument \"%s\" for \"--%s\" flag: invalid syntax",
                                     val, o->flag);
        cfg->flags = jv_object_set (cfg->flags, jv_string (o->key), dk_json_int64 (n));
        return 0;
      }
    case K_LIST:
      if (!jv_is_valid (cur))
        cur = jv_array ();
      cfg->flags
          = jv_object_set (cfg->flags, jv_string (o->key), jv_array_append (cur, jv_string (val)));
      return 0;
    case K_OPTMAP:
    case K_RUNTIME:
      {
        if (!jv_is_valid (cur))
          cur = jv_object ();
        const char *eq = strchr (val, '=');
        if (eq == NULL || eq == val)
          {
            jv_free (cur);
            return dk_make_error_code (
                err, DK_ECODE_INVALID, 0,
                "invalid argument \"%s\" for \"--%s\" flag: expected key=value", val, o->flag);
          }
        cleanup_free char *k = xstrndup (val, eq - val);
        jv v = jv_string (eq + 1);
        if (o->kind == K_RUNTIME)
          v = jv_object_set (jv_object (), jv_string ("path"), v);
        cfg->flags
            = jv_object_set (cfg->flags, jv_string (o->key), jv_object_set (cur, jv_string (k), v));
        return 0;
      }
    case K_ULIMIT:
      {
        if (!jv_is_valid (cur))
          cur = jv_object ();
        if (parse_ulimit (val, &cur, err) < 0)
          {
            jv_free (cur);
            return -1;
          }
        cfg->flags = jv_object_set (cfg->flags, jv_string (o->key), cur);
        return 0;
      }
    case K_FILEOBJ:
      break;
    }
  jv_free (cur);
  return 0;
}

void
config_usage (void)
{
  printf ("Usage:\tdockerd [OPTIONS]\n\nA self-sufficient runtime for containers.\n\nOptions:\n");
  for (size_t i = 0; i < NOPTS; i++)
    {
      if (opts[i].flag == NULL)
        continue;
      char left[64];
      if (opts[i].shortc)
        snprintf (left, sizeof left, "-%c, --%s", opts[i].shortc, opts[i].flag);
      else
        snprintf (left, sizeof left, "    --%s", opts[i].flag);
      printf ("  %-40s %s%s%s%s\n", left, opts[i].help, opts[i].def ? " (default " : "",
              opts[i].def ? opts[i].def : "", opts[i].def ? ")" : "");
    }
  printf ("  %-40s %s\n  %-40s %s\n", "-h, --help", "Print usage", "-v, --version",
          "Print version information and quit");
}

int
config_parse_args (struct dk_config *cfg, int argc, char **argv, dk_err_t *err)
{
  the_cfg = cfg;
  cfg->flags = jv_object ();
  cfg->file = jv_object ();
  cfg->merged = jv_object ();
  for (int i = 1; i < argc; i++)
    {
      const char *a = argv[i];
      const struct opt *o = NULL;
      const char *val = NULL;
      if (!strcmp (a, "-h") || !strcmp (a, "--help"))
        {
          config_usage ();
          return 1;
        }
      if (!strcmp (a, "-v") || !strcmp (a, "--version"))
        {
          printf ("Docker version %s, build dk\n", SERVER_VERSION);
          return 1;
        }
      if (a[0] == '-' && a[1] == '-' && a[2])
        {
          const char *name = a + 2, *eq = strchr (name, '=');
          size_t n = eq ? (size_t)(eq - name) : strlen (name);
          o = find_flag (name, n, 0);
          if (o == NULL)
            return dk_make_error_code (err, DK_ECODE_INVALID, 0, "unknown flag: --%.*s", (int)n,
                                       name);
          if (eq)
            val = eq + 1;
        }
      else if (a[0] == '-' && a[1] && a[1] != '-')
        {
          o = find_flag (NULL, 0, a[1]);
          if (o == NULL)
            return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                       "unknown shorthand flag: '%c' in %s", a[1], a);
          if (a[2])
            val = a[2] == '=' ? a + 3 : a + 2;
        }
      else
        return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                   "dockerd does not take positional arguments: %s", a);
      if (val == NULL)
        {
          if (o->kind == K_BOOL)
            val = "true";
          else if (i + 1 < argc)
            val = argv[++i];
          else
            return dk_make_error_code (err, DK_ECODE_INVALID, 0, "flag needs an argument: --%s",
                                       o->flag);
        }
      if (o->flags & F_NOFILE)
        {
          free (cfg->config_file);
          cfg->config_file = xstrdup (val);
          cfg->config_file_given = true;
          continue;
        }
      if (set_flag (cfg, o, val, err) < 0)
        return -1;
    }
  if (cfg->config_file == NULL)
    cfg->config_file = xstrdup ("/etc/docker/daemon.json");
  return 0;
}

/* Kind check of one file value against the table. */
static int
check_file_value (const struct opt *o, jv v, dk_err_t *err)
{
  jv_kind k = jv_get_kind (v);
  bool ok = false;
  switch (o->kind)
    {
    case K_BOOL:
      ok = k == JV_KIND_TRUE || k == JV_KIND_FALSE;
      break;
    case K_STR:
      ok = k == JV_KIND_STRING;
      break;
    case K_INT:
      ok = k == JV_KIND_NUMBER;
      break;
    case K_LIST:
      ok = k == JV_KIND_ARRAY;
      if (ok)
        jv_array_foreach (v, i, e)
        {
          if (jv_get_kind (e) != JV_KIND_STRING)
            ok = false;
          jv_free (e);
        }
      break;
    case K_OPTMAP:
    case K_ULIMIT:
    case K_RUNTIME:
    case K_FILEOBJ:
      ok = k == JV_KIND_OBJECT;
      break;
    }
  if (!ok)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "invalid type for configuration key \"%s\"", o->key);
  return 0;
}

static char *
short_dump (jv v)
{
  return dk_json_dump (v);
}

/* Reads and validates the file into *file. */
static int
read_file (struct dk_config *cfg, jv *file, dk_err_t *err)
{
  cleanup_free char *data = NULL;
  size_t len = 0;
  *file = jv_object ();
  if (dk_read_file (cfg->config_file, &data, &len, err) < 0)
    {
      if ((*err)->status == ENOENT && !cfg->config_file_given)
        {
          dk_error_release (err);
          return 0;
        }
      return -1;
    }
  jv v;
  if (len == 0)
    return 0;
  if (dk_json_parse (data, len, &v, err) < 0)
    return -1;
  if (jv_get_kind (v) != JV_KIND_OBJECT)
    {
      jv_free (v);
      return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                 "the configuration is not a JSON object");
    }
  cleanup_buf struct dk_buf unknown = DK_BUF_INIT;
  jv_object_foreach (v, k, val)
  {
    const struct opt *o = find_key (jv_string_value (k));
    if (o == NULL || (o->flags & F_NOFILE))
      dk_buf_printf (&unknown, "%s%s", unknown.len ? ", " : "", jv_string_value (k));
    else if (!*err)
      check_file_value (o, val, err);
    jv_free (k);
    jv_free (val);
  }
  if (*err)
    {
      jv_free (v);
      return -1;
    }
  if (unknown.len)
    {
      jv_free (v);
      return dk_make_error_code (
          err, DK_ECODE_INVALID, 0,
          "the following directives don't match any configuration option: %s", unknown.data);
    }
  jv_free (*file);
  *file = v;
  return 0;
}

/* Flags win nowhere: a key in both is a conflict (Docker's rule). */
static int
merge (struct dk_config *cfg, jv file, jv *merged, dk_err_t *err)
{
  cleanup_buf struct dk_buf conflicts = DK_BUF_INIT;
  jv_object_foreach (cfg->flags, k, fv)
  {
    jv filev = dk_json_get (file, jv_string_value (k));
    if (jv_is_valid (filev))
      {
        cleanup_free char *a = short_dump (jv_copy (fv));
        cleanup_free char *b = short_dump (jv_copy (filev));
        dk_buf_printf (&conflicts, "%s%s: (from flag: %s, from file: %s)",
                       conflicts.len ? ", " : "", jv_string_value (k), a, b);
      }
    jv_free (filev);
    jv_free (k);
    jv_free (fv);
  }
  if (conflicts.len)
    return dk_make_error_code (
        err, DK_ECODE_INVALID, 0,
        "the following directives are specified both as a flag and in the configuration file: %s",
        conflicts.data);
  jv m = jv_copy (file);
  jv_object_foreach (cfg->flags, k, fv) m = jv_object_set (m, k, fv);
  /* graph is the old name of data-root */
  jv g = dk_json_get (m, "graph");
  if (jv_is_valid (g))
    {
      jv dr = dk_json_get (m, "data-root");
      if (jv_is_valid (dr))
        {
          jv_free (dr);
          jv_free (g);
          jv_free (m);
          return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                     "cannot specify both \"graph\" and \"data-root\" config file "
                                     "options");
        }
      m = jv_object_set (m, jv_string ("data-root"), g);
    }
  else
    jv_free (g);
  /* options parsed but not implemented yet are refused, never ignored */
  for (size_t i = 0; i < NOPTS; i++)
    {
      if (!(opts[i].flags & F_UNSUP))
        continue;
      jv v = dk_json_get (m, opts[i].key);
      jv_kind k = jv_get_kind (v);
      bool set = (k == JV_KIND_TRUE)
                 || (k == JV_KIND_STRING && jv_string_length_bytes (jv_copy (v)) > 0)
                 || (k == JV_KIND_ARRAY && jv_array_length (jv_copy (v)) > 0)
                 || (k == JV_KIND_OBJECT && jv_object_length (jv_copy (v)) > 0);
      jv_free (v);
      if (set)
        {
          jv_free (m);
          return dk_make_error_code (err, DK_ECODE_INVALID, 0, "--%s is not supported yet",
                                     opts[i].flag);
        }
    }
  *merged = m;
  return 0;
}

int
config_load_file (struct dk_config *cfg, dk_err_t *err)
{
  jv file, merged;
  if (read_file (cfg, &file, err) < 0 || merge (cfg, file, &merged, err) < 0)
    {
      jv_free (file);
      return dk_error_wrap (err, "unable to configure the Docker daemon with file %s",
                            cfg->config_file);
    }
  jv_free (cfg->file);
  cfg->file = file;
  jv_free (cfg->merged);
  cfg->merged = merged;
  return 0;
}

int
config_reload (struct dk_config *cfg, jv *changed, dk_err_t *err)
{
  jv file, merged;
  file = jv_invalid ();
  if (read_file (cfg, &file, err) < 0 || merge (cfg, file, &merged, err) < 0)
    {
      jv_free (file);
      return dk_error_wrap (err, "unable to configure the Docker daemon with file %s",
                            cfg->config_file);
    }
  *changed = jv_array ();
  for (size_t i = 0; i < NOPTS; i++)
    {
      if (!(opts[i].flags & F_RELOAD))
        continue;
      jv a = dk_json_get (cfg->merged, opts[i].key), b = dk_json_get (merged, opts[i].key);
      if (!jv_equal (jv_copy (a), jv_copy (b)))
        {
          *changed = jv_array_append (*changed, jv_string (opts[i].key));
          if (jv_is_valid (b))
            cfg->merged = jv_object_set (cfg->merged, jv_string (opts[i].key), jv_copy (b));
          else
            cfg->merged = jv_object_delete (cfg->merged, jv_string (opts[i].key));
        }
      jv_free (a);
      jv_free (b);
    }
  jv_free (merged);
  jv_free (cfg->file);
  cfg->file = file;
  return 0;
}

void
config_free (struct dk_config *cfg)
{
  jv_free (cfg->flags);
  jv_free (cfg->file);
  jv_free (cfg->merged);
  free (cfg->config_file);
}

jv
cfg_get (const char *key)
{
  jv v = dk_json_get (the_cfg->merged, key);
  return jv_is_valid (v) ? v : jv_null ();
}

const char *
cfg_str (const char *key)
{
  const char *s = dk_json_str (the_cfg->merged, key);
  if (s)
    return s;
  const struct opt *o = find_key (key);
  return o ? o->def : NULL;
}

bool
cfg_bool (const char *key)
{
  bool b;
  if (dk_json_bool (the_cfg->merged, key, &b))
    return b;
  const struct opt *o = find_key (key);
  return o && o->def && !strcmp (o->def, "true");
}

int64_t
cfg_int (const char *key)
{
  int64_t n;
  if (dk_json_int (the_cfg->merged, key, &n))
    return n;
  const struct opt *o = find_key (key);
  return o && o->def ? strtoll (o->def, NULL, 10) : 0;
}

jv
cfg_list (const char *key)
{
  jv v = dk_json_get_kind (the_cfg->merged, key, JV_KIND_ARRAY);
  return jv_is_valid (v) ? v : (jv_free (v), jv_array ());
}
