/* The OCI bundle of a container (config.json via lib/ocispec in
   exec-root/containers/<id>) and the dk-shim command line that runs it. */
#include "container.h"
#include "cleanup.h"
#include "scratchfile.h"
#include "log.h"
#include "ocispec.h"

#include <stdlib.h>
#include <string.h>

static const char *
cgroup_driver (void)
{
  const char *d = "cgroupfs";
  jv eo = cfg_list ("exec-opts");
  jv_array_foreach (eo, i, o)
  {
    if (!strcmp (jv_string_value (o), "native.cgroupdriver=systemd"))
      d = "systemd";
    jv_free (o);
  }
  jv_free (eo);
  return d;
}

int
bundle_write (struct container *c, const char *rootfs, const char *netns, dk_err_t *err)
{
  cleanup_jv jv create = container_create_body (c);
  cleanup_jv jv img = dk_json_get (c->doc, "ImageConfig");
  cleanup_free char *hostname = container_path (c, "hostname");
  cleanup_free char *hosts = container_path (c, "hosts");
  cleanup_free char *resolv = container_path (c, "resolv.conf");
  cleanup_free char *edir = container_exec_dir (c);
  cleanup_free char *seccomp = NULL;
  const char *sp = cfg_str ("seccomp-profile");
  if (sp && *sp && strcmp (sp, "unconfined") && dk_read_file (sp, &seccomp, NULL, err) < 0)
    return -1;
  cleanup_jv jv ulimits = jv_array ();
  jv du = cfg_get ("default-ulimits");
  if (jv_get_kind (du) == JV_KIND_OBJECT)
    {
      jv_object_foreach (du, k, v)
      {
        ulimits = jv_array_append (ulimits, v);
        jv_free (k);
      }
    }
  jv_free (du);
  struct dk_spec_input in = {
    .id = c->id,
    .create = create,
    .image_config = jv_get_kind (img) == JV_KIND_OBJECT ? img : jv_null (),
    .rootfs = rootfs,
    .netns_path = netns,
    .hostname_path = hostname,
    .hosts_path = hosts,
    .resolv_path = resolv,
    .volume_paths = jv_null (),
    .cgroup_parent = cfg_str ("cgroup-parent"),
    .cgroup_driver = cgroup_driver (),
    .default_ulimits = ulimits,
    .seccomp_profile = sp && !strcmp (sp, "unconfined") ? "unconfined" : seccomp,
  };
  jv spec;
  if (dk_ocispec_build (&in, &spec, err) < 0)
    return -1;
  cleanup_free char *cfgpath = xasprintf ("%s/config.json", edir);
  if (dk_mkdir_p (edir, 0700, err) < 0 || dk_scratch_write_json (cfgpath, spec, err) < 0)
    return -1;
  return 0;
}

/* The runtime's path and arguments: daemon.json "runtimes", --add-runtime,
   or "runc" meaning our dk-run. */
static char *
runtime_path (const char *name, jv *args)
{
  *args = jv_array ();
  jv rts = cfg_get ("runtimes");
  jv rt = dk_json_get_kind (rts, name, JV_KIND_OBJECT);
  jv_free (rts);
  if (jv_is_valid (rt))
    {
      const char *p = dk_json_str (rt, "path");
      char *path = xstrdup (p ? p : name);
      jv a = dk_json_get_kind (rt, "runtimeArgs", JV_KIND_ARRAY);
      if (jv_is_valid (a))
        {
          jv_free (*args);
          *args = a;
        }
      else
        jv_free (a);
      jv_free (rt);
      return path;
    }
  jv_free (rt);
  if (strcmp (name, "runc") != 0)
    return NULL;
  return tool_path ("dk-run");
}

/* The container's runtime: its name, path (malloc'd) and arguments. */
static char *
container_runtime (jv hc, const char **name, jv *args, dk_err_t *err)
{
  const char *rtname = dk_json_str (hc, "Runtime");
  if (rtname == NULL || *rtname == 0)
    rtname = cfg_str ("default-runtime");
  *name = rtname;
  char *path = runtime_path (rtname, args);
  if (path == NULL)
    dk_make_error_code (err, DK_ECODE_INVALID, 0, "unknown or invalid runtime name: %s", rtname);
  return path;
}

