/* Layers by chain ID: registration through dk_layer_unpack into tmp/, then a
   rename into layers/ under the store lock. */
#include "store.h"
#include "atomicfile.h"
#include "cleanup.h"
#include "unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int
short_link (struct store *s, const char *chain_id, char out[27], dk_err_t *err)
{
  static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  unsigned char rnd[26];
  if (getrandom (rnd, sizeof rnd, 0) != sizeof rnd)
    return dk_make_error (err, errno, "getrandom");
  for (int i = 0; i < 26; i++)
    out[i] = alnum[rnd[i] % 36];
  out[26] = '\0';
  cleanup_free char *lp = xasprintf ("%s/l/%s", s->ddir, out);
  cleanup_free char *target = xasprintf ("../layers/%s/diff", dk_digest_hex (chain_id));
  if (symlink (target, lp) < 0)
    return dk_make_error (err, errno, "symlink `%s`", lp);
  return 0;
}

/* Takes the store lock once parent (if any) exists, waiting up to secs,
   and only while the process that started us lives: a pull killed by
   dockerd (SIGTERM, no cleanup) never brings the parent, and its waiting
   children would keep their unpacked layers in tmp/ for the whole wait. */
static int
wait_for_parent (struct store *s, const char *parent, long secs, dk_err_t *err)
{
  struct timespec start, now;
  clock_gettime (CLOCK_MONOTONIC, &start);
  pid_t starter = getppid ();
  for (;;)
    {
      if (store_lock (s, err) < 0)
        return -1;
      if (parent == NULL || layer_exists (s, parent))
        return 0;
      store_unlock (s);
      if (getppid () != starter)
        return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0,
                                   "parent layer %s not found (the process waiting for it is gone)",
                                   parent);
      clock_gettime (CLOCK_MONOTONIC, &now);
      if (now.tv_sec - start.tv_sec >= secs)
        return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "parent layer %s not found", parent);
      struct timespec ts = { 0, 20 * 1000 * 1000 };
      nanosleep (&ts, NULL);
    }
}

