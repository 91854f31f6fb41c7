/* System endpoints: /_ping, /version, /info, /system/df, /auth. */
#include "dockerd.h"
#include "cleanup.h"
#include "container.h"
#include "goarch.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

void
h_ping (struct http_req *req)
{
  static const char extra[]
      = "Builder-Version: 1\r\nSwarm: inactive\r\n"
        "Cache-Control: no-cache, no-store, must-revalidate\r\nPragma: no-cache\r\n";
  if (req->method == HTTP_HEAD)
    {
      /* HEAD: headers only, Content-Length 0 as moby sends */
      http_respond_ex (req, 200, "text/plain; charset=utf-8", extra, "", 0);
      return;
    }
  http_respond_ex (req, 200, "text/plain; charset=utf-8", extra, "OK", 2);
}

void
h_version (struct http_req *req)
{
  jv details = jv_object ();
  details = jv_object_set (details, jv_string ("ApiVersion"), jv_string (API_VERSION_MAX));
  details = jv_object_set (details, jv_string ("Arch"), jv_string (dk_go_arch ()));
  details = jv_object_set (details, jv_string ("BuildTime"), jv_string (__DATE__ " " __TIME__));
  details = jv_object_set (details, jv_string ("Experimental"),
                           jv_string (cfg_bool ("experimental") ? "true" : "false"));
  details = jv_object_set (details, jv_string ("GitCommit"), jv_string ("dk"));
  details = jv_object_set (details, jv_string ("GoVersion"), jv_string ("n/a (C)"));
  details = jv_object_set (details, jv_string ("KernelVersion"), jv_string (dk_uname ()->release));
  details = jv_object_set (details, jv_string ("MinAPIVersion"), jv_string (API_VERSION_MIN));
  details = jv_object_set (details, jv_string ("Os"), jv_string ("linux"));
  jv comp = jv_object ();
  comp = jv_object_set (comp, jv_string ("Name"), jv_string ("Engine"));
  comp = jv_object_set (comp, jv_string ("Version"), jv_string (SERVER_VERSION));
  comp = jv_object_set (comp, jv_string ("Details"), details);
  jv v = jv_object ();
  v = jv_object_set (v, jv_string ("Platform"),
                     jv_object_set (jv_object (), jv_string ("Name"), jv_string ("dk Engine")));
  v = jv_object_set (v, jv_string ("Components"), jv_array_append (jv_array (), comp));
  v = jv_object_set (v, jv_string ("Version"), jv_string (SERVER_VERSION));
  v = jv_object_set (v, jv_string ("ApiVersion"), jv_string (API_VERSION_MAX));
  v = jv_object_set (v, jv_string ("MinAPIVersion"), jv_string (API_VERSION_MIN));
  v = jv_object_set (v, jv_string ("GitCommit"), jv_string ("dk"));
  v = jv_object_set (v, jv_string ("GoVersion"), jv_string ("n/a (C)"));
  v = jv_object_set (v, jv_string ("Os"), jv_string ("linux"));
  v = jv_object_set (v, jv_string ("Arch"), jv_string (dk_go_arch ()));
  v = jv_object_set (v, jv_string ("KernelVersion"), jv_string (dk_uname ()->release));
  v = jv_object_set (v, jv_string ("BuildTime"), jv_string (__DATE__ " " __TIME__));
  if (cfg_bool ("experimental"))
    v = jv_object_set (v, jv_string ("Experimental"), jv_true ());
  http_respond_json (req, 200, v);
}

static jv
strlist (const char *key)
{
  jv v = cfg_get (key);
  return jv_get_kind (v) == JV_KIND_ARRAY ? v : (jv_free (v), jv_array ());
}

static char *
os_name (void)
{
  cleanup_free char *data = NULL;
  cleanup_error dk_err_t err = NULL;
  if (dk_read_file ("/etc/os-release", &data, NULL, &err) == 0)
    {
      char *p = strstr (data, "PRETTY_NAME=");
      if (p)
        {
          p += 12;
          if (*p == '"')
            p++;
          size_t n = strcspn (p, "\"\n");
          return xstrndup (p, n);
        }
    }
  return xstrdup ("Linux");
}

static jv
runtimes_json (void)
{
  jv r = jv_object ();
  cleanup_free char *dkrun = tool_path ("dk-run");
  r = jv_object_set (r, jv_string ("runc"),
                     jv_object_set (jv_object (), jv_string ("path"), jv_string (dkrun)));
  jv conf = cfg_get ("runtimes");
  if (jv_get_kind (conf) == JV_KIND_OBJECT)
    {
      jv_object_foreach (conf, k, v)
      {
        r = jv_object_set (r, k, v);
      }
    }
  jv_free (conf);
  return r;
}

