/* Container layers: an rw layer on an image (overlay2: diff/work/merged over
   the image's layers through short links; vfs: a full copy). */
#include "store.h"
#include "atomicfile.h"
#include "cleanup.h"
#include "scratchfile.h"
#include "diff.h"
#include "tarsplit.h"
#include "treecopy.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static bool
valid_id (const char *id)
{
  if (*id == '\0' || strlen (id) > 128)
    return false;
  for (const char *p = id; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
          || *p == '_' || *p == '-' || *p == '.'))
      return false;
  return id[0] != '.';
}

int
container_meta (struct store *s, const char *id, jv *meta, char **dir, dk_err_t *err)
{
  if (!valid_id (id))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid container ID `%s`", id);
  cleanup_free char *d = xasprintf ("%s/containers/%s", s->ddir, id);
  cleanup_free char *mp = xasprintf ("%s/meta.json", d);
  if (access (mp, F_OK) < 0)
    return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "No such container layer: %s", id);
  if (meta && dk_json_read_file (mp, meta, err) < 0)
    return -1;
  if (dir)
    *dir = steal_ptr (&d);
  return 0;
}

static int
add_lower (const char *chain, jv meta, void *data)
{
  if (!jv_is_valid (meta))
    return 0;
  const char *link = dk_json_str (meta, "link");
  jv e = jv_object_set (jv_object (), jv_string ("chain"), jv_string (chain));
  e = jv_object_set (e, jv_string ("link"), jv_string (link ? link : ""));
  *(jv *)data = jv_array_append (*(jv *)data, e);
  return 0;
}

/* The layer chain from top to bottom: [{chain, link}]. */
static int
lowers_of (struct store *s, const char *top, jv *out, dk_err_t *err)
{
  *out = jv_array ();
  return layer_walk (s, top, add_lower, out, err);
}

static int mount_layer (struct store *s, const char *id, char **path, dk_err_t *err);

