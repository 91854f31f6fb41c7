/* dk-pull push: an image of the store to a registry. */
#ifndef DK_PULL_PUSH_H
#define DK_PULL_PUSH_H

#include "registry.h"

struct push_opts
{
  struct reg_opts reg;
  const char *root;
  const char *driver;
  int max_concurrent;
  int64_t chunk_size; /* blobs larger than this go up in PATCH chunks; 0: never */
};

/* Default --upload-chunk-size (docs/registry.md). */
#define PUSH_DEFAULT_CHUNK (32LL << 20)

int push_image (const struct push_opts *o, const char *refstr, jv *result, dk_err_t *err);

#endif