static void
drain (int fd)
{
  char buf[65536];
  ssize_t n;
  while ((n = read (fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    ;
}

static jv
make_result (const char *chain, const char *diff_id, jv size, bool existed)
{
  jv r = result_obj ();
  r = jv_object_set (r, jv_string ("chain_id"), jv_string (chain));
  r = jv_object_set (r, jv_string ("diff_id"), jv_string (diff_id));
  r = jv_object_set (r, jv_string ("size"), size);
  r = jv_object_set (r, jv_string ("existed"), jv_bool (existed));
  return r;
}

static jv
existing_result (struct store *s, const char *chain)
{
  cleanup_jv jv meta = jv_invalid ();
  int64_t size = 0;
  const char *diff_id = "";
  if (layer_meta (s, chain, &meta, NULL) == 0)
    {
      dk_json_int (meta, "size", &size);
      diff_id = dk_json_str (meta, "diff_id") ? dk_json_str (meta, "diff_id") : "";
    }
  return make_result (chain, diff_id, dk_json_int64 (size), true);
}

/* Under the store lock: a pull that holds the layer (tmp/<its dir>/holds,
   written before) then either sees it gone or sees it while no
   layer-release can remove it any more; h is held from here on. */
int
layer_exists_locked (struct store *s, const char *chain, struct holds *h, dk_err_t *err)
{
  if (store_lock (s, err) < 0)
    return -1;
  int e = layer_exists (s, chain);
  if (e && h && holds_add (h, chain, err) < 0)
    e = -1;
  store_unlock (s);
  return e;
}

int
layer_register_fd (struct store *s, int fd, const char *parent, const struct dk_unpack_opts *opts,
                   long wait_secs, struct holds *h, jv *result, dk_err_t *err)
{
  struct dk_unpack_opts o = *opts;
  o.whiteouts = s->overlay ? DK_WHITEOUT_OVERLAY : DK_WHITEOUT_DELETE;
  o.uidmap = s->uidmap;
  o.n_uidmap = s->n_uidmap;
  o.gidmap = s->gidmap;
  o.n_gidmap = s->n_gidmap;
  cleanup_free char *parent_diff = NULL;
  if (parent && !s->overlay)
    {
      cleanup_free char *pd = layer_dir (s, parent);
      parent_diff = xasprintf ("%s/diff", pd);
      o.parent_dir = parent_diff;
    }
  struct tmpdir t = { 0 };
  if (tmpdir_new (s, &t, err) < 0)
    {
      tmpdir_done (&t);
      return -1;
    }
  cleanup_free char *diff = xasprintf ("%s/diff", t.path);
  o.tarsplit_dir = t.path;
  struct dk_unpack_result r;
  if (dk_layer_unpack (fd, diff, &o, &r, err) < 0)
    {
      tmpdir_done (&t);
      return dk_error_wrap (err, "register layer");
    }
  char chain[DK_DIGEST_STR_LEN];
  chain_id_of (parent, r.diff_id, chain);

  if (wait_for_parent (s, parent, wait_secs, err) < 0)
    {
      tmpdir_done (&t);
      return -1;
    }
  if (layer_exists (s, chain))
    {
      int r = h ? holds_add (h, chain, err) : 0;
      store_unlock (s);
      tmpdir_done (&t);
      if (r < 0)
        return -1;
      *result = existing_result (s, chain);
      return 0;
    }
  cleanup_free char *dest = layer_dir (s, chain);
  /* a directory without meta.json is a layer that was never committed */
  dk_err_t e2 = NULL;
  dk_remove_tree (dest, &e2);
  dk_error_release (&e2);
  char link[27] = "";
  if ((h && holds_add (h, chain, err) < 0) || (s->overlay && short_link (s, chain, link, err) < 0))
    {
      store_unlock (s);
      tmpdir_done (&t);
      return -1;
    }
  jv meta = jv_object ();
  meta = jv_object_set (meta, jv_string ("chain_id"), jv_string (chain));
  meta = jv_object_set (meta, jv_string ("parent"), jv_string (parent ? parent : ""));
  meta = jv_object_set (meta, jv_string ("diff_id"), jv_string (r.diff_id));
  meta = jv_object_set (meta, jv_string ("digest"), jv_string (r.digest));
  meta = jv_object_set (meta, jv_string ("size"), dk_json_int64 (r.size));
  meta = jv_object_set (meta, jv_string ("compressed_size"), dk_json_int64 (r.compressed_size));
  meta = jv_object_set (meta, jv_string ("tar_size"), dk_json_int64 (r.tar_size));
  meta = jv_object_set (meta, jv_string ("link"), jv_string (link));
  cleanup_free char *mp = xasprintf ("%s/meta.json", t.path);
  cleanup_free char *layers = xasprintf ("%s/layers", s->ddir);
  if (dk_atomic_write_json (mp, meta, err) < 0 || rename (t.path, dest) < 0
      || dk_fsync_dir (layers, err) < 0)
    {
      if (*err == NULL)
        dk_make_error (err, errno, "rename into `%s`", dest);
      store_unlock (s);
      tmpdir_done (&t);
      return -1;
    }
  store_unlock (s);
  tmpdir_done (&t);
  *result = make_result (chain, r.diff_id, dk_json_int64 (r.size), false);
  return 0;
}

int
cmd_layer_register (struct store *s, int argc, char **argv, dk_err_t *err)
{
  static const struct option longopts[] = { { "parent", required_argument, 0, 'p' },
                                            { "diff-id", required_argument, 0, 'i' },
                                            { "digest", required_argument, 0, 'd' },
                                            { "parent-wait", required_argument, 0, 'w' },
                                            { 0, 0, 0, 0 } };
  long wait_secs = 0;
  struct dk_unpack_opts o = { .whiteouts = s->overlay ? DK_WHITEOUT_OVERLAY : DK_WHITEOUT_DELETE };
  const char *parent = NULL;
  int c;
  optind = 0;
  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    switch (c)
      {
      case 'p':
        parent = *optarg ? optarg : NULL;
        break;
      case 'i':
        o.expect_diff_id = optarg;
        break;
      case 'd':
        o.expect_digest = optarg;
        break;
      case 'w':
        wait_secs = strtol (optarg, NULL, 10);
        break;
      default:
        return dk_make_error_code (
            err, DK_ECODE_INVALID, 0,
            "usage: layer-register [--parent CHAINID] [--diff-id D] [--digest D] [FILE|-]");
      }
  if ((o.expect_diff_id && dk_digest_validate (o.expect_diff_id, err) < 0)
      || (o.expect_digest && dk_digest_validate (o.expect_digest, err) < 0))
    return -1;
  /* overlay2 layers do not need their parent to be unpacked: with
     --parent-wait the parent only has to exist by the time of the commit */
  bool late_parent = s->overlay && wait_secs > 0;
  if (parent && !late_parent && !layer_exists (s, parent))
    return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "parent layer %s not found", parent);
  if (o.expect_diff_id)
    {
      char chain[DK_DIGEST_STR_LEN];
      chain_id_of (parent, o.expect_diff_id, chain);
      int e = layer_exists_locked (s, chain, NULL, err);
      if (e < 0)
        return -1;
      if (e)
        {
          /* the writer of a pipe expects its data to be taken */
          if (optind >= argc || strcmp (argv[optind], "-") == 0)
            drain (0);
          dk_jsonl_write (stdout, existing_result (s, chain));
          return 0;
        }
    }
  const char *file = optind < argc ? argv[optind] : "-";
  cleanup_close int fd = strcmp (file, "-") == 0 ? dup (0) : open (file, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s`", file);

  jv res;
  if (layer_register_fd (s, fd, parent, &o, wait_secs, NULL, &res, err) < 0)
    return -1;
  dk_jsonl_write (stdout, res);
  return 0;
}

int
cmd_layer_exists (struct store *s, int argc, char **argv, dk_err_t *err)
{
  if (argc != 2)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: layer-exists CHAINID");
  int e = layer_exists_locked (s, argv[1], NULL, err);
  if (e < 0)
    return -1;
  jv r = result_obj ();
  r = jv_object_set (r, jv_string ("exists"), jv_bool (e));
  dk_jsonl_write (stdout, r);
  return 0;
}
