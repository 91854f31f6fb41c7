/* A layer blob as a stream of tar bytes: the compression (gzip, zstd or
   none) is detected from the first bytes, and both sides are hashed on the
   way through (the compressed digest and the diff ID). */
#ifndef DK_LAYERSTREAM_H
#define DK_LAYERSTREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "digest.h"
#include "error.h"

struct dk_layerstream;

/* Reads from fd (not closed); a regular file is mapped a window at a time
   (DK_UNPACK_NO_MMAP=1 reads it instead, kept for the benchmark), and one
   that another process cuts short is a read error (lib/mapguard.h).  Gzip goes through ISA-L's
   isal_inflate unless DK_INFLATE=zlib is set in the environment (kept for the benchmark). */
struct dk_layerstream *dk_layerstream_new (int fd);
void dk_layerstream_free (struct dk_layerstream *s);
/* Reads give up (with an error) once fd becomes readable: how another
   thread stops a reader blocked on a pipe. */
void dk_layerstream_set_cancel_fd (struct dk_layerstream *s, int fd);
/* Next block of uncompressed bytes: returns its length (> 0), 0 at the end
   of the blob, -1 with *err on a read or decompression error.  *buf stays
   valid until the next call. */
ssize_t dk_layerstream_next (struct dk_layerstream *s, const void **buf, dk_err_t *err);
/* Like dk_layerstream_next, but the block (at most cap bytes) is written to
   buf: no copy for the caller to make. */
ssize_t dk_layerstream_read (struct dk_layerstream *s, void *buf, size_t cap, dk_err_t *err);
/* Reads (and hashes) whatever is left, e.g. the zero blocks after the tar's
   end marker. */
int dk_layerstream_drain (struct dk_layerstream *s, dk_err_t *err);
/* "gzip", "zstd" or "none"; valid after the first dk_layerstream_next. */
const char *dk_layerstream_format (struct dk_layerstream *s);
/* Digests of what went through so far (call after the drain). */
void dk_layerstream_result (struct dk_layerstream *s, char digest[DK_DIGEST_STR_LEN],
                            char diff_id[DK_DIGEST_STR_LEN], uint64_t *compressed_size,
                            uint64_t *size);

/* The fd given to dk_layerstream_new. */
int dk_layerstream_fd (struct dk_layerstream *s);
/* Hashing done elsewhere (another thread): with in, the compressed bytes
   are not hashed by dk_layerstream_next and the caller feeds all of them,
   in order, to dk_layerstream_hash_in; with out, the same for the
   uncompressed bytes and dk_layerstream_hash_out.  Call before the first
   dk_layerstream_next. */
void dk_layerstream_defer_hashes (struct dk_layerstream *s, bool in, bool out);
void dk_layerstream_hash_in (struct dk_layerstream *s, const void *buf, size_t n);
void dk_layerstream_hash_out (struct dk_layerstream *s, const void *buf, size_t n);
void dk_layerstream_freep (struct dk_layerstream **s);
#define cleanup_layerstream __attribute__ ((cleanup (dk_layerstream_freep)))

#endif
