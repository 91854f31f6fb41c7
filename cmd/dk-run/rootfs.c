/* The container's filesystem, built in its new mount namespace: mounts of
   config.json, a minimal /dev, pivot_root, then masked and read-only paths.
   Mount destinations are resolved inside the rootfs (openat2 with
   RESOLVE_IN_ROOT) and mounted through /proc/self/fd, so a symlink in an
   image can never redirect a mount to the host. */
#include "run.h"
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct mopt
{
  const char *name;
  bool clear;
  unsigned long flag;
  bool propagation;
};

static const struct mopt mount_opts[] = {
  { "ro", false, MS_RDONLY, false },
  { "rw", true, MS_RDONLY, false },
  { "nosuid", false, MS_NOSUID, false },
  { "suid", true, MS_NOSUID, false },
  { "nodev", false, MS_NODEV, false },
  { "dev", true, MS_NODEV, false },
  { "noexec", false, MS_NOEXEC, false },
  { "exec", true, MS_NOEXEC, false },
  { "sync", false, MS_SYNCHRONOUS, false },
  { "async", true, MS_SYNCHRONOUS, false },
  { "dirsync", false, MS_DIRSYNC, false },
  { "remount", false, MS_REMOUNT, false },
  { "mand", false, MS_MANDLOCK, false },
  { "nomand", true, MS_MANDLOCK, false },
  { "atime", true, MS_NOATIME, false },
  { "noatime", false, MS_NOATIME, false },
  { "diratime", true, MS_NODIRATIME, false },
  { "nodiratime", false, MS_NODIRATIME, false },
  { "relatime", false, MS_RELATIME, false },
  { "norelatime", true, MS_RELATIME, false },
  { "strictatime", false, MS_STRICTATIME, false },
  { "nostrictatime", true, MS_STRICTATIME, false },
  { "bind", false, MS_BIND, false },
  { "rbind", false, MS_BIND | MS_REC, false },
  { "private", false, MS_PRIVATE, true },
  { "rprivate", false, MS_PRIVATE | MS_REC, true },
  { "shared", false, MS_SHARED, true },
  { "rshared", false, MS_SHARED | MS_REC, true },
  { "slave", false, MS_SLAVE, true },
  { "rslave", false, MS_SLAVE | MS_REC, true },
  { "unbindable", false, MS_UNBINDABLE, true },
  { "runbindable", false, MS_UNBINDABLE | MS_REC, true },
};

struct mspec
{
  unsigned long flags, prop;
  char *data;
};

static void
parse_options (jv opts, struct mspec *m)
{
  struct dk_buf data = DK_BUF_INIT;
  m->flags = m->prop = 0;
  int n = dk_json_len (opts);
  for (int i = 0; i < n; i++)
    {
      cleanup_jv jv o = jv_array_get (jv_copy (opts), i);
      if (jv_get_kind (o) != JV_KIND_STRING)
        continue;
      const char *s = jv_string_value (o);
      bool known = false;
      for (size_t k = 0; k < sizeof mount_opts / sizeof mount_opts[0]; k++)
        if (strcmp (s, mount_opts[k].name) == 0)
          {
            known = true;
            if (mount_opts[k].propagation)
              m->prop |= mount_opts[k].flag;
            else if (mount_opts[k].clear)
              m->flags &= ~mount_opts[k].flag;
            else
              m->flags |= mount_opts[k].flag;
          }
      if (!known && strcmp (s, "tmpcopyup") != 0)
        {
          if (data.len)
            dk_buf_addc (&data, ',');
          dk_buf_adds (&data, s);
        }
    }
  m->data = data.len ? dk_buf_steal (&data) : NULL;
  dk_buf_free (&data);
}

static int
open_in_root_how (int rootfd, const char *path, int flags, unsigned long long resolve)
{
  struct open_how how = { .flags = flags | O_CLOEXEC,
                          .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve };
  while (*path == '/')
    path++;
  return (int)syscall (SYS_openat2, rootfd, *path ? path : ".", &how, sizeof how);
}

static int
open_in_root (int rootfd, const char *path, int flags)
{
  return open_in_root_how (rootfd, path, flags, 0);
}

/* proc and sysfs only on a directory reached without a symlink, as runc
   (CVE-2019-19921, CVE-2023-27561: an image's /proc -> elsewhere would
   leave the real /proc unmounted and masked paths pointing nowhere). */
