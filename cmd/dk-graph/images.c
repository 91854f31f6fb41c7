/* Images and references: add, resolve, tag, untag, rm (Docker's rules). */
#include "store.h"
#include "atomicfile.h"
#include "cleanup.h"
#include "reference.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
parse_ref (const char *s, bool want_tag, char **key, dk_err_t *err)
{
  struct dk_ref r;
  if (dk_ref_parse (s, &r, err) < 0)
    return -1;
  if (want_tag && r.digest)
    {
      dk_ref_free (&r);
      return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                 "refusing to create a tag with a digest reference");
    }
  if (!want_tag && r.digest == NULL)
    {
      dk_ref_free (&r);
      return dk_make_error_code (err, DK_ECODE_INVALID, 0, "`%s` is not a digest reference", s);
    }
  *key = dk_ref_string (&r);
  dk_ref_free (&r);
  return 0;
}

static int
set_tag_time (struct store *s, const char *id, dk_err_t *err)
{
  cleanup_jv jv meta = jv_invalid ();
  if (image_load (s, id, NULL, &meta, err) < 0)
    return -1;
  cleanup_free char *now = now_rfc3339 ();
  cleanup_free char *mp = xasprintf ("%s/images/%s.json", s->idir, dk_digest_hex (id));
  jv m = jv_object_set (jv_copy (meta), jv_string ("last_tag_time"), jv_string (now));
  return dk_atomic_write_json (mp, m, err);
}

int
image_add_raw (struct store *s, const char *raw, size_t len, const char *mraw, size_t mlen, jv keys,
               char id[DK_DIGEST_STR_LEN], dk_err_t *err)
{
  cleanup_jv jv config = jv_invalid ();
  if (dk_json_parse (raw, len, &config, err) < 0 || jv_get_kind (config) != JV_KIND_OBJECT)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "image config is not a JSON object");
  dk_sha256_buf (raw, len, id);
  cleanup_jv jv chain = image_chain (config);
  jv_array_foreach (chain, i, l)
  {
    bool ok = layer_exists (s, jv_string_value (l));
    if (!ok)
      {
        dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "layer %s of image %s is not registered",
                            jv_string_value (l), id);
        jv_free (l);
        return -1;
      }
    jv_free (l);
  }
  char mdigest[DK_DIGEST_STR_LEN] = "";
  if (mraw)
    dk_sha256_buf (mraw, mlen, mdigest);

  if (store_lock (s, err) < 0)
    return -1;
  cleanup_free char *cp = xasprintf ("%s/content/sha256/%s", s->idir, dk_digest_hex (id));
  if (dk_atomic_write (cp, raw, len, 0600, err) < 0)
    return -1;
  if (mraw)
    {
      cleanup_free char *mp = xasprintf ("%s/content/sha256/%s", s->idir, dk_digest_hex (mdigest));
      if (dk_atomic_write (mp, mraw, mlen, 0600, err) < 0)
        return -1;
    }
  cleanup_jv jv meta = jv_invalid ();
  if (image_load (s, id, NULL, &meta, NULL) < 0)
    {
      cleanup_free char *now = now_rfc3339 ();
      meta = jv_object_set (jv_object (), jv_string ("id"), jv_string (id));
      meta = jv_object_set (meta, jv_string ("added"), jv_string (now));
    }
  meta = jv_object_set (meta, jv_string ("chain"), jv_copy (chain));
  if (mraw)
    meta = jv_object_set (meta, jv_string ("manifest_digest"), jv_string (mdigest));
  if (jv_array_length (jv_copy (keys)) > 0)
    {
      cleanup_free char *now = now_rfc3339 ();
      meta = jv_object_set (meta, jv_string ("last_tag_time"), jv_string (now));
    }
  cleanup_free char *metap = xasprintf ("%s/images/%s.json", s->idir, dk_digest_hex (id));
  if (dk_atomic_write_json (metap, jv_copy (meta), err) < 0)
    return -1;
  if (jv_array_length (jv_copy (keys)) > 0)
    {
      jv refs;
      if (refs_load (s, &refs, err) < 0)
        return -1;
      jv_array_foreach (keys, i, k) refs = jv_object_set (refs, k, jv_string (id));
      if (refs_save (s, refs, err) < 0)
        return -1;
    }
  store_unlock (s);
  return 0;
}

