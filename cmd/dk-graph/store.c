#include "store.h"
#include "atomicfile.h"
#include "cleanup.h"
#include "lock.h"
#include "reference.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

jv
result_obj (void)
{
  return jv_object_set (jv_object (), jv_string ("type"), jv_string ("result"));
}

/* Mount points at or under dir, from /proc/self/mountinfo, deepest first. */
static char **
mounts_under (const char *dir, size_t *n)
{
  *n = 0;
  cleanup_fclose FILE *f = fopen ("/proc/self/mountinfo", "re");
  if (f == NULL)
    return NULL;
  char **v = NULL;
  size_t dl = strlen (dir);
  cleanup_free char *line = NULL;
  size_t cap = 0;
  while (getline (&line, &cap, f) > 0)
    {
      /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...", octal escapes in paths */
      char *p = line;
      for (int field = 0; field < 4 && p; field++)
        p = strchr (p, ' ') ? strchr (p, ' ') + 1 : NULL;
      if (p == NULL)
        continue;
      char *end = strchr (p, ' ');
      if (end)
        *end = '\0';
      char *mp = xmalloc (strlen (p) + 1), *o = mp;
      for (; *p; p++)
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0'
            && p[3] <= '7')
          {
            *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
          }
        else
          *o++ = *p;
      *o = '\0';
      if (strncmp (mp, dir, dl) == 0 && (mp[dl] == '/' || mp[dl] == '\0'))
        {
          v = xrealloc (v, (*n + 1) * sizeof *v);
          v[(*n)++] = mp;
        }
      else
        free (mp);
    }
  /* a longer path cannot be an ancestor: unmount the longest first */
  for (size_t i = 0; i < *n; i++)
    for (size_t j = i + 1; j < *n; j++)
      if (strlen (v[j]) > strlen (v[i]))
        {
          char *x = v[i];
          v[i] = v[j];
          v[j] = x;
        }
  return v;
}

void
unmount_under (const char *dir)
{
  size_t n = 0;
  char **v = mounts_under (dir, &n);
  for (size_t i = 0; i < n; i++)
    {
      umount2 (v[i], MNT_DETACH);
      free (v[i]);
    }
  free (v);
}

static void
clean_tmp (struct store *s)
{
  cleanup_closedir DIR *d = opendir (s->tmp);
  if (d == NULL)
    return;
  struct dirent *de;
  while ((de = readdir (d)))
    {
      size_t l = strlen (de->d_name);
      if (l < 6 || strcmp (de->d_name + l - 5, ".lock") != 0)
        continue;
      cleanup_free char *lock = xasprintf ("%s/%s", s->tmp, de->d_name);
      cleanup_free char *dir = xasprintf ("%s/%.*s", s->tmp, (int)(l - 5), de->d_name);
      cleanup_close int fd = open (lock, O_RDWR | O_CLOEXEC);
      if (fd < 0 || flock (fd, LOCK_EX | LOCK_NB) < 0)
        continue; /* its owner is alive */
      /* a container layer removed by a process that died before unmounting */
      unmount_under (dir);
      dk_err_t e = NULL;
      if (dk_remove_tree (dir, &e) == 0)
        unlink (lock);
      dk_error_release (&e);
    }
}

void
store_clean_links (struct store *s)
{
  cleanup_free char *l = xasprintf ("%s/l", s->ddir);
  cleanup_closedir DIR *d = opendir (l);
  if (d == NULL)
    return;
  struct dirent *de;
  struct stat st;
  while ((de = readdir (d)))
    if (de->d_name[0] != '.' && fstatat (dirfd (d), de->d_name, &st, 0) < 0 && errno == ENOENT)
      unlinkat (dirfd (d), de->d_name, 0);
}

/* ext4 without a journal skips inodes freed in the last 60-360 s one by one
   at every inode allocation (fs/ext4/ialloc.c, recently_deleted); a layer
   of 20,000 files unpacked in the block group of a tree just deleted spent
   12-20 s of system time there.  The Orlov allocator places the children of
   a "top directory" in a group of their own, so tmp/ (where every layer is
   unpacked) gets the flag.  A hint only: errors are ignored. */
static void
mark_topdir (const char *dir)
{
  cleanup_close int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int flags = 0;
  if (fd >= 0 && ioctl (fd, FS_IOC_GETFLAGS, &flags) == 0)
    {
      flags |= FS_TOPDIR_FL;
      ioctl (fd, FS_IOC_SETFLAGS, &flags);
    }
}

