#include "pull.h"
#include "atomicfile.h"
#include "blob.h"
#include "buf.h"
#include "cleanup.h"
#include "digest.h"
#include "distmeta.h"
#include "lock.h"
#include "log.h"
#include "progress.h"
#include "reference.h"
#include "tmpdir.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CONFIG (8 * 1024 * 1024)

/* rootfs.diff_ids of an image config, one per layer. */
static int
config_diff_ids (const char *cfg, size_t len, int n_layers, char ***out, dk_err_t *err)
{
  cleanup_jv jv v = jv_parse_sized (cfg, len);
  if (!jv_is_valid (v) || jv_get_kind (v) != JV_KIND_OBJECT)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid image config: not JSON");
  cleanup_jv jv rootfs = dk_json_get_kind (v, "rootfs", JV_KIND_OBJECT);
  cleanup_jv jv ids = dk_json_get_kind (rootfs, "diff_ids", JV_KIND_ARRAY);
  int n = dk_json_len (ids);
  if (n != n_layers)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "invalid image config: %d diff_ids for %d layers", n < 0 ? 0 : n,
                               n_layers);
  char **r = xzalloc ((n + 1) * sizeof *r);
  for (int i = 0; i < n; i++)
    {
      jv s = dk_json_at (ids, i);
      if (jv_get_kind (s) != JV_KIND_STRING || !dk_digest_is_valid (jv_string_value (s)))
        {
          jv_free (s);
          strv_free (r);
          return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid image config: bad diff_id");
        }
      r[i] = xstrdup (jv_string_value (s));
      jv_free (s);
    }
  *out = r;
  return 0;
}

/* Opens the registry for ref: the mirrors first for docker.io, then the
   registry itself; resolves the manifest through the first that answers. */
static int
open_and_resolve (const struct pull_opts *o, const struct dk_ref *ref, const struct platform *p,
                  const char *fname, const char *fref, struct reg_client **cp, struct manifest *m,
                  dk_err_t *err)
{
  const char *tag_or_digest = ref->digest ? ref->digest : ref->tag;
  bool hub = strcmp (ref->domain, "docker.io") == 0;
  for (char **mir = hub ? o->reg.mirrors : NULL; mir && *mir; mir++)
    {
      struct reg_client *c = NULL;
      dk_err_t e = NULL;
      if (reg_client_open (NULL, *mir, &o->reg, &c, &e) == 0
          && manifest_resolve (c, ref->path, tag_or_digest, p, fname, fref, m, &e) == 0)
        {
          *cp = c;
          return 0;
        }
      dk_warn ("mirror %s: %s; trying the next endpoint", *mir, e ? e->msg : "failed");
      dk_error_release (&e);
      reg_client_free (c);
    }
  struct reg_client *c = NULL;
  if (reg_client_open (dk_ref_registry_host (ref), NULL, &o->reg, &c, err) < 0)
    return -1;
  if (manifest_resolve (c, ref->path, tag_or_digest, p, fname, fref, m, err) < 0)
    {
      reg_client_free (c);
      return -1;
    }
  *cp = c;
  return 0;
}

static int
register_image (const struct pull_opts *o, const struct graph *g, const struct dk_ref *ref,
                const struct manifest *m, const char *cfg, size_t cfg_len, const char *tmp,
                dk_err_t *err)
{
  cleanup_free char *cfgpath = xasprintf ("%s/config.json", tmp);
  cleanup_free char *mpath = xasprintf ("%s/manifest.json", tmp);
  if (dk_atomic_write (cfgpath, cfg, cfg_len, 0600, err) < 0
      || dk_atomic_write (mpath, m->raw, m->raw_len, 0600, err) < 0)
    return -1;
  cleanup_free char *name = dk_ref_name (ref);
  cleanup_free char *tag = ref->digest ? NULL : xasprintf ("%s:%s", name, ref->tag);
  cleanup_free char *dref = xasprintf ("%s@%s", name, m->top_digest);
  const char *args[12];
  size_t i = 0;
  args[i++] = "image-add";
  args[i++] = "--config";
  args[i++] = cfgpath;
  args[i++] = "--manifest";
  args[i++] = mpath;
  if (tag)
    {
      args[i++] = "--tag";
      args[i++] = tag;
    }
  args[i++] = "--digest-ref";
  args[i++] = dref;
  args[i] = NULL;
  cleanup_jv jv r = jv_invalid ();
  if (graph_run (g, args, -1, &r, err) < 0)
    return dk_error_wrap (err, "register image");
  return 0;
}

static int
write_debug_files (const struct pull_opts *o, const struct manifest *m, const char *cfg,
                   size_t cfg_len, dk_err_t *err)
{
  cleanup_free char *cp
      = xasprintf ("%s/blobs/sha256/%s", o->output_dir, dk_digest_hex (m->config.digest));
  cleanup_free char *mp = xasprintf ("%s/manifest.json", o->output_dir);
  if (dk_atomic_write (cp, cfg, cfg_len, 0644, err) < 0
      || dk_atomic_write (mp, m->raw, m->raw_len, 0644, err) < 0)
    return -1;
  return 0;
}

/* The layers this pull needs, held until it is over: dk-graph's
   layer-release, rm and prune leave them alone while our tmp/ entry is
   locked (docs/store.md). Written before any of them is looked for. */