int
cmd_image_add (struct store *s, int argc, char **argv, dk_err_t *err)
{
  static const struct option longopts[]
      = { { "config", required_argument, 0, 'c' }, { "manifest", required_argument, 0, 'm' },
          { "tag", required_argument, 0, 't' },    { "digest-ref", required_argument, 0, 'r' },
          { "parent", required_argument, 0, 'p' }, { 0, 0, 0, 0 } };
  const char *config_file = NULL, *manifest_file = NULL, *parent_ref = NULL;
  cleanup_jv jv keys = jv_array ();
  int c;
  optind = 0;
  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    {
      char *key = NULL;
      switch (c)
        {
        case 'c':
          config_file = optarg;
          break;
        case 'm':
          manifest_file = optarg;
          break;
        case 'p':
          parent_ref = optarg;
          break;
        case 't':
        case 'r':
          if (parse_ref (optarg, c == 't', &key, err) < 0)
            return -1;
          keys = jv_array_append (keys, jv_string (key));
          free (key);
          break;
        default:
          return dk_make_error_code (
              err, DK_ECODE_INVALID, 0,
              "usage: image-add --config FILE [--manifest FILE] "
              "[--tag NAME:TAG]... [--digest-ref NAME@DIGEST] [--parent IMAGE]");
        }
    }
  if (config_file == NULL)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "image-add: --config is required");
  cleanup_free char *raw = NULL;
  size_t len = 0;
  if (dk_read_file (config_file, &raw, &len, err) < 0)
    return -1;
  cleanup_free char *mraw = NULL;
  size_t mlen = 0;
  if (manifest_file && dk_read_file (manifest_file, &mraw, &mlen, err) < 0)
    return -1;
  cleanup_free char *parent = NULL;
  if (parent_ref && image_resolve (s, parent_ref, &parent, err) < 0)
    return -1;
  char id[DK_DIGEST_STR_LEN];
  if (image_add_raw (s, raw, len, mraw, mlen, keys, id, err) < 0
      || (parent && image_set_parent (s, id, parent, err) < 0))
    return -1;
  dk_jsonl_write (stdout, jv_object_set (result_obj (), jv_string ("id"), jv_string (id)));
  return 0;
}

int
cmd_resolve (struct store *s, int argc, char **argv, dk_err_t *err)
{
  if (argc != 2)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: resolve REF|ID");
  cleanup_free char *id = NULL;
  if (image_resolve (s, argv[1], &id, err) < 0)
    return -1;
  dk_jsonl_write (stdout, jv_object_set (result_obj (), jv_string ("id"), jv_string (id)));
  return 0;
}

int
cmd_tag (struct store *s, int argc, char **argv, dk_err_t *err)
{
  if (argc != 3)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: tag SOURCE TARGET");
  cleanup_free char *id = NULL;
  cleanup_free char *key = NULL;
  if (image_resolve (s, argv[1], &id, err) < 0 || parse_ref (argv[2], true, &key, err) < 0)
    return -1;
  if (store_lock (s, err) < 0)
    return -1;
  jv refs;
  if (refs_load (s, &refs, err) < 0)
    return -1;
  refs = jv_object_set (refs, jv_string (key), jv_string (id));
  if (refs_save (s, refs, err) < 0 || set_tag_time (s, id, err) < 0)
    return -1;
  store_unlock (s);
  dk_jsonl_write (stdout, jv_object_set (result_obj (), jv_string ("id"), jv_string (id)));
  return 0;
}

static char *
familiar (const char *key)
{
  struct dk_ref r;
  if (dk_ref_parse (key, &r, NULL) < 0)
    return xstrdup (key);
  char *f = dk_ref_familiar (&r);
  dk_ref_free (&r);
  return f;
}

