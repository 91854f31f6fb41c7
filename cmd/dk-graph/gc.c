/* Removing an image and the layers nothing else holds.  Layer references
   are derived under the store lock from what exists (images' layer chains,
   containers' layers, layers' parents; imageindex.c, once per command)
   rather than kept as counters on disk, so a crash can never leave a count
   wrong. */
#include "store.h"
#include "atomicfile.h"
#include "cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

static jv
names_in (const char *dir, const char *suffix)
{
  jv out = jv_array ();
  cleanup_closedir DIR *d = opendir (dir);
  struct dirent *de;
  size_t sl = strlen (suffix);
  while (d && (de = readdir (d)))
    {
      size_t l = strlen (de->d_name);
      if (de->d_name[0] == '.' || l < sl || strcmp (de->d_name + l - sl, suffix) != 0)
        continue;
      out = jv_array_append (out, jv_string_sized (de->d_name, l - sl));
    }
  return out;
}

int
layer_delete (struct store *s, const char *chain, dk_err_t *err)
{
  cleanup_jv jv meta = jv_invalid ();
  if (layer_meta (s, chain, &meta, err) < 0)
    return -1;
  const char *link = dk_json_str (meta, "link");
  if (link && *link)
    {
      cleanup_free char *lp = xasprintf ("%s/l/%s", s->ddir, link);
      unlink (lp);
    }
  /* out of layers/ in one rename into the store's trash, removed in the
     background once the command is done (a crash leaves it in tmp/, which
     the next run cleans) */
  if (s->trash.path == NULL && tmpdir_new (s, &s->trash, err) < 0)
    return -1;
  cleanup_free char *dir = layer_dir (s, chain);
  cleanup_free char *dest = xasprintf ("%s/%s", s->trash.path, dk_digest_hex (chain));
  if (rename (dir, dest) < 0)
    return dk_make_error (err, errno, "remove layer %s", chain);
  return 0;
}

int
delete_image_layers (struct store *s, struct image_index *ix, const char *id, jv *records,
                     int64_t *reclaimed, dk_err_t *err)
{
  cleanup_free char *metap = xasprintf ("%s/images/%s.json", s->idir, dk_digest_hex (id));
  cleanup_free char *cp = xasprintf ("%s/content/sha256/%s", s->idir, dk_digest_hex (id));
  if (unlink (metap) < 0 && errno != ENOENT)
    return dk_make_error (err, errno, "remove image %s", id);
  unlink (cp);
  *records = jv_array_append (*records,
                              jv_object_set (jv_object (), jv_string ("Deleted"), jv_string (id)));
  cleanup_jv jv ch = image_index_drop (ix, id);
  for (int i = dk_json_len (ch) - 1; i >= 0; i--)
    {
      cleanup_jv jv c = jv_array_get (jv_copy (ch), i);
      const char *cid = jv_string_value (c);
      if (image_index_holds (ix, cid) || image_index_layer_has_children (s, ix, cid))
        break;
      cleanup_jv jv lm = jv_invalid ();
      int64_t sz = 0;
      layer_meta (s, cid, &lm, NULL);
      if (reclaimed && dk_json_int (lm, "size", &sz))
        *reclaimed += sz;
      if (layer_delete (s, cid, err) < 0)
        return -1;
      image_index_layer_gone (ix, cid, dk_json_str (lm, "parent"));
      *records = jv_array_append (
          *records, jv_object_set (jv_object (), jv_string ("Deleted"), jv_string (cid)));
    }
  return 0;
}

/* Layers nothing holds (left by a pull that failed before image-add), with
   their meta.json older than min_age seconds so that a pull in progress
   keeps what it registered; removed children first. */
int
prune_orphan_layers (struct store *s, struct image_index *ix, long min_age, jv *records,
                     int64_t *reclaimed, dk_err_t *err)
{
  cleanup_free char *ldir = xasprintf ("%s/layers", s->ddir);
  for (bool again = true; again;)
    {
      again = false;
      cleanup_jv jv hexes = names_in (ldir, "");
      jv parents = jv_object ();
      jv_array_foreach (hexes, i, hex)
      {
        cleanup_free char *mp = xasprintf ("%s/%s/meta.json", ldir, jv_string_value (hex));
        cleanup_jv jv m = jv_invalid ();
        const char *p;
        if (dk_json_read_file (mp, &m, NULL) == 0 && (p = dk_json_str (m, "parent")) && *p)
          parents = jv_object_set (parents, jv_string (p), jv_true ());
        jv_free (hex);
      }
      time_t now = time (NULL);
      jv_array_foreach (hexes, i, hex)
      {
        cleanup_free char *chain = xasprintf ("sha256:%s", jv_string_value (hex));
        cleanup_free char *mp = xasprintf ("%s/%s/meta.json", ldir, jv_string_value (hex));
        struct stat st;
        bool keep = stat (mp, &st) < 0 || now - st.st_mtime < min_age
                    || image_index_holds (ix, chain)
                    || jv_get_kind (dk_json_get (parents, chain)) == JV_KIND_TRUE;
        jv_free (hex);
        if (keep)
          continue;
        cleanup_jv jv lm = jv_invalid ();
        int64_t sz = 0;
        if (layer_meta (s, chain, &lm, NULL) == 0 && dk_json_int (lm, "size", &sz))
          *reclaimed += sz;
        if (layer_delete (s, chain, err) < 0)
          {
            jv_free (parents);
            return -1;
          }
        *records = jv_array_append (
            *records, jv_object_set (jv_object (), jv_string ("Deleted"), jv_string (chain)));
        again = true;
      }
      jv_free (parents);
    }
  return 0;
}

int
layers_release (struct store *s, char *const *chains, int n, jv *records, int64_t *reclaimed,
                dk_err_t *err)
{
  if (store_lock (s, err) < 0)
    return -1;
  struct image_index ix;
  image_index_load (s, &ix);
  for (int i = n - 1; i >= 0; i--)
    {
      const char *chain = chains[i];
      if (!layer_exists (s, chain) || image_index_holds (&ix, chain)
          || image_index_layer_has_children (s, &ix, chain))
        continue;
      cleanup_jv jv lm = jv_invalid ();
      int64_t sz = 0;
      if (layer_meta (s, chain, &lm, NULL) == 0 && dk_json_int (lm, "size", &sz))
        *reclaimed += sz;
      if (layer_delete (s, chain, err) < 0)
        {
          image_index_free (&ix);
          return -1;
        }
      image_index_layer_gone (&ix, chain, dk_json_str (lm, "parent"));
      *records = jv_array_append (
          *records, jv_object_set (jv_object (), jv_string ("Deleted"), jv_string (chain)));
    }
  image_index_free (&ix);
  return 0;
}

/* layer-release CHAINID...: a pull that failed drops the layers it
   registered (moby releases them at once). */
int
cmd_layer_release (struct store *s, int argc, char **argv, dk_err_t *err)
{
  if (argc < 2)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: layer-release CHAINID...");
  jv records = jv_array ();
  int64_t reclaimed = 0;
  if (layers_release (s, argv + 1, argc - 1, &records, &reclaimed, err) < 0)
    {
      jv_free (records);
      return -1;
    }
  jv r = jv_object_set (result_obj (), jv_string ("deleted"), records);
  dk_jsonl_write (stdout,
                  jv_object_set (r, jv_string ("space_reclaimed"), dk_json_int64 (reclaimed)));
  return 0;
}
