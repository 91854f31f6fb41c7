/* Engine API shaped views of images: ls (ImageSummary), inspect
   (ImageInspect), history (HistoryResponseItem). */
#include "store.h"
#include "cleanup.h"
#include "reference.h"

#include <dirent.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

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

/* RepoTags and RepoDigests of id, in the familiar form, sorted. */
static void
image_refs (jv refs, const char *id, jv *tags, jv *digests)
{
  *tags = jv_array ();
  *digests = jv_array ();
  jv_object_foreach (refs, k, v)
  {
    if (jv_get_kind (v) == JV_KIND_STRING && strcmp (jv_string_value (v), id) == 0)
      {
        cleanup_free char *f = familiar (jv_string_value (k));
        if (strchr (jv_string_value (k), '@'))
          *digests = jv_array_append (*digests, jv_string (f));
        else
          *tags = jv_array_append (*tags, jv_string (f));
      }
    jv_free (k);
    jv_free (v);
  }
  *tags = jv_sort (*tags, jv_copy (*tags));
  *digests = jv_sort (*digests, jv_copy (*digests));
}

int64_t
image_size (struct store *s, jv chain)
{
  int64_t total = 0;
  jv_array_foreach (chain, i, c)
  {
    cleanup_jv jv m = jv_invalid ();
    int64_t sz = 0;
    if (layer_meta (s, jv_string_value (c), &m, NULL) == 0 && dk_json_int (m, "size", &sz))
      total += sz;
    jv_free (c);
  }
  return total;
}

jv
labels_of (jv config)
{
  cleanup_jv jv cc = dk_json_get_kind (config, "config", JV_KIND_OBJECT);
  jv l = dk_json_get_kind (cc, "Labels", JV_KIND_OBJECT);
  return jv_is_valid (l) ? l : jv_object ();
}

static jv
str_or_empty (jv obj, const char *key)
{
  const char *v = dk_json_str (obj, key);
  return jv_string (v ? v : "");
}

jv
image_summary (struct store *s, const char *id, jv config, jv meta, jv refs)
{
  jv tags, digests;
  image_refs (refs, id, &tags, &digests);
  cleanup_jv jv chain = image_chain_meta (config, meta);
  jv o = jv_object ();
  o = jv_object_set (o, jv_string ("Id"), jv_string (id));
  o = jv_object_set (o, jv_string ("ParentId"), str_or_empty (meta, "parent"));
  o = jv_object_set (o, jv_string ("RepoTags"), tags);
  o = jv_object_set (o, jv_string ("RepoDigests"), digests);
  o = jv_object_set (o, jv_string ("Created"),
                     dk_json_int64 (parse_time (dk_json_str (config, "created"))));
  o = jv_object_set (o, jv_string ("Size"), dk_json_int64 (image_size (s, chain)));
  o = jv_object_set (o, jv_string ("SharedSize"), dk_json_int64 (-1));
  o = jv_object_set (o, jv_string ("Labels"), labels_of (config));
  o = jv_object_set (o, jv_string ("Containers"), dk_json_int64 (-1));
  return o;
}

static bool
label_match (jv labels, const char *want)
{
  cleanup_free char *k = xstrdup (want);
  char *eq = strchr (k, '=');
  if (eq)
    *eq++ = '\0';
  const char *v = dk_json_str (labels, k);
  return v && (eq == NULL || strcmp (v, eq) == 0);
}

/* A reference ("name:tag" or "name@digest") matches a pattern of the
   reference filter on its whole text or on its name. */
static bool
ref_matches (const char *ref, jv patterns)
{
  cleanup_free char *name = xstrdup (ref);
  char *at = strchr (name, '@'), *colon = strrchr (name, ':');
  if (at)
    *at = '\0';
  else if (colon && !strchr (colon, '/'))
    *colon = '\0';
  bool m = false;
  jv_array_foreach (patterns, i, p)
  {
    const char *pat = jv_string_value (p);
    m = m || fnmatch (pat, ref, FNM_PATHNAME) == 0 || fnmatch (pat, name, FNM_PATHNAME) == 0;
    jv_free (p);
  }
  return m;
}

/* Docker lists a matching image with only its matching references */
static jv
refs_matching (jv refs, jv patterns)
{
  jv out = jv_array ();
  jv_array_foreach (refs, i, r)
  {
    if (ref_matches (jv_string_value (r), patterns))
      out = jv_array_append (out, jv_copy (r));
    jv_free (r);
  }
  return out;
}

