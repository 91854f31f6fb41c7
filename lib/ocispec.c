/* dk_ocispec_build: a Docker container (create body + image config +
   daemon settings) to an OCI runtime config.json, in the order Docker
   applies its spec options. */
#include "ocispec_internal.h"
#include "caps.h"
#include "cleanup.h"
#include "resolve.h"
#include "seccomp_profile.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OCI_VERSION "1.0.2"

static char *
container_hostname (struct dk_spec_ctx *c)
{
  const char *h = dk_json_str (c->create, "Hostname");
  if (h && *h)
    return xstrdup (h);
  if (strcmp (c->network_mode, "host") == 0
      || (c->in->netns_path && strcmp (c->in->netns_path, "host") == 0))
    {
      char buf[256] = "";
      if (gethostname (buf, sizeof buf - 1) == 0)
        return xstrdup (buf);
    }
  return xstrndup (c->in->id ? c->in->id : "", 12);
}

/* Docker creates the working directory in the container's filesystem
   (root-owned, 0755) before the start, so a WorkingDir that the image
   lacks does not fail the runtime's chdir. */
static int
setup_workdir (const char *rootfs, const char *cwd, dk_err_t *err)
{
  if (strcmp (cwd, "/") == 0)
    return 0;
  cleanup_close int root = open (rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return dk_make_error (err, errno, "open rootfs `%s`", rootfs);
  cleanup_free char *base = NULL;
  cleanup_close int parent = dk_open_parent_in_root (root, cwd, 0755, &base, err);
  if (parent < 0)
    return dk_error_wrap (err, "create working directory %s", cwd);
  if (*base && mkdirat (parent, base, 0755) < 0 && errno != EEXIST)
    return dk_make_error (err, errno, "create working directory %s", cwd);
  cleanup_close int dir = dk_open_in_root (root, cwd, O_PATH | O_DIRECTORY, 0, err);
  if (dir < 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "Cannot mkdir: %s is not a directory",
                               cwd);
  return 0;
}

static int
capabilities (struct dk_spec_ctx *c, jv *out, dk_err_t *err)
{
  cleanup_jv jv adds = dk_json_get (c->hc, "CapAdd"), drops = dk_json_get (c->hc, "CapDrop");
  jv caps = jv_invalid ();
  if (dk_caps_tweak (adds, drops, c->privileged, &caps, err) < 0)
    return -1;
  jv o = jv_object ();
  o = jv_object_set (o, jv_string ("bounding"), jv_copy (caps));
  o = jv_object_set (o, jv_string ("effective"), jv_copy (caps));
  o = jv_object_set (o, jv_string ("permitted"), caps);
  *out = o;
  return 0;
}

/* Seccomp as Docker decides it: none when unconfined; for --privileged
   only a profile asked for explicitly; else the container's, the
   daemon's, or the built-in default. */
static int
seccomp (struct dk_spec_ctx *c, struct dk_secopts *so, jv bounding, jv *out, dk_err_t *err)
{
  *out = jv_invalid ();
  const char *want = so->seccomp;
  const char *daemon = c->in->seccomp_profile;
  const char *profile = NULL;
  cleanup_free char *file = NULL;
  if (want && strcmp (want, "unconfined") == 0)
    return 0;
  if (c->privileged && !want)
    return 0;
  if (want && strcmp (want, "builtin") == 0)
    profile = dk_seccomp_default_profile ();
  else if (want && want[0] == '/')
    {
      /* A path instead of the profile's text (the docker CLI sends the
         text; curl users may name a file on the daemon's host). */
      cleanup_jv jv parsed = jv_invalid ();
      if (dk_json_read_file (want, &parsed, err) < 0)
        return dk_error_wrap (err, "opening seccomp profile");
      file = dk_json_dump (jv_copy (parsed));
      profile = file;
    }
  else if (want)
    profile = want;
  else if (daemon && strcmp (daemon, "unconfined") == 0)
    return 0;
  else if (daemon)
    profile = daemon;
  else
    profile = dk_seccomp_default_profile ();
  return dk_seccomp_profile_to_oci (profile, bounding, out, err);
}

static int
process (struct dk_spec_ctx *c, struct dk_secopts *so, jv *spec, const char *hostname,
         dk_err_t *err)
{
  jv args = dk_ocispec_process_args (c->create, c->img);
  if (dk_json_len (args) <= 0)
    {
      jv_free (args);
      return dk_make_error_code (err, DK_ECODE_INVALID, 0, "no command specified");
    }
  bool tty = false, stdin_open = false;
  dk_json_bool (c->create, "Tty", &tty);
  dk_json_bool (c->create, "OpenStdin", &stdin_open);
  const char *user = dk_json_str (c->create, "User");
  if (!user || !*user)
    user = dk_json_str (c->img, "User");
  const char *wd = dk_json_str (c->create, "WorkingDir");
  if (!wd || !*wd)
    wd = dk_json_str (c->img, "WorkingDir");
  /* Docker cleans it ("/w/" -> "/w"); an image's relative one is taken
     from / as well */
  cleanup_free char *cwd_buf = NULL;
  if (wd && *wd)
    {
      cleanup_free char *abs = wd[0] == '/' ? xstrdup (wd) : xasprintf ("/%s", wd);
      cwd_buf = dk_ocispec_clean_path (abs);
    }
  const char *cwd = cwd_buf ? cwd_buf : "/";

  if (setup_workdir (c->in->rootfs, cwd, err) < 0)
    {
      jv_free (args);
      return -1;
    }
  cleanup_jv jv group_add = dk_json_get_kind (c->hc, "GroupAdd", JV_KIND_ARRAY);
  jv u = jv_invalid (), caps = jv_invalid (), rl = jv_invalid ();
  if (dk_ocispec_user (c->in->rootfs, user, group_add, &u, err) < 0)
    {
      jv_free (args);
      return -1;
    }
  if (capabilities (c, &caps, err) < 0 || dk_ocispec_rlimits (c, &rl, err) < 0)
    {
      jv_free (args);
      jv_free (u);
      jv_free (caps);
      return -1;
    }
  jv p = jv_object ();
  if (tty)
    p = jv_object_set (p, jv_string ("terminal"), jv_true ());
  cleanup_jv jv cs = dk_json_get_kind (c->hc, "ConsoleSize", JV_KIND_ARRAY);
  if (tty && dk_json_len (cs) == 2)
    {
      jv h = jv_array_get (jv_copy (cs), 0), w = jv_array_get (jv_copy (cs), 1);
      if (jv_get_kind (h) == JV_KIND_NUMBER && jv_get_kind (w) == JV_KIND_NUMBER
          && (jv_number_value (h) > 0 || jv_number_value (w) > 0))
        {
          jv size = jv_object_set (jv_object (), jv_string ("height"), h);
          size = jv_object_set (size, jv_string ("width"), w);
          p = jv_object_set (p, jv_string ("consoleSize"), size);
        }
      else
        {
          jv_free (h);
          jv_free (w);
        }
    }
  p = jv_object_set (p, jv_string ("user"), u);
  p = jv_object_set (p, jv_string ("args"), args);
  p = jv_object_set (p, jv_string ("env"), dk_ocispec_env (c->create, c->img, hostname, tty));
  p = jv_object_set (p, jv_string ("cwd"), jv_string (cwd));
  p = jv_object_set (p, jv_string ("capabilities"), caps);
  if (dk_json_len (rl) > 0)
    p = jv_object_set (p, jv_string ("rlimits"), rl);
  else
    jv_free (rl);
  if (so->no_new_privileges)
    p = jv_object_set (p, jv_string ("noNewPrivileges"), jv_true ());
  p = jv_object_set (p, jv_string ("oomScoreAdj"),
                     dk_json_int64 (dk_spec_int (c->hc, "OomScoreAdj")));
  *spec = jv_object_set (*spec, jv_string ("process"), p);
  return 0;
}

int
dk_ocispec_build (const struct dk_spec_input *in, jv *out, dk_err_t *err)
{
  if (!in->rootfs || in->rootfs[0] != '/')
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "the rootfs must be an absolute path");
  if (!in->id || strlen (in->id) < 12)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "a container ID is needed");
  if (dk_ocispec_validate (in->create, err) < 0)
    return -1;
  cleanup_jv jv hc0 = dk_json_get_kind (in->create, "HostConfig", JV_KIND_OBJECT);
  const char *cgp = dk_json_str (hc0, "CgroupParent");
  size_t cgl = cgp ? strlen (cgp) : 0;
  if (in->cgroup_driver && strcmp (in->cgroup_driver, "systemd") == 0 && cgl > 0
      && (cgl <= 6 || strcmp (cgp + cgl - 6, ".slice") != 0))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "cgroup-parent for systemd cgroup should be a valid slice named as "
                               "\"xxx.slice\"");
  struct dk_spec_ctx c = { .in = in, .create = in->create, .img = in->image_config };
  c.hc = dk_json_get_kind (in->create, "HostConfig", JV_KIND_OBJECT);
  if (!jv_is_valid (c.hc))
    c.hc = jv_object ();
  dk_json_bool (c.hc, "Privileged", &c.privileged);
  dk_json_bool (c.hc, "ReadonlyRootfs", &c.readonly);
  c.network_mode = dk_json_str (c.hc, "NetworkMode");
  if (!c.network_mode || !*c.network_mode)
    c.network_mode = "default";
  c.ipc_mode = dk_json_str (c.hc, "IpcMode");
  if (!c.ipc_mode || !*c.ipc_mode)
    c.ipc_mode = "private";

  struct dk_secopts so;
  if (dk_ocispec_parse_secopts (c.hc, &so, err) < 0)
    {
      jv_free (c.hc);
      return -1;
    }
  cleanup_free char *hostname = container_hostname (&c);
  jv spec = jv_object_set (jv_object (), jv_string ("ociVersion"), jv_string (OCI_VERSION));
  jv root = jv_object_set (jv_object (), jv_string ("path"), jv_string (in->rootfs));
  if (c.readonly)
    root = jv_object_set (root, jv_string ("readonly"), jv_true ());
  int r = process (&c, &so, &spec, hostname, err);
  if (r == 0)
    {
      spec = jv_object_set (spec, jv_string ("root"), root);
      root = jv_invalid ();
      const char *uts = dk_json_str (c.hc, "UTSMode");
      if (!uts || strcmp (uts, "host") != 0)
        spec = jv_object_set (spec, jv_string ("hostname"), jv_string (hostname));
      spec = jv_object_set (spec, jv_string ("linux"), jv_object ());
      r = dk_ocispec_linux (&c, &spec, err);
    }
  if (r == 0)
    r = dk_ocispec_mounts (&c, &spec, err);
  if (r == 0)
    {
      jv proc = dk_json_get (spec, "process");
      jv caps = dk_json_get (proc, "capabilities");
      jv bounding = dk_json_get (caps, "bounding");
      jv sc = jv_invalid ();
      r = seccomp (&c, &so, bounding, &sc, err);
      jv_free (bounding);
      jv_free (caps);
      jv_free (proc);
      if (r == 0 && jv_is_valid (sc))
        {
          jv lx = dk_json_get (spec, "linux");
          lx = jv_object_set (lx, jv_string ("seccomp"), sc);
          spec = jv_object_set (spec, jv_string ("linux"), lx);
        }
    }
  if (r == 0)
    {
      cleanup_jv jv ann = dk_json_get_kind (c.hc, "Annotations", JV_KIND_OBJECT);
      if (jv_is_valid (ann) && jv_object_length (jv_copy (ann)) > 0)
        spec = jv_object_set (spec, jv_string ("annotations"), jv_copy (ann));
    }
  jv_free (root);
  dk_ocispec_secopts_free (&so);
  jv_free (c.hc);
  if (r < 0)
    {
      jv_free (spec);
      return -1;
    }
  *out = spec;
  return 0;
}