static int
check_plain_dir (int rootfd, const char *dest, const char *type, dk_err_t *err)
{
  cleanup_close int fd = open_in_root_how (rootfd, dest, O_PATH, RESOLVE_NO_SYMLINKS);
  struct stat st;
  if (fd < 0 && errno == ENOENT)
    return 0;
  if ((fd < 0 && errno == ELOOP) || (fd >= 0 && fstat (fd, &st) == 0 && !S_ISDIR (st.st_mode)))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "filesystem \"%s\" must be mounted on ordinary directory", type);
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s` in rootfs", dest);
  return 0;
}

/* Opens path (O_PATH) inside the root, creating missing directories and,
   when is_file, a last component as an empty file. */
static int
ensure_in_root (int rootfd, const char *path, bool is_file, dk_err_t *err)
{
  int fd = open_in_root (rootfd, path, O_PATH);
  if (fd >= 0)
    return fd;
  if (errno != ENOENT)
    return dk_make_error (err, errno, "open `%s` in rootfs", path);
  cleanup_free char *parent = xstrdup (path);
  char *slash = strrchr (parent, '/');
  const char *name = slash ? slash + 1 : parent;
  if (slash)
    *slash = '\0';
  cleanup_close int pfd = ensure_in_root (rootfd, slash ? parent : "", false, err);
  if (pfd < 0)
    return -1;
  /* O_PATH directory fds work as the base of the *at calls */
  if (is_file)
    {
      int f = openat (pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (f < 0 && errno != EEXIST)
        return dk_make_error (err, errno, "create `%s` in rootfs", path);
      if (f >= 0)
        close (f);
    }
  else if (mkdirat (pfd, name, 0755) < 0 && errno != EEXIST)
    return dk_make_error (err, errno, "mkdir `%s` in rootfs", path);
  fd = open_in_root (rootfd, path, O_PATH);
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s` in rootfs", path);
  return fd;
}

static unsigned long
locked_flags (const char *path)
{
  struct statvfs sv;
  unsigned long f = 0;
  if (statvfs (path, &sv) < 0)
    return 0;
  if (sv.f_flag & ST_NOSUID)
    f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV)
    f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC)
    f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME)
    f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME)
    f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME)
    f |= MS_RELATIME;
  return f;
}

/* A remount acts on the mount a fresh walk of the path reaches: an fd opened
   before the mount names the directory under it (and remounting that would
   change the rootfs' own mount). */
static int
remount_in_root (int rootfd, const char *path, unsigned long flags, const char *data, dk_err_t *err)
{
  cleanup_close int fd = open_in_root (rootfd, path, O_PATH);
  if (fd < 0)
    return dk_make_error (err, errno, "reopen mount %s", path);
  char t[64];
  snprintf (t, sizeof t, "/proc/self/fd/%d", fd);
  if (mount (NULL, t, NULL, MS_REMOUNT | flags, data) < 0)
    return dk_make_error (err, errno, "remount `%s`", path);
  return 0;
}

static int
mount_cgroup (int rootfd, const char *dest, const char *target, const struct mspec *m,
              const char *cgroup, dk_err_t *err)
{
  unsigned long ro = m->flags & MS_RDONLY;
  if (dk_cgroup_mode () == DK_CGROUP_V2)
    {
      if (mount ("cgroup2", target, "cgroup2", m->flags, NULL) == 0)
        return 0;
      cleanup_free char *src = dk_cgroup_dir (cgroup, NULL);
      if (mount (src, target, NULL, MS_BIND | MS_REC, NULL) < 0)
        return dk_make_error (err, errno, "mount cgroup on `%s`", dest);
      return 0;
    }
  /* v1: a tmpfs with the container's own directory of each hierarchy */
  if (mount ("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755") < 0)
    return dk_make_error (err, errno, "mount tmpfs on `%s`", dest);
  cleanup_closedir DIR *d = opendir (dk_cgroup_root ());
  struct dirent *de;
  while (d && (de = readdir (d)))
    {
      if (de->d_name[0] == '.' || de->d_type != DT_DIR)
        continue;
      cleanup_free char *h = xasprintf ("%s/%s", dk_cgroup_root (), de->d_name);
      if (!dk_cgroup_is_hierarchy (h))
        continue;
      cleanup_free char *sub = xasprintf ("%s/%s", dest, de->d_name);
      cleanup_close int fd = ensure_in_root (rootfd, sub, false, err);
      if (fd < 0)
        return -1;
      cleanup_free char *src = xasprintf ("%s/%s%s", dk_cgroup_root (), de->d_name, cgroup);
      cleanup_free char *t = xasprintf ("/proc/self/fd/%d", fd);
      if (mount (src, t, NULL, MS_BIND, NULL) < 0)
        continue; /* a hierarchy without our directory */
      if (remount_in_root (rootfd, sub, MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC | ro, NULL, err)
          < 0)
        return -1;
    }
  /* like runc, the tmpfs itself stays writable: the hierarchies are read-only */
  return 0;
}

