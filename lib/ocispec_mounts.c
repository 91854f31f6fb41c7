/* spec.mounts as Docker builds them: its default mounts (proc, /dev tmpfs,
   devpts, sysfs, cgroup, mqueue, shm), then the user's mounts (binds,
   volumes, tmpfs, the shm of a shared IPC namespace, /etc/resolv.conf,
   /etc/hostname, /etc/hosts) sorted by depth; read-only root and
   --privileged adjustments; masked and read-only paths. */
#include "ocispec_internal.h"
#include "cleanup.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static jv
mount_obj (const char *dest, const char *type, const char *source, jv options)
{
  jv m = jv_object ();
  m = jv_object_set (m, jv_string ("destination"), jv_string (dest));
  m = jv_object_set (m, jv_string ("type"), jv_string (type));
  m = jv_object_set (m, jv_string ("source"), jv_string (source));
  return jv_object_set (m, jv_string ("options"), options);
}

static jv
default_mounts (void)
{
  static const char *const proc[] = { "nosuid", "noexec", "nodev", NULL };
  static const char *const dev[] = { "nosuid", "strictatime", "mode=755", "size=65536k", NULL };
  static const char *const pts[]
      = { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", NULL };
  static const char *const sys[] = { "nosuid", "noexec", "nodev", "ro", NULL };
  static const char *const cgroup[] = { "ro", "nosuid", "noexec", "nodev", NULL };
  static const char *const mqueue[] = { "nosuid", "noexec", "nodev", NULL };
  static const char *const shm[] = { "nosuid", "noexec", "nodev", "mode=1777", NULL };
  jv a = jv_array ();
  a = jv_array_append (a, mount_obj ("/proc", "proc", "proc", dk_spec_strv (proc)));
  a = jv_array_append (a, mount_obj ("/dev", "tmpfs", "tmpfs", dk_spec_strv (dev)));
  a = jv_array_append (a, mount_obj ("/dev/pts", "devpts", "devpts", dk_spec_strv (pts)));
  a = jv_array_append (a, mount_obj ("/sys", "sysfs", "sysfs", dk_spec_strv (sys)));
  a = jv_array_append (a, mount_obj ("/sys/fs/cgroup", "cgroup", "cgroup", dk_spec_strv (cgroup)));
  a = jv_array_append (a, mount_obj ("/dev/mqueue", "mqueue", "mqueue", dk_spec_strv (mqueue)));
  a = jv_array_append (a, mount_obj ("/dev/shm", "tmpfs", "shm", dk_spec_strv (shm)));
  return a;
}

static jv
masked_paths (void)
{
  static const char *const paths[] = { "/proc/acpi",
                                       "/proc/asound",
                                       "/proc/interrupts",
                                       "/proc/kcore",
                                       "/proc/keys",
                                       "/proc/latency_stats",
                                       "/proc/sched_debug",
                                       "/proc/scsi",
                                       "/proc/timer_list",
                                       "/proc/timer_stats",
                                       "/sys/devices/virtual/powercap",
                                       "/sys/firmware",
                                       NULL };
  jv a = dk_spec_strv (paths);
  /* Docker also masks the per-CPU thermal_throttle directories that exist. */
  glob_t g;
  if (glob ("/sys/devices/system/cpu/cpu[0-9]*/thermal_throttle", 0, NULL, &g) == 0)
    {
      for (size_t i = 0; i < g.gl_pathc; i++)
        a = jv_array_append (a, jv_string (g.gl_pathv[i]));
      globfree (&g);
    }
  return a;
}

static jv
readonly_paths (void)
{
  static const char *const paths[]
      = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL };
  return dk_spec_strv (paths);
}

struct user_mounts
{
  jv list; /* array of mount objects */
};

static bool
has_dest (jv list, const char *dest)
{
  bool found = false;
  jv_array_foreach (list, i, m)
  {
    const char *d = dk_json_str (m, "destination");
    if (!found && d && strcmp (d, dest) == 0)
      found = true;
    jv_free (m);
  }
  return found;
}

static int
add_user (jv *list, jv m, dk_err_t *err)
{
  const char *d = dk_json_str (m, "destination");
  if (has_dest (*list, d))
    {
      dk_make_error_code (err, DK_ECODE_INVALID, 0, "Duplicate mount point: %s", d);
      jv_free (m);
      return -1;
    }
  *list = jv_array_append (*list, m);
  return 0;
}

