#include "push.h"
#include "atomicfile.h"
#include "cleanup.h"
#include "digest.h"
#include "distmeta.h"
#include "graph.h"
#include "lock.h"
#include "log.h"
#include "manifest.h"
#include "progress.h"
#include "pull.h"
#include "reference.h"
#include "tmpdir.h"
#include "upload.h"

#include <errno.h>
#include <glob.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct push_job
{
  const struct push_opts *o;
  struct reg_client *c;
  const char *repo; /* path in the registry: "dk/x" */
  const char *tmp;
  char **diff_ids;
  char **chain_ids;
  int n;
  struct blob_desc *out; /* per layer: the pushed blob */
  pthread_mutex_t mu;
  int next;
  bool failed;
  dk_err_t err;
};

/* The image config as stored by dk-graph (docs/store.md:
   image/DRIVER/content/sha256/<hex>), checked against its digest. */
static int
read_config (const struct push_opts *o, const char *id, char **out, size_t *len, dk_err_t *err)
{
  cleanup_free char *pattern = xasprintf ("%s/image/%s/content/sha256/%s", o->root,
                                          o->driver ? o->driver : "*", dk_digest_hex (id));
  glob_t g;
  if (glob (pattern, 0, NULL, &g) != 0 || g.gl_pathc == 0)
    {
      globfree (&g);
      return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "image config %s not in the store",
                                 id);
    }
  int ret = dk_read_file (g.gl_pathv[0], out, len, err);
  globfree (&g);
  if (ret < 0)
    return -1;
  char got[DK_DIGEST_STR_LEN];
  dk_sha256_buf (*out, *len, got);
  if (strcmp (got, id) != 0)
    {
      free (*out);
      *out = NULL;
      return dk_make_error_code (err, DK_ECODE_INTERNAL, 0,
                                 "image config %s in the store does not match its digest", id);
    }
  return 0;
}

static char *
scope_for (const char *repo, const char *from)
{
  if (from)
    return xasprintf ("repository:%s:pull,push repository:%s:pull", repo, from);
  return xasprintf ("repository:%s:pull,push", repo);
}

/* Known blobs for this diff ID: the target repo first (HEAD), then a mount
   from another repository of the same registry.  1: done, 0: upload. */
static int
try_known (struct push_job *j, int i, const char *id, dk_err_t *err)
{
  jv known = distmeta_get (j->o->root, j->diff_ids[i]);
  int n = dk_json_len (known);
  int ret = 0;
  for (int k = 0; k < n && ret == 0; k++)
    {
      jv e = dk_json_at (known, k);
      const char *digest = dk_json_str (e, "digest");
      const char *host = dk_json_str (e, "host");
      const char *repo = dk_json_str (e, "repo");
      if (digest && host && repo && strcmp (host, j->c->host) == 0)
        {
          int64_t size = -1;
          cleanup_free char *scope = scope_for (j->repo, NULL);
          if (upload_exists (j->c, j->repo, scope, digest, &size) && size >= 0)
            {
              progress ("Layer already exists", id, -1, 0);
              ret = 1;
            }
          else if (strcmp (repo, j->repo) != 0 && upload_mount (j->c, j->repo, repo, digest))
            {
              cleanup_free char *st = xasprintf ("Mounted from %s", repo);
              progress (st, id, -1, 0);
              cleanup_free char *s2 = scope_for (j->repo, NULL);
              upload_exists (j->c, j->repo, s2, digest, &size);
              ret = 1;
            }
          if (ret == 1)
            {
              j->out[i].digest = xstrdup (digest);
              j->out[i].size = size;
            }
        }
      jv_free (e);
    }
  jv_free (known);
  return ret;
}

static int
push_layer (struct push_job *j, int i, dk_err_t *err)
{
  char id[13];
  progress_short_id (j->diff_ids[i], id);
  int r = try_known (j, i, id, err);
  if (r < 0)
    return -1;
  if (r == 1)
    return 0;
  char digest[DK_DIGEST_STR_LEN];
  int64_t size = 0;
  cleanup_close int fd = -1;
  struct graph g = { j->o->root, j->o->driver };
  if (upload_compress_layer (&g, j->chain_ids[i], j->tmp, id, &fd, digest, &size, err) < 0)
    return dk_error_wrap (err, "layer %s", j->diff_ids[i]);
  j->out[i].digest = xstrdup (digest);
  j->out[i].size = size;
  cleanup_free char *scope = scope_for (j->repo, NULL);
  int64_t have = -1;
  if (upload_exists (j->c, j->repo, scope, digest, &have))
    progress ("Layer already exists", id, -1, 0);
  else
    {
      if (upload_blob_fd (j->c, j->repo, scope, digest, fd, size, j->o->chunk_size, id, err) < 0)
        return -1;
      progress ("Pushed", id, -1, 0);
    }
  distmeta_add (j->o->root, j->diff_ids[i], digest, j->c->host, j->repo);
  return 0;
}

