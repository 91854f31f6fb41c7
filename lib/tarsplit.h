/* What it takes to give back a layer's exact tar bytes without keeping the
   tar: every byte of the stream except the contents of regular files (tar
   headers, pax records, padding, the end blocks) is kept, zstd-compressed,
   and file contents are read back from the unpacked layer.  So `save`
   produces blobs whose sha256 is the diff ID the image config names. */
#ifndef DK_TARSPLIT_H
#define DK_TARSPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"

struct dk_tarsplit;

/* Writes DIR/tar-split.zst and DIR/tar-split.paths. */
struct dk_tarsplit *dk_tarsplit_new (const char *dir, dk_err_t *err);
/* The uncompressed tar bytes, in order. */
void dk_tarsplit_feed (struct dk_tarsplit *t, const void *buf, size_t len);
/* The path (relative to the layer root) of each regular file with content
   and no sparse map, in the order of the tar. */
void dk_tarsplit_file (struct dk_tarsplit *t, const char *rel);
/* Completes the files; fails when the two sides disagree. */
int dk_tarsplit_finish (struct dk_tarsplit *t, dk_err_t *err);
void dk_tarsplit_free (struct dk_tarsplit *t);

/* Writes the layer tar rebuilt from DIR's split files and root's contents
   to out_fd; *digest receives its sha256 and *size its length. */
int dk_tarsplit_assemble (const char *dir, const char *root, int out_fd,
                          char digest[DK_DIGEST_STR_LEN], uint64_t *size, dk_err_t *err);

#endif