static int
cgroup_version (void)
{
  struct statfs sf;
  if (statfs ("/sys/fs/cgroup", &sf) == 0 && sf.f_type == 0x63677270 /* CGROUP2_SUPER_MAGIC */)
    return 2;
  return 1;
}

struct info_ctx
{
  struct http_req *req;
  int64_t images;
};

static void
info_send (struct http_req *req, int64_t images)
{
  cleanup_free char *hostname = xmalloc (256);
  if (gethostname (hostname, 256) < 0)
    strcpy (hostname, "localhost");
  struct sysinfo si;
  sysinfo (&si);
  cleanup_free char *now = now_rfc3339 ();
  cleanup_free char *os = os_name ();
  int64_t ncont, nrun, npause, nstop;
  container_counts (&ncont, &nrun, &npause, &nstop);
  const char *cgdriver = "cgroupfs";
  jv execopts = strlist ("exec-opts");
  jv_array_foreach (execopts, i, o)
  {
    if (!strcmp (jv_string_value (o), "native.cgroupdriver=systemd"))
      cgdriver = "systemd";
    jv_free (o);
  }
  jv_free (execopts);

  jv v = jv_object ();
#define SET(k, val) v = jv_object_set (v, jv_string (k), (val))
  SET ("ID", jv_string (D.id));
  SET ("Containers", dk_json_int64 (ncont));
  SET ("ContainersRunning", dk_json_int64 (nrun));
  SET ("ContainersPaused", dk_json_int64 (npause));
  SET ("ContainersStopped", dk_json_int64 (nstop));
  SET ("Images", dk_json_int64 (images));
  SET ("Driver", jv_string (D.driver));
  jv ds = jv_array ();
  cleanup_free char *fs = NULL;
  ds = jv_array_append (
      ds, jv_array_append (jv_array_append (jv_array (), jv_string ("Backing Filesystem")),
                           jv_string ("extfs")));
  if (!strcmp (D.driver, "overlay2"))
    {
      ds = jv_array_append (
          ds, jv_array_append (jv_array_append (jv_array (), jv_string ("Supports d_type")),
                               jv_string ("true")));
      ds = jv_array_append (
          ds, jv_array_append (jv_array_append (jv_array (), jv_string ("Using metacopy")),
                               jv_string ("false")));
      ds = jv_array_append (
          ds, jv_array_append (jv_array_append (jv_array (), jv_string ("Native Overlay Diff")),
                               jv_string ("true")));
      ds = jv_array_append (ds,
                            jv_array_append (jv_array_append (jv_array (), jv_string ("userxattr")),
                                             jv_string ("false")));
    }
  SET ("DriverStatus", ds);
  SET ("DockerRootDir", jv_string (D.data_root));
  jv plugins = jv_object ();
  plugins = jv_object_set (plugins, jv_string ("Volume"),
                           jv_array_append (jv_array (), jv_string ("local")));
  plugins = jv_object_set (
      plugins, jv_string ("Network"),
      jv_array_append (
          jv_array_append (jv_array_append (jv_array (), jv_string ("bridge")), jv_string ("host")),
          jv_string ("null")));
  plugins = jv_object_set (plugins, jv_string ("Authorization"), jv_null ());
  plugins = jv_object_set (
      plugins, jv_string ("Log"),
      jv_array_append (jv_array_append (jv_array (), jv_string ("json-file")), jv_string ("none")));
  SET ("Plugins", plugins);
  bool v2 = cgroup_version () == 2;
  SET ("MemoryLimit", jv_true ());
  SET ("SwapLimit", jv_bool (v2));
  SET ("KernelMemoryTCP", jv_false ());
  SET ("CpuCfsPeriod", jv_true ());
  SET ("CpuCfsQuota", jv_true ());
  SET ("CPUShares", jv_true ());
  SET ("CPUSet", jv_true ());
  SET ("PidsLimit", jv_true ());
  SET ("OomKillDisable", jv_bool (!v2));
  SET ("IPv4Forwarding", jv_true ());
  SET ("BridgeNfIptables", jv_false ());
  SET ("BridgeNfIp6tables", jv_false ());
  SET ("Debug", jv_bool (cfg_bool ("debug")));
  SET ("NFd", dk_json_int64 (dir_count ("/proc/self/fd")));
  SET ("NGoroutines", dk_json_int64 (1));
  SET ("SystemTime", jv_string (now));
  SET ("LoggingDriver", jv_string (cfg_str ("log-driver")));
  SET ("CgroupDriver", jv_string (cgdriver));
  SET ("CgroupVersion", jv_string (v2 ? "2" : "1"));
  SET ("NEventsListener", dk_json_int64 (events_listeners ()));
  SET ("KernelVersion", jv_string (dk_uname ()->release));
  SET ("OperatingSystem", jv_string (os));
  SET ("OSVersion", jv_string (""));
  SET ("OSType", jv_string ("linux"));
  SET ("Architecture", jv_string (dk_uname ()->machine)); /* moby: uname's, x86_64 */
  SET ("NCPU", dk_json_int64 (sysconf (_SC_NPROCESSORS_ONLN)));
  SET ("MemTotal", dk_json_int64 ((int64_t)si.totalram * si.mem_unit));
  SET ("IndexServerAddress", jv_string ("https://index.docker.io/v1/"));
  jv reg = jv_object ();
  jv insecure = strlist ("insecure-registries");
  jv cidrs = jv_array_append (jv_array (), jv_string ("127.0.0.0/8"));
  jv idx = jv_object ();
  jv_array_foreach (insecure, i, s)
  {
    if (strchr (jv_string_value (s), '/'))
      cidrs = jv_array_append (cidrs, s);
    else
      {
        jv e = jv_object ();
        e = jv_object_set (e, jv_string ("Name"), jv_copy (s));
        e = jv_object_set (e, jv_string ("Mirrors"), jv_array ());
        e = jv_object_set (e, jv_string ("Secure"), jv_false ());
        e = jv_object_set (e, jv_string ("Official"), jv_false ());
        idx = jv_object_set (idx, s, e);
      }
  }
  jv_free (insecure);
  jv mirrors = strlist ("registry-mirrors");
  jv dio = jv_object ();
  dio = jv_object_set (dio, jv_string ("Name"), jv_string ("docker.io"));
  dio = jv_object_set (dio, jv_string ("Mirrors"), jv_copy (mirrors));
  dio = jv_object_set (dio, jv_string ("Secure"), jv_true ());
  dio = jv_object_set (dio, jv_string ("Official"), jv_true ());
  idx = jv_object_set (idx, jv_string ("docker.io"), dio);
  reg = jv_object_set (reg, jv_string ("AllowNondistributableArtifactsCIDRs"), jv_null ());
  reg = jv_object_set (reg, jv_string ("AllowNondistributableArtifactsHostnames"), jv_null ());
  reg = jv_object_set (reg, jv_string ("InsecureRegistryCIDRs"), cidrs);
  reg = jv_object_set (reg, jv_string ("IndexConfigs"), idx);
  reg = jv_object_set (reg, jv_string ("Mirrors"), mirrors);
  SET ("RegistryConfig", reg);
  SET ("GenericResources", jv_null ());
  const char *hp = getenv ("HTTP_PROXY"), *hsp = getenv ("HTTPS_PROXY"), *np = getenv ("NO_PROXY");
  SET ("HttpProxy", jv_string (hp ? hp : ""));
  SET ("HttpsProxy", jv_string (hsp ? hsp : ""));
  SET ("NoProxy", jv_string (np ? np : ""));
  SET ("Name", jv_string (hostname));
  SET ("Labels", strlist ("labels"));
  SET ("ExperimentalBuild", jv_bool (cfg_bool ("experimental")));
  SET ("ServerVersion", jv_string (SERVER_VERSION));
  SET ("Runtimes", runtimes_json ());
  SET ("DefaultRuntime", jv_string (cfg_str ("default-runtime")));
  jv swarm = jv_object ();
  swarm = jv_object_set (swarm, jv_string ("NodeID"), jv_string (""));
  swarm = jv_object_set (swarm, jv_string ("NodeAddr"), jv_string (""));
  swarm = jv_object_set (swarm, jv_string ("LocalNodeState"), jv_string ("inactive"));
  swarm = jv_object_set (swarm, jv_string ("ControlAvailable"), jv_false ());
  swarm = jv_object_set (swarm, jv_string ("Error"), jv_string (""));
  swarm = jv_object_set (swarm, jv_string ("RemoteManagers"), jv_null ());
  SET ("Swarm", swarm);
  SET ("LiveRestoreEnabled", jv_bool (cfg_bool ("live-restore")));
  SET ("Isolation", jv_string (""));
  SET ("InitBinary", jv_string ("docker-init"));
  jv commit = jv_object_set (jv_object (), jv_string ("ID"), jv_string ("dk"));
  SET ("ContainerdCommit", jv_copy (commit));
  SET ("RuncCommit", jv_copy (commit));
  SET ("InitCommit", commit);
  jv sec = jv_array ();
  sec = jv_array_append (sec, jv_string ("name=seccomp,profile=builtin"));
  if (v2)
    sec = jv_array_append (sec, jv_string ("name=cgroupns"));
  SET ("SecurityOptions", sec);
  SET ("ProductLicense", jv_string ("Community Engine"));
  jv warnings = jv_array ();
  if (!v2)
    warnings = jv_array_append (warnings, jv_string ("WARNING: cgroup v1 support is limited"));
  if (!cfg_bool ("iptables"))
    warnings = jv_array_append (warnings, jv_string ("WARNING: iptables is disabled"));
  SET ("Warnings", warnings);
#undef SET
  http_respond_json (req, 200, v);
}