static jv
bind_options (bool recursive, bool ro, const char *propagation)
{
  jv o = jv_array_append (jv_array (), jv_string (recursive ? "rbind" : "bind"));
  if (ro)
    o = jv_array_append (o, jv_string ("ro"));
  if (propagation && *propagation)
    o = jv_array_append (o, jv_string (propagation));
  return o;
}

/* Host path of a named or anonymous volume as dockerd prepared it. */
static int
volume_path (struct dk_spec_ctx *c, const char *name, const char *subpath, char **out,
             dk_err_t *err)
{
  const char *p = dk_json_str (c->in->volume_paths, name);
  if (p == NULL)
    return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "no such volume: %s", name);
  if (subpath && *subpath)
    *out = xasprintf ("%s/%s", p, subpath);
  else
    *out = xstrdup (p);
  return 0;
}

/* Docker creates a missing bind source of -v as a directory. */
static int
ensure_bind_source (const char *src, dk_err_t *err)
{
  struct stat st;
  if (stat (src, &st) == 0)
    return 0;
  cleanup_free char *p = xstrdup (src);
  for (char *s = p + 1;; s++)
    {
      if (*s == '/' || *s == '\0')
        {
          char saved = *s;
          *s = '\0';
          if (mkdir (p, 0755) < 0 && errno != EEXIST)
            return dk_make_error (err, errno, "create bind source `%s`", p);
          *s = saved;
          if (saved == '\0')
            break;
        }
    }
  return 0;
}

/* Docker refuses shared/slave propagation for a bind whose source sits on
   a mount that does not propagate (mountinfo's optional fields). */
static int
check_source_propagation (const char *src, const char *prop, dk_err_t *err)
{
  bool shared = strcmp (prop, "shared") == 0 || strcmp (prop, "rshared") == 0;
  bool slave = strcmp (prop, "slave") == 0 || strcmp (prop, "rslave") == 0;
  if (!shared && !slave)
    return 0;
  cleanup_free char *real = realpath (src, NULL);
  if (!real)
    return dk_make_error (err, errno, "resolve bind source `%s`", src);
  cleanup_fclose FILE *f = fopen ("/proc/self/mountinfo", "re");
  if (!f)
    return dk_make_error (err, errno, "open /proc/self/mountinfo");
  char *line = NULL;
  size_t cap = 0, best_len = 0;
  cleanup_free char *best = NULL;
  bool best_shared = false, best_slave = false;
  while (getline (&line, &cap, f) >= 0)
    {
      /* id parent maj:min root mountpoint options [optional...] - ... */
      char mp[4096];
      int off = 0;
      if (sscanf (line, "%*d %*d %*s %*s %4095s %*s%n", mp, &off) != 1)
        continue;
      size_t l = strlen (mp);
      bool prefix = strcmp (mp, "/") == 0
                    || (strncmp (real, mp, l) == 0 && (real[l] == '/' || real[l] == '\0'));
      if (!prefix || l < best_len)
        continue;
      char *opt = line + off;
      char *dash = strstr (opt, " - ");
      if (dash)
        *dash = '\0';
      best_len = l;
      free (best);
      best = xstrdup (mp);
      best_shared = strstr (opt, "shared:") != NULL;
      best_slave = strstr (opt, "master:") != NULL;
    }
  free (line);
  if (!best)
    return 0;
  if (shared && !best_shared)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "path %s is mounted on %s but it is not a shared mount", src, best);
  if (slave && !best_shared && !best_slave)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "path %s is mounted on %s but it is not a shared or slave mount",
                               src, best);
  return 0;
}

static void
note_propagation (jv *spec, const char *prop)
{
  if (!prop)
    return;
  bool shared = strcmp (prop, "shared") == 0 || strcmp (prop, "rshared") == 0;
  bool slave = strcmp (prop, "slave") == 0 || strcmp (prop, "rslave") == 0;
  if (!shared && !slave)
    return;
  jv lx = dk_json_get_kind (*spec, "linux", JV_KIND_OBJECT);
  const char *cur = dk_json_str (lx, "rootfsPropagation");
  bool cur_shared = cur && (strcmp (cur, "shared") == 0 || strcmp (cur, "rshared") == 0);
  bool cur_slave = cur && (strcmp (cur, "slave") == 0 || strcmp (cur, "rslave") == 0);
  if (shared && !cur_shared)
    lx = jv_object_set (lx, jv_string ("rootfsPropagation"), jv_string ("shared"));
  else if (slave && !cur_shared && !cur_slave)
    lx = jv_object_set (lx, jv_string ("rootfsPropagation"), jv_string ("rslave"));
  *spec = jv_object_set (*spec, jv_string ("linux"), lx);
}