static int
do_mount (int rootfd, jv mnt, const char *cgroup, dk_err_t *err)
{
  const char *dest = dk_json_str (mnt, "destination");
  const char *type = dk_json_str (mnt, "type");
  const char *src = dk_json_str (mnt, "source");
  if (dest == NULL || dest[0] != '/')
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "mount destination %s not absolute",
                               dest ? dest : "(none)");
  cleanup_jv jv opts = dk_json_get_kind (mnt, "options", JV_KIND_ARRAY);
  struct mspec m;
  parse_options (opts, &m);
  cleanup_free char *data = m.data;
  bool bind = (m.flags & MS_BIND) || (type && strcmp (type, "bind") == 0);
  bool is_file = false;
  if (bind)
    {
      struct stat st;
      if (src == NULL || stat (src, &st) < 0)
        return dk_make_error (err, errno ? errno : EINVAL, "bind mount source `%s`",
                              src ? src : "");
      is_file = !S_ISDIR (st.st_mode);
      m.flags |= MS_BIND;
    }
  if (type && (strcmp (type, "proc") == 0 || strcmp (type, "sysfs") == 0)
      && check_plain_dir (rootfd, dest, type, err) < 0)
    return -1;
  cleanup_close int fd = ensure_in_root (rootfd, dest, is_file, err);
  if (fd < 0)
    return dk_error_wrap (err, "mount %s", dest);
  char target[64];
  snprintf (target, sizeof target, "/proc/self/fd/%d", fd);
  if (type && strcmp (type, "cgroup") == 0)
    return mount_cgroup (rootfd, dest, target, &m, cgroup, err);
  if (bind)
    {
      if (mount (src, target, NULL, m.flags & (MS_BIND | MS_REC), NULL) < 0)
        return dk_make_error (err, errno, "bind mount `%s` on `%s`", src, dest);
    }
  else if (mount (src ? src : type, target, type, m.flags, data) < 0)
    {
      int e = errno;
      /* sysfs needs a network namespace of our own: else bind the host's */
      if (type && strcmp (type, "sysfs") == 0 && e == EPERM
          && mount ("/sys", target, NULL, MS_BIND | MS_REC, NULL) == 0)
        return 0;
      return dk_make_error (err, e, "mount %s on `%s`", type ? type : "(none)", dest);
    }
  unsigned long extra = bind ? m.flags & ~(MS_BIND | MS_REC | MS_REMOUNT) : 0;
  if (!extra && !m.prop)
    return 0;
  /* fd still names the inode under the new mount; only a new walk of the
     path reaches the mount itself, which remount and propagation act on */
  cleanup_close int mfd = open_in_root (rootfd, dest, O_PATH);
  if (mfd < 0)
    return dk_make_error (err, errno, "reopen mount %s", dest);
  snprintf (target, sizeof target, "/proc/self/fd/%d", mfd);
  if (extra)
    {
      /* a remount must keep the flags the kernel locked on the source */
      unsigned long f = MS_BIND | MS_REMOUNT | extra | locked_flags (target);
      if (mount (NULL, target, NULL, f, NULL) < 0)
        return dk_make_error (err, errno, "remount `%s`", dest);
    }
  if (m.prop && mount (NULL, target, NULL, m.prop, NULL) < 0)
    return dk_make_error (err, errno, "set propagation of `%s`", dest);
  return 0;
}

struct dev
{
  const char *path;
  char type;
  unsigned major, minor;
  mode_t mode;
  uid_t uid;
  gid_t gid;
};

