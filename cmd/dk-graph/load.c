/* load: a `docker save` archive (manifest.json, legacy or moby 25+ layout)
   or a plain OCI image layout, from a tar stream (gzip'd or not). */
#include "store.h"
#include "atomicfile.h"
#include "cleanup.h"
#include "reference.h"
#include "tarapply.h"
#include "unpack.h"

#include <archive.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads a file of the extracted archive; names come from the archive, so
   they are resolved inside its root. */
static int
read_in (int rootfd, const char *name, char **data, size_t *len, dk_err_t *err)
{
  cleanup_close int fd = dk_openat_in_root (rootfd, name, O_RDONLY, 0);
  if (fd < 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, errno, "archive: `%s`", name);
  struct dk_buf b = DK_BUF_INIT;
  char buf[65536];
  ssize_t n;
  while ((n = read (fd, buf, sizeof buf)) > 0)
    dk_buf_add (&b, buf, n);
  if (n < 0)
    {
      dk_buf_free (&b);
      return dk_make_error (err, errno, "read `%s`", name);
    }
  *len = b.len;
  *data = dk_buf_steal (&b);
  return 0;
}

static int
read_json_in (int rootfd, const char *name, jv *out, dk_err_t *err)
{
  cleanup_free char *d = NULL;
  size_t l = 0;
  if (read_in (rootfd, name, &d, &l, err) < 0)
    return -1;
  return dk_json_parse (d, l, out, err);
}

static int
extract (int in_fd, const char *dir, dk_err_t *err)
{
  if (dk_mkdir_p (dir, 0700, err) < 0)
    return -1;
  cleanup_close int rootfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return dk_make_error (err, errno, "open `%s`", dir);
  struct archive *a = archive_read_new ();
  archive_read_support_format_tar (a);
  archive_read_support_filter_all (a);
  int ret = 0;
  if (archive_read_open_fd (a, in_fd, 65536) != ARCHIVE_OK)
    ret = dk_make_error_code (err, DK_ECODE_INVALID, 0, "read archive: %s",
                              archive_error_string (a));
  struct dk_tarapply_opts o = { .whiteouts = DK_WHITEOUT_OVERLAY };
  uint64_t size;
  if (ret == 0 && dk_tar_apply (a, rootfd, &o, &size, err) < 0)
    ret = dk_error_wrap (err, "read archive");
  archive_read_free (a);
  return ret;
}

/* OCI layout -> the legacy manifest.json shape:
   [{"Config": path, "RepoTags": [..], "Layers": [paths]}] */
static int
from_index (int rootfd, jv *out, dk_err_t *err)
{
  cleanup_jv jv index = jv_invalid ();
  if (read_json_in (rootfd, "index.json", &index, err) < 0)
    return -1;
  *out = jv_array ();
  cleanup_jv jv ms = dk_json_get_kind (index, "manifests", JV_KIND_ARRAY);
  jv_array_foreach (ms, i, m)
  {
    const char *d = dk_json_str (m, "digest");
    const char *mt = dk_json_str (m, "mediaType");
    cleanup_jv jv man = jv_invalid ();
    cleanup_free char *mpath
        = d && dk_digest_is_valid (d) ? xasprintf ("blobs/sha256/%s", dk_digest_hex (d)) : NULL;
    if (mpath && read_json_in (rootfd, mpath, &man, NULL) == 0 && !(mt && strstr (mt, "index")))
      {
        cleanup_jv jv cfg = dk_json_get_kind (man, "config", JV_KIND_OBJECT);
        cleanup_jv jv ls = dk_json_get_kind (man, "layers", JV_KIND_ARRAY);
        const char *cd = dk_json_str (cfg, "digest");
        if (cd && dk_digest_is_valid (cd))
          {
            jv paths = jv_array ();
            jv_array_foreach (ls, j, l)
            {
              const char *ld = dk_json_str (l, "digest");
              if (ld && dk_digest_is_valid (ld))
                paths = jv_array_append (paths,
                                         jv_string_fmt ("blobs/sha256/%s", dk_digest_hex (ld)));
              jv_free (l);
            }
            jv tags = jv_array ();
            cleanup_jv jv ann = dk_json_get_kind (m, "annotations", JV_KIND_OBJECT);
            const char *name = dk_json_str (ann, "io.containerd.image.name");
            if (name)
              tags = jv_array_append (tags, jv_string (name));
            jv e = jv_object_set (jv_object (), jv_string ("Config"),
                                  jv_string_fmt ("blobs/sha256/%s", dk_digest_hex (cd)));
            e = jv_object_set (e, jv_string ("RepoTags"), tags);
            *out = jv_array_append (*out, jv_object_set (e, jv_string ("Layers"), paths));
          }
      }
    jv_free (m);
  }
  return 0;
}

