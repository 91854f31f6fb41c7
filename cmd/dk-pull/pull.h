/* dk-pull pull: a reference into the store (or, for debugging, a directory). */
#ifndef DK_PULL_PULL_H
#define DK_PULL_PULL_H

#include "graph.h"
#include "manifest.h"
#include "registry.h"

struct pull_opts
{
  struct reg_opts reg;
  const char *root;
  const char *driver;
  const char *output_dir; /* debug: verified blobs into DIR instead of the store */
  const char *platform;
  int max_concurrent;
  bool parallel_unpack;
};

int pull_image (const struct pull_opts *o, const char *refstr, jv *result, dk_err_t *err);

/* The layers of one image, downloaded in parallel and registered in order. */
struct layers_job
{
  struct reg_client *c;
  const char *repo;
  const struct manifest *m;
  char **diff_ids;
  char **chain_ids;
  const struct graph *g;  /* NULL with output_dir */
  const char *output_dir; /* blobs/sha256/<hex> under it */
  const char *tmp_dir;    /* spool files */
  int max_concurrent;
  bool parallel_unpack; /* overlay2: every layer unpacks at once */
  bool *registered;     /* out, n_layers: registered by this pull */
};

int layers_pull (const struct layers_job *job, dk_err_t *err);

/* chain[i] = sha256(chain[i-1] + " " + diff[i]) */
char **chain_ids_compute (char **diff_ids, int n);
void strv_free (char **v);

#endif
