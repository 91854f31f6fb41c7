#include "distmeta.h"
#include "atomicfile.h"
#include "cleanup.h"
#include "digest.h"
#include "log.h"

#include <string.h>

static char *
path_for (const char *root, const char *diff_id)
{
  if (!dk_digest_is_valid (diff_id))
    return NULL;
  return xasprintf ("%s/distribution/v2metadata-by-diffid/sha256/%s", root,
                    dk_digest_hex (diff_id));
}

jv
distmeta_get (const char *root, const char *diff_id)
{
  cleanup_free char *p = path_for (root, diff_id);
  jv v = jv_invalid ();
  dk_err_t e = NULL;
  if (p == NULL || dk_json_read_file (p, &v, &e) < 0 || jv_get_kind (v) != JV_KIND_ARRAY)
    {
      dk_error_release (&e);
      jv_free (v);
      return jv_array ();
    }
  return v;
}

void
distmeta_add (const char *root, const char *diff_id, const char *digest, const char *host,
              const char *repo)
{
  cleanup_free char *p = path_for (root, diff_id);
  if (p == NULL)
    return;
  jv arr = distmeta_get (root, diff_id);
  int n = dk_json_len (arr);
  for (int i = 0; i < n; i++)
    {
      jv e = dk_json_at (arr, i);
      const char *d = dk_json_str (e, "digest"), *h = dk_json_str (e, "host"),
                 *r = dk_json_str (e, "repo");
      bool same = d && h && r && strcmp (d, digest) == 0 && strcmp (h, host) == 0
                  && strcmp (r, repo) == 0;
      jv_free (e);
      if (same)
        {
          jv_free (arr);
          return;
        }
    }
  jv ent = jv_object_set (jv_object (), jv_string ("digest"), jv_string (digest));
  ent = jv_object_set (ent, jv_string ("host"), jv_string (host));
  ent = jv_object_set (ent, jv_string ("repo"), jv_string (repo));
  arr = jv_array_append (arr, ent);
  cleanup_free char *dir = xstrndup (p, strrchr (p, '/') - p);
  dk_err_t e = NULL;
  if (dk_mkdir_p (dir, 0700, &e) < 0)
    jv_free (arr);
  if (e != NULL || dk_atomic_write_json (p, arr, &e) < 0)
    {
      dk_warn ("record the origin of layer %s: %s", diff_id, e->msg);
      dk_error_release (&e);
      return;
    }
}