int
cmd_container_create (struct store *s, int argc, char **argv, dk_err_t *err)
{
  static const struct option longopts[] = { { "image", required_argument, 0, 'i' },
                                            { "mount", no_argument, 0, 'm' },
                                            { "volatile", no_argument, 0, 'v' },
                                            { 0, 0, 0, 0 } };
  const char *image = NULL;
  bool do_mount = false, is_volatile = false;
  int c;
  optind = 0;
  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    if (c == 'i')
      image = optarg;
    else if (c == 'm')
      do_mount = true;
    else if (c == 'v')
      is_volatile = true;
    else
      return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                 "usage: container-create ID --image IMAGE [--mount] [--volatile]");
  if (optind + 1 != argc)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "usage: container-create ID --image IMAGE");
  const char *id = argv[optind];
  if (!valid_id (id))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid container ID `%s`", id);
  cleanup_free char *iid = NULL;
  cleanup_jv jv config = jv_invalid ();
  cleanup_jv jv imeta = jv_invalid ();
  cleanup_free char *top = xstrdup ("");
  if (image && *image)
    {
      if (image_resolve (s, image, &iid, err) < 0 || image_load (s, iid, &config, &imeta, err) < 0)
        return -1;
      cleanup_jv jv chain = image_chain_meta (config, imeta);
      int n = dk_json_len (chain);
      if (n > 0)
        {
          cleanup_jv jv t = jv_array_get (jv_copy (chain), n - 1);
          free (top);
          top = xstrdup (jv_string_value (t));
        }
    }
  struct tmpdir t = { 0 };
  int ret = tmpdir_new (s, &t, err);
  if (ret == 0 && s->overlay)
    {
      const char *sub[] = { "diff", "work", "merged" };
      for (int i = 0; i < 3 && ret == 0; i++)
        {
          cleanup_free char *p = xasprintf ("%s/%s", t.path, sub[i]);
          if (mkdir (p, 0755) < 0)
            ret = dk_make_error (err, errno, "mkdir `%s`", p);
        }
    }
  else if (ret == 0)
    {
      cleanup_free char *rootfs = xasprintf ("%s/rootfs", t.path);
      if (mkdir (rootfs, 0755) < 0)
        ret = dk_make_error (err, errno, "mkdir `%s`", rootfs);
      if (ret == 0 && *top)
        {
          cleanup_free char *ld = layer_dir (s, top);
          cleanup_free char *src = xasprintf ("%s/diff", ld);
          ret = dk_tree_copy (src, rootfs, err);
        }
    }
  if (ret == 0 && (s->n_uidmap || s->n_gidmap))
    {
      /* the container's root owns its writable layer */
      uint32_t uid = 0, gid = 0;
      for (size_t i = 0; i < s->n_uidmap; i++)
        if (s->uidmap[i].container == 0)
          uid = s->uidmap[i].host;
      for (size_t i = 0; i < s->n_gidmap; i++)
        if (s->gidmap[i].container == 0)
          gid = s->gidmap[i].host;
      const char *sub[] = { s->overlay ? "diff" : "rootfs", "merged" };
      for (int i = 0; i < (s->overlay ? 2 : 1) && ret == 0; i++)
        {
          cleanup_free char *p = xasprintf ("%s/%s", t.path, sub[i]);
          if (chown (p, uid, gid) < 0)
            ret = dk_make_error (err, errno, "chown `%s`", p);
        }
    }
  if (ret == 0)
    {
      cleanup_free char *now = now_rfc3339 ();
      jv m = jv_object_set (jv_object (), jv_string ("id"), jv_string (id));
      m = jv_object_set (m, jv_string ("image"), jv_string (iid ? iid : ""));
      m = jv_object_set (m, jv_string ("layer"), jv_string (top));
      m = jv_object_set (m, jv_string ("created"), jv_string (now));
      if (is_volatile && s->overlay)
        m = jv_object_set (m, jv_string ("volatile"), jv_true ());
      cleanup_free char *mp = xasprintf ("%s/meta.json", t.path);
      ret = dk_scratch_write_json (mp, m, err); /* disposable layer */
    }
  if (ret == 0)
    ret = store_lock (s, err);
  if (ret == 0)
    {
      cleanup_free char *dest = xasprintf ("%s/containers/%s", s->ddir, id);
      if (rename (t.path, dest) < 0)
        ret = errno == EEXIST || errno == ENOTEMPTY
                  ? dk_make_error_code (err, DK_ECODE_CONFLICT, 0,
                                        "container layer %s already exists", id)
                  : dk_make_error (err, errno, "rename into `%s`", dest);
      store_unlock (s);
    }
  tmpdir_done (&t);
  if (ret < 0)
    return -1;
  /* --mount: create and mount in one run (one process less for a container
     that is started at once) */
  cleanup_free char *path = NULL;
  dk_err_t merr = NULL;
  if (do_mount && mount_layer (s, id, &path, &merr) < 0)
    {
      /* the layer exists: no "path", container-mount will report it */
      dk_error_release (&merr);
      free (steal_ptr (&path));
    }
  jv r = jv_object_set (result_obj (), jv_string ("id"), jv_string (id));
  r = jv_object_set (r, jv_string ("layer"), jv_string (top));
  if (path)
    r = jv_object_set (r, jv_string ("path"), jv_string (path));
  dk_jsonl_write (stdout, r);
  return 0;
}

static bool
is_mounted (const char *dir, const char *merged)
{
  struct stat a, b;
  return stat (dir, &a) == 0 && stat (merged, &b) == 0 && a.st_dev != b.st_dev;
}

static int
ensure_link (struct store *s, const char *chain, const char *link, dk_err_t *err)
{
  cleanup_free char *lp = xasprintf ("%s/l/%s", s->ddir, link);
  struct stat st;
  if (stat (lp, &st) == 0)
    return 0;
  unlink (lp);
  cleanup_free char *target = xasprintf ("../layers/%s/diff", dk_digest_hex (chain));
  if (symlink (target, lp) < 0)
    return dk_make_error (err, errno, "symlink `%s`", lp);
  return 0;
}

