/* save: images as a `docker save` archive.  The layout is moby's since
   25.0: an OCI image layout (oci-layout, index.json, blobs/sha256/) that
   also carries the legacy manifest.json and repositories, so both docker
   load and OCI tools read it. */
#include "store.h"
#include "atomicfile.h"
#include "cleanup.h"
#include "reference.h"
#include "tarsplit.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char layer_mt[] = "application/vnd.oci.image.layer.v1.tar";
static const char manifest_mt[] = "application/vnd.oci.image.manifest.v1+json";

/* name (as typed) -> [{id, tag key or null}] appended to *sel */
static int
select_images (struct store *s, jv refs, const char *name, jv *sel, dk_err_t *err)
{
  struct dk_ref r;
  dk_err_t perr = NULL;
  if (dk_ref_parse (name, &r, &perr) == 0)
    {
      const char *slash = strrchr (name, '/');
      bool explicit_tag = strchr (slash ? slash : name, ':') || strchr (name, '@');
      cleanup_free char *key = dk_ref_string (&r);
      cleanup_free char *rname = dk_ref_name (&r);
      dk_ref_free (&r);
      if (!explicit_tag)
        {
          /* a repository without tag: all its tags, as docker save does */
          bool any = false;
          jv_object_foreach (refs, k, v)
          {
            const char *ks = jv_string_value (k);
            size_t nl = strlen (rname);
            if (strncmp (ks, rname, nl) == 0 && ks[nl] == ':' && jv_get_kind (v) == JV_KIND_STRING)
              {
                jv e = jv_object_set (jv_object (), jv_string ("id"), jv_copy (v));
                *sel = jv_array_append (*sel, jv_object_set (e, jv_string ("key"), jv_copy (k)));
                any = true;
              }
            jv_free (k);
            jv_free (v);
          }
          if (any)
            return 0;
        }
      const char *id = dk_json_str (refs, key);
      if (id)
        {
          jv e = jv_object_set (jv_object (), jv_string ("id"), jv_string (id));
          e = jv_object_set (e, jv_string ("key"),
                             strchr (key, '@') ? jv_null () : jv_string (key));
          *sel = jv_array_append (*sel, e);
          return 0;
        }
    }
  dk_error_release (&perr);
  cleanup_free char *id = NULL;
  if (image_resolve (s, name, &id, err) < 0)
    return -1;
  jv e = jv_object_set (jv_object (), jv_string ("id"), jv_string (id));
  *sel = jv_array_append (*sel, jv_object_set (e, jv_string ("key"), jv_null ()));
  return 0;
}

static int
write_blob (const char *dir, const char *data, size_t len, char digest[DK_DIGEST_STR_LEN],
            dk_err_t *err)
{
  dk_sha256_buf (data, len, digest);
  cleanup_free char *p = xasprintf ("%s/blobs/sha256/%s", dir, dk_digest_hex (digest));
  return dk_atomic_write (p, data, len, 0644, err);
}

static int
export_layer (struct store *s, const char *dir, const char *chain, jv *desc, dk_err_t *err)
{
  cleanup_jv jv meta = jv_invalid ();
  if (layer_meta (s, chain, &meta, err) < 0)
    return -1;
  const char *diff_id = dk_json_str (meta, "diff_id");
  cleanup_free char *ld = layer_dir (s, chain);
  cleanup_free char *split = xasprintf ("%s/tar-split.zst", ld);
  if (diff_id == NULL || access (split, F_OK) < 0)
    return dk_make_error_code (err, DK_ECODE_INTERNAL, 0,
                               "layer %s cannot be exported: its tar-split is missing", chain);
  cleanup_free char *dest = xasprintf ("%s/blobs/sha256/%s", dir, dk_digest_hex (diff_id));
  struct stat st;
  if (stat (dest, &st) < 0)
    {
      cleanup_free char *part = xasprintf ("%s.part", dest);
      cleanup_close int fd = open (part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0)
        return dk_make_error (err, errno, "create `%s`", part);
      cleanup_free char *root = xasprintf ("%s/diff", ld);
      char digest[DK_DIGEST_STR_LEN];
      uint64_t size;
      if (dk_tarsplit_assemble (ld, root, fd, digest, &size, err) < 0)
        return -1;
      if (strcmp (digest, diff_id) != 0)
        return dk_make_error_code (err, DK_ECODE_INTERNAL, 0,
                                   "layer %s: rebuilt tar has digest %s, not its diff ID %s", chain,
                                   digest, diff_id);
      if (rename (part, dest) < 0 || stat (dest, &st) < 0)
        return dk_make_error (err, errno, "rename `%s`", part);
    }
  jv d = jv_object_set (jv_object (), jv_string ("mediaType"), jv_string (layer_mt));
  d = jv_object_set (d, jv_string ("digest"), jv_string (diff_id));
  *desc = jv_object_set (d, jv_string ("size"), dk_json_int64 (st.st_size));
  return 0;
}