int
cmd_untag (struct store *s, int argc, char **argv, dk_err_t *err)
{
  if (argc != 2)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: untag REF");
  struct dk_ref r;
  if (dk_ref_parse (argv[1], &r, err) < 0)
    return -1;
  cleanup_free char *key = dk_ref_string (&r);
  dk_ref_free (&r);
  if (store_lock (s, err) < 0)
    return -1;
  jv refs;
  if (refs_load (s, &refs, err) < 0)
    return -1;
  if (!dk_json_str (refs, key))
    {
      jv_free (refs);
      return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "No such image: %s", argv[1]);
    }
  refs = jv_object_delete (refs, jv_string (key));
  if (refs_save (s, refs, err) < 0)
    return -1;
  store_unlock (s);
  cleanup_free char *f = familiar (key);
  dk_jsonl_write (stdout, jv_object_set (result_obj (), jv_string ("untagged"), jv_string (f)));
  return 0;
}

/* Keys of refs pointing at id. */
jv
refs_of (jv refs, const char *id)
{
  jv out = jv_array ();
  jv_object_foreach (refs, k, v)
  {
    if (jv_get_kind (v) == JV_KIND_STRING && strcmp (jv_string_value (v), id) == 0)
      out = jv_array_append (out, k);
    else
      jv_free (k);
    jv_free (v);
  }
  return out;
}

static bool
key_is_digest (const char *key)
{
  return strchr (key, '@') != NULL;
}

static char *
key_name (const char *key)
{
  struct dk_ref r;
  if (dk_ref_parse (key, &r, NULL) < 0)
    return xstrdup (key);
  char *n = dk_ref_name (&r);
  dk_ref_free (&r);
  return n;
}

static jv
record (const char *kind, const char *v)
{
  return jv_object_set (jv_object (), jv_string (kind), jv_string (v));
}

jv
untag_key (jv refs, const char *key, jv *records)
{
  cleanup_free char *f = familiar (key);
  *records = jv_array_append (*records, record ("Untagged", f));
  return jv_object_delete (refs, jv_string (key));
}

static bool
is_id_prefix (const char *id, const char *ref)
{
  const char *hex = dk_digest_hex (id);
  return strcmp (ref, id) == 0 || (strlen (ref) > 0 && strncmp (hex, ref, strlen (ref)) == 0)
         || (strncmp (ref, "sha256:", 7) == 0 && strncmp (hex, ref + 7, strlen (ref + 7)) == 0);
}