/* Mounts the container layer ID (a no-op when mounted); *path: its root. */
static int
mount_layer (struct store *s, const char *id, char **path, dk_err_t *err)
{
  cleanup_jv jv meta = jv_invalid ();
  cleanup_free char *dir = NULL;
  if (container_meta (s, id, &meta, &dir, err) < 0)
    return -1;
  if (!s->overlay)
    {
      *path = xasprintf ("%s/rootfs", dir);
      return 0;
    }
  cleanup_free char *merged = xasprintf ("%s/merged", dir);
  if (!is_mounted (dir, merged))
    {
      cleanup_jv jv lowers = jv_invalid ();
      if (lowers_of (s, dk_json_str (meta, "layer"), &lowers, err) < 0)
        return -1;
      struct dk_buf lo = DK_BUF_INIT;
      jv_array_foreach (lowers, i, l)
      {
        const char *link = dk_json_str (l, "link");
        if (ensure_link (s, dk_json_str (l, "chain"), link, err) < 0)
          {
            jv_free (l);
            dk_buf_free (&lo);
            return -1;
          }
        dk_buf_printf (&lo, "%sl/%s", lo.len ? ":" : "", link);
        jv_free (l);
      }
      if (lo.len == 0)
        {
          /* overlay needs a lower layer: an empty one for an empty image */
          cleanup_free char *empty = xasprintf ("%s/empty", dir);
          mkdir (empty, 0755);
          dk_buf_printf (&lo, "containers/%s/empty", id);
        }
      /* relative paths from the driver directory keep 125 layers within the
         one page the kernel copies mount options into */
      bool vol = false;
      if (dk_json_bool (meta, "volatile", &vol) && vol)
        {
          /* a volatile mount leaves work/work/incompat/volatile, and the
             kernel refuses the next mount while it exists: the layer is a
             --rm container's, whose upper dir is not kept across a crash */
          cleanup_free char *inc = xasprintf ("%s/work/work/incompat", dir);
          cleanup_free char *v = xasprintf ("%s/volatile", inc);
          if (dk_remove_tree (v, err) < 0)
            return -1;
          if (rmdir (inc) < 0 && errno != ENOENT)
            return dk_make_error (err, errno, "remove `%s`", inc);
        }
      cleanup_free char *opts = xasprintf ("lowerdir=%s,upperdir=containers/%s/diff,"
                                           "workdir=containers/%s/work%s",
                                           lo.data, id, id, vol ? ",volatile" : "");
      dk_buf_free (&lo);
      if (strlen (opts) >= (size_t)getpagesize ())
        return dk_make_error_code (err, DK_ECODE_INTERNAL, 0,
                                   "too many layers to mount (%zu bytes of mount options)",
                                   strlen (opts));
      cleanup_free char *rel = xasprintf ("containers/%s/merged", id);
      cleanup_close int cwd = open (".", O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (chdir (s->ddir) < 0)
        return dk_make_error (err, errno, "chdir `%s`", s->ddir);
      int r = mount ("overlay", rel, "overlay", 0, opts);
      int e = errno;
      if (cwd >= 0 && fchdir (cwd) < 0)
        return dk_make_error (err, errno, "fchdir");
      if (r < 0)
        return dk_make_error (err, e, "mount overlay on `%s`", merged);
    }
  *path = steal_ptr (&merged);
  return 0;
}

int
cmd_container_mount (struct store *s, int argc, char **argv, dk_err_t *err)
{
  if (argc != 2)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: container-mount ID");
  cleanup_free char *path = NULL;
  if (mount_layer (s, argv[1], &path, err) < 0)
    return -1;
  dk_jsonl_write (stdout, jv_object_set (result_obj (), jv_string ("path"), jv_string (path)));
  return 0;
}

static int
unmount (const char *dir, dk_err_t *err)
{
  cleanup_free char *merged = xasprintf ("%s/merged", dir);
  if (!is_mounted (dir, merged))
    return 0;
  if (umount2 (merged, 0) < 0 && umount2 (merged, MNT_DETACH) < 0)
    return dk_make_error (err, errno, "unmount `%s`", merged);
  return 0;
}

int
cmd_container_unmount (struct store *s, int argc, char **argv, dk_err_t *err)
{
  if (argc != 2)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: container-unmount ID");
  cleanup_free char *dir = NULL;
  if (container_meta (s, argv[1], NULL, &dir, err) < 0 || unmount (dir, err) < 0)
    return -1;
  dk_jsonl_write (stdout, result_obj ());
  return 0;
}

/* The layer is renamed into tmp/ under the lock: from then on it is gone
   for every command, and a crash leaves it to the next store_open. The
   unmount (which syncs the upper file system) and the delete run in a child
   after the result is out. */
int
cmd_container_rm (struct store *s, int argc, char **argv, dk_err_t *err)
{
  if (argc != 2)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: container-rm ID");
  cleanup_free char *dir = NULL;
  if (container_meta (s, argv[1], NULL, &dir, err) < 0)
    return -1;
  struct tmpdir t = { 0 };
  if (tmpdir_new (s, &t, err) < 0 || store_lock (s, err) < 0)
    {
      tmpdir_done (&t);
      return -1;
    }
  cleanup_free char *dest = xasprintf ("%s/c", t.path);
  int r = rename (dir, dest);
  int e = errno;
  store_unlock (s);
  if (r < 0)
    {
      tmpdir_done (&t);
      return dk_make_error (err, e, "remove container layer %s", argv[1]);
    }
  dk_jsonl_write (stdout, result_obj ());
  if (getenv ("DK_GRAPH_RM_CRASH"))
    _exit (9); /* tests: a kill -9 between the rename and the cleanup */
  tmpdir_done_background (&t);
  return 0;
}

/* Lower layer directories (top first), absolute. */
static char **
lower_dirs (struct store *s, const char *top, int *n, dk_err_t *err)
{
  cleanup_jv jv lowers = jv_invalid ();
  if (lowers_of (s, top, &lowers, err) < 0)
    return NULL;
  *n = dk_json_len (lowers);
  char **v = xzalloc ((*n + 1) * sizeof *v);
  jv_array_foreach (lowers, i, l)
  {
    cleanup_free char *ld = layer_dir (s, dk_json_str (l, "chain"));
    v[i] = xasprintf ("%s/diff", ld);
    jv_free (l);
  }
  return v;
}

int
container_changes_vfs (struct store *s, const char *dir, const char *top, jv *changes,
                       dk_err_t *err)
{
  cleanup_free char *rootfs = xasprintf ("%s/rootfs", dir);
  cleanup_free char *ld = top && *top ? layer_dir (s, top) : NULL;
  cleanup_free char *old = ld ? xasprintf ("%s/diff", ld) : NULL;
  return changes_dirs (rootfs, old, changes, err);
}

int
cmd_container_changes (struct store *s, int argc, char **argv, dk_err_t *err)
{
  if (argc != 2)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: container-changes ID");
  cleanup_jv jv meta = jv_invalid ();
  cleanup_free char *dir = NULL;
  if (container_meta (s, argv[1], &meta, &dir, err) < 0)
    return -1;
  const char *top = dk_json_str (meta, "layer");
  jv changes = jv_invalid ();
  if (s->overlay)
    {
      int n = 0;
      cleanup_strv char **lowers = lower_dirs (s, top, &n, err);
      if (lowers == NULL)
        return -1;
      cleanup_free char *upper = xasprintf ("%s/diff", dir);
      if (changes_overlay (upper, lowers, n, &changes, err) < 0)
        return -1;
    }
  else if (container_changes_vfs (s, dir, top, &changes, err) < 0)
    {
      jv_free (changes);
      return -1;
    }
  dk_jsonl_write (stdout, jv_object_set (result_obj (), jv_string ("changes"), changes));
  return 0;
}

static int
out_fd (int argc, char **argv, const char *what, char **path, dk_err_t *err)
{
  static const struct option longopts[]
      = { { "output", required_argument, 0, 'o' }, { 0, 0, 0, 0 } };
  const char *o = "-";
  int c;
  optind = 0;
  while ((c = getopt_long (argc, argv, "o:", longopts, NULL)) != -1)
    if (c == 'o')
      o = optarg;
    else
      return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: %s ID [-o FILE|-]", what);
  if (optind + 1 != argc)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: %s ID [-o FILE|-]", what);
  if (strcmp (o, "-") == 0)
    return dup (1);
  *path = xstrdup (o);
  int fd = open (o, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  return fd < 0 ? dk_make_error (err, errno, "open `%s`", o) : fd;
}

static int
write_diff (struct store *s, const char *dir, const char *old, int fd, dk_err_t *err)
{
  if (s->overlay)
    return tar_overlay_dir (dir, fd, err);
  cleanup_jv jv changes = jv_invalid ();
  if (changes_dirs (dir, old, &changes, err) < 0)
    return -1;
  return tar_changes (dir, changes, fd, err);
}

static void
done_file (const char *path)
{
  if (path)
    dk_jsonl_write (stdout, jv_object_set (result_obj (), jv_string ("path"), jv_string (path)));
}

int
cmd_container_diff (struct store *s, int argc, char **argv, dk_err_t *err)
{
  cleanup_free char *path = NULL;
  cleanup_close int fd = out_fd (argc, argv, "container-diff", &path, err);
  if (fd < 0)
    return -1;
  cleanup_jv jv meta = jv_invalid ();
  cleanup_free char *dir = NULL;
  if (container_meta (s, argv[optind], &meta, &dir, err) < 0)
    return -1;
  const char *top = dk_json_str (meta, "layer");
  cleanup_free char *ld = top && *top ? layer_dir (s, top) : NULL;
  cleanup_free char *old = ld ? xasprintf ("%s/diff", ld) : NULL;
  cleanup_free char *src = xasprintf ("%s/%s", dir, s->overlay ? "diff" : "rootfs");
  if (write_diff (s, src, old, fd, err) < 0)
    return -1;
  done_file (path);
  return 0;
}

int
cmd_layer_diff (struct store *s, int argc, char **argv, dk_err_t *err)
{
  cleanup_free char *path = NULL;
  cleanup_close int fd = out_fd (argc, argv, "layer-diff", &path, err);
  if (fd < 0)
    return -1;
  cleanup_jv jv meta = jv_invalid ();
  const char *chain = argv[optind];
  if (layer_meta (s, chain, &meta, err) < 0)
    return -1;
  const char *parent = dk_json_str (meta, "parent");
  cleanup_free char *pd = parent && *parent ? layer_dir (s, parent) : NULL;
  cleanup_free char *old = pd ? xasprintf ("%s/diff", pd) : NULL;
  cleanup_free char *ld = layer_dir (s, chain);
  cleanup_free char *src = xasprintf ("%s/diff", ld);
  cleanup_free char *split = xasprintf ("%s/tar-split.zst", ld);
  if (access (split, F_OK) == 0)
    {
      /* the exact bytes that were registered */
      char digest[DK_DIGEST_STR_LEN];
      uint64_t size;
      const char *want = dk_json_str (meta, "diff_id");
      if (dk_tarsplit_assemble (ld, src, fd, digest, &size, err) < 0)
        return -1;
      if (want && strcmp (want, digest) != 0)
        {
          if (path)
            unlink (path);
          return dk_make_error_code (err, DK_ECODE_INTERNAL, 0,
                                     "layer %s: rebuilt tar has digest %s, not its diff ID %s",
                                     chain, digest, want);
        }
    }
  else if (write_diff (s, src, old, fd, err) < 0)
    return -1;
  done_file (path);
  return 0;
}