static void *
worker (void *arg)
{
  struct push_job *j = arg;
  for (;;)
    {
      pthread_mutex_lock (&j->mu);
      int i = j->failed ? j->n : j->next++;
      pthread_mutex_unlock (&j->mu);
      if (i >= j->n)
        return NULL;
      dk_err_t err = NULL;
      if (push_layer (j, i, &err) < 0)
        {
          pthread_mutex_lock (&j->mu);
          if (!j->failed)
            j->err = steal_ptr (&err);
          j->failed = true;
          pthread_mutex_unlock (&j->mu);
        }
      dk_error_release (&err);
    }
}

static int
push_layers (struct push_job *j, dk_err_t *err)
{
  int conc = j->o->max_concurrent > 0 ? j->o->max_concurrent : 5;
  int nth = j->n < conc ? j->n : conc;
  pthread_t th[64];
  int started = 0;
  for (int t = 0; t < nth && t < 64; t++)
    if (pthread_create (&th[t], NULL, worker, j) == 0)
      started++;
  if (started == 0)
    worker (j);
  for (int t = 0; t < started; t++)
    pthread_join (th[t], NULL);
  if (j->failed)
    {
      dk_error_release (err);
      *err = steal_ptr (&j->err);
      return -1;
    }
  return 0;
}

static char *
build_manifest (const char *cfg_digest, size_t cfg_len, const struct blob_desc *layers, int n)
{
  jv cfg = jv_object_set (jv_object (), jv_string ("mediaType"), jv_string (MT_DOCKER_CONFIG));
  cfg = jv_object_set (cfg, jv_string ("size"), dk_json_int64 ((int64_t)cfg_len));
  cfg = jv_object_set (cfg, jv_string ("digest"), jv_string (cfg_digest));
  jv ls = jv_array ();
  for (int i = 0; i < n; i++)
    {
      jv l = jv_object_set (jv_object (), jv_string ("mediaType"), jv_string (MT_DOCKER_LAYER));
      l = jv_object_set (l, jv_string ("size"), dk_json_int64 (layers[i].size));
      l = jv_object_set (l, jv_string ("digest"), jv_string (layers[i].digest));
      ls = jv_array_append (ls, l);
    }
  jv m = jv_object_set (jv_object (), jv_string ("schemaVersion"), jv_number (2));
  m = jv_object_set (m, jv_string ("mediaType"), jv_string (MT_DOCKER_V2));
  m = jv_object_set (m, jv_string ("config"), cfg);
  m = jv_object_set (m, jv_string ("layers"), ls);
  return dk_json_dump (m);
}

static int
put_manifest (struct reg_client *c, const char *repo, const char *tag, const char *body,
              const char *name, dk_err_t *err)
{
  cleanup_free char *path = xasprintf ("/v2/%s/manifests/%s", repo, tag);
  cleanup_free char *scope = scope_for (repo, NULL);
  const char *hdrs[] = { "Content-Type: " MT_DOCKER_V2, NULL };
  struct reg_req req = { .method = "PUT",
                         .path = path,
                         .scope = scope,
                         .headers = hdrs,
                         .body = body,
                         .body_len = strlen (body),
                         .has_body = true };
  struct reg_resp resp = { 0 };
  if (reg_do (c, &req, &resp, err) < 0)
    return -1;
  int ret = 0;
  if (resp.status != 201 && resp.status != 200)
    ret = reg_status_error (&resp, "push", name, tag, err);
  reg_resp_free (&resp);
  return ret;
}