int
cmd_rm (struct store *s, int argc, char **argv, dk_err_t *err)
{
  static const struct option longopts[]
      = { { "force", no_argument, 0, 'f' }, { "no-prune", no_argument, 0, 'n' }, { 0, 0, 0, 0 } };
  bool force = false, prune = true;
  int c;
  optind = 0;
  while ((c = getopt_long (argc, argv, "f", longopts, NULL)) != -1)
    switch (c)
      {
      case 'f':
        force = true;
        break;
      case 'n':
        prune = false;
        break;
      default:
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: rm [--force] IMAGE");
      }
  if (optind + 1 != argc)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: rm [--force] IMAGE");
  const char *ref = argv[optind];
  if (store_lock (s, err) < 0)
    return -1;
  cleanup_free char *id = NULL;
  if (image_resolve (s, ref, &id, err) < 0)
    return -1;
  jv refs;
  if (refs_load (s, &refs, err) < 0)
    return -1;
  cleanup_jv jv records = jv_array ();
  cleanup_jv jv refs_left = jv_invalid (); /* refs after the untagging */
  cleanup_jv jv mine = refs_of (refs, id);
  cleanup_image_index struct image_index ix;
  image_index_load (s, &ix);
  cleanup_free char *user = image_index_user (&ix, id);
  char short_id[13];
  snprintf (short_id, sizeof short_id, "%s", dk_digest_hex (id));
  bool children = image_index_has_children (&ix, id);

  if (!is_id_prefix (id, ref))
    {
      struct dk_ref r;
      if (dk_ref_parse (ref, &r, err) < 0)
        {
          jv_free (refs);
          return -1;
        }
      cleanup_free char *key = dk_ref_string (&r);
      cleanup_free char *name = dk_ref_name (&r);
      dk_ref_free (&r);
      if (user && jv_array_length (jv_copy (mine)) == 1 && !force)
        {
          jv_free (refs);
          return dk_make_error_code (err, DK_ECODE_CONFLICT, 0,
                                     "conflict: unable to remove repository reference \"%s\" "
                                     "(must force) - container %.12s is using its referenced "
                                     "image %s",
                                     ref, user, short_id);
        }
      refs = untag_key (refs, key, &records);
      if (!key_is_digest (key))
        {
          /* the last tag of a repository takes its digest references along */
          cleanup_jv jv left = refs_of (refs, id);
          bool tag_left = false;
          jv_array_foreach (left, i, k)
          {
            cleanup_free char *kn = key_name (jv_string_value (k));
            if (!key_is_digest (jv_string_value (k)) && strcmp (kn, name) == 0)
              tag_left = true;
            jv_free (k);
          }
          if (!tag_left)
            jv_array_foreach (left, i, k)
            {
              cleanup_free char *kn = key_name (jv_string_value (k));
              if (key_is_digest (jv_string_value (k)) && strcmp (kn, name) == 0)
                refs = untag_key (refs, jv_string_value (k), &records);
              jv_free (k);
            }
        }
      cleanup_jv jv left = refs_of (refs, id);
      /* untagged; with children it stays as an intermediate image */
      if (jv_array_length (jv_copy (left)) > 0 || children)
        {
          if (refs_save (s, refs, err) < 0)
            return -1;
          goto done;
        }
    }
  else
    {
      if (children)
        {
          jv_free (refs);
          return dk_make_error_code (err, DK_ECODE_CONFLICT, 0,
                                     "conflict: unable to delete %s (cannot be forced) - image has "
                                     "dependent child images",
                                     short_id);
        }
      int tags = 0;
      bool one_repo = true;
      cleanup_free char *first = NULL;
      jv_array_foreach (mine, i, k)
      {
        cleanup_free char *kn = key_name (jv_string_value (k));
        if (!key_is_digest (jv_string_value (k)))
          tags++;
        if (first == NULL)
          first = xstrdup (kn);
        else if (strcmp (first, kn) != 0)
          one_repo = false;
        jv_free (k);
      }
      if (!force && !(tags <= 1 && one_repo))
        {
          jv_free (refs);
          return dk_make_error_code (err, DK_ECODE_CONFLICT, 0,
                                     "conflict: unable to delete %s (must be forced) - image is "
                                     "referenced in multiple repositories",
                                     short_id);
        }
      if (!force && user)
        {
          jv_free (refs);
          return dk_make_error_code (err, DK_ECODE_CONFLICT, 0,
                                     "conflict: unable to delete %s (must be forced) - image is "
                                     "being used by stopped container %.12s",
                                     short_id, user);
        }
      jv_array_foreach (mine, i, k)
      {
        refs = untag_key (refs, jv_string_value (k), &records);
        jv_free (k);
      }
    }
  refs_left = jv_copy (refs);
  if (refs_save (s, refs, err) < 0)
    return -1;
  if (user && !force)
    goto done; /* untagged; the container keeps the image */
  {
    /* an image the index has no config of is refused, with image_load's
       reason */
    cleanup_jv jv config = jv_invalid ();
    if (!image_index_config (&ix, id, &config) && image_load (s, id, &config, NULL, err) < 0)
      return -1;
    cleanup_free char *parent = image_index_parent (&ix, id);
    if (delete_image_layers (s, &ix, id, &records, NULL, err) < 0
        || (prune && prune_parents (s, &ix, parent, refs_left, &records, NULL, err) < 0))
      return -1;
  }
done:
  store_unlock (s);
  dk_jsonl_write (stdout, jv_object_set (result_obj (), jv_string ("deleted"), jv_copy (records)));
  return 0;
}
