#include "cgroup.h"
#include "cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

const char *
dk_cgroup_root (void)
{
  const char *r = getenv ("DK_CGROUP_ROOT");
  return r && *r ? r : "/sys/fs/cgroup";
}

int
dk_cgroup_mode (void)
{
  static int mode;
  struct statfs st;
  if (mode == 0)
    mode = statfs (dk_cgroup_root (), &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC ? DK_CGROUP_V2
                                                                                    : DK_CGROUP_V1;
  return mode;
}

char *
dk_cgroup_path (const char *cgroups_path, const char *id)
{
  if (cgroups_path == NULL || *cgroups_path == '\0')
    return xasprintf ("/dk-run/%s", id);
  /* systemd's "slice:prefix:name" as the cgroupfs path systemd would use */
  const char *c1 = strchr (cgroups_path, ':');
  if (cgroups_path[0] != '/' && c1 && strchr (c1 + 1, ':'))
    {
      const char *c2 = strchr (c1 + 1, ':');
      cleanup_free char *slice = xstrndup (cgroups_path, c1 - cgroups_path);
      cleanup_free char *prefix = xstrndup (c1 + 1, c2 - c1 - 1);
      if (*slice == '\0')
        {
          free (slice);
          slice = xstrdup ("system.slice");
        }
      return xasprintf ("/%s/%s-%s.scope", slice, prefix, c2 + 1);
    }
  if (cgroups_path[0] != '/')
    return xasprintf ("/%s", cgroups_path);
  return xstrdup (cgroups_path);
}

/* The hierarchies that hold a container: every v1 mount under the root
   (a directory, not a symlink such as cpu,cpuacct) or the single v2 one. */
bool
dk_cgroup_is_hierarchy (const char *dir)
{
  struct statfs st;
  return statfs (dir, &st) == 0
         && (st.f_type == CGROUP_SUPER_MAGIC || st.f_type == CGROUP2_SUPER_MAGIC);
}

static char **
hierarchies (void)
{
  size_t n = 0;
  char **v = xzalloc (sizeof (char *) * 2);
  if (dk_cgroup_mode () == DK_CGROUP_V2)
    {
      v[0] = xstrdup (dk_cgroup_root ());
      return v;
    }
  cleanup_closedir DIR *d = opendir (dk_cgroup_root ());
  struct dirent *de;
  while (d && (de = readdir (d)))
    {
      if (de->d_name[0] == '.' || de->d_type != DT_DIR)
        continue;
      char *h = xasprintf ("%s/%s", dk_cgroup_root (), de->d_name);
      /* a plain directory on the tmpfs is no hierarchy (something made
         /sys/fs/cgroup/hugetlb here once: every create then failed) */
      if (!dk_cgroup_is_hierarchy (h))
        {
          free (h);
          continue;
        }
      v = xrealloc (v, sizeof (char *) * (n + 2));
      v[n++] = h;
      v[n] = NULL;
    }
  return v;
}

char *
dk_cgroup_dir (const char *path, const char *controller)
{
  if (dk_cgroup_mode () == DK_CGROUP_V2)
    return xasprintf ("%s%s", dk_cgroup_root (), path);
  return xasprintf ("%s/%s%s", dk_cgroup_root (), controller, path);
}

static int
write_file (const char *dir, const char *file, const char *value, dk_err_t *err)
{
  cleanup_free char *p = xasprintf ("%s/%s", dir, file);
  cleanup_close int fd = open (p, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s`", p);
  size_t len = strlen (value);
  if (write (fd, value, len) != (ssize_t)len)
    return dk_make_error (err, errno, "write `%s` to `%s`", value, p);
  return 0;
}

static char *
read_file (const char *dir, const char *file)
{
  cleanup_free char *p = xasprintf ("%s/%s", dir, file);
  cleanup_close int fd = open (p, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  char buf[8192];
  ssize_t r = read (fd, buf, sizeof buf - 1);
  if (r < 0)
    return NULL;
  buf[r] = '\0';
  return xstrdup (buf);
}

static bool
exists (const char *dir, const char *file)
{
  cleanup_free char *p = xasprintf ("%s/%s", dir, file);
  return access (p, F_OK) == 0;
}

/* A v1 cpuset cgroup starts with empty cpus/mems and refuses tasks: inherit
   the parent's. */
static void
cpuset_inherit (const char *dir)
{
  cleanup_free char *parent = xstrdup (dir);
  char *slash = strrchr (parent, '/');
  if (slash == NULL)
    return;
  *slash = '\0';
  for (const char *const *f = (const char *const[]){ "cpuset.cpus", "cpuset.mems", NULL }; *f; f++)
    {
      cleanup_free char *cur = read_file (dir, *f);
      if (cur && cur[0] != '\n' && cur[0] != '\0')
        continue;
      cleanup_free char *pv = read_file (parent, *f);
      if (pv)
        write_file (dir, *f, pv, NULL);
    }
}

/* mkdir -p below the hierarchy root; *created receives the first directory
   made (to remove on failure), NULL when all existed. */
static int
make_dirs (const char *hroot, const char *path, bool cpuset, char **created, dk_err_t *err)
{
  cleanup_free char *cur = xstrdup (hroot);
  const char *p = path;
  while (*p)
    {
      while (*p == '/')
        p++;
      const char *e = strchrnul (p, '/');
      if (e == p)
        break;
      char *next = xasprintf ("%s/%.*s", cur, (int)(e - p), p);
      free (cur);
      cur = next;
      if (mkdir (cur, 0755) == 0)
        {
          if (*created == NULL)
            *created = xstrdup (cur);
          if (cpuset)
            cpuset_inherit (cur);
        }
      else if (errno != EEXIST)
        return dk_make_error (err, errno, "mkdir `%s`", cur);
      p = e;
    }
  return 0;
}

static void
v2_enable_controllers (const char *path)
{
  /* each ancestor must delegate the controllers to its children */
  const char *root = dk_cgroup_root ();
  cleanup_free char *cur = xstrdup (root);
  cleanup_free char *avail = read_file (root, "cgroup.controllers");
  if (avail == NULL)
    return;
  const char *p = path;
  while (*p)
    {
      while (*p == '/')
        p++;
      const char *e = strchrnul (p, '/');
      if (*e == '\0' || e == p)
        break;
      for (const char *const *c
           = (const char *const[]){ "cpu", "cpuset", "io", "memory", "pids", "hugetlb", NULL };
           *c; c++)
        if (strstr (avail, *c))
          {
            cleanup_free char *v = xasprintf ("+%s", *c);
            write_file (cur, "cgroup.subtree_control", v, NULL);
          }
      char *next = xasprintf ("%s/%.*s", cur, (int)(e - p), p);
      free (cur);
      cur = next;
      p = e;
    }
  for (const char *const *c
       = (const char *const[]){ "cpu", "cpuset", "io", "memory", "pids", "hugetlb", NULL };
       *c; c++)
    if (strstr (avail, *c))
      {
        cleanup_free char *v = xasprintf ("+%s", *c);
        write_file (cur, "cgroup.subtree_control", v, NULL);
      }
}

static int
set_int (const char *dir, const char *file, jv obj, const char *key, bool max_when_neg,
         dk_err_t *err)
{
  int64_t v;
  if (!dk_json_int (obj, key, &v))
    return 0;
  char buf[32];
  if (max_when_neg && v < 0)
    snprintf (buf, sizeof buf, "max");
  else
    snprintf (buf, sizeof buf, "%" PRId64, v);
  return write_file (dir, file, buf, err);
}

static int
apply_v1 (const char *path, jv res, dk_err_t *err)
{
  cleanup_jv jv mem = dk_json_get_kind (res, "memory", JV_KIND_OBJECT);
  cleanup_jv jv cpu = dk_json_get_kind (res, "cpu", JV_KIND_OBJECT);
  cleanup_jv jv pids = dk_json_get_kind (res, "pids", JV_KIND_OBJECT);
  cleanup_jv jv blkio = dk_json_get_kind (res, "blockIO", JV_KIND_OBJECT);
  cleanup_jv jv devices = dk_json_get_kind (res, "devices", JV_KIND_ARRAY);
  if (jv_is_valid (mem))
    {
      cleanup_free char *d = dk_cgroup_dir (path, "memory");
      if (set_int (d, "memory.limit_in_bytes", mem, "limit", false, err) < 0
          || set_int (d, "memory.soft_limit_in_bytes", mem, "reservation", false, err) < 0)
        return -1;
      if (exists (d, "memory.memsw.limit_in_bytes")
          && set_int (d, "memory.memsw.limit_in_bytes", mem, "swap", false, err) < 0)
        return -1;
      if (set_int (d, "memory.swappiness", mem, "swappiness", false, err) < 0)
        return -1;
      bool b;
      if (dk_json_bool (mem, "disableOOMKiller", &b) && b
          && write_file (d, "memory.oom_control", "1", err) < 0)
        return -1;
    }
  if (jv_is_valid (cpu))
    {
      cleanup_free char *d = dk_cgroup_dir (path, "cpu");
      if (set_int (d, "cpu.shares", cpu, "shares", false, err) < 0
          || set_int (d, "cpu.cfs_period_us", cpu, "period", false, err) < 0
          || set_int (d, "cpu.cfs_quota_us", cpu, "quota", false, err) < 0
          || set_int (d, "cpu.rt_period_us", cpu, "realtimePeriod", false, err) < 0
          || set_int (d, "cpu.rt_runtime_us", cpu, "realtimeRuntime", false, err) < 0)
        return -1;
      cleanup_free char *cs = dk_cgroup_dir (path, "cpuset");
      const char *cpus = dk_json_str (cpu, "cpus"), *mems = dk_json_str (cpu, "mems");
      if (cpus && *cpus && write_file (cs, "cpuset.cpus", cpus, err) < 0)
        return -1;
      if (mems && *mems && write_file (cs, "cpuset.mems", mems, err) < 0)
        return -1;
    }
  if (jv_is_valid (pids))
    {
      cleanup_free char *d = dk_cgroup_dir (path, "pids");
      int64_t lim;
      if (dk_json_int (pids, "limit", &lim))
        {
          char buf[32];
          snprintf (buf, sizeof buf, lim <= 0 ? "max" : "%" PRId64, lim);
          if (write_file (d, "pids.max", buf, err) < 0)
            return -1;
        }
    }
  if (jv_is_valid (blkio))
    {
      cleanup_free char *d = dk_cgroup_dir (path, "blkio");
      const char *f = exists (d, "blkio.weight") ? "blkio.weight" : "blkio.bfq.weight";
      if (set_int (d, f, blkio, "weight", false, err) < 0)
        return -1;
    }
  /* as runc: a controller that is not mounted is not used (the rules
     dk-run always adds would otherwise fail every create there) */
  cleanup_free char *devroot = dk_cgroup_dir ("", "devices");
  if (jv_is_valid (devices) && dk_cgroup_is_hierarchy (devroot))
    {
      cleanup_free char *d = dk_cgroup_dir (path, "devices");
      jv_array_foreach (devices, i, rule)
      {
        bool allow = false;
        dk_json_bool (rule, "allow", &allow);
        const char *type = dk_json_str (rule, "type");
        const char *access = dk_json_str (rule, "access");
        int64_t major = -1, minor = -1;
        dk_json_int (rule, "major", &major);
        dk_json_int (rule, "minor", &minor);
        char maj[24] = "*", min[24] = "*";
        if (major >= 0)
          snprintf (maj, sizeof maj, "%" PRId64, major);
        if (minor >= 0)
          snprintf (min, sizeof min, "%" PRId64, minor);
        cleanup_free char *line = NULL;
        if (type == NULL || strcmp (type, "a") == 0)
          line = xstrdup ("a");
        else
          line = xasprintf ("%s %s:%s %s", type, maj, min, access ? access : "rwm");
        int r = write_file (d, allow ? "devices.allow" : "devices.deny", line, err);
        jv_free (rule);
        if (r < 0)
          return -1;
      }
    }
  return 0;
}

static int
apply_v2 (const char *path, jv res, dk_err_t *err)
{
  cleanup_free char *d = dk_cgroup_dir (path, NULL);
  cleanup_jv jv mem = dk_json_get_kind (res, "memory", JV_KIND_OBJECT);
  cleanup_jv jv cpu = dk_json_get_kind (res, "cpu", JV_KIND_OBJECT);
  cleanup_jv jv pids = dk_json_get_kind (res, "pids", JV_KIND_OBJECT);
  cleanup_jv jv blkio = dk_json_get_kind (res, "blockIO", JV_KIND_OBJECT);
  char buf[64];
  if (jv_is_valid (mem))
    {
      int64_t limit = -1, swap;
      bool has_limit = dk_json_int (mem, "limit", &limit);
      if (set_int (d, "memory.max", mem, "limit", true, err) < 0
          || set_int (d, "memory.low", mem, "reservation", true, err) < 0)
        return -1;
      /* OCI swap is memory+swap (v1 semantics); v2 wants the swap alone */
      if (dk_json_int (mem, "swap", &swap) && exists (d, "memory.swap.max"))
        {
          if (swap < 0 || !has_limit || limit < 0)
            snprintf (buf, sizeof buf, "max");
          else
            snprintf (buf, sizeof buf, "%" PRId64, swap > limit ? swap - limit : 0);
          if (write_file (d, "memory.swap.max", buf, err) < 0)
            return -1;
        }
    }
  if (jv_is_valid (cpu))
    {
      int64_t shares, quota = -1, period = 100000;
      if (dk_json_int (cpu, "shares", &shares) && shares > 0)
        {
          snprintf (buf, sizeof buf, "%" PRId64, 1 + ((shares - 2) * 9999) / 262142);
          if (write_file (d, "cpu.weight", buf, err) < 0)
            return -1;
        }
      bool hq = dk_json_int (cpu, "quota", &quota), hp = dk_json_int (cpu, "period", &period);
      if (hq || hp)
        {
          if (quota > 0)
            snprintf (buf, sizeof buf, "%" PRId64 " %" PRId64, quota, period);
          else
            snprintf (buf, sizeof buf, "max %" PRId64, period);
          if (write_file (d, "cpu.max", buf, err) < 0)
            return -1;
        }
      const char *cpus = dk_json_str (cpu, "cpus"), *mems = dk_json_str (cpu, "mems");
      if (cpus && *cpus && write_file (d, "cpuset.cpus", cpus, err) < 0)
        return -1;
      if (mems && *mems && write_file (d, "cpuset.mems", mems, err) < 0)
        return -1;
    }
  if (jv_is_valid (pids) && set_int (d, "pids.max", pids, "limit", true, err) < 0)
    return -1;
  cleanup_jv jv devices = dk_json_get_kind (res, "devices", JV_KIND_ARRAY);
  if (jv_is_valid (devices) && dk_cgroup_devices_v2 (d, devices, err) < 0)
    return -1;
  int64_t w;
  if (jv_is_valid (blkio) && dk_json_int (blkio, "weight", &w) && w > 0)
    {
      if (exists (d, "io.bfq.weight"))
        snprintf (buf, sizeof buf, "%" PRId64, w);
      else
        snprintf (buf, sizeof buf, "default %" PRId64, 1 + (w - 10) * 9999 / 990);
      if (write_file (d, exists (d, "io.bfq.weight") ? "io.bfq.weight" : "io.weight", buf, err) < 0)
        return -1;
    }
  return 0;
}

static int
attach (const char *path, pid_t pid, dk_err_t *err)
{
  cleanup_strv char **hs = hierarchies ();
  char buf[32];
  snprintf (buf, sizeof buf, "%d", (int)pid);
  for (char **h = hs; *h; h++)
    {
      cleanup_free char *d = xasprintf ("%s%s", *h, path);
      if (write_file (d, "cgroup.procs", buf, err) < 0)
        return -1;
    }
  return 0;
}

static int
rmdir_retry (const char *dir)
{
  for (int i = 0; i < 200; i++)
    {
      if (rmdir (dir) == 0 || errno == ENOENT)
        return 0;
      if (errno != EBUSY)
        return -1;
      nanosleep (&(struct timespec){ 0, 1000 * 1000 }, NULL);
    }
  return -1;
}

int
dk_cgroup_create (const char *path, jv resources, pid_t pid, dk_err_t *err)
{
  cleanup_strv char **hs = hierarchies ();
  if (dk_cgroup_mode () == DK_CGROUP_V2)
    v2_enable_controllers (path);
  int ret = 0;
  for (char **h = hs; *h && ret == 0; h++)
    {
      cleanup_free char *created = NULL;
      const char *base = strrchr (*h, '/');
      ret = make_dirs (*h, path, base && strcmp (base, "/cpuset") == 0, &created, err);
    }
  if (ret == 0 && jv_get_kind (resources) == JV_KIND_OBJECT)
    ret = dk_cgroup_mode () == DK_CGROUP_V2 ? apply_v2 (path, resources, err)
                                            : apply_v1 (path, resources, err);
  if (ret == 0 && pid > 0)
    ret = attach (path, pid, err);
  if (ret < 0)
    {
      dk_cgroup_destroy (path, false, NULL);
      return dk_error_wrap (err, "cgroup `%s`", path);
    }
  return 0;
}

int
dk_cgroup_check_unused (const char *path, dk_err_t *err)
{
  if (dk_cgroup_frozen (path))
    return dk_make_error_code (err, DK_ECODE_CONFLICT, 0, "container's cgroup unexpectedly frozen");
  cleanup_free pid_t *pids = NULL;
  size_t n = 0;
  if (dk_cgroup_pids (path, &pids, &n, NULL) == 0 && n > 0)
    return dk_make_error_code (err, DK_ECODE_CONFLICT, 0,
                               "container's cgroup is not empty: %zu process(es) found", n);
  return 0;
}

int
dk_cgroup_enter (const char *path, pid_t pid, dk_err_t *err)
{
  return attach (path, pid, err);
}

static int
read_pids (const char *dir, pid_t **pids, size_t *n)
{
  cleanup_free char *p = xasprintf ("%s/cgroup.procs", dir);
  cleanup_fclose FILE *f = fopen (p, "re");
  *pids = NULL;
  *n = 0;
  if (f == NULL)
    return -1;
  long v;
  while (fscanf (f, "%ld", &v) == 1)
    {
      *pids = xrealloc (*pids, sizeof (pid_t) * (*n + 1));
      (*pids)[(*n)++] = (pid_t)v;
    }
  return 0;
}

int
dk_cgroup_pids (const char *path, pid_t **pids, size_t *n, dk_err_t *err)
{
  cleanup_free char *d = dk_cgroup_dir (path, "pids");
  if (read_pids (d, pids, n) < 0)
    {
      free (d);
      d = dk_cgroup_dir (path, "memory");
      if (read_pids (d, pids, n) < 0)
        return dk_make_error (err, errno, "read cgroup `%s`", path);
    }
  return 0;
}

static void
kill_all (const char *path)
{
  if (dk_cgroup_mode () == DK_CGROUP_V2)
    {
      cleanup_free char *d = dk_cgroup_dir (path, NULL);
      if (write_file (d, "cgroup.kill", "1", NULL) == 0)
        return;
    }
  for (int round = 0; round < 100; round++)
    {
      cleanup_free pid_t *pids = NULL;
      size_t n = 0;
      if (dk_cgroup_pids (path, &pids, &n, NULL) < 0 || n == 0)
        return;
      for (size_t i = 0; i < n; i++)
        kill (pids[i], SIGKILL);
      nanosleep (&(struct timespec){ 0, 2 * 1000 * 1000 }, NULL);
    }
}

int
dk_cgroup_destroy (const char *path, bool kill, dk_err_t *err)
{
  if (kill)
    kill_all (path);
  cleanup_strv char **hs = hierarchies ();
  int ret = 0;
  for (char **h = hs; *h; h++)
    {
      cleanup_free char *d = xasprintf ("%s%s", *h, path);
      if (rmdir_retry (d) < 0 && ret == 0)
        ret = dk_make_error (err, errno, "remove cgroup `%s`", d);
    }
  return ret;
}

long
dk_cgroup_oom_kills (const char *path)
{
  cleanup_free char *d = dk_cgroup_dir (path, "memory");
  cleanup_free char *s
      = read_file (d, dk_cgroup_mode () == DK_CGROUP_V2 ? "memory.events" : "memory.oom_control");
  const char *p = s ? strstr (s, "oom_kill ") : NULL;
  return p ? strtol (p + 9, NULL, 10) : 0;
}

int
dk_cgroup_update (const char *path, jv resources, dk_err_t *err)
{
  if (jv_get_kind (resources) != JV_KIND_OBJECT)
    return 0;
  return dk_cgroup_mode () == DK_CGROUP_V2 ? apply_v2 (path, resources, err)
                                           : apply_v1 (path, resources, err);
}

int
dk_cgroup_freeze (const char *path, bool freeze, dk_err_t *err)
{
  if (dk_cgroup_mode () == DK_CGROUP_V2)
    {
      cleanup_free char *d = dk_cgroup_dir (path, NULL);
      return write_file (d, "cgroup.freeze", freeze ? "1" : "0", err);
    }
  cleanup_free char *d = dk_cgroup_dir (path, "freezer");
  if (write_file (d, "freezer.state", freeze ? "FROZEN" : "THAWED", err) < 0)
    return -1;
  /* FREEZING becomes FROZEN once every task has stopped */
  for (int i = 0; freeze && i < 1000; i++)
    {
      cleanup_free char *st = read_file (d, "freezer.state");
      if (st == NULL || strncmp (st, "FROZEN", 6) == 0)
        break;
      nanosleep (&(struct timespec){ 0, 1000 * 1000 }, NULL);
    }
  return 0;
}

bool
dk_cgroup_frozen (const char *path)
{
  if (dk_cgroup_mode () == DK_CGROUP_V2)
    {
      cleanup_free char *d = dk_cgroup_dir (path, NULL);
      cleanup_free char *s = read_file (d, "cgroup.freeze");
      return s && s[0] == '1';
    }
  cleanup_free char *d = dk_cgroup_dir (path, "freezer");
  cleanup_free char *s = read_file (d, "freezer.state");
  return s && strncmp (s, "FROZEN", 6) == 0;
}