static int
tar_file (struct archive *a, const char *name, const char *path, dk_err_t *err)
{
  struct stat st;
  cleanup_close int fd = -1;
  if (path && ((fd = open (path, O_RDONLY | O_CLOEXEC)) < 0 || fstat (fd, &st) < 0))
    return dk_make_error (err, errno, "open `%s`", path);
  struct archive_entry *e = archive_entry_new ();
  archive_entry_set_pathname (e, name);
  archive_entry_set_filetype (e, path ? AE_IFREG : AE_IFDIR);
  archive_entry_set_perm (e, path ? 0644 : 0755);
  archive_entry_set_size (e, path ? st.st_size : 0);
  archive_entry_set_mtime (e, 0, 0);
  int r = archive_write_header (a, e);
  archive_entry_free (e);
  if (r < ARCHIVE_WARN)
    return dk_make_error (err, 0, "write archive: %s", archive_error_string (a));
  char buf[65536];
  ssize_t n;
  while (fd >= 0 && (n = read (fd, buf, sizeof buf)) > 0)
    if (archive_write_data (a, buf, n) < 0)
      return dk_make_error (err, 0, "write archive: %s", archive_error_string (a));
  return 0;
}

static int
write_archive (const char *dir, int out_fd, dk_err_t *err)
{
  struct archive *a = archive_write_new ();
  archive_write_set_format_pax_restricted (a);
  archive_write_set_bytes_in_last_block (a, 1);
  int ret = 0;
  if (archive_write_open_fd (a, out_fd) != ARCHIVE_OK)
    ret = dk_make_error (err, 0, "write archive: %s", archive_error_string (a));
  if (ret == 0)
    ret = tar_file (a, "blobs/", NULL, err);
  if (ret == 0)
    ret = tar_file (a, "blobs/sha256/", NULL, err);
  cleanup_free char *bdir = xasprintf ("%s/blobs/sha256", dir);
  struct dirent **names = NULL;
  int n = scandir (bdir, &names, NULL, alphasort);
  for (int i = 0; i < n; i++)
    {
      if (ret == 0 && names[i]->d_name[0] != '.')
        {
          cleanup_free char *nm = xasprintf ("blobs/sha256/%s", names[i]->d_name);
          cleanup_free char *p = xasprintf ("%s/%s", bdir, names[i]->d_name);
          ret = tar_file (a, nm, p, err);
        }
      free (names[i]);
    }
  free (names);
  const char *top[] = { "index.json", "manifest.json", "oci-layout", "repositories" };
  for (int i = 0; i < 4 && ret == 0; i++)
    {
      cleanup_free char *p = xasprintf ("%s/%s", dir, top[i]);
      ret = tar_file (a, top[i], p, err);
    }
  if (archive_write_close (a) != ARCHIVE_OK && ret == 0)
    ret = dk_make_error (err, 0, "write archive: %s", archive_error_string (a));
  archive_write_free (a);
  return ret;
}

static char *
familiar_of (const char *key, char **tag, char **name)
{
  struct dk_ref r;
  if (dk_ref_parse (key, &r, NULL) < 0)
    return xstrdup (key);
  char *f = dk_ref_familiar (&r);
  *name = dk_ref_familiar_name (&r);
  *tag = xstrdup (r.tag ? r.tag : "latest");
  dk_ref_free (&r);
  return f;
}

