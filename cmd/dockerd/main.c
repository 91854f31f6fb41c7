/* dockerd: serves the Docker Engine API and does the work through the dk-*
   tools.  main: options, pidfile, roots, listeners, then the loop. */
#include "dockerd.h"
#include "atomicfile.h"
#include "cleanup.h"
#include "container.h"
#include "log.h"
#include "spawn.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/statfs.h>
#include <linux/close_range.h>
#include <unistd.h>

struct daemon D;

static uv_signal_t sig_int, sig_term, sig_hup;

static int
pidfile_take (const char *path, dk_err_t *err)
{
  cleanup_free char *old = NULL;
  cleanup_error dk_err_t e2 = NULL;
  if (dk_read_file (path, &old, NULL, &e2) == 0)
    {
      long pid = strtol (old, NULL, 10);
      cleanup_free char *proc = xasprintf ("/proc/%ld", pid);
      if (pid > 0 && pid != getpid () && access (proc, F_OK) == 0)
        return dk_make_error (err, 0, "pid file found, ensure docker is not running or delete %s",
                              path);
    }
  cleanup_free char *dir = xstrdup (path);
  char *slash = strrchr (dir, '/');
  if (slash && slash != dir)
    {
      *slash = 0;
      if (dk_mkdir_p (dir, 0755, err) < 0)
        return -1;
    }
  cleanup_free char *s = xasprintf ("%d", getpid ());
  return dk_atomic_write (path, s, strlen (s), 0644, err);
}

static const char *
pick_driver (void)
{
  const char *d = cfg_str ("storage-driver");
  if (d && *d)
    return d;
  struct statfs sf;
  cleanup_free char *fs = NULL;
  cleanup_error dk_err_t err = NULL;
  bool overlay
      = dk_read_file ("/proc/filesystems", &fs, NULL, &err) == 0 && strstr (fs, "\toverlay\n");
  /* overlay cannot stack on overlayfs */
  if (overlay && statfs (D.data_root, &sf) == 0 && sf.f_type == 0x794c7630)
    overlay = false;
  return overlay ? "overlay2" : "vfs";
}

/* --storage-opt: Docker's keys for our two drivers.  Quotas (size) and
   extra mount options are not implemented: refused, not ignored. */
static int
storage_opts_check (const char *driver, dk_err_t *err)
{
  cleanup_jv jv opts = cfg_list ("storage-opts");
  int rc = 0;
  jv_array_foreach (opts, i, o)
  {
    const char *s = jv_string_value (o), *eq = strchr (s, '=');
    cleanup_free char *key = eq ? xstrndup (s, eq - s) : xstrdup (s);
    for (char *p = key; *p; p++)
      *p = (char)tolower ((unsigned char)*p);
    if (rc < 0)
      ;
    else if (eq == NULL)
      rc = dk_make_error (err, 0, "unable to parse key/value option: %s", s);
    else if (!strcmp (driver, "overlay2") && !strcmp (key, "overlay2.override_kernel_check"))
      ; /* no kernel version check to override */
    else if (!strcmp (key, "overlay2.size") || !strcmp (key, "overlay2.mountopt")
             || !strcmp (key, "vfs.size"))
      rc = dk_make_error (err, 0, "storage option %s is not supported yet", key);
    else
      rc = dk_make_error (err, 0, "%s: unknown option %s", driver, key);
    jv_free (o);
  }
  return rc < 0 ? dk_error_wrap (err, "error initializing graphdriver") : 0;
}

/* Without --live-restore containers do not outlive the daemon: each shim
   is told to kill its container (blocking: we are leaving). */
