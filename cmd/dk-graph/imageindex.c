/* What deleting images asks about all of them (which have children, which a
   container uses, which layers something still holds), read once per
   command: prune deletes many images, and each of these questions used to
   read every image's files again.  Kept current as images are deleted. */
#include "store.h"
#include "atomicfile.h"
#include "cleanup.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static void
count (jv *o, const char *key, int d)
{
  int64_t n = 0;
  dk_json_int (*o, key, &n);
  *o = jv_object_set (*o, jv_string (key), jv_number (n + d));
}

static int
hold (const char *chain, jv meta, void *data)
{
  count (data, chain, 1);
  return 0;
}

static void
add_image (struct store *s, struct image_index *ix, const char *id)
{
  cleanup_jv jv config = jv_invalid ();
  cleanup_jv jv meta = jv_invalid ();
  /* one look for both; a meta that cannot be read (left invalid) counts as
     empty, an image without a readable config is not indexed */
  if (image_load (s, id, &config, &meta, NULL) < 0
      && (jv_is_valid (meta) || image_load (s, id, &config, NULL, NULL) < 0))
    return;
  if (jv_get_kind (meta) != JV_KIND_OBJECT)
    {
      jv_free (meta);
      meta = jv_object ();
    }
  const char *p = dk_json_str (meta, "parent");
  if (p && !dk_digest_is_valid (p))
    p = NULL;
  if (p)
    count (&ix->children, p, 1);
  jv chain = image_chain_meta (config, meta);
  jv_array_foreach (chain, i, c)
  {
    count (&ix->held, jv_string_value (c), 1);
    jv_free (c);
  }
  jv e = jv_object_set (jv_object (), jv_string ("chain"), chain);
  e = jv_object_set (e, jv_string ("parent"), p ? jv_string (p) : jv_null ());
  e = jv_object_set (e, jv_string ("config"), jv_copy (config));
  ix->images = jv_object_set (ix->images, jv_string (id), e);
}

struct walk
{
  struct store *s;
  struct image_index *ix;
};

static void
add_container (const char *id, jv meta, void *data)
{
  struct walk *w = data;
  const char *img = dk_json_str (meta, "image");
  const char *l = dk_json_str (meta, "layer");
  if (img && dk_json_str (w->ix->users, img) == NULL)
    w->ix->users = jv_object_set (w->ix->users, jv_string (img), jv_string (id));
  if (l && *l)
    layer_walk (w->s, l, hold, &w->ix->held, NULL);
}

/* Layers a pull, import or load in progress needs: dk-pull writes their
   chain IDs to holds in its tmp/ entry before it looks for them (import
   and load as they find them, holds.c), and keeps that entry's lock until
   its image is added (docs/store.md). */
static void
add_tmp_holds (struct store *s, struct image_index *ix)
{
  cleanup_closedir DIR *d = opendir (s->tmp);
  struct dirent *de;
  while (d && (de = readdir (d)))
    {
      size_t l = strlen (de->d_name);
      if (l < 6 || strcmp (de->d_name + l - 5, ".lock") != 0)
        continue;
      cleanup_free char *hp = xasprintf ("%s/%.*s/holds", s->tmp, (int)(l - 5), de->d_name);
      cleanup_free char *text = NULL;
      size_t len;
      if (dk_read_file (hp, &text, &len, NULL) < 0)
        continue;
      cleanup_free char *lock = xasprintf ("%s/%s", s->tmp, de->d_name);
      cleanup_close int fd = open (lock, O_RDWR | O_CLOEXEC);
      if (fd < 0 || flock (fd, LOCK_SH | LOCK_NB) == 0)
        continue; /* that pull (import, load) is over */
      char *save = NULL;
      for (char *c = strtok_r (text, "\n", &save); c; c = strtok_r (NULL, "\n", &save))
        if (dk_digest_is_valid (c))
          count (&ix->held, c, 1);
    }
}

void
image_index_load (struct store *s, struct image_index *ix)
{
  ix->images = jv_object ();
  ix->children = jv_object ();
  ix->users = jv_object ();
  ix->held = jv_object ();
  ix->kids = jv_invalid ();
  cleanup_jv jv ids = image_ids (s);
  jv_array_foreach (ids, i, id)
  {
    add_image (s, ix, jv_string_value (id));
    jv_free (id);
  }
  struct walk w = { s, ix };
  container_walk (s, add_container, &w);
  add_tmp_holds (s, ix);
}

void
image_index_free (struct image_index *ix)
{
  jv_free (ix->images);
  jv_free (ix->children);
  jv_free (ix->users);
  jv_free (ix->held);
  jv_free (ix->kids);
  memset (ix, 0, sizeof *ix);
}

static void
add_layer (const char *hex, jv meta, void *data)
{
  const char *p = dk_json_str (meta, "parent");
  if (p && *p)
    count (data, p, 1);
}

bool
image_index_layer_has_children (struct store *s, struct image_index *ix, const char *chain)
{
  if (!jv_is_valid (ix->kids))
    {
      ix->kids = jv_object ();
      meta_walk (s, "layers", add_layer, &ix->kids);
    }
  int64_t n = 0;
  return dk_json_int (ix->kids, chain, &n) && n > 0;
}

void
image_index_layer_gone (struct image_index *ix, const char *chain, const char *parent)
{
  if (!jv_is_valid (ix->kids))
    return;
  ix->kids = jv_object_delete (ix->kids, jv_string (chain));
  if (parent && *parent)
    count (&ix->kids, parent, -1);
}

jv
image_index_ids (struct image_index *ix)
{
  return jv_keys (jv_copy (ix->images));
}

bool
image_index_config (struct image_index *ix, const char *id, jv *config)
{
  cleanup_jv jv e = dk_json_get (ix->images, id);
  if (!jv_is_valid (e))
    return false;
  *config = dk_json_get (e, "config");
  return true;
}

char *
image_index_parent (struct image_index *ix, const char *id)
{
  cleanup_jv jv e = dk_json_get (ix->images, id);
  const char *p = dk_json_str (e, "parent");
  return p ? xstrdup (p) : NULL;
}

bool
image_index_has_children (struct image_index *ix, const char *id)
{
  int64_t n = 0;
  return dk_json_int (ix->children, id, &n) && n > 0;
}

char *
image_index_user (struct image_index *ix, const char *id)
{
  const char *c = dk_json_str (ix->users, id);
  return c ? xstrdup (c) : NULL;
}

bool
image_index_holds (struct image_index *ix, const char *chain)
{
  int64_t n = 0;
  return dk_json_int (ix->held, chain, &n) && n > 0;
}

jv
image_index_drop (struct image_index *ix, const char *id)
{
  cleanup_jv jv e = dk_json_get (ix->images, id);
  if (!jv_is_valid (e))
    return jv_array ();
  const char *p = dk_json_str (e, "parent");
  if (p)
    count (&ix->children, p, -1);
  jv chain = dk_json_get (e, "chain");
  jv_array_foreach (chain, i, c)
  {
    count (&ix->held, jv_string_value (c), -1);
    jv_free (c);
  }
  ix->images = jv_object_delete (ix->images, jv_string (id));
  return chain;
}