static int
binds (struct dk_spec_ctx *c, jv *list, jv *spec, dk_err_t *err)
{
  cleanup_jv jv bl = dk_json_get_kind (c->hc, "Binds", JV_KIND_ARRAY);
  for (int i = 0; i < dk_json_len (bl); i++)
    {
      cleanup_jv jv e = jv_array_get (jv_copy (bl), i);
      if (jv_get_kind (e) != JV_KIND_STRING)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "Binds entries must be strings");
      struct dk_bind b;
      if (dk_ocispec_parse_bind (jv_string_value (e), &b, err) < 0)
        return -1;
      cleanup_free char *src = NULL;
      int r = 0;
      if (b.is_volume && !b.source && !dk_json_str (c->in->volume_paths, b.target))
        {
          /* an anonymous volume dockerd did not prepare: skipped, as for
             Config.Volumes */
          dk_ocispec_bind_free (&b);
          continue;
        }
      if (b.is_volume)
        r = volume_path (c, b.source ? b.source : b.target, NULL, &src, err);
      else
        {
          src = xstrdup (b.source);
          r = ensure_bind_source (src, err);
        }
      if (r == 0 && b.propagation)
        r = check_source_propagation (src, b.propagation, err);
      if (r == 0)
        {
          note_propagation (spec, b.propagation);
          r = add_user (
              list,
              mount_obj (b.target, "bind", src, bind_options (true, b.read_only, b.propagation)),
              err);
        }
      dk_ocispec_bind_free (&b);
      if (r < 0)
        return -1;
    }
  return 0;
}

static int
api_mounts (struct dk_spec_ctx *c, jv *list, jv *spec, dk_err_t *err)
{
  cleanup_jv jv ml = dk_json_get_kind (c->hc, "Mounts", JV_KIND_ARRAY);
  for (int i = 0; i < dk_json_len (ml); i++)
    {
      cleanup_jv jv m = jv_array_get (jv_copy (ml), i);
      if (dk_ocispec_check_mount (m, err) < 0)
        return -1;
      const char *type = dk_json_str (m, "Type");
      cleanup_free char *target = dk_ocispec_clean_path (dk_json_str (m, "Target"));
      const char *source = dk_json_str (m, "Source");
      bool ro = false;
      dk_json_bool (m, "ReadOnly", &ro);
      jv mo;
      if (strcmp (type, "bind") == 0)
        {
          cleanup_jv jv bo = dk_json_get_kind (m, "BindOptions", JV_KIND_OBJECT);
          const char *prop = dk_json_str (bo, "Propagation");
          bool nonrec = false;
          dk_json_bool (bo, "NonRecursive", &nonrec);
          if (!prop || !*prop)
            prop = "rprivate";
          cleanup_free char *src = dk_ocispec_clean_path (source);
          if (ensure_bind_source (src, err) < 0 || check_source_propagation (src, prop, err) < 0)
            return -1;
          note_propagation (spec, prop);
          mo = mount_obj (target, "bind", src, bind_options (!nonrec, ro, prop));
        }
      else if (strcmp (type, "volume") == 0)
        {
          cleanup_jv jv vo = dk_json_get_kind (m, "VolumeOptions", JV_KIND_OBJECT);
          cleanup_free char *src = NULL;
          if (volume_path (c, source && *source ? source : target, dk_json_str (vo, "Subpath"),
                           &src, err)
              < 0)
            return -1;
          mo = mount_obj (target, "bind", src, bind_options (true, ro, NULL));
        }
      else if (strcmp (type, "tmpfs") == 0)
        {
          cleanup_jv jv to = dk_json_get_kind (m, "TmpfsOptions", JV_KIND_OBJECT);
          cleanup_free char *data = NULL;
          if (dk_ocispec_tmpfs_data (to, ro, &data, err) < 0)
            return -1;
          static const char *const base[] = { "noexec", "nosuid", "nodev", "rprivate", NULL };
          jv opts = dk_spec_strv (base);
          for (char *s = data, *save = NULL, *t = strtok_r (s, ",", &save); t;
               t = strtok_r (NULL, ",", &save))
            opts = jv_array_append (opts, jv_string (t));
          jv merged = jv_invalid ();
          int r = dk_ocispec_merge_tmpfs (opts, &merged, err);
          jv_free (opts);
          if (r < 0)
            return -1;
          mo = mount_obj (target, "tmpfs", "tmpfs", merged);
        }
      else
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "mount type %s is not supported yet",
                                   type);
      if (add_user (list, mo, err) < 0)
        return -1;
    }
  return 0;
}