static int
cmp_created (const void *a, const void *b)
{
  int64_t x = 0, y = 0;
  dk_json_int (*(const jv *)a, "Created", &x);
  dk_json_int (*(const jv *)b, "Created", &y);
  return x < y ? 1 : x > y ? -1 : 0;
}

int
cmd_ls (struct store *s, int argc, char **argv, dk_err_t *err)
{
  static const struct option longopts[] = { { "all", no_argument, 0, 'a' },
                                            { "digests", no_argument, 0, 'd' },
                                            { "filter", required_argument, 0, 'f' },
                                            { 0, 0, 0, 0 } };
  cleanup_jv jv filters = jv_array ();
  bool all = false;
  int c;
  optind = 0;
  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    switch (c)
      {
      case 'a':
        all = true;
        break;
      case 'd':
        break;
      case 'f':
        if (strchr (optarg, '=') == NULL)
          return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                     "bad format of filter (expected name=value)");
        filters = jv_array_append (filters, jv_string (optarg));
        break;
      default:
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: ls [--all] [--filter k=v]...");
      }
  cleanup_jv jv refs = jv_invalid ();
  if (refs_load (s, &refs, err) < 0)
    return -1;
  int64_t before = INT64_MAX, since = INT64_MIN;
  jv_array_foreach (filters, i, f)
  {
    const char *fs = jv_string_value (f);
    if (strncmp (fs, "before=", 7) == 0 || strncmp (fs, "since=", 6) == 0)
      {
        bool is_before = fs[0] == 'b';
        cleanup_free char *id = NULL;
        cleanup_jv jv cfg = jv_invalid ();
        if (image_resolve (s, strchr (fs, '=') + 1, &id, err) < 0
            || image_load (s, id, &cfg, NULL, err) < 0)
          {
            jv_free (f);
            return -1;
          }
        int64_t t = parse_time (dk_json_str (cfg, "created"));
        *(is_before ? &before : &since) = t;
      }
    else if (strncmp (fs, "dangling=", 9) && strncmp (fs, "label=", 6)
             && strncmp (fs, "reference=", 10))
      {
        dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid filter '%.*s'",
                            (int)(strchr (fs, '=') - fs), fs);
        jv_free (f);
        return -1;
      }
    jv_free (f);
  }

  /* untagged images with children are intermediate: shown with --all */
  cleanup_jv jv parents = all ? jv_object () : image_parent_set (s);
  cleanup_free char *dir = xasprintf ("%s/images", s->idir);
  cleanup_closedir DIR *d = opendir (dir);
  jv *list = NULL;
  size_t n = 0;
  struct dirent *de;
  while (d && (de = readdir (d)))
    {
      if (strlen (de->d_name) != 64 + 5)
        continue;
      cleanup_free char *id = xasprintf ("sha256:%.64s", de->d_name);
      cleanup_jv jv config = jv_invalid ();
      cleanup_jv jv meta = jv_invalid ();
      if (image_load (s, id, &config, &meta, NULL) < 0)
        continue;
      jv sum = image_summary (s, id, config, meta, refs);
      cleanup_jv jv tags = dk_json_get (sum, "RepoTags");
      cleanup_jv jv digests = dk_json_get (sum, "RepoDigests");
      cleanup_jv jv labels = dk_json_get (sum, "Labels");
      int64_t created = 0;
      dk_json_int (sum, "Created", &created);
      bool keep = created < before && created > since;
      if (dk_json_len (tags) <= 0 && dk_json_len (digests) <= 0
          && jv_get_kind (dk_json_get (parents, id)) == JV_KIND_TRUE)
        keep = false;
      jv patterns = jv_array ();
      jv_array_foreach (filters, i, f)
      {
        const char *fs = jv_string_value (f);
        if (strncmp (fs, "reference=", 10) == 0)
          patterns = jv_array_append (patterns, jv_string (fs + 10));
        else if (strncmp (fs, "dangling=", 9) == 0)
          {
            bool want = strcmp (fs + 9, "true") == 0 || strcmp (fs + 9, "1") == 0;
            keep &= want == (jv_array_length (jv_copy (tags)) == 0);
          }
        else if (strncmp (fs, "label=", 6) == 0)
          keep &= label_match (labels, fs + 6);
        jv_free (f);
      }
      if (keep && jv_array_length (jv_copy (patterns)) > 0)
        {
          jv t = refs_matching (jv_copy (tags), patterns);
          jv d = refs_matching (jv_copy (digests), patterns);
          keep = jv_array_length (jv_copy (t)) + jv_array_length (jv_copy (d)) > 0;
          sum = jv_object_set (sum, jv_string ("RepoTags"), t);
          sum = jv_object_set (sum, jv_string ("RepoDigests"), d);
        }
      jv_free (patterns);
      if (!keep)
        {
          jv_free (sum);
          continue;
        }
      list = xrealloc (list, (n + 1) * sizeof *list);
      list[n++] = sum;
    }
  if (n > 0)
    qsort (list, n, sizeof *list, cmp_created);
  jv arr = jv_array ();
  for (size_t i = 0; i < n; i++)
    arr = jv_array_append (arr, list[i]);
  free (list);
  dk_jsonl_write (stdout, jv_object_set (result_obj (), jv_string ("images"), arr));
  return 0;
}

