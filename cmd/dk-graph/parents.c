/* Image parents (docs/store.md, "Parent images"): an image may name a parent
   image in its meta ("parent", from `image-add --parent` or a loaded
   manifest.json's "Parent"). As in moby, an image with children cannot be
   deleted, an untagged image with children is an intermediate image that
   `ls` hides without --all, and deleting an image deletes its untagged,
   unused, childless ancestors too (unless --no-prune). */
#include "store.h"
#include "atomicfile.h"
#include "cleanup.h"

#include <stdlib.h>
#include <string.h>

char *
image_parent (struct store *s, const char *id)
{
  cleanup_jv jv meta = jv_invalid ();
  if (image_load (s, id, NULL, &meta, NULL) < 0)
    return NULL;
  const char *p = dk_json_str (meta, "parent");
  return p && dk_digest_is_valid (p) ? xstrdup (p) : NULL;
}

int
image_set_parent (struct store *s, const char *id, const char *parent, dk_err_t *err)
{
  if (strcmp (id, parent) == 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "image %s cannot be its own parent", id);
  /* no cycles: the parent's ancestors must not include id */
  cleanup_free char *cur = xstrdup (parent);
  for (int depth = 0; cur && depth < 10000; depth++)
    {
      if (strcmp (cur, id) == 0)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                   "image %s is an ancestor of %s: no cycles", id, parent);
      char *next = image_parent (s, cur);
      free (cur);
      cur = next;
    }
  if (store_lock (s, err) < 0)
    return -1;
  cleanup_jv jv meta = jv_invalid ();
  if (image_load (s, id, NULL, &meta, err) < 0 || image_load (s, parent, NULL, NULL, err) < 0)
    return -1;
  cleanup_free char *mp = xasprintf ("%s/images/%s.json", s->idir, dk_digest_hex (id));
  jv m = jv_object_set (jv_copy (meta), jv_string ("parent"), jv_string (parent));
  if (dk_atomic_write_json (mp, m, err) < 0)
    return -1;
  store_unlock (s);
  return 0;
}

int
prune_parents (struct store *s, struct image_index *ix, const char *parent, jv refs, jv *records,
               int64_t *reclaimed, dk_err_t *err)
{
  cleanup_free char *cur = parent ? xstrdup (parent) : NULL;
  while (cur)
    {
      /* moby deletes it quietly: any conflict keeps it */
      cleanup_jv jv mine = refs_of (refs, cur);
      cleanup_free char *user = image_index_user (ix, cur);
      cleanup_jv jv config = jv_invalid ();
      if (jv_array_length (jv_copy (mine)) > 0 || user || image_index_has_children (ix, cur)
          || !image_index_config (ix, cur, &config))
        return 0;
      char *next = image_index_parent (ix, cur);
      if (delete_image_layers (s, ix, cur, records, reclaimed, err) < 0)
        {
          free (next);
          return -1;
        }
      free (cur);
      cur = next;
    }
  return 0;
}

jv
image_parent_set (struct store *s)
{
  jv set = jv_object ();
  cleanup_jv jv ids = image_ids (s);
  jv_array_foreach (ids, i, id)
  {
    cleanup_free char *p = image_parent (s, jv_string_value (id));
    if (p)
      set = jv_object_set (set, jv_string (p), jv_true ());
    jv_free (id);
  }
  return set;
}
