/* Calls into dk-graph (the image and layer store). */
#ifndef DK_PULL_GRAPH_H
#define DK_PULL_GRAPH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "json.h"
#include "spawn.h"

struct graph
{
  const char *root;
  const char *driver; /* NULL: dk-graph's default */
};

/* Runs `dk-graph --root R [--driver D] args...` to completion; *result is
   the final object. */
int graph_run (const struct graph *g, const char *const *args, int in_fd, jv *result,
               dk_err_t *err);
int graph_layer_exists (const struct graph *g, const char *chain_id, bool *exists, dk_err_t *err);
/* After a failed pull: `layer-release` of the chains[i] with mine[i] (the
   layers this pull registered), as moby releases them; failures are only
   told on stderr. */
void graph_release_layers (const struct graph *g, char **chains, const bool *mine, int n);
/* Starts `layer-register` with a pipe on its stdin;
   parent_wait (overlay2): dk-graph unpacks at once and waits for the parent
   only to commit, so all layers can register in parallel. */
int graph_register_start (const struct graph *g, const char *parent, bool parent_wait,
                          const char *diff_id, const char *digest, struct dk_child *child,
                          dk_err_t *err);
/* Closes stdin, reads the result, waits; checks the chain ID.  When *cancel
   (may be NULL) becomes true meanwhile, kills the child and fails. */
int graph_register_finish (struct dk_child *child, const char *chain_id, const int *cancel,
                           dk_err_t *err);
/* Registers a layer from fd (at offset 0; the child reads it directly),
   calling progress with the bytes read so far about every 100 ms. */
typedef void (*graph_progress_fn) (int64_t done, void *ud);
int graph_register_file (const struct graph *g, const char *parent, const char *diff_id,
                         const char *digest, int fd, const char *chain_id,
                         graph_progress_fn progress, void *ud, dk_err_t *err);
/* Kills and reaps a register child (a failed download). */
void graph_register_abort (struct dk_child *child);
/* Image ID a reference resolves to, or NULL. */
char *graph_resolve (const struct graph *g, const char *ref);

/* Whole write to an fd (pipes, files). */
int write_all (int fd, const void *data, size_t len);

#endif