int
store_open (struct store *s, const char *root, const char *driver, dk_err_t *err)
{
  memset (s, 0, sizeof *s);
  s->lockfd = -1;
  if (strcmp (driver, "overlay2") != 0 && strcmp (driver, "vfs") != 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "unknown storage driver `%s`", driver);
  char *abs = realpath (root, NULL);
  if (abs == NULL)
    {
      if (dk_mkdir_p (root, 0710, err) < 0)
        return -1;
      abs = realpath (root, NULL);
      if (abs == NULL)
        return dk_make_error (err, errno, "resolve `%s`", root);
    }
  s->root = abs;
  s->driver = xstrdup (driver);
  s->overlay = strcmp (driver, "overlay2") == 0;
  s->ddir = xasprintf ("%s/%s", abs, driver);
  s->idir = xasprintf ("%s/image/%s", abs, driver);
  s->tmp = xasprintf ("%s/tmp", abs);
  cleanup_free char *layers = xasprintf ("%s/layers", s->ddir);
  cleanup_free char *links = xasprintf ("%s/l", s->ddir);
  cleanup_free char *conts = xasprintf ("%s/containers", s->ddir);
  cleanup_free char *c = xasprintf ("%s/content/sha256", s->idir);
  cleanup_free char *im = xasprintf ("%s/images", s->idir);
  const char *dirs[] = { layers, links, conts, c, im, s->tmp };
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    {
      /* one syscall when it exists (every run but the first) */
      struct stat st;
      if (stat (dirs[i], &st) < 0)
        {
          if (dk_mkdir_p (dirs[i], 0700, err) < 0)
            return -1;
          if (dirs[i] == s->tmp)
            mark_topdir (s->tmp);
        }
    }
  if (store_lock (s, err) < 0)
    return -1;
  clean_tmp (s);
  store_unlock (s);
  return 0;
}

void
store_close (struct store *s)
{
  store_unlock (s);
  tmpdir_done_background (&s->trash);
  free (s->root);
  free (s->driver);
  free (s->ddir);
  free (s->idir);
  free (s->tmp);
  free (s->uidmap);
  free (s->gidmap);
}

int
store_lock (struct store *s, dk_err_t *err)
{
  if (s->lockfd >= 0)
    return 0;
  cleanup_free char *p = xasprintf ("%s/graph.lock", s->root);
  s->lockfd = dk_lock_acquire (p, true, err);
  return s->lockfd < 0 ? -1 : 0;
}

void
store_unlock (struct store *s)
{
  dk_lock_release (s->lockfd);
  s->lockfd = -1;
}

int
tmpdir_new (struct store *s, struct tmpdir *t, dk_err_t *err)
{
  unsigned char rnd[8];
  if (getrandom (rnd, sizeof rnd, 0) != sizeof rnd)
    return dk_make_error (err, errno, "getrandom");
  char name[17];
  for (int i = 0; i < 8; i++)
    sprintf (name + 2 * i, "%02x", rnd[i]);
  cleanup_free char *lock = xasprintf ("%s/%s.lock", s->tmp, name);
  t->lockfd = dk_lock_acquire (lock, true, err);
  if (t->lockfd < 0)
    return -1;
  t->path = xasprintf ("%s/%s", s->tmp, name);
  if (mkdir (t->path, 0700) < 0)
    return dk_make_error (err, errno, "mkdir `%s`", t->path);
  return 0;
}

void
tmpdir_done (struct tmpdir *t)
{
  if (t->path == NULL)
    return;
  dk_err_t e = NULL;
  dk_remove_tree (t->path, &e);
  dk_error_release (&e);
  cleanup_free char *lock = xasprintf ("%s.lock", t->path);
  unlink (lock);
  dk_lock_release (t->lockfd);
  free (t->path);
  t->path = NULL;
}

void
tmpdir_done_background (struct tmpdir *t)
{
  if (t->path == NULL)
    return;
  fflush (stdout);
  fflush (stderr);
  pid_t pid = fork ();
  if (pid == 0)
    {
      /* its own session, and none of the caller's pipes: whoever waits for
         our exit and for EOF on stdout is not held up */
      setsid ();
      int nul = open ("/dev/null", O_RDWR | O_CLOEXEC);
      if (nul >= 0)
        for (int fd = 0; fd < 3; fd++)
          dup2 (nul, fd);
      /* nothing else of the parent's: above all not a store lock */
      if (t->lockfd > 3)
        close_range (3, t->lockfd - 1, 0);
      close_range (t->lockfd + 1, ~0U, 0);
      unmount_under (t->path);
      tmpdir_done (t);
      _exit (0);
    }
  if (pid < 0)
    {
      unmount_under (t->path);
      tmpdir_done (t);
      return;
    }
  /* the child's copy of the lock fd keeps the flock */
  close (t->lockfd);
  free (t->path);
  t->path = NULL;
}

char *
layer_dir (struct store *s, const char *chain_id)
{
  return xasprintf ("%s/layers/%s", s->ddir, dk_digest_hex (chain_id));
}