static void
info_done (struct job *j, jv result, int status, void *ud)
{
  struct http_req *req = ud;
  jv images = dk_json_get_kind (result, "images", JV_KIND_ARRAY);
  int64_t n = jv_is_valid (images) ? jv_array_length (images) : 0;
  if (!jv_is_valid (images))
    jv_free (images);
  info_send (req, n);
}

static void
info_abort (struct http_req *req, void *data)
{
  struct job *j = data;
  job_detach (j);
  http_respond_empty (req, 500);
}

void
h_info (struct http_req *req)
{
  const char *tail[] = { "ls", NULL };
  struct job_opts o = { .on_done = info_done, .ud = req };
  cleanup_error dk_err_t err = NULL;
  struct job *j = job_start (graph_argv (tail), &o, &err);
  if (j == NULL)
    {
      info_send (req, 0);
      return;
    }
  req->on_abort = info_abort;
  req->abort_data = j;
}

/* /system/df: images from dk-graph du, then the containers with their
   sizes from dk-graph container-size; no volumes or build cache here. */
struct df_ctx
{
  jv v;
};

static void
df_send (struct http_req *req, jv list, void *ud)
{
  struct df_ctx *x = ud;
  jv v = jv_object_set (x->v, jv_string ("Containers"), list);
  free (x);
  http_respond_json (req, 200, v);
}