static int
tmpfs_map (struct dk_spec_ctx *c, jv *list, dk_err_t *err)
{
  cleanup_jv jv t = dk_json_get_kind (c->hc, "Tmpfs", JV_KIND_OBJECT);
  if (!jv_is_valid (t))
    return 0;
  int r = 0;
  jv_object_foreach (t, k, v)
  {
    if (r == 0)
      {
        static const char *const base[] = { "noexec", "nosuid", "nodev", "rprivate", NULL };
        jv opts = dk_spec_strv (base);
        const char *data = jv_get_kind (v) == JV_KIND_STRING ? jv_string_value (v) : "";
        cleanup_free char *d = xstrdup (data);
        char *save = NULL;
        for (char *tok = strtok_r (d, ",", &save); tok; tok = strtok_r (NULL, ",", &save))
          opts = jv_array_append (opts, jv_string (tok));
        jv merged = jv_invalid ();
        r = dk_ocispec_merge_tmpfs (opts, &merged, err);
        jv_free (opts);
        if (r == 0)
          {
            cleanup_free char *dest = dk_ocispec_clean_path (jv_string_value (k));
            r = add_user (list, mount_obj (dest, "tmpfs", "tmpfs", merged), err);
          }
      }
    jv_free (k);
    jv_free (v);
  }
  return r;
}

/* Anonymous volumes of Config.Volumes and the image's Volumes, where
   dockerd prepared a path for them (keyed by destination). */
static void
anonymous_volumes (struct dk_spec_ctx *c, jv *list)
{
  jv sources[2] = { dk_json_get_kind (c->create, "Volumes", JV_KIND_OBJECT),
                    dk_json_get_kind (c->img, "Volumes", JV_KIND_OBJECT) };
  for (int s = 0; s < 2; s++)
    {
      if (!jv_is_valid (sources[s]))
        continue;
      jv_object_foreach (sources[s], k, v)
      {
        cleanup_free char *dest = dk_ocispec_clean_path (jv_string_value (k));
        const char *p = dk_json_str (c->in->volume_paths, dest);
        if (p && !has_dest (*list, dest))
          *list = jv_array_append (*list,
                                   mount_obj (dest, "bind", p, bind_options (true, false, NULL)));
        jv_free (k);
        jv_free (v);
      }
      jv_free (sources[s]);
    }
}

static void
etc_files (struct dk_spec_ctx *c, jv *list)
{
  const struct
  {
    const char *dest, *src;
  } files[] = { { "/etc/resolv.conf", c->in->resolv_path },
                { "/etc/hostname", c->in->hostname_path },
                { "/etc/hosts", c->in->hosts_path } };
  for (size_t i = 0; i < 3; i++)
    if (files[i].src && !has_dest (*list, files[i].dest))
      *list = jv_array_append (*list, mount_obj (files[i].dest, "bind", files[i].src,
                                                 bind_options (true, c->readonly, "rprivate")));
}

static void
ipc_shm (struct dk_spec_ctx *c, jv *list)
{
  const char *src = c->in->shm_path;
  if (!src && strcmp (c->ipc_mode, "host") == 0)
    src = "/dev/shm";
  if (!src || strcmp (c->ipc_mode, "none") == 0 || strcmp (c->ipc_mode, "private") == 0
      || has_dest (*list, "/dev/shm"))
    return;
  *list = jv_array_append (
      *list, mount_obj ("/dev/shm", "bind", src, bind_options (true, false, "rprivate")));
}

static int
depth (jv m)
{
  const char *d = dk_json_str (m, "destination");
  int n = 0;
  for (; d && *d; d++)
    n += *d == '/';
  return n;
}