static int
hold_layers (const char *path, char **chains, int n, dk_err_t *err)
{
  struct dk_buf b = DK_BUF_INIT;
  for (int i = 0; i < n; i++)
    dk_buf_printf (&b, "%s\n", chains[i]);
  int r = dk_atomic_write (path, b.data ? b.data : "", b.len, 0600, err);
  dk_buf_free (&b);
  return r;
}

static int
pull_resolved (const struct pull_opts *o, const struct dk_ref *ref, struct reg_client *c,
               const struct manifest *m, const char *fref, const char *tmp, bool *newer,
               dk_err_t *err)
{
  cleanup_free char *cfg = NULL;
  size_t cfg_len = 0;
  if (blob_get (c, ref->path, &m->config, MAX_CONFIG, &cfg, &cfg_len, err) < 0)
    {
      /* Docker's words for a config whose bytes do not match */
      if ((*err)->status == EBADMSG)
        return dk_make_error_code (err, DK_ECODE_INTERNAL, 0,
                                   "image config verification failed for digest %s",
                                   m->config.digest);
      return dk_error_wrap (err, "image config");
    }
  char **diff_ids = NULL;
  if (config_diff_ids (cfg, cfg_len, m->n_layers, &diff_ids, err) < 0)
    return -1;
  char **chains = chain_ids_compute (diff_ids, m->n_layers);
  cleanup_free bool *registered = xzalloc ((m->n_layers + 1) * sizeof *registered);
  struct graph g = { o->root, o->driver };
  struct layers_job job = { .c = c,
                            .repo = ref->path,
                            .m = m,
                            .diff_ids = diff_ids,
                            .chain_ids = chains,
                            .g = o->output_dir ? NULL : &g,
                            .output_dir = o->output_dir,
                            .tmp_dir = tmp,
                            .max_concurrent = o->max_concurrent,
                            .parallel_unpack = o->parallel_unpack,
                            .registered = registered };
  int ret = 0;
  cleanup_free char *holds = xasprintf ("%s/holds", tmp);
  if (o->output_dir)
    {
      cleanup_free char *bd = xasprintf ("%s/blobs/sha256", o->output_dir);
      ret = dk_mkdir_p (bd, 0755, err);
    }
  else
    ret = hold_layers (holds, chains, m->n_layers, err);
  if (ret == 0)
    ret = layers_pull (&job, err);
  if (ret == 0 && o->output_dir)
    ret = write_debug_files (o, m, cfg, cfg_len, err);
  else if (ret == 0)
    {
      cleanup_free char *name = dk_ref_name (ref);
      cleanup_free char *full = dk_ref_string (ref);
      cleanup_free char *before = graph_resolve (&g, full);
      *newer = before == NULL || strcmp (before, m->config.digest) != 0;
      ret = register_image (o, &g, ref, m, cfg, cfg_len, tmp, err);
      if (ret == 0)
        for (int i = 0; i < m->n_layers; i++)
          distmeta_add (o->root, diff_ids[i], m->layers[i].digest, c->host, ref->path);
    }
  /* nothing of a failed pull stays: moby releases the layers it made */
  if (ret < 0 && !o->output_dir)
    {
      unlink (holds);
      graph_release_layers (&g, chains, registered, m->n_layers);
    }
  strv_free (chains);
  strv_free (diff_ids);
  return ret;
}

int
pull_image (const struct pull_opts *o, const char *refstr, jv *result, dk_err_t *err)
{
  struct dk_ref ref = { 0 };
  if (dk_ref_parse (refstr, &ref, err) < 0)
    return -1;
  cleanup_free char *fref = dk_ref_familiar (&ref);
  cleanup_free char *fname = dk_ref_familiar_name (&ref);
  struct platform plat = { 0 };
  struct manifest m = { 0 };
  struct reg_client *c = NULL;
  cleanup_free char *tmp = NULL;
  bool newer = true;
  int lockfd = -1;
  int ret = platform_parse (o->platform, &plat, err);
  if (ret == 0)
    ret = open_and_resolve (o, &ref, &plat, fname, fref, &c, &m, err);
  if (ret == 0)
    {
      progress_pulling_from (ref.digest ? ref.digest : ref.tag, ref.path);
      ret = tmpdir_create (o->output_dir ? o->output_dir : o->root, &tmp, &lockfd, err);
    }
  if (ret == 0)
    {
      ret = pull_resolved (o, &ref, c, &m, fref, tmp, &newer, err);
      tmpdir_remove (tmp, lockfd);
      if (o->output_dir)
        {
          cleanup_free char *parent = xasprintf ("%s/tmp", o->output_dir);
          rmdir (parent);
        }
    }
  if (ret == 0)
    {
      cleanup_free char *dg = xasprintf ("Digest: %s", m.top_digest);
      cleanup_free char *st
          = xasprintf ("%s for %s", newer ? "Downloaded newer image" : "Image is up to date", fref);
      cleanup_free char *sl = xasprintf ("Status: %s", st);
      progress (dg, NULL, -1, 0);
      progress (sl, NULL, -1, 0);
      cleanup_free char *full = dk_ref_string (&ref);
      jv r = jv_object_set (jv_object (), jv_string ("type"), jv_string ("result"));
      r = jv_object_set (r, jv_string ("id"), jv_string (m.config.digest));
      r = jv_object_set (r, jv_string ("digest"), jv_string (m.top_digest));
      r = jv_object_set (r, jv_string ("ref"), jv_string (full));
      r = jv_object_set (r, jv_string ("status"), jv_string (st));
      *result = r;
    }
  reg_client_free (c);
  manifest_free (&m);
  dk_ref_free (&ref);
  platform_free (&plat);
  return ret;
}
