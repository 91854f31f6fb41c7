#include "manifest.h"
#include "goarch.h"
#include "cleanup.h"
#include "digest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const accept_headers[]
    = { "Accept: " MT_OCI_INDEX ", " MT_DOCKER_LIST ", " MT_OCI_MANIFEST ", " MT_DOCKER_V2
        ", application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.5, "
        "application/json;q=0.4",
        NULL };

void
manifest_free (struct manifest *m)
{
  free (m->top_digest);
  free (m->digest);
  free (m->media_type);
  free (m->raw);
  free (m->config.digest);
  free (m->config.media_type);
  for (int i = 0; i < m->n_layers; i++)
    {
      free (m->layers[i].digest);
      free (m->layers[i].media_type);
    }
  free (m->layers);
  memset (m, 0, sizeof *m);
}

void
platform_free (struct platform *p)
{
  free (p->os);
  free (p->arch);
  free (p->variant);
  memset (p, 0, sizeof *p);
}

int
platform_parse (const char *s, struct platform *p, dk_err_t *err)
{
  memset (p, 0, sizeof *p);
  if (s == NULL || *s == '\0')
    {
      p->os = xstrdup ("linux");
      p->arch = xstrdup (dk_go_arch ());
      return 0;
    }
  cleanup_free char *t = xstrdup (s);
  char *save = NULL;
  char *os = strtok_r (t, "/", &save);
  char *arch = strtok_r (NULL, "/", &save);
  char *variant = strtok_r (NULL, "/", &save);
  if (os == NULL || strtok_r (NULL, "/", &save) != NULL)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "invalid platform %s: expected os[/arch[/variant]]", s);
  p->os = xstrdup (os);
  p->arch = xstrdup (arch ? arch : "amd64");
  p->variant = variant ? xstrdup (variant) : NULL;
  return 0;
}

static char *
platform_string (const struct platform *p)
{
  return p->variant ? xasprintf ("%s/%s/%s", p->os, p->arch, p->variant)
                    : xasprintf ("%s/%s", p->os, p->arch);
}

static int
fetch (struct reg_client *c, const char *repo, const char *ref, const char *fname, const char *fref,
       struct reg_resp *resp, char digest[DK_DIGEST_STR_LEN], dk_err_t *err)
{
  cleanup_free char *path = xasprintf ("/v2/%s/manifests/%s", repo, ref);
  cleanup_free char *scope = xasprintf ("repository:%s:pull", repo);
  struct reg_req req = { .path = path, .scope = scope, .headers = accept_headers };
  if (reg_do (c, &req, resp, err) < 0)
    {
      if ((*err)->status == EFBIG)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                   "manifest for %s is too big: more than %d bytes (4 MiB, the "
                                   "limit of registries and of Docker)",
                                   fref, REG_MAX_MANIFEST);
      return dk_error_wrap (err, "manifest for %s", fref);
    }
  if (resp->status != 200)
    {
      reg_status_error (resp, "pull", fname, fref, err);
      reg_resp_free (resp);
      return -1;
    }
  dk_sha256_buf (resp->body.data ? resp->body.data : "", resp->body.len, digest);
  /* a signed schema 1 manifest's digest leaves out its signatures: it is
     refused after this anyway, by media type */
  const char *ct = resp->content_type;
  if (ct && strstr (ct, "manifest.v1") != NULL)
    return 0;
  const char *want = strncmp (ref, "sha256:", 7) == 0 ? ref : resp->docker_digest;
  if (want && strncmp (want, "sha256:", 7) == 0 && strcmp (want, digest) != 0)
    {
      dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "manifest verification failed for digest %s",
                          want);
      reg_resp_free (resp);
      return -1;
    }
  return 0;
}

static const char *
media_type_of (const struct reg_resp *resp, jv doc)
{
  const char *mt = dk_json_str (doc, "mediaType");
  if (mt)
    return mt;
  const char *ct = resp->content_type;
  if (ct && (strncmp (ct, "application/vnd.", 16) == 0))
    return ct;
  int64_t v = 0;
  if (dk_json_int (doc, "schemaVersion", &v) && v == 1)
    return "application/vnd.docker.distribution.manifest.v1+json";
  /* an OCI manifest may omit mediaType */
  jv m = dk_json_get_kind (doc, "manifests", JV_KIND_ARRAY);
  bool index = jv_is_valid (m);
  jv_free (m);
  return index ? MT_OCI_INDEX : MT_OCI_MANIFEST;
}

static int
desc_parse (jv d, struct blob_desc *out, dk_err_t *err)
{
  const char *digest = dk_json_str (d, "digest");
  const char *mt = dk_json_str (d, "mediaType");
  int64_t size = -1;
  if (digest == NULL || !dk_digest_is_valid (digest) || !dk_json_int (d, "size", &size) || size < 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "invalid manifest: a descriptor has no valid digest or size");
  if (strncmp (digest, "sha256:", 7) != 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "unsupported digest algorithm: %s",
                               digest);
  out->digest = xstrdup (digest);
  out->media_type = xstrdup (mt ? mt : "");
  out->size = size;
  return 0;
}

