/* prune (unused images) and du (disk usage as /system/df wants it). */
#include "store.h"
#include "cleanup.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "until": a unix time, an RFC 3339 time or a duration ago ("24h", "90m"). */
static int
parse_until (const char *v, int64_t *out, dk_err_t *err)
{
  char *end;
  long long n = strtoll (v, &end, 10);
  if (*v && *end == '\0')
    {
      *out = n;
      return 0;
    }
  int64_t t = parse_time (v);
  if (t)
    {
      *out = t;
      return 0;
    }
  int64_t secs = 0;
  const char *p = v;
  while (*p)
    {
      double x = strtod (p, &end);
      if (end == p)
        break;
      int64_t mul = *end == 'h' ? 3600 : *end == 'm' ? 60 : *end == 's' ? 1 : 0;
      if (mul == 0)
        break;
      secs += (int64_t)(x * mul);
      p = end + 1;
    }
  if (*p || p == v)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid filter 'until=%s'", v);
  *out = time (NULL) - secs;
  return 0;
}

/* Deletes image id when prune's rules allow it: 1 deleted, 0 kept, -1 error. */
static int
prune_one (struct store *s, struct image_index *ix, const char *id, bool all, int64_t until,
           jv labels, jv *refs, jv *records, int64_t *reclaimed, dk_err_t *err)
{
  cleanup_jv jv config = jv_invalid ();
  cleanup_jv jv mine = refs_of (*refs, id);
  cleanup_free char *user = image_index_user (ix, id);
  bool tagged = false;
  jv_array_foreach (mine, j, k)
  {
    tagged |= strchr (jv_string_value (k), '@') == NULL;
    jv_free (k);
  }
  if (user || (tagged && !all) || image_index_has_children (ix, id)
      || !image_index_config (ix, id, &config)
      || parse_time (dk_json_str (config, "created")) >= until)
    return 0;
  cleanup_jv jv l = labels_of (config);
  bool keep = false;
  jv_array_foreach (labels, j, f)
  {
    const char *fs = jv_string_value (f);
    bool neg = strncmp (fs, "label!=", 7) == 0;
    cleanup_free char *k = xstrdup (fs + (neg ? 7 : 6));
    char *eq = strchr (k, '=');
    if (eq)
      *eq++ = '\0';
    const char *v = dk_json_str (l, k);
    bool match = v && (eq == NULL || strcmp (v, eq) == 0);
    keep |= neg ? match : !match;
    jv_free (f);
  }
  if (keep)
    return 0;
  jv_array_foreach (mine, j, k)
  {
    *refs = untag_key (*refs, jv_string_value (k), records);
    jv_free (k);
  }
  cleanup_free char *parent = image_index_parent (ix, id);
  if (refs_save (s, jv_copy (*refs), err) < 0
      || delete_image_layers (s, ix, id, records, reclaimed, err) < 0
      || prune_parents (s, ix, parent, *refs, records, reclaimed, err) < 0)
    return -1;
  return 1;
}

int
cmd_prune (struct store *s, int argc, char **argv, dk_err_t *err)
{
  static const struct option longopts[]
      = { { "all", no_argument, 0, 'a' }, { "filter", required_argument, 0, 'f' }, { 0, 0, 0, 0 } };
  bool all = false;
  int64_t until = INT64_MAX;
  cleanup_jv jv labels = jv_array ();
  int c;
  optind = 0;
  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    switch (c)
      {
      case 'a':
        all = true;
        break;
      case 'f':
        if (strncmp (optarg, "until=", 6) == 0)
          {
            if (parse_until (optarg + 6, &until, err) < 0)
              return -1;
          }
        else if (strncmp (optarg, "label=", 6) == 0 || strncmp (optarg, "label!=", 7) == 0)
          labels = jv_array_append (labels, jv_string (optarg));
        else if (strncmp (optarg, "dangling=", 9) == 0)
          all = strcmp (optarg + 9, "false") == 0 || strcmp (optarg + 9, "0") == 0;
        else
          return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid filter '%s'", optarg);
        break;
      default:
        return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                   "usage: prune [--all] [--filter k=v]...");
      }
  if (store_lock (s, err) < 0)
    return -1;
  store_clean_links (s);
  cleanup_jv jv refs = jv_invalid ();
  if (refs_load (s, &refs, err) < 0)
    return -1;
  cleanup_jv jv records = jv_array ();
  int64_t reclaimed = 0;
  int ret = 0;
  cleanup_image_index struct image_index ix;
  image_index_load (s, &ix);
  /* an image with children is kept; deleting its last child can free it,
     so --all goes round until a pass deletes nothing */
  for (bool again = true; again && ret == 0;)
    {
      again = false;
      cleanup_jv jv ids = image_index_ids (&ix);
      jv_array_foreach (ids, i, idv)
      {
        int r = ret < 0 ? 0
                        : prune_one (s, &ix, jv_string_value (idv), all, until, labels, &refs,
                                     &records, &reclaimed, err);
        if (r < 0)
          ret = -1;
        else if (r > 0)
          again = all;
        jv_free (idv);
      }
    }
  if (ret < 0)
    return -1;
  /* DK_GRAPH_ORPHAN_AGE: seconds a layer without image must have existed
     (default 600), so that a pull in progress keeps its layers */
  const char *age = getenv ("DK_GRAPH_ORPHAN_AGE");
  if (prune_orphan_layers (s, &ix, age ? strtol (age, NULL, 10) : 600, &records, &reclaimed, err)
      < 0)
    return -1;
  jv r = jv_object_set (result_obj (), jv_string ("deleted"), jv_copy (records));
  dk_jsonl_write (stdout,
                  jv_object_set (r, jv_string ("space_reclaimed"), dk_json_int64 (reclaimed)));
  return 0;
}