bool
layer_exists (struct store *s, const char *chain_id)
{
  if (!dk_digest_is_valid (chain_id))
    return false;
  cleanup_free char *d = layer_dir (s, chain_id);
  cleanup_free char *m = xasprintf ("%s/meta.json", d);
  return access (m, F_OK) == 0;
}

int
layer_meta (struct store *s, const char *chain_id, jv *out, dk_err_t *err)
{
  if (!layer_exists (s, chain_id))
    return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "layer %s not found", chain_id);
  cleanup_free char *d = layer_dir (s, chain_id);
  cleanup_free char *m = xasprintf ("%s/meta.json", d);
  return dk_json_read_file (m, out, err);
}

int
layer_walk (struct store *s, const char *top, layer_walk_fn fn, void *data, dk_err_t *err)
{
  cleanup_free char *cur = xstrdup (top ? top : "");
  /* a meta.json naming itself (or a descendant) as parent would make the
     walk endless */
  cleanup_jv jv seen = jv_object ();
  while (*cur)
    {
      if (jv_object_has (jv_copy (seen), jv_string (cur)))
        return dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "layer %s: parent chain loops", cur);
      seen = jv_object_set (seen, jv_string (cur), jv_true ());
      cleanup_jv jv m = jv_invalid ();
      int r = layer_meta (s, cur, &m, err);
      int f = fn (cur, m, data);
      if (r < 0)
        return err ? -1 : 0;
      if (f < 0)
        return f;
      const char *parent = dk_json_str (m, "parent");
      free (cur);
      cur = xstrdup (parent ? parent : "");
    }
  return 0;
}

void
container_walk (struct store *s, meta_walk_fn fn, void *data)
{
  meta_walk (s, "containers", fn, data);
}

void
meta_walk (struct store *s, const char *sub, meta_walk_fn fn, void *data)
{
  cleanup_free char *dir = xasprintf ("%s/%s", s->ddir, sub);
  cleanup_closedir DIR *d = opendir (dir);
  struct dirent *de;
  while (d && (de = readdir (d)))
    {
      if (de->d_name[0] == '.')
        continue;
      cleanup_free char *mp = xasprintf ("%s/%s/meta.json", dir, de->d_name);
      cleanup_jv jv m = jv_invalid ();
      if (dk_json_read_file (mp, &m, NULL) == 0)
        fn (de->d_name, m, data);
    }
}

void
chain_id_of (const char *parent, const char *diff_id, char out[DK_DIGEST_STR_LEN])
{
  if (parent == NULL || *parent == '\0')
    {
      snprintf (out, DK_DIGEST_STR_LEN, "%s", diff_id);
      return;
    }
  cleanup_free char *s = xasprintf ("%s %s", parent, diff_id);
  dk_sha256_buf (s, strlen (s), out);
}

jv
image_chain (jv config)
{
  jv out = jv_array ();
  jv rootfs = dk_json_get_kind (config, "rootfs", JV_KIND_OBJECT);
  jv ids = dk_json_get_kind (rootfs, "diff_ids", JV_KIND_ARRAY);
  char chain[DK_DIGEST_STR_LEN] = "";
  int n = dk_json_len (ids);
  for (int i = 0; i < n; i++)
    {
      jv d = jv_array_get (jv_copy (ids), i);
      if (jv_get_kind (d) == JV_KIND_STRING)
        {
          char next[DK_DIGEST_STR_LEN];
          chain_id_of (chain, jv_string_value (d), next);
          memcpy (chain, next, sizeof chain);
          out = jv_array_append (out, jv_string (chain));
        }
      jv_free (d);
    }
  jv_free (ids);
  jv_free (rootfs);
  return out;
}

jv
image_chain_meta (jv config, jv meta)
{
  cleanup_jv jv rootfs = dk_json_get_kind (config, "rootfs", JV_KIND_OBJECT);
  cleanup_jv jv ids = dk_json_get_kind (rootfs, "diff_ids", JV_KIND_ARRAY);
  jv chain = jv_is_valid (meta) ? dk_json_get_kind (meta, "chain", JV_KIND_ARRAY) : jv_invalid ();
  if (jv_is_valid (chain) && dk_json_len (chain) == dk_json_len (ids))
    {
      bool ok = true;
      jv_array_foreach (chain, i, c)
      {
        ok &= jv_get_kind (c) == JV_KIND_STRING && dk_digest_is_valid (jv_string_value (c));
        jv_free (c);
      }
      if (ok)
        return chain;
    }
  jv_free (chain);
  return image_chain (config);
}