static jv
sort_by_depth (jv list)
{
  /* stable insertion sort: parents are mounted before their children */
  int n = dk_json_len (list);
  jv out = jv_array ();
  for (int want = 0; n > 0 && want < 4096; want++)
    {
      bool any_left = false;
      jv_array_foreach (list, i, m)
      {
        int d = depth (m);
        if (d == want)
          out = jv_array_append (out, m);
        else
          {
            any_left |= d > want;
            jv_free (m);
          }
      }
      if (!any_left)
        break;
    }
  jv_free (list);
  return out;
}

static jv
drop_option (jv opts, const char *o)
{
  jv out = jv_array ();
  jv_array_foreach (opts, i, e)
  {
    if (strcmp (jv_string_value (e), o) == 0)
      jv_free (e);
    else
      out = jv_array_append (out, e);
  }
  jv_free (opts);
  return out;
}

int
dk_ocispec_mounts (struct dk_spec_ctx *c, jv *spec, dk_err_t *err)
{
  jv user = jv_array ();
  if (binds (c, &user, spec, err) < 0 || api_mounts (c, &user, spec, err) < 0)
    {
      jv_free (user);
      return -1;
    }
  anonymous_volumes (c, &user);
  if (tmpfs_map (c, &user, err) < 0)
    {
      jv_free (user);
      return -1;
    }
  ipc_shm (c, &user);
  etc_files (c, &user);
  user = sort_by_depth (user);

  bool user_dev = has_dest (user, "/dev");
  int64_t shm_size = dk_spec_int (c->hc, "ShmSize");
  if (shm_size == 0)
    shm_size = 64 * 1024 * 1024;
  jv mounts = jv_array ();
  jv defs = default_mounts ();
  jv_array_foreach (defs, i, m)
  {
    const char *d = dk_json_str (m, "destination");
    if (has_dest (user, d) || (user_dev && strncmp (d, "/dev/", 5) == 0)
        || (strcmp (d, "/dev/shm") == 0 && strcmp (c->ipc_mode, "none") == 0))
      {
        jv_free (m);
        continue;
      }
    jv opts = dk_json_get (m, "options");
    if (strcmp (d, "/dev/shm") == 0)
      opts = jv_array_append (opts, jv_string_fmt ("size=%lld", (long long)shm_size));
    if (c->readonly && strcmp (d, "/proc") != 0 && strncmp (d, "/dev", 4) != 0
        && !dk_spec_has_str (opts, "ro"))
      opts = jv_array_append (opts, jv_string ("ro"));
    if (c->privileged && strcmp (d, "/sys") == 0)
      opts = drop_option (opts, "ro");
    if (strcmp (dk_json_str (m, "type"), "cgroup") == 0)
      {
        struct dk_secopts so = { 0 };
        bool writable = c->privileged;
        if (dk_ocispec_parse_secopts (c->hc, &so, NULL) == 0 && so.writable_cgroups_set)
          writable = so.writable_cgroups;
        dk_ocispec_secopts_free (&so);
        if (writable)
          opts = drop_option (opts, "ro");
      }
    m = jv_object_set (m, jv_string ("options"), opts);
    mounts = jv_array_append (mounts, m);
  }
  jv_free (defs);
  mounts = jv_array_concat (mounts, user);
  *spec = jv_object_set (*spec, jv_string ("mounts"), mounts);

  jv lx = dk_json_get_kind (*spec, "linux", JV_KIND_OBJECT);
  jv masked = c->privileged ? jv_array () : masked_paths ();
  jv ro = c->privileged ? jv_array () : readonly_paths ();
  jv hm = dk_json_get_kind (c->hc, "MaskedPaths", JV_KIND_ARRAY);
  if (jv_is_valid (hm))
    {
      jv_free (masked);
      masked = hm;
    }
  jv hr = dk_json_get_kind (c->hc, "ReadonlyPaths", JV_KIND_ARRAY);
  if (jv_is_valid (hr))
    {
      jv_free (ro);
      ro = hr;
    }
  /* empty lists are left out, as Go's omitempty does */
  if (dk_json_len (masked) > 0)
    lx = jv_object_set (lx, jv_string ("maskedPaths"), masked);
  else
    jv_free (masked);
  if (dk_json_len (ro) > 0)
    lx = jv_object_set (lx, jv_string ("readonlyPaths"), ro);
  else
    jv_free (ro);
  *spec = jv_object_set (*spec, jv_string ("linux"), lx);
  return 0;
}