/* argv of `RUNTIME --root R [args] delete --force ID`, as the shim runs its
   runtime (strings malloc'd): what is left of a container whose shim died. */
char **
runtime_delete_argv (struct container *c, dk_err_t *err)
{
  cleanup_jv jv hc = container_hostconfig (c);
  const char *rtname;
  cleanup_jv jv rtargs = jv_invalid ();
  char *rtpath = container_runtime (hc, &rtname, &rtargs, err);
  if (rtpath == NULL)
    return NULL;
  char **argv = xzalloc (48 * sizeof *argv);
  int n = 0;
  argv[n++] = rtpath;
  argv[n++] = xstrdup ("--root");
  argv[n++] = xasprintf ("%s/runtime-%s", D.exec_root, rtname);
  jv_array_foreach (rtargs, i, a)
  {
    if (n < 40 && jv_get_kind (a) == JV_KIND_STRING)
      argv[n++] = xstrdup (jv_string_value (a));
    jv_free (a);
  }
  argv[n++] = xstrdup ("delete");
  argv[n++] = xstrdup ("--force");
  argv[n++] = xstrdup (c->id);
  argv[n] = NULL;
  return argv;
}

/* A NULL-terminated malloc'd argv (every string malloc'd too). */
char **
shim_argv (struct container *c, dk_err_t *err)
{
  cleanup_jv jv create = container_create_body (c);
  cleanup_jv jv hc = container_hostconfig (c);
  const char *rtname;
  cleanup_jv jv rtargs = jv_invalid ();
  cleanup_free char *rtpath = container_runtime (hc, &rtname, &rtargs, err);
  if (rtpath == NULL)
    return NULL;
  char **argv = xzalloc (64 * sizeof *argv);
  int n = 0;
#define A(s) argv[n++] = xstrdup (s)
  A ("dk-shim");
  A ("--id");
  A (c->id);
  A ("--bundle");
  argv[n++] = container_exec_dir (c);
  A ("--dir");
  argv[n++] = container_exec_dir (c);
  A ("--runtime");
  A (rtpath);
  A ("--runtime-root");
  argv[n++] = xasprintf ("%s/runtime-%s", D.exec_root, rtname);
  jv_array_foreach (rtargs, i, a)
  {
    if (n < 40 && jv_get_kind (a) == JV_KIND_STRING)
      {
        A ("--runtime-arg");
        A (jv_string_value (a));
      }
    jv_free (a);
  }
  cleanup_jv jv lc = log_config_of (hc);
  const char *ldriver = dk_json_str (lc, "Type");
  if (!strcmp (ldriver, "local"))
    ldriver = "json-file";
  A ("--log-path");
  argv[n++] = xasprintf ("%s/containers/%s/%s-json.log", D.data_root, c->id, c->id);
  A ("--log-driver");
  A (ldriver);
  cleanup_jv jv lopts = dk_json_get_kind (lc, "Config", JV_KIND_OBJECT);
  if (jv_get_kind (lopts) == JV_KIND_OBJECT)
    {
      jv_object_foreach (lopts, k, v)
      {
        const char *ks = jv_string_value (k);
        if (n < 56 && jv_get_kind (v) == JV_KIND_STRING
            && (!strcmp (ks, "max-size") || !strcmp (ks, "max-file")))
          {
            A ("--log-opt");
            argv[n++] = xasprintf ("%s=%s", ks, jv_string_value (v));
          }
        jv_free (k);
        jv_free (v);
      }
    }
  bool tty = false, open_stdin = false, stdin_once = false;
  dk_json_bool (create, "Tty", &tty);
  dk_json_bool (create, "OpenStdin", &open_stdin);
  dk_json_bool (create, "StdinOnce", &stdin_once);
  if (tty)
    A ("--terminal");
  if (open_stdin)
    A ("--stdin");
  if (stdin_once)
    A ("--stdin-once");
#undef A
  argv[n] = NULL;
  return argv;
}