static jv
graph_driver (struct store *s, jv chain)
{
  jv g = jv_object_set (jv_object (), jv_string ("Name"), jv_string (s->driver));
  int n = dk_json_len (chain);
  if (!s->overlay || n == 0)
    return jv_object_set (g, jv_string ("Data"), jv_null ());
  jv data = jv_object ();
  cleanup_jv jv top = jv_array_get (jv_copy (chain), n - 1);
  cleanup_free char *td = layer_dir (s, jv_string_value (top));
  struct dk_buf lower = DK_BUF_INIT;
  for (int i = n - 2; i >= 0; i--)
    {
      cleanup_jv jv c = jv_array_get (jv_copy (chain), i);
      cleanup_free char *ld = layer_dir (s, jv_string_value (c));
      dk_buf_printf (&lower, "%s%s/diff", lower.len ? ":" : "", ld);
    }
  if (lower.len)
    data = jv_object_set (data, jv_string ("LowerDir"), jv_string (lower.data));
  dk_buf_free (&lower);
  data = jv_object_set (data, jv_string ("MergedDir"), jv_string_fmt ("%s/merged", td));
  data = jv_object_set (data, jv_string ("UpperDir"), jv_string_fmt ("%s/diff", td));
  data = jv_object_set (data, jv_string ("WorkDir"), jv_string_fmt ("%s/work", td));
  return jv_object_set (g, jv_string ("Data"), data);
}

int
cmd_inspect (struct store *s, int argc, char **argv, dk_err_t *err)
{
  if (argc != 2)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: inspect IMAGE");
  cleanup_free char *id = NULL;
  cleanup_jv jv config = jv_invalid ();
  cleanup_jv jv meta = jv_invalid ();
  cleanup_jv jv refs = jv_invalid ();
  if (image_resolve (s, argv[1], &id, err) < 0 || image_load (s, id, &config, &meta, err) < 0
      || refs_load (s, &refs, err) < 0)
    return -1;
  jv tags, digests;
  image_refs (refs, id, &tags, &digests);
  cleanup_jv jv chain = image_chain_meta (config, meta);
  cleanup_jv jv rootfs = dk_json_get_kind (config, "rootfs", JV_KIND_OBJECT);
  jv diff_ids = dk_json_get_kind (rootfs, "diff_ids", JV_KIND_ARRAY);
  jv o = jv_object ();
  o = jv_object_set (o, jv_string ("Id"), jv_string (id));
  o = jv_object_set (o, jv_string ("RepoTags"), tags);
  o = jv_object_set (o, jv_string ("RepoDigests"), digests);
  o = jv_object_set (o, jv_string ("Parent"),
                     str_or_empty (dk_json_str (meta, "parent") ? meta : config, "parent"));
  o = jv_object_set (o, jv_string ("Comment"), str_or_empty (config, "comment"));
  o = jv_object_set (o, jv_string ("Created"), str_or_empty (config, "created"));
  o = jv_object_set (o, jv_string ("DockerVersion"), str_or_empty (config, "docker_version"));
  o = jv_object_set (o, jv_string ("Author"), str_or_empty (config, "author"));
  jv cc = dk_json_get_kind (config, "config", JV_KIND_OBJECT);
  o = jv_object_set (o, jv_string ("Config"), jv_is_valid (cc) ? cc : jv_null ());
  o = jv_object_set (o, jv_string ("Architecture"), str_or_empty (config, "architecture"));
  if (dk_json_str (config, "variant"))
    o = jv_object_set (o, jv_string ("Variant"), str_or_empty (config, "variant"));
  o = jv_object_set (o, jv_string ("Os"), str_or_empty (config, "os"));
  if (dk_json_str (config, "os.version"))
    o = jv_object_set (o, jv_string ("OsVersion"), str_or_empty (config, "os.version"));
  o = jv_object_set (o, jv_string ("Size"), dk_json_int64 (image_size (s, chain)));
  o = jv_object_set (o, jv_string ("GraphDriver"), graph_driver (s, chain));
  jv rf = jv_object_set (jv_object (), jv_string ("Type"), jv_string ("layers"));
  rf = jv_object_set (rf, jv_string ("Layers"), jv_is_valid (diff_ids) ? diff_ids : jv_array ());
  o = jv_object_set (o, jv_string ("RootFS"), rf);
  const char *ltt = dk_json_str (meta, "last_tag_time");
  o = jv_object_set (o, jv_string ("Metadata"),
                     jv_object_set (jv_object (), jv_string ("LastTagTime"),
                                    jv_string (ltt ? ltt : "0001-01-01T00:00:00Z")));
  dk_jsonl_write (stdout, jv_object_set (result_obj (), jv_string ("image"), o));
  return 0;
}