static void
progress (const char *status, const char *id, int64_t cur, int64_t total)
{
  jv p = jv_object_set (jv_object (), jv_string ("type"), jv_string ("progress"));
  p = jv_object_set (p, jv_string ("status"), jv_string (status));
  p = jv_object_set (p, jv_string ("id"), jv_string_sized (dk_digest_hex (id), 12));
  jv d = jv_object_set (jv_object (), jv_string ("current"), dk_json_int64 (cur));
  p = jv_object_set (p, jv_string ("progressDetail"),
                     jv_object_set (d, jv_string ("total"), dk_json_int64 (total)));
  dk_jsonl_write (stdout, p);
}

static int
load_image (struct store *s, int rootfd, jv entry, bool quiet, struct holds *h, jv *loaded,
            jv *links, dk_err_t *err)
{
  const char *cpath = dk_json_str (entry, "Config");
  if (cpath == NULL)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "archive: manifest entry without Config");
  cleanup_free char *raw = NULL;
  size_t len = 0;
  cleanup_jv jv config = jv_invalid ();
  if (read_in (rootfd, cpath, &raw, &len, err) < 0 || dk_json_parse (raw, len, &config, err) < 0)
    return -1;
  cleanup_jv jv rootfs = dk_json_get_kind (config, "rootfs", JV_KIND_OBJECT);
  cleanup_jv jv diff_ids = dk_json_get_kind (rootfs, "diff_ids", JV_KIND_ARRAY);
  cleanup_jv jv layers = dk_json_get_kind (entry, "Layers", JV_KIND_ARRAY);
  int n = dk_json_len (diff_ids);
  if (n != dk_json_len (layers))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "archive: %d layers for an image config with %d diff IDs",
                               dk_json_len (layers), n);
  char parent[DK_DIGEST_STR_LEN] = "";
  for (int i = 0; i < n; i++)
    {
      cleanup_jv jv d = jv_array_get (jv_copy (diff_ids), i);
      cleanup_jv jv lp = jv_array_get (jv_copy (layers), i);
      if (jv_get_kind (d) != JV_KIND_STRING || jv_get_kind (lp) != JV_KIND_STRING
          || !dk_digest_is_valid (jv_string_value (d)))
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "archive: bad layer %d", i);
      char chain[DK_DIGEST_STR_LEN];
      chain_id_of (parent, jv_string_value (d), chain);
      int e = layer_exists_locked (s, chain, h, err);
      if (e < 0)
        return -1;
      if (!e)
        {
          cleanup_close int fd = dk_openat_in_root (rootfd, jv_string_value (lp), O_RDONLY, 0);
          if (fd < 0)
            return dk_make_error_code (err, DK_ECODE_INVALID, errno, "archive: `%s`",
                                       jv_string_value (lp));
          off_t total = lseek (fd, 0, SEEK_END);
          lseek (fd, 0, SEEK_SET);
          if (!quiet)
            progress ("Loading layer", jv_string_value (d), 0, total);
          struct dk_unpack_opts o = { .expect_diff_id = jv_string_value (d) };
          jv res;
          if (layer_register_fd (s, fd, *parent ? parent : NULL, &o, 0, h, &res, err) < 0)
            return -1;
          jv_free (res);
          if (!quiet)
            progress ("Loading layer", jv_string_value (d), total, total);
        }
      memcpy (parent, chain, sizeof parent);
    }
  cleanup_jv jv keys = jv_array ();
  cleanup_jv jv tags = dk_json_get_kind (entry, "RepoTags", JV_KIND_ARRAY);
  jv_array_foreach (tags, i, t)
  {
    char *key = NULL;
    if (jv_get_kind (t) == JV_KIND_STRING && parse_ref (jv_string_value (t), true, &key, NULL) == 0)
      {
        keys = jv_array_append (keys, jv_string (key));
        struct dk_ref r;
        if (dk_ref_parse (key, &r, NULL) == 0)
          {
            cleanup_free char *f = dk_ref_familiar (&r);
            *loaded = jv_array_append (*loaded, jv_string (f));
            dk_ref_free (&r);
          }
        free (key);
      }
    jv_free (t);
  }
  char id[DK_DIGEST_STR_LEN];
  if (image_add_raw (s, raw, len, NULL, 0, keys, id, err) < 0)
    return -1;
  if (jv_array_length (jv_copy (keys)) == 0)
    *loaded = jv_array_append (*loaded, jv_string (id));
  const char *pid = dk_json_str (entry, "Parent");
  if (pid && dk_digest_is_valid (pid))
    *links = jv_array_append (*links, JV_ARRAY (jv_string (id), jv_string (pid)));
  return 0;
}