static void
kill_containers (void)
{
  for (struct container *c = containers; c; c = c->next)
    {
      if (c->state != C_RUNNING && c->state != C_PAUSED)
        continue;
      cleanup_free char *edir = container_exec_dir (c);
      cleanup_close int dfd = open (edir, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0)
        continue;
      struct sockaddr_un sa = { .sun_family = AF_UNIX };
      snprintf (sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/shim.sock", dfd);
      cleanup_close int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0 || connect (fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        continue;
      static const char req[] = "{\"op\":\"kill\",\"signal\":9,\"all\":true}\n";
      if (write (fd, req, sizeof req - 1) < 0)
        continue;
      char buf[256];
      struct timeval tv = { .tv_sec = 2 };
      setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      if (read (fd, buf, sizeof buf) < 0)
        continue;
    }
}

/* The default bridge, before any container needs it; a failure stops the
   daemon from starting, as Docker's. */
static int
network_init (dk_err_t *err)
{
  const char *bridge = cfg_str ("bridge");
  if (bridge && !strcmp (bridge, "none"))
    return 0;
  const char *bip = cfg_str ("bip");
  if (bridge && *bridge && bip && *bip)
    return dk_make_error (err, 0,
                          "You specified -b & --bip, mutually exclusive options. Please specify "
                          "only one");
  /* every string of argv is malloc'd: one owner, freed as a whole */
  cleanup_strv char **argv = xzalloc (48 * sizeof *argv);
  int n = 0;
  argv[n++] = tool_path ("dk-netsetup");
  argv[n++] = xstrdup ("--state-dir");
  argv[n++] = xasprintf ("%s/network", D.data_root);
  argv[n++] = xstrdup ("--exec-root");
  argv[n++] = xstrdup (D.exec_root);
  argv[n++] = xstrdup ("init");
  static const char *const strs[]
      = { "bridge", "bip", "fixed-cidr", "fixed-cidr-v6", "default-gateway", "default-gateway-v6",
          "ip" };
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
    {
      const char *v = cfg_str (strs[i]);
      jv set = cfg_get (strs[i]);
      bool given = jv_get_kind (set) == JV_KIND_STRING;
      jv_free (set);
      if (v && *v && given)
        {
          argv[n++] = xasprintf ("--%s", strs[i]);
          argv[n++] = xstrdup (v);
        }
    }
  static const char *const bools[]
      = { "icc", "ip-forward", "ip-masq", "iptables", "ip6tables", "ipv6", "userland-proxy" };
  for (size_t i = 0; i < sizeof bools / sizeof *bools; i++)
    {
      argv[n++] = xasprintf ("--%s", bools[i]);
      argv[n++] = xstrdup (cfg_bool (bools[i]) ? "true" : "false");
    }
  if (cfg_int ("mtu") > 0)
    {
      argv[n++] = xstrdup ("--mtu");
      argv[n++] = xasprintf ("%lld", (long long)cfg_int ("mtu"));
    }
  jv result;
  int r = dk_run_tool (argv, -1, NULL, NULL, &result, err);
  if (r == 0)
    {
      cleanup_free char *s = dk_json_dump (result);
      dk_info ("default bridge network: %s", s);
    }
  return r < 0 ? dk_error_wrap (err, "Error initializing network controller") : 0;
}

static void
on_stop_signal (uv_signal_t *s, int signum)
{
  dk_info ("received signal %d, shutting down", signum);
  if (!cfg_bool ("live-restore"))
    kill_containers ();
  D.shutting_down = true;
  server_close ();
  uv_stop (D.loop);
}

static void
on_hup (uv_signal_t *s, int signum)
{
  cleanup_error dk_err_t err = NULL;
  jv changed;
  if (config_reload (&D.cfg, &changed, &err) < 0)
    {
      dk_errorf ("error reloading configuration: %s", err->msg);
      return;
    }
  cleanup_free char *list = dk_json_dump (jv_copy (changed));
  dk_log_set_level (cfg_bool ("debug")
                        ? DK_LOG_DEBUG
                        : (enum dk_log_level)dk_log_parse_level (cfg_str ("log-level")));
  dk_info ("reloaded configuration from %s: changed %s", D.cfg.config_file, list);
  jv attrs = jv_object ();
  jv_array_foreach (changed, i, k)
  {
    jv v = cfg_get (jv_string_value (k));
    cleanup_free char *dumped = dk_json_dump (v);
    attrs = jv_object_set (attrs, k, jv_string (dumped));
  }
  jv_free (changed);
  events_emit ("daemon", "reload", D.id, attrs);
}

static int
setup (int argc, char **argv, dk_err_t *err)
{
  int r = config_parse_args (&D.cfg, argc, argv, err);
  if (r != 0)
    return r;
  if (config_load_file (&D.cfg, err) < 0)
    return -1;
  const char *lvl = cfg_str ("log-level");
  int level = dk_log_parse_level (lvl);
  if (level < 0)
    return dk_make_error (err, 0, "unable to parse logging level: %s", lvl);
  dk_log_init ("dockerd", cfg_bool ("debug") ? DK_LOG_DEBUG : (enum dk_log_level)level);
  if ((cfg_bool ("tls") || cfg_bool ("tlsverify")) && tls_init (err) < 0)
    return -1;
  const char *ld = cfg_str ("log-driver");
  if (strcmp (ld, "json-file") && strcmp (ld, "none") && strcmp (ld, "local"))
    return dk_make_error (err, 0, "logging driver not supported: %s", ld);
  const char *sd = cfg_str ("storage-driver");
  if (sd && *sd && strcmp (sd, "overlay2") && strcmp (sd, "vfs"))
    return dk_make_error (err, 0, "error initializing graphdriver: driver not supported: %s", sd);
  jv execopts = cfg_list ("exec-opts");
  int bad = 0;
  jv_array_foreach (execopts, i, o)
  {
    const char *s = jv_string_value (o);
    if (strcmp (s, "native.cgroupdriver=cgroupfs") && strcmp (s, "native.cgroupdriver=systemd"))
      bad = bad ? bad : dk_make_error (err, 0, "unknown exec-opt: %s", s);
    jv_free (o);
  }
  jv_free (execopts);
  if (bad)
    return -1;

  char exe[4096];
  ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0)
    {
      exe[n] = 0;
      char *slash = strrchr (exe, '/');
      if (slash)
        *slash = 0;
      D.bin_dir = xstrdup (exe);
    }
  D.data_root = realpath (cfg_str ("data-root"), NULL);
  if (D.data_root == NULL)
    {
      if (dk_mkdir_p (cfg_str ("data-root"), 0710, err) < 0)
        return -1;
      D.data_root = realpath (cfg_str ("data-root"), NULL);
    }
  if (dk_mkdir_p (cfg_str ("exec-root"), 0700, err) < 0)
    return -1;
  D.exec_root = realpath (cfg_str ("exec-root"), NULL);
  D.driver = xstrdup (pick_driver ());
  if (storage_opts_check (D.driver, err) < 0)
    return -1;
  const char *sub[] = { "containers", "tmp", "volumes", "network" };
  for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++)
    {
      cleanup_free char *p = xasprintf ("%s/%s", D.data_root, sub[i]);
      if (dk_mkdir_p (p, 0710, err) < 0)
        return -1;
    }
  /* DOCKER_TMPDIR (default DATA-ROOT/tmp) is the TMPDIR of the tools */
  const char *tmpdir = getenv ("DOCKER_TMPDIR");
  cleanup_free char *deftmp = xasprintf ("%s/tmp", D.data_root);
  if (tmpdir && *tmpdir && dk_mkdir_p (tmpdir, 0700, err) < 0)
    return dk_error_wrap (err, "DOCKER_TMPDIR");
  setenv ("TMPDIR", tmpdir && *tmpdir ? tmpdir : deftmp, 1);
  /* the engine ID survives restarts */
  cleanup_free char *idpath = xasprintf ("%s/engine-id", D.data_root);
  cleanup_error dk_err_t e2 = NULL;
  if (dk_read_file (idpath, &D.id, NULL, &e2) < 0 || strlen (D.id) < 8)
    {
      free (D.id);
      cleanup_free char *h = rand_hex (16);
      D.id = xasprintf ("%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
      dk_atomic_write (idpath, D.id, strlen (D.id), 0600, err);
      dk_error_release (err);
    }
  D.id[strcspn (D.id, "\n")] = 0;
  if (pidfile_take (cfg_str ("pidfile"), err) < 0)
    return -1;
  D.started = time (NULL);
  D.loop = uv_default_loop ();
  r = network_init (err);
  if (r == 0)
    {
      containers_restore ();
      jv hosts = cfg_get ("hosts");
      r = server_listen (D.loop, hosts, err);
      jv_free (hosts);
    }
  if (r < 0)
    {
      unlink (cfg_str ("pidfile"));
      return -1;
    }
  return 0;
}

int
main (int argc, char **argv)
{
  cleanup_error dk_err_t err = NULL;
  signal (SIGPIPE, SIG_IGN);
  /* fds we were started with (a test runner's, systemd's activated
     sockets) are ours to use, never the tools' to inherit */
  close_range (3, ~0U, CLOSE_RANGE_CLOEXEC);
  dk_log_init ("dockerd", DK_LOG_INFO);
  int r = setup (argc, argv, &err);
  if (r == 1)
    return 0;
  if (r < 0)
    {
      fprintf (stderr, "dockerd: %s\n", err->msg);
      return strcmp (err->code, DK_ECODE_INVALID) == 0 ? 2 : 1;
    }
  uv_signal_init (D.loop, &sig_int);
  uv_signal_start (&sig_int, on_stop_signal, SIGINT);
  uv_signal_init (D.loop, &sig_term);
  uv_signal_start (&sig_term, on_stop_signal, SIGTERM);
  uv_signal_init (D.loop, &sig_hup);
  uv_signal_start (&sig_hup, on_hup, SIGHUP);
  dk_info ("daemon %s started: data-root %s, exec-root %s, storage driver %s", SERVER_VERSION,
           D.data_root, D.exec_root, D.driver);
  uv_run (D.loop, UV_RUN_DEFAULT);
  unlink (cfg_str ("pidfile"));
  dk_info ("daemon shut down");
  return 0;
}
