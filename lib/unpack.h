/* One layer blob (tar, tar+gzip, tar+zstd) applied to a directory, with its
   digests computed and checked: what dk-unpack does, callable in-process. */
#ifndef DK_UNPACK_H
#define DK_UNPACK_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "tarapply.h"

struct dk_unpack_opts
{
  enum dk_whiteout_mode whiteouts;
  const char *parent_dir;     /* vfs: copied into the target first; may be NULL */
  const char *expect_digest;  /* compressed digest, may be NULL */
  const char *expect_diff_id; /* may be NULL */
  const char *tarsplit_dir;   /* keep lib/tarsplit's files there; may be NULL */
  const struct dk_idmap *uidmap;
  size_t n_uidmap;
  const struct dk_idmap *gidmap;
  size_t n_gidmap;
};

struct dk_unpack_result
{
  char digest[DK_DIGEST_STR_LEN];
  char diff_id[DK_DIGEST_STR_LEN];
  uint64_t size;            /* regular files' bytes */
  uint64_t compressed_size; /* bytes read */
  uint64_t tar_size;        /* uncompressed bytes */
  const char *format;       /* "gzip", "zstd", "none" */
};

/* Applies the blob read from in_fd to target (created when missing).  On any
   failure, a target this call created (or found empty) is removed again. */
int dk_layer_unpack (int in_fd, const char *target, const struct dk_unpack_opts *o,
                     struct dk_unpack_result *res, dk_err_t *err);

#endif