static int
make_dev (int rootfd, const struct dev *d, bool userns, dk_err_t *err)
{
  cleanup_close int fd = -1;
  mode_t kind = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
  if (!userns)
    {
      cleanup_free char *parent = xstrdup (d->path);
      char *slash = strrchr (parent, '/');
      *slash = '\0';
      cleanup_close int pfd = ensure_in_root (rootfd, *parent ? parent : "/", false, err);
      if (pfd < 0)
        return -1;
      unlinkat (pfd, slash + 1, 0);
      if (mknodat (pfd, slash + 1, kind | (d->mode & 07777), makedev (d->major, d->minor)) == 0)
        {
          fchownat (pfd, slash + 1, d->uid, d->gid, AT_SYMLINK_NOFOLLOW);
          fchmodat (pfd, slash + 1, d->mode & 07777, 0);
          return 0;
        }
      if (errno != EPERM)
        return dk_make_error (err, errno, "mknod `%s`", d->path);
    }
  /* in a user namespace mknod is refused: bind the host's node */
  fd = ensure_in_root (rootfd, d->path, true, err);
  if (fd < 0)
    return -1;
  char target[64];
  snprintf (target, sizeof target, "/proc/self/fd/%d", fd);
  if (mount (d->path, target, NULL, MS_BIND, NULL) < 0)
    return dk_make_error (err, errno, "bind mount device `%s`", d->path);
  return 0;
}

static int
make_devices (int rootfd, jv config, bool userns, dk_err_t *err)
{
  static const struct dev defaults[] = {
    { "/dev/null", 'c', 1, 3, 0666, 0, 0 },    { "/dev/zero", 'c', 1, 5, 0666, 0, 0 },
    { "/dev/full", 'c', 1, 7, 0666, 0, 0 },    { "/dev/random", 'c', 1, 8, 0666, 0, 0 },
    { "/dev/urandom", 'c', 1, 9, 0666, 0, 0 }, { "/dev/tty", 'c', 5, 0, 0666, 0, 0 },
  };
  for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
    if (make_dev (rootfd, &defaults[i], userns, err) < 0)
      return -1;
  cleanup_jv jv lx = dk_json_get_kind (config, "linux", JV_KIND_OBJECT);
  cleanup_jv jv devs = dk_json_get_kind (lx, "devices", JV_KIND_ARRAY);
  int n = dk_json_len (devs);
  for (int i = 0; i < n; i++)
    {
      cleanup_jv jv d = jv_array_get (jv_copy (devs), i);
      const char *path = dk_json_str (d, "path"), *type = dk_json_str (d, "type");
      int64_t maj = 0, min = 0, mode = 0666, uid = 0, gid = 0;
      dk_json_int (d, "major", &maj);
      dk_json_int (d, "minor", &min);
      dk_json_int (d, "fileMode", &mode);
      dk_json_int (d, "uid", &uid);
      dk_json_int (d, "gid", &gid);
      if (path == NULL || path[0] != '/' || type == NULL)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid device in linux.devices");
      struct dev dv = { path,          type[0] == 'u' ? 'c' : type[0],
                        (unsigned)maj, (unsigned)min,
                        (mode_t)mode,  (uid_t)uid,
                        (gid_t)gid };
      if (make_dev (rootfd, &dv, userns, err) < 0)
        return -1;
    }
  static const char *const links[][2] = { { "/proc/self/fd", "dev/fd" },
                                          { "/proc/self/fd/0", "dev/stdin" },
                                          { "/proc/self/fd/1", "dev/stdout" },
                                          { "/proc/self/fd/2", "dev/stderr" },
                                          { "pts/ptmx", "dev/ptmx" } };
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlinkat (links[i][0], rootfd, links[i][1]) < 0 && errno != EEXIST)
      return dk_make_error (err, errno, "symlink `/%s`", links[i][1]);
  /* a file to bind the pty on, for terminal: true */
  cleanup_jv jv process = dk_json_get_kind (config, "process", JV_KIND_OBJECT);
  bool terminal = false;
  if (dk_json_bool (process, "terminal", &terminal) && terminal)
    {
      int fd = openat (rootfd, "dev/console", O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (fd >= 0)
        close (fd);
    }
  return 0;
}

