/* Blob uploads for push: existence checks, cross-repository mounts,
   gzip of a layer from the store, monolithic and chunked uploads. */
#ifndef DK_PULL_UPLOAD_H
#define DK_PULL_UPLOAD_H

#include "graph.h"
#include "registry.h"
#include "digest.h"

bool upload_exists (struct reg_client *c, const char *repo, const char *scope, const char *digest,
                    int64_t *size);
bool upload_mount (struct reg_client *c, const char *repo, const char *from, const char *digest);
/* `dk-graph layer-diff CHAIN -o -` gzip-compressed into an unlinked file in
   tmp; returns its fd (at offset 0), digest and size. */
int upload_compress_layer (const struct graph *g, const char *chain, const char *tmp,
                           const char *id, int *fd, char digest[DK_DIGEST_STR_LEN], int64_t *size,
                           dk_err_t *err);
/* Uploads size bytes of fd: monolithic (POST, PUT ?digest=), or when
   chunk > 0 and size > chunk in PATCH chunks of chunk bytes, each with its
   Content-Range, then an empty PUT ?digest=; a chunk that fails is resumed
   from the offset the registry reports for the upload. */
int upload_blob_fd (struct reg_client *c, const char *repo, const char *scope, const char *digest,
                    int fd, int64_t size, int64_t chunk, const char *id, dk_err_t *err);
int upload_blob_mem (struct reg_client *c, const char *repo, const char *scope, const char *digest,
                     const void *data, size_t len, dk_err_t *err);

#endif