static int
build_layout (struct store *s, jv sel, const char *dir, dk_err_t *err)
{
  cleanup_free char *bdir = xasprintf ("%s/blobs/sha256", dir);
  if (dk_mkdir_p (bdir, 0755, err) < 0)
    return -1;
  jv manifests = jv_array (), index = jv_array (), repos = jv_object ();
  jv done = jv_object (); /* id -> position in manifests */
  int ret = 0;
  jv_array_foreach (sel, i, e)
  {
    const char *id = dk_json_str (e, "id");
    const char *key = dk_json_str (e, "key");
    cleanup_free char *ftag = NULL, *fname = NULL;
    cleanup_free char *fam = key ? familiar_of (key, &ftag, &fname) : NULL;
    int64_t pos = -1;
    if (ret == 0 && !dk_json_int (done, id, &pos))
      {
        cleanup_free char *cp = xasprintf ("%s/content/sha256/%s", s->idir, dk_digest_hex (id));
        cleanup_free char *raw = NULL;
        size_t len = 0;
        cleanup_jv jv config = jv_invalid ();
        char cd[DK_DIGEST_STR_LEN];
        if (dk_read_file (cp, &raw, &len, err) < 0 || dk_json_parse (raw, len, &config, err) < 0
            || write_blob (dir, raw, len, cd, err) < 0)
          ret = -1;
        jv layers = jv_array (), paths = jv_array ();
        cleanup_jv jv chain = ret == 0 ? image_chain (config) : jv_array ();
        jv_array_foreach (chain, j, c)
        {
          jv desc;
          if (ret == 0 && export_layer (s, dir, jv_string_value (c), &desc, err) < 0)
            ret = -1;
          else if (ret == 0)
            {
              paths = jv_array_append (
                  paths,
                  jv_string_fmt ("blobs/sha256/%s", dk_digest_hex (dk_json_str (desc, "digest"))));
              layers = jv_array_append (layers, desc);
            }
          jv_free (c);
        }
        jv cfgd = jv_object_set (jv_object (), jv_string ("mediaType"),
                                 jv_string ("application/vnd.oci.image.config.v1+json"));
        cfgd = jv_object_set (cfgd, jv_string ("digest"), jv_string (id));
        cfgd = jv_object_set (cfgd, jv_string ("size"), dk_json_int64 (len));
        jv m = jv_object_set (jv_object (), jv_string ("schemaVersion"), jv_number (2));
        m = jv_object_set (m, jv_string ("mediaType"), jv_string (manifest_mt));
        m = jv_object_set (m, jv_string ("config"), cfgd);
        m = jv_object_set (m, jv_string ("layers"), layers);
        cleanup_free char *mraw = dk_json_dump (m);
        char md[DK_DIGEST_STR_LEN] = "";
        if (ret == 0 && write_blob (dir, mraw, strlen (mraw), md, err) < 0)
          ret = -1;
        jv legacy = jv_object_set (jv_object (), jv_string ("Config"),
                                   jv_string_fmt ("blobs/sha256/%s", dk_digest_hex (id)));
        legacy = jv_object_set (legacy, jv_string ("RepoTags"), jv_array ());
        legacy = jv_object_set (legacy, jv_string ("Layers"), paths);
        pos = jv_array_length (jv_copy (manifests));
        manifests = jv_array_append (manifests, legacy);
        done = jv_object_set (done, jv_string (id), dk_json_int64 (pos));
        jv idx = jv_object_set (jv_object (), jv_string ("mediaType"), jv_string (manifest_mt));
        idx = jv_object_set (idx, jv_string ("digest"), jv_string (md));
        idx = jv_object_set (idx, jv_string ("size"), dk_json_int64 (strlen (mraw)));
        done = jv_object_set (done, jv_string_fmt ("idx:%s", id), idx);
      }
    if (ret == 0)
      {
        cleanup_free char *ik = xasprintf ("idx:%s", id);
        cleanup_jv jv idx = dk_json_get (done, ik);
        jv entry = jv_copy (idx);
        if (fam)
          {
            jv legacy = jv_array_get (jv_copy (manifests), pos);
            jv tags = dk_json_get (legacy, "RepoTags");
            legacy = jv_object_set (legacy, jv_string ("RepoTags"),
                                    jv_array_append (tags, jv_string (fam)));
            manifests = jv_array_set (manifests, pos, legacy);
            jv ann = jv_object_set (jv_object (), jv_string ("io.containerd.image.name"),
                                    jv_string (key));
            ann = jv_object_set (ann, jv_string ("org.opencontainers.image.ref.name"),
                                 jv_string (ftag));
            entry = jv_object_set (entry, jv_string ("annotations"), ann);
            jv r = dk_json_get_kind (repos, fname, JV_KIND_OBJECT);
            r = jv_object_set (jv_is_valid (r) ? r : jv_object (), jv_string (ftag),
                               jv_string (dk_digest_hex (id)));
            repos = jv_object_set (repos, jv_string (fname), r);
          }
        index = jv_array_append (index, entry);
      }
    jv_free (e);
  }
  /* "Parent" when the parent image is saved too, as moby writes it */
  int nm = dk_json_len (manifests);
  for (int i = 0; i < nm && ret == 0; i++)
    {
      jv legacy = jv_array_get (jv_copy (manifests), i);
      const char *cfg = dk_json_str (legacy, "Config");
      cleanup_free char *cid
          = cfg && strrchr (cfg, '/') ? xasprintf ("sha256:%s", strrchr (cfg, '/') + 1) : NULL;
      cleanup_free char *parent = cid ? image_parent (s, cid) : NULL;
      int64_t ppos;
      if (parent && dk_json_int (done, parent, &ppos))
        legacy = jv_object_set (legacy, jv_string ("Parent"), jv_string (parent));
      manifests = jv_array_set (manifests, i, legacy);
    }
  jv_free (done);
  jv ix = jv_object_set (jv_object (), jv_string ("schemaVersion"), jv_number (2));
  ix = jv_object_set (ix, jv_string ("mediaType"),
                      jv_string ("application/vnd.oci.image.index.v1+json"));
  ix = jv_object_set (ix, jv_string ("manifests"), index);
  cleanup_free char *ip = xasprintf ("%s/index.json", dir);
  cleanup_free char *mp = xasprintf ("%s/manifest.json", dir);
  cleanup_free char *op = xasprintf ("%s/oci-layout", dir);
  cleanup_free char *rp = xasprintf ("%s/repositories", dir);
  if (ret == 0
      && (dk_atomic_write_json (ip, jv_copy (ix), err) < 0
          || dk_atomic_write_json (mp, jv_copy (manifests), err) < 0
          || dk_atomic_write_json (op,
                                   jv_object_set (jv_object (), jv_string ("imageLayoutVersion"),
                                                  jv_string ("1.0.0")),
                                   err)
                 < 0
          || dk_atomic_write_json (rp, jv_copy (repos), err) < 0))
    ret = -1;
  jv_free (ix);
  jv_free (manifests);
  jv_free (repos);
  return ret;
}