int
cmd_history (struct store *s, int argc, char **argv, dk_err_t *err)
{
  if (argc != 2)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "usage: history IMAGE");
  cleanup_free char *id = NULL;
  cleanup_jv jv config = jv_invalid ();
  cleanup_jv jv refs = jv_invalid ();
  if (image_resolve (s, argv[1], &id, err) < 0 || image_load (s, id, &config, NULL, err) < 0
      || refs_load (s, &refs, err) < 0)
    return -1;
  cleanup_jv jv chain = image_chain (config);
  cleanup_jv jv hist = dk_json_get_kind (config, "history", JV_KIND_ARRAY);
  int nh = dk_json_len (hist), nl = dk_json_len (chain);
  if (nh <= 0)
    {
      jv_free (hist);
      hist = jv_array ();
      for (int i = 0; i < nl; i++)
        hist = jv_array_append (hist, jv_object ());
      nh = nl;
    }
  /* sizes: non-empty history entries consume the layers bottom up */
  int64_t *sizes = xzalloc ((nh + 1) * sizeof *sizes);
  for (int i = 0, l = 0; i < nh; i++)
    {
      cleanup_jv jv h = jv_array_get (jv_copy (hist), i);
      bool empty = false;
      dk_json_bool (h, "empty_layer", &empty);
      if (empty || l >= nl)
        continue;
      cleanup_jv jv c = jv_array_get (jv_copy (chain), l++);
      cleanup_jv jv m = jv_invalid ();
      if (layer_meta (s, jv_string_value (c), &m, NULL) == 0)
        dk_json_int (m, "size", &sizes[i]);
    }
  jv tags, digests;
  image_refs (refs, id, &tags, &digests);
  jv_free (digests);
  jv out = jv_array ();
  for (int i = nh - 1; i >= 0; i--)
    {
      cleanup_jv jv h = jv_array_get (jv_copy (hist), i);
      jv o = jv_object ();
      o = jv_object_set (o, jv_string ("Id"), jv_string (i == nh - 1 ? id : "<missing>"));
      const char *created = dk_json_str (h, "created");
      if (created == NULL && i == nh - 1)
        created = dk_json_str (config, "created");
      o = jv_object_set (o, jv_string ("Created"), dk_json_int64 (parse_time (created)));
      o = jv_object_set (o, jv_string ("CreatedBy"), str_or_empty (h, "created_by"));
      o = jv_object_set (o, jv_string ("Tags"),
                         i == nh - 1 && jv_array_length (jv_copy (tags)) ? jv_copy (tags)
                                                                         : jv_null ());
      o = jv_object_set (o, jv_string ("Size"), dk_json_int64 (sizes[i]));
      o = jv_object_set (o, jv_string ("Comment"), str_or_empty (h, "comment"));
      out = jv_array_append (out, o);
    }
  jv_free (tags);
  free (sizes);
  dk_jsonl_write (stdout, jv_object_set (result_obj (), jv_string ("history"), out));
  return 0;
}