/* moby's rule for a loaded "Parent": the parent's layers are the first
   layers of the child. A parent that is not in the store (or not valid) is
   ignored rather than failing the load. */
static void
set_parents (struct store *s, jv links)
{
  jv_array_foreach (links, i, l)
  {
    cleanup_jv jv idv = jv_array_get (jv_copy (l), 0);
    cleanup_jv jv pv = jv_array_get (l, 1);
    const char *id = jv_string_value (idv), *parent = jv_string_value (pv);
    cleanup_jv jv cc = jv_invalid ();
    cleanup_jv jv pc = jv_invalid ();
    if (image_load (s, id, &cc, NULL, NULL) < 0 || image_load (s, parent, &pc, NULL, NULL) < 0)
      continue;
    cleanup_jv jv cch = image_chain (cc);
    cleanup_jv jv pch = image_chain (pc);
    int np = dk_json_len (pch);
    bool prefix = np <= dk_json_len (cch);
    for (int j = 0; prefix && j < np; j++)
      {
        cleanup_jv jv a = jv_array_get (jv_copy (cch), j);
        cleanup_jv jv b = jv_array_get (jv_copy (pch), j);
        prefix = strcmp (jv_string_value (a), jv_string_value (b)) == 0;
      }
    dk_err_t e = NULL;
    if (prefix)
      image_set_parent (s, id, parent, &e);
    dk_error_release (&e);
  }
}

int
cmd_load (struct store *s, int argc, char **argv, dk_err_t *err)
{
  static const struct option longopts[] = { { "input", required_argument, 0, 'i' },
                                            { "quiet", no_argument, 0, 'q' },
                                            { 0, 0, 0, 0 } };
  const char *in = "-";
  bool quiet = false;
  int c;
  optind = 0;
  while ((c = getopt_long (argc, argv, "i:q", longopts, NULL)) != -1)
    if (c == 'i')
      in = optarg;
    else if (c == 'q')
      quiet = true;
    else
      return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: load [-i FILE|-] [--quiet]");
  cleanup_close int fd = strcmp (in, "-") == 0 ? dup (0) : open (in, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s`", in);
  struct tmpdir t = { 0 };
  if (tmpdir_new (s, &t, err) < 0)
    {
      tmpdir_done (&t);
      return -1;
    }
  /* the layers of the images, found or registered, until they are added */
  cleanup_holds struct holds h = { .chains = jv_invalid () };
  if (holds_new (s, &h, err) < 0)
    {
      tmpdir_done (&t);
      return -1;
    }
  cleanup_free char *dir = xasprintf ("%s/archive", t.path);
  int ret = extract (fd, dir, err);
  cleanup_close int rootfd = ret == 0 ? open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  cleanup_jv jv manifest = jv_invalid ();
  if (ret == 0 && read_json_in (rootfd, "manifest.json", &manifest, NULL) < 0
      && from_index (rootfd, &manifest, err) < 0)
    ret = dk_make_error_code (err, DK_ECODE_INVALID, 0,
                              "archive has neither manifest.json nor index.json");
  if (ret == 0 && jv_get_kind (manifest) != JV_KIND_ARRAY)
    ret = dk_make_error_code (err, DK_ECODE_INVALID, 0, "archive: manifest.json is no array");
  cleanup_jv jv loaded = jv_array ();
  cleanup_jv jv links = jv_array ();
  if (ret == 0)
    jv_array_foreach (manifest, i, e)
    {
      if (ret == 0 && load_image (s, rootfd, e, quiet, &h, &loaded, &links, err) < 0)
        ret = -1;
      jv_free (e);
    }
  if (ret == 0)
    set_parents (s, links);
  tmpdir_done (&t);
  if (ret < 0)
    return -1;
  dk_jsonl_write (stdout, jv_object_set (result_obj (), jv_string ("loaded"), jv_copy (loaded)));
  return 0;
}