int
cmd_save (struct store *s, int argc, char **argv, dk_err_t *err)
{
  static const struct option longopts[]
      = { { "output", required_argument, 0, 'o' }, { 0, 0, 0, 0 } };
  const char *out = "-";
  int c;
  optind = 0;
  while ((c = getopt_long (argc, argv, "o:", longopts, NULL)) != -1)
    if (c == 'o')
      out = optarg;
    else
      return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: save IMAGE... [-o FILE|-]");
  if (optind >= argc)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: save IMAGE... [-o FILE|-]");
  cleanup_jv jv refs = jv_invalid ();
  if (refs_load (s, &refs, err) < 0)
    return -1;
  cleanup_jv jv sel = jv_array ();
  for (int i = optind; i < argc; i++)
    if (select_images (s, refs, argv[i], &sel, err) < 0)
      return -1;
  struct tmpdir t = { 0 };
  if (tmpdir_new (s, &t, err) < 0 || build_layout (s, sel, t.path, err) < 0)
    {
      tmpdir_done (&t);
      return -1;
    }
  int fd = strcmp (out, "-") == 0 ? dup (1)
                                  : open (out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int ret = fd < 0 ? dk_make_error (err, errno, "open `%s`", out) : write_archive (t.path, fd, err);
  if (fd >= 0)
    close (fd);
  tmpdir_done (&t);
  if (ret < 0)
    return -1;
  if (strcmp (out, "-") != 0)
    dk_jsonl_write (stdout, jv_object_set (result_obj (), jv_string ("path"), jv_string (out)));
  return 0;
}