jv
image_ids (struct store *s)
{
  jv out = jv_array ();
  cleanup_free char *dir = xasprintf ("%s/images", s->idir);
  cleanup_closedir DIR *d = opendir (dir);
  struct dirent *de;
  while (d && (de = readdir (d)))
    if (strlen (de->d_name) == 64 + 5)
      out = jv_array_append (out, jv_string_fmt ("sha256:%.64s", de->d_name));
  return out;
}

int
image_load (struct store *s, const char *id, jv *config, jv *meta, dk_err_t *err)
{
  if (!dk_digest_is_valid (id))
    return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "No such image: %s", id);
  cleanup_free char *mp = xasprintf ("%s/images/%s.json", s->idir, dk_digest_hex (id));
  if (access (mp, F_OK) < 0)
    return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "No such image: %s", id);
  if (meta && dk_json_read_file (mp, meta, err) < 0)
    return -1;
  if (config)
    {
      cleanup_free char *cp = xasprintf ("%s/content/sha256/%s", s->idir, dk_digest_hex (id));
      if (dk_json_read_file (cp, config, err) < 0)
        return -1;
    }
  return 0;
}

int
refs_load (struct store *s, jv *out, dk_err_t *err)
{
  cleanup_free char *p = xasprintf ("%s/repositories.json", s->idir);
  if (access (p, F_OK) < 0)
    {
      *out = jv_object ();
      return 0;
    }
  if (dk_json_read_file (p, out, err) < 0)
    return -1;
  if (jv_get_kind (*out) != JV_KIND_OBJECT)
    {
      jv_free (*out);
      *out = jv_object ();
    }
  return 0;
}

int
refs_save (struct store *s, jv refs, dk_err_t *err)
{
  cleanup_free char *p = xasprintf ("%s/repositories.json", s->idir);
  return dk_atomic_write_json (p, refs, err);
}

static bool
is_hex (const char *s)
{
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return false;
  return true;
}

int
image_resolve (struct store *s, const char *ref, char **id, dk_err_t *err)
{
  const char *hex = strncmp (ref, "sha256:", 7) == 0 ? ref + 7 : NULL;
  if (hex && dk_is_sha256_hex (hex))
    {
      cleanup_free char *full = xstrdup (ref);
      if (image_load (s, full, NULL, NULL, NULL) == 0)
        {
          *id = steal_ptr (&full);
          return 0;
        }
      return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "No such image: %s", ref);
    }
  if (dk_is_sha256_hex (ref))
    {
      cleanup_free char *full = xasprintf ("sha256:%s", ref);
      if (image_load (s, full, NULL, NULL, NULL) == 0)
        {
          *id = steal_ptr (&full);
          return 0;
        }
    }
  struct dk_ref r;
  dk_err_t perr = NULL;
  if (dk_ref_parse (ref, &r, &perr) == 0)
    {
      cleanup_free char *key = dk_ref_string (&r);
      dk_ref_free (&r);
      cleanup_jv jv refs = jv_invalid ();
      if (refs_load (s, &refs, err) < 0)
        return -1;
      const char *v = dk_json_str (refs, key);
      if (v && image_load (s, v, NULL, NULL, NULL) == 0)
        {
          *id = xstrdup (v);
          return 0;
        }
    }
  dk_error_release (&perr);
  /* a short ID: a unique prefix of an image ID */
  const char *prefix = hex ? hex : ref;
  if (is_hex (prefix))
    {
      cleanup_free char *dir = xasprintf ("%s/images", s->idir);
      cleanup_closedir DIR *d = opendir (dir);
      struct dirent *de;
      cleanup_free char *found = NULL;
      size_t pl = strlen (prefix);
      while (d && (de = readdir (d)))
        if (strncmp (de->d_name, prefix, pl) == 0 && strlen (de->d_name) == 64 + 5)
          {
            if (found)
              return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                         "multiple IDs found with provided prefix: %s", prefix);
            found = xasprintf ("sha256:%.64s", de->d_name);
          }
      if (found)
        {
          *id = steal_ptr (&found);
          return 0;
        }
    }
  return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "No such image: %s", ref);
}

int64_t
parse_time (const char *s)
{
  if (s == NULL)
    return 0;
  struct tm tm = { 0 };
  const char *p = strptime (s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (p == NULL)
    return 0;
  int64_t t = timegm (&tm);
  if (*p == '.')
    for (p++; *p >= '0' && *p <= '9'; p++)
      ;
  if (*p == '+' || *p == '-')
    {
      int hh = 0, mm = 0;
      if (sscanf (p + 1, "%d:%d", &hh, &mm) == 2)
        t += (*p == '+' ? -1 : 1) * (hh * 3600 + mm * 60);
    }
  return t;
}

char *
now_rfc3339 (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r (&ts.tv_sec, &tm);
  char buf[64];
  strftime (buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return xasprintf ("%s.%09ldZ", buf, ts.tv_nsec);
}