/* {"<image id>": how many containers use it}, one walk for all images. */
static void
count_user (const char *cid, jv meta, void *data)
{
  jv *users = data;
  const char *img = dk_json_str (meta, "image");
  int64_t n = 0;
  if (img == NULL)
    return;
  dk_json_int (*users, img, &n);
  *users = jv_object_set (*users, jv_string (img), dk_json_int64 (n + 1));
}

int
cmd_du (struct store *s, int argc, char **argv, dk_err_t *err)
{
  cleanup_jv jv refs = jv_invalid ();
  if (refs_load (s, &refs, err) < 0)
    return -1;
  /* each image read once; its layers are the chain its meta stores, the
     ones rm and prune would delete */
  cleanup_jv jv ids = image_ids (s);
  cleanup_jv jv found = jv_array ();    /* [{id, config, meta, chain}] */
  cleanup_jv jv holders = jv_object (); /* how many images hold each layer */
  jv_array_foreach (ids, i, idv)
  {
    jv config = jv_invalid (), meta = jv_invalid ();
    if (image_load (s, jv_string_value (idv), &config, &meta, NULL) == 0)
      {
        jv chain = image_chain_meta (config, meta);
        jv_array_foreach (chain, j, cid)
        {
          int64_t n = 0;
          dk_json_int (holders, jv_string_value (cid), &n);
          holders = jv_object_set (holders, cid, dk_json_int64 (n + 1));
        }
        jv e = jv_object_set (jv_object (), jv_string ("id"), idv);
        e = jv_object_set (e, jv_string ("config"), config);
        e = jv_object_set (e, jv_string ("meta"), meta);
        found = jv_array_append (found, jv_object_set (e, jv_string ("chain"), chain));
      }
    else
      {
        jv_free (config);
        jv_free (meta);
        jv_free (idv);
      }
  }
  int64_t total = 0;
  jv_object_foreach (holders, k, v)
  {
    cleanup_jv jv m = jv_invalid ();
    int64_t sz = 0;
    if (layer_meta (s, jv_string_value (k), &m, NULL) == 0 && dk_json_int (m, "size", &sz))
      total += sz;
    jv_free (k);
    jv_free (v);
  }
  cleanup_jv jv users = jv_object ();
  container_walk (s, count_user, &users);
  jv images = jv_array ();
  jv_array_foreach (found, i, e)
  {
    const char *id = dk_json_str (e, "id");
    cleanup_jv jv config = dk_json_get (e, "config");
    cleanup_jv jv meta = dk_json_get (e, "meta");
    cleanup_jv jv chain = dk_json_get (e, "chain");
    jv sum = image_summary (s, id, config, meta, refs);
    int64_t shared = 0;
    jv_array_foreach (chain, j, cid)
    {
      int64_t n = 0, sz = 0;
      cleanup_jv jv m = jv_invalid ();
      dk_json_int (holders, jv_string_value (cid), &n);
      if (n > 1 && layer_meta (s, jv_string_value (cid), &m, NULL) == 0
          && dk_json_int (m, "size", &sz))
        shared += sz;
      jv_free (cid);
    }
    sum = jv_object_set (sum, jv_string ("SharedSize"), dk_json_int64 (shared));
    int64_t nusers = 0;
    dk_json_int (users, id, &nusers);
    sum = jv_object_set (sum, jv_string ("Containers"), dk_json_int64 (nusers));
    images = jv_array_append (images, sum);
    jv_free (e);
  }
  jv r = jv_object_set (result_obj (), jv_string ("layers_size"), dk_json_int64 (total));
  dk_jsonl_write (stdout, jv_object_set (r, jv_string ("images"), images));
  return 0;
}