static int
push_resolved (const struct push_opts *o, const struct dk_ref *ref, const char *id, const char *tmp,
               jv *result, dk_err_t *err)
{
  cleanup_free char *cfg = NULL;
  size_t cfg_len = 0;
  if (read_config (o, id, &cfg, &cfg_len, err) < 0)
    return -1;
  cleanup_jv jv cj = jv_parse_sized (cfg, cfg_len);
  cleanup_jv jv rootfs = dk_json_get_kind (cj, "rootfs", JV_KIND_OBJECT);
  cleanup_jv jv ids = dk_json_get_kind (rootfs, "diff_ids", JV_KIND_ARRAY);
  int n = dk_json_len (ids);
  if (n < 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "image config %s has no diff_ids", id);
  char **diff_ids = xzalloc ((n + 1) * sizeof *diff_ids);
  for (int i = 0; i < n; i++)
    {
      jv s = dk_json_at (ids, i);
      diff_ids[i] = xstrdup (jv_get_kind (s) == JV_KIND_STRING ? jv_string_value (s) : "");
      jv_free (s);
    }
  char **chains = chain_ids_compute (diff_ids, n);
  struct reg_client *c = NULL;
  int ret = reg_client_open (dk_ref_registry_host (ref), NULL, &o->reg, &c, err);
  cleanup_free char *name = dk_ref_name (ref);
  struct push_job j = {
    .o = o, .c = c, .repo = ref->path, .tmp = tmp, .diff_ids = diff_ids, .chain_ids = chains, .n = n
  };
  j.out = xzalloc ((n + 1) * sizeof *j.out);
  pthread_mutex_init (&j.mu, NULL);
  if (ret == 0)
    {
      cleanup_free char *st = xasprintf ("The push refers to repository [%s]", name);
      progress (st, NULL, -1, 0);
      for (int i = n - 1; i >= 0; i--)
        {
          char sid[13];
          progress_short_id (diff_ids[i], sid);
          progress ("Preparing", sid, -1, 0);
        }
      int conc = o->max_concurrent > 0 ? o->max_concurrent : 5;
      for (int i = n - 1; i >= conc; i--)
        {
          char sid[13];
          progress_short_id (diff_ids[i], sid);
          progress ("Waiting", sid, -1, 0);
        }
      ret = push_layers (&j, err);
    }
  if (ret == 0)
    {
      cleanup_free char *scope = scope_for (ref->path, NULL);
      int64_t have = -1;
      if (!upload_exists (c, ref->path, scope, id, &have))
        ret = upload_blob_mem (c, ref->path, scope, id, cfg, cfg_len, err);
    }
  cleanup_free char *manifest = ret == 0 ? build_manifest (id, cfg_len, j.out, n) : NULL;
  if (ret == 0)
    ret = put_manifest (c, ref->path, ref->tag, manifest, name, err);
  if (ret == 0)
    {
      char md[DK_DIGEST_STR_LEN];
      dk_sha256_buf (manifest, strlen (manifest), md);
      size_t mlen = strlen (manifest);
      cleanup_free char *st = xasprintf ("%s: digest: %s size: %zu", ref->tag, md, mlen);
      progress (st, NULL, -1, 0);
      jv r = jv_object_set (jv_object (), jv_string ("type"), jv_string ("result"));
      r = jv_object_set (r, jv_string ("tag"), jv_string (ref->tag));
      r = jv_object_set (r, jv_string ("digest"), jv_string (md));
      r = jv_object_set (r, jv_string ("size"), dk_json_int64 ((int64_t)mlen));
      *result = r;
    }
  for (int i = 0; i < n; i++)
    free (j.out[i].digest);
  free (j.out);
  dk_error_release (&j.err);
  pthread_mutex_destroy (&j.mu);
  strv_free (chains);
  strv_free (diff_ids);
  reg_client_free (c);
  return ret;
}

int
push_image (const struct push_opts *o, const char *refstr, jv *result, dk_err_t *err)
{
  struct dk_ref ref = { 0 };
  if (dk_ref_parse (refstr, &ref, err) < 0)
    return -1;
  if (ref.tag == NULL)
    {
      dk_ref_free (&ref);
      return dk_make_error_code (err, DK_ECODE_INVALID, 0, "push by digest is not supported: %s",
                                 refstr);
    }
  struct graph g = { o->root, o->driver };
  cleanup_free char *full = dk_ref_string (&ref);
  cleanup_free char *id = graph_resolve (&g, full);
  int ret = 0;
  if (id == NULL)
    {
      cleanup_free char *fam = dk_ref_familiar_name (&ref);
      ret = dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0,
                                "An image does not exist locally with the tag: %s", fam);
    }
  cleanup_free char *tmp = NULL;
  int lockfd = -1;
  if (ret == 0)
    ret = tmpdir_create (o->root, &tmp, &lockfd, err);
  if (ret == 0)
    {
      ret = push_resolved (o, &ref, id, tmp, result, err);
      tmpdir_remove (tmp, lockfd);
    }
  dk_ref_free (&ref);
  return ret;
}
