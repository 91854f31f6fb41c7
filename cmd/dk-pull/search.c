/* dk-pull search TERM: the index is the registry named in TERM when its
   first component looks like a host ("127.0.0.1:5000/foo"), else Docker
   Hub's index (DK_PULL_TEST_HUB_URL stands for it in tests).  The answer of
   GET /v1/search is normalised to moby's five fields per result. */
#include "search.h"
#include "cleanup.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define HUB_INDEX "index.docker.io"

/* Splits term into the index's name and the query, as Docker does: the
   first component is a registry when it has a '.' or ':' or is localhost. */
static void
split_term (const char *term, char **index, char **query)
{
  const char *slash = strchr (term, '/');
  if (slash)
    {
      cleanup_free char *first = xstrndup (term, slash - term);
      if (strchr (first, '.') || strchr (first, ':') || strcmp (first, "localhost") == 0)
        {
          *index = steal_ptr (&first);
          *query = xstrdup (slash + 1);
          return;
        }
    }
  *index = xstrdup ("docker.io");
  *query = xstrdup (term);
}

static bool
is_hub (const char *index)
{
  return strcmp (index, "docker.io") == 0 || strcmp (index, HUB_INDEX) == 0;
}

static jv
str_or_empty (jv r, const char *key)
{
  const char *s = dk_json_str (r, key);
  return jv_string (s ? s : "");
}

static jv
one_result (jv r)
{
  int64_t stars = 0;
  bool official = false, automated = false;
  dk_json_int (r, "star_count", &stars);
  dk_json_bool (r, "is_official", &official);
  dk_json_bool (r, "is_automated", &automated);
  jv o = jv_object ();
  o = jv_object_set (o, jv_string ("name"), str_or_empty (r, "name"));
  o = jv_object_set (o, jv_string ("description"), str_or_empty (r, "description"));
  o = jv_object_set (o, jv_string ("star_count"), dk_json_int64 (stars));
  o = jv_object_set (o, jv_string ("is_official"), jv_bool (official));
  o = jv_object_set (o, jv_string ("is_automated"), jv_bool (automated));
  return o;
}

/* The body of a 200: {"results":[...]} -> the normalised array. */
static int
parse_results (const char *registry, const struct reg_resp *resp, int limit, jv *out, dk_err_t *err)
{
  jv doc = jv_invalid ();
  if (dk_json_parse (resp->body.data ? resp->body.data : "", resp->body.len, &doc, err) < 0)
    {
      dk_error_release (err);
      return dk_make_error_code (err, DK_ECODE_INTERNAL, 0,
                                 "registry %s answered GET /v1/search with a body that is not "
                                 "JSON",
                                 registry);
    }
  jv results = dk_json_get_kind (doc, "results", JV_KIND_ARRAY);
  jv_free (doc);
  if (!jv_is_valid (results))
    {
      jv_free (results);
      return dk_make_error_code (err, DK_ECODE_INTERNAL, 0,
                                 "registry %s answered GET /v1/search without a results array",
                                 registry);
    }
  jv arr = jv_array ();
  jv_array_foreach (results, i, r)
  {
    /* a registry that ignores n= does not make us print more than asked */
    if (jv_get_kind (r) == JV_KIND_OBJECT && dk_json_str (r, "name") && dk_json_len (arr) < limit)
      arr = jv_array_append (arr, one_result (r));
    jv_free (r);
  }
  jv_free (results);
  *out = arr;
  return 0;
}

int
search (const struct reg_opts *o, const char *term, int limit, jv *result, dk_err_t *err)
{
  if (strstr (term, "://"))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "invalid repository name: repository name (%s) should not have a "
                               "scheme",
                               term);
  if (limit < 1 || limit > 100)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "limit %d is outside the range of [1, 100]", limit);
  cleanup_free char *index = NULL, *query = NULL;
  split_term (term, &index, &query);
  bool hub = is_hub (index);
  /* Docker Hub stores "library/foo" as "foo" */
  const char *q = hub && strncmp (query, "library/", 8) == 0 ? query + 8 : query;
  if (*q == '\0')
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "search term %s has no query", term);
  /* test knob (docs/registry.md): a local registry stands for Docker Hub */
  const char *hub_url = getenv ("DK_PULL_TEST_HUB_URL");
  const char *mirror = hub && hub_url && *hub_url ? hub_url : NULL;
  struct reg_client *c = NULL;
  if (reg_client_open (hub ? HUB_INDEX : index, mirror, o, &c, err) < 0)
    return -1;
  char *esc = curl_easy_escape (NULL, q, 0);
  cleanup_free char *path = xasprintf ("/v1/search?q=%s&n=%d", esc ? esc : "", limit);
  curl_free (esc);
  struct reg_req req = { .path = path };
  struct reg_resp resp = { 0 };
  int ret = reg_do (c, &req, &resp, err);
  const char *shown = hub ? "docker.io" : index;
  if (ret == 0 && (resp.status == 404 || resp.status == 405 || resp.status == 501))
    {
      const char *reason = resp.reason ? resp.reason : reg_status_text (resp.status);
      ret = dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0,
                                "registry %s does not support search (GET /v1/search answered "
                                "%ld%s%s)",
                                shown, resp.status, *reason ? " " : "", reason);
    }
  else if (ret == 0 && resp.status != 200)
    ret = reg_status_error (&resp, "search", query, term, err);
  jv results = jv_invalid ();
  if (ret == 0)
    ret = parse_results (shown, &resp, limit, &results, err);
  reg_resp_free (&resp);
  reg_client_free (c);
  if (ret < 0)
    return -1;
  jv r = jv_object_set (jv_object (), jv_string ("type"), jv_string ("result"));
  r = jv_object_set (r, jv_string ("registry"), jv_string (shown));
  r = jv_object_set (r, jv_string ("query"), jv_string (q));
  r = jv_object_set (r, jv_string ("results"), results);
  *result = r;
  return 0;
}