static int
choose_platform (jv doc, const struct platform *plat, char **digest, dk_err_t *err)
{
  jv list = dk_json_get_kind (doc, "manifests", JV_KIND_ARRAY);
  int n = dk_json_len (list);
  int best = -1, best_score = -1;
  for (int i = 0; i < n; i++)
    {
      jv m = dk_json_at (list, i);
      jv p = dk_json_get_kind (m, "platform", JV_KIND_OBJECT);
      const char *os = dk_json_str (p, "os");
      const char *arch = dk_json_str (p, "architecture");
      const char *variant = dk_json_str (p, "variant");
      int score = -1;
      if (os && arch && strcmp (os, plat->os) == 0 && strcmp (arch, plat->arch) == 0)
        {
          if (plat->variant)
            score = variant && strcmp (variant, plat->variant) == 0 ? 2 : -1;
          else if (strcmp (arch, "arm64") == 0)
            score = variant == NULL || strcmp (variant, "v8") == 0 ? 2 : 0;
          else
            score = variant == NULL ? 2 : 1;
        }
      if (score > best_score)
        {
          best = i;
          best_score = score;
        }
      jv_free (p);
      jv_free (m);
    }
  int ret = 0;
  if (best < 0 || best_score < 0)
    {
      cleanup_free char *ps = platform_string (plat);
      ret = dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0,
                                "no matching manifest for %s in the manifest list entries", ps);
    }
  else
    {
      jv m = dk_json_at (list, best);
      const char *d = dk_json_str (m, "digest");
      if (d == NULL || !dk_digest_is_valid (d))
        ret = dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                  "invalid manifest list: entry without a valid digest");
      else
        *digest = xstrdup (d);
      jv_free (m);
    }
  jv_free (list);
  return ret;
}

static int
parse_image_manifest (jv doc, struct manifest *out, dk_err_t *err)
{
  jv cfg = dk_json_get_kind (doc, "config", JV_KIND_OBJECT);
  int ret = desc_parse (cfg, &out->config, err);
  jv_free (cfg);
  if (ret < 0)
    return dk_error_wrap (err, "config");
  jv layers = dk_json_get_kind (doc, "layers", JV_KIND_ARRAY);
  int n = dk_json_len (layers);
  if (n < 0)
    n = 0;
  out->layers = xzalloc ((n + 1) * sizeof *out->layers);
  for (int i = 0; i < n && ret == 0; i++)
    {
      jv l = dk_json_at (layers, i);
      ret = desc_parse (l, &out->layers[i], err);
      if (ret == 0)
        out->n_layers++;
      jv_free (l);
    }
  jv_free (layers);
  return ret;
}

int
manifest_resolve (struct reg_client *c, const char *repo, const char *ref,
                  const struct platform *plat, const char *fname, const char *fref,
                  struct manifest *out, dk_err_t *err)
{
  memset (out, 0, sizeof *out);
  cleanup_free char *cur = xstrdup (ref);
  for (int depth = 0; depth < 2; depth++)
    {
      struct reg_resp resp = { 0 };
      char digest[DK_DIGEST_STR_LEN];
      if (fetch (c, repo, cur, fname, fref, &resp, digest, err) < 0)
        return -1;
      if (out->top_digest == NULL)
        out->top_digest = xstrdup (digest);
      jv doc = jv_parse_sized (resp.body.data ? resp.body.data : "", resp.body.len);
      if (!jv_is_valid (doc) || jv_get_kind (doc) != JV_KIND_OBJECT)
        {
          jv_free (doc);
          reg_resp_free (&resp);
          return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                     "invalid manifest for %s: not a JSON object", fref);
        }
      cleanup_free char *mt = xstrdup (media_type_of (&resp, doc));
      int ret = 0;
      if (strcmp (mt, MT_DOCKER_LIST) == 0 || strcmp (mt, MT_OCI_INDEX) == 0)
        {
          char *next = NULL;
          ret = depth == 0 ? choose_platform (doc, plat, &next, err)
                           : dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                                 "manifest list points to another list");
          if (ret == 0)
            {
              free (cur);
              cur = next;
            }
          jv_free (doc);
          reg_resp_free (&resp);
          if (ret < 0)
            return -1;
          continue;
        }
      if (strcmp (mt, MT_DOCKER_V2) == 0 || strcmp (mt, MT_OCI_MANIFEST) == 0)
        {
          out->digest = xstrdup (digest);
          out->media_type = xstrdup (mt);
          out->raw_len = resp.body.len;
          out->raw = dk_buf_steal (&resp.body);
          ret = parse_image_manifest (doc, out, err);
          jv_free (doc);
          reg_resp_free (&resp);
          return ret < 0 ? dk_error_wrap (err, "invalid manifest for %s", fref) : 0;
        }
      jv_free (doc);
      reg_resp_free (&resp);
      if (strstr (mt, "manifest.v1") != NULL)
        return dk_make_error_code (
            err, DK_ECODE_INVALID, 0,
            "[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2, "
            "schema 1 support is disabled by default and will be removed in an upcoming "
            "release. Suggest the author of %s to upgrade the image to the OCI Format or Docker "
            "Image manifest v2, schema 2.",
            fref);
      return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                 "unsupported manifest media type and no default available: %s",
                                 mt);
    }
  return dk_make_error_code (err, DK_ECODE_INVALID, 0, "manifest list nesting too deep");
}