static int
parent_mount_private (const char *rootfs, dk_err_t *err)
{
  cleanup_free char *parent = xstrdup (rootfs);
  char *slash = strrchr (parent, '/');
  if (slash)
    slash[slash == parent ? 1 : 0] = '\0';
  cleanup_fclose FILE *f = fopen ("/proc/self/mountinfo", "re");
  if (f == NULL)
    return dk_make_error (err, errno, "open mountinfo");
  char *line = NULL, best[4096] = "/";
  size_t cap = 0, best_len = 0;
  while (getline (&line, &cap, f) > 0)
    {
      char mp[4096];
      if (sscanf (line, "%*s %*s %*s %*s %4095s", mp) != 1)
        continue;
      size_t n = strlen (mp);
      bool prefix
          = strncmp (parent, mp, n) == 0 && (parent[n] == '/' || parent[n] == '\0' || n == 1);
      if (prefix && n > best_len)
        {
          best_len = n;
          strcpy (best, mp);
        }
    }
  free (line);
  if (mount (NULL, best, NULL, MS_PRIVATE, NULL) < 0)
    return dk_make_error (err, errno, "make `%s` private", best);
  return 0;
}

int
dk_rootfs_prepare (jv config, const char *rootfs, const char *cgroup, bool userns, dk_err_t *err)
{
  cleanup_jv jv lx = dk_json_get_kind (config, "linux", JV_KIND_OBJECT);
  const char *prop = dk_json_str (lx, "rootfsPropagation");
  unsigned long pflags = MS_SLAVE | MS_REC;
  if (prop)
    {
      bool found = false;
      for (size_t k = 0; k < sizeof mount_opts / sizeof mount_opts[0]; k++)
        if (mount_opts[k].propagation && strcmp (prop, mount_opts[k].name) == 0)
          {
            pflags = mount_opts[k].flag;
            found = true;
          }
      if (!found)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid rootfsPropagation %s", prop);
    }
  /* nothing we mount may propagate back to the host */
  if (mount (NULL, "/", NULL, pflags, NULL) < 0)
    return dk_make_error (err, errno, "set propagation of /");
  /* pivot_root refuses a shared parent of the new root and a shared new
     root: with a shared rootfsPropagation, make the parent mount private
     before the rootfs is bound, so that the bind is private as well */
  if ((pflags & MS_SHARED) && parent_mount_private (rootfs, err) < 0)
    return -1;
  if (mount (rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
    return dk_make_error (err, errno, "bind mount rootfs `%s`", rootfs);
  cleanup_close int rootfd = open (rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return dk_make_error (err, errno, "open rootfs `%s`", rootfs);
  cleanup_jv jv mounts = dk_json_get_kind (config, "mounts", JV_KIND_ARRAY);
  int n = dk_json_len (mounts);
  bool dev_bound = false;
  for (int i = 0; i < n; i++)
    {
      cleanup_jv jv m = jv_array_get (jv_copy (mounts), i);
      if (do_mount (rootfd, m, cgroup, err) < 0)
        return -1;
      const char *dest = dk_json_str (m, "destination"), *type = dk_json_str (m, "type");
      if (dest && strcmp (dest, "/dev") == 0 && type && strcmp (type, "bind") == 0)
        dev_bound = true;
    }
  if (!dev_bound && make_devices (rootfd, config, userns, err) < 0)
    return -1;
  return 0;
}

int
dk_rootfs_pivot (const char *rootfs, bool no_pivot, dk_err_t *err)
{
  if (no_pivot)
    {
      /* --no-pivot (a rootfs on ramfs, where pivot_root is refused): move
         the rootfs over / and chroot; the old root stays reachable to a
         process that can escape a chroot, which is why it is not the default */
      if (chdir (rootfs) < 0 || mount (rootfs, "/", NULL, MS_MOVE, NULL) < 0 || chroot (".") < 0
          || chdir ("/") < 0)
        return dk_make_error (err, errno, "move rootfs to /");
      return 0;
    }
  cleanup_close int oldroot = open ("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  cleanup_close int newroot = open (rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (oldroot < 0 || newroot < 0)
    return dk_make_error (err, errno, "open root");
  if (fchdir (newroot) < 0)
    return dk_make_error (err, errno, "chdir rootfs");
  /* pivot_root(".", ".") stacks the old root on top of the new one; it is
     then unmounted from there, without needing a directory for it */
  if (syscall (SYS_pivot_root, ".", ".") < 0)
    return dk_make_error (err, errno, "pivot_root");
  if (fchdir (oldroot) < 0)
    return dk_make_error (err, errno, "chdir old root");
  /* slave first, so that the detach does not propagate to the host */
  if (mount (NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
    return dk_make_error (err, errno, "make old root slave");
  if (umount2 (".", MNT_DETACH) < 0)
    return dk_make_error (err, errno, "unmount old root");
  if (chdir ("/") < 0)
    return dk_make_error (err, errno, "chdir /");
  return 0;
}

static int
mask_path (const char *p, dk_err_t *err)
{
  struct stat st;
  if (lstat (p, &st) < 0)
    return errno == ENOENT ? 0 : dk_make_error (err, errno, "stat `%s`", p);
  if (S_ISDIR (st.st_mode))
    {
      if (mount ("tmpfs", p, "tmpfs", MS_RDONLY, NULL) < 0)
        return dk_make_error (err, errno, "mask `%s`", p);
    }
  else if (mount ("/dev/null", p, NULL, MS_BIND, NULL) < 0)
    return dk_make_error (err, errno, "mask `%s`", p);
  return 0;
}

static int
readonly_path (const char *p, dk_err_t *err)
{
  if (mount (p, p, NULL, MS_BIND | MS_REC, NULL) < 0)
    return errno == ENOENT ? 0 : dk_make_error (err, errno, "bind `%s`", p);
  unsigned long f = MS_BIND | MS_REMOUNT | MS_RDONLY;
  if (mount (NULL, p, NULL, f | locked_flags (p), NULL) < 0)
    return dk_make_error (err, errno, "remount `%s` read-only", p);
  return 0;
}

static int
for_paths (jv lx, const char *key, int (*fn) (const char *, dk_err_t *), dk_err_t *err)
{
  cleanup_jv jv arr = dk_json_get_kind (lx, key, JV_KIND_ARRAY);
  int n = dk_json_len (arr);
  for (int i = 0; i < n; i++)
    {
      cleanup_jv jv s = jv_array_get (jv_copy (arr), i);
      if (jv_get_kind (s) == JV_KIND_STRING && fn (jv_string_value (s), err) < 0)
        return -1;
    }
  return 0;
}

static int
write_sysctls (jv lx, dk_err_t *err)
{
  cleanup_jv jv sys = dk_json_get_kind (lx, "sysctl", JV_KIND_OBJECT);
  if (!jv_is_valid (sys))
    return 0;
  int ret = 0;
  jv_object_foreach (sys, k, v)
  {
    if (ret == 0 && jv_get_kind (v) == JV_KIND_STRING)
      {
        cleanup_free char *path = xasprintf ("/proc/sys/%s", jv_string_value (k));
        for (char *p = path + 10; *p; p++)
          if (*p == '.')
            *p = '/';
        cleanup_close int fd = open (path, O_WRONLY | O_CLOEXEC);
        const char *val = jv_string_value (v);
        if (fd < 0 || dk_write_all (fd, val, strlen (val)) < 0)
          ret = dk_make_error (err, errno, "write sysctl %s", jv_string_value (k));
      }
    jv_free (k);
    jv_free (v);
  }
  return ret;
}

int
dk_rootfs_finish (jv config, dk_err_t *err)
{
  cleanup_jv jv lx = dk_json_get_kind (config, "linux", JV_KIND_OBJECT);
  if (write_sysctls (lx, err) < 0)
    return -1;
  if (for_paths (lx, "maskedPaths", mask_path, err) < 0
      || for_paths (lx, "readonlyPaths", readonly_path, err) < 0)
    return -1;
  cleanup_jv jv root = dk_json_get_kind (config, "root", JV_KIND_OBJECT);
  bool ro = false;
  if (dk_json_bool (root, "readonly", &ro) && ro
      && mount (NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags ("/"), NULL) < 0)
    return dk_make_error (err, errno, "remount root read-only");
  const char *prop = dk_json_str (lx, "rootfsPropagation");
  unsigned long pflags = MS_PRIVATE | MS_REC;
  for (size_t k = 0; prop && k < sizeof mount_opts / sizeof mount_opts[0]; k++)
    if (mount_opts[k].propagation && strcmp (prop, mount_opts[k].name) == 0)
      pflags = mount_opts[k].flag;
  if (mount (NULL, "/", NULL, pflags, NULL) < 0)
    return dk_make_error (err, errno, "set propagation of / to %s", prop ? prop : "rprivate");
  return 0;
}