static void
df_done (struct job *j, jv result, int status, void *ud)
{
  struct http_req *req = ud;
  req->on_abort = NULL;
  jv v = jv_object ();
  int64_t lsize = 0;
  dk_json_int (result, "layers_size", &lsize);
  jv images = dk_json_get_kind (result, "images", JV_KIND_ARRAY);
  v = jv_object_set (v, jv_string ("LayersSize"), dk_json_int64 (lsize));
  v = jv_object_set (v, jv_string ("Images"),
                     jv_is_valid (images) ? images : (jv_free (images), jv_array ()));
  v = jv_object_set (v, jv_string ("Volumes"), jv_array ());
  v = jv_object_set (v, jv_string ("BuildCache"), jv_array ());
  jv list = jv_array ();
  for (struct container *c = containers; c; c = c->next)
    list = jv_array_append (list, container_summary (c));
  struct df_ctx *x = xzalloc (sizeof *x);
  x->v = v;
  containers_with_sizes (req, list, df_send, x);
}

void
h_system_df (struct http_req *req)
{
  const char *tail[] = { "du", NULL };
  struct job_opts o = { .on_done = df_done, .ud = req };
  cleanup_error dk_err_t err = NULL;
  struct job *j = job_start (graph_argv (tail), &o, &err);
  if (j == NULL)
    {
      http_error_err (req, err);
      return;
    }
  req->on_abort = info_abort;
  req->abort_data = j;
}

/* POST /auth: the credentials checked against the registry by dk-pull login */
static void
auth_done (struct job *j, jv result, int status, void *ud)
{
  struct http_req *req = ud;
  req->on_abort = NULL;
  const char *type = dk_json_str (result, "type");
  if (type && !strcmp (type, "error"))
    {
      const char *code = dk_json_str (result, "code"), *msg = dk_json_str (result, "message");
      http_error (req, http_status_for_code (code), "%s", msg ? msg : "login failed");
      return;
    }
  jv v = jv_object_set (jv_object (), jv_string ("Status"), jv_string ("Login Succeeded"));
  v = jv_object_set (v, jv_string ("IdentityToken"), jv_string (""));
  http_respond_json (req, 200, v);
}

void
h_auth (struct http_req *req)
{
  jv body;
  cleanup_error dk_err_t err = NULL;
  if (dk_json_parse (req->body.data ? req->body.data : "", req->body.len, &body, &err) < 0
      || jv_get_kind (body) != JV_KIND_OBJECT)
    {
      if (err == NULL)
        jv_free (body);
      http_error (req, 400, "invalid JSON body: %s", err ? err->msg : "not an object");
      return;
    }
  const char *server = dk_json_str (body, "serveraddress");
  cleanup_free char *srv = xstrdup (server && *server ? server : "https://index.docker.io/v1/");
  const char *argv[] = { "dk-pull", "login", srv, "--auth-file", "-", NULL };
  struct job_opts o = {
    .on_done = auth_done, .ud = req, .stdin_data = req->body.data, .stdin_len = req->body.len
  };
  jv_free (body);
  struct job *j = job_start (argv, &o, &err);
  if (j == NULL)
    {
      http_error_err (req, err);
      return;
    }
  req->on_abort = info_abort;
  req->abort_data = j;
}
